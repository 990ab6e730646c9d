//! SLA: policies per tenant, the SLA state every ticket response carries,
//! and the SLA report.

use std::collections::{BTreeMap, HashMap};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use truckroll_sync::Status;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
};
use crate::{
    domain::{
        ValidationErrors,
        people::CustomerTier,
        permissions::Action,
        sla::{
            BusinessCalendar, CompiledCalendar, Escalation, PauseMatcher, PolicyMatch, SlaPolicy,
            SlaTarget, SlaTargets, TargetClock, TargetState, compute_clock_with, default_pause_on,
            default_warning_thresholds, select_policy,
        },
        ticket::Ticket,
    },
    store::{
        PageRequest, Store, TicketFilter,
        sla::SiteCustomer,
        sla_report::{GroupKey, ReportGrouping, ReportRange, SlaOutcome},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy))
        .routes(routes!(sla_report))
        .routes(routes!(list_notices))
}

// ---------------------------------------------------------------------------
// Policies

fn always_open() -> BusinessCalendar {
    BusinessCalendar::AlwaysOpen
}

/// A new SLA policy. `match` fields left out match anything; the calendar
/// defaults to 24×7, pauses to on hold (waiting for customer or parts),
/// warnings to 75 % and 90 %.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyInput {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matches: PolicyMatch,
    pub targets: SlaTargets,
    #[serde(default = "always_open")]
    pub calendar: BusinessCalendar,
    #[serde(default = "default_pause_on")]
    pub pause_on: Vec<PauseMatcher>,
    #[serde(default = "default_warning_thresholds")]
    pub warning_thresholds: Vec<u8>,
    /// Default: notify dispatchers at a warning, dispatchers and managers at a breach.
    #[serde(default)]
    pub escalation: Escalation,
}

/// A change to an SLA policy: each field given replaces the stored one whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyPatch {
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matches: Option<PolicyMatch>,
    pub targets: Option<SlaTargets>,
    pub calendar: Option<BusinessCalendar>,
    pub pause_on: Option<Vec<PauseMatcher>>,
    pub warning_thresholds: Option<Vec<u8>>,
    pub escalation: Option<Escalation>,
}

/// SLA policies of the tenant, oldest first.
#[utoipa::path(get, path = "/v1/sla/policies", tag = "sla", security(("bearer" = [])),
    responses((status = 200, body = Vec<SlaPolicy>), (status = 403, body = Problem)))]
async fn list_policies(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<SlaPolicy>>> {
    user.require(Action::SlaPoliciesRead)?;
    Ok(Json(state.store.list_sla_policies(user.tenant_id).await?))
}

/// Define an SLA policy (admins). The most specific matching policy covers a ticket.
#[utoipa::path(post, path = "/v1/sla/policies", tag = "sla", request_body = SlaPolicyInput, security(("bearer" = [])),
    responses((status = 201, body = SlaPolicy), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SlaPolicyInput>,
) -> ApiResult<(StatusCode, Json<SlaPolicy>)> {
    user.require(Action::SlaPoliciesWrite)?;
    let policy = SlaPolicy {
        id: Uuid::now_v7(),
        name: input.name.trim().to_owned(),
        matches: input.matches,
        targets: input.targets,
        calendar: input.calendar,
        pause_on: input.pause_on,
        warning_thresholds: input.warning_thresholds,
        escalation: input.escalation,
    };
    policy.validate()?;
    let created = state.store.create_sla_policy(user.actor(), &policy).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/sla/policies/{id}", tag = "sla", security(("bearer" = [])),
    responses((status = 200, body = SlaPolicy), (status = 404, body = Problem)))]
async fn get_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SlaPolicy>> {
    user.require(Action::SlaPoliciesRead)?;
    Ok(Json(state.store.get_sla_policy(user.tenant_id, id).await?))
}

/// Change an SLA policy (admins). Tickets it covers are re-evaluated on their
/// next read, from their history: paused time is kept.
#[utoipa::path(patch, path = "/v1/sla/policies/{id}", tag = "sla", request_body = SlaPolicyPatch, security(("bearer" = [])),
    responses((status = 200, body = SlaPolicy), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn update_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<SlaPolicyPatch>,
) -> ApiResult<Json<SlaPolicy>> {
    user.require(Action::SlaPoliciesWrite)?;
    let mut policy = state.store.get_sla_policy(user.tenant_id, id).await?;
    if let Some(name) = patch.name {
        policy.name = name.trim().to_owned();
    }
    if let Some(matches) = patch.matches {
        policy.matches = matches;
    }
    if let Some(targets) = patch.targets {
        policy.targets = targets;
    }
    if let Some(calendar) = patch.calendar {
        policy.calendar = calendar;
    }
    if let Some(pause_on) = patch.pause_on {
        policy.pause_on = pause_on;
    }
    if let Some(thresholds) = patch.warning_thresholds {
        policy.warning_thresholds = thresholds;
    }
    if let Some(escalation) = patch.escalation {
        policy.escalation = escalation;
    }
    policy.validate()?;
    Ok(Json(
        state.store.update_sla_policy(user.actor(), &policy).await?,
    ))
}

// ---------------------------------------------------------------------------
// Notices

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// Only this ticket's notices.
    pub ticket_id: Option<Uuid>,
}

/// SLA warnings and breaches that fired (each once per ticket, target and
/// threshold), with what their escalation did. At most 1000.
#[utoipa::path(get, path = "/v1/sla/notices", tag = "sla", params(NoticeQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<crate::store::sla_timers::SlaNotice>), (status = 403, body = Problem)))]
async fn list_notices(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<NoticeQuery>,
) -> ApiResult<Json<Vec<crate::store::sla_timers::SlaNotice>>> {
    user.require(Action::ReportsRead)?;
    Ok(Json(
        state
            .store
            .list_sla_notices(user.tenant_id, query.ticket_id)
            .await?,
    ))
}

// ---------------------------------------------------------------------------
// The ticket view

/// A ticket as the API returns it: the stored ticket and its SLA state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: Ticket,
    /// The SLA clocks under the policy that covers the ticket; `null` when no policy does.
    pub sla: Option<TicketSla>,
}

/// A ticket's SLA state per target, as of `now`. A target the policy does
/// not set is `null`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketSla {
    pub policy_id: Uuid,
    pub policy_name: String,
    pub now: DateTime<Utc>,
    pub response: Option<TargetClock>,
    pub arrival: Option<TargetClock>,
    pub resolution: Option<TargetClock>,
}

/// A tenant's policies with their calendars compiled, loaded once per request.
pub(crate) struct SlaContext {
    policies: Vec<SlaPolicy>,
    calendars: HashMap<Uuid, CompiledCalendar>,
}

impl SlaContext {
    pub(crate) async fn load(store: &dyn Store, tenant_id: Uuid) -> ApiResult<Self> {
        let policies = store.list_sla_policies(tenant_id).await?;
        let calendars = policies
            .iter()
            // Stored policies were validated; one that no longer compiles covers nothing.
            .filter_map(|p| p.calendar.compile().ok().map(|c| (p.id, c)))
            .collect();
        Ok(Self {
            policies,
            calendars,
        })
    }

    /// The SLA state of each ticket: one query for the tiers of their
    /// sites and one for their histories, whatever the number of tickets.
    pub(crate) async fn evaluate(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
        tickets: &[Ticket],
        now: DateTime<Utc>,
    ) -> ApiResult<Vec<Option<TicketSla>>> {
        if self.policies.is_empty() || tickets.is_empty() {
            return Ok(vec![None; tickets.len()]);
        }
        let mut sites: Vec<Uuid> = tickets.iter().map(|t| t.site_id).collect();
        sites.sort_unstable();
        sites.dedup();
        let customers = store.site_customers(tenant_id, &sites).await?;
        let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
        let histories = store.status_histories(tenant_id, &ids).await?;
        Ok(tickets
            .iter()
            .map(|ticket| {
                let tier = customers
                    .get(&ticket.site_id)
                    .map_or(CustomerTier::Standard, |c| c.tier);
                let history = histories.get(&ticket.id).map_or(&[][..], Vec::as_slice);
                self.clock(ticket, tier, history, now)
            })
            .collect())
    }

    fn clock(
        &self,
        ticket: &Ticket,
        tier: CustomerTier,
        history: &[crate::domain::sla::StatusEvent],
        now: DateTime<Utc>,
    ) -> Option<TicketSla> {
        self.clock_of(
            (ticket.priority, tier, &ticket.category),
            ticket.created_at,
            history,
            now,
        )
    }

    /// A fingerprint of the policies: stored SLA outcomes computed under
    /// other policies are stale.
    pub(crate) fn epoch(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for policy in &self.policies {
            // Serialising a policy cannot fail (plain data).
            hash.update(serde_json::to_vec(policy).unwrap_or_default());
            hash.update(b"\n");
        }
        hex::encode(&hash.finalize()[..16])
    }

    fn clock_of(
        &self,
        (priority, tier, category): (crate::domain::ticket::Priority, CustomerTier, &str),
        created_at: DateTime<Utc>,
        history: &[crate::domain::sla::StatusEvent],
        now: DateTime<Utc>,
    ) -> Option<TicketSla> {
        let policy = select_policy(&self.policies, priority, tier, category)?;
        let calendar = self.calendars.get(&policy.id)?;
        let clock = compute_clock_with(calendar, policy, created_at, history, now);
        Some(TicketSla {
            policy_id: policy.id,
            policy_name: policy.name.clone(),
            now: clock.now,
            response: clock.response,
            arrival: clock.arrival,
            resolution: clock.resolution,
        })
    }
}

/// Tickets with their SLA state, for a handler's response.
pub(crate) async fn views(
    state: &AppState,
    tenant_id: Uuid,
    tickets: Vec<Ticket>,
) -> ApiResult<Vec<TicketView>> {
    let context = SlaContext::load(state.store.as_ref(), tenant_id).await?;
    let slas = context
        .evaluate(state.store.as_ref(), tenant_id, &tickets, Utc::now())
        .await?;
    Ok(tickets
        .into_iter()
        .zip(slas)
        .map(|(ticket, sla)| TicketView { ticket, sla })
        .collect())
}

/// One ticket with its SLA state.
pub(crate) async fn view(
    state: &AppState,
    tenant_id: Uuid,
    ticket: Ticket,
) -> ApiResult<TicketView> {
    let mut views = views(state, tenant_id, vec![ticket]).await?;
    Ok(views.remove(0))
}

// ---------------------------------------------------------------------------
// The report

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Category,
    Priority,
    Technician,
    Customer,
    Territory,
    Day,
    Week,
    Month,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Tickets created at or after (RFC 3339).
    pub from: DateTime<Utc>,
    /// Tickets created before (RFC 3339).
    pub to: DateTime<Utc>,
    /// category, priority, technician, customer, territory, day, week or month (UTC); default category.
    #[param(value_type = Option<String>, example = "category")]
    pub group_by: Option<GroupBy>,
    /// `sql` (default): aggregated by the database from per-ticket SLA
    /// outcomes; `app`: every clock evaluated in the application (the
    /// reference path, at most 100 000 tickets). Both give the same numbers.
    #[param(value_type = Option<String>, example = "sql")]
    pub engine: Option<ReportEngine>,
}

/// How the report is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportEngine {
    Sql,
    App,
}

/// The figures of one target in one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct TargetFigures {
    /// Tickets whose target is decided: met, met late or breached.
    pub decided: u64,
    pub met: u64,
    pub met_late: u64,
    pub breached: u64,
    /// Met on time ÷ decided, in percent; `null` when nothing is decided.
    pub attainment_pct: Option<f64>,
    /// Business seconds to meet the target (met and met late), median.
    pub median_seconds: Option<i64>,
    /// … 90th percentile (nearest rank).
    pub p90_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportGroup {
    /// The group's key: category, priority, technician id (`unassigned`),
    /// customer id, or the UTC date starting the day/week (Monday)/month.
    pub key: String,
    /// Tickets created in the range.
    pub tickets: u64,
    /// Tickets covered by an SLA policy.
    pub covered: u64,
    pub response: TargetFigures,
    pub arrival: TargetFigures,
    pub resolution: TargetFigures,
    /// Of the tickets, those still open now (not work done, closed or cancelled).
    pub backlog: u64,
    /// The backlog by age now (since creation).
    pub backlog_age: BacklogAge,
    pub first_time_fix: FirstTimeFix,
    /// Seconds the group's tickets spent on site within the range.
    pub on_site_seconds: i64,
    /// `group_by=technician` only: on-site seconds ÷ the technician's shift
    /// seconds in `[from, min(to, now))`, in percent; `null` otherwise, for
    /// `unassigned`, or without shift time.
    pub utilisation_pct: Option<f64>,
}

/// Open tickets by age.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct BacklogAge {
    pub under_1d: u64,
    pub from_1d_to_3d: u64,
    pub from_3d_to_7d: u64,
    pub over_7d: u64,
}

/// Closed tickets fixed at the first visit and never reopened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct FirstTimeFix {
    /// Tickets of the group closed now.
    pub closed: u64,
    /// … with at most one arrival on site and no reopen.
    pub fixed_first_time: u64,
    /// fixed_first_time ÷ closed, in percent; `null` when none is closed.
    pub rate_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlaReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(value_type = String, example = "category")]
    pub group_by: String,
    /// When the clocks were evaluated.
    pub now: DateTime<Utc>,
    pub groups: Vec<ReportGroup>,
}

/// Most tickets one report reads.
const REPORT_MAX_TICKETS: usize = 100_000;

/// SLA attainment of the tickets created in `[from, to)`, grouped. JSON, or
/// CSV with `Accept: text/csv`.
#[utoipa::path(get, path = "/v1/reports/sla", tag = "sla", params(ReportQuery), security(("bearer" = [])),
    responses((status = 200, body = SlaReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn sla_report(
    user: AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    user.require(Action::ReportsRead)?;
    if query.to <= query.from {
        return Err(ValidationErrors::single("to", "must be after from").into());
    }
    let group_by = query.group_by.unwrap_or(GroupBy::Category);
    let store = state.store.as_ref();
    // Whole microseconds, as both databases keep times: rounding `from` and
    // `to` up selects the same tickets, and both engines see the same instants.
    let from = crate::sla::report::ceil_to_micros(query.from);
    let to = crate::sla::report::ceil_to_micros(query.to);
    let now = crate::domain::audit::audit_time(Utc::now());
    let mut groups = match query.engine.unwrap_or(ReportEngine::Sql) {
        ReportEngine::Sql => sql_groups(store, user.tenant_id, group_by, (from, to), now).await?,
        ReportEngine::App => app_groups(store, user.tenant_id, group_by, (from, to), now).await?,
    };
    if group_by == GroupBy::Technician {
        let until = to.min(now);
        for group in &mut groups {
            let Ok(id) = group.key.parse::<Uuid>() else {
                continue;
            };
            let Ok(technician) = store.get_technician(user.tenant_id, id).await else {
                continue;
            };
            let shift_seconds =
                crate::sla::report::shift_calendar(&technician.shifts, &technician.time_zone)
                    .filter(|_| until > from)
                    .map_or(0, |calendar| {
                        calendar.business_time(from, until).num_seconds()
                    });
            if shift_seconds > 0 {
                #[allow(clippy::cast_precision_loss)]
                let pct = group.on_site_seconds as f64 * 100.0 / shift_seconds as f64;
                group.utilisation_pct = Some((pct * 100.0).round() / 100.0);
            }
        }
    }
    let report = SlaReport {
        from,
        to,
        group_by: group_name(group_by).to_owned(),
        now,
        groups,
    };
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    if wants_csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&report),
        )
            .into_response())
    } else {
        Ok(Json(report).into_response())
    }
}

/// The report's groups with every clock evaluated in the application: the
/// reference ("naive") path, refusing ranges of more than 100 000 tickets.
async fn app_groups(
    store: &dyn Store,
    tenant_id: Uuid,
    group_by: GroupBy,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> ApiResult<Vec<ReportGroup>> {
    let filter = TicketFilter {
        created_from: Some(from),
        created_to: Some(to),
        ..TicketFilter::default()
    };
    let mut tickets = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_tickets(tenant_id, &filter, PageRequest { limit: 500, after })
            .await?;
        tickets.extend(page.items);
        if tickets.len() > REPORT_MAX_TICKETS {
            return Err(ValidationErrors::single(
                "from",
                format!("the range holds more than {REPORT_MAX_TICKETS} tickets; narrow it"),
            )
            .into());
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let context = SlaContext::load(store, tenant_id).await?;
    let slas = context.evaluate(store, tenant_id, &tickets, now).await?;
    let mut sites: Vec<Uuid> = tickets.iter().map(|t| t.site_id).collect();
    sites.sort_unstable();
    sites.dedup();
    let customers = if group_by == GroupBy::Customer {
        store.site_customers(tenant_id, &sites).await?
    } else {
        HashMap::new()
    };
    let territories = if group_by == GroupBy::Territory {
        store.site_territories(tenant_id, &sites).await?
    } else {
        HashMap::new()
    };
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    let histories = store.status_histories(tenant_id, &ids).await?;
    let keys = GroupKeys {
        group_by,
        customers: &customers,
        territories: &territories,
    };
    Ok(build_groups(
        &keys,
        &tickets,
        &slas,
        &histories,
        (from, to),
        now,
    ))
}

/// Outcomes recomputed per round of the SQL path's refresh.
const OUTCOME_BATCH: usize = 2000;

/// Outcomes written by one refresh after which the tables are analysed.
const ANALYZE_AFTER: u64 = 10_000;

/// Recomputes the stored SLA outcomes of the range's tickets that are
/// missing or stale (ticket changed, policies changed, a future-dated event
/// reached). Returns how many were recomputed.
pub(crate) async fn refresh_outcomes(
    store: &dyn Store,
    range: &ReportRange,
    now: DateTime<Utc>,
) -> ApiResult<u64> {
    use crate::sla::report::{fixed_first_time, on_site_stretches, target_outcome, valid_until};
    let tenant_id = range.tenant_id;
    let context = SlaContext::load(store, tenant_id).await?;
    let epoch = context.epoch();
    let stale_ids = store.stale_sla_outcomes(range, &epoch).await?;
    let mut refreshed = 0;
    for ids in stale_ids.chunks(OUTCOME_BATCH) {
        let stale = store.sla_outcome_inputs(tenant_id, ids).await?;
        let mut sites: Vec<Uuid> = stale.iter().map(|t| t.site_id).collect();
        sites.sort_unstable();
        sites.dedup();
        let customers = store.site_customers(tenant_id, &sites).await?;
        let ids: Vec<Uuid> = stale.iter().map(|t| t.id).collect();
        let histories = store.status_histories(tenant_id, &ids).await?;
        let outcomes: Vec<SlaOutcome> = stale
            .iter()
            .map(|ticket| {
                let tier = customers
                    .get(&ticket.site_id)
                    .map_or(CustomerTier::Standard, |c| c.tier);
                let history = histories.get(&ticket.id).map_or(&[][..], Vec::as_slice);
                let sla = context.clock_of(
                    (ticket.priority, tier, &ticket.category),
                    ticket.created_at,
                    history,
                    now,
                );
                let targets = match &sla {
                    Some(sla) => [&sla.response, &sla.arrival, &sla.resolution]
                        .map(|clock| target_outcome(clock.as_ref())),
                    None => Default::default(),
                };
                SlaOutcome {
                    ticket_id: ticket.id,
                    ticket_version: ticket.updated_at,
                    policy_epoch: epoch.clone(),
                    valid_until_us: valid_until(ticket.created_at, history, now),
                    created_us: ticket.created_at.timestamp_micros(),
                    covered: sla.is_some(),
                    fixed_first_time: fixed_first_time(history),
                    targets,
                    on_site: on_site_stretches(history),
                }
            })
            .collect();
        store.write_sla_outcomes(tenant_id, &outcomes).await?;
        refreshed += outcomes.len() as u64;
    }
    // A large refresh changes the tables' shape: without fresh statistics
    // the planner joins 100 000 outcomes as if they were a few hundred
    // (nested loops: 1.3 s instead of 0.37 s for a month of 82 000 tickets).
    if refreshed >= ANALYZE_AFTER {
        store.analyze_sla_outcomes().await?;
    }
    Ok(refreshed)
}

/// The report's groups aggregated by the database from the stored outcomes
/// (refreshed first where stale).
async fn sql_groups(
    store: &dyn Store,
    tenant_id: Uuid,
    group_by: GroupBy,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> ApiResult<Vec<ReportGroup>> {
    let range = ReportRange {
        tenant_id,
        from,
        to,
        grouping: match group_by {
            GroupBy::Category => ReportGrouping::Category,
            GroupBy::Priority => ReportGrouping::Priority,
            GroupBy::Technician => ReportGrouping::Technician,
            GroupBy::Customer => ReportGrouping::Customer,
            GroupBy::Territory => ReportGrouping::Territory,
            GroupBy::Day => ReportGrouping::Day,
            GroupBy::Week => ReportGrouping::Week,
            GroupBy::Month => ReportGrouping::Month,
        },
        now_us: now.timestamp_micros(),
        from_us: from.timestamp_micros(),
        until_us: to.min(now).timestamp_micros(),
    };
    refresh_outcomes(store, &range, now).await?;
    let rows = store.sla_report_rows(&range).await?;
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut groups: Vec<ReportGroup> = rows
        .into_iter()
        .map(|row| {
            let [response, arrival, resolution] = row.targets.map(|t| {
                target_figures(
                    (count(t.met), count(t.met_late), count(t.breached)),
                    t.median_seconds,
                    t.p90_seconds,
                )
            });
            let (closed, fixed) = (count(row.closed), count(row.fixed_first_time));
            ReportGroup {
                key: sql_key(group_by, &row.key),
                tickets: count(row.tickets),
                covered: count(row.covered),
                response,
                arrival,
                resolution,
                backlog: count(row.backlog),
                backlog_age: BacklogAge {
                    under_1d: count(row.backlog_age[0]),
                    from_1d_to_3d: count(row.backlog_age[1]),
                    from_3d_to_7d: count(row.backlog_age[2]),
                    over_7d: count(row.backlog_age[3]),
                },
                first_time_fix: FirstTimeFix {
                    closed,
                    fixed_first_time: fixed,
                    rate_pct: percent(fixed, closed),
                },
                on_site_seconds: row.on_site_seconds,
                utilisation_pct: None,
            }
        })
        .collect();
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(groups)
}

/// A database group key as the report names it.
fn sql_key(group_by: GroupBy, key: &GroupKey) -> String {
    let id = |none: &str| key.id.map_or_else(|| none.to_owned(), |id| id.to_string());
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    match group_by {
        GroupBy::Category | GroupBy::Priority => key.text.clone().unwrap_or_default(),
        GroupBy::Technician => id("unassigned"),
        GroupBy::Customer => id("unknown"),
        GroupBy::Territory => id("none"),
        GroupBy::Day | GroupBy::Week => {
            (epoch + Duration::days(key.number.unwrap_or(0))).to_string()
        }
        GroupBy::Month => {
            let months = key.number.unwrap_or(0);
            let year = i32::try_from(months.div_euclid(12)).unwrap_or(1970);
            let month = u32::try_from(months.rem_euclid(12) + 1).unwrap_or(1);
            NaiveDate::from_ymd_opt(year, month, 1)
                .unwrap_or(epoch)
                .to_string()
        }
    }
}

fn group_name(group_by: GroupBy) -> &'static str {
    match group_by {
        GroupBy::Category => "category",
        GroupBy::Priority => "priority",
        GroupBy::Technician => "technician",
        GroupBy::Customer => "customer",
        GroupBy::Territory => "territory",
        GroupBy::Day => "day",
        GroupBy::Week => "week",
        GroupBy::Month => "month",
    }
}

/// What grouping needs besides the ticket.
struct GroupKeys<'a> {
    group_by: GroupBy,
    customers: &'a HashMap<Uuid, SiteCustomer>,
    territories: &'a HashMap<Uuid, Option<Uuid>>,
}

fn group_key(keys: &GroupKeys<'_>, ticket: &Ticket) -> String {
    let customers = keys.customers;
    let date = ticket.created_at.date_naive();
    match keys.group_by {
        GroupBy::Territory => keys
            .territories
            .get(&ticket.site_id)
            .copied()
            .flatten()
            .map_or_else(|| "none".to_owned(), |id| id.to_string()),
        GroupBy::Category => ticket.category.clone(),
        GroupBy::Priority => ticket.priority.as_str().to_owned(),
        GroupBy::Technician => ticket
            .assignee_id
            .map_or_else(|| "unassigned".to_owned(), |id| id.to_string()),
        GroupBy::Customer => customers
            .get(&ticket.site_id)
            .map_or_else(|| "unknown".to_owned(), |c| c.customer_id.to_string()),
        GroupBy::Day => date.to_string(),
        GroupBy::Week => {
            (date - Duration::days(i64::from(date.weekday().num_days_from_monday()))).to_string()
        }
        GroupBy::Month => NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
            .unwrap_or(date)
            .to_string(),
    }
}

#[derive(Default)]
struct Accumulator {
    tickets: u64,
    covered: u64,
    backlog: u64,
    backlog_age: [u64; 4],
    closed: u64,
    fixed_first_time: u64,
    on_site_seconds: i64,
    /// Per target: (met, met_late, breached, seconds to meet).
    targets: [(u64, u64, u64, Vec<i64>); 3],
}

fn build_groups(
    keys: &GroupKeys<'_>,
    tickets: &[Ticket],
    slas: &[Option<TicketSla>],
    histories: &HashMap<Uuid, Vec<crate::domain::sla::StatusEvent>>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Vec<ReportGroup> {
    use crate::sla::report::{age_bucket, fixed_first_time, on_site_seconds};
    let mut groups: BTreeMap<String, Accumulator> = BTreeMap::new();
    for (ticket, sla) in tickets.iter().zip(slas) {
        let group = groups.entry(group_key(keys, ticket)).or_default();
        let history = histories.get(&ticket.id).map_or(&[][..], Vec::as_slice);
        group.tickets += 1;
        if !matches!(
            ticket.status,
            Status::WorkDone | Status::Closed | Status::Cancelled
        ) {
            group.backlog += 1;
            group.backlog_age[age_bucket(now - ticket.created_at)] += 1;
        }
        if ticket.status == Status::Closed {
            group.closed += 1;
            if fixed_first_time(history) {
                group.fixed_first_time += 1;
            }
        }
        group.on_site_seconds += on_site_seconds(history, from, to, now);
        let Some(sla) = sla else { continue };
        group.covered += 1;
        for (i, target) in SlaTarget::ALL.into_iter().enumerate() {
            let clock = match target {
                SlaTarget::Response => &sla.response,
                SlaTarget::Arrival => &sla.arrival,
                SlaTarget::Resolution => &sla.resolution,
            };
            let Some(clock) = clock else { continue };
            let figures = &mut group.targets[i];
            match clock.state {
                TargetState::Met => figures.0 += 1,
                TargetState::MetLate => figures.1 += 1,
                TargetState::Breached => figures.2 += 1,
                TargetState::Ok | TargetState::Warning { .. } => {}
            }
            if matches!(clock.state, TargetState::Met | TargetState::MetLate) {
                figures.3.push(clock.elapsed.num_seconds());
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, mut acc)| {
            let [response, arrival, resolution] = acc.targets.each_mut().map(figures);
            ReportGroup {
                key,
                tickets: acc.tickets,
                covered: acc.covered,
                response,
                arrival,
                resolution,
                backlog: acc.backlog,
                backlog_age: BacklogAge {
                    under_1d: acc.backlog_age[0],
                    from_1d_to_3d: acc.backlog_age[1],
                    from_3d_to_7d: acc.backlog_age[2],
                    over_7d: acc.backlog_age[3],
                },
                first_time_fix: FirstTimeFix {
                    closed: acc.closed,
                    fixed_first_time: acc.fixed_first_time,
                    rate_pct: percent(acc.fixed_first_time, acc.closed),
                },
                on_site_seconds: acc.on_site_seconds,
                utilisation_pct: None,
            }
        })
        .collect()
}

fn figures(acc: &mut (u64, u64, u64, Vec<i64>)) -> TargetFigures {
    let (met, met_late, breached, times) = acc;
    times.sort_unstable();
    target_figures(
        (*met, *met_late, *breached),
        percentile(times, 50),
        percentile(times, 90),
    )
}

/// One target's figures from its counts and percentiles (both engines).
fn target_figures(
    (met, met_late, breached): (u64, u64, u64),
    median_seconds: Option<i64>,
    p90_seconds: Option<i64>,
) -> TargetFigures {
    let decided = met + met_late + breached;
    TargetFigures {
        decided,
        met,
        met_late,
        breached,
        attainment_pct: percent(met, decided),
        median_seconds,
        p90_seconds,
    }
}

/// part ÷ whole in percent, two decimals; `None` for an empty whole.
fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| {
        // Counts stay far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let pct = part as f64 * 100.0 / whole as f64;
        (pct * 100.0).round() / 100.0
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], pct: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// One line per group; the header names every column.
fn to_csv(report: &SlaReport) -> String {
    let mut out = String::from("group_by,key,tickets,covered,backlog");
    for target in SlaTarget::ALL {
        let t = target.as_str();
        out.push_str(&format!(
            ",{t}_decided,{t}_met,{t}_met_late,{t}_breached,{t}_attainment_pct,{t}_median_seconds,{t}_p90_seconds"
        ));
    }
    out.push_str(
        ",backlog_under_1d,backlog_1d_to_3d,backlog_3d_to_7d,backlog_over_7d,closed,fixed_first_time,first_time_fix_pct,on_site_seconds,utilisation_pct",
    );
    out.push_str("\r\n");
    let opt = |v: Option<String>| v.unwrap_or_default();
    for group in &report.groups {
        out.push_str(&format!(
            "{},{},{},{},{}",
            report.group_by,
            csv_field(&group.key),
            group.tickets,
            group.covered,
            group.backlog
        ));
        for f in [&group.response, &group.arrival, &group.resolution] {
            out.push_str(&format!(
                ",{},{},{},{},{},{},{}",
                f.decided,
                f.met,
                f.met_late,
                f.breached,
                opt(f.attainment_pct.map(|v| v.to_string())),
                opt(f.median_seconds.map(|v| v.to_string())),
                opt(f.p90_seconds.map(|v| v.to_string())),
            ));
        }
        let age = &group.backlog_age;
        let ftf = &group.first_time_fix;
        out.push_str(&format!(
            ",{},{},{},{},{},{},{},{},{}",
            age.under_1d,
            age.from_1d_to_3d,
            age.from_3d_to_7d,
            age.over_7d,
            ftf.closed,
            ftf.fixed_first_time,
            opt(ftf.rate_pct.map(|v| v.to_string())),
            group.on_site_seconds,
            opt(group.utilisation_pct.map(|v| v.to_string())),
        ));
        out.push_str("\r\n");
    }
    out
}

/// RFC 4180 quoting when needed.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), Some(9));
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("hvac"), "hvac");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
