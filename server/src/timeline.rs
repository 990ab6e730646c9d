//! A ticket's timeline: one ordered list of everything that happened to it —
//! the audit log's entries about it (creation, changes, assignments, status
//! steps from the office, merges from phones, SLA warnings and breaches),
//! the phones' field events with their device times, comments, offers,
//! media, webhook deliveries and the customer's messages — each with the
//! actor's name.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use truckroll_sync::ActionOrigin;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::ticket::Ticket;
use crate::store::{PageRequest, Store, StoreError, StoreResult};

/// Audit entries and deliveries read per ticket.
const SOURCE_LIMIT: u32 = 5000;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Created,
    /// Header fields changed (title, priority, tags, custom fields, …).
    Changed,
    Assignment,
    /// A status step taken in the office or by the server.
    Status,
    /// A status event written on a phone (device time).
    Field,
    /// A phone's edits merged into the ticket's document.
    Sync,
    Comment,
    Offer,
    Media,
    Sla,
    Webhook,
    /// A message to the customer (email or SMS), with its delivery state.
    Notification,
    /// An office correction of the work record.
    Correction,
    /// A service report (PDF) generated.
    Report,
    Other,
    /// A trigger rule fired, or the ticket moved between teams (issue 21).
    Automation,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 16] = [
        Self::Created,
        Self::Changed,
        Self::Assignment,
        Self::Status,
        Self::Field,
        Self::Sync,
        Self::Comment,
        Self::Offer,
        Self::Media,
        Self::Sla,
        Self::Webhook,
        Self::Notification,
        Self::Correction,
        Self::Report,
        Self::Other,
        Self::Automation,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Changed => "changed",
            Self::Assignment => "assignment",
            Self::Status => "status",
            Self::Field => "field",
            Self::Sync => "sync",
            Self::Comment => "comment",
            Self::Offer => "offer",
            Self::Media => "media",
            Self::Sla => "sla",
            Self::Webhook => "webhook",
            Self::Notification => "notification",
            Self::Correction => "correction",
            Self::Report => "report",
            Self::Other => "other",
            Self::Automation => "automation",
        }
    }
}

impl FromStr for TimelineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind `{s}`; expected one of: {}", names.join(", "))
            })
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimelineActor {
    /// `user`, `device` (a phone, named after its user) or `system`.
    pub kind: String,
    pub id: Option<String>,
    pub name: String,
}

/// One thing that happened to the ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// When the server recorded it; for field events, the device time.
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    /// The precise action, e.g. `ticket.update`, `check_in`, `comment.public`.
    pub action: String,
    pub actor: TimelineActor,
    /// The writer's clock, for events made on a phone.
    pub device_time: Option<DateTime<Utc>>,
    /// One line for people.
    pub summary: String,
    /// Any JSON the entry's kind carries (an object for most, a list for some).
    pub detail: Value,
}

fn system() -> TimelineActor {
    TimelineActor {
        kind: "system".into(),
        id: None,
        name: "system".into(),
    }
}

/// Names users and devices once per request.
struct Names<'a> {
    store: &'a dyn Store,
    tenant_id: Uuid,
    users: HashMap<Uuid, String>,
    technicians: HashMap<Uuid, String>,
    devices: HashMap<String, Option<TimelineActor>>,
}

impl<'a> Names<'a> {
    fn new(store: &'a dyn Store, tenant_id: Uuid) -> Self {
        Self {
            store,
            tenant_id,
            users: HashMap::new(),
            technicians: HashMap::new(),
            devices: HashMap::new(),
        }
    }

    async fn user(&mut self, id: Option<Uuid>) -> StoreResult<TimelineActor> {
        let Some(id) = id else {
            return Ok(system());
        };
        if !self.users.contains_key(&id) {
            let name = match self.store.get_user(self.tenant_id, id).await {
                Ok(user) => user.name,
                // A customer writes through email and the web form.
                Err(StoreError::NotFound(_)) => {
                    match self.store.get_customer(self.tenant_id, id).await {
                        Ok(customer) => customer.name,
                        Err(StoreError::NotFound(_)) => "unknown user".to_owned(),
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            self.users.insert(id, name);
        }
        Ok(TimelineActor {
            kind: "user".into(),
            id: Some(id.to_string()),
            name: self.users.get(&id).cloned().unwrap_or_default(),
        })
    }

    async fn technician(&mut self, id: Uuid) -> StoreResult<String> {
        if !self.technicians.contains_key(&id) {
            let name = match self.store.get_technician(self.tenant_id, id).await {
                Ok(t) => t.name,
                Err(StoreError::NotFound(_)) => "unknown technician".to_owned(),
                Err(e) => return Err(e),
            };
            self.technicians.insert(id, name);
        }
        Ok(self.technicians.get(&id).cloned().unwrap_or_default())
    }

    /// The phone writing as `actor` (hex), named after its technician;
    /// `None` for the server's own writers, which have no device.
    async fn device(&mut self, actor: &str) -> StoreResult<Option<TimelineActor>> {
        if !self.devices.contains_key(actor) {
            let named = match self.store.device_by_actor(self.tenant_id, actor).await? {
                Some(device) => {
                    // A technician is known by their profile's name.
                    let name = match self
                        .store
                        .technician_for_user(self.tenant_id, device.user_id)
                        .await?
                    {
                        Some(technician) => technician.name,
                        None => self.user(Some(device.user_id)).await?.name,
                    };
                    Some(TimelineActor {
                        kind: "device".into(),
                        id: Some(device.id.to_string()),
                        name,
                    })
                }
                None => None,
            };
            self.devices.insert(actor.to_owned(), named);
        }
        Ok(self.devices.get(actor).cloned().flatten())
    }
}

fn at_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn parse(json: Option<&str>) -> Value {
    json.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// The top-level fields whose values differ, except bookkeeping ones.
fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "updated_at" | "search_text"))
        .filter(|(k, v)| b.get(k.as_str()) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// One audit entry as timeline entries (a `ticket.update` that changed the
/// status and other fields gives one status entry carrying both).
fn from_audit(action: &str, before: &Value, after: &Value) -> (TimelineKind, String, Value) {
    match action {
        "ticket.create" => (
            TimelineKind::Created,
            format!("created \"{}\"", text(&after["title"])),
            json!({"ticket": after}),
        ),
        "ticket.assign" => {
            let to = &after["assignee_id"];
            let summary = if to.is_null() {
                "unassigned".to_owned()
            } else {
                format!("assigned to technician {}", text(to))
            };
            (
                TimelineKind::Assignment,
                summary,
                json!({"from": before["assignee_id"], "to": to, "status": after["status"]}),
            )
        }
        "ticket.update" => {
            let fields = changed_fields(before, after);
            if before["status"] != after["status"] {
                (
                    TimelineKind::Status,
                    format!(
                        "status {} → {}",
                        text(&before["status"]),
                        text(&after["status"])
                    ),
                    json!({"from": before["status"], "to": after["status"], "fields": fields}),
                )
            } else {
                (
                    TimelineKind::Changed,
                    format!("changed {}", fields.join(", ")),
                    json!({"fields": fields,
                           "before": fields.iter().map(|f| (f.clone(), before[f.as_str()].clone())).collect::<serde_json::Map<_, _>>(),
                           "after": fields.iter().map(|f| (f.clone(), after[f.as_str()].clone())).collect::<serde_json::Map<_, _>>()}),
                )
            }
        }
        "ticket.field_sync" => (
            TimelineKind::Sync,
            "a phone's work merged".to_owned(),
            after.clone(),
        ),
        "ticket.offers_exhausted" => (
            TimelineKind::Offer,
            "no technician accepted an offer".to_owned(),
            Value::Null,
        ),
        "ticket.priority_raise" => (
            TimelineKind::Sla,
            format!(
                "priority raised {} → {}",
                text(&before["priority"]),
                text(&after["priority"])
            ),
            json!({"from": before["priority"], "to": after["priority"]}),
        ),
        "sla.warning" | "sla.breach" => (
            TimelineKind::Sla,
            format!(
                "SLA {} {} ({}%)",
                text(&after["target"]),
                if action == "sla.breach" {
                    "breached"
                } else {
                    "warning"
                },
                text(&after["threshold"])
            ),
            after.clone(),
        ),
        "ticket.received" => {
            let how = match after["channel"].as_str() {
                Some("form") => "received by web form",
                _ => "received by email",
            };
            (
                TimelineKind::Other,
                format!("{how} from {}", text(&after["sender"])),
                after.clone(),
            )
        }
        crate::work::corrections::AUDIT_ACTION => (
            TimelineKind::Correction,
            format!(
                "work record corrected: {}",
                after["summary"]
                    .as_array()
                    .map(|ops| ops.iter().map(text).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
                    .replace('_', " ")
            ),
            after.clone(),
        ),
        crate::report::AUDIT_ACTION => (
            TimelineKind::Report,
            format!(
                "service report version {} generated",
                text(&after["version"])
            ),
            after.clone(),
        ),
        "ticket.survey" => (
            TimelineKind::Other,
            format!("customer survey answered: {}/5", text(&after["score"])),
            after.clone(),
        ),
        "rule.fired" => (
            TimelineKind::Automation,
            format!(
                "rule \"{}\" fired{}",
                text(&after["rule_name"]),
                after["changes"]
                    .as_array()
                    .filter(|c| !c.is_empty())
                    .map(|c| format!(": {}", c.iter().map(text).collect::<Vec<_>>().join("; ")))
                    .unwrap_or_else(|| " (nothing left to change)".to_owned())
            ),
            after.clone(),
        ),
        "rule.auto_dispatch" => (
            TimelineKind::Automation,
            format!(
                "rule \"{}\" auto-dispatch: {}",
                text(&after["rule_name"]),
                text(&after["summary"])
            ),
            after.clone(),
        ),
        "ticket.team" => (
            TimelineKind::Automation,
            if after["team_id"].is_null() {
                format!(
                    "taken out of team {} ({})",
                    text(&before["team_name"]),
                    text(&after["reason"])
                )
            } else {
                format!(
                    "team → {} ({})",
                    text(&after["team_name"]),
                    text(&after["reason"])
                )
            },
            json!({"from": before, "to": after}),
        ),
        // Issue 21: approvals.
        "approval.requested" => (
            TimelineKind::Automation,
            format!(
                "approval requested under \"{}\"{}",
                text(&after["policy_name"]),
                if after["pause_sla"] == true {
                    " (SLA paused)"
                } else {
                    ""
                }
            ),
            after.clone(),
        ),
        "approval.approved" | "approval.rejected" => (
            TimelineKind::Automation,
            format!(
                "approval {} under \"{}\": {}",
                if action == "approval.approved" {
                    "approved"
                } else {
                    "rejected"
                },
                text(&after["policy_name"]),
                text(&after["decision_comment"])
            ),
            after.clone(),
        ),
        "macro.applied" => (
            TimelineKind::Automation,
            format!(
                "macro \"{}\" applied{}",
                text(&after["name"]),
                after["changes"]
                    .as_array()
                    .filter(|c| !c.is_empty())
                    .map(|c| format!(": {}", c.iter().map(text).collect::<Vec<_>>().join("; ")))
                    .unwrap_or_default()
            ),
            after.clone(),
        ),
        other => (TimelineKind::Other, other.to_owned(), after.clone()),
    }
}

struct Collected {
    entries: Vec<(TimelineEntry, u8, i64)>,
}

impl Collected {
    /// `source` and `order` keep entries recorded at the same instant in
    /// the order their source wrote them.
    fn push(&mut self, entry: TimelineEntry, source: u8, order: i64) {
        self.entries.push((entry, source, order));
    }
}

/// Everything that happened to `ticket`, oldest first.
pub async fn timeline(store: &dyn Store, ticket: &Ticket) -> StoreResult<Vec<TimelineEntry>> {
    let tenant_id = ticket.tenant_id;
    let mut names = Names::new(store, tenant_id);
    let mut out = Collected {
        entries: Vec::new(),
    };

    for entry in store
        .list_audit_for_entity(tenant_id, ticket.id, SOURCE_LIMIT)
        .await?
    {
        let before = parse(entry.before.as_deref());
        let after = parse(entry.after.as_deref());
        let (kind, summary, detail) = from_audit(&entry.action, &before, &after);
        let actor = names.user(entry.actor_id).await?;
        out.push(
            TimelineEntry {
                at: entry.at,
                kind,
                action: entry.action,
                actor,
                device_time: None,
                summary,
                detail,
            },
            0,
            entry.seq,
        );
    }

    if let Some(loaded) = crate::device_sync::load(store, tenant_id, ticket.id).await? {
        let fold = loaded.doc.status();
        let mut events = loaded.doc.events();
        events.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        for (i, e) in events.iter().enumerate() {
            // Server events, and field steps the server wrote for a REST
            // call, are in the audit log already, with the caller's name.
            if e.kind.origin() != ActionOrigin::Field {
                continue;
            }
            let Some(actor) = names.device(&e.actor).await? else {
                continue;
            };
            let ignored = fold.ignored.iter().find(|x| x.id == e.id);
            let device_time = at_ms(e.device_time);
            let summary = match ignored {
                Some(why) => format!("{} (ignored: {})", e.kind.as_str(), why.reason),
                None => e.kind.as_str().replace('_', " "),
            };
            out.push(
                TimelineEntry {
                    at: device_time,
                    kind: TimelineKind::Field,
                    action: e.kind.as_str().to_owned(),
                    actor,
                    device_time: Some(device_time),
                    summary,
                    detail: json!({"event_id": e.id, "position": e.position, "reason": e.reason,
                                   "applied": ignored.is_none()}),
                },
                1,
                i64::try_from(i).unwrap_or(i64::MAX),
            );
        }
    }

    let mut after = None;
    loop {
        let page = store
            .list_comments(tenant_id, ticket.id, PageRequest { limit: 200, after })
            .await?;
        for c in &page.items {
            let actor = names.user(Some(c.author_id)).await?;
            let visibility = c.visibility.as_str();
            out.push(
                TimelineEntry {
                    at: c.created_at,
                    kind: TimelineKind::Comment,
                    action: format!("comment.{visibility}"),
                    actor,
                    device_time: None,
                    summary: format!("{visibility} comment"),
                    detail: json!({"comment_id": c.id, "body": c.body, "visibility": visibility}),
                },
                2,
                0,
            );
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }

    for offer in store.offers_for_ticket(tenant_id, ticket.id).await? {
        let technician = names.technician(offer.technician_id).await?;
        out.push(
            TimelineEntry {
                at: offer.created_at,
                kind: TimelineKind::Offer,
                action: "offer.made".into(),
                actor: system(),
                device_time: None,
                summary: format!("offered to {technician} (round {})", offer.round),
                detail: json!({"offer_id": offer.id, "technician_id": offer.technician_id,
                               "expires_at": offer.expires_at}),
            },
            3,
            0,
        );
        if let Some(decided) = offer.decided_at {
            let state = offer.state.as_str();
            out.push(
                TimelineEntry {
                    at: decided,
                    kind: TimelineKind::Offer,
                    action: format!("offer.{state}"),
                    actor: TimelineActor {
                        kind: "technician".into(),
                        id: Some(offer.technician_id.to_string()),
                        name: technician.clone(),
                    },
                    device_time: None,
                    summary: match &offer.reason {
                        Some(reason) => format!("offer {state} by {technician}: {reason}"),
                        None => format!("offer {state} by {technician}"),
                    },
                    detail: json!({"offer_id": offer.id, "reason": offer.reason}),
                },
                3,
                1,
            );
        }
    }

    for media in store.list_ticket_media(tenant_id, ticket.id).await? {
        let actor = names.user(media.created_by).await?;
        let kind = serde_json::to_value(media.kind).unwrap_or(Value::Null);
        out.push(
            TimelineEntry {
                at: media.completed_at.unwrap_or(media.created_at),
                kind: TimelineKind::Media,
                action: format!("media.{}", text(&kind)),
                actor,
                device_time: None,
                summary: format!("{} uploaded ({} bytes)", text(&kind), media.size),
                detail: json!({"media_id": media.id, "content_type": media.content_type,
                               "sha256": media.sha256, "state": media.state}),
            },
            4,
            0,
        );
    }

    for delivery in store
        .list_ticket_webhook_deliveries(tenant_id, ticket.id)
        .await?
    {
        let state = serde_json::to_value(delivery.state).unwrap_or(Value::Null);
        out.push(
            TimelineEntry {
                at: delivery.created_at,
                kind: TimelineKind::Webhook,
                action: delivery.event_type.clone(),
                actor: system(),
                device_time: None,
                summary: format!("webhook {} {}", delivery.event_type, text(&state)),
                detail: json!({"delivery_id": delivery.id, "subscription_id": delivery.subscription_id,
                               "state": state, "attempts": delivery.attempts,
                               "last_status": delivery.last_status}),
            },
            5,
            0,
        );
    }

    for notice in store.list_ticket_notices(tenant_id, ticket.id).await? {
        let state = notice.state.as_str();
        let (event, channel) = (notice.event.as_str(), notice.channel.as_str());
        out.push(
            TimelineEntry {
                at: notice.created_at,
                kind: TimelineKind::Notification,
                action: format!("notify.{event}"),
                actor: system(),
                device_time: None,
                summary: format!("{channel} {event} to {} {state}", notice.recipient),
                detail: json!({"notice_id": notice.id, "channel": notice.channel, "event": notice.event,
                               "recipient": notice.recipient, "locale": notice.locale, "state": notice.state,
                               "attempts": notice.attempts, "last_status": notice.last_status,
                               "last_error": notice.last_error, "subject": notice.subject,
                               "body": notice.body, "sent_at": notice.sent_at}),
            },
            6,
            0,
        );
    }

    let mut entries = out.entries;
    entries.sort_by_key(|e| (e.0.at, e.1, e.2));
    Ok(entries.into_iter().map(|(e, _, _)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_that_moves_the_status_is_a_status_entry() {
        let before = json!({"status": "assigned", "title": "a", "updated_at": "x"});
        let after = json!({"status": "accepted", "title": "a", "updated_at": "y"});
        let (kind, summary, detail) = from_audit("ticket.update", &before, &after);
        assert_eq!(kind, TimelineKind::Status);
        assert_eq!(summary, "status assigned → accepted");
        assert_eq!(detail["fields"], json!(["status"]));
    }

    #[test]
    fn an_update_of_fields_names_them_with_before_and_after() {
        let before = json!({"status": "new", "priority": "P3", "title": "a"});
        let after = json!({"status": "new", "priority": "P1", "title": "a"});
        let (kind, summary, detail) = from_audit("ticket.update", &before, &after);
        assert_eq!(kind, TimelineKind::Changed);
        assert_eq!(summary, "changed priority");
        assert_eq!(detail["before"]["priority"], "P3");
        assert_eq!(detail["after"]["priority"], "P1");
    }

    #[test]
    fn kinds_parse_by_name_and_refuse_others_with_the_list() {
        assert_eq!("field".parse::<TimelineKind>(), Ok(TimelineKind::Field));
        let err = "fields".parse::<TimelineKind>().expect_err("not a kind");
        assert!(err.contains("created, changed"), "{err}");
    }
}
