//! The mobile SDK (`truckroll-sdk`) against a real server, on SQLite and
//! PostgreSQL: offline edits, reassignment while offline, every kind of
//! refusal ending in the quarantine, and a real SDK process killed with
//! SIGKILL between an edit and the sync and in the middle of a sync.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sdk::truckroll_sync::automerge::{
    self, ObjType, ROOT, ReadDoc, transaction::Transactable,
};
use truckroll_sdk::truckroll_sync::protocol::{ErrorCode, Exchange, Message};
use truckroll_sdk::truckroll_sync::{
    ActorId, CustomValue, Position, StatusAction, TicketDoc, TimeEntryKind,
};
use truckroll_sdk::{
    Backoff, Change, Client, ClientConfig, Edit, HttpTransport, SdkError, SdkResult, Transport,
};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp},
    fixtures::{CliPhone, Shop, kill_when, phone_cli},
};
use uuid::Uuid;

use super::SDK_PHONE;

backend_tests!(
    offline_edits_reach_the_server_with_their_status,
    reassignment_while_offline_keeps_earlier_edits,
    foreign_actor_goes_to_quarantine,
    server_only_change_goes_to_quarantine,
    malformed_document_goes_to_quarantine,
    garbage_bytes_go_to_quarantine,
    oversize_message_goes_to_quarantine,
    document_outside_the_set_goes_to_quarantine,
    killed_between_edit_and_sync_loses_nothing,
    killed_mid_sync_loses_nothing,
    implausible_device_times_are_bounded_and_flagged,
    sync_loop_wakes_on_connectivity_and_edits,
    transient_failures_are_retried_with_backoff,
    expired_access_token_is_refreshed_during_sync,
);

// ---------------------------------------------------------------------------
// Fixture

/// A phone: the SDK over its own database file.
struct Phone {
    client: Client,
    dir: TempGuard,
}

impl Phone {
    async fn open(app: &TestApp, config: ClientConfig) -> Self {
        let dir = TempGuard::new("truckroll-phone-");
        let client = Client::open(&dir.path().join("phone.db"), config)
            .await
            .expect("SDK opens");
        let _ = app;
        Self { client, dir }
    }

    async fn signed_in(app: &TestApp, shop: &Shop, tech: usize) -> Self {
        let phone = Self::open(app, ClientConfig::new(&app.base_url)).await;
        phone
            .client
            .sign_in(&shop.tenant.name, &shop.techs[tech].email, PASSWORD)
            .await
            .expect("signs in");
        phone
    }

    /// Closes and reopens the database, as an app restart would.
    async fn reopen(self, app: &TestApp) -> Self {
        let Phone { client, dir } = self;
        drop(client);
        let client = Client::open(
            &dir.path().join("phone.db"),
            ClientConfig::new(&app.base_url),
        )
        .await
        .expect("SDK reopens");
        Self { client, dir }
    }

    async fn sync(&self) -> truckroll_sdk::SyncReport {
        let report = self.client.sync_now().await.expect("sync runs");
        assert!(report.converged, "sync did not converge: {report:?}");
        report
    }

    async fn edit(&self, ticket: Uuid, edit: Edit) -> Option<String> {
        self.client
            .edit(&ticket.to_string(), edit)
            .await
            .expect("edit stored")
    }
}

fn note(text: &str) -> Edit {
    Edit::NotesAppend { text: text.into() }
}

fn status(action: StatusAction) -> Edit {
    Edit::Status {
        action,
        position: None,
        reason: None,
    }
}

async fn server_doc(app: &TestApp, shop: &Shop, ticket: Uuid) -> TicketDoc {
    app.ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("server holds the document")
        .doc
}

async fn server_ticket(app: &TestApp, shop: &Shop, ticket: Uuid) -> Value {
    app.get(&format!("/v1/tickets/{ticket}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK)
}

// ---------------------------------------------------------------------------
// Offline edits and reassignment

async fn offline_edits_reach_the_server_with_their_status(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdkoffline")
        .technicians(2)
        .build()
        .await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    let report = phone.sync().await;
    assert_eq!(report.docs_added, vec![ticket.to_string()]);
    let list = phone.client.tickets().await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status.status.as_str(), "assigned");
    assert_eq!(
        list[0].header.as_ref().map(|h| h["title"].clone()),
        Some(json!("Chiller"))
    );

    // Offline: nothing below talks to the server.
    phone.client.set_online(false);
    phone.edit(ticket, note("Compressor noisy.\n")).await;
    let item = phone
        .edit(
            ticket,
            Edit::AddChecklistItem {
                label: "Check refrigerant".into(),
            },
        )
        .await
        .expect("item id");
    phone
        .edit(
            ticket,
            Edit::SetChecklistDone {
                item_id: item,
                done: true,
            },
        )
        .await;
    phone
        .edit(
            ticket,
            Edit::AddPart {
                part_number: "CMP-220".into(),
                quantity: 1.0,
                serial: Some("SN9".into()),
            },
        )
        .await;
    let now = chrono::Utc::now().timestamp_millis();
    phone
        .edit(
            ticket,
            Edit::AddTimeEntry {
                kind: TimeEntryKind::Work,
                started_at: now - 60_000,
                ended_at: Some(now),
            },
        )
        .await;
    phone
        .edit(
            ticket,
            Edit::SetCustom {
                key: "pressure_bar".into(),
                value: CustomValue::F64(4.5),
            },
        )
        .await;
    phone.edit(ticket, status(StatusAction::Accept)).await;
    phone.edit(ticket, status(StatusAction::StartTravel)).await;
    phone
        .edit(
            ticket,
            Edit::Status {
                action: StatusAction::CheckIn,
                position: Some(Position {
                    lat: 52.5163,
                    lon: 13.3795,
                    accuracy_m: Some(8.0),
                }),
                reason: None,
            },
        )
        .await;
    let local = phone
        .client
        .ticket(&ticket.to_string())
        .await
        .expect("local");
    assert_eq!(local.status.status.as_str(), "on_site");
    assert_eq!(
        phone
            .client
            .outbox(Some("pending"))
            .await
            .expect("outbox")
            .len(),
        9
    );
    // The server saw none of it.
    assert_eq!(
        server_ticket(&app, &shop, ticket).await["status"],
        "assigned"
    );

    // The app restarts (the edits are on disk), comes online and syncs.
    let phone = phone.reopen(&app).await;
    phone.client.set_online(true);
    let report = phone.sync().await;
    assert_eq!(report.pending_edits, 0, "{report:?}");
    assert!(report.rejections.is_empty(), "{report:?}");
    let doc = server_doc(&app, &shop, ticket).await;
    assert_eq!(doc.notes(), "Compressor noisy.\n");
    assert_eq!(doc.checklist().len(), 1);
    assert!(doc.checklist()[0].done);
    assert_eq!(doc.parts()[0].part_number, "CMP-220");
    assert_eq!(doc.time_entries().len(), 1);
    assert_eq!(
        doc.custom().get("pressure_bar"),
        Some(&CustomValue::F64(4.5))
    );
    let row = server_ticket(&app, &shop, ticket).await;
    assert_eq!(row["status"], "on_site", "{row}");
    // The API shows when the work happened on the phone, not when it synced.
    let device_time = |kind: &str| {
        doc.events()
            .into_iter()
            .find(|e| e.kind.as_str() == kind)
            .map(|e| e.device_time)
            .expect("event in the document")
    };
    let api_time = |field: &str| {
        row["field"][field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    assert_eq!(
        api_time("accepted_at"),
        Some(device_time("accept")),
        "{row}"
    );
    assert_eq!(
        api_time("arrived_at"),
        Some(device_time("check_in")),
        "{row}"
    );
    assert_eq!(api_time("completed_at"), None, "{row}");
    assert_eq!(row["field"]["part_count"], 1, "{row}");
    assert_eq!(row["field"]["photo_count"], 0, "{row}");
    assert!(row["field"]["updated_at"].is_string(), "{row}");
    // The local and server documents are the same.
    assert_eq!(
        phone
            .client
            .heads(&ticket.to_string())
            .await
            .expect("heads"),
        doc.heads()
    );
    app.stop().await;
}

async fn reassignment_while_offline_keeps_earlier_edits(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdkreassign")
        .technicians(2)
        .build()
        .await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let old = Phone::signed_in(&app, &shop, 0).await;
    old.sync().await;

    // The old technician works offline; meanwhile dispatch reassigns.
    old.edit(ticket, note("Valve replaced before handover.\n"))
        .await;
    old.edit(ticket, status(StatusAction::Accept)).await;
    shop.assign(&app, ticket, shop.techs[1].id).await;

    let report = old.sync().await;
    assert_eq!(report.pending_edits, 0, "{report:?}");
    assert!(report.rejections.is_empty(), "{report:?}");
    assert!(
        report
            .docs_removed
            .iter()
            .any(|(id, _)| id == &ticket.to_string()),
        "{report:?}"
    );
    assert!(old.client.tickets().await.expect("list").is_empty());
    assert!(
        old.client
            .quarantine()
            .await
            .expect("quarantine")
            .is_empty()
    );

    let doc = server_doc(&app, &shop, ticket).await;
    assert_eq!(doc.notes(), "Valve replaced before handover.\n");
    // The old accept is kept in the document but does not count.
    assert!(doc.events().iter().any(|e| e.kind == StatusAction::Accept));
    let fold = doc.status();
    assert_eq!(fold.status.as_str(), "assigned");
    assert_eq!(fold.assignee, Some(shop.techs[1].id.to_string()));
    let row = server_ticket(&app, &shop, ticket).await;
    assert_eq!(row["status"], "assigned");
    assert_eq!(row["assignee_id"], json!(shop.techs[1].id));

    // The new technician receives it, old notes included.
    let new = Phone::signed_in(&app, &shop, 1).await;
    new.sync().await;
    let view = new
        .client
        .ticket(&ticket.to_string())
        .await
        .expect("arrived");
    assert_eq!(view.notes, "Valve replaced before handover.\n");
    new.edit(ticket, status(StatusAction::Accept)).await;
    new.sync().await;
    assert_eq!(
        server_ticket(&app, &shop, ticket).await["status"],
        "accepted"
    );

    // A later sync of the old phone does not bring it back.
    let report = old.sync().await;
    assert!(report.docs_added.is_empty(), "{report:?}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Refusals

/// Builds a phone's transport for a server address.
type MakeTransport = fn(&str) -> Arc<dyn Transport>;

/// Syncs a ticket to a phone, lets `spoil` make a bad local version, syncs
/// again and checks: the refusal names `code`, the server's document and
/// row are unchanged, the quarantine holds the bad version (with `marker`
/// in its notes), and the phone is back on the server's version.
async fn refused(
    backend: TestBackend,
    name: &str,
    code: ErrorCode,
    transport: Option<MakeTransport>,
    spoil: impl AsyncFnOnce(&Phone, Uuid),
) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, name).technicians(2).build().await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let mut config = ClientConfig::new(&app.base_url);
    if let Some(make) = transport {
        config.transport = Some(make(&app.base_url));
    }
    let phone = Phone::open(&app, config).await;
    phone
        .client
        .sign_in(&shop.tenant.name, &shop.techs[0].email, PASSWORD)
        .await
        .expect("signs in");
    phone.sync().await;
    phone.edit(ticket, note("good line\n")).await;
    phone.sync().await;
    let before = server_doc(&app, &shop, ticket).await.save();
    let row_before = server_ticket(&app, &shop, ticket).await;

    phone.edit(ticket, note("marker line\n")).await;
    spoil(&phone, ticket).await;
    let report = phone.client.sync_now().await.expect("sync runs");
    let rejection = report
        .rejections
        .iter()
        .find(|r| r.doc_id == ticket.to_string())
        .unwrap_or_else(|| panic!("no refusal: {report:?}"));
    assert_eq!(rejection.code, code, "{rejection:?}");
    assert!(!rejection.detail.is_empty());
    assert!(rejection.quarantine_id.is_some(), "{rejection:?}");

    // The server's data is unchanged.
    assert_eq!(server_doc(&app, &shop, ticket).await.save(), before);
    assert_eq!(server_ticket(&app, &shop, ticket).await, row_before);

    // The quarantine holds the refused version, readable and exportable.
    let quarantine = phone.client.quarantine().await.expect("quarantine");
    assert_eq!(quarantine.len(), 1, "{quarantine:?}");
    let kept = &quarantine[0];
    assert_eq!(kept.row.doc_id, ticket.to_string());
    let code_name = serde_json::to_value(code).expect("code");
    assert_eq!(json!(kept.row.code), code_name);
    let content = kept.content.as_ref().expect("readable");
    assert!(content.notes.contains("marker line"), "{}", content.notes);
    let exported = phone
        .client
        .export_quarantined(kept.row.id)
        .await
        .expect("export");
    let reread = TicketDoc::load_unvalidated(&exported).expect("exported bytes load");
    assert!(reread.notes().contains("marker line"));
    assert_eq!(
        phone.client.quarantine().await.expect("again").len(),
        1,
        "export keeps it"
    );
    assert!(
        !phone
            .client
            .outbox(Some("quarantined"))
            .await
            .expect("outbox")
            .is_empty(),
        "the refused edits are marked, not forgotten"
    );

    {
        // Back on the server's version, and editing works again.
        let report = phone.sync().await;
        assert!(report.rejections.is_empty(), "{report:?}");
        let local = phone
            .client
            .ticket(&ticket.to_string())
            .await
            .expect("local");
        assert_eq!(local.notes, "good line\n");
        phone.edit(ticket, note("after reset\n")).await;
        let report = phone.sync().await;
        assert!(report.rejections.is_empty(), "{report:?}");
        assert_eq!(
            server_doc(&app, &shop, ticket).await.notes(),
            "good line\nafter reset\n"
        );
    }
    app.stop().await;
}

async fn foreign_actor_goes_to_quarantine(backend: TestBackend) {
    refused(
        backend,
        "sdkforeign",
        ErrorCode::ForeignActor,
        None,
        async |phone, ticket| {
            phone
                .client
                .edit_unchecked(&ticket.to_string(), "foreign", |doc| {
                    doc.set_actor(ActorId::random());
                    doc.notes_append("written by a stranger\n")
                        .map_err(|e| e.to_string())
                })
                .await
                .expect("stored");
        },
    )
    .await;
}

async fn server_only_change_goes_to_quarantine(backend: TestBackend) {
    refused(
        backend,
        "sdkserveronly",
        ErrorCode::NotFieldEditable,
        None,
        async |phone, ticket| {
            phone
                .client
                .edit_unchecked(&ticket.to_string(), "cancel", |doc| {
                    let event = doc
                        .stamp_event(StatusAction::Cancel, chrono::Utc::now().timestamp_millis());
                    doc.append_event(&event).map_err(|e| e.to_string())
                })
                .await
                .expect("stored");
        },
    )
    .await;
}

async fn malformed_document_goes_to_quarantine(backend: TestBackend) {
    refused(
        backend,
        "sdkmalformed",
        ErrorCode::SchemaViolation,
        None,
        async |phone, ticket| {
            phone
                .client
                .edit_unchecked(&ticket.to_string(), "bad shape", |doc| {
                    // A checklist item whose label is a number, written with raw Automerge.
                    let mut raw = automerge::Automerge::load(&doc.save())
                        .map_err(|e| e.to_string())?
                        .with_actor(doc.actor().clone());
                    raw.transact::<_, _, automerge::AutomergeError>(|tx| {
                        let Some((_, list)) = tx.get(ROOT, "checklist")? else {
                            return Ok(());
                        };
                        let item = tx.insert_object(&list, 0, ObjType::Map)?;
                        tx.put(&item, "id", "bad-1")?;
                        tx.put(&item, "label", 42_i64)?;
                        tx.put(&item, "done", false)?;
                        Ok(())
                    })
                    .map_err(|f| f.error.to_string())?;
                    *doc = TicketDoc::load_unvalidated(&raw.save()).map_err(|e| e.to_string())?;
                    Ok(())
                })
                .await
                .expect("stored");
        },
    )
    .await;
}

/// Replaces the data of the first `sync` frame carrying the marker edit
/// with bytes that are not a sync message.
#[derive(Debug)]
struct Garbling(HttpTransport);

#[async_trait]
impl Transport for Garbling {
    async fn exchange(&self, token: &str, request: &Exchange) -> SdkResult<Exchange> {
        let mut request = request.clone();
        for frame in &mut request.frames {
            if let Message::Sync { data, .. } = frame
                && data.windows(11).any(|w| w == b"marker line")
            {
                *data = vec![0x42, 0xff, 0x13, 0x37, 0x00, 0x99, 0x01];
            }
        }
        self.0.exchange(token, &request).await
    }
}

async fn garbage_bytes_go_to_quarantine(backend: TestBackend) {
    fn garbling(base: &str) -> Arc<dyn Transport> {
        Arc::new(Garbling(
            HttpTransport::new(truckroll_sdk::BaseUrl::new(base)).expect("http"),
        ))
    }
    refused(
        backend,
        "sdkgarbage",
        ErrorCode::MalformedSyncMessage,
        Some(garbling),
        async |_, _| {},
    )
    .await;
}

async fn oversize_message_goes_to_quarantine(backend: TestBackend) {
    refused(
        backend,
        "sdkoversize",
        ErrorCode::LimitExceeded,
        None,
        async |phone, ticket| {
            // 5 MB of incompressible text in one value: a sync message over 4 MiB.
            let mut rng = fastrand::Rng::with_seed(7);
            let blob: String = (0..5_000_000).map(|_| rng.alphanumeric()).collect();
            phone
                .edit(
                    ticket,
                    Edit::SetCustom {
                        key: "blob".into(),
                        value: CustomValue::Str(blob),
                    },
                )
                .await;
        },
    )
    .await;
}

async fn document_outside_the_set_goes_to_quarantine(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdknotinset")
        .technicians(2)
        .build()
        .await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    phone.sync().await;
    for action in [StatusAction::Accept, StatusAction::StartTravel] {
        phone.edit(ticket, status(action)).await;
    }
    phone
        .edit(
            ticket,
            Edit::Status {
                action: StatusAction::CheckIn,
                position: Some(Position {
                    lat: 52.5163,
                    lon: 13.3795,
                    accuracy_m: None,
                }),
                reason: None,
            },
        )
        .await;
    phone.edit(ticket, status(StatusAction::CompleteWork)).await;
    phone.sync().await;
    assert_eq!(
        server_ticket(&app, &shop, ticket).await["status"],
        "work_done"
    );
    // The dispatcher closes the ticket: its document is frozen, no grace.
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &shop.tenant.admin_token,
        &json!({"status": "closed"}),
    )
    .await
    .expect(StatusCode::OK);
    let before = server_doc(&app, &shop, ticket).await.save();
    let row_before = server_ticket(&app, &shop, ticket).await;

    // Offline, the phone adds a note, then syncs.
    phone.edit(ticket, note("marker line\n")).await;
    let report = phone.client.sync_now().await.expect("sync runs");
    let rejection = report
        .rejections
        .iter()
        .find(|r| r.doc_id == ticket.to_string())
        .unwrap_or_else(|| panic!("no refusal: {report:?}"));
    assert_eq!(rejection.code, ErrorCode::NotInSet, "{rejection:?}");
    assert!(rejection.quarantine_id.is_some());
    assert_eq!(server_doc(&app, &shop, ticket).await.save(), before);
    assert_eq!(server_ticket(&app, &shop, ticket).await, row_before);
    let quarantine = phone.client.quarantine().await.expect("quarantine");
    assert_eq!(quarantine.len(), 1);
    assert_eq!(quarantine[0].row.code, "not_in_set");
    let content = quarantine[0].content.as_ref().expect("readable");
    assert!(content.notes.contains("marker line"));
    assert!(phone.client.tickets().await.expect("list").is_empty());
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Process death: the SDK as a real process, killed with SIGKILL

async fn cli_phone(app: &TestApp, shop: &Shop) -> (TempGuard, std::path::PathBuf, Uuid) {
    let ticket = shop.assigned_ticket(app, shop.techs[0].id).await;
    let phone = CliPhone::sign_in(
        SDK_PHONE,
        &app.base_url,
        &shop.tenant.name,
        &shop.techs[0].email,
    )
    .await;
    (phone.dir, phone.db, ticket)
}

fn note_lines(notes: &str, prefix: &str) -> Vec<u32> {
    notes
        .lines()
        .filter_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
        .collect()
}

async fn killed_between_edit_and_sync_loses_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdkkilledit")
        .technicians(2)
        .build()
        .await;
    let (_dir, db, ticket) = cli_phone(&app, &shop).await;
    let server = app.base_url.clone();
    let t = ticket.to_string();
    let (acked, notes_after) = tokio::task::spawn_blocking(move || {
        // Killed while writing edits as fast as it can, after at least 40.
        let lines = kill_when(
            SDK_PHONE,
            &db,
            &server,
            &["note-loop", &t, "--count", "100000", "--prefix", "line"],
            |l| l == "ack 40",
        );
        let acked: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ack ")?.parse().ok())
            .collect();
        // Restarted: every acknowledged edit is still there, then syncs.
        let shown: Value =
            serde_json::from_str(&phone_cli(SDK_PHONE, &db, &server, &["show", &t])).expect("json");
        let local = note_lines(shown["notes"].as_str().unwrap_or_default(), "line ");
        let report: Value =
            serde_json::from_str(&phone_cli(SDK_PHONE, &db, &server, &["sync"])).expect("json");
        assert_eq!(report["pending_edits"], 0, "{report}");
        assert_eq!(report["converged"], true, "{report}");
        (acked, local)
    })
    .await
    .expect("cli");
    for n in &acked {
        assert!(
            notes_after.contains(n),
            "acknowledged edit {n} lost locally"
        );
    }
    let on_server = note_lines(&server_doc(&app, &shop, ticket).await.notes(), "line ");
    assert_eq!(
        on_server, notes_after,
        "the server has exactly what the phone kept"
    );
    assert!(on_server.len() >= acked.len());
    app.stop().await;
}

async fn killed_mid_sync_loses_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdkkillsync")
        .technicians(2)
        .build()
        .await;
    let (_dir, db, ticket) = cli_phone(&app, &shop).await;
    let server = app.base_url.clone();
    let t = ticket.to_string();
    let local = tokio::task::spawn_blocking(move || {
        phone_cli(
            SDK_PHONE,
            &db,
            &server,
            &["note-loop", &t, "--count", "150", "--prefix", "entry"],
        );
        phone_cli(SDK_PHONE, &db, &server, &["status", &t, "accept"]);
        // Killed after the server applied the first request, before the
        // phone recorded the answer.
        kill_when(
            SDK_PHONE,
            &db,
            &server,
            &["sync", "--stall-after-exchange"],
            |l| l == "exchanged",
        );
        let report: Value =
            serde_json::from_str(&phone_cli(SDK_PHONE, &db, &server, &["sync"])).expect("json");
        assert_eq!(report["pending_edits"], 0, "{report}");
        assert_eq!(report["converged"], true, "{report}");
        let outbox: Value = serde_json::from_str(&phone_cli(
            SDK_PHONE,
            &db,
            &server,
            &["outbox", "--state", "pending"],
        ))
        .expect("json");
        assert_eq!(outbox, json!([]));
        let shown: Value =
            serde_json::from_str(&phone_cli(SDK_PHONE, &db, &server, &["show", &t])).expect("json");
        shown["notes"].as_str().unwrap_or_default().to_owned()
    })
    .await
    .expect("cli");
    assert_eq!(note_lines(&local, "entry "), (0..150).collect::<Vec<_>>());
    let doc = server_doc(&app, &shop, ticket).await;
    assert_eq!(doc.notes(), local);
    assert_eq!(
        server_ticket(&app, &shop, ticket).await["status"],
        "accepted"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Device times

/// The system clock shifted by an adjustable offset.
#[derive(Debug, Default)]
struct SkewedClock(std::sync::atomic::AtomicI64);

impl truckroll_sdk::Clock for SkewedClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn implausible_device_times_are_bounded_and_flagged(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdkskew").technicians(2).build().await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let created = chrono::DateTime::parse_from_rfc3339(
        server_ticket(&app, &shop, ticket).await["created_at"]
            .as_str()
            .expect("created_at"),
    )
    .expect("rfc 3339")
    .timestamp_millis();
    let clock = Arc::new(SkewedClock::default());
    let mut config = ClientConfig::new(&app.base_url);
    config.clock = clock.clone();
    let phone = Phone::open(&app, config).await;
    phone
        .client
        .sign_in(&shop.tenant.name, &shop.techs[0].email, PASSWORD)
        .await
        .expect("signs in");
    phone.sync().await;

    // Accepted "three hours from now", checked in "ten days ago".
    let hour = 3_600_000;
    clock.0.store(3 * hour, std::sync::atomic::Ordering::SeqCst);
    phone.edit(ticket, status(StatusAction::Accept)).await;
    phone.edit(ticket, status(StatusAction::StartTravel)).await;
    clock
        .0
        .store(-240 * hour, std::sync::atomic::Ordering::SeqCst);
    phone.edit(ticket, status(StatusAction::CheckIn)).await;
    let future = chrono::Utc::now().timestamp_millis() + 2 * hour;
    phone.sync().await;
    let synced = chrono::Utc::now().timestamp_millis();

    // The document keeps the device's times.
    let doc = server_doc(&app, &shop, ticket).await;
    let accept = doc
        .events()
        .into_iter()
        .find(|e| e.kind == StatusAction::Accept)
        .expect("accept kept");
    assert!(accept.device_time > future, "device time rewritten");
    let check_in = doc
        .events()
        .into_iter()
        .find(|e| e.kind == StatusAction::CheckIn)
        .expect("check-in kept");
    assert!(check_in.device_time < created);
    assert_eq!(doc.status().status.as_str(), "on_site");

    // The columns hold bounded server-side times.
    let columns = app
        .state
        .store
        .field_columns(shop.tenant.id, ticket)
        .await
        .expect("columns");
    let accepted_at = columns.accepted_at.expect("accepted_at").timestamp_millis();
    assert!(
        accepted_at <= synced && accepted_at >= created,
        "{accepted_at}"
    );
    assert_eq!(
        columns.arrived_at.map(|t| t.timestamp_millis()),
        Some(created)
    );

    // And the merge is flagged in the audit log.
    let audit = app
        .get("/v1/audit?limit=200", &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK)
        .to_string();
    assert!(audit.contains("implausible_times"), "{audit}");
    assert!(
        audit.contains("after_receipt") && audit.contains("before_ticket"),
        "{audit}"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The background engine: connectivity, retries, tokens

/// Waits (bounded, so a broken SDK fails instead of hanging) until the SDK
/// has reported every change in `wanted`, in any order.
async fn changes_seen(changes: &mut tokio::sync::broadcast::Receiver<Change>, wanted: &[Change]) {
    let mut missing: Vec<&Change> = wanted.iter().collect();
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while !missing.is_empty() {
            match changes.recv().await {
                Ok(c) => missing.retain(|w| **w != c),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("change stream ended: {e}"),
            }
        }
    })
    .await;
    assert!(missing.is_empty(), "the SDK never reported {missing:?}");
}

async fn sync_loop_wakes_on_connectivity_and_edits(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdkloop").technicians(2).build().await;
    let first = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let Phone { client, dir: _dir } = Phone::signed_in(&app, &shop, 0).await;
    let client = Arc::new(client);
    let mut changes = client.subscribe();
    client.set_online(false);
    // The interval is an hour: every sync below is caused by a wake-up
    // (going online, an edit), not by the timer.
    let backoff = Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(50),
        attempts: 5,
    };
    let looping = tokio::spawn(
        client
            .clone()
            .run_sync_loop(backoff, Duration::from_secs(3600)),
    );

    client.set_online(true);
    let id = first.to_string();
    changes_seen(
        &mut changes,
        &[
            Change::Added { doc_id: id.clone() },
            Change::Ready { doc_id: id.clone() },
        ],
    )
    .await;

    client
        .edit(&first.to_string(), note("written while the loop runs"))
        .await
        .expect("edit stored");
    changes_seen(&mut changes, &[Change::Edited { doc_id: id.clone() }]).await;
    // The server stores the edit before the phone has read the answer that
    // settles its outbox: wait for both.
    let mut arrived = false;
    let mut settled = false;
    for _ in 0..600 {
        arrived = arrived
            || server_doc(&app, &shop, first)
                .await
                .notes()
                .contains("written while the loop runs");
        settled = client
            .outbox(Some("pending"))
            .await
            .expect("outbox")
            .is_empty();
        if arrived && settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(arrived, "the loop did not sync the edit");
    assert!(settled, "the phone's outbox still holds the edit");

    // The dispatcher moves the ticket away and assigns another; reporting
    // connectivity again wakes the loop, which brings both changes.
    let second = shop.assigned_ticket(&app, shop.techs[0].id).await;
    shop.assign(&app, first, shop.techs[1].id).await;
    client.set_online(true);
    changes_seen(
        &mut changes,
        &[
            Change::Added {
                doc_id: second.to_string(),
            },
            Change::Removed { doc_id: id },
        ],
    )
    .await;
    looping.abort();
    app.stop().await;
}

/// A network that fails the first `failures` exchanges, then passes them on.
#[derive(Debug)]
struct Flaky {
    inner: HttpTransport,
    failures: AtomicU32,
    calls: AtomicU32,
    /// The error to fail with: retryable (network) or not (a 400 answer).
    retryable: bool,
}

#[async_trait]
impl Transport for Flaky {
    async fn exchange(&self, token: &str, request: &Exchange) -> SdkResult<Exchange> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        match (failing, self.retryable) {
            (false, _) => self.inner.exchange(token, request).await,
            (true, true) => Err(SdkError::Transport("connection refused (test)".into())),
            (true, false) => Err(SdkError::Api {
                status: 400,
                detail: "refused (test)".into(),
            }),
        }
    }
}

async fn transient_failures_are_retried_with_backoff(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdkretry").technicians(2).build().await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let flaky = Arc::new(Flaky {
        inner: HttpTransport::new(truckroll_sdk::BaseUrl::new(&app.base_url)).expect("http"),
        failures: AtomicU32::new(3),
        calls: AtomicU32::new(0),
        retryable: true,
    });
    let mut config = ClientConfig::new(&app.base_url);
    config.transport = Some(flaky.clone());
    let phone = Phone::open(&app, config).await;
    phone
        .client
        .sign_in(&shop.tenant.name, &shop.techs[0].email, PASSWORD)
        .await
        .expect("signs in");
    let backoff = Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(10),
        attempts: 5,
    };

    // Three network failures, then the fourth attempt syncs.
    let report = phone
        .client
        .sync_with_retries(&backoff)
        .await
        .expect("syncs after retries");
    assert!(report.converged, "{report:?}");
    assert_eq!(report.docs_added, vec![ticket.to_string()]);
    assert_eq!(
        flaky.calls.load(Ordering::SeqCst) as usize,
        3 + report.requests,
        "one exchange per failed attempt, then the whole sync"
    );

    // A network that stays down: exactly `attempts` tries, then the error.
    phone.edit(ticket, note("offline note")).await;
    flaky.failures.store(100, Ordering::SeqCst);
    flaky.calls.store(0, Ordering::SeqCst);
    let err = phone
        .client
        .sync_with_retries(&backoff)
        .await
        .expect_err("network stays down");
    assert!(matches!(err, SdkError::Transport(_)), "{err}");
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 5);
    assert_eq!(
        phone
            .client
            .outbox(Some("pending"))
            .await
            .expect("outbox")
            .len(),
        1,
        "the edit waits in the outbox"
    );

    // An error retrying cannot fix ends at once.
    let refusing = Arc::new(Flaky {
        inner: HttpTransport::new(truckroll_sdk::BaseUrl::new(&app.base_url)).expect("http"),
        failures: AtomicU32::new(100),
        calls: AtomicU32::new(0),
        retryable: false,
    });
    let Phone { client, dir } = phone;
    drop(client);
    let mut config = ClientConfig::new(&app.base_url);
    config.transport = Some(refusing.clone());
    let client = Client::open(&dir.path().join("phone.db"), config)
        .await
        .expect("reopens");
    let err = client
        .sync_with_retries(&backoff)
        .await
        .expect_err("refused");
    assert!(matches!(err, SdkError::Api { status: 400, .. }), "{err}");
    assert_eq!(refusing.calls.load(Ordering::SeqCst), 1);
    drop(client);

    // The network is back: the note made during the outage arrives.
    let phone = Phone {
        client: Client::open(
            &dir.path().join("phone.db"),
            ClientConfig::new(&app.base_url),
        )
        .await
        .expect("reopens"),
        dir,
    };
    phone.sync().await;
    assert!(
        server_doc(&app, &shop, ticket)
            .await
            .notes()
            .contains("offline note")
    );
    app.stop().await;
}

/// Overwrites the stored session's tokens, as time (expiry) or the server
/// (revocation) would make them useless.
async fn spoil_tokens(phone: &Phone, fields: &[&str]) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        phone.dir.path().join("phone.db").display()
    ))
    .await
    .expect("open phone db");
    for field in fields {
        sqlx::query("UPDATE meta SET value = json_set(value, ?, 'spoiled') WHERE key = 'session'")
            .bind(format!("$.{field}"))
            .execute(&mut conn)
            .await
            .expect("spoil token");
    }
    conn.close().await.expect("close");
}

async fn expired_access_token_is_refreshed_during_sync(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sdktokens")
        .technicians(2)
        .build()
        .await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    let before = phone
        .client
        .session()
        .await
        .expect("session")
        .expect("signed in");

    spoil_tokens(&phone, &["access_token"]).await;
    let report = phone.sync().await;
    assert_eq!(report.docs_added, vec![ticket.to_string()]);
    let after = phone
        .client
        .session()
        .await
        .expect("session")
        .expect("still signed in");
    assert_ne!(after.access_token, "spoiled");
    assert_ne!(
        after.refresh_token, before.refresh_token,
        "the refresh token was used (and rotated)"
    );

    // Both tokens useless: the app must sign in again; nothing local is lost.
    phone.edit(ticket, note("kept while signed out")).await;
    spoil_tokens(&phone, &["access_token", "refresh_token"]).await;
    let err = phone.client.sync_now().await.expect_err("must sign in");
    assert!(matches!(err, SdkError::Unauthorized(_)), "{err}");
    assert!(!err.is_retryable());
    phone
        .client
        .sign_in(&shop.tenant.name, &shop.techs[0].email, PASSWORD)
        .await
        .expect("signs in again");
    phone.sync().await;
    assert!(
        server_doc(&app, &shop, ticket)
            .await
            .notes()
            .contains("kept while signed out")
    );
    app.stop().await;
}
