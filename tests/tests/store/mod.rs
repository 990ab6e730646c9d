//! The `Store` contract, one file per sub-trait: every test runs on SQLite
//! and on PostgreSQL (`name::sqlite`, `name::postgres`), each in a database
//! of its own.

use std::collections::{BTreeSet, HashSet};

use chrono::{Duration, Utc};
use serde_json::json;
use truckroll_server::{
    domain::{
        people::{NewDevice, Platform, Role, SkillLevel, TechnicianStatus, UserPatch},
        ticket::{Priority, Ticket},
    },
    store::{
        Actor, Backend, IdempotencyBegin, Page, PageRequest, RefreshOutcome, RefreshTokenRecord,
        Store, StoreError, StoredResponse, TicketFilter,
    },
};
use truckroll_sync::{HoldReason, Status};
use truckroll_tests::{
    TestBackend, TestDb,
    fixtures::{
        PASSWORD_HASH, TenantFixture, new_asset, new_category, new_comment, new_customer, new_site,
        new_technician, new_ticket, new_user,
    },
};
use uuid::Uuid;

mod assignments;
mod audit;
mod customers;
mod documents;
mod idempotency;
mod leader;
mod locations;
mod media;
mod migrations;
mod push;
mod technicians;
mod tickets;
mod users;

// ---------------------------------------------------------------------------
// Helpers

const ALL: PageRequest = PageRequest {
    limit: 1000,
    after: None,
};

async fn tenant(db: &TestDb, name: &str) -> TenantFixture {
    TenantFixture::create(db.store.as_ref(), name).await
}

async fn audit_len(store: &dyn Store, tenant_id: Uuid) -> usize {
    store
        .list_audit(tenant_id, 0, 10_000)
        .await
        .expect("list audit")
        .len()
}

async fn audit_actions(store: &dyn Store, tenant_id: Uuid) -> Vec<String> {
    store
        .list_audit(tenant_id, 0, 10_000)
        .await
        .expect("list audit")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn tickets(store: &dyn Store, tenant_id: Uuid, filter: &TicketFilter) -> Vec<Ticket> {
    let page = store
        .list_tickets(tenant_id, filter, ALL)
        .await
        .expect("list tickets");
    assert_eq!(page.next_after, None, "all tickets fit one page");
    page.items
}

/// Numbers of the tickets `filter` selects, sorted.
async fn numbers(store: &dyn Store, tenant_id: Uuid, filter: TicketFilter) -> Vec<String> {
    let mut numbers: Vec<String> = tickets(store, tenant_id, &filter)
        .await
        .into_iter()
        .map(|t| t.number)
        .collect();
    numbers.sort();
    numbers
}

/// Sorted numbers of `tickets`, to compare with [`numbers`].
fn expected(tickets: &[&Ticket]) -> Vec<String> {
    let mut numbers: Vec<String> = tickets.iter().map(|t| t.number.clone()).collect();
    numbers.sort();
    numbers
}

fn text(search: &str) -> TicketFilter {
    TicketFilter {
        text: Some(search.to_owned()),
        ..Default::default()
    }
}

fn token(hash: &str, user: (Uuid, Uuid), expires_in: Duration) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash.to_owned(),
        family_id: Uuid::now_v7(),
        tenant_id: user.0,
        user_id: user.1,
        expires_at: Utc::now() + expires_in,
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn assert_reference<T: std::fmt::Debug>(result: Result<T, StoreError>, field: &str, what: &str) {
    match result {
        Err(StoreError::Reference { field: f, .. }) if f == field => {}
        other => panic!("{what}: expected Reference on {field}, got {other:?}"),
    }
}
