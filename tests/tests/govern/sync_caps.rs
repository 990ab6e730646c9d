//! Caps on one sync exchange (frames) and one session (documents), and
//! every refusal as problem details — a body over 16 MiB too.

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sync::ActorId;
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    one_exchange_carries_a_bounded_number_of_frames,
    one_session_carries_a_bounded_number_of_documents,
);

async fn one_exchange_carries_a_bounded_number_of_frames(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.governance.sync_max_frames = 50).await;
    let shop = Shop::builder(&app, "frames").build().await;
    let token = &shop.tech().token;
    let frames: Vec<Value> = (0..51)
        .map(|i| json!({"type": format!("future_{i}")}))
        .collect();
    let reply = app
        .post("/v1/sync", token, &json!({ "frames": frames }))
        .await;
    super::assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "51 frames");
    let frames: Vec<Value> = (0..50)
        .map(|i| json!({"type": format!("future_{i}")}))
        .collect();
    app.post("/v1/sync", token, &json!({ "frames": frames }))
        .await
        .expect(StatusCode::OK);
    // Over the exchange's byte limit: a problem, not axum's plain text.
    let big = "x".repeat(17 * 1024 * 1024);
    let reply = app
        .post(
            "/v1/sync",
            token,
            &json!({"frames": [{"type": "future", "pad": big}]}),
        )
        .await;
    super::assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "17 MiB");
    app.stop().await;
}

async fn one_session_carries_a_bounded_number_of_documents(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.governance.sync_max_documents = 2).await;
    let shop = Shop::builder(&app, "docs").build().await;
    let token = shop.tech().token.clone();
    let device = app
        .post(
            "/v1/devices",
            &token,
            &json!({"platform": "android", "actor_id": ActorId::random().to_hex_string()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let device_id = id_of(&device, "id");
    let mut frames = vec![json!({"type": "hello", "version": 1, "device_id": device_id})];
    let docs: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for doc in &docs {
        frames.push(json!({"type": "sync", "doc_id": doc, "data": "AA=="}));
    }
    let answer = app
        .post("/v1/sync", &token, &json!({ "frames": frames }))
        .await
        .expect(StatusCode::OK);
    let code_for = |doc: &Uuid| -> Vec<String> {
        answer["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .filter(|f| f["type"] == "error" && f["doc_id"] == json!(doc.to_string()))
            .filter_map(|f| f["code"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(code_for(&docs[0]), ["not_in_set"], "{answer}");
    assert_eq!(code_for(&docs[1]), ["not_in_set"], "{answer}");
    assert_eq!(code_for(&docs[2]), ["session_limit"], "{answer}");
    app.stop().await;
}
