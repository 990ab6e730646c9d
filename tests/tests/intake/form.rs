//! The public web form: its two endpoints on both databases, and the page
//! in Chromium (tests/browser/intake.mjs) with screenshots at 1024 and
//! 1440 px.

use reqwest::{StatusCode, multipart};
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend, app::TestApp, browser, fixtures::Shop, intake::set_up, media::jpeg,
};

/// A shop whose form offers `repair` (room and floor required) and `cleaning`.
async fn shop_with_form(app: &TestApp, name: &str) -> Shop {
    let shop = Shop::builder(app, name).build().await;
    let admin = &shop.tenant.admin_token;
    app.post(
        "/v1/categories",
        admin,
        &json!({"name": "repair", "description": "Something is broken",
                "custom_fields_schema": {"type": "object", "required": ["room", "floor"],
                    "properties": {"room": {"type": "string", "title": "Room", "maxLength": 40},
                                   "floor": {"type": "integer", "title": "Floor", "minimum": 0, "maximum": 99},
                                   "urgent": {"type": "boolean", "title": "Urgent"}}}}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post("/v1/categories", admin, &json!({"name": "cleaning"}))
        .await
        .expect(StatusCode::CREATED);
    set_up(
        app,
        &shop.tenant,
        shop.site,
        json!({"form_categories": ["repair", "cleaning"]}),
    )
    .await;
    shop
}

fn form(fields: &[(&str, &str)]) -> multipart::Form {
    let mut form = multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form
}

async fn submit(app: &TestApp, slug: &str, form: multipart::Form) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/v1/public/{slug}/requests", app.base_url))
        .multipart(form)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

const GOOD: &[(&str, &str)] = &[
    ("category", "repair"),
    ("custom_fields", r#"{"room": "Kitchen", "floor": 2}"#),
    ("name", "Rosa Díaz"),
    ("email", "rosa@example.com"),
    ("phone", "+49 30 555"),
    ("address", "Torstraße 1, Berlin"),
    ("title", "Dishwasher floods"),
    ("description", "Water everywhere."),
    ("website", ""),
];

async fn the_form_opens_a_ticket_and_refuses_bots(backend: TestBackend) {
    let app = TestApp::start_with(backend, |c| c.intake.form_per_address_per_hour = 6).await;
    let shop = shop_with_form(&app, "form").await;
    let admin = shop.tenant.admin_token.clone();

    let info = app
        .send(
            reqwest::Method::GET,
            "/v1/public/form-desk/form",
            None,
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(info["categories"][0]["name"], "repair");
    assert_eq!(
        info["categories"][0]["custom_fields_schema"]["required"],
        json!(["room", "floor"])
    );
    assert_eq!(info["categories"][1]["name"], "cleaning");
    let (status, _) = submit(&app, "nobody-here", form(GOOD)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let photo = jpeg(5);
    let with_photo = form(GOOD).part(
        "photos",
        multipart::Part::bytes(photo.clone())
            .file_name("flood.jpg")
            .mime_str("image/jpeg")
            .expect("mime"),
    );
    let (status, receipt) = submit(&app, "form-desk", with_photo).await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let number = receipt["ticket_number"]
        .as_str()
        .expect("number")
        .to_owned();
    assert_eq!(receipt["progress_link"], format!("/track?ticket={number}"));

    let tickets = app.get("/v1/tickets", &admin).await.expect(StatusCode::OK);
    let ticket = tickets["items"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["number"] == number.as_str()))
        .cloned()
        .expect("the ticket");
    assert_eq!(ticket["title"], "Dishwasher floods");
    assert_eq!(ticket["category"], "repair");
    assert_eq!(
        ticket["custom_fields"],
        json!({"room": "Kitchen", "floor": 2})
    );
    assert_eq!(ticket["tags"], json!(["web-form"]));
    assert_eq!(
        ticket["description"],
        "Water everywhere.\n\nContact: Rosa Díaz, +49 30 555, rosa@example.com\nAddress: Torstraße 1, Berlin"
    );
    let media = app
        .get(
            &format!(
                "/v1/tickets/{}/media",
                ticket["id"].as_str().unwrap_or_default()
            ),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(media["items"][0]["state"], "stored", "{media}");
    let timeline = app
        .get(
            &format!(
                "/v1/tickets/{}/timeline",
                ticket["id"].as_str().unwrap_or_default()
            ),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        timeline["items"].as_array().is_some_and(|items| items
            .iter()
            .any(|e| e["summary"] == "received by web form from rosa@example.com")),
        "{timeline}"
    );

    // The honeypot: refused, recorded, no ticket.
    let mut bot: Vec<(&str, &str)> = GOOD
        .iter()
        .filter(|(k, _)| *k != "website")
        .copied()
        .collect();
    bot.push(("website", "http://spam.example"));
    let (status, problem) = submit(&app, "form-desk", form(&bot)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["detail"], "the request was refused");
    let dropped = app
        .get("/v1/intake/messages?outcome=dropped", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(dropped["items"][0]["channel"], "form");

    // Custom fields are checked against the category's schema.
    let mut wrong: Vec<(&str, &str)> = GOOD
        .iter()
        .filter(|(k, _)| *k != "custom_fields")
        .copied()
        .collect();
    wrong.push(("custom_fields", r#"{"room": "Kitchen", "floor": "second"}"#));
    let (status, problem) = submit(&app, "form-desk", form(&wrong)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{problem}"
    );
    let (status, problem) = submit(&app, "form-desk", form(&[("title", "x")])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["name", "email"], "{problem}");

    // Per client address: six an hour (the unknown form's included), then 429 with Retry-After.
    let (status, _) = submit(&app, "form-desk", form(GOOD)).await;
    assert_eq!(status, StatusCode::CREATED);
    let response = app
        .client
        .post(format!("{}/v1/public/form-desk/requests", app.base_url))
        .multipart(form(GOOD))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());

    app.stop().await;
}

truckroll_tests::backend_tests!(the_form_opens_a_ticket_and_refuses_bots);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_reports_a_fault_in_chromium() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let shop = shop_with_form(&app, "page").await;
    let photo = std::env::temp_dir().join(format!("intake-photo-{}.jpg", uuid::Uuid::now_v7()));
    std::fs::write(&photo, jpeg(11)).expect("photo written");
    let artifacts = browser::artifacts_dir();
    browser::run_script(
        "intake.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("SLUG", "page-desk".to_owned()),
            ("PHOTO", photo.display().to_string()),
            (
                "ARTIFACT",
                artifacts.join("intake-form.png").display().to_string(),
            ),
        ],
    )
    .await;
    std::fs::remove_file(&photo).ok();

    // What the page sent arrived: the ticket, its custom fields and photo.
    let admin = &shop.tenant.admin_token;
    let tickets = app.get("/v1/tickets", admin).await.expect(StatusCode::OK);
    let items = tickets["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        items.len(),
        1,
        "one ticket; the bot's was refused: {tickets}"
    );
    assert_eq!(items[0]["title"], "Radiator cold");
    assert_eq!(
        items[0]["custom_fields"],
        json!({"room": "Office 3", "floor": 4, "urgent": true})
    );
    let media = app
        .get(
            &format!(
                "/v1/tickets/{}/media",
                items[0]["id"].as_str().unwrap_or_default()
            ),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(media["items"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}
