//! Text the databases cannot store (NUL characters) is refused with the
//! same 422 on both backends, centrally for every JSON body, query string
//! and path — even on sign-in without a token — and blob keys with `.` or
//! `..` segments are a 4xx, not a fault. Text that does not come as JSON
//! is handled alike on both backends too: mail (posted raw or fetched over
//! IMAP) is kept without its NUL characters and says so, the public form's
//! multipart fields are refused with the same 422, and a phone's part
//! entries are projected without NUL while its notes stay in the document.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_server::blob::signing::Grant;
use truckroll_tests::{
    TestBackend,
    app::TestApp,
    fixtures::{Shop, error_fields},
    intake::{ImapServer, intake_token, post_mail, set_up},
};
use uuid::Uuid;

backend_tests!(
    nul_characters_are_refused_everywhere_alike,
    blob_keys_with_dot_segments_are_refused,
    mail_with_nul_characters_is_kept_without_them,
    imap_mail_with_nul_characters_is_kept_without_them,
    form_fields_with_nul_characters_are_refused,
    a_phones_nul_characters_do_not_break_its_sync,
);

async fn nul_characters_are_refused_everywhere_alike(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "nul").build().await;
    let admin = &shop.tenant.admin_token;

    let reply = super::login_with(
        &app,
        &json!({"tenant": "a\u{0}b", "email": "x@y.test", "password": "whatever-whatever"}),
    )
    .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), ["tenant"]);

    let bodies = [
        (
            "/v1/tickets",
            json!({"title": "Leak\u{0}", "category": "hvac", "priority": "P3", "site_id": shop.site}),
            "title",
        ),
        (
            "/v1/tickets",
            json!({"title": "Leak", "category": "hvac", "priority": "P3", "site_id": shop.site,
                   "custom_fields": {"refrigerant": "R\u{0}32"}}),
            "custom_fields.refrigerant",
        ),
        (
            "/v1/tickets",
            json!({"title": "Leak", "category": "hvac", "priority": "P3", "site_id": shop.site,
                   "tags": ["ok", "b\u{0}d"]}),
            "tags[1]",
        ),
        (
            "/v1/webhooks",
            json!({"url": "https://example.com/\u{0}", "events": ["ticket.created"]}),
            "url",
        ),
        ("/v1/customers", json!({"name": "\u{0}"}), "name"),
        (
            "/v1/categories",
            json!({"name": "boiler", "custom_fields_schema": {"type": "object", "properties": {"a\u{0}": {"type": "string"}}}}),
            "custom_fields_schema.properties.a",
        ),
    ];
    for (path, body, field) in bodies {
        let reply = app.post(path, admin, &body).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        let fields = error_fields(&reply);
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{path}: {fields:?} should name {field}"
        );
    }
    for query in ["q=a%00b", "tag=a%00", "category=%00"] {
        let reply = app.get(&format!("/v1/tickets?{query}"), admin).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    }
    let reply = app
        .send(Method::GET, "/v1/search?q=%00", Some(admin), None)
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.stop().await;
}

async fn blob_keys_with_dot_segments_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let fs = app.state.blobs.as_fs().expect("the fs blob store");
    let expires = chrono::Utc::now().timestamp() + 600;
    for key in ["t/../x", "t/./x", "./x", "t//x"] {
        // A correctly signed URL: only the key itself is wrong.
        let sig = Grant {
            method: "GET",
            key,
            expires,
            content: None,
        }
        .sign(fs.secret());
        // Raw HTTP: a client library would normalise the dots away.
        let status = raw_get(
            app.address,
            &format!("/v1/blobs/{key}?expires={expires}&sig={sig}"),
        )
        .await;
        assert!((400..500).contains(&status), "{key}: {status}");
    }
    app.stop().await;
}

/// The status code of `GET target` sent byte for byte.
async fn raw_get(address: std::net::SocketAddr, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text}"))
}

/// A message whose subject (an encoded word), body (quoted-printable) and
/// second body (raw 8-bit) carry NUL characters.
fn mail_with_nul(message_id: &str, raw_nul: bool) -> Vec<u8> {
    let mut raw = format!(
        "From: Nina Petrova <nina@example.com>\r\nTo: help@acme.test\r\n\
         Subject: =?utf-8?q?Heater=00_broken?=\r\nMessage-ID: <{message_id}>\r\n\
         Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
    .into_bytes();
    if raw_nul {
        raw.extend_from_slice(
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
              The heater\0 makes noise.\r\n",
        );
    } else {
        raw.extend_from_slice(
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
              The heater=00 makes noise.\r\n",
        );
    }
    raw
}

/// The ticket the intake record `message` opened: its title and description.
async fn opened_ticket(app: &TestApp, token: &str, message: &Value) -> (String, String) {
    assert_eq!(message["outcome"], "ticket", "{message}");
    assert!(
        message["reason"]
            .as_str()
            .is_some_and(|r| r.contains("NUL")),
        "the record says the text was cleaned: {message}"
    );
    let ticket = app
        .get(
            &format!(
                "/v1/tickets/{}",
                message["ticket_id"].as_str().expect("ticket")
            ),
            token,
        )
        .await
        .expect(StatusCode::OK);
    (
        ticket["title"].as_str().expect("title").to_owned(),
        ticket["description"]
            .as_str()
            .expect("description")
            .to_owned(),
    )
}

async fn mail_with_nul_characters_is_kept_without_them(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "nulmail").build().await;
    let admin = shop.tenant.admin_token.clone();
    app.post("/v1/categories", &admin, &json!({"name": "repair"}))
        .await
        .expect(StatusCode::CREATED);
    set_up(&app, &shop.tenant, shop.site, json!({})).await;
    let token = intake_token(&app, &shop.tenant).await;
    for (n, raw_nul) in [(1, false), (2, true)] {
        let raw = mail_with_nul(
            &format!("nul-{n}-{}@mail.example.test", Uuid::now_v7()),
            raw_nul,
        );
        assert_eq!(
            raw.contains(&0),
            raw_nul,
            "NUL bytes in the raw message or not"
        );
        let (status, body) = post_mail(&app, &token, raw).await;
        assert!(status.is_success(), "{status}: {body}");
        let (title, description) = opened_ticket(&app, &admin, &body).await;
        assert_eq!(title, "Heater broken");
        assert!(
            description.contains("The heater makes noise."),
            "{description:?}"
        );
    }
    app.stop().await;
}

async fn imap_mail_with_nul_characters_is_kept_without_them(backend: TestBackend) {
    let imap = ImapServer::from_env();
    let app = TestApp::start_with(backend, |config| {
        config.egress.allow = vec!["127.0.0.0/8".into(), "::1".into()];
    })
    .await;
    let shop = Shop::builder(&app, "nulimap").build().await;
    let admin = shop.tenant.admin_token.clone();
    app.post("/v1/categories", &admin, &json!({"name": "repair"}))
        .await
        .expect(StatusCode::CREATED);
    set_up(&app, &shop.tenant, shop.site, json!({})).await;
    let user = format!("nul-{}@acme.test", Uuid::now_v7().simple());
    imap.append(
        &user,
        &mail_with_nul(&format!("{}@mail.example.test", Uuid::now_v7()), false),
    )
    .await;
    app.post(
        "/v1/intake/mailboxes",
        &admin,
        &json!({"name": "Help desk", "host": imap.host, "port": imap.port, "tls": false,
                "username": user, "password": imap.password}),
    )
    .await
    .expect(StatusCode::CREATED);
    // Waits on the record, bounded by a generous number of polls.
    let mut message = Value::Null;
    for _ in 0..600 {
        let listed = app
            .get("/v1/intake/messages", &admin)
            .await
            .expect(StatusCode::OK);
        if let Some(first) = listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|m| m["outcome"] != "processing"))
        {
            message = first.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (title, description) = opened_ticket(&app, &admin, &message).await;
    assert_eq!(title, "Heater broken");
    assert!(
        description.contains("The heater makes noise."),
        "{description:?}"
    );
    app.stop().await;
}

async fn form_fields_with_nul_characters_are_refused(backend: TestBackend) {
    use reqwest::multipart::Form;
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "nulform").build().await;
    let admin = shop.tenant.admin_token.clone();
    app.post("/v1/categories", &admin, &json!({"name": "repair"}))
        .await
        .expect(StatusCode::CREATED);
    set_up(
        &app,
        &shop.tenant,
        shop.site,
        json!({"form_categories": ["repair"]}),
    )
    .await;
    let slug = format!("{}-desk", shop.tenant.name);
    let good = [
        ("name", "Rosa Díaz"),
        ("email", "rosa@example.com"),
        ("title", "Dishwasher floods"),
        ("description", "Water everywhere."),
    ];
    let form = |bad: Option<(&str, &str)>| {
        let mut form = Form::new();
        for (name, value) in good {
            let value = match bad {
                Some((field, text)) if field == name => text,
                _ => value,
            };
            form = form.text(name, value.to_owned());
        }
        if let Some((field, text)) = bad
            && !good.iter().any(|(name, _)| *name == field)
        {
            form = form.text(field.to_owned(), text.to_owned());
        }
        form
    };
    let submit = |form: Form| {
        let app = &app;
        let slug = slug.clone();
        async move {
            let response = app
                .client
                .post(format!("{}/v1/public/{slug}/requests", app.base_url))
                .multipart(form)
                .send()
                .await
                .expect("request reaches the server");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    for (field, text) in [
        ("title", "Dish\u{0}washer"),
        ("name", "Rosa\u{0}"),
        ("description", "\u{0}"),
        ("phone", "+49\u{0}30"),
        ("address", "Torstraße\u{0}1"),
        // The honeypot is recorded before it is refused: checked first too.
        ("website", "http://spam\u{0}"),
    ] {
        let (status, body) = submit(form(Some((field, text)))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(body["errors"][0]["field"], json!(field), "{body}");
    }
    // Nothing was opened or recorded; the good form still works.
    let listed = app
        .get("/v1/intake/messages", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]), "{listed}");
    let (status, body) = submit(form(None)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.stop().await;
}

/// A phone writes NUL into its notes and a part entry: the sync goes
/// through (no error frame, no 500), the notes stay in the document and
/// the part entry is stored without NUL on both backends.
async fn a_phones_nul_characters_do_not_break_its_sync(backend: TestBackend) {
    use truckroll_sdk::{Client, ClientConfig, Edit};
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "nulsync").build().await;
    let tech = shop.tech().clone();
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let dir = truckroll_tests::TempGuard::new("truckroll-nul-sync-");
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(
            &shop.tenant.name,
            &tech.email,
            truckroll_tests::app::PASSWORD,
        )
        .await
        .expect("signs in");
    client.sync_now().await.expect("first sync");
    for edit in [
        Edit::NotesAppend {
            text: "Valve\u{0} replaced".into(),
        },
        Edit::AddPart {
            part_number: "VLV\u{0}-7".into(),
            quantity: 1.0,
            serial: Some("SN\u{0}42".into()),
        },
    ] {
        client
            .edit(&ticket.to_string(), edit)
            .await
            .expect("edit applies");
    }
    for _ in 0..2 {
        let report = client.sync_now().await.expect("sync");
        assert!(report.rejections.is_empty(), "{report:?}");
        assert!(!report.retry_later, "{report:?}");
    }
    assert_eq!(
        client.sync_now().await.expect("sync").pending_edits,
        0,
        "the server holds every edit"
    );
    let work = app
        .get(
            &format!("/v1/tickets/{ticket}/work"),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        work["notes"]
            .as_str()
            .is_some_and(|n| n.contains("replaced")),
        "{work}"
    );
    let raw = app.db.raw().await;
    let number = raw
        .scalar_text(
            "SELECT part_number FROM part_uses WHERE ticket_id = $1",
            &[ticket],
        )
        .await;
    let serial = raw
        .scalar_text(
            "SELECT serial FROM part_uses WHERE ticket_id = $1",
            &[ticket],
        )
        .await;
    raw.close().await;
    assert_eq!(number.as_deref(), Some("VLV-7"));
    assert_eq!(serial.as_deref(), Some("SN42"));
    app.stop().await;
}
