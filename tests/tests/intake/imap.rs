//! IMAP mailboxes against the real dovecot `scripts/test.sh` starts:
//! messages delivered by APPEND are taken in by the watcher (first poll,
//! then IDLE) and marked seen; "poll now"; a wrong password is reported.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::TestApp,
    fixtures::Shop,
    intake::{ImapServer, Mail, set_up},
    media::jpeg,
};
use uuid::Uuid;

/// Waits (bounded) until `GET /v1/intake/messages` lists `n` messages.
async fn wait_for_messages(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..600 {
        let body = app
            .get("/v1/intake/messages?limit=200", token)
            .await
            .expect(StatusCode::OK);
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let finished = items
            .iter()
            .filter(|m| m["outcome"] != "processing")
            .count();
        if finished >= n {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("intake did not record {n} messages in time");
}

async fn the_watcher_takes_unseen_mail_and_marks_it_seen(backend: TestBackend) {
    let imap = ImapServer::from_env();
    // Dovecot runs on loopback: an on-premises mail server the operator allows.
    let app = TestApp::start_with(backend, |config| {
        config.egress.allow = vec!["127.0.0.0/8".into(), "::1".into()];
    })
    .await;
    let shop = Shop::builder(&app, "imap").build().await;
    let admin = shop.tenant.admin_token.clone();
    set_up(&app, &shop.tenant, shop.site, json!({})).await;
    let user = format!("desk-{}@acme.test", Uuid::now_v7().simple());

    // Waiting before the mailbox is configured: found by the first poll.
    let first = Mail::new("Olga <olga@example.com>", "Broken gate")
        .text("The gate does not open.")
        .attach("image/jpeg", "gate.jpg", &jpeg(3));
    imap.append(&user, &first.build()).await;
    assert_eq!(imap.unseen(&user).await.len(), 1);

    let mailbox = app
        .post(
            "/v1/intake/mailboxes",
            &admin,
            &json!({"name": "Help desk", "host": imap.host, "port": imap.port, "tls": false,
                    "username": user, "password": imap.password}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(mailbox.get("password").is_none() && mailbox.get("password_sealed").is_none());
    let messages = wait_for_messages(&app, &admin, 1).await;
    assert_eq!(messages[0]["channel"], "imap");
    assert_eq!(messages[0]["outcome"], "ticket", "{messages:?}");
    assert_eq!(messages[0]["media_count"], 1);
    assert_eq!(messages[0]["mailbox_id"], mailbox["id"]);

    // Delivered while the watcher waits (IDLE on dovecot): taken in too.
    let second = Mail::new("olga@example.com", "Re: Broken gate")
        .in_reply_to(&first.id())
        .text("Photo attached above.");
    imap.append(&user, &second.build()).await;
    let messages = wait_for_messages(&app, &admin, 2).await;
    assert_eq!(messages[1]["outcome"], "comment", "{messages:?}");
    assert_eq!(messages[1]["ticket_id"], messages[0]["ticket_id"]);
    // Both are marked seen on the server, once recorded.
    for _ in 0..100 {
        if imap.unseen(&user).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        imap.unseen(&user).await.is_empty(),
        "messages marked \\Seen"
    );

    let listed = app
        .get(
            &format!(
                "/v1/intake/mailboxes/{}",
                mailbox["id"].as_str().unwrap_or_default()
            ),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert!(listed["last_polled_at"].is_string(), "{listed}");
    assert_eq!(listed["last_error"], Value::Null);
    app.stop().await;
}

async fn poll_now_and_a_wrong_password(backend: TestBackend) {
    let imap = ImapServer::from_env();
    // Dovecot runs on loopback: an on-premises mail server the operator allows.
    let app = TestApp::start_with(backend, |config| {
        config.egress.allow = vec!["127.0.0.0/8".into(), "::1".into()];
    })
    .await;
    let shop = Shop::builder(&app, "pollnow").build().await;
    let admin = shop.tenant.admin_token.clone();
    set_up(&app, &shop.tenant, shop.site, json!({})).await;
    let user = format!("poll-{}@acme.test", Uuid::now_v7().simple());
    imap.append(
        &user,
        &Mail::new("pia@example.com", "Leak").text("Leak.").build(),
    )
    .await;
    imap.append(
        &user,
        &Mail::new("pia@example.com", "Out of office")
            .header("Auto-Submitted", "auto-replied")
            .text("Away.")
            .build(),
    )
    .await;

    // Disabled: the watcher leaves it alone; an admin polls it by hand.
    let mailbox = app
        .post(
            "/v1/intake/mailboxes",
            &admin,
            &json!({"name": "Manual", "host": imap.host, "port": imap.port, "tls": false,
                    "username": user, "password": imap.password, "enabled": false}),
        )
        .await
        .expect(StatusCode::CREATED);
    let poll = format!(
        "/v1/intake/mailboxes/{}/poll",
        mailbox["id"].as_str().unwrap_or_default()
    );
    let report = app
        .post(&poll, &admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(report, json!({"found": 2, "taken": 2}));
    assert!(imap.unseen(&user).await.is_empty());
    let again = app
        .post(&poll, &admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(again, json!({"found": 0, "taken": 0}));
    let outcomes: Vec<Value> = app
        .get("/v1/intake/messages", &admin)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .map(|m| m.iter().map(|m| m["outcome"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(outcomes, [json!("ticket"), json!("dropped")]);

    // A wrong password: 503 with the server's refusal, kept on the mailbox.
    let path = format!(
        "/v1/intake/mailboxes/{}",
        mailbox["id"].as_str().unwrap_or_default()
    );
    app.send(
        reqwest::Method::PUT,
        &path,
        Some(&admin),
        Some(
            &json!({"name": "Manual", "host": imap.host, "port": imap.port, "tls": false,
                     "username": user, "password": "wrong", "enabled": false}),
        ),
    )
    .await
    .expect(StatusCode::OK);
    app.post(&poll, &admin, &json!({}))
        .await
        .expect_problem(StatusCode::SERVICE_UNAVAILABLE, "/unavailable");
    let listed = app.get(&path, &admin).await.expect(StatusCode::OK);
    assert!(
        listed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("login refused")),
        "{listed}"
    );
    // A tenant that has not set intake up: the poll says so, the mail stays unseen.
    let bare = app.create_tenant("pollnow-bare").await;
    let bare_user = format!("bare-{}@acme.test", Uuid::now_v7().simple());
    imap.append(
        &bare_user,
        &Mail::new("quinn@example.com", "Hello").text("x").build(),
    )
    .await;
    let bare_box = app
        .post(
            "/v1/intake/mailboxes",
            &bare.admin_token,
            &json!({"name": "Bare", "host": imap.host, "port": imap.port, "tls": false,
                    "username": bare_user, "password": imap.password, "enabled": false}),
        )
        .await
        .expect(StatusCode::CREATED);
    let bare_path = format!(
        "/v1/intake/mailboxes/{}",
        bare_box["id"].as_str().unwrap_or_default()
    );
    app.post(&format!("{bare_path}/poll"), &bare.admin_token, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "/conflict");
    let listed = app
        .get(&bare_path, &bare.admin_token)
        .await
        .expect(StatusCode::OK);
    assert!(
        listed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("not set up")),
        "{listed}"
    );
    assert_eq!(imap.unseen(&bare_user).await.len(), 1);
    // Another tenant's mailbox is not found from here.
    app.get(&bare_path, &admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");

    // Only admins manage mailboxes.
    let (_, dispatcher) = app
        .create_user(&shop.tenant, "disp@pollnow.test", "dispatcher")
        .await;
    app.get("/v1/intake/mailboxes", &dispatcher)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    app.get("/v1/intake/messages", &dispatcher)
        .await
        .expect(StatusCode::OK);
    app.stop().await;
}

truckroll_tests::backend_tests!(
    the_watcher_takes_unseen_mail_and_marks_it_seen,
    poll_now_and_a_wrong_password,
);
