//! Migrations embedded in the binary, one numbered set per backend.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "locations",
        include_str!("../../../migrations/postgres/0002_locations.sql"),
    ),
    (
        3,
        "offers",
        include_str!("../../../migrations/postgres/0003_offers.sql"),
    ),
    (
        4,
        "push",
        include_str!("../../../migrations/postgres/0004_push.sql"),
    ),
    (
        5,
        "territories",
        include_str!("../../../migrations/postgres/0005_territories.sql"),
    ),
    (
        6,
        "documents",
        include_str!("../../../migrations/postgres/0006_documents.sql"),
    ),
    (
        7,
        "sla",
        include_str!("../../../migrations/postgres/0007_sla.sql"),
    ),
    (
        8,
        "sla_notices",
        include_str!("../../../migrations/postgres/0008_sla_notices.sql"),
    ),
    (
        9,
        "webhooks",
        include_str!("../../../migrations/postgres/0009_webhooks.sql"),
    ),
    (
        10,
        "media",
        include_str!("../../../migrations/postgres/0010_media.sql"),
    ),
    (
        11,
        "sla_outcomes",
        include_str!("../../../migrations/postgres/0011_sla_outcomes.sql"),
    ),
    (
        12,
        "ticket_history",
        include_str!("../../../migrations/postgres/0012_ticket_history.sql"),
    ),
    (
        13,
        "job_packet",
        include_str!("../../../migrations/postgres/0013_job_packet.sql"),
    ),
    (
        14,
        "service_reports",
        include_str!("../../../migrations/postgres/0014_service_reports.sql"),
    ),
    (
        15,
        "lifecycle_search",
        include_str!("../../../migrations/postgres/0015_lifecycle_search.sql"),
    ),
    (
        16,
        "console",
        include_str!("../../../migrations/postgres/0016_console.sql"),
    ),
    (
        17,
        "intake",
        include_str!("../../../migrations/postgres/0017_intake.sql"),
    ),
    (
        18,
        "notify",
        include_str!("../../../migrations/postgres/0018_notify.sql"),
    ),
    (
        19,
        "progress",
        include_str!("../../../migrations/postgres/0019_progress.sql"),
    ),
    (
        25,
        "parts",
        include_str!("../../../migrations/postgres/0025_parts.sql"),
    ),
];

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "locations",
        include_str!("../../../migrations/sqlite/0002_locations.sql"),
    ),
    (
        3,
        "offers",
        include_str!("../../../migrations/sqlite/0003_offers.sql"),
    ),
    (
        4,
        "push",
        include_str!("../../../migrations/sqlite/0004_push.sql"),
    ),
    (
        5,
        "territories",
        include_str!("../../../migrations/sqlite/0005_territories.sql"),
    ),
    (
        6,
        "documents",
        include_str!("../../../migrations/sqlite/0006_documents.sql"),
    ),
    (
        7,
        "sla",
        include_str!("../../../migrations/sqlite/0007_sla.sql"),
    ),
    (
        8,
        "sla_notices",
        include_str!("../../../migrations/sqlite/0008_sla_notices.sql"),
    ),
    (
        9,
        "webhooks",
        include_str!("../../../migrations/sqlite/0009_webhooks.sql"),
    ),
    (
        10,
        "media",
        include_str!("../../../migrations/sqlite/0010_media.sql"),
    ),
    (
        11,
        "sla_outcomes",
        include_str!("../../../migrations/sqlite/0011_sla_outcomes.sql"),
    ),
    (
        12,
        "ticket_history",
        include_str!("../../../migrations/sqlite/0012_ticket_history.sql"),
    ),
    (
        13,
        "job_packet",
        include_str!("../../../migrations/sqlite/0013_job_packet.sql"),
    ),
    (
        14,
        "service_reports",
        include_str!("../../../migrations/sqlite/0014_service_reports.sql"),
    ),
    (
        15,
        "lifecycle_search",
        include_str!("../../../migrations/sqlite/0015_lifecycle_search.sql"),
    ),
    (
        16,
        "console",
        include_str!("../../../migrations/sqlite/0016_console.sql"),
    ),
    (
        17,
        "intake",
        include_str!("../../../migrations/sqlite/0017_intake.sql"),
    ),
    (
        18,
        "notify",
        include_str!("../../../migrations/sqlite/0018_notify.sql"),
    ),
    (
        19,
        "progress",
        include_str!("../../../migrations/sqlite/0019_progress.sql"),
    ),
    (
        25,
        "parts",
        include_str!("../../../migrations/sqlite/0025_parts.sql"),
    ),
];

fn migrator(set: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        set.iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect(),
    )
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(crate) fn latest_version() -> i64 {
    POSTGRES.iter().map(|m| m.0).max().unwrap_or(0)
}

/// (version, description) of one migration.
pub type MigrationName = (i64, &'static str);

/// Names of both sets, for the test that keeps them in step.
pub fn migration_names() -> (Vec<MigrationName>, Vec<MigrationName>) {
    (
        POSTGRES.iter().map(|m| (m.0, m.1)).collect(),
        SQLITE.iter().map(|m| (m.0, m.1)).collect(),
    )
}
