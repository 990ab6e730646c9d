//! Consumption from the phone: a ticket document's part entries become
//! consumption from the technician's van exactly once per entry, however
//! often the same changes arrive; the office's corrections of an entry move
//! only the difference; entries naming no catalogue part move nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sdk::{Client, ClientConfig, Edit};
use truckroll_sync::protocol::{Exchange, Message};
use truckroll_sync::{ActorId, NewPart, SyncState, TicketDoc};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

use super::{balance, movements, part, receive, van};

backend_tests!(
    a_part_used_offline_and_delivered_twice_consumes_once,
    a_corrected_quantity_adjusts_the_movement,
    the_van_is_readable_offline_and_drops_on_use,
);

/// A phone played by `TicketDoc` directly, holding one ticket.
struct RawPhone {
    device_id: Uuid,
    token: String,
    actor: ActorId,
    ticket: String,
    doc: Option<(TicketDoc, SyncState)>,
}

impl RawPhone {
    async fn register(app: &TestApp, token: &str, ticket: Uuid) -> Self {
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
            ticket: ticket.to_string(),
            doc: None,
        }
    }

    fn hello(&self) -> Message {
        Message::Hello {
            version: 1,
            device_id: self.device_id.to_string(),
        }
    }

    /// The outgoing `sync` frame, if the document has something to say.
    fn outgoing(&mut self) -> Option<Message> {
        let (doc, state) = self.doc.as_mut()?;
        doc.generate_sync_message(state).map(|data| Message::Sync {
            doc_id: self.ticket.clone(),
            data,
        })
    }

    /// One `POST /v1/sync` of exactly `frames`; applies the answer.
    async fn post(&mut self, app: &TestApp, frames: Vec<Message>) {
        let body: Value = serde_json::from_str(&Exchange { frames }.encode()).expect("json");
        let reply = app
            .post("/v1/sync", &self.token, &body)
            .await
            .expect(StatusCode::OK);
        for frame in Exchange::decode(&reply.to_string())
            .expect("exchange")
            .frames
        {
            match frame {
                Message::DocAdded { doc_id } if doc_id == self.ticket && self.doc.is_none() => {
                    let doc = TicketDoc::new(&doc_id, self.actor.clone()).expect("skeleton");
                    self.doc = Some((doc, SyncState::new()));
                }
                Message::Sync { doc_id, data } if doc_id == self.ticket => {
                    if let Some((doc, state)) = self.doc.as_mut() {
                        doc.receive_sync_message(state, &data)
                            .expect("server message applies");
                    }
                }
                Message::Error { detail, .. } => panic!("sync refused: {detail}"),
                _ => {}
            }
        }
    }

    /// Exchanges until nothing is left to send (at most eight requests).
    async fn sync(&mut self, app: &TestApp) {
        for _ in 0..8 {
            let mut frames = vec![self.hello()];
            frames.extend(self.outgoing());
            self.post(app, frames).await;
            let idle = self.doc.as_ref().is_some_and(|(doc, state)| {
                doc.generate_sync_message(&mut state.clone()).is_none()
            });
            if idle {
                return;
            }
        }
        panic!("sync did not converge in eight exchanges");
    }
}

async fn a_part_used_offline_and_delivered_twice_consumes_once(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "consume-once").build().await;
    let admin = shop.tenant.admin_token.clone();
    let relay = part(&app, &admin, "CR-24", "compressor relay", 1890).await;
    let tech = shop.tech();
    let van_id = van(&app, &admin, tech.id).await;
    receive(&app, &admin, relay, van_id, 5.0).await;
    let ticket = shop.assigned_ticket(&app, tech.id).await;

    let mut phone = RawPhone::register(&app, &tech.token, ticket).await;
    phone.sync(&app).await;
    // Offline: two relays used.
    let (doc, _) = phone.doc.as_mut().expect("the phone holds the ticket");
    let entry = doc
        .add_part(&NewPart {
            part_number: "CR-24".into(),
            quantity: 2.0,
            serial: None,
        })
        .expect("part");
    let frames = vec![phone.hello(), phone.outgoing().expect("a change to send")];
    // The same request delivered twice (the answer to the first was lost).
    phone.post(&app, frames.clone()).await;
    phone.post(&app, frames).await;
    phone.sync(&app).await;
    // And a phone that lost its sync state sends everything again.
    if let Some((_, state)) = phone.doc.as_mut() {
        *state = SyncState::new();
    }
    phone.sync(&app).await;

    assert_eq!(balance(&app, &admin, van_id, relay).await, 3.0);
    let ledger = movements(&app, &admin, &format!("ticket_id={ticket}")).await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0]["kind"], "consumption");
    assert_eq!(ledger[0]["from_location_id"], json!(van_id));
    assert_eq!(ledger[0]["quantity"], 2.0);
    assert_eq!(ledger[0]["entry_id"], json!(entry));
    assert_eq!(ledger[0]["created_by"], json!(tech.user_id));
    app.stop().await;
}

async fn phone(app: &TestApp, dir: &TempGuard, tenant: &str, email: &str) -> Client {
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(tenant, email, PASSWORD)
        .await
        .expect("signs in");
    client.sync_now().await.expect("first sync");
    client
}

async fn correct(app: &TestApp, token: &str, ticket: Uuid, operations: Value) -> Value {
    let version = app
        .get(&format!("/v1/tickets/{ticket}/work"), token)
        .await
        .expect(StatusCode::OK)["version"]
        .clone();
    app.post(
        &format!("/v1/tickets/{ticket}/work/corrections"),
        token,
        &json!({"version": version, "operations": operations}),
    )
    .await
    .expect(StatusCode::OK)
}

async fn a_corrected_quantity_adjusts_the_movement(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "consume-correct")
        .dispatcher()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let relay = part(&app, &admin, "CR-24", "compressor relay", 1890).await;
    let tech = shop.tech();
    let van_id = van(&app, &admin, tech.id).await;
    receive(&app, &admin, relay, van_id, 5.0).await;
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let t = ticket.to_string();

    let dir = TempGuard::new("truckroll-parts-phone-");
    let client = phone(&app, &dir, &shop.tenant.name, &tech.email).await;
    client.set_online(false);
    for (number, quantity) in [("CR-24", 2.0), ("MYSTERY-1", 1.0)] {
        client
            .edit(
                &t,
                Edit::AddPart {
                    part_number: number.into(),
                    quantity,
                    serial: None,
                },
            )
            .await
            .expect("edit applies");
    }
    client.set_online(true);
    client.sync_now().await.expect("sync");
    client.sync_now().await.expect("sync again");
    assert_eq!(balance(&app, &admin, van_id, relay).await, 3.0);

    let dispatcher = app
        .login(&shop.tenant.name, "dispatch@consume-correct.test")
        .await;
    let record = app
        .get(&format!("/v1/tickets/{ticket}/work"), &dispatcher)
        .await
        .expect(StatusCode::OK);
    let relay_entry = record["parts"][0]["id"].as_str().expect("entry").to_owned();
    let mystery_entry = record["parts"][1]["id"].as_str().expect("entry").to_owned();

    // Up: one more consumed. Down: the difference comes back.
    correct(
        &app,
        &dispatcher,
        ticket,
        json!([{"op": "set_part_quantity", "part_id": relay_entry, "quantity": 3}]),
    )
    .await;
    assert_eq!(balance(&app, &admin, van_id, relay).await, 2.0);
    correct(
        &app,
        &dispatcher,
        ticket,
        json!([{"op": "set_part_quantity", "part_id": relay_entry, "quantity": 1.5}]),
    )
    .await;
    assert_eq!(balance(&app, &admin, van_id, relay).await, 3.5);
    // The phone learns the correction; syncing again moves nothing.
    client.sync_now().await.expect("sync after the corrections");
    client.sync_now().await.expect("and again");
    assert_eq!(balance(&app, &admin, van_id, relay).await, 3.5);

    // The free-text entry moved nothing; replaced by a catalogue part, it does.
    correct(
        &app,
        &dispatcher,
        ticket,
        json!([{"op": "replace_part", "part_id": mystery_entry, "part_number": "CR-24", "quantity": 1}]),
    )
    .await;
    assert_eq!(balance(&app, &admin, van_id, relay).await, 2.5);
    // A removed entry gives back what it consumed.
    correct(
        &app,
        &dispatcher,
        ticket,
        json!([{"op": "remove_part", "part_id": relay_entry}]),
    )
    .await;
    assert_eq!(balance(&app, &admin, van_id, relay).await, 4.0);

    let ledger: Vec<(String, f64, String)> =
        movements(&app, &admin, &format!("ticket_id={ticket}"))
            .await
            .iter()
            .rev()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap_or_default().to_owned(),
                    m["quantity"].as_f64().unwrap_or_default(),
                    m["entry_id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
    let replaced = ledger[3].2.clone();
    assert_ne!(replaced, mystery_entry);
    assert_eq!(
        ledger,
        [
            ("consumption".to_owned(), 2.0, relay_entry.clone()),
            ("consumption".to_owned(), 1.0, relay_entry.clone()),
            ("return".to_owned(), 1.5, relay_entry.clone()),
            ("consumption".to_owned(), 1.0, replaced),
            ("return".to_owned(), 1.5, relay_entry),
        ]
    );
    app.stop().await;
}

async fn the_van_is_readable_offline_and_drops_on_use(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "van-offline").build().await;
    let admin = shop.tenant.admin_token.clone();
    let relay = part(&app, &admin, "CR-24", "compressor relay", 1890).await;
    let tech = shop.tech();
    let van_id = van(&app, &admin, tech.id).await;
    receive(&app, &admin, relay, van_id, 5.0).await;
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let t = ticket.to_string();

    let dir = TempGuard::new("truckroll-parts-van-");
    let client = phone(&app, &dir, &shop.tenant.name, &tech.email).await;
    let online = client.van_stock().await.expect("van");
    assert!(online.from_server);
    assert_eq!(online.lines.len(), 1);
    assert_eq!(online.lines[0].part_number, "CR-24");
    assert_eq!(online.lines[0].name, "compressor relay");
    assert_eq!(online.lines[0].quantity, 5.0);

    // Offline: a use shows at once.
    client.set_online(false);
    client
        .edit(
            &t,
            Edit::AddPart {
                part_number: "CR-24".into(),
                quantity: 2.0,
                serial: None,
            },
        )
        .await
        .expect("edit applies");
    let offline = client.van_stock().await.expect("van offline");
    assert!(!offline.from_server);
    assert_eq!(offline.lines[0].server_quantity, 5.0);
    assert_eq!(offline.lines[0].used_locally, 2.0);
    assert_eq!(offline.lines[0].quantity, 3.0);

    // Online again: the server consumed it, and it is not counted twice.
    client.set_online(true);
    client.sync_now().await.expect("sync");
    let synced = client.van_stock().await.expect("van after sync");
    assert!(synced.from_server);
    assert_eq!(synced.lines[0].server_quantity, 3.0);
    assert_eq!(synced.lines[0].used_locally, 0.0);
    assert_eq!(synced.lines[0].quantity, 3.0);
    app.stop().await;
}
