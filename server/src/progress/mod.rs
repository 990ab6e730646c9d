//! The customer's progress page (no account): the ways in — a signed direct
//! link, or a one-time code sent to the contact on file — and what the page
//! may show once in: status, the technician's first name, public comments
//! (the customer may answer), the satisfaction survey after close, and
//! only while the technician is on the way, their last position and an ETA.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use truckroll_sync::Status;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    dispatch::{TechnicianIndex, sphere::great_circle_m},
    domain::{
        ValidationErrors,
        geo::GeoPoint,
        ticket::{Comment, NewComment, Visibility},
    },
    notify::ProgressKey,
    store::{
        Actor, PageRequest, Store, StoreError,
        progress::{CodeCheck, CodePolicy, CsatAnswer, CsatGroup, CsatGroupBy, NewProgressCode},
    },
};

/// How long a code works.
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Wrong codes before a number is locked, and for how long.
pub const CODE_POLICY: CodePolicy = CodePolicy {
    max_attempts: 5,
    lock_for: Duration::minutes(15),
};
/// How long the page's bearer lasts.
pub const SESSION_TTL: Duration = Duration::hours(2);
/// Roads are longer than the great circle; the page's ETA allows for it.
pub const DETOUR_FACTOR: f64 = 1.3;

#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// A wrong, expired or unknown code, link or bearer — never which.
    #[error("{0}")]
    Refused(&'static str),
    #[error("too many wrong codes; ask for a new code later")]
    Locked,
    #[error("{0}")]
    NotNow(&'static str),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const REFUSED_CODE: &str = "unknown ticket number or wrong code";
const REFUSED_BEARER: &str = "missing, expired or invalid progress token";

/// What the page's bearer is for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressSession {
    /// `Authorization: Bearer …` for the `/v1/public/track` endpoints of this ticket only.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicComment {
    pub body: String,
    /// Written by the customer (from this page), else by the service team.
    pub from_customer: bool,
    pub created_at: DateTime<Utc>,
}

/// The technician on the way: their last position and the estimate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tracking {
    pub lat: f64,
    pub lon: f64,
    /// When the position was taken.
    pub at: DateTime<Utc>,
    pub site_lat: f64,
    pub site_lon: f64,
    pub distance_m: f64,
    /// Great-circle distance × detour factor ÷ average road speed, rounded up.
    pub eta_minutes: u32,
}

/// The progress page's content.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressView {
    pub number: String,
    pub title: String,
    #[schema(value_type = String)]
    pub status: Status,
    /// Absent until tickets carry appointment windows.
    pub appointment_window: Option<String>,
    pub technician_first_name: Option<String>,
    pub comments: Vec<PublicComment>,
    /// Present only while the technician is on the way and has a position.
    pub tracking: Option<Tracking>,
    /// The survey can be answered (closed and not answered yet).
    pub survey_open: bool,
    pub survey: Option<CsatAnswer>,
}

/// The progress page's rules over narrow handles.
pub struct ProgressService<'a> {
    pub store: &'a dyn Store,
    pub key: &'a ProgressKey,
    pub technicians: &'a TechnicianIndex,
    pub average_speed_kmh: f64,
}

impl std::fmt::Debug for ProgressService<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressService").finish_non_exhaustive()
    }
}

fn new_code() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source: a code nobody can be sent is refused below.
        bytes = [0xff; 4];
    }
    format!("{:06}", u32::from_be_bytes(bytes) % 1_000_000)
}

impl ProgressService<'_> {
    /// Sends a code to the contact of `number` when it exists; the answer
    /// and the work (a keyed hash and one write) are the same when it does not.
    pub async fn request_code(
        &self,
        tenant: &str,
        number: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ProgressError> {
        let number = number.trim();
        if number.is_empty() || number.len() > 64 {
            return Err(ValidationErrors::single("ticket", "a ticket number is required").into());
        }
        let Some(tenant) = self.store.tenant_by_name(tenant.trim()).await? else {
            return Ok(());
        };
        let ticket = self.store.ticket_id_by_number(tenant.id, number).await?;
        let code = new_code();
        let hash = self.key.code_hash(tenant.id, number, &code);
        self.store
            .store_progress_code(
                &NewProgressCode {
                    tenant_id: tenant.id,
                    ticket_number: number,
                    code_hash: &hash,
                    expires_at: now + CODE_TTL,
                    send_to: ticket.map(|id| (id, code.as_str())),
                },
                now,
            )
            .await?;
        Ok(())
    }

    pub async fn open_with_code(
        &self,
        tenant: &str,
        number: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<ProgressSession, ProgressError> {
        let number = number.trim();
        let Some(tenant) = self.store.tenant_by_name(tenant.trim()).await? else {
            return Err(ProgressError::Refused(REFUSED_CODE));
        };
        let hash = self.key.code_hash(tenant.id, number, code.trim());
        match self
            .store
            .check_progress_code(tenant.id, number, &hash, now, CODE_POLICY)
            .await?
        {
            CodeCheck::Accepted => {}
            CodeCheck::Wrong => return Err(ProgressError::Refused(REFUSED_CODE)),
            CodeCheck::Locked => return Err(ProgressError::Locked),
        }
        let ticket = self
            .store
            .ticket_id_by_number(tenant.id, number)
            .await?
            .ok_or(ProgressError::Refused(REFUSED_CODE))?;
        Ok(self.session(tenant.id, ticket, now))
    }

    pub async fn open_with_link(
        &self,
        link: &str,
        now: DateTime<Utc>,
    ) -> Result<ProgressSession, ProgressError> {
        let (tenant, ticket) = self
            .key
            .open_link(link)
            .ok_or(ProgressError::Refused("invalid link"))?;
        match self.store.progress_facts(tenant, ticket).await {
            Ok(_) => Ok(self.session(tenant, ticket, now)),
            Err(StoreError::NotFound(_)) => Err(ProgressError::Refused("invalid link")),
            Err(error) => Err(error.into()),
        }
    }

    fn session(&self, tenant: Uuid, ticket: Uuid, now: DateTime<Utc>) -> ProgressSession {
        let expires_at = now + SESSION_TTL;
        ProgressSession {
            token: self.key.session_token(tenant, ticket, expires_at),
            expires_at,
        }
    }

    /// (tenant, ticket) the bearer is for.
    pub fn bearer(&self, token: &str, now: DateTime<Utc>) -> Result<(Uuid, Uuid), ProgressError> {
        self.key
            .open_session(token, now)
            .ok_or(ProgressError::Refused(REFUSED_BEARER))
    }

    pub async fn view(&self, tenant: Uuid, ticket: Uuid) -> Result<ProgressView, ProgressError> {
        let facts = self.store.progress_facts(tenant, ticket).await?;
        let comments = self
            .store
            .list_comments(
                tenant,
                ticket,
                PageRequest {
                    limit: 500,
                    after: None,
                },
            )
            .await?
            .items
            .into_iter()
            .filter(|c| c.visibility == Visibility::Public)
            .map(|c| PublicComment {
                from_customer: c.author_id == facts.customer_id,
                body: c.body,
                created_at: c.created_at,
            })
            .collect();
        let tracking = match (facts.ticket.status, facts.ticket.assignee_id) {
            (Status::EnRoute, Some(technician)) => self.tracking(technician, facts.site),
            _ => None,
        };
        let survey = self.store.csat_answer(tenant, ticket).await?;
        let appointment_window = match self.store.ticket_window(tenant, ticket).await? {
            Some(window) => Some(crate::schedule::window_text(
                &self.store.tenant_settings(tenant).await?.time_zone,
                window.starts_at,
                window.ends_at,
            )),
            None => None,
        };
        Ok(ProgressView {
            number: facts.ticket.number,
            title: facts.ticket.title,
            status: facts.ticket.status,
            appointment_window,
            technician_first_name: facts.technician_name,
            comments,
            tracking,
            survey_open: facts.ticket.status == Status::Closed && survey.is_none(),
            survey,
        })
    }

    fn tracking(&self, technician: Uuid, site: GeoPoint) -> Option<Tracking> {
        let fix = self.technicians.get(technician)?.position?;
        let distance_m = great_circle_m(fix.point, site);
        let minutes = distance_m * DETOUR_FACTOR / 1000.0 / self.average_speed_kmh * 60.0;
        Some(Tracking {
            lat: fix.point.lat,
            lon: fix.point.lon,
            at: fix.at,
            site_lat: site.lat,
            site_lon: site.lon,
            distance_m: distance_m.round(),
            eta_minutes: minutes.ceil().clamp(0.0, f64::from(u32::MAX)) as u32,
        })
    }

    /// The customer's answer, a public comment authored by the customer
    /// (so the notify side, which writes only for staff authors, sends
    /// nothing back).
    pub async fn reply(
        &self,
        tenant: Uuid,
        ticket: Uuid,
        body: &str,
    ) -> Result<Comment, ProgressError> {
        let facts = self.store.progress_facts(tenant, ticket).await?;
        let comment = NewComment {
            body: body.trim().to_owned(),
            visibility: Visibility::Public,
        };
        comment.validate()?;
        let actor = Actor {
            tenant_id: tenant,
            user_id: Some(facts.customer_id),
        };
        Ok(self.store.add_comment(actor, ticket, &comment).await?)
    }

    /// Once per ticket, after close.
    pub async fn answer_survey(
        &self,
        tenant: Uuid,
        ticket: Uuid,
        score: u8,
        comment: &str,
    ) -> Result<CsatAnswer, ProgressError> {
        let mut errors = ValidationErrors::new();
        if !(1..=5).contains(&score) {
            errors.add("score", "must be 1 to 5");
        }
        crate::domain::validation::check_optional_text(&mut errors, "comment", comment, 2_000);
        errors.into_result()?;
        let facts = self.store.progress_facts(tenant, ticket).await?;
        if facts.ticket.status != Status::Closed {
            return Err(ProgressError::NotNow(
                "the survey opens when the ticket is closed",
            ));
        }
        Ok(self
            .store
            .record_csat(tenant, ticket, score, comment.trim())
            .await?)
    }
}

/// The survey report as CSV (header, then one line per group).
pub fn csat_csv(group_by: CsatGroupBy, groups: &[CsatGroup]) -> String {
    use crate::domain::csv::field;
    let by = match group_by {
        CsatGroupBy::Category => "category",
        CsatGroupBy::Technician => "technician",
        CsatGroupBy::Territory => "territory",
    };
    let mut out = format!("{by},responses,average_score,satisfied\r\n");
    for group in groups {
        out.push_str(&format!(
            "{},{},{:.2},{}\r\n",
            field(group.group.as_deref().unwrap_or("")),
            group.responses,
            group.average_score,
            group.satisfied
        ));
    }
    out
}
