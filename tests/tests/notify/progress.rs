//! The customer's progress page API and the satisfaction survey, end to
//! end: codes go out through the email worker to a real SMTP server
//! (aiosmtpd), the direct link comes from a sent message, and the public
//! endpoints are called with the bearer they hand out.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_server::{
    notify::{self, Sender, SmtpSender},
    outbox::Worker,
    store::{Store, notify::NoticeChannel},
};
use truckroll_tests::{
    TestBackend,
    app::{Reply, TestApp, id_of},
    fixtures::Shop,
    smtp::SmtpSink,
};
use uuid::Uuid;

backend_tests!(
    a_code_opens_the_page_and_wrong_codes_lock_alike_for_unknown_numbers,
    the_direct_link_opens_the_page_and_a_reply_is_not_emailed_back,
    the_position_is_shown_only_while_en_route,
    the_survey_counts_once_and_appears_in_the_report,
    public_requests_are_rate_limited_per_address
);

async fn start(backend: TestBackend) -> TestApp {
    TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
        config.webhooks.worker_enabled = false;
        config.sla.timers_enabled = false;
        config.notify.public_base_url = "https://service.acme.test".into();
    })
    .await
}

fn email_worker(app: &TestApp, sink: &SmtpSink) -> Worker<notify::NoticeOutbox> {
    let store: Arc<dyn Store> = app.state.store.clone();
    let sender: Arc<dyn Sender> = Arc::new(SmtpSender::new(&sink.config()).expect("smtp sender"));
    notify::worker(store, NoticeChannel::Email, sender, &app.config.notify)
}

async fn drain(worker: &Worker<notify::NoticeOutbox>, now: DateTime<Utc>) -> usize {
    let mut claimed = 0;
    for _ in 0..100 {
        match worker.run_once(now).await.expect("round") {
            0 => return claimed,
            n => claimed += n,
        }
    }
    panic!("the worker never ran out of due messages");
}

/// A shop whose customer reads email at `li.wei@hotel.test`, and one ticket.
async fn shop_with_ticket(app: &TestApp, name: &str) -> (Shop, Uuid, String) {
    let shop = Shop::builder(app, name).build().await;
    let site = app
        .get(
            &format!("/v1/sites/{}", shop.site),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let customer = id_of(&site, "customer_id");
    app.patch(
        &format!("/v1/customers/{customer}"),
        &shop.tenant.admin_token,
        &json!({"email": "li.wei@hotel.test"}),
    )
    .await
    .expect(StatusCode::OK);
    let body = json!({"title": "Boiler leaks", "category": "hvac", "priority": "P3", "site_id": shop.site});
    let created = app
        .post("/v1/tickets", &shop.tenant.admin_token, &body)
        .await
        .expect(StatusCode::CREATED);
    let number = created["number"].as_str().expect("number").to_owned();
    (shop, id_of(&created, "id"), number)
}

async fn step(app: &TestApp, shop: &Shop, id: Uuid, status: &str) {
    app.patch(
        &format!("/v1/tickets/{id}"),
        &shop.tech().token,
        &json!({"status": status}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn assign(app: &TestApp, shop: &Shop, id: Uuid) {
    app.post(
        &format!("/v1/tickets/{id}/assign"),
        &shop.tenant.admin_token,
        &json!({"technician_id": shop.tech().id}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn public(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    app.send(method, path, token, body.as_ref()).await
}

async fn ask_code(app: &TestApp, tenant: &str, number: &str) -> Reply {
    public(
        app,
        Method::POST,
        "/v1/public/track/codes",
        None,
        Some(json!({"tenant": tenant, "ticket": number})),
    )
    .await
}

async fn try_code(app: &TestApp, tenant: &str, number: &str, code: &str) -> Reply {
    public(
        app,
        Method::POST,
        "/v1/public/track/sessions",
        None,
        Some(json!({"tenant": tenant, "ticket": number, "code": code})),
    )
    .await
}

/// The bearer a direct link gives.
async fn open_link(app: &TestApp, link: &str) -> String {
    let reply = public(
        app,
        Method::POST,
        "/v1/public/track/sessions",
        None,
        Some(json!({"link": link})),
    )
    .await
    .expect(StatusCode::OK);
    reply["token"].as_str().expect("token").to_owned()
}

async fn view(app: &TestApp, token: &str) -> Value {
    public(app, Method::GET, "/v1/public/track", Some(token), None)
        .await
        .expect(StatusCode::OK)
}

/// The token of the first `/track/{token}` link in `body`.
fn link_in(body: &str) -> String {
    let start = body
        .find("/track/")
        .unwrap_or_else(|| panic!("no direct link in {body}"))
        + "/track/".len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn code_in(subject: &str) -> String {
    subject.rsplit(' ').next().expect("code").to_owned()
}

async fn a_code_opens_the_page_and_wrong_codes_lock_alike_for_unknown_numbers(
    backend: TestBackend,
) {
    let app = start(backend).await;
    let (shop, _, number) = shop_with_ticket(&app, "acme").await;
    let sink = SmtpSink::start().await;
    let worker = email_worker(&app, &sink);
    let tenant = shop.tenant.name.clone();
    drain(&worker, Utc::now()).await;
    let before = sink.received().len();

    // A known and an unknown number get the same answer; only the known one mails.
    let known = ask_code(&app, &tenant, &number).await;
    let unknown = ask_code(&app, &tenant, "T-999999").await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.body, known.body);
    assert_eq!(drain(&worker, Utc::now()).await, 1);
    let mails = sink.wait_for(before + 1).await;
    let mail = &mails[before];
    assert_eq!(mail.rcpt_tos, ["li.wei@hotel.test"]);
    let code = code_in(&mail.subject);
    assert_eq!(code.len(), 6, "{}", mail.subject);

    // The right code opens the page, once.
    let session = try_code(&app, &tenant, &number, &code)
        .await
        .expect(StatusCode::OK);
    let token = session["token"].as_str().expect("token");
    assert_eq!(view(&app, token).await["number"], number.as_str());
    let again = try_code(&app, &tenant, &number, &code).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // A progress bearer is no staff token, and no staff token is a progress bearer.
    assert_eq!(
        app.send(Method::GET, "/v1/tickets", Some(token), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        public(
            &app,
            Method::GET,
            "/v1/public/track",
            Some(&shop.tenant.admin_token),
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );

    // Wrong codes: four refusals, then locked — the same for both numbers.
    ask_code(&app, &tenant, &number)
        .await
        .expect(StatusCode::ACCEPTED);
    drain(&worker, Utc::now()).await;
    let fresh = code_in(&sink.wait_for(before + 2).await[before + 1].subject);
    let wrong = if fresh == "000000" {
        "000001"
    } else {
        "000000"
    };
    for candidate in [number.as_str(), "T-999999"] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(
                try_code(&app, &tenant, candidate, wrong)
                    .await
                    .status
                    .as_u16(),
            );
        }
        assert_eq!(statuses, [401, 401, 401, 401, 429, 429], "{candidate}");
    }
    // Locked: even the right code is refused now, and no new code is sent.
    assert_eq!(
        try_code(&app, &tenant, &number, &fresh).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    ask_code(&app, &tenant, &number)
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(drain(&worker, Utc::now()).await, 0);
    // An unknown tenant answers like the rest.
    assert_eq!(
        ask_code(&app, "no-such-tenant", &number).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        try_code(&app, "no-such-tenant", &number, "123456")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn the_direct_link_opens_the_page_and_a_reply_is_not_emailed_back(backend: TestBackend) {
    let app = start(backend).await;
    let (shop, id, number) = shop_with_ticket(&app, "acme").await;
    let sink = SmtpSink::start().await;
    let worker = email_worker(&app, &sink);
    assert_eq!(drain(&worker, Utc::now()).await, 1);
    let received = sink.wait_for(1).await;
    let link = link_in(&received[0].body);
    assert!(
        !received[0].body.contains("?ticket="),
        "{}",
        received[0].body
    );

    let token = open_link(&app, &link).await;
    let page = view(&app, &token).await;
    assert_eq!(page["number"], number.as_str());
    assert_eq!(page["status"], "new");
    assert!(page["tracking"].is_null());

    // A tampered link is refused.
    let mut forged = link.clone().into_bytes();
    forged[5] = if forged[5] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let refused = public(
        &app,
        Method::POST,
        "/v1/public/track/sessions",
        None,
        Some(json!({"link": forged})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // Staff write publicly (the customer is mailed); the customer answers (nobody is).
    app.post(
        &format!("/v1/tickets/{id}/comments"),
        &shop.tenant.admin_token,
        &json!({"body": "We come on Monday", "visibility": "public"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        &format!("/v1/tickets/{id}/comments"),
        &shop.tenant.admin_token,
        &json!({"body": "internal note", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let reply = public(
        &app,
        Method::POST,
        "/v1/public/track/comments",
        Some(&token),
        Some(json!({"body": "Monday is fine, ring twice"})),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(reply["from_customer"], true);
    let empty = public(
        &app,
        Method::POST,
        "/v1/public/track/comments",
        Some(&token),
        Some(json!({"body": " "})),
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        drain(&worker, Utc::now()).await,
        1,
        "only the staff reply is mailed"
    );
    let mails = sink.wait_for(2).await;
    assert!(mails[1].body.contains("We come on Monday"));
    assert_eq!(sink.received().len(), 2);

    let page = view(&app, &token).await;
    let comments: Vec<(String, bool)> = page["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .map(|c| {
            (
                c["body"].as_str().unwrap_or_default().to_owned(),
                c["from_customer"] == true,
            )
        })
        .collect();
    assert_eq!(
        comments,
        [
            ("We come on Monday".to_owned(), false),
            ("Monday is fine, ring twice".to_owned(), true)
        ]
    );
    // Staff see the customer's answer as a public comment.
    let staff = app
        .get(
            &format!("/v1/tickets/{id}/comments"),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        staff.to_string().contains("Monday is fine, ring twice"),
        "{staff}"
    );
}

async fn the_position_is_shown_only_while_en_route(backend: TestBackend) {
    let app = start(backend).await;
    let (shop, id, _) = shop_with_ticket(&app, "acme").await;
    let sink = SmtpSink::start().await;
    let worker = email_worker(&app, &sink);
    drain(&worker, Utc::now()).await;
    let link = link_in(&sink.wait_for(1).await[0].body);
    let token = open_link(&app, &link).await;
    let ping = |minutes_ago: i64| {
        let at = (Utc::now() - Duration::minutes(minutes_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        json!({"pings": [{"device_time": at, "lat": 52.52, "lon": 13.40, "accuracy_m": 6.0}]})
    };
    app.post("/v1/me/locations", &shop.tech().token, &ping(3))
        .await
        .expect(StatusCode::OK);

    let mut seen = Vec::new();
    assign(&app, &shop, id).await;
    seen.push(("assigned", view(&app, &token).await));
    step(&app, &shop, id, "accepted").await;
    seen.push(("accepted", view(&app, &token).await));
    step(&app, &shop, id, "en_route").await;
    app.post("/v1/me/locations", &shop.tech().token, &ping(1))
        .await
        .expect(StatusCode::OK);
    let en_route = view(&app, &token).await;
    step(&app, &shop, id, "on_site").await;
    seen.push(("on_site", view(&app, &token).await));
    step(&app, &shop, id, "work_done").await;
    seen.push(("work_done", view(&app, &token).await));

    let tracking = &en_route["tracking"];
    assert_eq!(tracking["lat"], 52.52, "{en_route}");
    assert_eq!(tracking["lon"], 13.40);
    assert!(tracking["eta_minutes"].as_u64().is_some(), "{tracking}");
    assert!(tracking["distance_m"].as_f64().is_some_and(|d| d >= 0.0));
    assert_eq!(en_route["status"], "en_route");
    let first_name = en_route["technician_first_name"]
        .as_str()
        .expect("first name");
    assert!(!first_name.contains(' '), "{first_name}");
    for (status, page) in &seen {
        assert!(page["tracking"].is_null(), "{status}: {page}");
        let text = page.to_string();
        assert!(
            !text.contains("52.52"),
            "{status} leaks the position: {text}"
        );
    }
}

async fn the_survey_counts_once_and_appears_in_the_report(backend: TestBackend) {
    let app = start(backend).await;
    let (shop, id, _) = shop_with_ticket(&app, "acme").await;
    let sink = SmtpSink::start().await;
    let worker = email_worker(&app, &sink);
    drain(&worker, Utc::now()).await;
    let token = open_link(&app, &link_in(&sink.wait_for(1).await[0].body)).await;
    let answer = |score: u64| json!({"score": score, "comment": "Quick, tidy, friendly"});

    // Not before close.
    let early = public(
        &app,
        Method::POST,
        "/v1/public/track/survey",
        Some(&token),
        Some(answer(5)),
    )
    .await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assign(&app, &shop, id).await;
    for status in ["accepted", "en_route", "on_site", "work_done", "closed"] {
        step(&app, &shop, id, status).await;
    }
    // The survey message links to the page's survey form.
    drain(&worker, Utc::now()).await;
    let survey_mail = sink
        .received()
        .into_iter()
        .find(|m| m.subject.starts_with("How did we do?"))
        .expect("survey mail");
    assert!(survey_mail.body.contains("#survey"), "{}", survey_mail.body);
    let survey_token = open_link(&app, &link_in(&survey_mail.body)).await;
    assert!(view(&app, &survey_token).await["survey_open"] == true);

    let bad = public(
        &app,
        Method::POST,
        "/v1/public/track/survey",
        Some(&token),
        Some(answer(6)),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let first = public(
        &app,
        Method::POST,
        "/v1/public/track/survey",
        Some(&survey_token),
        Some(answer(4)),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(first["score"], 4);
    let second = public(
        &app,
        Method::POST,
        "/v1/public/track/survey",
        Some(&token),
        Some(answer(1)),
    )
    .await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(
        second.body["type"], "https://truckroll.dev/problems/conflict",
        "{}",
        second.body
    );
    let page = view(&app, &token).await;
    assert_eq!(page["survey"]["score"], 4);
    assert_eq!(page["survey_open"], false);

    // The report, by category and by technician, JSON and CSV.
    let from = (Utc::now() - Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = |by: &str| {
        format!(
            "/v1/reports/csat?from={}&to={}&group_by={by}",
            urlenc(&from),
            urlenc(&to)
        )
    };
    let by_category = app
        .get(&path("category"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        by_category,
        json!([{"group": "hvac", "responses": 1, "average_score": 4.0, "satisfied": 1}])
    );
    let by_technician = app
        .get(&path("technician"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(by_technician[0]["responses"], 1);
    assert!(by_technician[0]["group"].is_string(), "{by_technician}");
    let csv = app
        .send_with(
            Method::GET,
            &path("category"),
            Some(&shop.tenant.admin_token),
            None,
            &[("accept", "text/csv")],
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        csv,
        Value::String("category,responses,average_score,satisfied\r\nhvac,1,4.00,1\r\n".into())
    );
    let technician = app.get(&path("category"), &shop.tech().token).await;
    assert_eq!(technician.status, StatusCode::FORBIDDEN);

    // The ticket's timeline shows the answer.
    let timeline = app
        .get(
            &format!("/v1/tickets/{id}/timeline"),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        timeline
            .to_string()
            .contains("customer survey answered: 4/5"),
        "{timeline}"
    );
}

fn urlenc(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

async fn public_requests_are_rate_limited_per_address(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
        config.notify.public_requests_per_minute = 3;
    })
    .await;
    let tenant = app.create_tenant("limits").await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        statuses.push(
            ask_code(&app, &tenant.name, &format!("T-{n}"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
    let limited = ask_code(&app, &tenant.name, "T-9").await;
    limited.expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
}
