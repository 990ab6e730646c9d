//! Approval requests a job packet carries (issue 21): the technician learns
//! on the next sync whether the office approved or rejected the job (a
//! costly repair, say), with the approver's comment. A decision changes the
//! packet's hash, so the next sync brings it.

use serde::{Deserialize, Serialize};

/// One approval request on the ticket as the phone keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketApproval {
    /// The request's id on the server.
    pub id: String,
    /// The policy's name (e.g. "Parts over 500").
    pub policy: String,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// Why it was asked for; empty for none.
    #[serde(default)]
    pub reason: String,
    /// The approver's comment; empty until decided.
    #[serde(default)]
    pub comment: String,
    /// When it was asked for (ms since the epoch).
    pub requested_ms: i64,
    /// When it was decided (ms since the epoch).
    #[serde(default)]
    pub decided_ms: Option<i64>,
}
