//! Photos, documents and signatures through the public API, on SQLite and
//! PostgreSQL, each with the `fs` blob backend and a real S3-compatible
//! server (s3s-fs, started by scripts/test.sh; the fault tests start their
//! own). Uploads go straight to the presigned URL with a plain HTTP client.

use std::{
    io::Cursor,
    time::{Duration, SystemTime},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use truckroll_server::{
    blob::{PutSpec, Validity, object_key, tenant_prefix},
    media::sweep_orphans,
};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, TestTenant, id_of},
    fixtures::Shop,
    media::{Blobs, S3sServer, use_blobs, use_s3},
};
use uuid::Uuid;

backend_tests!(
    blobs:
    full_flow_stores_checks_lists_and_serves_identical_bytes,
    same_content_is_stored_once_across_retries_and_tickets,
    lies_about_hash_size_or_type_leave_no_reference,
    an_expired_upload_url_is_refused,
    technicians_and_tenants_are_isolated,
    an_upload_begun_before_a_restart_still_completes,
    orphaned_uploads_are_swept_and_referenced_objects_never,
    signatures_verify_and_tampering_is_detected,
    limits_and_bad_declarations_are_problems,
);

// The S3 server is stopped mid-upload and comes back.
backend_tests!(store_outage_is_a_clear_error_and_a_retry_stores_once);

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A real PNG photo whose pixels (and so hash) depend on `seed`.
fn photo(seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([x as u8 ^ seed, y as u8 ^ seed.rotate_left(3), seed])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("encode PNG");
    bytes
}

/// A real JPEG photo.
fn jpeg(seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(80, 60, |x, y| image::Rgb([x as u8, y as u8, seed]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .expect("encode JPEG");
    bytes
}

/// A tenant with a technician and two tickets assigned to them.
struct World {
    app: TestApp,
    tenant: TestTenant,
    technician: String,
    ticket: Uuid,
    second_ticket: Uuid,
}

async fn technician(app: &TestApp, tenant: &TestTenant, email: &str) -> (Uuid, String) {
    let (user_id, token) = app.create_user(tenant, email, "technician").await;
    let body = json!({
        "user_id": user_id,
        "name": email,
        "time_zone": "Europe/Berlin",
        "home_base": {"lat": 52.52, "lon": 13.405},
    });
    let created = app
        .post("/v1/technicians", &tenant.admin_token, &body)
        .await
        .expect(StatusCode::CREATED);
    (id_of(&created, "id"), token)
}

async fn world_on(app: TestApp, name: &str) -> World {
    let duty = Shop::on_duty(&app, name, 2, ("Boiler leaks", "P3")).await;
    World {
        tenant: duty.tenant().clone(),
        technician: duty.tech().token.clone(),
        ticket: duty.tickets[0],
        second_ticket: duty.tickets[1],
        app,
    }
}

async fn world(backend: TestBackend, blobs: Blobs) -> World {
    let app = TestApp::start_with(backend, |c| use_blobs(c, blobs)).await;
    world_on(app, "acme").await
}

async fn begin(
    app: &TestApp,
    token: &str,
    ticket: Uuid,
    kind: &str,
    content_type: &str,
    size: usize,
    sha256: &str,
) -> truckroll_tests::app::Reply {
    app.post(
        &format!("/v1/tickets/{ticket}/media"),
        token,
        &json!({"kind": kind, "content_type": content_type, "size": size, "sha256": sha256}),
    )
    .await
}

async fn begin_photo(app: &TestApp, token: &str, ticket: Uuid, bytes: &[u8]) -> Value {
    begin(
        app,
        token,
        ticket,
        "photo",
        "image/png",
        bytes.len(),
        &sha256_hex(bytes),
    )
    .await
    .expect(StatusCode::CREATED)
}

/// Sends `body` to a signed request as a phone would: method, URL and the
/// given headers (the client sets `Content-Length` from the body itself).
async fn send_signed(request: &Value, body: Vec<u8>) -> reqwest::Result<reqwest::Response> {
    let method = Method::from_bytes(request["method"].as_str().expect("method").as_bytes())
        .expect("valid method");
    let mut call = reqwest::Client::new().request(method, request["url"].as_str().expect("url"));
    if let Some(headers) = request["headers"].as_object() {
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("content-length") {
                call = call.header(name, value.as_str().expect("header value"));
            }
        }
    }
    call.body(body).send().await
}

async fn put_ok(begun: &Value, bytes: &[u8]) {
    let answer = send_signed(&begun["upload"], bytes.to_vec())
        .await
        .expect("the store answers the PUT");
    let status = answer.status();
    assert!(
        status.is_success(),
        "PUT refused: {status} {}",
        answer.text().await.unwrap_or_default()
    );
}

async fn complete(app: &TestApp, token: &str, media: Uuid) -> truckroll_tests::app::Reply {
    app.send(
        Method::POST,
        &format!("/v1/media/{media}/complete"),
        Some(token),
        None,
    )
    .await
}

async fn listed(app: &TestApp, token: &str, ticket: Uuid) -> Vec<Value> {
    app.get(&format!("/v1/tickets/{ticket}/media"), token)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn fetch(request: &Value) -> Vec<u8> {
    let answer = send_signed(request, Vec::new())
        .await
        .expect("GET reaches the store");
    assert_eq!(answer.status(), StatusCode::OK, "download refused");
    answer.bytes().await.expect("body").to_vec()
}

/// Objects of the tenant in the blob store, as the store lists them.
async fn objects(app: &TestApp, tenant: Uuid) -> Vec<String> {
    app.state
        .blobs
        .list(&tenant_prefix(tenant))
        .await
        .expect("list objects")
}

/// Begin, PUT, complete: the stored media.
async fn upload(app: &TestApp, token: &str, ticket: Uuid, bytes: &[u8]) -> Value {
    let begun = begin_photo(app, token, ticket, bytes).await;
    if !begun["upload"].is_null() {
        put_ok(&begun, bytes).await;
    }
    complete(app, token, id_of(&begun["media"], "id"))
        .await
        .expect(StatusCode::OK)
}

async fn full_flow_stores_checks_lists_and_serves_identical_bytes(
    backend: TestBackend,
    blobs: Blobs,
) {
    let w = world(backend, blobs).await;
    let (app, tech) = (&w.app, w.technician.as_str());
    let bytes = photo(1);
    let hash = sha256_hex(&bytes);

    let begun = begin_photo(app, tech, w.ticket, &bytes).await;
    assert_eq!(begun["already_stored"], json!(false), "{begun}");
    assert_eq!(begun["media"]["state"], "pending");
    let media = id_of(&begun["media"], "id");
    let url = begun["upload"]["url"].as_str().expect("upload url");
    assert!(url.contains(&object_key(w.tenant.id, &hash)), "{url}");
    assert!(begun["upload"]["expires_at"].is_string());
    let signed_headers = &begun["upload"]["headers"];
    assert_eq!(signed_headers["content-type"], "image/png", "{begun}");
    if blobs == Blobs::S3 {
        let checksum = signed_headers["x-amz-checksum-sha256"]
            .as_str()
            .expect("checksum header");
        assert_eq!(
            hex::encode(base64_decode(checksum)),
            hash,
            "the declared hash travels with the PUT"
        );
    }

    // Nothing uploaded yet: completing is refused and nothing is listed.
    complete(app, tech, media)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    assert!(listed(app, tech, w.ticket).await.is_empty());

    put_ok(&begun, &bytes).await;
    let stored = complete(app, tech, media).await.expect(StatusCode::OK);
    assert_eq!(stored["state"], "stored", "{stored}");
    assert_eq!(stored["sha256"], json!(hash));
    assert_eq!(stored["has_thumbnail"], json!(true));
    // Completing again answers the same.
    assert_eq!(
        complete(app, tech, media).await.expect(StatusCode::OK)["id"],
        json!(media)
    );

    let items = listed(app, tech, w.ticket).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(media));
    assert_eq!(items[0]["kind"], "photo");

    let answer = app
        .get(&format!("/v1/media/{media}"), tech)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        fetch(&answer["download"]).await,
        bytes,
        "identical bytes back"
    );
    let thumbnail = fetch(&answer["thumbnail"]).await;
    let decoded = image::load_from_memory(&thumbnail).expect("thumbnail decodes");
    assert!(decoded.width() <= 320 && decoded.height() <= 320);
    // The office sees it too.
    let office = app
        .get(&format!("/v1/media/{media}"), &w.tenant.admin_token)
        .await;
    assert_eq!(office.expect(StatusCode::OK)["media"]["id"], json!(media));

    let audit = app
        .get("/v1/audit?limit=200", &w.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let completions: Vec<&Value> = audit["items"]
        .as_array()
        .expect("audit items")
        .iter()
        .filter(|e| e["action"] == "media.complete")
        .collect();
    assert_eq!(completions.len(), 1, "{audit}");
    assert_eq!(completions[0]["entity_id"], json!(media));

    // A PDF document on the same ticket.
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec();
    let begun = begin(
        app,
        tech,
        w.ticket,
        "document",
        "application/pdf",
        pdf.len(),
        &sha256_hex(&pdf),
    )
    .await
    .expect(StatusCode::CREATED);
    put_ok(&begun, &pdf).await;
    let doc = complete(app, tech, id_of(&begun["media"], "id"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(doc["has_thumbnail"], json!(false));
    assert_eq!(listed(app, tech, w.ticket).await.len(), 2);
}

async fn same_content_is_stored_once_across_retries_and_tickets(
    backend: TestBackend,
    blobs: Blobs,
) {
    let w = world(backend, blobs).await;
    let (app, tech) = (&w.app, w.technician.as_str());
    let bytes = photo(2);
    let first = upload(app, tech, w.ticket, &bytes).await;

    // A retried begin on the same ticket finds the same reference.
    let again = begin_photo(app, tech, w.ticket, &bytes).await;
    assert_eq!(again["media"]["id"], first["id"]);
    assert_eq!(again["already_stored"], json!(true));
    assert!(again["upload"].is_null());

    // Another ticket: a new reference, no upload needed.
    let other = begin_photo(app, tech, w.second_ticket, &bytes).await;
    assert_ne!(other["media"]["id"], first["id"]);
    assert_eq!(other["already_stored"], json!(true), "{other}");
    assert!(other["upload"].is_null());
    complete(app, tech, id_of(&other["media"], "id"))
        .await
        .expect(StatusCode::OK);

    assert_eq!(listed(app, tech, w.ticket).await.len(), 1);
    assert_eq!(listed(app, tech, w.second_ticket).await.len(), 1);
    let key = object_key(w.tenant.id, &sha256_hex(&bytes));
    assert_eq!(
        objects(app, w.tenant.id).await,
        vec![key.clone(), format!("{key}.thumb.jpg")],
        "one object (and its thumbnail) for both references"
    );
}

async fn lies_about_hash_size_or_type_leave_no_reference(backend: TestBackend, blobs: Blobs) {
    let w = world(backend, blobs).await;
    let (app, tech) = (&w.app, w.technician.as_str());

    // Hash: the body is not what was declared.
    let real = photo(3);
    let claimed = photo(4);
    let begun = begin(
        app,
        tech,
        w.ticket,
        "photo",
        "image/png",
        real.len(),
        &sha256_hex(&claimed),
    )
    .await
    .expect(StatusCode::CREATED);
    let put = send_signed(&begun["upload"], real.clone())
        .await
        .expect("PUT answered");
    assert!(
        put.status().is_client_error(),
        "the store refuses a body with another hash: {}",
        put.status()
    );
    let media = id_of(&begun["media"], "id");
    let reply = complete(app, tech, media).await;
    assert!(reply.status.is_client_error(), "{}", reply.body);

    // Size: more bytes than declared.
    let bytes = photo(5);
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 16]);
    let begun = begin(
        app,
        tech,
        w.ticket,
        "photo",
        "image/png",
        bytes.len(),
        &sha256_hex(&longer),
    )
    .await
    .expect(StatusCode::CREATED);
    // Both stores refuse it: the fs route by the signed size, S3 because
    // Content-Length is a signed header.
    let put = send_signed(&begun["upload"], longer.clone())
        .await
        .expect("PUT answered");
    assert!(
        put.status().is_client_error(),
        "longer body refused: {}",
        put.status()
    );
    let reply = complete(app, tech, id_of(&begun["media"], "id")).await;
    assert!(reply.status.is_client_error(), "{}", reply.body);

    // Type: a PNG declared as JPEG uploads fine but is rejected on completion.
    let png = photo(6);
    let begun = begin(
        app,
        tech,
        w.ticket,
        "photo",
        "image/jpeg",
        png.len(),
        &sha256_hex(&png),
    )
    .await
    .expect(StatusCode::CREATED);
    put_ok(&begun, &png).await;
    let media = id_of(&begun["media"], "id");
    let reply = complete(app, tech, media).await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        reply.body.to_string().contains("image/png"),
        "{}",
        reply.body
    );
    app.get(&format!("/v1/media/{media}"), tech)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // A PDF declared as a photo, and a GIF, are refused before any upload.
    begin(
        app,
        tech,
        w.ticket,
        "photo",
        "application/pdf",
        10,
        &sha256_hex(b"x"),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    begin(
        app,
        tech,
        w.ticket,
        "photo",
        "image/gif",
        10,
        &sha256_hex(b"x"),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    assert!(
        listed(app, tech, w.ticket).await.is_empty(),
        "no reference after any lie"
    );
    let audit = app
        .get("/v1/audit?limit=200", &w.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert!(
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|e| e["action"] == "media.reject"),
        "rejections are audited"
    );
}

async fn an_expired_upload_url_is_refused(backend: TestBackend, blobs: Blobs) {
    let w = world(backend, blobs).await;
    let app = &w.app;
    let bytes = photo(7);
    let hash = sha256_hex(&bytes);
    let spec = PutSpec {
        content_type: "image/png".into(),
        size: bytes.len() as u64,
        sha256: hash.clone(),
    };
    // Signed two hours ago for fifteen minutes: expired, without waiting.
    let validity = Validity {
        signed_at: SystemTime::now() - Duration::from_secs(7200),
        expires_in: Duration::from_secs(900),
    };
    let key = object_key(w.tenant.id, &hash);
    let signed = app
        .state
        .blobs
        .presign_put(&key, &spec, &app.base_url, validity)
        .await
        .expect("presign");
    let request = serde_json::to_value(&signed).expect("json");
    let request = json!({
        "method": request["method"],
        "url": request["url"],
        "headers": request["headers"].as_array().expect("pairs").iter()
            .map(|pair| (pair[0].as_str().expect("name").to_owned(), pair[1].clone()))
            .collect::<serde_json::Map<String, Value>>(),
    });
    let answer = send_signed(&request, bytes.clone())
        .await
        .expect("PUT answered");
    assert_eq!(
        answer.status(),
        StatusCode::FORBIDDEN,
        "an expired URL is refused"
    );
    assert!(
        app.state.blobs.head(&key).await.expect("head").is_none(),
        "nothing stored"
    );

    // The same request signed now goes through.
    let fresh = app
        .state
        .blobs
        .presign_put(
            &key,
            &spec,
            &app.base_url,
            Validity::from_now(Duration::from_secs(900)),
        )
        .await
        .expect("presign");
    let fresh = serde_json::to_value(&fresh).expect("json");
    let request = json!({
        "method": fresh["method"],
        "url": fresh["url"],
        "headers": fresh["headers"].as_array().expect("pairs").iter()
            .map(|pair| (pair[0].as_str().expect("name").to_owned(), pair[1].clone()))
            .collect::<serde_json::Map<String, Value>>(),
    });
    let answer = send_signed(&request, bytes).await.expect("PUT answered");
    assert!(answer.status().is_success(), "{}", answer.status());
}

async fn technicians_and_tenants_are_isolated(backend: TestBackend, blobs: Blobs) {
    let w = world(backend, blobs).await;
    let (app, tech) = (&w.app, w.technician.as_str());
    let bytes = photo(8);
    let stored = upload(app, tech, w.ticket, &bytes).await;
    let media = id_of(&stored, "id");

    // Another technician of the same tenant, with no assignment.
    let (_, outsider) = technician(app, &w.tenant, "other@acme.test").await;
    begin_photo_reply(app, &outsider, w.ticket, &photo(9))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/tickets/{}/media", w.ticket), &outsider)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/media/{media}"), &outsider)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    complete(app, &outsider, media)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Another tenant: the id is unknown there; the same photo gets its own key.
    let other = app.create_tenant("globex").await;
    app.get(&format!("/v1/media/{media}"), &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    complete(app, &other.admin_token, media)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(
        &format!("/v1/tickets/{}/media", w.ticket),
        &other.admin_token,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let site = id_of(&app.berlin_site(&other, "standard").await, "id");
    let body =
        json!({"title": "Globex boiler", "category": "hvac", "priority": "P3", "site_id": site});
    let their_ticket = id_of(
        &app.post("/v1/tickets", &other.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let begun = begin_photo(app, &other.admin_token, their_ticket, &bytes).await;
    assert_eq!(
        begun["already_stored"],
        json!(false),
        "no dedupe across tenants"
    );
    let url = begun["upload"]["url"].as_str().expect("url");
    assert!(url.contains(&tenant_prefix(other.id)), "{url}");
    assert!(
        !url.contains(&w.tenant.id.to_string()),
        "no other tenant's prefix: {url}"
    );
    let ours = app
        .get(&format!("/v1/media/{media}"), tech)
        .await
        .expect(StatusCode::OK);
    for link in [&ours["download"]["url"], &ours["thumbnail"]["url"]] {
        let link = link.as_str().expect("url");
        assert!(
            link.contains(&tenant_prefix(w.tenant.id)) && !link.contains(&other.id.to_string()),
            "{link}"
        );
    }
    assert!(objects(app, other.id).await.is_empty());
}

async fn begin_photo_reply(
    app: &TestApp,
    token: &str,
    ticket: Uuid,
    bytes: &[u8],
) -> truckroll_tests::app::Reply {
    begin(
        app,
        token,
        ticket,
        "photo",
        "image/png",
        bytes.len(),
        &sha256_hex(bytes),
    )
    .await
}

async fn an_upload_begun_before_a_restart_still_completes(backend: TestBackend, blobs: Blobs) {
    let w = world(backend, blobs).await;
    let bytes = jpeg(10);
    let begun = begin(
        &w.app,
        &w.technician,
        w.ticket,
        "photo",
        "image/jpeg",
        bytes.len(),
        &sha256_hex(&bytes),
    )
    .await
    .expect(StatusCode::CREATED);
    let media = id_of(&begun["media"], "id");
    let app = w.app.restart().await;
    put_ok(&begun, &bytes).await;
    let stored = complete(&app, &w.technician, media)
        .await
        .expect(StatusCode::OK);
    assert_eq!(stored["state"], "stored");
    assert_eq!(stored["content_type"], "image/jpeg");
    assert_eq!(stored["has_thumbnail"], json!(true));
    let answer = app
        .get(&format!("/v1/media/{media}"), &w.technician)
        .await
        .expect(StatusCode::OK);
    assert_eq!(fetch(&answer["download"]).await, bytes);
}

async fn orphaned_uploads_are_swept_and_referenced_objects_never(
    backend: TestBackend,
    blobs: Blobs,
) {
    let w = world(backend, blobs).await;
    let (app, tech) = (&w.app, w.technician.as_str());
    // Stored on the first ticket.
    let kept = photo(11);
    upload(app, tech, w.ticket, &kept).await;
    // The same content begun on the second ticket and never completed.
    begin_photo(app, tech, w.second_ticket, &kept).await;
    // Uploaded, never completed, referenced nowhere else.
    let orphan = photo(12);
    let begun = begin_photo(app, tech, w.second_ticket, &orphan).await;
    put_ok(&begun, &orphan).await;
    // Begun, never uploaded.
    begin_photo(app, tech, w.second_ticket, &photo(13)).await;

    // Not old enough yet: nothing happens.
    let report = sweep_orphans(&app.state.media(), chrono::Utc::now())
        .await
        .expect("sweep");
    assert_eq!(report.references_removed, 0);

    let later = chrono::Utc::now()
        + chrono::Duration::seconds(app.config.media.orphan_age_secs as i64 + 60);
    let report = sweep_orphans(&app.state.media(), later)
        .await
        .expect("sweep");
    assert_eq!(report.references_removed, 3, "{report:?}");
    assert_eq!(report.objects_deleted, 2, "{report:?}");
    let kept_key = object_key(w.tenant.id, &sha256_hex(&kept));
    assert_eq!(
        objects(app, w.tenant.id).await,
        vec![kept_key.clone(), format!("{kept_key}.thumb.jpg")],
        "the referenced object stays, the orphan is gone"
    );
    assert_eq!(listed(app, tech, w.ticket).await.len(), 1);
    let report = sweep_orphans(&app.state.media(), later)
        .await
        .expect("sweep");
    assert_eq!(report.references_removed, 0, "stored media are never swept");
}

fn strokes() -> Value {
    json!([
        [{"x": 10, "y": 60}, {"x": 40, "y": 20}, {"x": 70, "y": 60}, {"x": 100, "y": 25}],
        [{"x": 120, "y": 50}, {"x": 180, "y": 50}]
    ])
}

async fn signatures_verify_and_tampering_is_detected(backend: TestBackend, blobs: Blobs) {
    let w = world(backend, blobs).await;
    let (app, tech) = (&w.app, w.technician.as_str());
    let path = format!("/v1/tickets/{}/signature", w.ticket);
    app.get(&path, tech)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let body = json!({
        "signer_name": "Erika Mustermann",
        "signed_at": "2026-11-25T09:30:00.123456Z",
        "position": {"lat": 52.5163, "lon": 13.3795},
        "width": 200, "height": 80,
        "strokes": strokes(),
    });
    let signature = app
        .post(&path, tech, &body)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(signature["signer_name"], "Erika Mustermann");
    assert_eq!(signature["signed_at"], "2026-11-25T09:30:00.123456Z");
    assert!(!signature["doc_heads"].as_array().expect("heads").is_empty());
    let verified = app
        .get(&format!("{path}/verify"), tech)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verified["intact"], json!(true), "{verified}");

    // The image is on the ticket as a signature and renders the strokes.
    let items = listed(app, tech, w.ticket).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "signature");
    let media = id_of(&items[0], "id");
    assert_eq!(signature["media_id"], json!(media));
    let answer = app
        .get(&format!("/v1/media/{media}"), tech)
        .await
        .expect(StatusCode::OK);
    let png = fetch(&answer["download"]).await;
    let image = image::load_from_memory(&png).expect("PNG").to_luma8();
    assert_eq!(image.dimensions(), (200, 80));
    assert!(image.pixels().any(|p| p.0[0] < 100), "ink on the image");

    // Tampered image: other bytes under the signature's key.
    let key = object_key(
        w.tenant.id,
        signature["image_sha256"].as_str().expect("hash"),
    );
    let forged = photo(14);
    match blobs {
        Blobs::Fs => {
            std::fs::write(app.config.media.fs_dir.join(&key), &forged).expect("overwrite")
        }
        Blobs::S3 => app
            .state
            .blobs
            .write(&key, forged, "image/png")
            .await
            .expect("overwrite"),
    }
    let verified = app
        .get(&format!("{path}/verify"), tech)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verified["intact"], json!(false), "{verified}");
    assert_eq!(verified["image_intact"], json!(false), "{verified}");
    assert_eq!(verified["state_intact"], json!(true), "{verified}");

    // A new signature, then its signed state is tampered with in the database.
    let mut body = body;
    body["strokes"] = json!([[{"x": 20, "y": 20}, {"x": 150, "y": 70}]]);
    body["signed_at"] = Value::Null;
    let second = app
        .post(&path, tech, &body)
        .await
        .expect(StatusCode::CREATED);
    let verified = app
        .get(&format!("{path}/verify"), tech)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verified["intact"], json!(true), "{verified}");
    assert_eq!(verified["signature_id"], second["id"]);
    let raw = app.db.raw().await;
    let forged_heads = json!([hex::encode([7u8; 32])]).to_string();
    let changed = raw
        .execute(
            &format!("UPDATE signatures SET doc_heads = '{forged_heads}' WHERE id = $1"),
            &[id_of(&second, "id")],
        )
        .await;
    assert_eq!(changed, 1);
    raw.close().await;
    let verified = app
        .get(&format!("{path}/verify"), tech)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verified["intact"], json!(false), "{verified}");
    assert_eq!(verified["state_intact"], json!(false), "{verified}");
    assert_eq!(verified["seal_intact"], json!(false), "{verified}");
    assert_eq!(verified["image_intact"], json!(true), "{verified}");

    // Strokes off the canvas are a problem, not a panic.
    body["strokes"] = json!([[{"x": 500, "y": 20}]]);
    app.post(&path, tech, &body)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

async fn limits_and_bad_declarations_are_problems(backend: TestBackend, blobs: Blobs) {
    let app = TestApp::start_with(backend, |c| {
        use_blobs(c, blobs);
        c.media.max_per_ticket = 2;
        c.media.max_bytes = 100_000;
    })
    .await;
    let w = world_on(app, "acme").await;
    let (app, tech) = (&w.app, w.technician.as_str());
    begin(
        app,
        tech,
        w.ticket,
        "photo",
        "image/png",
        100_001,
        &sha256_hex(b"big"),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    begin(app, tech, w.ticket, "photo", "image/png", 10, "not-a-hash")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    begin(
        app,
        tech,
        w.ticket,
        "video",
        "image/png",
        10,
        &sha256_hex(b"x"),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    begin_photo(app, tech, w.ticket, &photo(15)).await;
    begin_photo(app, tech, w.ticket, &photo(16)).await;
    begin_photo_reply(app, tech, w.ticket, &photo(17))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    // A retry of an existing one is not a new reference.
    begin_photo(app, tech, w.ticket, &photo(15)).await;
}

async fn store_outage_is_a_clear_error_and_a_retry_stores_once(backend: TestBackend) {
    let mut s3 = S3sServer::start().await;
    let config = s3.config();
    let app = TestApp::start_with(backend, |c| use_s3(c, config)).await;
    let w = world_on(app, "acme").await;
    let (app, tech) = (&w.app, w.technician.as_str());
    let bytes = photo(20);

    let begun = begin_photo(app, tech, w.ticket, &bytes).await;
    let media = id_of(&begun["media"], "id");
    s3.stop().await;

    let error = send_signed(&begun["upload"], bytes.clone())
        .await
        .expect_err("the store is down");
    assert!(
        error.is_connect(),
        "a connection error, not a hang: {error}"
    );
    complete(app, tech, media)
        .await
        .expect_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    begin_photo_reply(app, tech, w.ticket, &bytes)
        .await
        .expect_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");

    s3.resume().await;
    let retried = begin_photo(app, tech, w.ticket, &bytes).await;
    assert_eq!(
        retried["media"]["id"],
        json!(media),
        "the retry finds the same reference"
    );
    if !retried["upload"].is_null() {
        put_ok(&retried, &bytes).await;
    }
    // A second, duplicate PUT of the same bytes changes nothing.
    let again = begin_photo(app, tech, w.ticket, &bytes).await;
    assert_eq!(again["already_stored"], json!(true));
    complete(app, tech, media).await.expect(StatusCode::OK);
    complete(app, tech, media).await.expect(StatusCode::OK);

    assert_eq!(listed(app, tech, w.ticket).await.len(), 1, "one reference");
    let key = object_key(w.tenant.id, &sha256_hex(&bytes));
    assert_eq!(
        objects(app, w.tenant.id).await,
        vec![key.clone(), format!("{key}.thumb.jpg")],
        "one object"
    );
}
