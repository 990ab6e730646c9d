//! The technician's job packet through the SDK against a real server, on
//! SQLite and PostgreSQL: readable with the phone offline, replaced after the
//! office changes the site, sent again only when it changed, gone from the
//! phone's database file once the ticket left the technician's set; a
//! technician's REST reads of other tickets' records refused; an offline
//! check-in judged against the site's geofence once it syncs.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use truckroll_sdk::truckroll_sync::packet::WarrantyStatus;
use truckroll_sdk::truckroll_sync::{Position, StatusAction};
use truckroll_sdk::{Client, ClientConfig, Edit, SyncReport, media::sha256_hex};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    packet_is_readable_offline_and_follows_the_office,
    packet_leaves_the_phone_with_its_ticket,
    technician_reads_only_their_own_tickets_records,
    offline_check_in_is_judged_against_the_geofence,
    office_attachments_are_kept_for_offline_reading,
    websocket_sends_the_packet_once,
    each_packet_of_a_set_carries_its_own_tickets_records,
);

struct Phone {
    client: Client,
    dir: TempGuard,
}

impl Phone {
    async fn signed_in(app: &TestApp, shop: &Shop, tech: usize) -> Self {
        let dir = TempGuard::new("truckroll-packet-");
        let client = Client::open(
            &dir.path().join("phone.db"),
            ClientConfig::new(&app.base_url),
        )
        .await
        .expect("SDK opens");
        client
            .sign_in(&shop.tenant.name, &shop.techs[tech].email, PASSWORD)
            .await
            .expect("signs in");
        Self { client, dir }
    }

    async fn sync(&self) -> SyncReport {
        let report = self.client.sync_now().await.expect("sync runs");
        assert!(report.converged, "sync did not converge: {report:?}");
        report
    }

    /// Packet rows in the phone's SQLite file, read with a connection of our own.
    async fn packet_rows(&self, ticket: Uuid) -> i64 {
        let url = format!(
            "sqlite://{}?mode=ro",
            self.dir.path().join("phone.db").display()
        );
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("open the phone's database file");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM job_packets WHERE doc_id = ?1")
            .bind(ticket.to_string())
            .fetch_one(&mut conn)
            .await
            .expect("count packet rows");
        rows
    }
}

/// The shop's customer, site and an asset with history; a ticket on the
/// asset assigned to technician 0, with an office comment and one of the
/// technician's own.
struct Job {
    ticket: Uuid,
    customer: Uuid,
    site: Uuid,
}

async fn job(app: &TestApp, shop: &Shop) -> Job {
    let admin = &shop.tenant.admin_token;
    let site = app
        .get(&format!("/v1/sites/{}", shop.site), admin)
        .await
        .expect(StatusCode::OK);
    let customer = id_of(&site, "customer_id");
    app.patch(
        &format!("/v1/customers/{customer}"),
        admin,
        &json!({"contact_person": "Petra Hausmeister", "phone": "+49 30 1234567",
                "email": "Facilities@Hotel.example"}),
    )
    .await
    .expect(StatusCode::OK);
    app.patch(
        &format!("/v1/sites/{}", shop.site),
        admin,
        &json!({"access_notes": "Loading dock, ring twice", "opening_hours": "Mo–Fr 07:00–17:00"}),
    )
    .await
    .expect(StatusCode::OK);
    let asset = app
        .post(
            "/v1/assets",
            admin,
            &json!({"site_id": shop.site, "serial": "CH-4711", "model": "Carrier 30XA",
                    "warranty_end": "2099-12-31", "installed_on": "2019-05-02"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let asset = id_of(&asset, "id");
    let ticket_on_asset = |title: &str| {
        json!({"title": title, "category": "hvac", "priority": "P2",
               "site_id": shop.site, "asset_id": asset, "description": "Unit trips at noon"})
    };
    app.post("/v1/tickets", admin, &ticket_on_asset("Filter change"))
        .await
        .expect(StatusCode::CREATED);
    let ticket = id_of(
        &app.post("/v1/tickets", admin, &ticket_on_asset("Chiller trips"))
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    shop.assign(app, ticket, shop.techs[0].id).await;
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        admin,
        &json!({"body": "Customer asks you to call before arriving", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        &shop.techs[0].token,
        &json!({"body": "my own note", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    Job {
        ticket,
        customer,
        site: shop.site,
    }
}

async fn packet_is_readable_offline_and_follows_the_office(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "packetread").build().await;
    let job = job(&app, &shop).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    let report = phone.sync().await;
    assert_eq!(report.packets_received, vec![job.ticket.to_string()]);

    // Offline: the packet comes from the phone's own database.
    phone.client.set_online(false);
    let stored = phone
        .client
        .packet(&job.ticket.to_string())
        .await
        .expect("read")
        .expect("a packet");
    let p = &stored.packet;
    assert_eq!(p.site.name, "Main");
    assert_eq!(p.site.address, "Unter den Linden 77");
    assert_eq!((p.site.lat, p.site.lon), (52.5163, 13.3795));
    assert_eq!(p.site.access_notes, "Loading dock, ring twice");
    assert_eq!(p.site.opening_hours, "Mo–Fr 07:00–17:00");
    assert_eq!(p.customer.name, "Hotel");
    assert_eq!(
        p.customer.contact_person.as_deref(),
        Some("Petra Hausmeister")
    );
    assert_eq!(p.customer.phone.as_deref(), Some("+49 30 1234567"));
    assert_eq!(
        p.customer.email.as_deref(),
        Some("facilities@hotel.example")
    );
    let asset = p.asset.as_ref().expect("the ticket's asset");
    assert_eq!(
        (asset.model.as_str(), asset.serial.as_str()),
        ("Carrier 30XA", "CH-4711")
    );
    assert_eq!(asset.installed_on.as_deref(), Some("2019-05-02"));
    assert_eq!(asset.warranty, WarrantyStatus::InWarranty);
    assert_eq!(asset.warranty_text(), "in warranty until 2099-12-31");
    let history: Vec<&str> = asset.history.iter().map(|h| h.title.as_str()).collect();
    assert_eq!(history, ["Filter change"], "the asset's other tickets");
    assert_eq!(asset.history[0].status, "new");
    assert_eq!(p.ticket.title, "Chiller trips");
    assert_eq!(p.ticket.description, "Unit trips at noon");
    assert_eq!(p.ticket.priority, "P2");
    assert_eq!(p.ticket.category, "hvac");
    // The office's comment, not the technician's own.
    let comments: Vec<&str> = p.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(comments, ["Customer asks you to call before arriving"]);
    // The packet is not in the ticket's document (erasable, PROTOCOL.md §4).
    let doc = app
        .ticket_doc(shop.tenant.id, job.ticket)
        .await
        .expect("document");
    let saved = doc.doc.save();
    assert!(
        !saved
            .windows(b"Hausmeister".len())
            .any(|w| w == b"Hausmeister"),
        "personal data in the CRDT"
    );

    // Nothing changed: the next sync carries no packet.
    phone.client.set_online(true);
    let report = phone.sync().await;
    assert!(report.packets_received.is_empty(), "{report:?}");

    // The office changes the access notes and the contact: after the next
    // sync the phone has the new packet, whole.
    let admin = &shop.tenant.admin_token;
    app.patch(
        &format!("/v1/sites/{}", job.site),
        admin,
        &json!({"access_notes": "New gate code 4711; hard hats on the roof"}),
    )
    .await
    .expect(StatusCode::OK);
    app.patch(
        &format!("/v1/customers/{}", job.customer),
        admin,
        &json!({"contact_person": "Jonas Weber"}),
    )
    .await
    .expect(StatusCode::OK);
    let report = phone.sync().await;
    assert_eq!(report.packets_received, vec![job.ticket.to_string()]);
    phone.client.set_online(false);
    let updated = phone
        .client
        .packet(&job.ticket.to_string())
        .await
        .expect("read")
        .expect("a packet");
    assert_ne!(updated.hash, stored.hash);
    assert_eq!(
        updated.packet.site.access_notes,
        "New gate code 4711; hard hats on the roof"
    );
    assert_eq!(
        updated.packet.customer.contact_person.as_deref(),
        Some("Jonas Weber")
    );
    let text = truckroll_sdk::packet::render(&updated);
    assert!(text.contains("Address: Unter den Linden 77"), "{text}");
    assert!(text.contains("Contact: Jonas Weber"), "{text}");
    assert!(
        text.contains("Asset: Carrier 30XA (serial CH-4711)"),
        "{text}"
    );
    app.stop().await;
}

async fn packet_leaves_the_phone_with_its_ticket(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "packetgone")
        .technicians(2)
        .build()
        .await;
    let job = job(&app, &shop).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    phone.sync().await;
    assert_eq!(phone.packet_rows(job.ticket).await, 1);

    // An edit made offline, then the office gives the ticket to another
    // technician: the edit still reaches the server (grace), and the packet
    // leaves the phone with the document.
    phone.client.set_online(false);
    phone
        .client
        .edit(
            &job.ticket.to_string(),
            Edit::NotesAppend {
                text: "Checked the compressor.\n".into(),
            },
        )
        .await
        .expect("edit");
    shop.assign(&app, job.ticket, shop.techs[1].id).await;
    phone.client.set_online(true);
    let report = phone.sync().await;
    assert_eq!(report.pending_edits, 0, "{report:?}");
    assert!(
        report
            .docs_removed
            .iter()
            .any(|(id, _)| id == &job.ticket.to_string()),
        "{report:?}"
    );
    assert_eq!(phone.packet_rows(job.ticket).await, 0, "packet row left");
    assert!(
        phone
            .client
            .packet(&job.ticket.to_string())
            .await
            .expect("read")
            .is_none()
    );
    let doc = app
        .ticket_doc(shop.tenant.id, job.ticket)
        .await
        .expect("document");
    assert_eq!(doc.doc.notes(), "Checked the compressor.\n");

    // The new technician's phone gets it.
    let other = Phone::signed_in(&app, &shop, 1).await;
    let report = other.sync().await;
    assert_eq!(report.packets_received, vec![job.ticket.to_string()]);
    assert_eq!(other.packet_rows(job.ticket).await, 1);
    app.stop().await;
}

async fn technician_reads_only_their_own_tickets_records(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "packetrest")
        .technicians(2)
        .build()
        .await;
    let job = job(&app, &shop).await;
    let admin = &shop.tenant.admin_token;
    // Another customer's site with a ticket of technician 1.
    let other_customer = app
        .post("/v1/customers", admin, &json!({"name": "Bakery"}))
        .await
        .expect(StatusCode::CREATED);
    let other_site = app
        .post(
            "/v1/sites",
            admin,
            &json!({"customer_id": other_customer["id"], "name": "Bakery", "address": "Karl-Marx-Allee 1",
                    "location": {"lat": 52.517, "lon": 13.43}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let other_ticket = app
        .post(
            "/v1/tickets",
            admin,
            &json!({"title": "Oven", "category": "hvac", "priority": "P3", "site_id": other_site["id"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    shop.assign(&app, id_of(&other_ticket, "id"), shop.techs[1].id)
        .await;

    let mine = &shop.techs[0].token;
    let site: Value = app
        .get(&format!("/v1/sites/{}", job.site), mine)
        .await
        .expect(StatusCode::OK);
    assert_eq!(site["access_notes"], "Loading dock, ring twice");
    let customer = app
        .get(&format!("/v1/customers/{}", job.customer), mine)
        .await
        .expect(StatusCode::OK);
    assert_eq!(customer["contact_person"], "Petra Hausmeister");
    // Another ticket's site and customer: refused.
    app.get(
        &format!(
            "/v1/sites/{}",
            other_site["id"].as_str().unwrap_or_default()
        ),
        mine,
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get(
        &format!(
            "/v1/customers/{}",
            other_customer["id"].as_str().unwrap_or_default()
        ),
        mine,
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // Technician 1 may read the bakery but not the hotel.
    let theirs = &shop.techs[1].token;
    app.get(
        &format!(
            "/v1/sites/{}",
            other_site["id"].as_str().unwrap_or_default()
        ),
        theirs,
    )
    .await
    .expect(StatusCode::OK);
    app.get(&format!("/v1/sites/{}", job.site), theirs)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // Lists and writes stay refused.
    app.get("/v1/sites", mine)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.patch(
        &format!("/v1/sites/{}", job.site),
        mine,
        &json!({"access_notes": "mine now"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

/// 0.018° of latitude north of the site is about 2 000 m.
const FAR_NORTH: f64 = 52.5163 + 0.018;

async fn offline_check_in_is_judged_against_the_geofence(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "packetfence").build().await;
    let far = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let near = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    phone.sync().await;

    phone.client.set_online(false);
    for (ticket, lat) in [(far, FAR_NORTH), (near, 52.5164)] {
        let id = ticket.to_string();
        for action in [StatusAction::Accept, StatusAction::StartTravel] {
            phone
                .client
                .edit(
                    &id,
                    Edit::Status {
                        action,
                        position: None,
                        reason: None,
                    },
                )
                .await
                .expect("edit");
        }
        phone
            .client
            .edit(
                &id,
                Edit::Status {
                    action: StatusAction::CheckIn,
                    position: Some(Position {
                        lat,
                        lon: 13.3795,
                        accuracy_m: Some(10.0),
                    }),
                    reason: None,
                },
            )
            .await
            .expect("check in");
    }
    phone.client.set_online(true);
    let report = phone.sync().await;
    assert!(report.rejections.is_empty(), "{report:?}");

    let admin = &shop.tenant.admin_token;
    let row = app
        .get(&format!("/v1/tickets/{far}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(row["status"], "on_site", "{row}");
    assert_eq!(row["check_in"]["verified"], false, "{row}");
    let distance = row["check_in"]["distance_m"].as_f64().expect("distance");
    assert!((distance - 2000.0).abs() < 15.0, "{distance}");
    assert_eq!(row["check_in"]["accuracy_m"], 10.0);
    let row = app
        .get(&format!("/v1/tickets/{near}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(row["check_in"]["verified"], true, "{row}");
    assert!(
        row["check_in"]["distance_m"].as_f64().expect("distance") < 20.0,
        "{row}"
    );
    app.stop().await;
}

/// A small PDF the office attaches to the ticket (begin, PUT, complete).
async fn attach_manual(app: &TestApp, shop: &Shop, ticket: Uuid) -> (Vec<u8>, String) {
    let pdf =
        b"%PDF-1.4\n% Carrier 30XA service manual\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
            .to_vec();
    let sha = sha256_hex(&pdf);
    let admin = &shop.tenant.admin_token;
    let begun = app
        .post(
            &format!("/v1/tickets/{ticket}/media"),
            admin,
            &json!({"kind": "document", "content_type": "application/pdf", "size": pdf.len(), "sha256": sha}),
        )
        .await
        .expect(StatusCode::CREATED);
    let upload = &begun["upload"];
    let method = reqwest::Method::from_bytes(upload["method"].as_str().unwrap_or("PUT").as_bytes())
        .expect("method");
    let mut put =
        reqwest::Client::new().request(method, upload["url"].as_str().expect("upload url"));
    if let Some(headers) = upload["headers"].as_object() {
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("content-length") {
                put = put.header(name, value.as_str().expect("header value"));
            }
        }
    }
    let answer = put
        .body(pdf.clone())
        .send()
        .await
        .expect("PUT reaches the store");
    assert!(
        answer.status().is_success(),
        "PUT refused: {}",
        answer.status()
    );
    app.send(
        reqwest::Method::POST,
        &format!("/v1/media/{}/complete", id_of(&begun["media"], "id")),
        Some(admin),
        None,
    )
    .await
    .expect(StatusCode::OK);
    (pdf, sha)
}

async fn office_attachments_are_kept_for_offline_reading(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "packetfiles")
        .technicians(2)
        .build()
        .await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let (pdf, sha) = attach_manual(&app, &shop, ticket).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    let report = phone.sync().await;
    assert_eq!(report.attachments_downloaded, 1, "{report:?}");

    phone.client.set_online(false);
    let stored = phone
        .client
        .packet(&ticket.to_string())
        .await
        .expect("read")
        .expect("a packet");
    let listed: Vec<&str> = stored
        .packet
        .attachments
        .iter()
        .map(|a| a.sha256.as_str())
        .collect();
    assert_eq!(listed, [sha.as_str()]);
    assert_eq!(stored.packet.attachments[0].content_type, "application/pdf");
    let bytes = phone
        .client
        .packet_attachment(&sha)
        .await
        .expect("read")
        .expect("downloaded for offline reading");
    assert_eq!(bytes, pdf);

    // Nothing new: not downloaded again.
    phone.client.set_online(true);
    assert_eq!(phone.sync().await.attachments_downloaded, 0);

    // The ticket leaves the phone: so does the file.
    shop.assign(&app, ticket, shop.techs[1].id).await;
    phone.sync().await;
    assert!(
        phone
            .client
            .packet_attachment(&sha)
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(phone.packet_rows(ticket).await, 0);
    app.stop().await;
}

/// Over the WebSocket the packet arrives after the session's answer, once:
/// the idle ticks that follow do not repeat it.
async fn websocket_sends_the_packet_once(backend: TestBackend) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    use truckroll_sdk::truckroll_sync::ActorId;
    use truckroll_sdk::truckroll_sync::protocol::Message;

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "packetws").build().await;
    let job = job(&app, &shop).await;
    let token = shop.techs[0].token.clone();
    let device = app
        .post(
            "/v1/devices",
            &token,
            &json!({"platform": "android", "actor_id": ActorId::random().to_hex_string()}),
        )
        .await
        .expect(StatusCode::CREATED);
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
    let hello = Message::Hello {
        version: 1,
        device_id: id_of(&device, "id").to_string(),
    };
    socket
        .send(tungstenite::Message::Text(hello.encode().into()))
        .await
        .expect("hello");
    // The answer to hello, then until three quiet 3-second spells: one packet.
    let mut packets = Vec::new();
    let mut ticks_seen = 0;
    let mut last_kind = String::new();
    while ticks_seen < 3 {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(3), socket.next()).await;
        let Ok(Some(Ok(tungstenite::Message::Text(text)))) = frame else {
            // No frame within a tick or two: the server had nothing to say.
            ticks_seen += 1;
            continue;
        };
        match Message::decode(text.as_str()).expect("frame") {
            Message::Packet { doc_id, packet, .. } => {
                assert_eq!(doc_id, job.ticket.to_string());
                assert_eq!(packet.site.access_notes, "Loading dock, ring twice");
                packets.push(doc_id);
            }
            other => last_kind = format!("{other:?}"),
        }
    }
    assert_eq!(
        packets.len(),
        1,
        "packets: {packets:?}; last other frame {last_kind}"
    );
    socket.close(None).await.ok();
    app.stop().await;
}

/// The packets of a set are built from one query per kind for all its
/// tickets: each packet still carries its own ticket's comments and
/// appointment window, and no other ticket's.
async fn each_packet_of_a_set_carries_its_own_tickets_records(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "packetset").build().await;
    let admin = &shop.tenant.admin_token;
    let first = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let second = shop.assigned_ticket(&app, shop.techs[0].id).await;
    for (ticket, body) in [
        (first, "first: call ahead"),
        (second, "second: bring a ladder"),
    ] {
        app.post(
            &format!("/v1/tickets/{ticket}/comments"),
            admin,
            &json!({"body": body, "visibility": "internal"}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let from = DateTime::<Utc>::from_timestamp((Utc::now().timestamp() / 3600 + 48) * 3600, 0)
        .expect("a time");
    let to = from + Duration::hours(2);
    app.send(
        Method::PUT,
        &format!("/v1/tickets/{second}/window"),
        Some(admin),
        Some(&json!({"starts_at": from.to_rfc3339(), "ends_at": to.to_rfc3339()})),
    )
    .await
    .expect(StatusCode::OK);

    let phone = Phone::signed_in(&app, &shop, 0).await;
    let mut received = phone.sync().await.packets_received;
    received.sort();
    let mut both = vec![first.to_string(), second.to_string()];
    both.sort();
    assert_eq!(received, both);
    let mut packets = Vec::new();
    for ticket in [first, second] {
        let stored = phone
            .client
            .packet(&ticket.to_string())
            .await
            .expect("read")
            .expect("a packet");
        packets.push(stored.packet);
    }
    let comments =
        |i: usize| -> Vec<String> { packets[i].comments.iter().map(|c| c.body.clone()).collect() };
    assert_eq!(comments(0), ["first: call ahead"]);
    assert_eq!(comments(1), ["second: bring a ladder"]);
    assert!(
        packets[0].ticket.appointment.is_none(),
        "{:?}",
        packets[0].ticket
    );
    let appointment = packets[1]
        .ticket
        .appointment
        .as_ref()
        .expect("the booked window");
    assert_eq!(
        (appointment.from_ms, appointment.to_ms),
        (from.timestamp_millis(), to.timestamp_millis())
    );
    app.stop().await;
}
