//! Smaller catch-ups (issue 18, item 3): a burst of offline edits travels as
//! one Automerge change per document with every event's device time kept in
//! the data, and sync bodies are gzipped when both sides say so — a client
//! from before compression still syncs, plain.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::StatusCode;
use serde_json::json;
use truckroll_sdk::truckroll_sync::{
    ActorId, Position, StatusAction, StatusEvent, TicketDoc, TimeEntryKind,
};
use truckroll_sdk::{BaseUrl, Client, ClientConfig, Clock, Edit, HttpTransport};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    a_burst_travels_as_one_change_with_every_device_time,
    an_old_uncompressed_client_still_syncs_and_a_new_one_compresses,
    a_sync_batch_is_read_as_the_sync_frames_it_carries,
);

/// A device clock that moves on 7 s at every reading, so no two edits share
/// a device time.
#[derive(Debug)]
struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now_ms(&self) -> i64 {
        self.0.fetch_add(7_000, Ordering::SeqCst)
    }
}

async fn phone(
    app: &TestApp,
    shop: &Shop,
    tech: usize,
    config: ClientConfig,
) -> (Client, TempGuard) {
    let dir = TempGuard::new("truckroll-catchup-");
    let client = Client::open(&dir.path().join("phone.db"), config)
        .await
        .expect("SDK opens");
    client
        .sign_in(&shop.tenant.name, &shop.techs[tech].email, PASSWORD)
        .await
        .expect("signs in");
    let _ = app;
    (client, dir)
}

async fn sync(client: &Client) -> truckroll_sdk::SyncReport {
    let report = client.sync_now().await.expect("sync runs");
    assert!(report.converged, "{report:?}");
    report
}

async fn edit(client: &Client, ticket: Uuid, edit: Edit) -> Option<String> {
    client
        .edit(&ticket.to_string(), edit)
        .await
        .expect("edit stored")
}

/// Changes of `doc` made by `actor`.
fn changes_by(doc: &TicketDoc, actor: &ActorId) -> usize {
    doc.as_automerge()
        .get_changes(&[])
        .iter()
        .filter(|c| c.actor_id() == actor)
        .count()
}

async fn local_doc(client: &Client, ticket: Uuid) -> TicketDoc {
    TicketDoc::load_unvalidated(
        &client
            .document_bytes(&ticket.to_string())
            .await
            .expect("bytes"),
    )
    .expect("loads")
}

fn by_id(events: &[StatusEvent]) -> Vec<(String, String, i64)> {
    let mut out: Vec<(String, String, i64)> = events
        .iter()
        .map(|e| (e.id.clone(), e.kind.as_str().to_owned(), e.device_time))
        .collect();
    out.sort();
    out
}

async fn a_burst_travels_as_one_change_with_every_device_time(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "coalesce").technicians(1).build().await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let start = chrono::Utc::now().timestamp_millis();
    let mut config = ClientConfig::new(&app.base_url);
    config.clock = Arc::new(SteppingClock(AtomicI64::new(start)));
    let (client, _dir) = phone(&app, &shop, 0, config).await;
    sync(&client).await;

    // A burst offline: three status events, a checklist item ticked, a time
    // entry, notes — eleven edits, each its own change on the phone.
    let position = Some(Position {
        lat: 52.52,
        lon: 13.40,
        accuracy_m: Some(8.0),
    });
    for (action, position) in [
        (StatusAction::Accept, None),
        (StatusAction::StartTravel, None),
        (StatusAction::CheckIn, position),
    ] {
        edit(
            &client,
            ticket,
            Edit::Status {
                action,
                position,
                reason: None,
            },
        )
        .await;
    }
    let item = edit(
        &client,
        ticket,
        Edit::AddChecklistItem {
            label: "Check refrigerant".into(),
        },
    )
    .await
    .expect("item id");
    edit(
        &client,
        ticket,
        Edit::SetChecklistDone {
            item_id: item.clone(),
            done: true,
        },
    )
    .await;
    edit(
        &client,
        ticket,
        Edit::AddTimeEntry {
            kind: TimeEntryKind::Work,
            started_at: start + 60_000,
            ended_at: Some(start + 120_000),
        },
    )
    .await;
    for n in 0..5 {
        edit(
            &client,
            ticket,
            Edit::NotesAppend {
                text: format!("line {n}\n"),
            },
        )
        .await;
    }
    let before = local_doc(&client, ticket).await;
    let events = before.events();
    let accepted = events
        .iter()
        .find(|e| e.kind == StatusAction::Accept)
        .expect("accepted");
    let device_hex = accepted.actor.clone();
    let device = ActorId::from(
        (0..device_hex.len() / 2)
            .map(|i| u8::from_str_radix(&device_hex[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect::<Vec<u8>>(),
    );
    assert_eq!(
        changes_by(&before, &device),
        11,
        "one change per edit on the phone"
    );
    let device_events: Vec<&StatusEvent> =
        events.iter().filter(|e| e.actor == device_hex).collect();
    assert_eq!(device_events.len(), 3);
    let mut times: Vec<i64> = device_events.iter().map(|e| e.device_time).collect();
    times.dedup();
    assert_eq!(times.len(), 3, "three distinct device times");
    let done_at = before
        .checklist()
        .iter()
        .find(|i| i.id == item)
        .and_then(|i| i.done_at);
    assert!(done_at.is_some());
    let outbox = client.outbox(Some("pending")).await.expect("outbox");
    assert_eq!(outbox.len(), 11);

    sync(&client).await;
    let server = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("server doc")
        .doc;
    assert_eq!(
        changes_by(&server, &device),
        1,
        "the burst reached the server as one change"
    );
    let after = local_doc(&client, ticket).await;
    assert_eq!(
        changes_by(&after, &device),
        1,
        "and the phone holds the same"
    );
    assert_eq!(after.heads(), server.heads());
    // Every event's device time, the tick's time and the time entry, as made.
    assert_eq!(by_id(&server.events()), by_id(&after.events()));
    assert_eq!(by_id(&server.events()), by_id(&events));
    assert_eq!(
        server
            .checklist()
            .iter()
            .find(|i| i.id == item)
            .and_then(|i| i.done_at),
        done_at,
        "the item keeps its id and its tick time"
    );
    assert_eq!(server.time_entries()[0].started_at, start + 60_000);
    assert_eq!(server.notes(), before.notes());
    // The outbox rows, each with its own device time, are all acknowledged.
    let acked = client.outbox(Some("acked")).await.expect("outbox");
    assert_eq!(acked.len(), 11);
    let mut edit_times: Vec<i64> = acked.iter().map(|e| e.device_time).collect();
    edit_times.dedup();
    assert_eq!(edit_times.len(), 11, "each edit keeps its device time");
    assert!(
        client
            .outbox(Some("pending"))
            .await
            .expect("outbox")
            .is_empty()
    );

    // A second burst is a second change; what was sent is never re-cut.
    for n in 0..3 {
        edit(
            &client,
            ticket,
            Edit::NotesAppend {
                text: format!("later {n}\n"),
            },
        )
        .await;
    }
    sync(&client).await;
    let server = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("server doc")
        .doc;
    assert_eq!(changes_by(&server, &device), 2);
    assert!(server.notes().ends_with("later 0\nlater 1\nlater 2\n"));
    app.stop().await;
}

async fn an_old_uncompressed_client_still_syncs_and_a_new_one_compresses(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "gzipsync").technicians(2).build().await;
    let mut wire = Vec::new();
    for (tech, transport) in [
        (
            0,
            HttpTransport::uncompressed(BaseUrl::new(&app.base_url)).expect("http"),
        ),
        (
            1,
            HttpTransport::new(BaseUrl::new(&app.base_url)).expect("http"),
        ),
    ] {
        let ticket = shop.assigned_ticket(&app, shop.techs[tech].id).await;
        let transport = Arc::new(transport);
        let mut config = ClientConfig::new(&app.base_url);
        config.transport = Some(transport.clone());
        let (client, _dir) = phone(&app, &shop, tech, config).await;
        sync(&client).await;
        for n in 0..40 {
            edit(
                &client,
                ticket,
                Edit::NotesAppend {
                    text: format!("{n}: pressure checked, valve replaced, unit running. "),
                },
            )
            .await;
        }
        let (sent_before, received_before) = transport.wire_bytes();
        let report = sync(&client).await;
        let (sent, received) = transport.wire_bytes();
        let server = app
            .ticket_doc(shop.tenant.id, ticket)
            .await
            .expect("server doc")
            .doc;
        assert!(
            server.notes().contains("39: pressure checked"),
            "tech {tech}"
        );
        wire.push((
            sent - sent_before,
            report.bytes_sent,
            received - received_before,
            report.bytes_received,
        ));
    }
    let (old_sent, old_json, old_received, _) = wire[0];
    assert_eq!(old_sent, old_json, "the old client sends plain JSON");
    assert!(old_received > 0);
    let (new_sent, new_json, _, _) = wire[1];
    assert!(
        new_sent * 2 < new_json,
        "the new client's catch-up is gzipped: {new_sent} B on the wire for {new_json} B of JSON"
    );

    // Raw: no Accept-Encoding, a plain answer that says gzip is welcome; a
    // body that does not inflate, or in a coding the server lacks, is refused.
    let tech = &shop.techs[0];
    let actor = ActorId::random();
    let device = app
        .post(
            "/v1/devices",
            &tech.token,
            &json!({"platform": "android", "actor_id": actor.to_hex_string()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let hello = json!({"frames": [{"type": "hello", "version": 1,
                                   "device_id": id_of(&device, "id").to_string()}]});
    let url = format!("{}/v1/sync", app.base_url);
    let plain = app
        .client
        .post(&url)
        .bearer_auth(&tech.token)
        .header("content-type", "application/json")
        .body(hello.to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(
        plain
            .headers()
            .get("accept-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let frames: serde_json::Value = plain.json().await.expect("JSON");
    assert_eq!(frames["frames"][0]["type"], "hello");
    for (coding, status) in [
        ("gzip", StatusCode::BAD_REQUEST),
        ("br", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let refused = app
            .client
            .post(&url)
            .bearer_auth(&tech.token)
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body("not compressed at all")
            .send()
            .await
            .expect("answer");
        assert_eq!(refused.status(), status, "{coding}");
        assert_eq!(
            refused
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    }
    app.stop().await;
}

/// A device's `sync` frames deflated into one `sync_batch` frame (PROTOCOL.md
/// §3.4): the server offers it on every answer and applies each message in
/// it as if it had come in its own frame.
async fn a_sync_batch_is_read_as_the_sync_frames_it_carries(backend: TestBackend) {
    use truckroll_sdk::truckroll_sync::SyncState;
    use truckroll_sdk::truckroll_sync::protocol::{Exchange, Message, SYNC_BATCH_HEADER};

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "syncbatch")
        .technicians(1)
        .build()
        .await;
    let tech = &shop.techs[0];
    let tickets = [
        shop.assigned_ticket(&app, tech.id).await,
        shop.assigned_ticket(&app, tech.id).await,
    ];
    let actor = ActorId::random();
    let device = app
        .post(
            "/v1/devices",
            &tech.token,
            &json!({"platform": "android", "actor_id": actor.to_hex_string()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let hello = Message::Hello {
        version: 1,
        device_id: id_of(&device, "id").to_string(),
    };
    let url = format!("{}/v1/sync", app.base_url);
    let post = |body: String| {
        app.client
            .post(&url)
            .bearer_auth(&tech.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // The first answer carries both documents whole, and the offer.
    let first = post(
        Exchange {
            frames: vec![hello.clone()],
        }
        .encode(),
    )
    .await
    .expect("answer");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        first
            .headers()
            .get(SYNC_BATCH_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let answer = Exchange::decode(&first.text().await.expect("body")).expect("frames");
    let mut frames = vec![hello.clone()];
    for (n, ticket) in tickets.iter().enumerate() {
        let id = ticket.to_string();
        let mut doc = TicketDoc::new(&id, actor.clone()).expect("doc");
        let mut state = SyncState::new();
        for frame in &answer.frames {
            if let Message::Sync { doc_id, data } = frame
                && *doc_id == id
            {
                doc.receive_sync_message(&mut state, data)
                    .expect("server message");
            }
        }
        doc.notes_append(&format!("batched note {n}"))
            .expect("edit");
        state.sent_hashes.clear();
        let data = doc.generate_sync_message(&mut state).expect("a message");
        frames.push(Message::Sync { doc_id: id, data });
    }

    let body = Exchange { frames }.encode_batched();
    assert!(body.contains("\"sync_batch\"") && !body.contains("\"sync\""));
    let second = post(body).await.expect("answer");
    assert_eq!(second.status(), StatusCode::OK);
    let answer = Exchange::decode(&second.text().await.expect("body")).expect("frames");
    assert!(
        !answer
            .frames
            .iter()
            .any(|f| matches!(f, Message::Error { .. })),
        "{answer:?}"
    );
    for (n, ticket) in tickets.iter().enumerate() {
        let server = app
            .ticket_doc(shop.tenant.id, *ticket)
            .await
            .expect("server doc")
            .doc;
        assert!(
            server.notes().contains(&format!("batched note {n}")),
            "ticket {n}: {:?}",
            server.notes()
        );
    }

    // A batch that does not decode is one error for the session's frames,
    // not a failed request.
    let bad = json!({"frames": [hello, {"type": "sync_batch", "data": "QUJD"}]});
    let refused = post(bad.to_string()).await.expect("answer");
    assert_eq!(refused.status(), StatusCode::OK);
    let answer = Exchange::decode(&refused.text().await.expect("body")).expect("frames");
    assert!(
        answer.frames.iter().any(|f| matches!(
            f,
            Message::Error {
                doc_id: None,
                code: truckroll_sdk::truckroll_sync::protocol::ErrorCode::MalformedFrame,
                ..
            }
        )),
        "{answer:?}"
    );
    app.stop().await;
}
