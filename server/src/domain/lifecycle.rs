//! The life of master data after it is created: archive (a soft delete the
//! office can undo), restore, and hard delete when nothing refers to a record.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which records a list shows: `?archived=false` (the default, active
/// only), `true` (archived only) or `all`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ArchivedFilter {
    #[default]
    #[serde(rename = "false")]
    Active,
    #[serde(rename = "true")]
    Archived,
    #[serde(rename = "all")]
    All,
}

/// A kind of master data that can be archived, restored and deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKind {
    Customer,
    Site,
    Asset,
    Category,
    SlaPolicy,
    Territory,
    Technician,
}

impl MasterKind {
    /// The table that holds the kind (a fixed name, never input).
    pub fn table(self) -> &'static str {
        match self {
            MasterKind::Customer => "customers",
            MasterKind::Site => "sites",
            MasterKind::Asset => "assets",
            MasterKind::Category => "categories",
            MasterKind::SlaPolicy => "sla_policies",
            MasterKind::Territory => "territories",
            MasterKind::Technician => "technicians",
        }
    }

    /// The kind in words and in the audit log (`site`, `sla_policy`, …).
    pub fn noun(self) -> &'static str {
        match self {
            MasterKind::Customer => "customer",
            MasterKind::Site => "site",
            MasterKind::Asset => "asset",
            MasterKind::Category => "category",
            MasterKind::SlaPolicy => "sla_policy",
            MasterKind::Territory => "territory",
            MasterKind::Technician => "technician",
        }
    }

    /// The kind as a person reads it in a refusal.
    pub fn label(self) -> &'static str {
        match self {
            MasterKind::SlaPolicy => "SLA policy",
            other => other.noun(),
        }
    }
}

/// "3 open tickets", "1 site": a count with its noun, for a refusal's detail.
pub fn counted(count: i64, singular: &str, plural: &str) -> String {
    if count == 1 {
        format!("1 {singular}")
    } else {
        format!("{count} {plural}")
    }
}

/// Why a record cannot be archived or deleted: the kind and what refers to
/// it, e.g. "site has 3 open tickets" or "customer has 2 sites and 5 tickets".
pub fn in_use_detail(kind: MasterKind, uses: &[String]) -> String {
    let listed = match uses {
        [] => "records that refer to it".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    format!("{} has {listed}", kind.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(
            in_use_detail(
                MasterKind::Site,
                &[counted(3, "open ticket", "open tickets")]
            ),
            "site has 3 open tickets"
        );
        assert_eq!(
            in_use_detail(
                MasterKind::Customer,
                &[counted(1, "site", "sites"), counted(2, "ticket", "tickets")]
            ),
            "customer has 1 site and 2 tickets"
        );
    }

    #[test]
    fn archived_filter_reads_the_query_values() {
        let parse = |s: &str| serde_json::from_value::<ArchivedFilter>(serde_json::json!(s));
        assert_eq!(parse("false").ok(), Some(ArchivedFilter::Active));
        assert_eq!(parse("true").ok(), Some(ArchivedFilter::Archived));
        assert_eq!(parse("all").ok(), Some(ArchivedFilter::All));
        assert!(parse("maybe").is_err());
    }
}
