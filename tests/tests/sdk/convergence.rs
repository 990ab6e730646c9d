//! Randomized convergence of SDK replicas against a real server.
//!
//! Per seed: two technicians, three phones (two for the first technician),
//! three tickets; random edits (notes, checklist, parts, status events —
//! often concurrent on one ticket from two phones), random offline windows,
//! dispatcher reassignments, unassignments, cancellations and reopenings,
//! status steps the office takes through REST for the technician (accept,
//! en route, hold, resume) interleaved with the phones' own, a network that drops requests and answers,
//! duplicates, delays and replays old requests later, and one server restart
//! in the middle. At the end, with a reliable network, every phone must hold
//! exactly its technician's tickets, byte-identical in heads and fold to the
//! server's, the REST ticket (status, hold reason, assignee) must be that
//! fold, and every edit ever acknowledged must be in the documents.
//!
//! `TRUCKROLL_CONVERGENCE_SEEDS=N` (default 60 on SQLite, 12 on PostgreSQL)
//! and `TRUCKROLL_CONVERGENCE_FIRST=S` choose the seeds; a failure prints the
//! seed and the command that reruns exactly it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::json;
use truckroll_sdk::truckroll_sync::protocol::Exchange;
use truckroll_sdk::truckroll_sync::{HoldReason, StatusAction};
use truckroll_sdk::{
    BaseUrl, Client, ClientConfig, Edit, HttpTransport, SdkError, SdkResult, Transport,
};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    run(TestBackend::Sqlite, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    run(TestBackend::Postgres, 12).await;
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

async fn run(backend: TestBackend, default_seeds: u64) {
    let seeds = env_u64("TRUCKROLL_CONVERGENCE_SEEDS").unwrap_or(default_seeds);
    let first = env_u64("TRUCKROLL_CONVERGENCE_FIRST").unwrap_or(1);
    let mut app = TestApp::start(backend).await;
    for seed in first..first + seeds {
        let guard = SeedGuard { seed, backend };
        app = one_seed(app, backend, seed).await;
        std::mem::forget(guard);
    }
    app.stop().await;
}

/// Prints how to rerun the seed that failed.
struct SeedGuard {
    seed: u64,
    backend: TestBackend,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        eprintln!(
            "convergence FAILED at seed {} ({:?}); rerun: TRUCKROLL_CONVERGENCE_FIRST={} TRUCKROLL_CONVERGENCE_SEEDS=1 \
             cargo test -p truckroll-tests --test main sdk::convergence {}",
            self.seed,
            self.backend,
            self.seed,
            match self.backend {
                TestBackend::Sqlite => "sqlite",
                TestBackend::Postgres => "postgres",
            }
        );
    }
}

// ---------------------------------------------------------------------------
// The network

/// Drops requests and answers, duplicates requests, delays them, and keeps
/// copies it delivers later (out of order) — while `lossy` is set.
#[derive(Debug)]
struct Lossy {
    inner: HttpTransport,
    rng: Mutex<fastrand::Rng>,
    lossy: AtomicBool,
    held: Mutex<Vec<Exchange>>,
}

impl Lossy {
    fn roll(&self, below: u32) -> u32 {
        self.rng.lock().map(|mut r| r.u32(0..below)).unwrap_or(0)
    }
}

#[async_trait]
impl Transport for Lossy {
    async fn exchange(&self, token: &str, request: &Exchange) -> SdkResult<Exchange> {
        if !self.lossy.load(Ordering::SeqCst) {
            return self.inner.exchange(token, request).await;
        }
        // A request held back earlier arrives now, after newer ones.
        if self.roll(100) < 15 {
            let old = {
                let mut held = self
                    .held
                    .lock()
                    .map_err(|_| SdkError::Transport("lock".into()))?;
                if held.is_empty() {
                    None
                } else {
                    let i = self.roll(u32::try_from(held.len()).unwrap_or(1)) as usize;
                    Some(held.swap_remove(i))
                }
            };
            if let Some(old) = old {
                let _ = self.inner.exchange(token, &old).await;
            }
        }
        let delay = self.roll(4);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
        }
        match self.roll(100) {
            0..12 => Err(SdkError::Transport("request lost".into())),
            12..24 => {
                let _ = self.inner.exchange(token, request).await;
                Err(SdkError::Transport("answer lost".into()))
            }
            24..34 => {
                let _ = self.inner.exchange(token, request).await;
                self.inner.exchange(token, request).await
            }
            34..44 => {
                if let Ok(mut held) = self.held.lock() {
                    held.push(request.clone());
                }
                self.inner.exchange(token, request).await
            }
            _ => self.inner.exchange(token, request).await,
        }
    }
}

// ---------------------------------------------------------------------------
// One seed

struct Phone {
    client: Client,
    transport: Arc<Lossy>,
    base_url: BaseUrl,
    tech: usize,
    online: bool,
    _dir: TempGuard,
}

/// What every replica must contain at the end, per ticket.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    notes: BTreeSet<String>,
    checklist: BTreeSet<String>,
    parts: BTreeSet<String>,
    events: BTreeSet<String>,
}

const FIELD_ACTIONS: [StatusAction; 7] = [
    StatusAction::Accept,
    StatusAction::StartTravel,
    StatusAction::CheckIn,
    StatusAction::Hold,
    StatusAction::Resume,
    StatusAction::CompleteWork,
    StatusAction::Rework,
];

async fn one_seed(mut app: TestApp, backend: TestBackend, seed: u64) -> TestApp {
    let mut rng = fastrand::Rng::with_seed(seed);
    let name = format!(
        "conv{seed}{}",
        matches!(backend, TestBackend::Postgres) as u8
    );
    let tenant = app.create_tenant(&name).await;
    let admin = tenant.admin_token.clone();
    let site = id_of(&app.berlin_site(&tenant, "standard").await, "id");
    let mut techs = Vec::new();
    for i in 0..2 {
        let email = format!("t{i}@{name}.test");
        let (user, _) = app.create_user(&tenant, &email, "technician").await;
        let tech = app
            .post(
                "/v1/technicians",
                &admin,
                &json!({"user_id": user, "name": format!("T{i}"), "skills": [], "time_zone": "UTC",
                        "capacity": 10, "home_base": {"lat": 52.5, "lon": 13.4}}),
            )
            .await
            .expect(StatusCode::CREATED);
        techs.push((id_of(&tech, "id"), email));
    }
    let mut tickets = Vec::new();
    let mut holder = Vec::new();
    for i in 0..3 {
        let body = json!({"title": format!("T{i}"), "category": "hvac", "priority": "P3", "site_id": site});
        let ticket = id_of(
            &app.post("/v1/tickets", &admin, &body)
                .await
                .expect(StatusCode::CREATED),
            "id",
        );
        let tech = rng.usize(0..2);
        assign(&app, &admin, ticket, techs[tech].0).await;
        tickets.push(ticket);
        holder.push(Holder::Tech(tech));
    }
    let mut phones = Vec::new();
    for (i, tech) in [0usize, 0, 1].into_iter().enumerate() {
        let dir = TempGuard::new("truckroll-conv-");
        let base_url = BaseUrl::new(&app.base_url);
        let transport = Arc::new(Lossy {
            inner: HttpTransport::new(base_url.clone()).expect("http"),
            rng: Mutex::new(fastrand::Rng::with_seed(seed * 31 + i as u64)),
            lossy: AtomicBool::new(true),
            held: Mutex::new(Vec::new()),
        });
        let mut config = ClientConfig::new(&app.base_url);
        config.transport = Some(transport.clone());
        let client = Client::open(&dir.path().join("phone.db"), config)
            .await
            .expect("open");
        client
            .sign_in(&name, &techs[tech].1, PASSWORD)
            .await
            .expect("sign in");
        phones.push(Phone {
            client,
            transport,
            base_url,
            tech,
            online: true,
            _dir: dir,
        });
    }

    let mut expected: BTreeMap<Uuid, Expected> =
        tickets.iter().map(|t| (*t, Expected::default())).collect();
    let steps = 36;
    let mut counter = 0;
    for step in 0..steps {
        if step == steps / 2 {
            app = app.restart().await;
            for p in &phones {
                p.base_url.set(&app.base_url);
                p.client.set_base_url(&app.base_url);
            }
        }
        match rng.u32(0..100) {
            // A burst of edits, sometimes two phones on one ticket at once.
            0..46 => {
                let ticket = tickets[rng.usize(0..tickets.len())];
                let writers: Vec<usize> = if rng.bool() {
                    vec![0, 1]
                } else {
                    vec![rng.usize(0..3)]
                };
                for w in writers {
                    counter += 1;
                    let edit = random_edit(&mut rng, w, counter);
                    match phones[w]
                        .client
                        .edit(&ticket.to_string(), edit.clone())
                        .await
                    {
                        Ok(created) => record(&mut expected, ticket, &edit, created),
                        // Not on this phone (yet, or any more): nothing was written.
                        Err(SdkError::UnknownTicket(_) | SdkError::NotReceived(_)) => {}
                        // A status edit the fold will ignore is still written;
                        // other local refusals (e.g. hold without reason) are fine.
                        Err(SdkError::Edit(_)) => {}
                        Err(e) => panic!("seed {seed}: edit failed: {e}"),
                    }
                }
            }
            46..74 => {
                let p = &phones[rng.usize(0..3)];
                if p.online {
                    let _ = p.client.sync_now().await;
                }
            }
            74..86 => {
                let i = rng.usize(0..3);
                phones[i].online = !phones[i].online;
            }
            // The dispatcher: mostly reassignments, sometimes taking a
            // ticket off everyone or cancelling it.
            _ => {
                let i = rng.usize(0..tickets.len());
                let ticket = tickets[i];
                match (holder[i], rng.u32(0..10)) {
                    (Holder::Cancelled(_), 0..5) => {
                        let reply = app
                            .patch(
                                &format!("/v1/tickets/{ticket}"),
                                &admin,
                                &json!({"status": "new"}),
                            )
                            .await;
                        if reply.status == StatusCode::OK {
                            holder[i] = Holder::Unassigned;
                        }
                    }
                    (Holder::Cancelled(_), _) => {}
                    (current, 0) => {
                        let reply = app
                            .patch(
                                &format!("/v1/tickets/{ticket}"),
                                &admin,
                                &json!({"status": "cancelled"}),
                            )
                            .await;
                        if reply.status == StatusCode::OK {
                            holder[i] = Holder::Cancelled(current.last_assignee());
                        }
                    }
                    (Holder::Tech(_), 1 | 2) => {
                        let reply = app
                            .post(
                                &format!("/v1/tickets/{ticket}/unassign"),
                                &admin,
                                &json!({}),
                            )
                            .await;
                        // Refused from some statuses (e.g. on site): nothing changed.
                        if reply.status == StatusCode::OK {
                            holder[i] = Holder::Unassigned;
                        }
                    }
                    // The office steps for the technician; refused (422)
                    // when the fold is elsewhere, which changes nothing.
                    (Holder::Tech(_), 3..6) => {
                        let body = match rng.u32(0..4) {
                            0 => json!({"status": "accepted"}),
                            1 => json!({"status": "en_route"}),
                            2 => json!({"status": "on_hold", "hold_reason": "waiting_customer"}),
                            _ => json!({"status": "on_site"}),
                        };
                        let reply = app
                            .patch(&format!("/v1/tickets/{ticket}"), &admin, &body)
                            .await;
                        assert!(
                            reply.status == StatusCode::OK
                                || reply.status == StatusCode::UNPROCESSABLE_ENTITY,
                            "seed {seed}: office step {body}: {} {}",
                            reply.status,
                            reply.body
                        );
                        if reply.status == StatusCode::OK {
                            let fold = app
                                .ticket_doc(tenant.id, ticket)
                                .await
                                .expect("document")
                                .doc
                                .status();
                            assert_eq!(
                                reply.body["status"],
                                fold.status.as_str(),
                                "seed {seed}: REST answer is the fold"
                            );
                        }
                    }
                    (Holder::Tech(t), _) => {
                        // Refused (409) on site, where the fold allows no reassignment.
                        let reply = app
                            .post(
                                &format!("/v1/tickets/{ticket}/assign"),
                                &admin,
                                &json!({"technician_id": techs[1 - t].0}),
                            )
                            .await;
                        assert!(
                            reply.status == StatusCode::OK || reply.status == StatusCode::CONFLICT,
                            "seed {seed}: reassign: {} {}",
                            reply.status,
                            reply.body
                        );
                        if reply.status == StatusCode::OK {
                            holder[i] = Holder::Tech(1 - t);
                        }
                    }
                    (Holder::Unassigned, _) => {
                        let t = rng.usize(0..2);
                        assign(&app, &admin, ticket, techs[t].0).await;
                        holder[i] = Holder::Tech(t);
                    }
                }
            }
        }
    }

    // Heal: everyone online on a reliable network until nothing moves.
    for p in &mut phones {
        p.online = true;
        p.transport.lossy.store(false, Ordering::SeqCst);
    }
    // Two quiet passes in a row: after the first every change is on the
    // server, after the second on every phone.
    let mut quiet_passes = 0;
    for _ in 0..12 {
        let mut moved = false;
        for p in &phones {
            let report = p.client.sync_now().await.expect("reliable sync");
            moved |= !report.converged
                || report.pending_edits > 0
                || !report.docs_added.is_empty()
                || !report.docs_removed.is_empty();
        }
        quiet_passes = if moved { 0 } else { quiet_passes + 1 };
        if quiet_passes == 2 {
            break;
        }
    }
    assert_eq!(
        quiet_passes, 2,
        "seed {seed}: replicas kept exchanging changes"
    );

    for (i, ticket) in tickets.iter().enumerate() {
        let row = app
            .get(&format!("/v1/tickets/{ticket}"), &admin)
            .await
            .expect(StatusCode::OK);
        let exp = &expected[ticket];
        let Some(loaded) = app.ticket_doc(tenant.id, *ticket).await else {
            // The server creates a document when a device first syncs the
            // ticket; one taken away before that never got one.
            assert!(
                !matches!(holder[i], Holder::Tech(_)),
                "seed {seed}: {ticket} is assigned but has no document"
            );
            assert_eq!(
                exp,
                &Expected::default(),
                "seed {seed}: edits to {ticket} lost"
            );
            for (n, p) in phones.iter().enumerate() {
                assert!(
                    p.client.ticket(&ticket.to_string()).await.is_err(),
                    "seed {seed}: phone {n} holds {ticket}"
                );
            }
            continue;
        };
        let server = loaded.doc;
        let fold = server.status();
        assert_eq!(
            row["status"],
            fold.status.as_str(),
            "seed {seed}: projection of {ticket}"
        );
        assert_eq!(
            row["hold_reason"].as_str(),
            fold.hold_reason.map(|r| r.as_str()),
            "seed {seed}: hold reason of {ticket}"
        );
        assert_eq!(
            row["assignee_id"].as_str(),
            fold.assignee.as_deref(),
            "seed {seed}: assignee of {ticket}"
        );
        let expected_assignee = match holder[i] {
            Holder::Tech(t) => Some(t),
            Holder::Unassigned => None,
            Holder::Cancelled(last) => last,
        };
        assert_eq!(
            fold.assignee,
            expected_assignee.map(|t| techs[t].0.to_string()),
            "seed {seed}: assignee in the document of {ticket}"
        );
        if let Holder::Cancelled(_) = holder[i] {
            assert_eq!(
                fold.status.as_str(),
                "cancelled",
                "seed {seed}: cancelled {ticket} folds to another status"
            );
        }
        let notes = server.notes();
        for token in &exp.notes {
            assert!(
                notes.contains(token.as_str()),
                "seed {seed}: note {token} lost"
            );
        }
        let labels: BTreeSet<String> = server.checklist().into_iter().map(|c| c.label).collect();
        assert!(
            exp.checklist.is_subset(&labels),
            "seed {seed}: checklist item lost"
        );
        let parts: BTreeSet<String> = server.parts().into_iter().map(|p| p.part_number).collect();
        assert!(exp.parts.is_subset(&parts), "seed {seed}: part lost");
        let events: BTreeSet<String> = server.events().into_iter().map(|e| e.id).collect();
        assert!(
            exp.events.is_subset(&events),
            "seed {seed}: status event lost"
        );

        for (n, p) in phones.iter().enumerate() {
            let held = p.client.ticket(&ticket.to_string()).await;
            if holder[i] == Holder::Tech(p.tech) {
                let view =
                    held.unwrap_or_else(|e| panic!("seed {seed}: phone {n} lacks {ticket}: {e}"));
                assert_eq!(
                    p.client.heads(&ticket.to_string()).await.expect("heads"),
                    server.heads(),
                    "seed {seed}: phone {n} differs from the server on {ticket}"
                );
                assert_eq!(
                    view.status, fold,
                    "seed {seed}: phone {n} folds {ticket} differently"
                );
            } else {
                assert!(held.is_err(), "seed {seed}: phone {n} still holds {ticket}");
            }
        }
    }
    for (n, p) in phones.iter().enumerate() {
        assert!(
            p.client.quarantine().await.expect("quarantine").is_empty(),
            "seed {seed}: phone {n} quarantined something"
        );
        assert!(
            p.client
                .outbox(Some("pending"))
                .await
                .expect("outbox")
                .is_empty(),
            "seed {seed}: phone {n} has unsynced edits"
        );
    }
    app
}

/// Who holds a ticket, as the dispatcher left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Tech(usize),
    Unassigned,
    /// Cancelled; the document keeps the assignment it had.
    Cancelled(Option<usize>),
}

impl Holder {
    fn last_assignee(self) -> Option<usize> {
        match self {
            Holder::Tech(t) => Some(t),
            Holder::Unassigned => None,
            Holder::Cancelled(last) => last,
        }
    }
}

async fn assign(app: &TestApp, admin: &str, ticket: Uuid, tech: Uuid) {
    app.post(
        &format!("/v1/tickets/{ticket}/assign"),
        admin,
        &json!({"technician_id": tech}),
    )
    .await
    .expect(StatusCode::OK);
}

fn random_edit(rng: &mut fastrand::Rng, phone: usize, n: u32) -> Edit {
    let token = format!("p{phone}e{n}");
    match rng.u32(0..10) {
        0..3 => Edit::NotesAppend {
            text: format!("{token};"),
        },
        3 => Edit::AddChecklistItem { label: token },
        4 => Edit::AddPart {
            part_number: token,
            quantity: 1.0,
            serial: None,
        },
        _ => {
            let action = FIELD_ACTIONS[rng.usize(0..FIELD_ACTIONS.len())];
            let reason = (action == StatusAction::Hold)
                .then(|| HoldReason::WaitingParts.as_str().to_owned());
            Edit::Status {
                action,
                position: None,
                reason,
            }
        }
    }
}

fn record(
    expected: &mut BTreeMap<Uuid, Expected>,
    ticket: Uuid,
    edit: &Edit,
    created: Option<String>,
) {
    let Some(exp) = expected.get_mut(&ticket) else {
        return;
    };
    match edit {
        Edit::NotesAppend { text } => {
            exp.notes.insert(text.clone());
        }
        Edit::AddChecklistItem { label } => {
            exp.checklist.insert(label.clone());
        }
        Edit::AddPart { part_number, .. } => {
            exp.parts.insert(part_number.clone());
        }
        Edit::Status { .. } => {
            if let Some(id) = created {
                exp.events.insert(id);
            }
        }
        _ => {}
    }
}
