//! The job packet: what a technician needs to know about one ticket that
//! only the server knows — where to go, whom to call, what the asset is and
//! what was done on it before, the office's instructions.
//!
//! The packet is **not** part of the ticket's Automerge document: it holds
//! personal data that must be erasable, and Automerge history never forgets.
//! It travels beside the document in the sync envelope (`packet` frames,
//! PROTOCOL.md §4) as a server-authoritative snapshot, replaced whole, and
//! the device deletes it when the ticket leaves its set.
//!
//! Times are milliseconds since the Unix epoch (UTC); calendar dates are
//! `YYYY-MM-DD` strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::packet_approval::PacketApproval;
pub use crate::packet_article::{PacketArticle, PacketArticleAttachment};

/// Everything the technician's phone keeps about one ticket besides its
/// document. Unknown fields are ignored when decoding, so the server may add
/// fields without a new protocol version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPacket {
    pub ticket: PacketTicket,
    pub site: PacketSite,
    pub customer: PacketCustomer,
    /// The asset the ticket is about, if it names one.
    #[serde(default)]
    pub asset: Option<PacketAsset>,
    /// The office's comments for the technician, oldest first.
    #[serde(default)]
    pub comments: Vec<PacketComment>,
    /// Documents the office attached to the ticket (manuals, PDFs).
    #[serde(default)]
    pub attachments: Vec<PacketAttachment>,
    /// Knowledge-base articles for the ticket's category and asset model;
    /// left out of the JSON when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub articles: Vec<PacketArticle>,
    /// The ticket's approval requests, oldest first (issue 21); left out of
    /// the JSON when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<PacketApproval>,
}

// A packet never holds NaN (coordinates are validated on the server), so
// equality is an equivalence and `Message` stays `Eq`.
impl Eq for JobPacket {}

/// The ticket's header as the office wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketTicket {
    /// `TR-000123`.
    pub number: String,
    pub title: String,
    pub description: String,
    pub category: String,
    /// `P1` … `P4`.
    pub priority: String,
    #[serde(default)]
    pub required_skills: Vec<PacketSkill>,
    /// The ticket's custom fields (scalar values), by key.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
    /// SLA deadlines of the policy covering the ticket (none: no policy).
    #[serde(default)]
    pub sla: Vec<PacketDeadline>,
    /// The appointment window, when the ticket has one (absent otherwise, so
    /// packets without one hash as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<PacketAppointment>,
}

/// The promised window and, once a day plan is applied, when the
/// technician is planned to start; the phone orders its day by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketAppointment {
    pub from_ms: i64,
    pub to_ms: i64,
    pub duration_minutes: u32,
    #[serde(default)]
    pub planned_start_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketSkill {
    pub skill: String,
    pub level: u8,
}

/// One SLA target's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketDeadline {
    /// `response`, `arrival` or `resolution`.
    pub target: String,
    pub deadline_ms: i64,
    /// When the target was reached, if it was.
    #[serde(default)]
    pub met_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacketSite {
    pub name: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    /// How to get in, hazards, parking: free text from the office.
    #[serde(default)]
    pub access_notes: String,
    /// Free text, e.g. `Mo–Fr 07:00–17:00`.
    #[serde(default)]
    pub opening_hours: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketCustomer {
    pub name: String,
    #[serde(default)]
    pub contact_person: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketAsset {
    pub model: String,
    pub serial: String,
    #[serde(default)]
    pub installed_on: Option<String>,
    #[serde(default)]
    pub warranty_end: Option<String>,
    pub warranty: WarrantyStatus,
    /// The asset's last five other tickets, newest first.
    #[serde(default)]
    pub history: Vec<PacketPastJob>,
}

/// The warranty as of the day the packet was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarrantyStatus {
    /// The warranty ends on or after today.
    InWarranty,
    Expired,
    /// No warranty end is recorded.
    Unknown,
}

impl PacketAsset {
    /// `in warranty until 2027-03-31`, `warranty expired on …`, `warranty unknown`.
    pub fn warranty_text(&self) -> String {
        match (self.warranty, &self.warranty_end) {
            (WarrantyStatus::InWarranty, Some(end)) => format!("in warranty until {end}"),
            (WarrantyStatus::Expired, Some(end)) => format!("warranty expired on {end}"),
            _ => "warranty unknown".to_owned(),
        }
    }
}

/// An earlier ticket on the same asset and what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketPastJob {
    pub number: String,
    pub title: String,
    /// The ticket's status now (`closed`, `work_done`, …).
    pub status: String,
    pub created_ms: i64,
    /// When the work was completed, if it was.
    #[serde(default)]
    pub completed_ms: Option<i64>,
    /// What was done: the start of the work notes, then the parts used.
    #[serde(default)]
    pub work_done: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketComment {
    pub id: String,
    pub author: String,
    pub body: String,
    pub created_ms: i64,
}

/// A stored document attached by the office; fetch the bytes with
/// `GET /v1/media/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketAttachment {
    pub media_id: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Exchange, Message};

    fn packet() -> JobPacket {
        JobPacket {
            ticket: PacketTicket {
                number: "TR-000001".into(),
                title: "Chiller trips".into(),
                description: String::new(),
                category: "hvac".into(),
                priority: "P2".into(),
                required_skills: vec![PacketSkill {
                    skill: "hvac".into(),
                    level: 2,
                }],
                custom_fields: BTreeMap::from([("refrigerant".into(), "R32".into())]),
                sla: vec![],
                appointment: None,
            },
            site: PacketSite {
                name: "Main".into(),
                address: "Unter den Linden 77".into(),
                lat: 52.5163,
                lon: 13.3795,
                access_notes: "Side door".into(),
                opening_hours: String::new(),
            },
            customer: PacketCustomer {
                name: "Hotel".into(),
                contact_person: Some("Erika".into()),
                phone: None,
                email: None,
            },
            asset: None,
            comments: vec![],
            attachments: vec![],
            articles: vec![],
            approvals: vec![],
        }
    }

    #[test]
    fn packet_frames_round_trip_and_tolerate_new_keys() {
        let frame = Message::Packet {
            doc_id: "t-1".into(),
            hash: "ab".into(),
            packet: Box::new(packet()),
        };
        let text = frame.encode();
        assert!(text.starts_with(r#"{"type":"packet","doc_id":"t-1","hash":"ab","packet":{"#));
        assert_eq!(Message::decode(&text).expect("decodes"), frame);
        let have = Message::PacketHave {
            doc_id: "t-1".into(),
            hash: "ab".into(),
        };
        assert_eq!(
            have.encode(),
            r#"{"type":"packet_have","doc_id":"t-1","hash":"ab"}"#
        );
        // A server may add keys anywhere in the packet.
        let newer = text.replace(
            r#""site":{"#,
            r#""appointment":{"from_ms":1},"site":{"parking":"yard","#,
        );
        assert_eq!(Message::decode(&newer).expect("decodes"), frame);
        let body = Exchange {
            frames: vec![have.clone()],
        };
        assert_eq!(
            Exchange::decode(&body.encode()).expect("body").frames,
            [have]
        );
    }
}
