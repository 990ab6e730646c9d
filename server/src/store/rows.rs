//! Row structs shared by both backends, converted to domain types.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::domain::{
    audit::AuditEntry,
    checkin::CheckIn,
    geo::GeoPoint,
    people::{
        Asset, Customer, CustomerTier, Device, Platform, Role, Site, SkillLevel, Technician,
        TechnicianStatus, Tenant, User,
    },
    shifts::Shift,
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
    pub created_at: DateTime<Utc>,
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
    pub created_at: DateTime<Utc>,
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
    pub created_at: DateTime<Utc>,
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
        }
    }
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
