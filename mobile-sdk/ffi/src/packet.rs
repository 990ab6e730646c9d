//! The job packet across the boundary: typed records, converted one to one
//! from the SDK's `StoredPacket`.

use truckroll_sdk::StoredPacket;
use truckroll_sdk::truckroll_sync::packet::{self as p, WarrantyStatus};

use crate::{Phone, PhoneError};

/// A ticket's job packet, as the phone holds it.
#[derive(Debug, uniffi::Record)]
pub struct JobPacket {
    pub ticket_id: String,
    /// The server's content hash.
    pub hash: String,
    /// When the phone received it (ms since the epoch).
    pub received_at_ms: i64,
    pub ticket: PacketTicket,
    pub site: PacketSite,
    pub customer: PacketCustomer,
    pub asset: Option<PacketAsset>,
    pub comments: Vec<PacketComment>,
    pub attachments: Vec<PacketAttachment>,
    /// Knowledge-base articles for the ticket's category and asset model.
    pub articles: Vec<PacketArticle>,
}

/// A knowledge-base article carried with the job (issue 22).
#[derive(Debug, uniffi::Record)]
pub struct PacketArticle {
    pub id: String,
    pub title: String,
    pub category: String,
    pub version: i64,
    pub body_markdown: String,
    /// Rendered by the server without script: safe for a web view.
    pub body_html: String,
    pub updated_ms: i64,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketTicket {
    pub number: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub priority: String,
    pub required_skills: Vec<PacketSkill>,
    pub custom_fields: Vec<PacketCustomField>,
    pub sla: Vec<PacketDeadline>,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketSkill {
    pub skill: String,
    pub level: u8,
}

/// One custom field of the ticket.
#[derive(Debug, uniffi::Record)]
pub struct PacketCustomField {
    pub key: String,
    pub value: CustomFieldValue,
}

/// A custom field's value.
#[derive(Debug, uniffi::Enum)]
pub enum CustomFieldValue {
    Empty,
    Flag { value: bool },
    Number { value: f64 },
    Text { value: String },
}

impl From<&serde_json::Value> for CustomFieldValue {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Self::Empty,
            serde_json::Value::Bool(b) => Self::Flag { value: *b },
            serde_json::Value::Number(n) => Self::Number {
                value: n.as_f64().unwrap_or_default(),
            },
            serde_json::Value::String(s) => Self::Text { value: s.clone() },
            // Custom fields are scalars; anything else is shown as text.
            other => Self::Text {
                value: other.to_string(),
            },
        }
    }
}

#[derive(Debug, uniffi::Record)]
pub struct PacketDeadline {
    /// `response`, `arrival` or `resolution`.
    pub target: String,
    pub deadline_ms: i64,
    pub met_ms: Option<i64>,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketSite {
    pub name: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub access_notes: String,
    pub opening_hours: String,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketCustomer {
    pub name: String,
    pub contact_person: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// The asset's warranty on the day the packet was built.
#[derive(Debug, uniffi::Enum)]
pub enum WarrantyState {
    Covered,
    Expired,
    Unknown,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketAsset {
    pub model: String,
    pub serial: String,
    pub installed_on: Option<String>,
    pub warranty_end: Option<String>,
    pub warranty: WarrantyState,
    /// `in warranty until 2030-12-31`, …
    pub warranty_text: String,
    pub history: Vec<PacketPastJob>,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketPastJob {
    pub number: String,
    pub title: String,
    pub status: String,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
    pub work_done: String,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketComment {
    pub id: String,
    pub author: String,
    pub body: String,
    pub created_ms: i64,
}

#[derive(Debug, uniffi::Record)]
pub struct PacketAttachment {
    pub media_id: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

impl From<StoredPacket> for JobPacket {
    fn from(s: StoredPacket) -> Self {
        let p::JobPacket {
            ticket,
            site,
            customer,
            asset,
            comments,
            attachments,
            articles,
            approvals: _,
        } = s.packet;
        Self {
            ticket_id: s.ticket_id,
            hash: s.hash,
            received_at_ms: s.received_at,
            ticket: PacketTicket {
                number: ticket.number,
                title: ticket.title,
                description: ticket.description,
                category: ticket.category,
                priority: ticket.priority,
                required_skills: ticket
                    .required_skills
                    .into_iter()
                    .map(|s| PacketSkill {
                        skill: s.skill,
                        level: s.level,
                    })
                    .collect(),
                custom_fields: ticket
                    .custom_fields
                    .iter()
                    .map(|(key, value)| PacketCustomField {
                        key: key.clone(),
                        value: value.into(),
                    })
                    .collect(),
                sla: ticket
                    .sla
                    .into_iter()
                    .map(|d| PacketDeadline {
                        target: d.target,
                        deadline_ms: d.deadline_ms,
                        met_ms: d.met_ms,
                    })
                    .collect(),
            },
            site: PacketSite {
                name: site.name,
                address: site.address,
                lat: site.lat,
                lon: site.lon,
                access_notes: site.access_notes,
                opening_hours: site.opening_hours,
            },
            customer: PacketCustomer {
                name: customer.name,
                contact_person: customer.contact_person,
                phone: customer.phone,
                email: customer.email,
            },
            asset: asset.map(|a| PacketAsset {
                warranty_text: a.warranty_text(),
                warranty: match a.warranty {
                    WarrantyStatus::InWarranty => WarrantyState::Covered,
                    WarrantyStatus::Expired => WarrantyState::Expired,
                    WarrantyStatus::Unknown => WarrantyState::Unknown,
                },
                model: a.model,
                serial: a.serial,
                installed_on: a.installed_on,
                warranty_end: a.warranty_end,
                history: a
                    .history
                    .into_iter()
                    .map(|h| PacketPastJob {
                        number: h.number,
                        title: h.title,
                        status: h.status,
                        created_ms: h.created_ms,
                        completed_ms: h.completed_ms,
                        work_done: h.work_done,
                    })
                    .collect(),
            }),
            comments: comments
                .into_iter()
                .map(|c| PacketComment {
                    id: c.id,
                    author: c.author,
                    body: c.body,
                    created_ms: c.created_ms,
                })
                .collect(),
            attachments: attachments
                .into_iter()
                .map(|a| PacketAttachment {
                    media_id: a.media_id,
                    content_type: a.content_type,
                    size: a.size,
                    sha256: a.sha256,
                })
                .collect(),
            articles: articles
                .into_iter()
                .map(|a| PacketArticle {
                    id: a.id,
                    title: a.title,
                    category: a.category,
                    version: a.version,
                    body_markdown: a.body_markdown,
                    body_html: a.body_html,
                    updated_ms: a.updated_ms,
                })
                .collect(),
        }
    }
}

#[uniffi::export]
impl Phone {
    /// The job packet of a ticket on the phone (address, contact, asset,
    /// instructions); `None` before the first sync brought it. Works offline.
    pub fn packet(&self, ticket_id: String) -> Result<Option<JobPacket>, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.packet(&ticket_id))?
            .map(JobPacket::from))
    }

    /// The bytes of an office attachment listed in a packet (by its
    /// SHA-256), once the phone downloaded it after a sync. Works offline.
    pub fn packet_attachment(&self, sha256: String) -> Result<Option<Vec<u8>>, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.packet_attachment(&sha256))?)
    }
}
