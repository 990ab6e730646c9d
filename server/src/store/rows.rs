//! Row structs shared by both backends, converted to domain types.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{
    StoreError, StoreResult,
    media::{Media, MediaKind, MediaState, Signature},
    push::{OutboxPush, PushContent, PushState},
};
use crate::domain::{
    audit::AuditEntry,
    checkin::CheckIn,
    customers::{Asset, Customer, CustomerTier, Site},
    geo::GeoPoint,
    location::LocationPing,
    offer::{AutoDispatchMode, DispatchPolicy, Offer, OfferState},
    people::{Device, Platform, Role, SkillLevel, Technician, TechnicianStatus, Tenant, User},
    shifts::Shift,
    territory::{Boundary, BoundingBox, Territory},
    ticket::{Category, Comment, Priority, Ticket, Visibility},
};

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} `{value}`"))
}

#[derive(sqlx::FromRow)]
pub(super) struct TenantRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Tenant {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(row: UserRow) -> StoreResult<Self> {
        Ok(User {
            role: Role::parse(&row.role).ok_or_else(|| corrupt("role", &row.role))?,
            id: row.id,
            tenant_id: row.tenant_id,
            email: row.email,
            name: row.name,
            active: row.active,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeviceRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub platform: String,
    pub push_token: Option<String>,
    pub actor_id: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct DeviceDocumentsRow {
    #[sqlx(flatten)]
    pub device: DeviceRow,
    pub documents: i64,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StoreError;
    fn try_from(row: DeviceRow) -> StoreResult<Self> {
        Ok(Device {
            platform: Platform::parse(&row.platform)
                .ok_or_else(|| corrupt("platform", &row.platform))?,
            id: row.id,
            tenant_id: row.tenant_id,
            user_id: row.user_id,
            push_token: row.push_token,
            actor_id: row.actor_id,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TechnicianRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub skills: Json<Vec<SkillLevel>>,
    pub shifts: Json<Vec<Shift>>,
    pub time_zone: String,
    pub home_lat: Option<f64>,
    pub home_lon: Option<f64>,
    pub capacity: i64,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl TryFrom<TechnicianRow> for Technician {
    type Error = StoreError;
    fn try_from(row: TechnicianRow) -> StoreResult<Self> {
        Ok(Technician {
            status: TechnicianStatus::parse(&row.status)
                .ok_or_else(|| corrupt("technician status", &row.status))?,
            capacity: u32::try_from(row.capacity)
                .map_err(|_| corrupt("capacity", &row.capacity.to_string()))?,
            home_base: match (row.home_lat, row.home_lon) {
                (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
                _ => None,
            },
            id: row.id,
            tenant_id: row.tenant_id,
            user_id: row.user_id,
            name: row.name,
            skills: row.skills.0,
            shifts: row.shifts.0,
            time_zone: row.time_zone,
            archived_at: row.archived_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CustomerRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub tier: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub contact_person: Option<String>,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;
    fn try_from(row: CustomerRow) -> StoreResult<Self> {
        Ok(Customer {
            tier: CustomerTier::parse(&row.tier).ok_or_else(|| corrupt("tier", &row.tier))?,
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            email: row.email,
            phone: row.phone,
            contact_person: row.contact_person,
            archived_at: row.archived_at,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SiteRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub territory_id: Option<Uuid>,
    pub access_notes: String,
    pub opening_hours: String,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl TryFrom<SiteRow> for Site {
    type Error = StoreError;
    fn try_from(row: SiteRow) -> StoreResult<Self> {
        Ok(Site {
            id: row.id,
            tenant_id: row.tenant_id,
            customer_id: row.customer_id,
            name: row.name,
            address: row.address,
            location: GeoPoint {
                lat: row.lat,
                lon: row.lon,
            },
            territory_id: row.territory_id,
            access_notes: row.access_notes,
            opening_hours: row.opening_hours,
            archived_at: row.archived_at,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AssetRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub site_id: Uuid,
    pub serial: String,
    pub model: String,
    pub warranty_end: Option<NaiveDate>,
    pub installed_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl TryFrom<AssetRow> for Asset {
    type Error = StoreError;
    fn try_from(row: AssetRow) -> StoreResult<Self> {
        Ok(Asset {
            id: row.id,
            tenant_id: row.tenant_id,
            site_id: row.site_id,
            serial: row.serial,
            model: row.model,
            warranty_end: row.warranty_end,
            installed_on: row.installed_on,
            archived_at: row.archived_at,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CategoryRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    pub custom_fields_schema: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl TryFrom<CategoryRow> for Category {
    type Error = StoreError;
    fn try_from(row: CategoryRow) -> StoreResult<Self> {
        Ok(Category {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            description: row.description,
            custom_fields_schema: row.custom_fields_schema.0,
            archived_at: row.archived_at,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub number: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub priority: String,
    pub required_skills: Json<Vec<SkillLevel>>,
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub tags: Json<Vec<String>>,
    pub custom_fields: Json<serde_json::Value>,
    pub status: String,
    pub hold_reason: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub checkin_verified: Option<bool>,
    pub checkin_distance_m: Option<f64>,
    pub checkin_accuracy_m: Option<f64>,
    pub checkin_at: Option<DateTime<Utc>>,
}

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;
    fn try_from(row: TicketRow) -> StoreResult<Self> {
        Ok(Ticket {
            priority: Priority::parse(&row.priority)
                .ok_or_else(|| corrupt("priority", &row.priority))?,
            status: row
                .status
                .parse()
                .map_err(|_| corrupt("status", &row.status))?,
            hold_reason: row
                .hold_reason
                .as_deref()
                .map(|r| r.parse().map_err(|_| corrupt("hold reason", r)))
                .transpose()?,
            id: row.id,
            tenant_id: row.tenant_id,
            number: row.number,
            title: row.title,
            description: row.description,
            category: row.category,
            required_skills: row.required_skills.0,
            site_id: row.site_id,
            asset_id: row.asset_id,
            tags: row.tags.0,
            custom_fields: row.custom_fields.0,
            assignee_id: row.assignee_id,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            check_in: row.checkin_at.map(|at| CheckIn {
                verified: row.checkin_verified,
                distance_m: row.checkin_distance_m,
                accuracy_m: row.checkin_accuracy_m,
                at,
            }),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CommentRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    pub visibility: String,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<CommentRow> for Comment {
    type Error = StoreError;
    fn try_from(row: CommentRow) -> StoreResult<Self> {
        Ok(Comment {
            visibility: Visibility::parse(&row.visibility)
                .ok_or_else(|| corrupt("visibility", &row.visibility))?,
            id: row.id,
            tenant_id: row.tenant_id,
            ticket_id: row.ticket_id,
            author_id: row.author_id,
            body: row.body,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    pub tenant_id: Uuid,
    pub seq: i64,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
    pub payload_salt: Option<String>,
    pub payload_digest: Option<String>,
    pub redacted_by: Option<i64>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            seq: row.seq,
            tenant_id: row.tenant_id,
            actor_id: row.actor_id,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            before: row.before,
            after: row.after,
            at: row.at,
            prev_hash: row.prev_hash,
            hash: row.hash,
            redacted_by: row.redacted_by,
            payload_salt: row.payload_salt,
            payload_digest: row.payload_digest,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PingRow {
    pub device_time: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    pub speed_mps: Option<f64>,
    pub heading_deg: Option<f64>,
}

impl From<PingRow> for LocationPing {
    fn from(row: PingRow) -> Self {
        LocationPing {
            device_time: row.device_time,
            lat: row.lat,
            lon: row.lon,
            accuracy_m: row.accuracy_m,
            speed_mps: row.speed_mps,
            heading_deg: row.heading_deg,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MediaRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub kind: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub state: String,
    pub has_thumbnail: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl TryFrom<MediaRow> for Media {
    type Error = StoreError;
    fn try_from(row: MediaRow) -> StoreResult<Self> {
        let kind = MediaKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown media kind `{}`", row.kind)))?;
        let state = match row.state.as_str() {
            "pending" => MediaState::Pending,
            "stored" => MediaState::Stored,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown media state `{other}`"
                )));
            }
        };
        Ok(Media {
            id: row.id,
            tenant_id: row.tenant_id,
            ticket_id: row.ticket_id,
            kind,
            content_type: row.content_type,
            size: row.size,
            sha256: row.sha256,
            state,
            has_thumbnail: row.has_thumbnail,
            created_by: row.created_by,
            created_at: row.created_at,
            completed_at: row.completed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SignatureRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub media_id: Uuid,
    pub signer_name: String,
    pub signed_at: DateTime<Utc>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub strokes: String,
    pub doc_heads: String,
    pub heads_hash: String,
    pub image_sha256: String,
    pub seal: String,
    pub created_by: Option<Uuid>,
}

impl TryFrom<SignatureRow> for Signature {
    type Error = StoreError;
    fn try_from(row: SignatureRow) -> StoreResult<Self> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("signature: {e}"));
        Ok(Signature {
            id: row.id,
            tenant_id: row.tenant_id,
            ticket_id: row.ticket_id,
            media_id: row.media_id,
            signer_name: row.signer_name,
            signed_at: row.signed_at,
            lat: row.lat,
            lon: row.lon,
            strokes: serde_json::from_str(&row.strokes).map_err(corrupt)?,
            doc_heads: serde_json::from_str(&row.doc_heads).map_err(corrupt)?,
            heads_hash: row.heads_hash,
            image_sha256: row.image_sha256,
            seal: row.seal,
            created_by: row.created_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OfferRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    pub round: i64,
    pub state: String,
    pub reason: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl TryFrom<OfferRow> for Offer {
    type Error = StoreError;
    fn try_from(row: OfferRow) -> StoreResult<Self> {
        Ok(Offer {
            state: OfferState::parse(&row.state).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown offer state `{}`", row.state))
            })?,
            round: u32::try_from(row.round).unwrap_or(u32::MAX),
            id: row.id,
            tenant_id: row.tenant_id,
            ticket_id: row.ticket_id,
            technician_id: row.technician_id,
            reason: row.reason,
            expires_at: row.expires_at,
            created_at: row.created_at,
            decided_at: row.decided_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PolicyRow {
    pub category: String,
    pub mode: String,
    pub top_n: i64,
}

impl TryFrom<PolicyRow> for DispatchPolicy {
    type Error = StoreError;
    fn try_from(row: PolicyRow) -> StoreResult<Self> {
        Ok(DispatchPolicy {
            mode: AutoDispatchMode::parse(&row.mode).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown dispatch mode `{}`", row.mode))
            })?,
            top_n: u32::try_from(row.top_n).unwrap_or(1),
            category: row.category,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PushRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub token: String,
    pub title: String,
    pub body: String,
    pub data: Json<BTreeMap<String, String>>,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub state: String,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<PushRow> for OutboxPush {
    type Error = StoreError;
    fn try_from(row: PushRow) -> StoreResult<Self> {
        Ok(OutboxPush {
            state: PushState::parse(&row.state).ok_or_else(|| {
                StoreError::Corrupt(format!("push_outbox.state: {:?}", row.state))
            })?,
            id: row.id,
            tenant_id: row.tenant_id,
            user_id: row.user_id,
            device_id: row.device_id,
            token: row.token,
            content: PushContent {
                title: row.title,
                body: row.body,
                data: row.data.0,
            },
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TerritoryRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub boundary: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

pub(super) fn stored_boundary(id: Uuid, text: &str) -> StoreResult<Boundary> {
    Boundary::from_stored(text)
        .map_err(|e| StoreError::Corrupt(format!("boundary of territory {id}: {e}")))
}

impl TryFrom<TerritoryRow> for Territory {
    type Error = StoreError;
    fn try_from(row: TerritoryRow) -> StoreResult<Self> {
        Ok(Territory {
            boundary: stored_boundary(row.id, &row.boundary)?,
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            archived_at: row.archived_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A territory's version and extent, without its boundary text.
#[derive(sqlx::FromRow)]
pub(super) struct TerritoryExtent {
    pub id: Uuid,
    pub updated_at: DateTime<Utc>,
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
}

impl TerritoryExtent {
    pub(super) fn bounding_box(&self) -> BoundingBox {
        BoundingBox {
            min_lat: self.min_lat,
            min_lon: self.min_lon,
            max_lat: self.max_lat,
            max_lon: self.max_lon,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SitePoint {
    pub id: Uuid,
    pub lat: f64,
    pub lon: f64,
    pub territory_id: Option<Uuid>,
}

pub(super) fn convert_all<R, T>(rows: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// Splits one extra row off a `limit + 1` fetch into the next cursor.
pub(super) fn into_page<T>(
    mut items: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> Uuid,
) -> super::Page<T> {
    let next_after = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(&id)
    } else {
        None
    };
    super::Page { items, next_after }
}
