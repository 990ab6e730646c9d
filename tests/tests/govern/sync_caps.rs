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
    let body = json!({"frames": [{"type": "future", "pad": big}]}).to_string();
    let (status, content_type, problem) = post_oversized(app.address, token, body).await;
    assert_eq!(status, 413, "17 MiB: {problem}");
    assert_eq!(
        content_type, "application/problem+json",
        "17 MiB: {problem}"
    );
    assert_eq!(problem["status"], json!(413), "17 MiB: {problem}");
    app.stop().await;
}

/// `POST /v1/sync` with a body the server refuses before reading it all: the
/// body is written by its own task (its errors ignored) while the answer is
/// read.
async fn post_oversized(
    address: std::net::SocketAddr,
    token: &str,
    body: String,
) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // Just past the limit, then nothing more (the connection held open): the
    // server reads all that was sent, answers and closes. Bytes still unread
    // when it closes would make the kernel reset the connection, which can
    // discard the answer before the client reads it.
    let sent = (truckroll_sdk::truckroll_sync::protocol::MAX_EXCHANGE_BYTES + 4096).min(body.len());
    let writer = tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_ok() {
            let _ = write.write_all(&body.as_bytes()[..sent]).await;
        }
        std::future::pending::<()>().await;
        drop(write);
    });
    let mut answer = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(60), read.read(&mut buffer)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => panic!(
                "no answer within 60 s: {}",
                String::from_utf8_lossy(&answer)
            ),
        }
        if complete_response(&answer) {
            break;
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {text}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text}"));
    let content_type = header(head, "content-type").unwrap_or_default();
    let problem = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    (status, content_type, problem)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Whether `answer` holds a whole response with a `Content-Length` body.
fn complete_response(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    header(head, "content-length")
        .and_then(|length| length.parse::<usize>().ok())
        .is_some_and(|length| body.len() >= length)
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
