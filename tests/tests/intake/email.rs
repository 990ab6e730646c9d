//! Email in through `POST /v1/intake/email`: real MIME built by Python's
//! `email` package, on both databases.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::Shop,
    intake::{Mail, intake_token, post_mail, set_up},
    media::jpeg,
};
use uuid::Uuid;

struct Desk {
    app: TestApp,
    shop: Shop,
    token: String,
}

async fn desk(backend: TestBackend, name: &str, extra: Value) -> Desk {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, name).build().await;
    set_up(&app, &shop.tenant, shop.site, extra).await;
    let token = intake_token(&app, &shop.tenant).await;
    Desk { app, shop, token }
}

impl Desk {
    fn admin(&self) -> &str {
        &self.shop.tenant.admin_token
    }

    async fn ticket(&self, id: &Value) -> Value {
        self.app
            .get(
                &format!("/v1/tickets/{}", id.as_str().expect("ticket id")),
                self.admin(),
            )
            .await
            .expect(StatusCode::OK)
    }

    async fn timeline(&self, id: &Value) -> Vec<Value> {
        let body = self
            .app
            .get(
                &format!(
                    "/v1/tickets/{}/timeline?limit=200",
                    id.as_str().expect("id")
                ),
                self.admin(),
            )
            .await
            .expect(StatusCode::OK);
        body["items"].as_array().cloned().unwrap_or_default()
    }

    async fn messages(&self) -> Vec<Value> {
        let body = self
            .app
            .get("/v1/intake/messages?limit=200", self.admin())
            .await
            .expect(StatusCode::OK);
        body["items"].as_array().cloned().unwrap_or_default()
    }

    async fn tickets(&self) -> Vec<Value> {
        let body = self
            .app
            .get("/v1/tickets?limit=200", self.admin())
            .await
            .expect(StatusCode::OK);
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Works the ticket through the field steps and closes it.
    async fn close(&self, ticket: Uuid) {
        let tech = self.shop.tech();
        self.shop.assign(&self.app, ticket, tech.id).await;
        let path = format!("/v1/tickets/{ticket}");
        for status in ["accepted", "en_route", "on_site", "work_done"] {
            self.app
                .patch(&path, &tech.token, &json!({ "status": status }))
                .await
                .expect(StatusCode::OK);
        }
        self.app
            .patch(&path, self.admin(), &json!({"status": "closed"}))
            .await
            .expect(StatusCode::OK);
    }
}

async fn new_mail_with_a_photo_becomes_a_ticket_with_the_media(backend: TestBackend) {
    let d = desk(backend, "photo", json!({})).await;
    let photo = jpeg(7);
    let inline = jpeg(9);
    let mail = Mail::new(
        "Ann Lee <Ann.Lee@Example.com>",
        "Boiler leaking in the basement",
    )
    .text("Water under the boiler since this morning.\n\nAnn")
    .html("<p>Water under the boiler since this morning.</p><img src=\"cid:pic1\"><p>Ann</p>")
    .inline_image("image/jpeg", "pic1", &inline)
    .attach("image/jpeg", "boiler.jpg", &photo)
    .attach("text/plain", "notes.txt", b"not a photo");
    let (status, receipt) = post_mail(&d.app, &d.token, mail.build()).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["outcome"], "ticket", "{receipt}");
    assert_eq!(receipt["duplicate"], false);
    assert_eq!(
        receipt["media_count"], 2,
        "photo and inline image; the text file is skipped"
    );
    assert_eq!(receipt["sender"], "ann.lee@example.com");
    let number = receipt["ticket_number"].as_str().expect("number");
    assert!(number.starts_with("TR-"), "{number}");

    let ticket = d.ticket(&receipt["ticket_id"]).await;
    assert_eq!(ticket["title"], "Boiler leaking in the basement");
    assert_eq!(ticket["category"], "repair");
    assert_eq!(ticket["status"], "new");
    assert!(
        ticket["description"]
            .as_str()
            .is_some_and(|t| t.starts_with("Water under the boiler since this morning.")),
        "{ticket}"
    );
    assert_eq!(ticket["tags"], json!(["email"]));

    // The sender became a customer with that email, at the intake site.
    let customers = d
        .app
        .get("/v1/customers?limit=200", d.admin())
        .await
        .expect(StatusCode::OK);
    let ann = customers["items"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["email"] == "ann.lee@example.com"))
        .cloned()
        .expect("a customer for the sender");
    assert_eq!(ann["name"], "Ann Lee");
    assert_eq!(ticket["site_id"], json!(d.shop.site));

    // The confirmation goes to the customer who wrote, not to the customer
    // of the site the ticket was put at.
    let sent = d
        .app
        .get(
            &format!(
                "/v1/tickets/{}/timeline?kind=notification",
                receipt["ticket_id"].as_str().unwrap_or_default()
            ),
            d.admin(),
        )
        .await
        .expect(StatusCode::OK);
    let recipients: Vec<_> = sent["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|item| item["detail"]["recipient"].clone())
        .collect();
    assert_eq!(recipients, vec![json!("ann.lee@example.com")], "{sent}");

    // Both images are stored media of the ticket, content-addressed.
    let media = d
        .app
        .get(
            &format!(
                "/v1/tickets/{}/media",
                receipt["ticket_id"].as_str().unwrap_or_default()
            ),
            d.admin(),
        )
        .await
        .expect(StatusCode::OK);
    let items = media["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{media}");
    for bytes in [&photo, &inline] {
        let sha = hex::encode(Sha256::digest(bytes));
        let stored = items
            .iter()
            .find(|m| m["sha256"] == sha.as_str())
            .unwrap_or_else(|| panic!("media {sha} in {media}"));
        assert_eq!(stored["state"], "stored");
        assert_eq!(stored["kind"], "photo");
        assert_eq!(stored["content_type"], "image/jpeg");
    }
    // The bytes are in the blob store: download through the media URL.
    let one = d
        .app
        .get(
            &format!("/v1/media/{}", items[0]["id"].as_str().unwrap_or_default()),
            d.admin(),
        )
        .await
        .expect(StatusCode::OK);
    let url = one["download"]["url"].as_str().expect("download url");
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        format!("{}{url}", d.app.base_url)
    };
    let bytes = d
        .app
        .client
        .get(url)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        items[0]["sha256"].as_str().unwrap_or_default()
    );

    // Recorded for admins, and in the ticket's timeline.
    let messages = d.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["outcome"], "ticket");
    assert_eq!(messages[0]["message_id"], mail.id());
    let timeline = d.timeline(&receipt["ticket_id"]).await;
    assert!(
        timeline.iter().any(|e| e["action"] == "ticket.received"
            && e["summary"] == "received by email from ann.lee@example.com"),
        "{timeline:#?}"
    );
    assert!(
        timeline
            .iter()
            .any(|e| e["action"] == "ticket.create" && e["actor"]["name"] == "Ann Lee"),
        "the customer opened it: {timeline:#?}"
    );
    d.app.stop().await;
}

async fn gbk_chinese_html_only_and_quoted_history(backend: TestBackend) {
    let d = desk(backend, "charsets", json!({})).await;
    // GBK, base64, with a Chinese client's quoted history.
    let gbk = Mail::new("张三 <zhang@example.cn>", "空调不制冷")
        .text("空调不制冷了，请尽快来修。\n\n在 2026年12月3日 09:12，客服 <help@acme.test> 写道：\n> 您好，请问有什么问题？")
        .charset("gbk")
        .transfer("base64");
    let (_, receipt) = post_mail(&d.app, &d.token, gbk.build()).await;
    assert_eq!(receipt["outcome"], "ticket", "{receipt}");
    let ticket = d.ticket(&receipt["ticket_id"]).await;
    assert_eq!(ticket["title"], "空调不制冷");
    assert_eq!(ticket["description"], "空调不制冷了，请尽快来修。");

    // GB2312, quoted-printable.
    let gb2312 = Mail::new("li@example.cn", "热水器漏水")
        .text("热水器漏水。")
        .charset("gb2312")
        .transfer("quoted-printable");
    let (_, receipt) = post_mail(&d.app, &d.token, gb2312.build()).await;
    let ticket = d.ticket(&receipt["ticket_id"]).await;
    assert_eq!(ticket["title"], "热水器漏水");
    assert_eq!(ticket["description"], "热水器漏水。");

    // HTML only, ISO-8859-1 quoted-printable: text without tags.
    let html = Mail::new("Zoë Müller <zoe@example.de>", "Kühlschrank defekt")
        .html("<html><body><h1>Caf&eacute; K&uuml;che</h1><p>Der K\u{fc}hlschrank ist <b>kaputt</b>.</p></body></html>")
        .charset("iso-8859-1");
    let (_, receipt) = post_mail(&d.app, &d.token, html.build()).await;
    assert_eq!(receipt["outcome"], "ticket", "{receipt}");
    let ticket = d.ticket(&receipt["ticket_id"]).await;
    assert_eq!(ticket["title"], "Kühlschrank defekt");
    let text = ticket["description"].as_str().unwrap_or_default();
    assert!(text.contains("Café Küche"), "{text}");
    assert!(text.contains("Der Kühlschrank ist kaputt."), "{text}");
    assert!(!text.contains('<'), "no tags: {text}");

    // multipart/alternative with Gmail's and Outlook's history: the new text only.
    let reply_like = Mail::new("bob@example.org", "Door sensor")
        .text("The door sensor beeps all night.\n\nOn Tue, 3 Dec 2026 at 09:12, Front desk <desk@example.org> wrote:\n> Please check the sensor.\n> Thanks")
        .html("<p>The door sensor beeps all night.</p><blockquote>Please check the sensor.</blockquote>")
        .transfer("quoted-printable");
    let (_, receipt) = post_mail(&d.app, &d.token, reply_like.build()).await;
    let ticket = d.ticket(&receipt["ticket_id"]).await;
    assert_eq!(ticket["description"], "The door sensor beeps all night.");
    d.app.stop().await;
}

async fn a_reply_threads_as_a_public_comment_and_reopens(backend: TestBackend) {
    let d = desk(backend, "threads", json!({"reopen_window_hours": 48})).await;
    let first = Mail::new("carl@example.com", "Heating off");
    let (_, receipt) = post_mail(&d.app, &d.token, first.clone().text("No heat.").build()).await;
    let ticket_id = receipt["ticket_id"].clone();
    let number = receipt["ticket_number"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = Uuid::parse_str(ticket_id.as_str().unwrap_or_default()).expect("uuid");

    // A reply by In-Reply-To: a public comment, quoted history stripped,
    // its photo on the same ticket.
    let reply = Mail::new("carl@example.com", "Re: Heating off")
        .in_reply_to(&first.id())
        .text("It is still cold.\n\nOn Mon, Carl wrote:\n> No heat.")
        .attach("image/jpeg", "thermostat.jpg", &jpeg(21));
    let (_, answer) = post_mail(&d.app, &d.token, reply.build()).await;
    assert_eq!(answer["outcome"], "comment", "{answer}");
    assert_eq!(answer["ticket_id"], ticket_id);
    assert_eq!(answer["media_count"], 1);
    let media = d
        .app
        .get(&format!("/v1/tickets/{id}/media"), d.admin())
        .await
        .expect(StatusCode::OK);
    assert_eq!(media["items"].as_array().map(Vec::len), Some(1), "{media}");
    let comments = d
        .app
        .get(&format!("/v1/tickets/{id}/comments"), d.admin())
        .await
        .expect(StatusCode::OK);
    assert_eq!(comments["items"][0]["body"], "It is still cold.");
    assert_eq!(comments["items"][0]["visibility"], "public");

    // Closed, then a reply by the number in the subject reopens it (within 48 h).
    d.close(id).await;
    assert_eq!(d.ticket(&ticket_id).await["status"], "closed");
    let by_number = Mail::new(
        "Carl <CARL@example.com>",
        &format!("Re: [{number}] Heating off"),
    )
    .text("It broke again.");
    let (_, answer) = post_mail(&d.app, &d.token, by_number.build()).await;
    assert_eq!(answer["outcome"], "comment", "{answer}");
    let reopened = d.ticket(&ticket_id).await;
    assert_eq!(reopened["status"], "new", "reopened: {reopened}");
    assert_eq!(reopened["assignee_id"], Value::Null);
    let timeline = d.timeline(&ticket_id).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "status" && e["summary"] == "status closed → new"),
        "{timeline:#?}"
    );

    // The number alone does not let a stranger write into the ticket.
    let stranger = Mail::new("eve@example.net", &format!("Re: {number}")).text("Hi there.");
    let (_, answer) = post_mail(&d.app, &d.token, stranger.build()).await;
    assert_eq!(
        answer["outcome"], "ticket",
        "a new ticket, not a comment: {answer}"
    );
    assert_ne!(answer["ticket_id"], ticket_id);
    d.app.stop().await;
}

async fn a_reply_after_the_window_opens_a_follow_up(backend: TestBackend) {
    let d = desk(backend, "window", json!({"reopen_window_hours": 0})).await;
    let first = Mail::new("dora@example.com", "Lift stuck");
    let (_, receipt) = post_mail(&d.app, &d.token, first.clone().text("Stuck.").build()).await;
    let id = Uuid::parse_str(receipt["ticket_id"].as_str().unwrap_or_default()).expect("uuid");
    d.close(id).await;
    let reply = Mail::new("dora@example.com", "Re: Lift stuck")
        .in_reply_to(&first.id())
        .text("Stuck again.");
    let (_, answer) = post_mail(&d.app, &d.token, reply.build()).await;
    assert_eq!(answer["outcome"], "ticket", "{answer}");
    let follow_up = d.ticket(&answer["ticket_id"]).await;
    let number = receipt["ticket_number"].as_str().unwrap_or_default();
    assert_eq!(
        follow_up["description"],
        format!("Follow-up to {number}.\n\nStuck again.")
    );
    assert_eq!(d.ticket(&receipt["ticket_id"]).await["status"], "closed");
    d.app.stop().await;
}

async fn machine_mail_loops_rate_limits_and_duplicates(backend: TestBackend) {
    let d = desk(backend, "loops", json!({"sender_limit_per_hour": 2})).await;
    let cases = [
        Mail::new("frank@example.com", "Out of office").header("Auto-Submitted", "auto-replied"),
        Mail::new("frank@example.com", "Newsletter").header("Precedence", "bulk"),
        Mail::new("frank@example.com", "Away").header("X-Autoreply", "yes"),
        Mail::new(
            "MAILER-DAEMON@mx.example.com",
            "Undelivered Mail Returned to Sender",
        ),
        Mail::new("bounce@example.com", "Delivery failure").header("Return-Path", "<>"),
        Mail::new("Help <help@acme.test>", "Your ticket was received"),
    ];
    for mail in &cases {
        let (status, answer) = post_mail(&d.app, &d.token, mail.clone().text("auto").build()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["outcome"], "dropped", "{answer}");
        assert!(answer["ticket_id"].is_null());
    }
    let reasons: Vec<String> = d
        .messages()
        .await
        .iter()
        .map(|m| m["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(reasons[0].contains("Auto-Submitted"), "{reasons:?}");
    assert!(reasons[1].contains("Precedence: bulk"), "{reasons:?}");
    assert!(reasons[2].contains("X-Autoreply"), "{reasons:?}");
    assert!(reasons[3].contains("mailer-daemon"), "{reasons:?}");
    assert!(reasons[4].contains("Return-Path"), "{reasons:?}");
    assert!(reasons[5].contains("own address"), "{reasons:?}");
    assert!(d.tickets().await.is_empty(), "no ticket from machine mail");

    // The same Message-ID twice: one ticket, the second answered as a duplicate.
    let once = Mail::new("gina@example.com", "Window cracked").text("Cracked.");
    let raw = once.build();
    let (_, first) = post_mail(&d.app, &d.token, raw.clone()).await;
    let (_, second) = post_mail(&d.app, &d.token, raw).await;
    assert_eq!(first["outcome"], "ticket");
    assert_eq!(second["duplicate"], true, "{second}");
    assert_eq!(second["ticket_id"], first["ticket_id"]);
    assert_eq!(d.tickets().await.len(), 1);

    // Two accepted per hour from one sender: the third is dropped.
    let (_, two) = post_mail(
        &d.app,
        &d.token,
        Mail::new("gina@example.com", "Door").text("x").build(),
    )
    .await;
    assert_eq!(two["outcome"], "ticket");
    let (_, three) = post_mail(
        &d.app,
        &d.token,
        Mail::new("Gina@Example.com", "Tap").text("x").build(),
    )
    .await;
    assert_eq!(three["outcome"], "dropped", "{three}");
    assert!(
        three["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("rate limited"))
    );
    let (_, other) = post_mail(
        &d.app,
        &d.token,
        Mail::new("hank@example.com", "Tap").text("x").build(),
    )
    .await;
    assert_eq!(other["outcome"], "ticket", "another sender is not limited");

    let dropped = d
        .app
        .get("/v1/intake/messages?outcome=dropped", d.admin())
        .await
        .expect(StatusCode::OK);
    assert_eq!(dropped["items"].as_array().map(Vec::len), Some(7));
    d.app.stop().await;
}

async fn the_endpoint_is_authenticated_and_answers_problems(backend: TestBackend) {
    let d = desk(backend, "auth", json!({})).await;
    let raw = Mail::new("ivy@example.com", "Hello").text("x").build();
    let (status, body) = post_mail(&d.app, "tri_not-a-token", raw.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/unauthorized"))
    );
    // A technician's access token is not enough; an admin's is.
    let (status, _) = post_mail(&d.app, &d.shop.tech().token, raw.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = post_mail(&d.app, d.admin(), raw.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "ticket");
    // A rotated token replaces the old one.
    let fresh = intake_token(&d.app, &d.shop.tenant).await;
    let (status, _) = post_mail(&d.app, &d.token, raw.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = post_mail(&d.app, &fresh, raw).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["duplicate"], true);
    // Not a message at all: recorded as dropped, never a ticket.
    let (status, body) = post_mail(&d.app, &fresh, b"\x00\x01 garbage".to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "dropped", "{body}");
    // Settings are checked.
    let bad = d
        .app
        .send(
            Method::PUT,
            "/v1/intake/settings",
            Some(d.admin()),
            Some(
                &json!({"slug": "Not A Slug", "category": "repair", "site_id": d.shop.site,
                         "own_addresses": ["nope"], "sender_limit_per_hour": 0}),
            ),
        )
        .await;
    bad.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        ["slug", "own_addresses[0]", "sender_limit_per_hour"]
    );
    // Another tenant's token never reaches this tenant's tickets.
    let other = d.app.create_tenant("auth-other").await;
    let other_site = d.app.berlin_site(&other, "standard").await;
    set_up(&d.app, &other, id_of(&other_site, "id"), json!({})).await;
    let other_token = intake_token(&d.app, &other).await;
    let (_, body) = post_mail(
        &d.app,
        &other_token,
        Mail::new("ivy@example.com", "Other").text("x").build(),
    )
    .await;
    assert_eq!(body["outcome"], "ticket");
    assert!(
        d.tickets().await.iter().all(|t| t["title"] != "Other"),
        "the other tenant's ticket is not here"
    );
    d.app.stop().await;
}

truckroll_tests::backend_tests!(
    new_mail_with_a_photo_becomes_a_ticket_with_the_media,
    gbk_chinese_html_only_and_quoted_history,
    a_reply_threads_as_a_public_comment_and_reopens,
    a_reply_after_the_window_opens_a_follow_up,
    machine_mail_loops_rate_limits_and_duplicates,
    the_endpoint_is_authenticated_and_answers_problems,
);
