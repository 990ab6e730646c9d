//! The migrations: a migrated store is ready, and both backends' migration sets match.

use super::*;

backend_tests!(migrated_store_is_ready,);

// ---------------------------------------------------------------------------
// Setup

async fn migrated_store_is_ready(db: &TestDb) {
    let store = db.store.as_ref();
    let expected = match db.backend() {
        TestBackend::Sqlite => Backend::Sqlite,
        TestBackend::Postgres => Backend::Postgres,
    };
    assert_eq!(store.backend(), expected);
    assert!(store.ready().await.expect("ready"));
    // Migrating again is a no-op.
    store.migrate().await.expect("second migrate");
    assert!(store.ready().await.expect("ready after second migrate"));
}

// ---------------------------------------------------------------------------
// Migrations (no database needed)

/// `(version, description)` of every `NNNN_description.sql` in `dir`, sorted.
fn migration_files(dir: &std::path::Path) -> Vec<(i64, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_str().expect("UTF-8 file name").to_owned();
        let stem = name
            .strip_suffix(".sql")
            .unwrap_or_else(|| panic!("{}: {name} is not a .sql file", dir.display()));
        let (number, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}: expected NNNN_description.sql"));
        assert!(
            number.len() == 4 && number.chars().all(|c| c.is_ascii_digit()),
            "{name}: the version must be four digits"
        );
        assert!(
            !description.is_empty()
                && description
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: the description must be lowercase snake_case"
        );
        found.push((number.parse().expect("digits"), description.to_owned()));
    }
    found.sort();
    found
}

#[test]
fn migration_sets_match_each_other_and_the_binary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let postgres = migration_files(&root.join("postgres"));
    let sqlite = migration_files(&root.join("sqlite"));
    assert!(
        !postgres.is_empty(),
        "no migrations found in {}",
        root.display()
    );
    assert_eq!(postgres, sqlite, "both backends have the same migrations");
    let versions: Vec<i64> = postgres.iter().map(|m| m.0).collect();
    assert_eq!(
        versions,
        (1..=postgres.len() as i64).collect::<Vec<_>>(),
        "versions are 1, 2, 3, … without gaps"
    );

    let (embedded_pg, embedded_sqlite) = truckroll_server::store::migrations::migration_names();
    let owned = |set: Vec<(i64, &str)>| -> Vec<(i64, String)> {
        set.into_iter().map(|(v, d)| (v, d.to_owned())).collect()
    };
    assert_eq!(
        owned(embedded_pg),
        postgres,
        "embedded PostgreSQL set = migrations/postgres"
    );
    assert_eq!(
        owned(embedded_sqlite),
        sqlite,
        "embedded SQLite set = migrations/sqlite"
    );
}
