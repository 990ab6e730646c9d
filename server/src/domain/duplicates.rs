//! Likely duplicates of a ticket being created (issue 22): open tickets of
//! the same customer, site or asset within a window, scored by how similar
//! their words are and how close their place is, each with its reasons.
//!
//! Text similarity is the Dice coefficient of the two tickets' word sets
//! (title and description folded as search folds them — case, accents,
//! Chinese as bigrams — without stop words). The place adds to it: the same
//! asset most, then the same site, then only the same customer. A
//! candidate is listed when its words are similar enough for its place:
//! the farther the place, the more similar the words must be.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::knowledge::suggestion_terms;

/// What a new ticket is compared by.
#[derive(Debug, Clone)]
pub struct DuplicateProbe<'a> {
    pub customer_id: Uuid,
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub title: &'a str,
    pub description: &'a str,
}

/// An open ticket that may be the same problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTicket {
    pub id: Uuid,
    pub number: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub customer_id: Uuid,
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Why a ticket is a likely duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    SameAsset,
    SameSite,
    SameCustomer,
    SimilarText,
}

/// A likely duplicate, best first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DuplicateCandidate {
    pub ticket_id: Uuid,
    pub number: String,
    pub title: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// 0 to 1; higher is likelier.
    pub score: f64,
    /// 0 to 1: how much the two tickets' words overlap.
    pub text_similarity: f64,
    pub reasons: Vec<DuplicateReason>,
}

/// A ticket merged into another: the duplicate (`source`) is cancelled
/// and its comments moved to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MergeRecord {
    pub source_id: Uuid,
    pub source_number: String,
    pub target_id: Uuid,
    pub target_number: String,
    /// Comments moved from the duplicate to the ticket it duplicates.
    pub comments_moved: i64,
    pub merged_by: Option<Uuid>,
    pub merged_at: DateTime<Utc>,
}

/// How much a place adds to the score, and the word similarity it needs.
const SAME_ASSET: (f64, f64) = (0.4, 0.15);
const SAME_SITE: (f64, f64) = (0.25, 0.3);
const SAME_CUSTOMER: (f64, f64) = (0.1, 0.5);
/// The share of the score that comes from the words.
const TEXT_WEIGHT: f64 = 0.6;
/// Words at least this similar are named as a reason.
const SIMILAR_TEXT: f64 = 0.3;

fn word_set(title: &str, description: &str) -> BTreeSet<String> {
    suggestion_terms(&format!("{title} {description}"))
        .into_iter()
        .collect()
}

/// The Dice coefficient of two word sets (0 when either is empty).
pub fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(b).count() as f64;
    2.0 * shared / (a.len() + b.len()) as f64
}

/// The likely duplicates of `probe` among `pool`, best first, at most `limit`.
pub fn rank(
    probe: &DuplicateProbe<'_>,
    pool: &[PoolTicket],
    limit: usize,
) -> Vec<DuplicateCandidate> {
    let words = word_set(probe.title, probe.description);
    let mut out: Vec<DuplicateCandidate> = pool
        .iter()
        .filter_map(|ticket| {
            let place = if probe.asset_id.is_some() && ticket.asset_id == probe.asset_id {
                (DuplicateReason::SameAsset, SAME_ASSET)
            } else if ticket.site_id == probe.site_id {
                (DuplicateReason::SameSite, SAME_SITE)
            } else if ticket.customer_id == probe.customer_id {
                (DuplicateReason::SameCustomer, SAME_CUSTOMER)
            } else {
                return None;
            };
            let (reason, (bonus, needed)) = place;
            let text = similarity(&words, &word_set(&ticket.title, &ticket.description));
            if text < needed {
                return None;
            }
            let mut reasons = vec![reason];
            if text >= SIMILAR_TEXT {
                reasons.push(DuplicateReason::SimilarText);
            }
            Some(DuplicateCandidate {
                ticket_id: ticket.id,
                number: ticket.number.clone(),
                title: ticket.title.clone(),
                status: ticket.status.clone(),
                created_at: ticket.created_at,
                score: ((TEXT_WEIGHT * text + bonus) * 1000.0).round() / 1000.0,
                text_similarity: (text * 1000.0).round() / 1000.0,
                reasons,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.created_at.cmp(&a.created_at))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_ticket(title: &str, site: Uuid, customer: Uuid, asset: Option<Uuid>) -> PoolTicket {
        PoolTicket {
            id: Uuid::now_v7(),
            number: "TR-000001".into(),
            title: title.into(),
            description: String::new(),
            status: "new".into(),
            customer_id: customer,
            site_id: site,
            asset_id: asset,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn same_site_similar_text_is_a_duplicate_other_places_are_not() {
        let (customer, site, other_site, stranger) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let probe = DuplicateProbe {
            customer_id: customer,
            site_id: site,
            asset_id: None,
            title: "Power outage in the whole building",
            description: "",
        };
        let pool = vec![
            pool_ticket("Whole building power outage", site, customer, None),
            pool_ticket("Whole building power outage", other_site, stranger, None),
            pool_ticket("Leaking tap", site, customer, None),
        ];
        let found = rank(&probe, &pool, 10);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].ticket_id, pool[0].id);
        assert_eq!(
            found[0].reasons,
            vec![DuplicateReason::SameSite, DuplicateReason::SimilarText]
        );
        assert!(found[0].score > 0.8, "{found:?}");
    }

    #[test]
    fn chinese_text_is_compared_by_bigrams() {
        let (customer, site) = (Uuid::now_v7(), Uuid::now_v7());
        let probe = DuplicateProbe {
            customer_id: customer,
            site_id: site,
            asset_id: None,
            title: "三楼空调不制冷",
            description: "",
        };
        let pool = vec![pool_ticket("空调不制冷", site, customer, None)];
        assert_eq!(rank(&probe, &pool, 10).len(), 1);
    }

    #[test]
    fn the_same_asset_needs_fewer_shared_words() {
        let (customer, site, asset) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let probe = DuplicateProbe {
            customer_id: customer,
            site_id: site,
            asset_id: Some(asset),
            title: "Chiller alarm again, compressor noisy",
            description: "",
        };
        let pool = vec![pool_ticket(
            "Chiller trips at noon",
            site,
            customer,
            Some(asset),
        )];
        let found = rank(&probe, &pool, 10);
        assert_eq!(found[0].reasons, vec![DuplicateReason::SameAsset]);
    }
}
