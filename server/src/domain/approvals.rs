//! Approvals (issue 21): a tenant's approval policies — a condition in the
//! trigger rules' language, optional job-value thresholds (the priced job
//! of `parts::value`), the approvers (users or roles) and whether a
//! pending request pauses the SLA clock — and the approval requests on
//! tickets, with their decision.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ValidationErrors,
    automation::{Condition, FIELDS, Facts, Op},
    people::Role,
    validation::check_text,
};

/// Who may decide a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Approvers {
    #[serde(default)]
    pub user_ids: Vec<Uuid>,
    #[serde(default)]
    pub roles: Vec<Role>,
}

impl Approvers {
    /// Whether the user with `user_id` and `role` is one of them.
    pub fn includes(&self, user_id: Uuid, role: Role) -> bool {
        role != Role::Technician && (self.user_ids.contains(&user_id) || self.roles.contains(&role))
    }
}

/// What a policy says besides its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// A trigger-rule condition over the ticket (absent: any ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Condition>,
    /// Applies only when the priced job's parts cost more than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts_cents_over: Option<i64>,
    /// Applies only when the priced job (parts and labour) costs more than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cents_over: Option<i64>,
    pub approvers: Approvers,
    /// A pending request stops the ticket's SLA clocks.
    #[serde(default)]
    pub pause_sla: bool,
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApprovalPolicy {
    pub id: Uuid,
    pub name: String,
    pub active: bool,
    #[serde(flatten)]
    pub body: PolicyBody,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A policy as it is saved (create and replace).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicyInput {
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Condition>,
    #[serde(default)]
    pub parts_cents_over: Option<i64>,
    #[serde(default)]
    pub total_cents_over: Option<i64>,
    pub approvers: Approvers,
    #[serde(default)]
    pub pause_sla: bool,
}

fn yes() -> bool {
    true
}

/// Checks a condition's field names and value shapes, as rules are checked.
pub fn check_condition(errors: &mut ValidationErrors, field: &str, condition: &Condition) {
    for test in condition.tests() {
        let known = FIELDS.contains(&test.field.as_str())
            || test
                .field
                .strip_prefix("custom.")
                .is_some_and(|k| !k.is_empty());
        if !known {
            errors.add(
                field,
                format!(
                    "unknown field `{}`; expected custom.<key> or one of: {}",
                    test.field,
                    FIELDS.join(", ")
                ),
            );
        }
        if matches!(test.op, Op::In | Op::NotIn) && !test.value.is_array() {
            errors.add(
                field,
                format!("`{}` with in/not_in needs a list value", test.field),
            );
        }
    }
}

impl ApprovalPolicyInput {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 80);
        if let Some(conditions) = &self.conditions {
            check_condition(&mut errors, "conditions", conditions);
        }
        for (field, value) in [
            ("parts_cents_over", self.parts_cents_over),
            ("total_cents_over", self.total_cents_over),
        ] {
            if value.is_some_and(|v| v < 0) {
                errors.add(field, "must not be negative");
            }
        }
        let a = &self.approvers;
        if a.user_ids.is_empty() && a.roles.is_empty() {
            errors.add("approvers", "must name users or roles");
        }
        if a.roles.contains(&Role::Technician) {
            errors.add("approvers.roles", "technicians do not approve");
        }
        if a.user_ids.iter().collect::<HashSet<_>>().len() != a.user_ids.len() {
            errors.add("approvers.user_ids", "lists a user twice");
        }
        if a.user_ids.len() > 100 {
            errors.add("approvers.user_ids", "must list at most 100 users");
        }
        errors.into_result()
    }

    pub fn body(&self) -> PolicyBody {
        PolicyBody {
            conditions: self.conditions.clone(),
            parts_cents_over: self.parts_cents_over,
            total_cents_over: self.total_cents_over,
            approvers: self.approvers.clone(),
            pause_sla: self.pause_sla,
        }
    }
}

/// The priced job a policy compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobCost {
    pub parts_cents: i64,
    pub total_cents: i64,
}

impl PolicyBody {
    /// Whether the policy applies to a ticket with these facts and cost.
    pub fn applies(&self, facts: &Facts, cost: JobCost) -> bool {
        self.conditions.as_ref().is_none_or(|c| c.holds(facts))
            && self.parts_cents_over.is_none_or(|v| cost.parts_cents > v)
            && self.total_cents_over.is_none_or(|v| cost.total_cents > v)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
}

impl ApprovalState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(ApprovalState::Pending),
            "approved" => Some(ApprovalState::Approved),
            "rejected" => Some(ApprovalState::Rejected),
            _ => None,
        }
    }
}

/// One request on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApprovalRequest {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub ticket_number: String,
    pub ticket_title: String,
    pub policy_id: Uuid,
    pub policy_name: String,
    pub state: ApprovalState,
    pub pause_sla: bool,
    /// The policy's approvers when the request was made.
    pub approvers: Approvers,
    pub reason: String,
    /// The priced job's total when requested (absent: not priced).
    pub value_cents: Option<i64>,
    /// Absent when a rule requested it.
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_comment: String,
}

/// A request as it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApprovalRequest {
    pub ticket_id: Uuid,
    pub policy: ApprovalPolicy,
    pub reason: String,
    pub value_cents: Option<i64>,
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub const fn state(self) -> ApprovalState {
        match self {
            Decision::Approve => ApprovalState::Approved,
            Decision::Reject => ApprovalState::Rejected,
        }
    }
}

/// A stretch during which a pending request stopped the SLA clocks; open
/// (`to` absent) while it is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PauseSpan {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn approvers_exclude_technicians_and_policies_validate() {
        let a = Approvers {
            user_ids: vec![Uuid::nil()],
            roles: vec![Role::Manager],
        };
        assert!(a.includes(Uuid::nil(), Role::Dispatcher));
        assert!(a.includes(Uuid::now_v7(), Role::Manager));
        assert!(!a.includes(Uuid::now_v7(), Role::Admin));
        assert!(!a.includes(Uuid::nil(), Role::Technician));
        let bad: ApprovalPolicyInput = serde_json::from_value(json!({
            "name": " ", "parts_cents_over": -1, "approvers": {"roles": ["technician"]},
            "conditions": {"field": "colour", "op": "eq", "value": 1}
        }))
        .expect("shape");
        let errors = bad.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "conditions", "parts_cents_over", "approvers.roles"]
        );
    }
}
