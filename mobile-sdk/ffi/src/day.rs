//! The technician's day over FFI: offers, location pings, the push token,
//! comments, availability and the flush of their outboxes. Typed records
//! and enums mirroring the SDK's, converted with `From`; every method
//! delegates to the SDK.

use truckroll_sdk as sdk;

use crate::{Phone, PhoneError, count};

/// An offer's state on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OfferStatus {
    Pending,
    Accepted,
    Declined,
    Expired,
    /// Taken back by the office (assigned otherwise, cancelled).
    Withdrawn,
}

impl From<sdk::OfferState> for OfferStatus {
    fn from(s: sdk::OfferState) -> Self {
        match s {
            sdk::OfferState::Pending => Self::Pending,
            sdk::OfferState::Accepted => Self::Accepted,
            sdk::OfferState::Declined => Self::Declined,
            sdk::OfferState::Expired => Self::Expired,
            sdk::OfferState::Withdrawn => Self::Withdrawn,
        }
    }
}

/// What became of an answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum OfferAnswer {
    /// Assigned to and accepted by this technician; the ticket arrives
    /// with the next sync.
    Accepted {
        ticket_id: String,
    },
    Declined,
    /// Stored on the phone; sent once when back online.
    Queued,
    /// The window had closed when the answer reached the server.
    Expired,
    /// Closed otherwise (withdrawn, answered already).
    Closed {
        state: OfferStatus,
    },
    /// Refused for another reason; `detail` says why.
    Refused {
        status: u16,
        detail: String,
    },
}

impl From<sdk::OfferAnswer> for OfferAnswer {
    fn from(a: sdk::OfferAnswer) -> Self {
        match a {
            sdk::OfferAnswer::Accepted { ticket_id } => Self::Accepted { ticket_id },
            sdk::OfferAnswer::Declined => Self::Declined,
            sdk::OfferAnswer::Queued => Self::Queued,
            sdk::OfferAnswer::Expired => Self::Expired,
            sdk::OfferAnswer::Closed { state } => Self::Closed {
                state: state.into(),
            },
            sdk::OfferAnswer::Refused { status, detail } => Self::Refused { status, detail },
        }
    }
}

/// An offer of a ticket to this technician.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Offer {
    pub id: String,
    pub ticket_id: String,
    pub round: u32,
    pub state: OfferStatus,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    /// This phone's answer, if any.
    pub answer: Option<OfferAnswer>,
}

impl From<sdk::OfferInfo> for Offer {
    fn from(o: sdk::OfferInfo) -> Self {
        Self {
            id: o.id,
            ticket_id: o.ticket_id,
            round: o.round,
            state: o.state.into(),
            expires_at_ms: o.expires_at_ms,
            created_at_ms: o.created_at_ms,
            answer: o.answer.map(Into::into),
        }
    }
}

/// The open offers.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OfferList {
    pub offers: Vec<Offer>,
    /// `false`: the phone's copy, read offline.
    pub from_server: bool,
    pub fetched_at_ms: Option<i64>,
}

impl From<sdk::OfferList> for OfferList {
    fn from(l: sdk::OfferList) -> Self {
        Self {
            offers: l.offers.into_iter().map(Into::into).collect(),
            from_server: l.from_server,
            fetched_at_ms: l.fetched_at_ms,
        }
    }
}

/// A position from the phone's location service.
#[derive(Debug, Clone, uniffi::Record)]
pub struct LocationFix {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    pub speed_mps: Option<f64>,
    pub heading_deg: Option<f64>,
    /// Device time of the fix (ms since the epoch); `None`: now.
    pub device_time_ms: Option<i64>,
}

impl From<LocationFix> for sdk::LocationFix {
    fn from(f: LocationFix) -> Self {
        Self {
            lat: f.lat,
            lon: f.lon,
            accuracy_m: f.accuracy_m,
            speed_mps: f.speed_mps,
            heading_deg: f.heading_deg,
            device_time_ms: f.device_time_ms,
        }
    }
}

/// What the SDK did with a fix.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PingDecision {
    Recorded {
        seq: i64,
    },
    /// Within the interval: not kept.
    NotDue {
        next_due_ms: i64,
    },
}

impl From<sdk::PingDecision> for PingDecision {
    fn from(d: sdk::PingDecision) -> Self {
        match d {
            sdk::PingDecision::Recorded { seq } => Self::Recorded { seq },
            sdk::PingDecision::NotDue { next_due_ms } => Self::NotDue { next_due_ms },
        }
    }
}

/// A ping waiting to be sent.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PendingPing {
    pub device_time_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
}

impl From<sdk::PendingPing> for PendingPing {
    fn from(p: sdk::PendingPing) -> Self {
        Self {
            device_time_ms: p.device_time_ms,
            lat: p.lat,
            lon: p.lon,
            accuracy_m: p.accuracy_m,
        }
    }
}

/// The push token and whether the server has it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PushToken {
    pub token: Option<String>,
    pub on_server: bool,
}

impl From<sdk::PushTokenState> for PushToken {
    fn from(p: sdk::PushTokenState) -> Self {
        Self {
            token: p.token,
            on_server: p.on_server,
        }
    }
}

/// Who may see a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CommentVisibility {
    Internal,
    Public,
}

impl From<CommentVisibility> for sdk::CommentVisibility {
    fn from(v: CommentVisibility) -> Self {
        match v {
            CommentVisibility::Internal => Self::Internal,
            CommentVisibility::Public => Self::Public,
        }
    }
}

impl From<sdk::CommentVisibility> for CommentVisibility {
    fn from(v: sdk::CommentVisibility) -> Self {
        match v {
            sdk::CommentVisibility::Internal => Self::Internal,
            sdk::CommentVisibility::Public => Self::Public,
        }
    }
}

/// Where a comment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CommentDelivery {
    Sent,
    Queued,
    Failed,
}

impl From<sdk::CommentDelivery> for CommentDelivery {
    fn from(d: sdk::CommentDelivery) -> Self {
        match d {
            sdk::CommentDelivery::Sent => Self::Sent,
            sdk::CommentDelivery::Queued => Self::Queued,
            sdk::CommentDelivery::Failed => Self::Failed,
        }
    }
}

/// One comment of a ticket's thread.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Comment {
    pub id: Option<String>,
    pub ticket_id: String,
    pub author_id: Option<String>,
    pub body: String,
    pub visibility: CommentVisibility,
    pub created_at_ms: i64,
    pub delivery: CommentDelivery,
    pub error: Option<String>,
}

impl From<sdk::CommentInfo> for Comment {
    fn from(c: sdk::CommentInfo) -> Self {
        Self {
            id: c.id,
            ticket_id: c.ticket_id,
            author_id: c.author_id,
            body: c.body,
            visibility: c.visibility.into(),
            created_at_ms: c.created_at_ms,
            delivery: c.delivery.into(),
            error: c.error,
        }
    }
}

/// A ticket's comments.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CommentThread {
    pub ticket_id: String,
    pub comments: Vec<Comment>,
    pub from_server: bool,
}

impl From<sdk::CommentThread> for CommentThread {
    fn from(t: sdk::CommentThread) -> Self {
        Self {
            ticket_id: t.ticket_id,
            comments: t.comments.into_iter().map(Into::into).collect(),
            from_server: t.from_server,
        }
    }
}

/// What the technician tells dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Availability {
    Available,
    OnBreak,
    OffDuty,
}

impl From<Availability> for sdk::Availability {
    fn from(a: Availability) -> Self {
        match a {
            Availability::Available => Self::Available,
            Availability::OnBreak => Self::OnBreak,
            Availability::OffDuty => Self::OffDuty,
        }
    }
}

impl From<sdk::Availability> for Availability {
    fn from(a: sdk::Availability) -> Self {
        match a {
            sdk::Availability::Available => Self::Available,
            sdk::Availability::OnBreak => Self::OnBreak,
            sdk::Availability::OffDuty => Self::OffDuty,
        }
    }
}

/// The availability as the phone knows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AvailabilityState {
    pub status: Availability,
    pub set_at_ms: i64,
    pub on_server: bool,
}

impl From<sdk::AvailabilityState> for AvailabilityState {
    fn from(a: sdk::AvailabilityState) -> Self {
        Self {
            status: a.status.into(),
            set_at_ms: a.set_at_ms,
            on_server: a.on_server,
        }
    }
}

/// What a flush of the day's outboxes sent.
#[derive(Debug, Clone, uniffi::Record)]
pub struct FlushSummary {
    pub offer_answers: u32,
    pub comments: u32,
    pub pings: u32,
    pub pings_dropped: u32,
    pub availability: bool,
    pub push_token: bool,
    /// Rows still queued.
    pub waiting: u32,
    pub errors: Vec<String>,
}

impl From<sdk::FlushReport> for FlushSummary {
    fn from(r: sdk::FlushReport) -> Self {
        Self {
            offer_answers: count(r.offer_answers),
            comments: count(r.comments),
            pings: count(r.pings),
            pings_dropped: count(r.pings_dropped),
            availability: r.availability,
            push_token: r.push_token,
            waiting: count(r.waiting),
            errors: r.errors,
        }
    }
}

#[uniffi::export]
impl Phone {
    /// The open offers (the phone's copy when offline).
    pub fn offers(&self) -> Result<OfferList, PhoneError> {
        Ok(self.runtime.block_on(self.client.offers())?.into())
    }

    /// Accepts an offer; offline it is `Queued` and sent when back online.
    pub fn accept_offer(&self, offer_id: String) -> Result<OfferAnswer, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.accept_offer(&offer_id))?
            .into())
    }

    /// Declines an offer with a reason; works offline like `accept_offer`.
    pub fn decline_offer(
        &self,
        offer_id: String,
        reason: String,
    ) -> Result<OfferAnswer, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.decline_offer(&offer_id, &reason))?
            .into())
    }

    /// Hands the SDK a position; it keeps one per interval.
    pub fn record_location(&self, fix: LocationFix) -> Result<PingDecision, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.record_location(fix.into()))?
            .into())
    }

    /// How often a position is kept, in seconds (1 to 3600).
    pub fn set_location_interval(&self, seconds: u32) -> Result<(), PhoneError> {
        Ok(self.runtime.block_on(
            self.client
                .set_location_interval(std::time::Duration::from_secs(u64::from(seconds))),
        )?)
    }

    /// Whether a new position is due.
    pub fn location_due(&self) -> Result<bool, PhoneError> {
        Ok(self.runtime.block_on(self.client.location_due())?)
    }

    /// Pings not yet on the server, oldest first.
    pub fn pending_pings(&self) -> Result<Vec<PendingPing>, PhoneError> {
        let pings = self.runtime.block_on(self.client.pending_pings())?;
        Ok(pings.into_iter().map(Into::into).collect())
    }

    /// Sets, rotates or (with `None`) clears the push token.
    pub fn set_push_token(&self, token: Option<String>) -> Result<PushToken, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.set_push_token(token.as_deref()))?
            .into())
    }

    pub fn push_token(&self) -> Result<PushToken, PhoneError> {
        Ok(self.runtime.block_on(self.client.push_token())?.into())
    }

    /// Signs out (clearing the push token on the server when online);
    /// returns whether the server cleared it.
    pub fn sign_out(&self) -> Result<bool, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.sign_out())?
            .push_token_cleared)
    }

    /// A ticket's comments (the phone's copy when offline).
    pub fn comments(&self, ticket_id: String) -> Result<CommentThread, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.comments(&ticket_id))?
            .into())
    }

    /// Writes a comment; offline it is queued and sent once when back online.
    pub fn add_comment(
        &self,
        ticket_id: String,
        body: String,
        visibility: CommentVisibility,
    ) -> Result<Comment, PhoneError> {
        Ok(self
            .runtime
            .block_on(
                self.client
                    .add_comment(&ticket_id, &body, visibility.into()),
            )?
            .into())
    }

    /// Sets available / on break / off duty; sent now or when back online.
    pub fn set_availability(&self, status: Availability) -> Result<AvailabilityState, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.set_availability(status.into()))?
            .into())
    }

    /// The last availability set on this phone.
    pub fn availability(&self) -> Result<Option<AvailabilityState>, PhoneError> {
        Ok(self
            .runtime
            .block_on(self.client.availability())?
            .map(Into::into))
    }

    /// Sends every queued offer answer, comment, ping, availability and
    /// push token change.
    pub fn flush_outboxes(&self) -> Result<FlushSummary, PhoneError> {
        Ok(self.runtime.block_on(self.client.flush_outboxes())?.into())
    }
}
