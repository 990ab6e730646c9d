//! Macros at work (issue 21): a macro's actions are trigger-rule actions,
//! run as a one-rule chain (the same `run_chain`, so a preview is a dry run
//! and shows exactly what applying would change), and its reply is a
//! minijinja template over the ticket, its customer and site, and the
//! agent. Applying writes the fields in the agent's name in one ticket
//! write, then the chain's team transfer, notifications and webhooks, the
//! notes, the reply, and a `macro.applied` record; then the tenant's rules
//! see the change like any other update.

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Automation, AutomationError, Trigger, parse_definition};
use crate::{
    device_sync::Draft,
    domain::{
        ValidationErrors,
        automation::{Action, Rule, RuleDefinition, TriggerEvent, run_chain},
        macros::{Macro, MacroBody, MacroInput, MacroReply, MacroSave},
        people::User,
        ticket::{NewComment, Ticket},
    },
    store::{Actor, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum MacroError {
    #[error(transparent)]
    Automation(#[from] AutomationError),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

impl From<StoreError> for MacroError {
    fn from(error: StoreError) -> Self {
        MacroError::Automation(AutomationError::Store(error))
    }
}

/// What applying a macro would do (the preview) or did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MacroOutcome {
    pub macro_id: Uuid,
    pub name: String,
    /// One line per action, as the rules' timeline shows them.
    pub changes: Vec<String>,
    /// The ticket as the macro leaves (or left) it.
    #[schema(value_type = Object)]
    pub ticket: Ticket,
    pub team_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    /// The reply rendered for this ticket.
    pub reply: Option<MacroReply>,
    /// Whether anything was written (false for a preview).
    pub applied: bool,
}

/// Checks a macro's actions against the rule schema and the store's ids,
/// and its reply template, giving what to store.
pub async fn checked(
    automation: &Automation<'_>,
    tenant_id: Uuid,
    input: &MacroInput,
) -> Result<MacroSave, MacroError> {
    input.validate()?;
    let actions = if input.actions.is_empty() {
        Vec::new()
    } else {
        let definition = parse_definition(&json!({
            "events": ["ticket_updated"], "actions": input.actions,
        }))
        .map_err(rename)?;
        automation
            .check_references(tenant_id, &definition)
            .await
            .map_err(|e| match e {
                AutomationError::Store(StoreError::Reference { message, .. }) => {
                    MacroError::Invalid(ValidationErrors::single("actions", message))
                }
                other => MacroError::Automation(other),
            })?;
        definition.actions
    };
    if let Some(reply) = &input.reply {
        check_template(&reply.body)?;
    }
    Ok(MacroSave {
        name: input.name.trim().to_owned(),
        team_id: input.team_id,
        body: MacroBody {
            actions,
            reply: input.reply.clone(),
        },
    })
}

/// The rule schema's field names, as the macro's own.
fn rename(errors: ValidationErrors) -> ValidationErrors {
    let mut out = ValidationErrors::new();
    for error in errors.0 {
        let field = error
            .field
            .replacen("definition/actions", "actions", 1)
            .replacen("definition.actions", "actions", 1);
        out.add(field, error.message);
    }
    out
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

fn sample() -> Value {
    json!({
        "ticket": {"number": "TR-000001", "title": "Boiler", "priority": "P2", "status": "new",
                   "category": "hvac", "description": ""},
        "customer": {"name": "Customer", "contact_person": "Erika", "tier": "gold"},
        "site": {"name": "Depot", "address": "Street 1"},
        "agent": {"name": "Ana"},
    })
}

/// A reply template must parse and use only the known placeholders.
pub fn check_template(source: &str) -> Result<(), ValidationErrors> {
    environment()
        .render_str(source, sample())
        .map(drop)
        .map_err(|e| ValidationErrors::single("reply.body", e.to_string()))
}

impl Automation<'_> {
    /// The reply's placeholders for `ticket` and `agent`.
    async fn reply_context(&self, ticket: &Ticket, agent: &User) -> Result<Value, StoreError> {
        let site = self
            .store
            .get_site(ticket.tenant_id, ticket.site_id)
            .await?;
        let customer = match self
            .store
            .get_customer(ticket.tenant_id, site.customer_id)
            .await
        {
            Ok(c) => Some(c),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(json!({
            "ticket": {"number": ticket.number, "title": ticket.title, "priority": ticket.priority.as_str(),
                       "status": ticket.status.as_str(), "category": ticket.category,
                       "description": ticket.description},
            "customer": {
                "name": customer.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
                "contact_person": customer.as_ref().and_then(|c| c.contact_person.clone()).unwrap_or_default(),
                "tier": customer.as_ref().map(|c| c.tier.as_str()).unwrap_or_default(),
            },
            "site": {"name": site.name, "address": site.address},
            "agent": {"name": agent.name},
        }))
    }

    async fn render_reply(
        &self,
        m: &Macro,
        ticket: &Ticket,
        agent: &User,
    ) -> Result<Option<MacroReply>, MacroError> {
        let Some(reply) = &m.reply else {
            return Ok(None);
        };
        let context = self.reply_context(ticket, agent).await?;
        let body = environment()
            .render_str(&reply.body, context)
            .map_err(|e| ValidationErrors::single("reply.body", e.to_string()))?;
        Ok(Some(MacroReply {
            body,
            visibility: reply.visibility,
        }))
    }

    fn as_rule(m: &Macro, agent: &User) -> Rule {
        Rule {
            id: m.id,
            name: m.name.clone(),
            position: 0,
            active: true,
            definition: RuleDefinition {
                events: vec![TriggerEvent::TicketUpdated],
                conditions: None,
                actions: m.actions.clone(),
                stop: true,
                timer: None,
            },
            updated_by: agent.id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }

    /// What applying `m` to `ticket` would do. Writes nothing.
    pub async fn preview_macro(
        &self,
        m: &Macro,
        ticket: &Ticket,
        agent: &User,
    ) -> Result<MacroOutcome, MacroError> {
        let run = if m.actions.is_empty() {
            None
        } else {
            let rule = Self::as_rule(m, agent);
            let trigger = Trigger {
                events: vec![TriggerEvent::TicketUpdated],
                comment: None,
            };
            Some(self.dry_run_with(&[rule], ticket, &trigger).await?)
        };
        let facts = self.facts(ticket, None).await?;
        let reply = self.render_reply(m, ticket, agent).await?;
        Ok(match run {
            Some(run) => MacroOutcome {
                macro_id: m.id,
                name: m.name.clone(),
                changes: run.firings.into_iter().flat_map(|f| f.changes).collect(),
                ticket: run.ticket,
                team_id: run.team_id,
                owner_id: run.owner_id,
                reply,
                applied: false,
            },
            None => MacroOutcome {
                macro_id: m.id,
                name: m.name.clone(),
                changes: Vec::new(),
                ticket: ticket.clone(),
                team_id: facts.team_id,
                owner_id: facts.owner_id,
                reply,
                applied: false,
            },
        })
    }

    /// Applies `m` to `before` as `agent`; a ticket changed since it was
    /// read is a conflict (nothing written).
    pub async fn apply_macro(
        &self,
        m: &Macro,
        before: &Ticket,
        agent: &User,
    ) -> Result<MacroOutcome, MacroError> {
        let actor = Actor {
            tenant_id: before.tenant_id,
            user_id: Some(agent.id),
        };
        // The reply renders before anything is written: a template that
        // fails leaves the ticket as it was.
        let reply = self.render_reply(m, before, agent).await?;
        let rule = Self::as_rule(m, agent);
        let facts = self.facts(before, None).await?;
        let start = facts.clone();
        let chain = run_chain(
            std::slice::from_ref(&rule),
            &[TriggerEvent::TicketUpdated],
            facts,
        );
        let mut after = before.clone();
        after.priority = chain.facts.ticket.priority;
        after.tags = chain.facts.ticket.tags.clone();
        after.custom_fields = chain.facts.ticket.custom_fields.clone();
        let updated = if after == *before {
            before.clone()
        } else {
            let mut draft = Draft::load(self.store, before).await?;
            if after.custom_fields != before.custom_fields {
                draft.set_custom_fields(&after.custom_fields)?;
            }
            let updated = self
                .store
                .update_ticket(actor, before, &after, draft.change().as_ref())
                .await?;
            self.assignments.after_change(before, &updated).await?;
            updated
        };
        let mut effects = self.effects(&start, &chain, &updated).await?;
        // People read team names, not ids (as the rules' record has them).
        let changes: Vec<String> = effects
            .firings
            .iter()
            .flat_map(|f| f.changes.iter().cloned())
            .collect();
        // The macro's own record replaces the rules' `rule.fired`.
        effects.firings.clear();
        if let Some(team) = &mut effects.team {
            team.reason = format!("macro \"{}\"", m.name);
        }
        self.store
            .record_chain(before.tenant_id, &updated, &effects)
            .await?;
        self.add_notes(std::slice::from_ref(&rule), &chain, &updated)
            .await?;
        for action in chain.firings.iter().flat_map(|f| &f.actions) {
            if let Action::RequestApproval { policy_id, reason } = action {
                self.rule_requests_approval(&updated, *policy_id, reason)
                    .await?;
            }
        }
        if let Some(reply) = &reply {
            let comment = NewComment {
                body: reply.body.clone(),
                visibility: reply.visibility,
            };
            self.store.add_comment(actor, updated.id, &comment).await?;
        }
        self.store
            .record_macro_applied(
                actor,
                updated.id,
                &json!({"macro_id": m.id, "name": m.name, "changes": changes,
                        "reply": reply.as_ref().map(|r| r.visibility.as_str()),
                        "at": Utc::now()}),
            )
            .await?;
        // The tenant's rules see the change like any other update.
        let ticket = if updated != *before {
            self.run(updated.clone(), &Trigger::updated(before, &updated))
                .await
                .unwrap_or(updated)
        } else {
            updated
        };
        let team = self.store.ticket_team(ticket.tenant_id, ticket.id).await?;
        Ok(MacroOutcome {
            macro_id: m.id,
            name: m.name.clone(),
            changes,
            team_id: team.as_ref().map(|t| t.team_id),
            owner_id: team.and_then(|t| t.owner_id),
            ticket,
            reply,
            applied: true,
        })
    }
}
