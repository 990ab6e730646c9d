//! Macros (issue 21): a named bundle of trigger-rule actions and a reply
//! template with ticket and customer placeholders, shared with a team or
//! kept personal, applied to a ticket in one step (or previewed).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ValidationErrors, automation::Action, ticket::Visibility, validation::check_text};

/// The reply a macro writes on the ticket (a comment in the applier's name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroReply {
    /// A minijinja template: `{{ ticket.number }}`, `{{ ticket.title }}`,
    /// `{{ ticket.priority }}`, `{{ ticket.status }}`, `{{ ticket.category }}`,
    /// `{{ customer.name }}`, `{{ customer.contact_person }}`,
    /// `{{ customer.tier }}`, `{{ site.name }}`, `{{ site.address }}`,
    /// `{{ agent.name }}`.
    pub body: String,
    pub visibility: Visibility,
}

/// What a macro does, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacroBody {
    pub actions: Vec<Action>,
    #[serde(default)]
    pub reply: Option<MacroReply>,
}

/// A stored macro: shared with a team (`team_id`) or personal (`owner_id`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Macro {
    pub id: Uuid,
    pub name: String,
    pub team_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    /// Trigger-rule actions (`GET /v1/rules/schema`, `$defs.action`).
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Action>,
    pub reply: Option<MacroReply>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A macro as it is saved (create and replace). Without `team_id` it is
/// the saver's own.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroInput {
    pub name: String,
    #[serde(default)]
    pub team_id: Option<Uuid>,
    /// Trigger-rule actions, checked against the rule schema.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Value>,
    #[serde(default)]
    pub reply: Option<MacroReply>,
}

/// A checked macro, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroSave {
    pub name: String,
    pub team_id: Option<Uuid>,
    pub body: MacroBody,
}

impl MacroInput {
    /// What the schema does not check: the name, the reply's length, and
    /// that the macro does something.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 120);
        if let Some(reply) = &self.reply {
            check_text(&mut errors, "reply.body", &reply.body, 10_000);
        }
        if self.actions.is_empty() && self.reply.is_none() {
            errors.add("actions", "a macro needs actions or a reply");
        }
        if self.actions.len() > 20 {
            errors.add("actions", "must list at most 20 actions");
        }
        errors.into_result()
    }
}

impl Macro {
    /// Whether the user (with the teams they are a member of) may see and
    /// apply it: their own, or one of their teams' (admins: every team's).
    pub fn usable_by(&self, user_id: Uuid, admin: bool, teams: &[Uuid]) -> bool {
        match (self.owner_id, self.team_id) {
            (Some(owner), _) => owner == user_id,
            (None, Some(team)) => admin || teams.contains(&team),
            (None, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn personal_macros_are_their_owners_and_team_macros_their_members() {
        let (me, other, team) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut m = Macro {
            id: Uuid::nil(),
            name: "m".into(),
            team_id: None,
            owner_id: Some(me),
            actions: vec![],
            reply: None,
            created_by: me,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert!(m.usable_by(me, false, &[]));
        assert!(!m.usable_by(other, true, &[team]));
        m.owner_id = None;
        m.team_id = Some(team);
        assert!(m.usable_by(other, false, &[team]));
        assert!(m.usable_by(other, true, &[]));
        assert!(!m.usable_by(me, false, &[]));
        let empty: MacroInput = serde_json::from_value(json!({"name": " "})).expect("shape");
        let errors = empty.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "actions"]);
    }
}
