//! Trigger rules at work: a rule definition checked on save (the published
//! JSON Schema, then the rules the schema cannot state, then the ids it
//! names), the facts of a ticket loaded for conditions, a write's chain run
//! (`domain::automation::run_chain`) and its effects applied — the ticket's
//! fields in one ticket write (the office's own path, so the phone and the
//! dispatch index follow), then the firings with their team transfer,
//! notifications, pushes and webhooks in one transaction, then the notes.
//! A dry run stops after the chain.

pub mod approvals;
pub mod cache;
mod config;
pub mod macros;
pub mod timed;
pub mod watch;

use std::{collections::BTreeSet, sync::OnceLock};

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    device_sync::{ATTEMPTS, Draft},
    dispatch::assignment::AssignmentFlow,
    domain::{
        ValidationErrors,
        automation::{
            Action, Chain, CommentFacts, Facts, Firing, OwnerChoice, Rule, RuleDefinition,
            TeamChange, TriggerEvent, check_definition, render, run_chain, team_line,
        },
        people::Role,
        ticket::{NewComment, Ticket, Visibility},
    },
    store::{
        Actor, Store, StoreError,
        automation::{ChainEffects, ChainWrite, FiringEntry, NewNotification, TimedClaim},
    },
};

pub use config::AutomationConfig;

/// The published schema of a rule's `definition`.
pub const RULE_SCHEMA: &str = include_str!("rule.schema.json");

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(RULE_SCHEMA).unwrap_or(Value::Null))
}

fn validator() -> Option<&'static jsonschema::Validator> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(schema()).ok())
        .as_ref()
}

/// The schema as a JSON value (for `GET /v1/rules/schema`).
pub fn rule_schema() -> &'static Value {
    schema()
}

/// A definition as saved: valid against the schema, parsed, and sound.
pub fn parse_definition(definition: &Value) -> Result<RuleDefinition, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    match validator() {
        Some(validator) => {
            for error in validator.iter_errors(definition) {
                errors.add(
                    format!("definition{}", error.instance_path),
                    error.to_string(),
                );
            }
        }
        None => errors.add("definition", "the rule schema is unusable"),
    }
    errors.into_result()?;
    let parsed: RuleDefinition = serde_json::from_value(definition.clone())
        .map_err(|e| ValidationErrors::single("definition", e.to_string()))?;
    let mut errors = ValidationErrors::new();
    check_definition(&mut errors, &parsed);
    errors.into_result()?;
    Ok(parsed)
}

/// What a write stands for, for the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub events: Vec<TriggerEvent>,
    pub comment: Option<CommentFacts>,
}

impl Trigger {
    pub fn created() -> Self {
        Self {
            events: vec![TriggerEvent::TicketCreated],
            comment: None,
        }
    }

    pub fn updated(before: &Ticket, after: &Ticket) -> Self {
        Self {
            events: crate::domain::automation::events_of_update(before.status != after.status),
            comment: None,
        }
    }

    /// An event of its own (an SLA notice).
    pub fn event(event: TriggerEvent) -> Self {
        Self {
            events: vec![event],
            comment: None,
        }
    }

    /// A technician's phone sync changed the ticket's work record or status.
    pub fn field_synced(before: &Ticket, after: &Ticket) -> Self {
        let mut events = vec![TriggerEvent::FieldWorkSynced];
        if before.status != after.status {
            events.push(TriggerEvent::StatusChanged);
        }
        Self {
            events,
            comment: None,
        }
    }

    pub fn comment(body: &str, visibility: Visibility) -> Self {
        Self {
            events: vec![TriggerEvent::CommentAdded],
            comment: Some(CommentFacts {
                body: body.to_owned(),
                visibility: visibility.as_str().to_owned(),
            }),
        }
    }
}

/// A dry run's answer: which rules would fire and what they would change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DryRun {
    pub firings: Vec<Firing>,
    pub passes: u32,
    /// The chain would be cut at its bound.
    pub cut: bool,
    /// The ticket's fields as the rules would leave them.
    #[schema(value_type = Object)]
    pub ticket: Ticket,
    pub team_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ticket kept changing while its rules ran")]
    Busy,
    #[error("dispatch: {0}")]
    Dispatch(String),
}

/// The rules of a tenant over narrow handles.
#[derive(Debug, Clone, Copy)]
pub struct Automation<'a> {
    pub store: &'a dyn Store,
    pub assignments: AssignmentFlow<'a>,
    /// This replica's parsed rules per tenant.
    pub rules: &'a cache::RulesCache,
}

impl Automation<'_> {
    /// Checks the ids a definition names: teams, owners in them, users.
    pub async fn check_references(
        &self,
        tenant_id: Uuid,
        definition: &RuleDefinition,
    ) -> Result<(), AutomationError> {
        let mut errors = ValidationErrors::new();
        for (i, action) in definition.actions.iter().enumerate() {
            let at = format!("definition.actions[{i}]");
            match action {
                Action::SetTeam { team_id, owner_id } => {
                    match self.store.get_team(tenant_id, *team_id).await {
                        Ok(team) => {
                            if owner_id.is_some_and(|o| !team.members.contains(&o)) {
                                errors.add(format!("{at}.owner_id"), "is not a member of the team");
                            }
                        }
                        Err(StoreError::NotFound(_)) => {
                            errors.add(format!("{at}.team_id"), "no such team")
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Action::Notify {
                    user_ids, team_ids, ..
                } => {
                    for (j, user_id) in user_ids.iter().enumerate() {
                        match self.store.get_user(tenant_id, *user_id).await {
                            Ok(_) => {}
                            Err(StoreError::NotFound(_)) => {
                                errors.add(format!("{at}.user_ids[{j}]"), "no such user")
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    for (j, team_id) in team_ids.iter().enumerate() {
                        match self.store.get_team(tenant_id, *team_id).await {
                            Ok(_) => {}
                            Err(StoreError::NotFound(_)) => {
                                errors.add(format!("{at}.team_ids[{j}]"), "no such team")
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Action::RequestApproval {
                    policy_id: Some(policy_id),
                    ..
                } => match self.store.get_approval_policy(tenant_id, *policy_id).await {
                    Ok(_) => {}
                    Err(StoreError::NotFound(_)) => {
                        errors.add(format!("{at}.policy_id"), "no such approval policy")
                    }
                    Err(e) => return Err(e.into()),
                },
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Reference {
                field: "definition",
                message: errors.to_string(),
            }
            .into())
        }
    }

    /// What the conditions may look at for `ticket`.
    pub async fn facts(
        &self,
        ticket: &Ticket,
        comment: Option<CommentFacts>,
    ) -> Result<Facts, StoreError> {
        let tenant_id = ticket.tenant_id;
        let site = self.store.get_site(tenant_id, ticket.site_id).await?;
        let customer = match self.store.get_customer(tenant_id, site.customer_id).await {
            Ok(customer) => Some(customer),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let team = self.store.ticket_team(tenant_id, ticket.id).await?;
        Ok(Facts {
            ticket: ticket.clone(),
            customer_id: customer.as_ref().map(|c| c.id),
            customer_tier: customer.map(|c| c.tier),
            channel: self.store.ticket_channel(tenant_id, ticket.id).await?,
            team_id: team.as_ref().map(|t| t.team_id),
            owner_id: team.and_then(|t| t.owner_id),
            comment,
        })
    }

    /// Which rules would fire on `ticket` for `trigger`, and what they
    /// would change. Writes nothing.
    pub async fn dry_run(
        &self,
        ticket: &Ticket,
        trigger: &Trigger,
    ) -> Result<DryRun, AutomationError> {
        let rules = self.rules.rules(self.store, ticket.tenant_id).await?;
        self.dry_run_with(&rules, ticket, trigger).await
    }

    /// A dry run of `rules` (e.g. one unsaved draft) instead of the saved ones.
    pub async fn dry_run_with(
        &self,
        rules: &[Rule],
        ticket: &Ticket,
        trigger: &Trigger,
    ) -> Result<DryRun, AutomationError> {
        let facts = self.facts(ticket, trigger.comment.clone()).await?;
        let mut chain = run_chain(rules, &trigger.events, facts);
        self.name_teams(ticket.tenant_id, &mut chain.firings)
            .await?;
        Ok(DryRun {
            firings: chain.firings,
            passes: chain.passes,
            cut: chain.cut,
            ticket: chain.facts.ticket,
            team_id: chain.facts.team_id,
            owner_id: chain.facts.owner_id,
        })
    }

    /// Runs the tenant's rules on a committed write and applies what fired.
    /// Answers the ticket as the rules left it.
    #[tracing::instrument(skip_all, fields(ticket = %ticket.id))]
    pub async fn run(&self, ticket: Ticket, trigger: &Trigger) -> Result<Ticket, AutomationError> {
        let rules = self.rules.rules(self.store, ticket.tenant_id).await?;
        self.run_rules(&rules, ticket, trigger).await
    }

    /// Runs `rules` (the tenant's, or a subset such as one time-based rule
    /// with the event rules after it) on a committed write.
    pub async fn run_rules(
        &self,
        rules: &[Rule],
        ticket: Ticket,
        trigger: &Trigger,
    ) -> Result<Ticket, AutomationError> {
        let fallback = ticket.clone();
        Ok(self
            .run_claimed(rules, ticket, trigger, None)
            .await?
            .unwrap_or(fallback))
    }

    /// [`Automation::run_rules`], the whole chain written in one
    /// transaction with `claim` (a time-based firing) when given. `None`:
    /// that firing was not made now (made already, or its rule no longer
    /// holds) and nothing was written.
    pub async fn run_claimed(
        &self,
        rules: &[Rule],
        ticket: Ticket,
        trigger: &Trigger,
        claim: Option<TimedClaim>,
    ) -> Result<Option<Ticket>, AutomationError> {
        let tenant_id = ticket.tenant_id;
        if !rules.iter().any(|r| r.active) {
            return Ok(Some(ticket));
        }
        let mut before = ticket;
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                before = self.store.get_ticket(tenant_id, before.id).await?;
            }
            let facts = self.facts(&before, trigger.comment.clone()).await?;
            let start = facts.clone();
            let chain = run_chain(rules, &trigger.events, facts);
            if chain.firings.is_empty() {
                // A time-based rule that no longer holds has not fired.
                return Ok(claim.is_none().then_some(before));
            }
            let mut after = before.clone();
            after.priority = chain.facts.ticket.priority;
            after.tags = chain.facts.ticket.tags.clone();
            after.custom_fields = chain.facts.ticket.custom_fields.clone();
            let document = if after.custom_fields != before.custom_fields {
                let mut draft = Draft::load(self.store, &before).await?;
                draft.set_custom_fields(&after.custom_fields)?;
                draft.change()
            } else {
                None
            };
            let effects = self.effects(&start, &chain, &after).await?;
            let notes = Self::notes(rules, &chain, &after);
            let write = ChainWrite {
                before: &before,
                after: (after != before).then_some((&after, document.as_ref())),
                effects: &effects,
                notes: &notes,
                claim,
            };
            let updated = match self.store.write_chain(write).await {
                Ok(Some(updated)) => updated,
                Ok(None) => return Ok(None),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if updated != before {
                self.assignments.after_change(&before, &updated).await?;
            }
            metrics::counter!("truckroll_rule_firings_total").increment(chain.firings.len() as u64);
            let mut updated = updated;
            for firing in &chain.firings {
                for action in &firing.actions {
                    match action {
                        Action::RequestApproval { policy_id, reason } => {
                            self.rule_requests_approval(&updated, *policy_id, reason)
                                .await?;
                        }
                        Action::AutoDispatch => {
                            updated = self.auto_dispatch(updated, &firing.rule_name).await?;
                        }
                        _ => {}
                    }
                }
            }
            return Ok(Some(updated));
        }
        Err(AutomationError::Busy)
    }

    /// The chain's internal notes, each in the name of the user who last
    /// saved its rule.
    fn notes(rules: &[Rule], chain: &Chain, ticket: &Ticket) -> Vec<(Uuid, NewComment)> {
        let facts = Facts {
            ticket: ticket.clone(),
            ..chain.facts.clone()
        };
        let mut notes = Vec::new();
        for firing in &chain.firings {
            let Some(rule) = rules.iter().find(|r| r.id == firing.rule_id) else {
                continue;
            };
            for action in &firing.actions {
                if let Action::AddNote { body } = action {
                    notes.push((
                        rule.updated_by,
                        NewComment {
                            body: render(body, &facts),
                            visibility: Visibility::Internal,
                        },
                    ));
                }
            }
        }
        notes
    }

    /// A rule's `auto_dispatch`: the nearest qualified technician available
    /// now (the ranking `/candidates` and "assign best" use), through the
    /// one assignment flow; a candidate who filled up meanwhile is skipped.
    /// Who and why (or why nobody) goes into the timeline.
    async fn auto_dispatch(
        &self,
        ticket: Ticket,
        rule_name: &str,
    ) -> Result<Ticket, AutomationError> {
        const CANDIDATES: usize = 5;
        let tenant_id = ticket.tenant_id;
        let record = |summary: String, detail: serde_json::Value| {
            let mut outcome = json!({"rule_name": rule_name, "summary": summary});
            if let (Some(out), Some(more)) = (outcome.as_object_mut(), detail.as_object()) {
                out.extend(more.clone());
            }
            outcome
        };
        if ticket.assignee_id.is_some() || ticket.status != truckroll_sync::Status::New {
            let outcome = record(
                "nothing to do: the ticket has a technician".into(),
                json!({}),
            );
            self.store
                .record_auto_dispatch(tenant_id, ticket.id, &outcome)
                .await?;
            return Ok(ticket);
        }
        let site = self.store.get_site(tenant_id, ticket.site_id).await?;
        let territory = match site.territory_id {
            Some(id) => self.store.territory_boundary(tenant_id, id).await?,
            None => None,
        };
        let now = chrono::Utc::now();
        let away = crate::dispatch::calendar::Away::at(self.store, tenant_id, now).await?;
        let ranked = crate::dispatch::parts::ranked(
            self.assignments.dispatch,
            self.store,
            &ticket,
            site.location,
            territory.as_deref(),
            CANDIDATES + away.extra(),
            now,
        )
        .await
        .map_err(|e| match e {
            crate::dispatch::parts::PartsRankError::Store(store) => AutomationError::Store(store),
            other => AutomationError::Dispatch(other.to_string()),
        })?;
        let system = Actor {
            tenant_id,
            user_id: None,
        };
        let mut skipped = Vec::new();
        for candidate in away.keep(ranked, CANDIDATES) {
            match self
                .assignments
                .assign(system, &ticket, candidate.technician_id)
                .await
            {
                Ok(assigned) => {
                    let name = match self
                        .store
                        .get_technician(tenant_id, candidate.technician_id)
                        .await
                    {
                        Ok(technician) => technician.name,
                        Err(StoreError::NotFound(_)) => candidate.technician_id.to_string(),
                        Err(e) => return Err(e.into()),
                    };
                    let reasons = &candidate.reasons;
                    let summary = format!(
                        "assigned to {name} (rank {}: {:.1} km, {:.0} min travel, {}/{} open jobs)",
                        candidate.rank,
                        reasons.distance_m / 1000.0,
                        reasons.travel_minutes,
                        reasons.open_jobs,
                        reasons.capacity,
                    );
                    let outcome = record(
                        summary,
                        json!({"technician_id": candidate.technician_id, "technician_name": name,
                               "rank": candidate.rank, "score": candidate.score, "reasons": candidate.reasons,
                               "skipped": skipped}),
                    );
                    self.store
                        .record_auto_dispatch(tenant_id, ticket.id, &outcome)
                        .await?;
                    return Ok(assigned);
                }
                Err(crate::dispatch::assignment::AssignError::Store(StoreError::Conflict(
                    reason,
                )))
                | Err(crate::dispatch::assignment::AssignError::Transition(reason)) => {
                    skipped
                        .push(json!({"technician_id": candidate.technician_id, "reason": reason}));
                }
                Err(crate::dispatch::assignment::AssignError::MissingSkills(missing)) => {
                    skipped
                        .push(json!({"technician_id": candidate.technician_id, "reason": missing}));
                }
                Err(crate::dispatch::assignment::AssignError::UnknownTechnician) => {}
                Err(crate::dispatch::assignment::AssignError::Store(e)) => return Err(e.into()),
            }
        }
        let outcome = record(
            "no qualified technician is available now; the ticket waits for a dispatcher".into(),
            json!({"skipped": skipped}),
        );
        self.store
            .record_auto_dispatch(tenant_id, ticket.id, &outcome)
            .await?;
        Ok(ticket)
    }

    /// Names a `set_team` action's team in the change lines (people read
    /// names, not ids), in the record and the dry run alike.
    async fn name_teams(&self, tenant_id: Uuid, firings: &mut [Firing]) -> Result<(), StoreError> {
        for firing in firings {
            for action in &firing.actions {
                if let Action::SetTeam { team_id, .. } = action {
                    let line = team_line(*team_id);
                    if !firing.changes.contains(&line) {
                        continue;
                    }
                    let name = match self.store.get_team(tenant_id, *team_id).await {
                        Ok(team) => team.name,
                        Err(StoreError::NotFound(_)) => continue,
                        Err(e) => return Err(e),
                    };
                    for change in firing.changes.iter_mut().filter(|c| **c == line) {
                        *change = format!("team → {name}");
                    }
                }
            }
        }
        Ok(())
    }

    async fn effects(
        &self,
        start: &Facts,
        chain: &Chain,
        ticket: &Ticket,
    ) -> Result<ChainEffects, StoreError> {
        let mut facts = chain.facts.clone();
        facts.ticket = ticket.clone();
        let mut effects = ChainEffects::default();
        let last = chain.firings.len().saturating_sub(1);
        let mut named = chain.firings.clone();
        self.name_teams(ticket.tenant_id, &mut named).await?;
        for (i, (firing, changes)) in chain
            .firings
            .iter()
            .zip(named.into_iter().map(|f| f.changes))
            .enumerate()
        {
            effects.firings.push(FiringEntry {
                rule_id: firing.rule_id,
                rule_name: firing.rule_name.clone(),
                event: firing.event.as_str().to_owned(),
                pass: firing.pass,
                changes,
                cut: chain.cut && i == last,
            });
            for action in &firing.actions {
                match action {
                    Action::SetTeam { owner_id, .. } => {
                        effects.team = Some(TeamChange {
                            team_id: facts.team_id,
                            owner: owner_id.map_or(OwnerChoice::TeamDefault, OwnerChoice::Member),
                            reason: format!("rule \"{}\"", firing.rule_name),
                        });
                    }
                    Action::Notify {
                        user_ids,
                        team_ids,
                        roles,
                        title,
                        body,
                        email,
                    } => {
                        let title = render(title, &facts);
                        let body = render(body, &facts);
                        for user_id in self.recipients(ticket, user_ids, team_ids, roles).await? {
                            effects.notifications.push(NewNotification {
                                user_id,
                                title: title.clone(),
                                body: body.clone(),
                                email: *email,
                            });
                        }
                    }
                    Action::Escalate { roles } => {
                        let roles = if roles.is_empty() {
                            vec![Role::Manager]
                        } else {
                            roles.clone()
                        };
                        let title = format!(
                            "Escalated: {} {} is now {}",
                            ticket.number,
                            ticket.title,
                            ticket.priority.as_str()
                        );
                        let body = format!("rule \"{}\"", firing.rule_name);
                        for user_id in self.recipients(ticket, &[], &[], &roles).await? {
                            effects.notifications.push(NewNotification {
                                user_id,
                                title: title.clone(),
                                body: body.clone(),
                                email: false,
                            });
                        }
                    }
                    Action::Webhook { label } => effects.webhooks.push(json!({
                        "rule_id": firing.rule_id, "rule_name": firing.rule_name, "label": label,
                        "event": firing.event, "ticket": ticket,
                        "team_id": facts.team_id, "owner_id": facts.owner_id,
                    })),
                    _ => {}
                }
            }
        }
        // A team set back to where it was is no transfer.
        if start.team_id == facts.team_id && start.owner_id == facts.owner_id {
            effects.team = None;
        }
        Ok(effects)
    }

    /// The users a notify action names who may see the ticket: staff see
    /// every ticket, a technician only those assigned to them.
    async fn recipients(
        &self,
        ticket: &Ticket,
        user_ids: &[Uuid],
        team_ids: &[Uuid],
        roles: &[Role],
    ) -> Result<BTreeSet<Uuid>, StoreError> {
        let tenant_id = ticket.tenant_id;
        let mut named: BTreeSet<Uuid> = user_ids.iter().copied().collect();
        for team_id in team_ids {
            match self.store.get_team(tenant_id, *team_id).await {
                Ok(team) => named.extend(team.members),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !roles.is_empty() {
            named.extend(
                self.store
                    .users_with_roles(tenant_id, roles)
                    .await?
                    .into_iter()
                    .map(|u| u.id),
            );
        }
        let mut out = BTreeSet::new();
        for user_id in named {
            let user = match self.store.get_user(tenant_id, user_id).await {
                Ok(user) => user,
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if !user.active {
                continue;
            }
            let sees = match user.role {
                Role::Technician => {
                    let own = self.store.technician_for_user(tenant_id, user.id).await?;
                    own.is_some_and(|t| ticket.assignee_id == Some(t.id))
                }
                _ => true,
            };
            if sees {
                out.insert(user.id);
            }
        }
        Ok(out)
    }

    /// Internal notes, written in the name of the user who last saved the
    /// rule (the macros' path; a rule chain writes them in its transaction).
    async fn add_notes(
        &self,
        rules: &[Rule],
        chain: &Chain,
        ticket: &Ticket,
    ) -> Result<(), StoreError> {
        for (author, note) in Self::notes(rules, chain, ticket) {
            let author = Actor {
                tenant_id: ticket.tenant_id,
                user_id: Some(author),
            };
            self.store.add_comment(author, ticket.id, &note).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_schema_compiles_and_checks_shapes() {
        assert!(validator().is_some(), "schema compiles");
        let ok = json!({"events": ["ticket_created"],
            "conditions": {"all": [{"field": "priority", "op": "eq", "value": "P1"},
                                   {"any": [{"field": "customer.tier", "op": "in", "value": ["gold"]}]}]},
            "actions": [{"type": "set_priority", "priority": "P2"}, {"type": "webhook"}], "stop": true});
        let parsed = parse_definition(&ok).expect("valid");
        assert!(parsed.stop);
        let bad = json!({"events": ["ticket_exploded"], "actions": [{"type": "set_priority", "priority": "P9"}]});
        let errors = parse_definition(&bad).expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert!(
            fields.contains(&"definition/events/0")
                || fields.iter().any(|f| f.starts_with("definition/events")),
            "{fields:?}"
        );
        assert!(
            fields.iter().any(|f| f.starts_with("definition/actions")),
            "{fields:?}"
        );
        let unknown = json!({"events": ["ticket_created"], "conditions": {"field": "colour", "op": "eq", "value": 1},
                             "actions": [{"type": "add_tags", "tags": ["x"]}]});
        assert!(parse_definition(&unknown).is_err());
    }
}
