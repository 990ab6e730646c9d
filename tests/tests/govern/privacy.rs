//! Masking, reveals, legal holds, erasure and the customer export (issue 19,
//! items 3 and 5). The erasure test searches every column of every table
//! (from the catalogue), every blob and the ticket documents for the erased
//! values, and verifies the audit chain afterwards.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_sdk::{Client, ClientConfig};
use truckroll_server::blob::{sha256_hex, tenant_prefix};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
    media::{Blobs, use_blobs},
};
use uuid::Uuid;

backend_tests!(
    blobs: erasing_a_customer_leaves_no_trace_and_the_audit_verifies,
    erasing_the_contact_person_removes_only_the_contact,
);
backend_tests!(
    a_legal_hold_blocks_erasure,
    fields_are_masked_by_role_and_assignment,
    a_reveal_is_audited_without_the_value,
    the_export_holds_everything_about_the_customer,
);

/// Values unique to one test run, so no other test's data can match.
struct Person {
    name: String,
    email: String,
    phone: String,
    contact: String,
    address: String,
}

impl Person {
    fn new() -> Self {
        let tag = Uuid::now_v7().simple().to_string();
        let tail = &tag[tag.len() - 8..];
        let digits: String = tail.bytes().map(|b| char::from(b'0' + b % 10)).collect();
        Self {
            name: format!("Ada Lovelace-{tail}"),
            email: format!("ada.{tail}@example.com"),
            phone: format!("+49 170 {digits}"),
            contact: format!("Charles Babbage-{tail}"),
            address: format!("Kastanienallee {tail}, Berlin"),
        }
    }

    fn needles(&self) -> Vec<&str> {
        vec![
            &self.name,
            &self.email,
            &self.phone,
            &self.contact,
            &self.address,
        ]
    }
}

/// The person as a customer of `shop`'s tenant with one site; (customer, site).
async fn customer(app: &TestApp, shop: &Shop, person: &Person) -> (Uuid, Uuid) {
    let admin = &shop.tenant.admin_token;
    let customer = app
        .post(
            "/v1/customers",
            admin,
            &json!({"name": person.name, "email": person.email, "phone": person.phone,
                    "contact_person": person.contact}),
        )
        .await
        .expect(StatusCode::CREATED);
    let site = app
        .post(
            "/v1/sites",
            admin,
            &json!({"customer_id": customer["id"], "name": "Home", "address": person.address,
                    "access_notes": format!("Ring {}", person.name),
                    "location": {"lat": 52.5401, "lon": 13.4123}}),
        )
        .await
        .expect(StatusCode::CREATED);
    (id_of(&customer, "id"), id_of(&site, "id"))
}

async fn ticket_at(app: &TestApp, shop: &Shop, site: Uuid, person: &Person) -> Uuid {
    let body = json!({"title": format!("Boiler at {}", person.name), "category": "hvac",
                      "priority": "P2", "site_id": site,
                      "description": format!("Call {} or write to {}", person.phone, person.email)});
    id_of(
        &app.post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

/// A PNG whose trailing bytes quote `text`, as a photo's metadata would.
fn photo_quoting(text: &str) -> Vec<u8> {
    let image = image::RgbImage::from_fn(48, 32, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode PNG");
    bytes.extend_from_slice(format!("Comment: {text}").as_bytes());
    bytes
}

async fn upload_photo(app: &TestApp, token: &str, ticket: Uuid, bytes: &[u8]) {
    let begun = app
        .post(
            &format!("/v1/tickets/{ticket}/media"),
            token,
            &json!({"kind": "photo", "content_type": "image/png", "size": bytes.len(),
                    "sha256": sha256_hex(bytes)}),
        )
        .await
        .expect(StatusCode::CREATED);
    let upload = &begun["upload"];
    let mut put = reqwest::Client::new().put(upload["url"].as_str().expect("url"));
    if let Some(headers) = upload["headers"].as_object() {
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("content-length") {
                put = put.header(name, value.as_str().expect("header"));
            }
        }
    }
    let answer = put.body(bytes.to_vec()).send().await.expect("PUT");
    assert!(answer.status().is_success(), "PUT: {}", answer.status());
    app.send(
        Method::POST,
        &format!("/v1/media/{}/complete", id_of(&begun["media"], "id")),
        Some(token),
        None,
    )
    .await
    .expect(StatusCode::OK);
}

/// Blobs of this tenant, and blobs outside any tenant's folder, that hold a needle.
async fn blobs_containing(app: &TestApp, tenant: Uuid, needles: &[&str]) -> Vec<String> {
    let blobs = app.state.blobs.as_ref();
    let mine = tenant_prefix(tenant);
    let mut found = Vec::new();
    for key in blobs.list("").await.expect("list blobs") {
        // Other tenants' objects belong to other tests running beside this one.
        if key.starts_with("tenants/") && !key.starts_with(&mine) {
            continue;
        }
        let bytes = blobs.read(&key).await.expect("read blob");
        if needles
            .iter()
            .any(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
        {
            found.push(key);
        }
    }
    found
}

/// The ticket document uncompressed (a saved document deflates its columns).
async fn document_holds(app: &TestApp, tenant: Uuid, ticket: Uuid, needles: &[&str]) -> bool {
    let loaded = app.ticket_doc(tenant, ticket).await.expect("a document");
    let bytes = loaded.doc.as_automerge().save_nocompress();
    needles
        .iter()
        .any(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
}

async fn erasing_a_customer_leaves_no_trace_and_the_audit_verifies(
    backend: TestBackend,
    blobs: Blobs,
) {
    let app = TestApp::start_with(backend, |config| use_blobs(config, blobs)).await;
    let shop = Shop::builder(&app, "erase").build().await;
    let admin = shop.tenant.admin_token.clone();
    let tech = shop.tech().token.clone();
    let person = Person::new();
    let needles = person.needles();
    let (customer_id, site) = customer(&app, &shop, &person).await;
    let ticket = ticket_at(&app, &shop, site, &person).await;
    shop.assign(&app, ticket, shop.tech().id).await;
    // The technician's phone holds the job packet with the values.
    let phone_dir = TempGuard::new("truckroll-erase-");
    let phone = Client::open(
        &phone_dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    phone
        .sign_in(&shop.tenant.name, &shop.tech().email, PASSWORD)
        .await
        .expect("signs in");
    phone.sync_now().await.expect("sync");
    let packet = phone
        .packet(&ticket.to_string())
        .await
        .expect("read")
        .expect("a packet");
    assert!(format!("{packet:?}").contains(&person.phone));

    // Everywhere the values travel: comments, a correction in the ticket's
    // document, a signature, a photo, a changed contact, an idempotent write.
    app.send_with(
        Method::POST,
        &format!("/v1/tickets/{ticket}/comments"),
        Some(&admin),
        Some(&json!({"body": format!("Customer rang from {}", person.phone), "visibility": "internal"})),
        &[("idempotency-key", "erase-comment-1")],
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        &admin,
        &json!({"body": format!("We will write to {}", person.email), "visibility": "public"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let work = app
        .get(&format!("/v1/tickets/{ticket}/work"), &admin)
        .await
        .expect(StatusCode::OK);
    app.post(
        &format!("/v1/tickets/{ticket}/work/corrections"),
        &admin,
        &json!({"version": work["version"], "reason": "notes from the phone call",
                "operations": [{"op": "append_note", "text": format!("Gate code at {}", person.address)}]}),
    )
    .await
    .expect(StatusCode::OK);
    app.post(
        &format!("/v1/tickets/{ticket}/signature"),
        &tech,
        &json!({"signer_name": person.name, "width": 200, "height": 80,
                "strokes": [[{"x": 10, "y": 60}, {"x": 40, "y": 20}, {"x": 70, "y": 60}]]}),
    )
    .await
    .expect(StatusCode::CREATED);
    upload_photo(&app, &tech, ticket, &photo_quoting(&person.address)).await;
    app.patch(
        &format!("/v1/customers/{customer_id}"),
        &admin,
        &json!({"contact_person": person.contact.to_uppercase()}),
    )
    .await
    .expect(StatusCode::OK);
    let found = app
        .get(&format!("/v1/search?q={}", &person.name[4..]), &admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        !found["results"].as_array().expect("results").is_empty(),
        "{found}"
    );

    // The values are there before: the searches below can see them.
    let raw = app.db.raw().await;
    assert!(
        raw.table_count().await > 60,
        "the catalogue lists the tables"
    );
    let before = raw.columns_containing(&needles).await;
    for column in [
        "customers.name",
        "sites.address",
        "comments.body",
        "audit_log.after",
    ] {
        assert!(before.iter().any(|c| c == column), "{column} in {before:?}");
    }
    assert!(document_holds(&app, shop.tenant.id, ticket, &needles).await);
    assert!(
        !blobs_containing(&app, shop.tenant.id, &needles)
            .await
            .is_empty()
    );

    // An open ticket blocks erasure; a cancelled one does not.
    app.post(
        &format!("/v1/customers/{customer_id}/erase"),
        &admin,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "in_use");
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &admin,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    // Not for a technician or a dispatcher.
    app.post(
        &format!("/v1/customers/{customer_id}/erase"),
        &tech,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let outcome = app
        .post(
            &format!("/v1/customers/{customer_id}/erase"),
            &admin,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(outcome["documents_squashed"], json!(1), "{outcome}");
    assert_eq!(outcome["media_deleted"], json!(2), "{outcome}");
    assert!(
        outcome["audit_entries_redacted"].as_u64() > Some(2),
        "{outcome}"
    );

    let after = raw.columns_containing(&needles).await;
    assert!(after.is_empty(), "erased values remain in {after:?}");
    let lowered: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
    let lowered: Vec<&str> = lowered.iter().map(String::as_str).collect();
    let after = raw.columns_containing(&lowered).await;
    assert!(after.is_empty(), "lowercased values remain in {after:?}");
    raw.close().await;
    assert!(!document_holds(&app, shop.tenant.id, ticket, &needles).await);
    let left = blobs_containing(&app, shop.tenant.id, &needles).await;
    assert!(left.is_empty(), "blobs still hold the values: {left:?}");

    // The phone is told at its next sync and drops the ticket and its packet.
    let report = phone.sync_now().await.expect("sync");
    assert!(
        report
            .docs_removed
            .iter()
            .any(|(id, _)| id == &ticket.to_string()),
        "{report:?}"
    );
    assert!(
        phone
            .packet(&ticket.to_string())
            .await
            .expect("read")
            .is_none()
    );

    let verify = app
        .get("/v1/audit/verify", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verify["valid"], json!(true), "{verify}");
    let customer = app
        .get(&format!("/v1/customers/{customer_id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(customer["name"], json!("[erased]"));
    assert_eq!(customer["phone"], Value::Null);
    let found = app
        .get(&format!("/v1/search?q={}", &person.name[4..]), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(found["results"], json!([]), "{found}");
    // The ticket and its work record stay, without the values.
    let work = app
        .get(&format!("/v1/tickets/{ticket}/work"), &admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        work["notes"]
            .as_str()
            .expect("notes")
            .contains("Gate code at [erased]"),
        "{work}"
    );
    app.stop().await;
}

async fn a_legal_hold_blocks_erasure(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "hold").build().await;
    let admin = shop.tenant.admin_token.clone();
    let person = Person::new();
    let (customer_id, site) = customer(&app, &shop, &person).await;
    let ticket = ticket_at(&app, &shop, site, &person).await;
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &admin,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    let hold = |path: String, on: bool| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.send(
                Method::PUT,
                &path,
                Some(&admin),
                Some(&json!({"legal_hold": on})),
            )
            .await
            .expect(StatusCode::OK)
        }
    };
    let erase = format!("/v1/customers/{customer_id}/erase");

    hold(format!("/v1/customers/{customer_id}/legal-hold"), true).await;
    let reply = app.post(&erase, &admin, &json!({})).await;
    reply.expect_problem(StatusCode::CONFLICT, "legal-hold");
    assert!(
        reply.body["detail"]
            .as_str()
            .expect("detail")
            .contains("customer"),
        "{}",
        reply.body
    );
    hold(format!("/v1/customers/{customer_id}/legal-hold"), false).await;

    hold(format!("/v1/tickets/{ticket}/legal-hold"), true).await;
    let reply = app.post(&erase, &admin, &json!({})).await;
    reply.expect_problem(StatusCode::CONFLICT, "legal-hold");
    // Nothing was written: the customer is whole.
    let kept = app
        .get(&format!("/v1/customers/{customer_id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(kept["email"], json!(person.email));
    hold(format!("/v1/tickets/{ticket}/legal-hold"), false).await;

    app.post(&erase, &admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    // Another tenant's admin cannot hold or erase it.
    let other = app.create_tenant("hold-other").await;
    app.send(
        Method::PUT,
        &format!("/v1/customers/{customer_id}/legal-hold"),
        Some(&other.admin_token),
        Some(&json!({"legal_hold": true})),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(&erase, &other.admin_token, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

const MASK: char = '\u{2022}';

fn masked(value: &Value) -> bool {
    value.as_str().is_some_and(|v| v.contains(MASK))
}

async fn fields_are_masked_by_role_and_assignment(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "mask").technicians(2).build().await;
    let admin = shop.tenant.admin_token.clone();
    let person = Person::new();
    let (customer_id, site) = customer(&app, &shop, &person).await;
    let ticket = ticket_at(&app, &shop, site, &person).await;
    shop.assign(&app, ticket, shop.techs[0].id).await;
    let (_, dispatcher) = app
        .create_user(&shop.tenant, "desk@mask.test", "dispatcher")
        .await;
    let (_, manager) = app
        .create_user(&shop.tenant, "boss@mask.test", "manager")
        .await;
    let customer_path = format!("/v1/customers/{customer_id}");
    let site_path = format!("/v1/sites/{site}");

    // The defaults: admin and dispatcher see everything, a manager nothing.
    for token in [&admin, &dispatcher] {
        let c = app.get(&customer_path, token).await.expect(StatusCode::OK);
        assert_eq!(c["phone"], json!(person.phone));
        assert_eq!(c["email"], json!(person.email));
        let s = app.get(&site_path, token).await.expect(StatusCode::OK);
        assert_eq!(s["address"], json!(person.address));
    }
    let c = app
        .get(&customer_path, &manager)
        .await
        .expect(StatusCode::OK);
    assert!(masked(&c["phone"]) && masked(&c["email"]), "{c}");
    assert_eq!(c["name"], json!(person.name), "the name is not masked");
    assert!(
        c["phone"]
            .as_str()
            .expect("phone")
            .ends_with(&person.phone[person.phone.len() - 2..])
    );
    let s = app.get(&site_path, &manager).await.expect(StatusCode::OK);
    assert!(masked(&s["address"]), "{s}");
    let listed = app
        .get("/v1/customers", &manager)
        .await
        .expect(StatusCode::OK);
    let row = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["id"] == json!(customer_id))
        .expect("listed")
        .clone();
    assert!(masked(&row["phone"]), "{row}");
    let found = app
        .get(
            &format!("/v1/search?q={}&kind=customer", &person.name[4..]),
            &manager,
        )
        .await
        .expect(StatusCode::OK);
    let hit = &found["results"][0];
    assert!(
        masked(&hit["subtitle"]) && !hit["subtitle"].as_str().expect("s").contains(&person.email),
        "{found}"
    );

    // The assigned technician sees the fields of their job; the other
    // technician does not reach the customer at all.
    let c = app
        .get(&customer_path, &shop.techs[0].token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(c["phone"], json!(person.phone));
    let s = app
        .get(&site_path, &shop.techs[0].token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["address"], json!(person.address));
    app.get(&customer_path, &shop.techs[1].token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // The tenant masks phone and address for dispatchers.
    let settings = json!({"unmasked": {"admin": ["phone", "email", "address"], "dispatcher": ["email"]},
                          "erase_photos": true});
    app.send(
        Method::PUT,
        "/v1/privacy/settings",
        Some(&dispatcher),
        Some(&settings),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.send(
        Method::PUT,
        "/v1/privacy/settings",
        Some(&admin),
        Some(&json!({"unmasked": {"technician": ["phone"]}, "erase_photos": true})),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.send(
        Method::PUT,
        "/v1/privacy/settings",
        Some(&admin),
        Some(&settings),
    )
    .await
    .expect(StatusCode::OK);
    let c = app
        .get(&customer_path, &dispatcher)
        .await
        .expect(StatusCode::OK);
    assert!(masked(&c["phone"]), "{c}");
    assert_eq!(c["email"], json!(person.email));
    let s = app
        .get(&site_path, &dispatcher)
        .await
        .expect(StatusCode::OK);
    assert!(masked(&s["address"]), "{s}");
    // A dispatcher's edit answers masked too.
    let edited = app
        .patch(&customer_path, &dispatcher, &json!({"tier": "gold"}))
        .await
        .expect(StatusCode::OK);
    assert!(masked(&edited["phone"]), "{edited}");
    // The technician's view does not depend on the office settings.
    let c = app
        .get(&customer_path, &shop.techs[0].token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(c["phone"], json!(person.phone));

    // Another tenant: not found, revealed or not.
    let other = app.create_tenant("mask-other").await;
    app.get(&customer_path, &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(
        &format!("{customer_path}/reveal"),
        &other.admin_token,
        &json!({"field": "phone"}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

async fn a_reveal_is_audited_without_the_value(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "reveal").build().await;
    let person = Person::new();
    let (customer_id, site) = customer(&app, &shop, &person).await;
    let (manager_id, manager) = app
        .create_user(&shop.tenant, "boss@reveal.test", "manager")
        .await;
    let revealed = app
        .post(
            &format!("/v1/customers/{customer_id}/reveal"),
            &manager,
            &json!({"field": "phone"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(revealed["value"], json!(person.phone));
    let revealed = app
        .post(
            &format!("/v1/sites/{site}/reveal"),
            &manager,
            &json!({"field": "address"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(revealed["value"], json!(person.address));
    app.post(
        &format!("/v1/sites/{site}/reveal"),
        &manager,
        &json!({"field": "phone"}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    // Technicians do not reveal: they see their own jobs whole.
    app.post(
        &format!("/v1/customers/{customer_id}/reveal"),
        &shop.tech().token,
        &json!({"field": "phone"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let audit = app
        .get("/v1/audit?limit=200", &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let entries = audit["items"].as_array().expect("items");
    let reveal = entries
        .iter()
        .find(|e| e["action"] == json!("customer.reveal"))
        .unwrap_or_else(|| panic!("a reveal entry in {audit}"));
    assert_eq!(reveal["actor_id"], json!(manager_id));
    assert_eq!(reveal["entity_id"], json!(customer_id));
    let detail = reveal["after"].as_str().expect("after");
    assert!(
        detail.contains("phone") && !detail.contains(&person.phone),
        "{detail}"
    );
    assert!(entries.iter().any(|e| e["action"] == json!("site.reveal")));
    app.stop().await;
}

async fn the_export_holds_everything_about_the_customer(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "export").build().await;
    let admin = shop.tenant.admin_token.clone();
    let person = Person::new();
    let (customer_id, site) = customer(&app, &shop, &person).await;
    let ticket = ticket_at(&app, &shop, site, &person).await;
    shop.assign(&app, ticket, shop.tech().id).await;
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        &admin,
        &json!({"body": "Public note", "visibility": "public"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        &admin,
        &json!({"body": "Internal note", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let photo = photo_quoting("export");
    upload_photo(&app, &shop.tech().token, ticket, &photo).await;

    let path = format!("/v1/customers/{customer_id}/export");
    let reply = app.get(&path, &admin).await;
    assert!(
        reply
            .headers
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("attachment")),
        "{:?}",
        reply.headers
    );
    let archive = reply.expect(StatusCode::OK);
    assert_eq!(archive["format"], json!("truckroll.customer-export/1"));
    assert_eq!(archive["customer"]["phone"], json!(person.phone));
    assert_eq!(archive["sites"][0]["address"], json!(person.address));
    let tickets = archive["tickets"].as_array().expect("tickets");
    assert_eq!(tickets.len(), 1);
    let exported = &tickets[0];
    assert_eq!(exported["ticket"]["id"], json!(ticket));
    let comments: Vec<&str> = exported["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .map(|c| c["body"].as_str().expect("body"))
        .collect();
    assert_eq!(comments, ["Public note"]);
    let media = &exported["media"][0];
    assert_eq!(media["kind"], json!("photo"));
    use base64::Engine;
    let content = base64::engine::general_purpose::STANDARD
        .decode(media["content_base64"].as_str().expect("content"))
        .expect("base64");
    assert_eq!(content, photo);
    assert!(exported["work"]["events"].is_array(), "{exported}");
    let audit: Vec<&str> = archive["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert!(
        audit.contains(&"customer.create") && audit.contains(&"site.create"),
        "{audit:?}"
    );

    // Only for admins, and only in the tenant.
    let (_, dispatcher) = app
        .create_user(&shop.tenant, "desk@export.test", "dispatcher")
        .await;
    app.get(&path, &dispatcher)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let other = app.create_tenant("export-other").await;
    app.get(&path, &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

/// Erasing a customer's contact person alone (issue 19, item 5, "or
/// contact"): the contact's name leaves every table, blob and the squashed
/// document; the customer's own name, email, phone and site stay.
async fn erasing_the_contact_person_removes_only_the_contact(backend: TestBackend, blobs: Blobs) {
    let app = TestApp::start_with(backend, |config| use_blobs(config, blobs)).await;
    let shop = Shop::builder(&app, "contact-erase").build().await;
    let admin = shop.tenant.admin_token.clone();
    let tech = shop.tech().token.clone();
    let person = Person::new();
    let contact = person.contact.as_str();
    let (customer_id, site) = customer(&app, &shop, &person).await;
    let body = json!({"title": "Boiler pressure", "category": "hvac", "priority": "P2",
                      "site_id": site, "description": format!("Ask for {contact} at the gate")});
    let ticket = id_of(
        &app.post("/v1/tickets", &admin, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    shop.assign(&app, ticket, shop.tech().id).await;
    app.send_with(
        Method::POST,
        &format!("/v1/tickets/{ticket}/comments"),
        Some(&admin),
        Some(&json!({"body": format!("{contact} will be home after 3", ), "visibility": "public"})),
        &[("idempotency-key", "contact-erase-comment-1")],
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        &admin,
        &json!({"body": format!("Customer's number {}", person.phone), "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let work = app
        .get(&format!("/v1/tickets/{ticket}/work"), &admin)
        .await
        .expect(StatusCode::OK);
    app.post(
        &format!("/v1/tickets/{ticket}/work/corrections"),
        &admin,
        &json!({"version": work["version"], "reason": "phone call",
                "operations": [{"op": "append_note", "text": format!("Key is with {contact}")}]}),
    )
    .await
    .expect(StatusCode::OK);
    app.post(
        &format!("/v1/tickets/{ticket}/signature"),
        &tech,
        &json!({"signer_name": contact, "width": 200, "height": 80,
                "strokes": [[{"x": 10, "y": 60}, {"x": 40, "y": 20}, {"x": 70, "y": 60}]]}),
    )
    .await
    .expect(StatusCode::CREATED);
    upload_photo(&app, &tech, ticket, &photo_quoting(&person.address)).await;

    let erase = format!("/v1/customers/{customer_id}/contact/erase");
    let contact_only = [contact];
    let raw = app.db.raw().await;
    let before = raw.columns_containing(&contact_only).await;
    for column in [
        "customers.contact_person",
        "tickets.description",
        "comments.body",
        "signatures.signer_name",
        "audit_log.after",
    ] {
        assert!(before.iter().any(|c| c == column), "{column} in {before:?}");
    }
    assert!(document_holds(&app, shop.tenant.id, ticket, &contact_only).await);

    // Bad requests change nothing: another tenant, an unknown customer,
    // a technician, a legal hold, an open ticket whose record names them.
    let other = app.create_tenant("contact-erase-other").await;
    app.post(&erase, &other.admin_token, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(
        &format!("/v1/customers/{}/contact/erase", Uuid::now_v7()),
        &admin,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(&erase, &tech, &json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.send(
        Method::PUT,
        &format!("/v1/customers/{customer_id}/legal-hold"),
        Some(&admin),
        Some(&json!({"legal_hold": true})),
    )
    .await
    .expect(StatusCode::OK);
    app.post(&erase, &admin, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "legal-hold");
    app.send(
        Method::PUT,
        &format!("/v1/customers/{customer_id}/legal-hold"),
        Some(&admin),
        Some(&json!({"legal_hold": false})),
    )
    .await
    .expect(StatusCode::OK);
    let reply = app.post(&erase, &admin, &json!({})).await;
    reply.expect_problem(StatusCode::CONFLICT, "in_use");
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| !d.contains(contact)),
        "{}",
        reply.body
    );
    // Refused erasures removed nothing (the message worker may meanwhile
    // have rendered a message quoting the contact: more, never less).
    let refused = raw.columns_containing(&contact_only).await;
    for column in &before {
        assert!(
            refused.contains(column),
            "{column} lost by a refused erasure"
        );
    }

    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &admin,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    let outcome = app
        .post(&erase, &admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(outcome["documents_squashed"], json!(1), "{outcome}");
    assert_eq!(
        outcome["media_deleted"],
        json!(1),
        "the signature: {outcome}"
    );
    assert!(
        outcome["audit_entries_redacted"].as_u64() >= Some(2),
        "{outcome}"
    );

    let lowered = contact.to_lowercase();
    let upper = contact.to_uppercase();
    let after = raw
        .columns_containing(&[contact, lowered.as_str(), upper.as_str()])
        .await;
    assert!(after.is_empty(), "the contact remains in {after:?}");
    assert!(!document_holds(&app, shop.tenant.id, ticket, &contact_only).await);
    let left = blobs_containing(&app, shop.tenant.id, &contact_only).await;
    assert!(left.is_empty(), "blobs still hold the contact: {left:?}");

    // The customer's own data stays, in its rows and in the photo.
    let kept = raw
        .columns_containing(&[person.name.as_str(), person.email.as_str()])
        .await;
    assert!(kept.iter().any(|c| c == "customers.name"), "{kept:?}");
    assert!(kept.iter().any(|c| c == "customers.email"), "{kept:?}");
    let kept = raw
        .columns_containing(&[person.phone.as_str(), person.address.as_str()])
        .await;
    assert!(kept.iter().any(|c| c == "comments.body"), "{kept:?}");
    assert!(kept.iter().any(|c| c == "sites.address"), "{kept:?}");
    raw.close().await;
    assert!(
        !blobs_containing(&app, shop.tenant.id, &[person.address.as_str()])
            .await
            .is_empty(),
        "the photo stays"
    );
    let customer = app
        .get(&format!("/v1/customers/{customer_id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(customer["name"], json!(person.name));
    assert_eq!(customer["email"], json!(person.email));
    assert_eq!(customer["phone"], json!(person.phone));
    assert_eq!(customer["contact_person"], Value::Null);
    assert_eq!(customer["archived_at"], Value::Null);
    let work = app
        .get(&format!("/v1/tickets/{ticket}/work"), &admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        work["notes"]
            .as_str()
            .expect("notes")
            .contains("Key is with [erased]"),
        "{work}"
    );
    let verify = app
        .get("/v1/audit/verify", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verify["valid"], json!(true), "{verify}");
    // Done once: nothing is left to erase.
    app.post(&erase, &admin, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}
