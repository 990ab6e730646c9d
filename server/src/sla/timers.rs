//! The SLA timer engine: which notices are due, firing them exactly once,
//! escalating.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{
    escalation,
    queue::{DeadlineQueue, TicketKey},
};
use crate::{
    dispatch::DispatchHandles,
    domain::sla::{
        ClockPhase, CompiledCalendar, SlaClock, SlaPolicy, TargetState, compute_clock_paused,
        select_policy,
    },
    store::{
        StoreError,
        sla_timers::{NoticeKey, NoticeKind, SlaNotice, SlaTicketFacts},
    },
};

/// Tickets loaded per query while rebuilding.
const REBUILD_PAGE: u32 = 2000;

/// How far back each rescan looks before the newest version it saw, so a
/// transaction that committed late with an older version is not missed.
const RESCAN_OVERLAP: Duration = Duration::seconds(30);

/// The policies of one tenant with their calendars compiled.
#[derive(Debug, Default)]
struct TenantPolicies {
    policies: Vec<SlaPolicy>,
    calendars: HashMap<Uuid, CompiledCalendar>,
}

/// Engine state: policies, the deadline queue, the notices known to have
/// fired, and where the last rescan stopped. Driven by [`SlaTimers::run_once`]
/// with an explicit `now`, so tests use a fake clock.
#[derive(Debug)]
pub struct SlaTimers {
    dispatch: DispatchHandles,
    policies: HashMap<Uuid, TenantPolicies>,
    policies_version: (i64, Option<DateTime<Utc>>),
    queue: DeadlineQueue,
    fired: HashSet<NoticeKey>,
    watermark: Option<DateTime<Utc>>,
}

/// A notice the clock says is due now.
#[derive(Debug, Clone)]
struct DueNotice {
    key: NoticeKey,
    due_at: DateTime<Utc>,
}

impl SlaTimers {
    /// Builds the engine from the database as of `now`.
    pub async fn load(dispatch: DispatchHandles, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let mut timers = Self {
            dispatch,
            policies: HashMap::new(),
            policies_version: (0, None),
            queue: DeadlineQueue::default(),
            fired: HashSet::new(),
            watermark: None,
        };
        timers.rebuild(now).await?;
        Ok(timers)
    }

    /// Reloads policies, fired notices and every open ticket.
    #[tracing::instrument(skip_all)]
    pub async fn rebuild(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let store = self.dispatch.store.clone();
        // Read first, so a change racing the load is seen by the next rescan.
        self.watermark = store.newest_ticket_version().await?;
        self.policies_version = store.sla_policies_version().await?;
        self.policies.clear();
        for (tenant_id, policy) in store.all_sla_policies().await? {
            let entry = self.policies.entry(tenant_id).or_default();
            if let Ok(calendar) = policy.calendar.compile() {
                entry.calendars.insert(policy.id, calendar);
            }
            entry.policies.push(policy);
        }
        self.fired = store.open_ticket_notice_keys().await?;
        self.queue.clear();
        let mut after = None;
        loop {
            let page = store.sla_open_tickets(after, REBUILD_PAGE).await?;
            after = page.last().map(|f| f.ticket_id);
            for facts in &page {
                self.schedule(facts, now);
            }
            if page.len() < REBUILD_PAGE as usize {
                break;
            }
        }
        tracing::info!(tickets = self.queue.tickets(), "SLA timers rebuilt");
        Ok(())
    }

    /// Tickets with a pending warning or deadline.
    pub fn scheduled_tickets(&self) -> usize {
        self.queue.tickets()
    }

    /// Queue entries held (stale ones included).
    pub fn queue_entries(&self) -> usize {
        self.queue.entries()
    }

    /// The next instant something may fire.
    pub fn next_due(&mut self) -> Option<DateTime<Utc>> {
        self.queue.next_due()
    }

    /// One step: picks up changed policies and tickets, then fires every
    /// notice due at `now`. Returns the notices this call fired.
    #[tracing::instrument(skip_all)]
    pub async fn run_once(&mut self, now: DateTime<Utc>) -> Result<Vec<SlaNotice>, StoreError> {
        let store = self.dispatch.store.clone();
        if store.sla_policies_version().await? != self.policies_version {
            self.rebuild(now).await?;
        } else {
            let since = self
                .watermark
                .map_or(DateTime::<Utc>::UNIX_EPOCH, |w| w - RESCAN_OVERLAP);
            for facts in store.sla_tickets_changed_since(since).await? {
                self.watermark = self.watermark.max(Some(facts.updated_at));
                self.schedule(&facts, now);
            }
        }
        let mut fired = Vec::new();
        for (tenant_id, ticket_id) in self.queue.pop_due(now) {
            // The queue only says "look now": what is due comes from the
            // ticket as the database has it at this moment.
            let Some(facts) = store.sla_ticket_facts(tenant_id, ticket_id).await? else {
                continue;
            };
            if let Some((policy, clock)) = self.clock(&facts, now) {
                for due in due_notices(&facts, &clock, now) {
                    if self.fired.contains(&due.key) {
                        continue;
                    }
                    let notice =
                        escalation::escalate(&self.dispatch, &facts, &policy, &due.key, due.due_at)
                            .await?;
                    self.fired.insert(due.key);
                    fired.extend(notice);
                }
            }
            // Priority may have been raised: schedule from the newest state.
            let facts = store
                .sla_ticket_facts(tenant_id, ticket_id)
                .await?
                .unwrap_or(facts);
            self.schedule(&facts, now);
        }
        Ok(fired)
    }

    fn clock(&self, facts: &SlaTicketFacts, now: DateTime<Utc>) -> Option<(SlaPolicy, SlaClock)> {
        let tenant = self.policies.get(&facts.tenant_id)?;
        let policy = select_policy(
            &tenant.policies,
            facts.priority,
            facts.tier,
            &facts.category,
        )?;
        let calendar = tenant.calendars.get(&policy.id)?;
        let clock = compute_clock_paused(
            calendar,
            policy,
            facts.created_at,
            &facts.history,
            &facts.pauses,
            now,
        );
        Some((policy.clone(), clock))
    }

    /// Queues the instants at which the ticket's running targets cross a
    /// threshold or deadline not yet fired; past ones are due at once.
    fn schedule(&mut self, facts: &SlaTicketFacts, now: DateTime<Utc>) {
        let key: TicketKey = (facts.tenant_id, facts.ticket_id);
        if !facts.is_open() {
            self.queue.schedule(key, []);
            return;
        }
        let Some((_, clock)) = self.clock(facts, now) else {
            self.queue.schedule(key, []);
            return;
        };
        let mut instants = Vec::new();
        for target in clock.targets() {
            // A paused target moves nothing forward; its resume is a ticket
            // change, which reschedules it.
            if target.phase != ClockPhase::Running {
                continue;
            }
            for warning in &target.warnings {
                let notice =
                    notice_key(facts, target.target, NoticeKind::Warning, warning.threshold);
                if !self.fired.contains(&notice) {
                    instants.push(warning.at);
                }
            }
            let breach = notice_key(facts, target.target, NoticeKind::Breach, 100);
            if !self.fired.contains(&breach) {
                instants.push(target.deadline);
            }
        }
        self.queue.schedule(key, instants);
    }
}

fn notice_key(
    facts: &SlaTicketFacts,
    target: crate::domain::sla::SlaTarget,
    kind: NoticeKind,
    threshold: u8,
) -> NoticeKey {
    NoticeKey {
        tenant_id: facts.tenant_id,
        ticket_id: facts.ticket_id,
        target,
        kind,
        threshold,
    }
}

/// The notices the clock says have happened by `now` for targets still
/// unmet and not cancelled: each warning whose share of the budget is used
/// up, and the breach once the deadline passed.
fn due_notices(facts: &SlaTicketFacts, clock: &SlaClock, now: DateTime<Utc>) -> Vec<DueNotice> {
    let mut due = Vec::new();
    for target in clock.targets() {
        if !matches!(target.phase, ClockPhase::Running | ClockPhase::Paused) {
            continue;
        }
        for warning in &target.warnings {
            if warning.at <= now && target.fraction_used * 100.0 >= f64::from(warning.threshold) {
                due.push(DueNotice {
                    key: notice_key(facts, target.target, NoticeKind::Warning, warning.threshold),
                    due_at: warning.at,
                });
            }
        }
        if target.state == TargetState::Breached {
            due.push(DueNotice {
                key: notice_key(facts, target.target, NoticeKind::Breach, 100),
                due_at: target.deadline,
            });
        }
    }
    due
}
