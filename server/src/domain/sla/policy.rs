//! SLA policies: which tickets they cover, their targets, calendar, pauses
//! and warning thresholds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use truckroll_sync::{HoldReason, Status};
use utoipa::ToSchema;
use uuid::Uuid;

use super::calendar::BusinessCalendar;
use crate::domain::ValidationErrors;
use crate::domain::customers::CustomerTier;
use crate::domain::ticket::{Priority, validate_category_name};
use crate::domain::validation::check_text;

/// Longest target a policy may set: one year of business time, in minutes.
pub const MAX_TARGET_MINUTES: u32 = 366 * 24 * 60;
/// Most warning thresholds a policy may set.
pub const MAX_WARNING_THRESHOLDS: usize = 10;
/// Most pause matchers a policy may set.
pub const MAX_PAUSE_MATCHERS: usize = 20;

/// Which tickets a policy covers. Each field left out (`null`) matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyMatch {
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub customer_tier: Option<CustomerTier>,
    /// Ticket category name, matched exactly.
    #[serde(default)]
    pub category: Option<String>,
}

impl PolicyMatch {
    /// Whether a ticket with these attributes is covered.
    pub fn matches(&self, priority: Priority, tier: CustomerTier, category: &str) -> bool {
        self.priority.is_none_or(|p| p == priority)
            && self.customer_tier.is_none_or(|t| t == tier)
            && self.category.as_deref().is_none_or(|c| c == category)
    }

    /// How specific the match is; higher wins. The number of fields set
    /// decides first (3 beats 2 beats 1 beats the catch-all 0); between
    /// matches with as many fields set, category outranks priority, which
    /// outranks customer tier. Two policies with the same score have the same
    /// shape, and [`select_policy`] breaks that tie by id.
    ///
    /// Encoded as `count * 8 + category * 4 + priority * 2 + tier`.
    pub fn specificity(&self) -> u8 {
        let category = u8::from(self.category.is_some());
        let priority = u8::from(self.priority.is_some());
        let tier = u8::from(self.customer_tier.is_some());
        (category + priority + tier) * 8 + category * 4 + priority * 2 + tier
    }
}

/// Business-time targets, in minutes. A target left out is not tracked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    /// Until the assignee accepts (status `accepted` or any later one).
    #[serde(default)]
    #[schema(example = 60)]
    pub response_minutes: Option<u32>,
    /// Until the technician checks in on site (`on_site` or later).
    #[serde(default)]
    #[schema(example = 240)]
    pub arrival_minutes: Option<u32>,
    /// Until the work is done (`work_done` or `closed`).
    #[serde(default)]
    #[schema(example = 480)]
    pub resolution_minutes: Option<u32>,
}

/// A ticket status (and optionally hold reason) during which the clock pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseMatcher {
    #[schema(value_type = String, example = "on_hold")]
    pub status: Status,
    /// Only with `on_hold`: the reason that pauses. Left out, any reason (or none) matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "waiting_customer")]
    pub hold_reason: Option<HoldReason>,
}

impl PauseMatcher {
    pub fn matches(&self, status: Status, hold_reason: Option<HoldReason>) -> bool {
        self.status == status && self.hold_reason.is_none_or(|r| Some(r) == hold_reason)
    }
}

/// The default pauses: on hold waiting for the customer or for parts.
pub fn default_pause_on() -> Vec<PauseMatcher> {
    HoldReason::ALL
        .into_iter()
        .map(|reason| PauseMatcher {
            status: Status::OnHold,
            hold_reason: Some(reason),
        })
        .collect()
}

/// The default warning thresholds: 75 % and 90 % of a target used.
pub fn default_warning_thresholds() -> Vec<u8> {
    vec![75, 90]
}

/// An SLA policy of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlaPolicy {
    pub id: Uuid,
    #[schema(example = "Gold customers, P1")]
    pub name: String,
    #[serde(rename = "match", default)]
    pub matches: PolicyMatch,
    pub targets: SlaTargets,
    pub calendar: BusinessCalendar,
    /// Statuses during which the clock pauses.
    #[serde(default = "default_pause_on")]
    pub pause_on: Vec<PauseMatcher>,
    /// Percentages of a target at which a warning is raised, each 1-99.
    #[serde(default = "default_warning_thresholds")]
    #[schema(example = json!([75, 90]))]
    pub warning_thresholds: Vec<u8>,
    /// What happens when a target reaches a warning threshold or breaches.
    #[serde(default)]
    pub escalation: Escalation,
    /// When the record was archived; `null` while active.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

/// Who is told about a warning or a breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyWho {
    /// Every active dispatcher of the tenant.
    Dispatchers,
    /// Every active manager of the tenant.
    Managers,
    /// Every active admin of the tenant.
    Admins,
    /// The technician the ticket is assigned to, if any.
    Assignee,
}

impl NotifyWho {
    pub const fn as_str(self) -> &'static str {
        match self {
            NotifyWho::Dispatchers => "dispatchers",
            NotifyWho::Managers => "managers",
            NotifyWho::Admins => "admins",
            NotifyWho::Assignee => "assignee",
        }
    }
}

/// The actions taken at one kind of SLA notice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationActions {
    /// Push notifications to these people.
    #[serde(default)]
    pub notify: Vec<NotifyWho>,
    /// Raise the ticket's priority one step (P4 → P3 … → P1).
    #[serde(default)]
    pub raise_priority: bool,
    /// Offer the ticket to the next candidate: an assigned ticket that is not
    /// yet accepted is taken back and offered onward through its category's
    /// offer flow (only for the response target).
    #[serde(default)]
    pub redispatch: bool,
}

/// Escalation per notice kind. Webhooks (`sla.warning`, `sla.breached`) go
/// to the tenant's subscriptions whatever is configured here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    #[serde(default = "default_on_warning")]
    pub on_warning: EscalationActions,
    #[serde(default = "default_on_breach")]
    pub on_breach: EscalationActions,
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            on_warning: default_on_warning(),
            on_breach: default_on_breach(),
        }
    }
}

/// Default at a warning: tell the dispatchers.
pub fn default_on_warning() -> EscalationActions {
    EscalationActions {
        notify: vec![NotifyWho::Dispatchers],
        ..EscalationActions::default()
    }
}

/// Default at a breach: tell the dispatchers and the managers.
pub fn default_on_breach() -> EscalationActions {
    EscalationActions {
        notify: vec![NotifyWho::Dispatchers, NotifyWho::Managers],
        ..EscalationActions::default()
    }
}

impl Escalation {
    fn validate_into(&self, errors: &mut ValidationErrors) {
        for (field, actions) in [
            ("escalation.on_warning", &self.on_warning),
            ("escalation.on_breach", &self.on_breach),
        ] {
            for (i, who) in actions.notify.iter().enumerate() {
                if actions.notify[..i].contains(who) {
                    errors.add(format!("{field}.notify[{i}]"), "is listed twice");
                }
            }
        }
    }
}

impl SlaPolicy {
    /// See [`PolicyMatch::specificity`].
    pub fn specificity(&self) -> u8 {
        self.matches.specificity()
    }

    /// Whether the pause matchers pause the clock in this status.
    pub fn pauses(&self, status: Status, hold_reason: Option<HoldReason>) -> bool {
        self.pause_on.iter().any(|m| m.matches(status, hold_reason))
    }

    /// Warning thresholds, sorted ascending, duplicates and out-of-range values dropped.
    pub fn thresholds(&self) -> Vec<u8> {
        let mut thresholds: Vec<u8> = self
            .warning_thresholds
            .iter()
            .copied()
            .filter(|t| (1..=99).contains(t))
            .collect();
        thresholds.sort_unstable();
        thresholds.dedup();
        thresholds
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 200);
        if let Some(category) = &self.matches.category {
            validate_category_name(&mut errors, "match.category", category);
        }
        let targets = [
            ("targets.response_minutes", self.targets.response_minutes),
            ("targets.arrival_minutes", self.targets.arrival_minutes),
            (
                "targets.resolution_minutes",
                self.targets.resolution_minutes,
            ),
        ];
        if targets.iter().all(|(_, minutes)| minutes.is_none()) {
            errors.add(
                "targets",
                "must set at least one of response_minutes, arrival_minutes, resolution_minutes",
            );
        }
        for (field, minutes) in targets {
            if let Some(minutes) = minutes
                && !(1..=MAX_TARGET_MINUTES).contains(&minutes)
            {
                errors.add(
                    field,
                    format!("must be between 1 and {MAX_TARGET_MINUTES} minutes"),
                );
            }
        }
        self.calendar.validate_into(&mut errors, "calendar");
        if self.pause_on.len() > MAX_PAUSE_MATCHERS {
            errors.add(
                "pause_on",
                format!("must list at most {MAX_PAUSE_MATCHERS} matchers"),
            );
        }
        for (i, matcher) in self.pause_on.iter().enumerate() {
            if matcher.hold_reason.is_some() && matcher.status != Status::OnHold {
                errors.add(
                    format!("pause_on[{i}].hold_reason"),
                    "is only allowed with status on_hold",
                );
            }
            if matches!(
                matcher.status,
                Status::WorkDone | Status::Closed | Status::Cancelled
            ) {
                errors.add(
                    format!("pause_on[{i}].status"),
                    "cannot pause on work_done, closed or cancelled: the clock already stops there",
                );
            }
        }
        if self.warning_thresholds.len() > MAX_WARNING_THRESHOLDS {
            errors.add(
                "warning_thresholds",
                format!("must list at most {MAX_WARNING_THRESHOLDS} thresholds"),
            );
        }
        for (i, &threshold) in self.warning_thresholds.iter().enumerate() {
            if !(1..=99).contains(&threshold) {
                errors.add(
                    format!("warning_thresholds[{i}]"),
                    "must be a percentage between 1 and 99 (100 % is the breach)",
                );
            } else if self.warning_thresholds[..i].contains(&threshold) {
                errors.add(format!("warning_thresholds[{i}]"), "is listed twice");
            }
        }
        self.escalation.validate_into(&mut errors);
        errors.into_result()
    }
}

/// The policy that covers a ticket: among the matching policies the most
/// specific ([`PolicyMatch::specificity`]); between equally specific ones the
/// smallest id (with UUIDv7 ids, the oldest policy). `None` when none matches.
pub fn select_policy<'a>(
    policies: &'a [SlaPolicy],
    priority: Priority,
    tier: CustomerTier,
    category: &str,
) -> Option<&'a SlaPolicy> {
    policies
        .iter()
        .filter(|p| p.matches.matches(priority, tier, category))
        .min_by(|a, b| {
            b.specificity()
                .cmp(&a.specificity())
                .then_with(|| a.id.cmp(&b.id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(
        n: u128,
        priority: Option<Priority>,
        tier: Option<CustomerTier>,
        category: Option<&str>,
    ) -> SlaPolicy {
        SlaPolicy {
            id: Uuid::from_u128(n),
            name: format!("policy {n}"),
            matches: PolicyMatch {
                priority,
                customer_tier: tier,
                category: category.map(Into::into),
            },
            targets: SlaTargets {
                response_minutes: Some(60),
                arrival_minutes: None,
                resolution_minutes: Some(480),
            },
            calendar: BusinessCalendar::AlwaysOpen,
            pause_on: default_pause_on(),
            warning_thresholds: default_warning_thresholds(),
            escalation: Escalation::default(),
            archived_at: None,
        }
    }

    #[test]
    fn most_specific_policy_wins() {
        use CustomerTier::*;
        use Priority::*;
        let policies = vec![
            policy(1, None, None, None),
            policy(2, Some(P1), None, None),
            policy(3, Some(P1), Some(Gold), None),
            policy(4, None, None, Some("hvac")),
            policy(5, Some(P1), Some(Gold), Some("hvac")),
            policy(6, None, Some(Gold), None),
        ];
        let pick = |p, t, c| select_policy(&policies, p, t, c).map(|p| p.id.as_u128());
        assert_eq!(pick(P1, Gold, "hvac"), Some(5));
        assert_eq!(pick(P1, Gold, "plumbing"), Some(3));
        assert_eq!(pick(P1, Silver, "plumbing"), Some(2));
        // One field each: category outranks priority outranks tier.
        assert_eq!(pick(P1, Silver, "hvac"), Some(4));
        assert_eq!(pick(P2, Gold, "plumbing"), Some(6));
        assert_eq!(pick(P4, Standard, "plumbing"), Some(1));
        assert_eq!(select_policy(&policies[1..2], P2, Gold, "hvac"), None);
    }

    #[test]
    fn ties_go_to_the_smallest_id_whatever_the_order() {
        let a = policy(7, Some(Priority::P2), None, None);
        let b = policy(3, Some(Priority::P2), None, None);
        let forward = [a.clone(), b.clone()];
        let backward = [b, a];
        for list in [&forward[..], &backward[..]] {
            let chosen = select_policy(list, Priority::P2, CustomerTier::Standard, "x");
            assert_eq!(chosen.map(|p| p.id.as_u128()), Some(3));
        }
    }

    #[test]
    fn specificity_orders_shapes() {
        let score = |p: Option<Priority>, t: Option<CustomerTier>, c: Option<&str>| {
            policy(0, p, t, c).specificity()
        };
        let all = score(Some(Priority::P1), Some(CustomerTier::Gold), Some("a"));
        let two = score(Some(Priority::P1), Some(CustomerTier::Gold), None);
        let category = score(None, None, Some("a"));
        let none = score(None, None, None);
        assert!(all > two && two > category && category > none);
        assert_eq!(none, 0);
    }

    #[test]
    fn defaults_pause_on_customer_and_parts_and_warn_at_75_90() {
        let json = serde_json::json!({
            "id": Uuid::from_u128(1),
            "name": "Default",
            "targets": {"response_minutes": 60},
            "calendar": {"kind": "24x7"}
        });
        let policy: SlaPolicy = serde_json::from_value(json).expect("parses");
        assert_eq!(policy.matches, PolicyMatch::default());
        assert_eq!(policy.warning_thresholds, [75, 90]);
        assert!(policy.pauses(Status::OnHold, Some(HoldReason::WaitingCustomer)));
        assert!(policy.pauses(Status::OnHold, Some(HoldReason::WaitingParts)));
        assert!(!policy.pauses(Status::OnHold, None));
        assert!(!policy.pauses(Status::Accepted, None));
        assert!(policy.validate().is_ok());
        let wildcard = PauseMatcher {
            status: Status::OnHold,
            hold_reason: None,
        };
        assert!(wildcard.matches(Status::OnHold, Some(HoldReason::WaitingParts)));
        assert!(wildcard.matches(Status::OnHold, None));
    }

    #[test]
    fn validation_names_each_bad_part() {
        let mut bad = policy(1, None, None, Some("Bad Category"));
        bad.name = " ".into();
        bad.targets = SlaTargets {
            response_minutes: Some(0),
            arrival_minutes: None,
            resolution_minutes: Some(MAX_TARGET_MINUTES + 1),
        };
        bad.pause_on = vec![
            PauseMatcher {
                status: Status::Assigned,
                hold_reason: Some(HoldReason::WaitingParts),
            },
            PauseMatcher {
                status: Status::Closed,
                hold_reason: None,
            },
        ];
        bad.warning_thresholds = vec![75, 100, 75];
        let errors = bad.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "match.category",
                "targets.response_minutes",
                "targets.resolution_minutes",
                "pause_on[0].hold_reason",
                "pause_on[1].status",
                "warning_thresholds[1]",
                "warning_thresholds[2]",
            ]
        );
        let mut none = policy(1, None, None, None);
        none.targets = SlaTargets::default();
        assert_eq!(none.validate().expect_err("invalid").0[0].field, "targets");
    }
}
