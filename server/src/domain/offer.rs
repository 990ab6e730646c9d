//! Offers of a ticket to technicians, and the auto-dispatch policy per category.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ValidationErrors, ticket::validate_category_name, validation::check_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoDispatchMode {
    /// Tickets wait for a dispatcher.
    Off,
    /// Offer to the best candidate only.
    OfferBest,
    /// Offer to the best candidates in turn, up to `top_n`.
    OfferInTurn,
}

impl AutoDispatchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoDispatchMode::Off => "off",
            AutoDispatchMode::OfferBest => "offer_best",
            AutoDispatchMode::OfferInTurn => "offer_in_turn",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Off, Self::OfferBest, Self::OfferInTurn]
            .into_iter()
            .find(|m| m.as_str() == value)
    }
}

/// How tickets of one category are dispatched when they are created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DispatchPolicy {
    pub category: String,
    pub mode: AutoDispatchMode,
    /// How many technicians are offered the ticket in turn (1 for `offer_best`).
    pub top_n: u32,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchPolicyInput {
    pub mode: AutoDispatchMode,
    /// 1 to 20; default 3 for `offer_in_turn`, always 1 for `offer_best`.
    pub top_n: Option<u32>,
}

impl DispatchPolicyInput {
    pub fn into_policy(self, category: &str) -> Result<DispatchPolicy, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_category_name(&mut errors, "category", category);
        let top_n = match self.mode {
            AutoDispatchMode::OfferBest => 1,
            _ => self.top_n.unwrap_or(3),
        };
        if self.mode == AutoDispatchMode::OfferBest && self.top_n.is_some_and(|n| n != 1) {
            errors.add(
                "top_n",
                "offer_best offers to one technician; use offer_in_turn for more",
            );
        }
        if !(1..=20).contains(&top_n) {
            errors.add("top_n", "must be between 1 and 20");
        }
        errors.into_result()?;
        Ok(DispatchPolicy {
            category: category.to_owned(),
            mode: self.mode,
            top_n,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    Pending,
    Accepted,
    Declined,
    Expired,
    /// The ticket was assigned, cancelled or otherwise taken out of the flow.
    Withdrawn,
}

impl OfferState {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferState::Pending => "pending",
            OfferState::Accepted => "accepted",
            OfferState::Declined => "declined",
            OfferState::Expired => "expired",
            OfferState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Accepted,
            Self::Declined,
            Self::Expired,
            Self::Withdrawn,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    /// 1 for the first technician offered, 2 for the next, …
    pub round: u32,
    pub state: OfferState,
    /// The technician's reason for declining.
    pub reason: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl Offer {
    /// The state at `now`: a pending offer past its window is expired even
    /// before the offer timer has recorded it (answers are judged by the
    /// server's clock when they arrive, never the phone's).
    pub fn state_at(&self, now: DateTime<Utc>) -> OfferState {
        if self.state == OfferState::Pending && self.expires_at <= now {
            OfferState::Expired
        } else {
            self.state
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineInput {
    pub reason: String,
}

impl DeclineInput {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "reason", &self.reason, 500);
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_offer_past_its_window_is_expired() {
        let now = Utc::now();
        let offer = Offer {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            ticket_id: Uuid::nil(),
            technician_id: Uuid::nil(),
            round: 1,
            state: OfferState::Pending,
            reason: None,
            expires_at: now,
            created_at: now - chrono::Duration::seconds(120),
            decided_at: None,
        };
        assert_eq!(
            offer.state_at(now - chrono::Duration::seconds(1)),
            OfferState::Pending
        );
        assert_eq!(offer.state_at(now), OfferState::Expired);
        let withdrawn = Offer {
            state: OfferState::Withdrawn,
            ..offer
        };
        assert_eq!(
            withdrawn.state_at(now - chrono::Duration::seconds(1)),
            OfferState::Withdrawn
        );
    }

    #[test]
    fn policies_fix_top_n_per_mode() {
        let best = DispatchPolicyInput {
            mode: AutoDispatchMode::OfferBest,
            top_n: None,
        };
        assert_eq!(best.into_policy("hvac").expect("valid").top_n, 1);
        let turn = DispatchPolicyInput {
            mode: AutoDispatchMode::OfferInTurn,
            top_n: None,
        };
        assert_eq!(turn.into_policy("hvac").expect("valid").top_n, 3);
        let too_many = DispatchPolicyInput {
            mode: AutoDispatchMode::OfferInTurn,
            top_n: Some(21),
        };
        assert!(too_many.into_policy("hvac").is_err());
        let contradictory = DispatchPolicyInput {
            mode: AutoDispatchMode::OfferBest,
            top_n: Some(3),
        };
        assert!(contradictory.into_policy("hvac").is_err());
        let bad_name = DispatchPolicyInput {
            mode: AutoDispatchMode::Off,
            top_n: None,
        };
        assert!(bad_name.into_policy("Not A Slug").is_err());
    }
}
