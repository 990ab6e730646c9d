//! Ticket-document sync through the real HTTP API (server side):
//! `POST /v1/sync` one-shot exchanges and the `GET /v1/sync` WebSocket, with
//! the phone played by `TicketDoc` directly. Every scenario runs on SQLite
//! and PostgreSQL.

use std::collections::HashMap;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sync::protocol::{ErrorCode, Exchange, Message, RemovalReason};
use truckroll_sync::{ActorId, NewPart, Status, StatusAction, SyncState, TicketDoc};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    declining_through_sync_unassigns,
    offline_edits_sync_and_project,
    foreign_actor_is_refused_and_nothing_changes,
    tickets_outside_the_set_are_refused,
    reassignment_moves_the_document,
    websocket_carries_the_same_frames,
    two_devices_editing_notes_converge,
    two_devices_syncing_many_documents_at_once_lose_nothing,
    storage_compacts_past_the_threshold,
    unknown_frames_are_skipped_on_both_transports,
    websocket_closes_with_documented_codes,
    a_bad_frame_fails_only_its_document,
    field_events_without_assignment_are_refused,
    removal_reasons_reveal_nothing,
    string_limits_count_unicode_scalar_values,
    answer_frames_come_in_the_documented_order,
    reply_asks_for_the_dependency_of_a_queued_change,
    shutdown_closes_websockets_with_going_away,
);

// ---------------------------------------------------------------------------
// Fixture and phone

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A phone: registered device, its actor, documents and sync states.
struct Phone {
    device_id: Uuid,
    token: String,
    actor: ActorId,
    docs: HashMap<String, (TicketDoc, SyncState)>,
    removed: Vec<(String, RemovalReason)>,
    errors: Vec<(Option<String>, ErrorCode, String)>,
}

impl Phone {
    async fn register(app: &TestApp, token: &str) -> Self {
        let actor = ActorId::random();
        let device = app
            .post(
                "/v1/devices",
                token,
                &json!({"platform": "android", "actor_id": actor.to_hex_string()}),
            )
            .await
            .expect(StatusCode::CREATED);
        Self {
            device_id: id_of(&device, "id"),
            token: token.to_owned(),
            actor,
            docs: HashMap::new(),
            removed: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn hello(&self) -> Message {
        Message::Hello {
            version: 1,
            device_id: self.device_id.to_string(),
        }
    }

    fn doc(&mut self, id: Uuid) -> &mut TicketDoc {
        &mut self
            .docs
            .get_mut(&id.to_string())
            .expect("phone holds the ticket")
            .0
    }

    /// Outgoing `sync` frames for every held document.
    fn outgoing(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        for (id, (doc, state)) in &mut self.docs {
            if let Some(data) = doc.generate_sync_message(state) {
                out.push(Message::Sync {
                    doc_id: id.clone(),
                    data,
                });
            }
        }
        out
    }

    fn apply(&mut self, frame: Message) {
        match frame {
            Message::DocAdded { doc_id } => {
                if !self.docs.contains_key(&doc_id) {
                    let doc = TicketDoc::new(&doc_id, self.actor.clone()).expect("skeleton");
                    self.docs.insert(doc_id, (doc, SyncState::new()));
                }
            }
            Message::DocRemoved { doc_id, reason } => {
                self.docs.remove(&doc_id);
                self.removed.push((doc_id, reason));
            }
            Message::Sync { doc_id, data } => {
                if let Some((doc, state)) = self.docs.get_mut(&doc_id) {
                    doc.receive_sync_message(state, &data)
                        .expect("server message applies");
                }
            }
            Message::Error {
                doc_id,
                code,
                detail,
            } => self.errors.push((doc_id, code, detail)),
            // Job packets (PROTOCOL.md §4) are not what these tests check.
            Message::Hello { .. } | Message::Packet { .. } | Message::PacketHave { .. } => {}
        }
    }

    /// One `POST /v1/sync`; returns (frames sent, frames received).
    async fn round(&mut self, app: &TestApp, extra: Vec<Message>) -> (Vec<Message>, Vec<Message>) {
        let mut frames = vec![self.hello()];
        frames.extend(self.outgoing());
        frames.extend(extra);
        let sent = frames.clone();
        let body: Value = serde_json::from_str(&Exchange { frames }.encode()).expect("json");
        let reply = app
            .post("/v1/sync", &self.token, &body)
            .await
            .expect(StatusCode::OK);
        let received = Exchange::decode(&reply.to_string())
            .expect("exchange")
            .frames;
        assert!(
            matches!(received.first(), Some(Message::Hello { .. })),
            "{received:?}"
        );
        for frame in received.clone() {
            self.apply(frame);
        }
        (sent, received)
    }

    /// Exchanges until the phone has nothing more to send after applying
    /// the answer (PROTOCOL.md 3.4; at most eight requests).
    async fn sync(&mut self, app: &TestApp) {
        for _ in 0..8 {
            self.round(app, Vec::new()).await;
            if self.outgoing_is_empty() {
                return;
            }
        }
        panic!("sync did not converge in eight exchanges");
    }

    fn outgoing_is_empty(&mut self) -> bool {
        // Generating advances the in-memory state; clone to peek.
        self.docs
            .values()
            .all(|(doc, state)| doc.generate_sync_message(&mut state.clone()).is_none())
    }

    /// Forgets in-memory sync states as a restarted app would (persisted form only).
    fn reconnect(&mut self) {
        for (_, state) in self.docs.values_mut() {
            *state = SyncState::decode(&state.encode()).expect("state decodes");
        }
    }
}

fn syncs(frames: &[Message]) -> usize {
    frames
        .iter()
        .filter(|m| matches!(m, Message::Sync { .. }))
        .count()
}

async fn server_doc(app: &TestApp, tenant: Uuid, ticket: Uuid) -> TicketDoc {
    app.ticket_doc(tenant, ticket)
        .await
        .expect("document exists")
        .doc
}

async fn ticket_status(app: &TestApp, shop: &Shop, ticket: Uuid) -> String {
    app.get(&format!("/v1/tickets/{ticket}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK)["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

// ---------------------------------------------------------------------------
// Scenarios

async fn offline_edits_sync_and_project(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-cycle")
        .technicians(2)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;

    phone.sync(&app).await;
    assert_eq!(phone.doc(ticket).ticket_id(), ticket.to_string());
    assert_eq!(phone.doc(ticket).status().status, Status::Assigned);

    // Offline: notes, a part, accept → travel → check in, with device times.
    let accepted = now_ms() - 60_000;
    let arrived = now_ms() - 10_000;
    let doc = phone.doc(ticket);
    doc.notes_append("Compressor noisy. ").expect("notes");
    doc.add_part(&NewPart {
        part_number: "CMP-1".into(),
        quantity: 1.0,
        serial: None,
    })
    .expect("part");
    for (kind, at) in [
        (StatusAction::Accept, accepted),
        (StatusAction::StartTravel, accepted + 1_000),
        (StatusAction::CheckIn, arrived),
    ] {
        let event = doc.stamp_event(kind, at);
        doc.append_event(&event).expect("event");
    }
    phone.sync(&app).await;

    let server = server_doc(&app, shop.tenant.id, ticket).await;
    assert_eq!(server.notes(), "Compressor noisy. ");
    assert_eq!(server.heads(), phone.doc(ticket).heads());
    assert_eq!(ticket_status(&app, &shop, ticket).await, "on_site");
    let columns = app
        .state
        .store
        .field_columns(shop.tenant.id, ticket)
        .await
        .expect("columns");
    assert_eq!(
        columns.accepted_at.map(|t| t.timestamp_millis()),
        Some(accepted)
    );
    assert_eq!(
        columns.arrived_at.map(|t| t.timestamp_millis()),
        Some(arrived)
    );
    assert_eq!(columns.completed_at, None);
    assert_eq!(columns.field_part_count, Some(1));
    assert_eq!(columns.field_photo_count, Some(0));
    assert!(columns.field_updated_at.is_some());
    let audit = app
        .get("/v1/audit?limit=200", &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK)
        .to_string();
    assert!(audit.contains("ticket.field_sync"), "{audit}");

    // Reconnect with nothing changed: one message each way.
    phone.reconnect();
    let (sent, received) = phone.round(&app, Vec::new()).await;
    assert_eq!(syncs(&sent), 1, "{sent:?}");
    assert!(syncs(&received) <= 1, "{received:?}");
    assert!(phone.outgoing_is_empty());
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
    app.stop().await;
}

async fn foreign_actor_is_refused_and_nothing_changes(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-foreign")
        .technicians(2)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;
    let before = server_doc(&app, shop.tenant.id, ticket).await;

    let doc = phone.doc(ticket);
    doc.set_actor(ActorId::random());
    doc.notes_append("not mine").expect("notes");
    phone.round(&app, Vec::new()).await;
    let (doc_id, code, detail) = phone.errors.first().cloned().expect("an error frame");
    assert_eq!(doc_id, Some(ticket.to_string()));
    assert_eq!(code, ErrorCode::ForeignActor);
    assert!(detail.contains("not registered to this device"), "{detail}");
    assert!(code.requires_reset());

    let after = server_doc(&app, shop.tenant.id, ticket).await;
    assert_eq!(after.heads(), before.heads());
    assert_eq!(after.notes(), "");
    assert_eq!(ticket_status(&app, &shop, ticket).await, "assigned");
    app.stop().await;
}

async fn tickets_outside_the_set_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-set").technicians(2).build().await;
    let (tech0, token0) = (shop.techs[0].id, shop.techs[0].token.clone());
    let (tech1, _) = (shop.techs[1].id, shop.techs[1].token.clone());
    let mine = shop.assigned_ticket(&app, tech0).await;
    let theirs = shop.assigned_ticket(&app, tech1).await;
    let mut phone = Phone::register(&app, &token0).await;
    let (_, received) = phone.round(&app, Vec::new()).await;
    let added: Vec<_> = received
        .iter()
        .filter_map(|m| match m {
            Message::DocAdded { doc_id } => Some(doc_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(added, vec![mine.to_string()]);

    // A message for someone else's ticket.
    let mut foreign = TicketDoc::new(&theirs.to_string(), phone.actor.clone()).expect("doc");
    foreign.notes_append("snooping").expect("notes");
    let data = foreign
        .generate_sync_message(&mut SyncState::new())
        .expect("message");
    phone
        .round(
            &app,
            vec![Message::Sync {
                doc_id: theirs.to_string(),
                data,
            }],
        )
        .await;
    assert!(
        phone
            .errors
            .iter()
            .any(|(d, c, _)| d.as_deref() == Some(&theirs.to_string()) && *c == ErrorCode::NotInSet),
        "{:?}",
        phone.errors
    );
    // Their ticket's document (written when it was assigned) took nothing.
    let theirs_doc = server_doc(&app, shop.tenant.id, theirs).await;
    assert_eq!(theirs_doc.notes(), "");

    // A device of another user is refused at hello.
    let (_, dispatcher_token) = app
        .create_user(&shop.tenant, "desk@sync-set.test", "dispatcher")
        .await;
    let mut stranger = Phone::register(&app, &dispatcher_token).await;
    stranger.device_id = phone.device_id;
    let body: Value = serde_json::from_str(
        &Exchange {
            frames: vec![stranger.hello()],
        }
        .encode(),
    )
    .expect("json");
    let reply = app
        .post("/v1/sync", &dispatcher_token, &body)
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply["frames"][0]["code"], "unauthorized", "{reply}");
    app.stop().await;
}

async fn reassignment_moves_the_document(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-move")
        .technicians(2)
        .build()
        .await;
    let (tech0, token0) = (shop.techs[0].id, shop.techs[0].token.clone());
    let (tech1, token1) = (shop.techs[1].id, shop.techs[1].token.clone());
    let ticket = shop.assigned_ticket(&app, tech0).await;
    let mut old = Phone::register(&app, &token0).await;
    old.sync(&app).await;
    let mut new = Phone::register(&app, &token1).await;
    new.sync(&app).await;
    assert!(new.docs.is_empty());

    shop.assign(&app, ticket, tech1).await;
    let server = server_doc(&app, shop.tenant.id, ticket).await;
    assert_eq!(server.status().assignee, Some(tech1.to_string()));

    old.round(&app, Vec::new()).await;
    assert_eq!(
        old.removed,
        vec![(ticket.to_string(), RemovalReason::Reassigned)]
    );
    assert!(old.docs.is_empty());

    new.sync(&app).await;
    let doc = new.doc(ticket);
    assert_eq!(doc.status().status, Status::Assigned);
    assert_eq!(doc.status().assignee, Some(tech1.to_string()));
    let kinds: Vec<_> = doc.events().iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&StatusAction::Reassign), "{kinds:?}");
    app.stop().await;
}

async fn websocket_carries_the_same_frames(backend: TestBackend) {
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-ws").technicians(2).build().await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;

    let mut request = format!("ws://{}/v1/sync", app.address)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects");
    let send = |m: Message| tungstenite::Message::Text(m.encode().into());
    socket.send(send(phone.hello())).await.expect("hello");

    assert!(matches!(next(&mut socket).await, Message::Hello { .. }));
    let added = next(&mut socket).await;
    assert_eq!(
        added,
        Message::DocAdded {
            doc_id: ticket.to_string()
        }
    );
    phone.apply(added);
    for out in phone.outgoing() {
        socket.send(send(out)).await.expect("send");
    }
    // Sync until the phone holds the server's version, then edit and send.
    let mut accepted_at = None;
    for _ in 0..40 {
        let frame = next(&mut socket).await;
        phone.apply(frame);
        if accepted_at.is_none() && phone.doc(ticket).status().status == Status::Assigned {
            let doc = phone.doc(ticket);
            let at = now_ms();
            let event = doc.stamp_event(StatusAction::Accept, at);
            doc.append_event(&event).expect("accept");
            accepted_at = Some(at);
        }
        for out in phone.outgoing() {
            socket.send(send(out)).await.expect("send");
        }
        if accepted_at.is_some() && ticket_status(&app, &shop, ticket).await == "accepted" {
            break;
        }
    }
    assert_eq!(ticket_status(&app, &shop, ticket).await, "accepted");

    // A reassignment is noticed on the next tick.
    shop.assign(&app, ticket, shop.techs[1].id).await;
    let mut removed = false;
    for _ in 0..20 {
        if let Message::DocRemoved { doc_id, reason } = next(&mut socket).await {
            assert_eq!(
                (doc_id, reason),
                (ticket.to_string(), RemovalReason::Reassigned)
            );
            removed = true;
            break;
        }
    }
    assert!(removed);
    socket.close(None).await.ok();
    app.stop().await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(socket: &mut Socket) -> Message {
    use tokio_tungstenite::tungstenite;
    let msg = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("a frame in time")
        .expect("open")
        .expect("frame");
    match msg {
        tungstenite::Message::Text(t) => Message::decode(t.as_str()).expect("frame"),
        other => panic!("unexpected {other:?}"),
    }
}

async fn two_devices_editing_notes_converge(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-two").technicians(2).build().await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    let mut tablet = Phone::register(&app, &token).await;
    phone.sync(&app).await;
    tablet.sync(&app).await;

    phone
        .doc(ticket)
        .notes_append("from phone. ")
        .expect("notes");
    tablet
        .doc(ticket)
        .notes_append("from tablet. ")
        .expect("notes");
    // Both upload concurrently.
    let (a, b) = tokio::join!(phone.sync(&app), tablet.sync(&app));
    let ((), ()) = (a, b);
    phone.sync(&app).await;
    tablet.sync(&app).await;

    let server = server_doc(&app, shop.tenant.id, ticket).await;
    let notes = server.notes();
    assert!(
        notes.contains("from phone. ") && notes.contains("from tablet. "),
        "{notes}"
    );
    assert_eq!(phone.doc(ticket).notes(), notes);
    assert_eq!(tablet.doc(ticket).notes(), notes);
    assert_eq!(phone.doc(ticket).heads(), server.heads());
    assert_eq!(tablet.doc(ticket).heads(), server.heads());
    app.stop().await;
}

/// Each exchange stores its documents in one transaction; a document the
/// other device's exchange moved on in the meantime is merged again and
/// written alone. Two devices of one technician upload notes on the same
/// tickets at the same moment, round after round: every note arrives, and
/// both devices end with the server's document.
async fn two_devices_syncing_many_documents_at_once_lose_nothing(backend: TestBackend) {
    // A technician holds at most five open assignments by default.
    const TICKETS: usize = 5;
    const ROUNDS: usize = 4;
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-batch")
        .technicians(1)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let mut tickets = Vec::new();
    for _ in 0..TICKETS {
        tickets.push(shop.assigned_ticket(&app, tech).await);
    }
    let mut phone = Phone::register(&app, &token).await;
    let mut tablet = Phone::register(&app, &token).await;
    phone.sync(&app).await;
    tablet.sync(&app).await;
    for round in 0..ROUNDS {
        for ticket in &tickets {
            phone
                .doc(*ticket)
                .notes_append(&format!("phone {round}. "))
                .expect("notes");
            tablet
                .doc(*ticket)
                .notes_append(&format!("tablet {round}. "))
                .expect("notes");
        }
        let ((), ()) = tokio::join!(phone.sync(&app), tablet.sync(&app));
    }
    phone.sync(&app).await;
    tablet.sync(&app).await;
    phone.sync(&app).await;
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
    assert!(tablet.errors.is_empty(), "{:?}", tablet.errors);
    for ticket in &tickets {
        let server = server_doc(&app, shop.tenant.id, *ticket).await;
        let notes = server.notes();
        for round in 0..ROUNDS {
            for device in ["phone", "tablet"] {
                let note = format!("{device} {round}. ");
                assert!(
                    notes.contains(&note),
                    "{ticket}: {note:?} missing from {notes:?}"
                );
            }
        }
        assert_eq!(phone.doc(*ticket).heads(), server.heads());
        assert_eq!(tablet.doc(*ticket).heads(), server.heads());
    }
    app.stop().await;
}

async fn storage_compacts_past_the_threshold(backend: TestBackend) {
    use truckroll_server::store::documents::COMPACT_THRESHOLD_BYTES;

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-compact")
        .technicians(2)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;
    let mut saw_chunks = false;
    let mut saw_compaction = false;
    let mut last_incremental = 0;
    let mut total = 0;
    for _ in 0..12 {
        // Random CJK characters (3 UTF-8 bytes each) barely compress, so a
        // few rounds pass the threshold.
        let text: String = (0..250)
            .flat_map(|_| {
                Uuid::new_v4()
                    .into_bytes()
                    .chunks(2)
                    .map(|b| u32::from(b[0]) << 8 | u32::from(b[1]))
                    .collect::<Vec<_>>()
            })
            .map(|n| char::from_u32(0x4E00 + n % 0x5000).expect("cjk"))
            .collect();
        total += text.chars().count();
        phone.doc(ticket).notes_append(&text).expect("notes");
        phone.sync(&app).await;
        let stored = app
            .state
            .store
            .load_document(shop.tenant.id, ticket)
            .await
            .expect("load")
            .expect("stored");
        assert!(stored.incremental_bytes <= COMPACT_THRESHOLD_BYTES);
        let sum: usize = stored.chunks.iter().map(Vec::len).sum();
        assert_eq!(i64::try_from(sum).expect("size"), stored.incremental_bytes);
        saw_chunks |= !stored.chunks.is_empty();
        saw_compaction |= stored.incremental_bytes < last_incremental;
        last_incremental = stored.incremental_bytes;
    }
    assert!(
        saw_chunks,
        "incremental chunks are used below the threshold"
    );
    assert!(saw_compaction, "the document was compacted into a snapshot");
    let server = server_doc(&app, shop.tenant.id, ticket).await;
    assert_eq!(server.notes().chars().count(), total);
    assert_eq!(server.heads(), phone.doc(ticket).heads());
    app.stop().await;
}

async fn declining_through_sync_unassigns(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-decline")
        .technicians(2)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;

    let doc = phone.doc(ticket);
    let event = doc.stamp_event(StatusAction::Decline, now_ms() - 5_000);
    doc.append_event(&event).expect("decline");
    phone.sync(&app).await;
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);

    let seen = app
        .get(&format!("/v1/tickets/{ticket}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["status"], "new");
    assert_eq!(
        seen["assignee_id"],
        Value::Null,
        "a declined ticket goes back to the office"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Protocol rules of PROTOCOL.md §3 (unknown frames, close codes, bad frames,
// removal reasons, limits, answer order)

async fn post_frames(app: &TestApp, token: &str, frames: Value) -> Vec<Value> {
    app.post("/v1/sync", token, &json!({ "frames": frames }))
        .await
        .expect(StatusCode::OK)["frames"]
        .as_array()
        .expect("frames")
        .clone()
}

async fn connect(app: &TestApp, token: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/v1/sync", app.address)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects")
        .0
}

async fn send_text(socket: &mut Socket, text: String) {
    use tokio_tungstenite::tungstenite;
    socket
        .send(tungstenite::Message::Text(text.into()))
        .await
        .expect("send");
}

/// What the server sent next: a frame, or its close code and reason.
#[derive(Debug, PartialEq)]
enum WsEvent {
    Frame(Message),
    Closed(u16, String),
}

async fn ws_event(socket: &mut Socket) -> WsEvent {
    use tokio_tungstenite::tungstenite;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a frame in time");
        match msg {
            Some(Ok(tungstenite::Message::Text(t))) => {
                return WsEvent::Frame(Message::decode(t.as_str()).expect("frame"));
            }
            Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
                return WsEvent::Closed(frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(tungstenite::Message::Close(None))) => {
                return WsEvent::Closed(1005, String::new());
            }
            Some(Ok(_)) => {}
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    }
}

fn error_code(frame: &Message) -> Option<ErrorCode> {
    match frame {
        Message::Error { code, .. } => Some(*code),
        _ => None,
    }
}

async fn unknown_frames_are_skipped_on_both_transports(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-unknown")
        .technicians(1)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;

    // HTTP: before `hello` and after it, no error, nothing else changes.
    let hello = serde_json::to_value(phone.hello()).expect("json");
    let reply = post_frames(
        &app,
        &token,
        json!([{"type": "presence"}, hello, {"type": "typing", "doc_id": ticket, "data": 7}]),
    )
    .await;
    let kinds: Vec<&str> = reply
        .iter()
        .map(|f| f["type"].as_str().expect("type"))
        .collect();
    // The job packet (§4) of the new document follows the session's answer.
    assert_eq!(
        kinds,
        vec!["hello", "doc_added", "sync", "packet"],
        "{reply:?}"
    );

    // WebSocket: the same, and the session goes on.
    let mut socket = connect(&app, &token).await;
    send_text(&mut socket, r#"{"type":"presence","x":1}"#.into()).await;
    send_text(&mut socket, phone.hello().encode()).await;
    send_text(&mut socket, r#"{"type":"typing","doc_id":"x"}"#.into()).await;
    assert!(matches!(
        ws_event(&mut socket).await,
        WsEvent::Frame(Message::Hello { .. })
    ));
    let added = ws_event(&mut socket).await;
    assert_eq!(
        added,
        WsEvent::Frame(Message::DocAdded {
            doc_id: ticket.to_string()
        })
    );
    phone.apply(Message::DocAdded {
        doc_id: ticket.to_string(),
    });
    for out in phone.outgoing() {
        send_text(&mut socket, out.encode()).await;
    }
    // Only sync frames follow: the unknown frame was not answered.
    let mut syncs_seen = 0;
    while phone.docs[&ticket.to_string()].0.heads()
        != server_doc(&app, shop.tenant.id, ticket).await.heads()
    {
        match ws_event(&mut socket).await {
            WsEvent::Frame(frame @ Message::Sync { .. }) => {
                syncs_seen += 1;
                phone.apply(frame);
                for out in phone.outgoing() {
                    send_text(&mut socket, out.encode()).await;
                }
            }
            WsEvent::Frame(Message::Packet { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(syncs_seen >= 1);
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
    socket.close(None).await.ok();
    app.stop().await;
}

async fn websocket_closes_with_documented_codes(backend: TestBackend) {
    use truckroll_sync::protocol::{MAX_FRAME_BYTES, close};

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-close")
        .technicians(1)
        .build()
        .await;
    let token = shop.techs[0].token.clone();
    let phone = Phone::register(&app, &token).await;

    // Unsupported version: `error`, then close 4426.
    let mut socket = connect(&app, &token).await;
    let hello = Message::Hello {
        version: 99,
        device_id: phone.device_id.to_string(),
    };
    send_text(&mut socket, hello.encode()).await;
    let WsEvent::Frame(frame) = ws_event(&mut socket).await else {
        panic!("an error frame first")
    };
    assert_eq!(error_code(&frame), Some(ErrorCode::UnsupportedVersion));
    assert_eq!(
        ws_event(&mut socket).await,
        WsEvent::Closed(close::UNSUPPORTED_VERSION, "unsupported_version".into())
    );

    // A first frame that is not `hello`: close 4400.
    let mut socket = connect(&app, &token).await;
    let sync = Message::Sync {
        doc_id: Uuid::new_v4().to_string(),
        data: vec![0x42],
    };
    send_text(&mut socket, sync.encode()).await;
    let WsEvent::Frame(frame) = ws_event(&mut socket).await else {
        panic!("an error frame first")
    };
    assert_eq!(error_code(&frame), Some(ErrorCode::HelloRequired));
    assert_eq!(
        ws_event(&mut socket).await,
        WsEvent::Closed(close::HELLO_REQUIRED, "hello_required".into())
    );

    // A device that is not the caller's: close 4401.
    let mut socket = connect(&app, &token).await;
    let stranger = Message::Hello {
        version: 1,
        device_id: Uuid::new_v4().to_string(),
    };
    send_text(&mut socket, stranger.encode()).await;
    let WsEvent::Frame(frame) = ws_event(&mut socket).await else {
        panic!("an error frame first")
    };
    assert_eq!(error_code(&frame), Some(ErrorCode::Unauthorized));
    assert_eq!(
        ws_event(&mut socket).await,
        WsEvent::Closed(close::UNAUTHORIZED, "unauthorized".into())
    );

    // A frame over the limit: `frame_too_large`, close 1009.
    let mut socket = connect(&app, &token).await;
    send_text(&mut socket, phone.hello().encode()).await;
    assert!(matches!(
        ws_event(&mut socket).await,
        WsEvent::Frame(Message::Hello { .. })
    ));
    send_text(&mut socket, "x".repeat(MAX_FRAME_BYTES + 1)).await;
    let frame = loop {
        match ws_event(&mut socket).await {
            WsEvent::Frame(Message::Error { code, .. }) => break code,
            WsEvent::Frame(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(frame, ErrorCode::FrameTooLarge);
    assert_eq!(
        ws_event(&mut socket).await,
        WsEvent::Closed(close::MESSAGE_TOO_BIG, "frame_too_large".into())
    );

    // The device closes: the server answers 1000.
    let mut socket = connect(&app, &token).await;
    send_text(&mut socket, phone.hello().encode()).await;
    assert!(matches!(
        ws_event(&mut socket).await,
        WsEvent::Frame(Message::Hello { .. })
    ));
    socket
        .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: close::NORMAL.into(),
            reason: "bye".into(),
        }))
        .await
        .expect("close");
    let echoed = loop {
        match ws_event(&mut socket).await {
            WsEvent::Closed(code, _) => break code,
            WsEvent::Frame(_) => {}
        }
    };
    assert_eq!(echoed, close::NORMAL);
    app.stop().await;
}

async fn a_bad_frame_fails_only_its_document(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-badframe")
        .technicians(1)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let first = shop.assigned_ticket(&app, tech).await;
    let second = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;
    phone.doc(second).notes_append("kept").expect("notes");

    // HTTP: bad base64 for `first`, a good message for `second`.
    let mut frames = vec![serde_json::to_value(phone.hello()).expect("json")];
    frames.push(json!({"type": "sync", "doc_id": first.to_string(), "data": "%%% not base64"}));
    frames.push(json!({"type": "sync", "doc_id": 17}));
    for out in phone.outgoing() {
        frames.push(serde_json::to_value(out).expect("json"));
    }
    let reply = post_frames(&app, &token, Value::Array(frames)).await;
    let errors: Vec<&Value> = reply.iter().filter(|f| f["type"] == "error").collect();
    assert_eq!(errors.len(), 2, "{reply:?}");
    assert_eq!(errors[0]["doc_id"], first.to_string());
    assert_eq!(errors[0]["code"], "malformed_frame");
    assert!(errors[1].get("doc_id").is_none(), "{reply:?}");
    assert_eq!(errors[1]["code"], "malformed_frame");
    assert_eq!(
        server_doc(&app, shop.tenant.id, second).await.notes(),
        "kept"
    );
    for frame in Exchange::decode(&json!({ "frames": reply }).to_string())
        .expect("exchange")
        .frames
    {
        phone.apply(frame);
    }
    phone.errors.clear();
    phone.sync(&app).await;
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);

    // WebSocket: a bad frame is answered for its document; the session goes on.
    let mut socket = connect(&app, &token).await;
    send_text(&mut socket, phone.hello().encode()).await;
    send_text(
        &mut socket,
        json!({"type": "sync", "doc_id": first.to_string(), "data": "!!"}).to_string(),
    )
    .await;
    let error = loop {
        match ws_event(&mut socket).await {
            WsEvent::Frame(frame @ Message::Error { .. }) => break frame,
            WsEvent::Frame(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        matches!(&error, Message::Error { doc_id: Some(d), code: ErrorCode::MalformedFrame, .. } if *d == first.to_string()),
        "{error:?}"
    );
    send_text(&mut socket, "[1,2".into()).await;
    let error = loop {
        match ws_event(&mut socket).await {
            WsEvent::Frame(frame @ Message::Error { .. }) => break frame,
            WsEvent::Frame(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        matches!(
            &error,
            Message::Error {
                doc_id: None,
                code: ErrorCode::MalformedFrame,
                ..
            }
        ),
        "{error:?}"
    );
    // Still open: an edit goes through.
    phone.reconnect();
    phone.doc(first).notes_append("after").expect("notes");
    for out in phone.outgoing() {
        send_text(&mut socket, out.encode()).await;
    }
    while server_doc(&app, shop.tenant.id, first).await.notes() != "after" {
        match ws_event(&mut socket).await {
            WsEvent::Frame(frame) => {
                phone.apply(frame);
                for out in phone.outgoing() {
                    send_text(&mut socket, out.encode()).await;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    socket.close(None).await.ok();
    app.stop().await;
}

async fn field_events_without_assignment_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-assignment")
        .technicians(1)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;

    let doc = phone.doc(ticket);
    let mut event = doc.stamp_event(StatusAction::Accept, now_ms());
    assert!(event.assignment.is_some());
    event.assignment = None;
    doc.append_event(&event).expect("append");
    phone.round(&app, Vec::new()).await;
    let (doc_id, code, detail) = phone.errors.first().cloned().expect("an error frame");
    assert_eq!(doc_id, Some(ticket.to_string()));
    assert_eq!(code, ErrorCode::SchemaViolation);
    assert!(
        detail.contains("/assignment: must be the `assign`/`reassign` event current"),
        "{detail}"
    );
    assert!(code.requires_reset());
    assert_eq!(ticket_status(&app, &shop, ticket).await, "assigned");
    assert!(
        server_doc(&app, shop.tenant.id, ticket)
            .await
            .events()
            .iter()
            .all(|e| e.kind != StatusAction::Accept)
    );
    app.stop().await;
}

async fn removal_reasons_reveal_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-reasons")
        .technicians(2)
        .build()
        .await;
    let other = Shop::builder(&app, "sync-reasons-other")
        .technicians(1)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    shop.assigned_ticket(&app, tech).await;
    let colleagues = shop.assigned_ticket(&app, shop.techs[1].id).await;
    let foreign = other.assigned_ticket(&app, other.techs[0].id).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;

    // REST says 404 for all of them to this technician.
    for id in [colleagues, foreign, Uuid::new_v4()] {
        app.get(&format!("/v1/tickets/{id}"), &token)
            .await
            .expect(StatusCode::NOT_FOUND);
    }
    let mut answers = Vec::new();
    for id in [
        colleagues.to_string(),
        foreign.to_string(),
        Uuid::new_v4().to_string(),
        "not-a-uuid".to_owned(),
    ] {
        let mut doc = TicketDoc::new(&id, phone.actor.clone()).expect("doc");
        doc.notes_append("x").expect("notes");
        let data = doc
            .generate_sync_message(&mut SyncState::new())
            .expect("message");
        let (_, received) = phone
            .round(
                &app,
                vec![Message::Sync {
                    doc_id: id.clone(),
                    data,
                }],
            )
            .await;
        let about: Vec<Value> = received
            .iter()
            .filter(|m| m.doc_id() == Some(id.as_str()))
            .map(|m| {
                let mut v = serde_json::to_value(m).expect("json");
                v["doc_id"] = json!("<id>");
                v
            })
            .collect();
        answers.push(about);
    }
    assert_eq!(
        answers[0],
        vec![
            json!({"type": "doc_removed", "doc_id": "<id>", "reason": "not_in_set"}),
            json!({"type": "error", "doc_id": "<id>", "code": "not_in_set",
                   "detail": "no such document in this device's set; changes not applied"}),
        ]
    );
    for answer in &answers[1..] {
        assert_eq!(answer, &answers[0]);
    }
    assert!(
        app.ticket_doc(other.tenant.id, foreign)
            .await
            .is_none_or(|d| d.doc.notes().is_empty())
    );
    app.stop().await;
}

async fn string_limits_count_unicode_scalar_values(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-limits")
        .technicians(1)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;

    // 2 000 scalar values outside the BMP: 4 000 UTF-16 units, 8 000 bytes.
    let at_limit = "🔧".repeat(2_000);
    phone
        .doc(ticket)
        .add_part(&NewPart {
            part_number: at_limit.clone(),
            quantity: 1.0,
            serial: None,
        })
        .expect("part");
    phone.sync(&app).await;
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
    assert_eq!(
        server_doc(&app, shop.tenant.id, ticket).await.parts()[0].part_number,
        at_limit
    );

    phone
        .doc(ticket)
        .add_part(&NewPart {
            part_number: format!("{at_limit}x"),
            quantity: 1.0,
            serial: None,
        })
        .expect("part");
    phone.round(&app, Vec::new()).await;
    let (_, code, detail) = phone.errors.first().cloned().expect("an error frame");
    assert_eq!(code, ErrorCode::LimitExceeded);
    assert!(
        detail.contains("2001 Unicode scalar values exceeds the limit of 2000"),
        "{detail}"
    );
    assert_eq!(
        server_doc(&app, shop.tenant.id, ticket).await.parts().len(),
        1
    );
    app.stop().await;
}

async fn answer_frames_come_in_the_documented_order(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-order")
        .technicians(2)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let leaving = shop.assigned_ticket(&app, tech).await;
    let mut kept: Vec<Uuid> = Vec::new();
    for _ in 0..3 {
        kept.push(shop.assigned_ticket(&app, tech).await);
    }
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;
    // One ticket leaves, two arrive; the device edits every kept one.
    shop.assign(&app, leaving, shop.techs[1].id).await;
    let arriving = [
        shop.assigned_ticket(&app, tech).await,
        shop.assigned_ticket(&app, tech).await,
    ];
    for id in &kept {
        phone.doc(*id).notes_append("edit").expect("notes");
    }
    let colleagues = shop.assigned_ticket(&app, shop.techs[1].id).await;
    let mut snoop = TicketDoc::new(&colleagues.to_string(), phone.actor.clone()).expect("doc");
    snoop.notes_append("x").expect("notes");
    let snoop = snoop
        .generate_sync_message(&mut SyncState::new())
        .expect("message");
    let bad = Message::Sync {
        doc_id: colleagues.to_string(),
        data: snoop,
    };
    let (_, received) = phone.round(&app, vec![bad]).await;

    // Job packets (PROTOCOL.md §4) follow the session's answer.
    let is_packet = |m: &Message| matches!(m, Message::Packet { .. });
    if let Some(first) = received.iter().position(is_packet) {
        assert!(received[first..].iter().all(is_packet), "{received:?}");
    }
    let shape: Vec<String> = received
        .iter()
        .filter_map(|m| match m {
            Message::Hello { .. } => Some("hello".to_owned()),
            Message::DocAdded { doc_id } => Some(format!("doc_added {doc_id}")),
            Message::DocRemoved { doc_id, reason } => {
                Some(format!("doc_removed {doc_id} {reason:?}"))
            }
            Message::Error { doc_id, code, .. } => Some(format!("error {doc_id:?} {code:?}")),
            Message::Sync { doc_id, .. } => Some(format!("sync {doc_id}")),
            Message::Packet { .. } | Message::PacketHave { .. } => None,
        })
        .collect();
    // Each request is a new session: `doc_added` names the whole set.
    let mut set: Vec<Uuid> = kept.iter().chain(arriving.iter()).copied().collect();
    set.sort();
    let mut expected = vec![
        "hello".to_owned(),
        format!("doc_removed {leaving} Reassigned"),
    ];
    expected.extend(set.iter().map(|id| format!("doc_added {id}")));
    expected.push(format!("doc_removed {colleagues} NotInSet"));
    expected.push(format!("error Some(\"{colleagues}\") NotInSet"));
    expected.extend(set.iter().map(|id| format!("sync {id}")));
    assert_eq!(shape, expected);
    app.stop().await;
}

async fn reply_asks_for_the_dependency_of_a_queued_change(backend: TestBackend) {
    use truckroll_sync::automerge::sync::Message as AmMessage;

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-queue")
        .technicians(1)
        .build()
        .await;
    let (tech, token) = (shop.techs[0].id, shop.techs[0].token.clone());
    let ticket = shop.assigned_ticket(&app, tech).await;
    let mut phone = Phone::register(&app, &token).await;
    phone.sync(&app).await;

    // Two changes, C then D (D depends on C); the message carries only D, as
    // after a Bloom-filter false positive for C.
    let base = phone.doc(ticket).heads();
    phone.doc(ticket).notes_append("first ").expect("C");
    phone.doc(ticket).notes_append("second").expect("D");
    let changes = phone.doc(ticket).as_automerge().get_changes(&base);
    assert_eq!(changes.len(), 2);
    let (c, d) = (&changes[0], &changes[1]);
    assert_eq!(d.deps(), &[c.hash()]);
    let (doc, state) = phone.docs.get_mut(&ticket.to_string()).expect("held");
    let data = doc.generate_sync_message(state).expect("message");
    let mut message = AmMessage::decode(&data).expect("decodes");
    message.changes = vec![d.raw_bytes().to_vec()].into();
    let (_, received) = phone
        .round(
            &app,
            vec![Message::Sync {
                doc_id: ticket.to_string(),
                data: message.encode(),
            }],
        )
        .await;
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
    let reply = received
        .iter()
        .find_map(|m| match m {
            Message::Sync { data, .. } => Some(AmMessage::decode(data).expect("decodes")),
            _ => None,
        })
        .expect("a reply");
    assert_eq!(
        reply.need,
        vec![c.hash()],
        "the reply names the missing dependency"
    );

    // A device that forgets what it sent (PROTOCOL.md §1.7) then converges.
    for (_, state) in phone.docs.values_mut() {
        state.sent_hashes.clear();
    }
    phone.sync(&app).await;
    assert_eq!(
        server_doc(&app, shop.tenant.id, ticket).await.notes(),
        "first second"
    );
    app.stop().await;
}

async fn shutdown_closes_websockets_with_going_away(backend: TestBackend) {
    use truckroll_sync::protocol::close;
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-going-away")
        .technicians(1)
        .build()
        .await;
    let token = shop.techs[0].token.clone();
    shop.assigned_ticket(&app, shop.techs[0].id).await;
    let phone = Phone::register(&app, &token).await;
    let mut socket = connect(&app, &token).await;
    send_text(&mut socket, phone.hello().encode()).await;
    assert!(matches!(
        ws_event(&mut socket).await,
        WsEvent::Frame(Message::Hello { .. })
    ));
    let stopping = tokio::spawn(app.stop());
    // Whatever the session still had to say, then the close frame.
    let closed = loop {
        match ws_event(&mut socket).await {
            WsEvent::Frame(_) => {}
            closed @ WsEvent::Closed(..) => break closed,
        }
    };
    assert_eq!(
        closed,
        WsEvent::Closed(close::GOING_AWAY, "going_away".into())
    );
    stopping.await.expect("the server stops");
}
