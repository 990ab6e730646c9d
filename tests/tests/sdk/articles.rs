//! Knowledge-base articles on the phone (issue 22), on SQLite and
//! PostgreSQL: the articles for a job's ticket category and asset model
//! travel in its job packet, are readable with the phone offline, and are
//! replaced after an office edit; an edit of an unrelated article sends
//! nothing. An article's attachments up to 1 MiB travel too, their bytes
//! downloaded after the sync and readable offline.

use reqwest::{Method, StatusCode};
use serde_json::json;
use truckroll_sdk::{Client, ClientConfig};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(job_articles_are_readable_offline_and_follow_edits);

async fn job_articles_are_readable_offline_and_follow_edits(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "kbphone").build().await;
    let admin = shop.tenant.admin_token.as_str();
    let asset = app
        .post(
            "/v1/assets",
            admin,
            &json!({"site_id": shop.site, "serial": "CH-4711", "model": "Carrier 30XA"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket = id_of(
        &app.post(
            "/v1/tickets",
            admin,
            &json!({"title": "Chiller trips", "category": "hvac", "priority": "P2",
                    "site_id": shop.site, "asset_id": asset["id"]}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    shop.assign(&app, ticket, shop.techs[0].id).await;
    let article = |title: &str, body: &str, models: &[&str], categories: &[&str]| {
        json!({"title": title, "body": body, "visibility": "internal",
               "asset_models": models, "ticket_categories": categories})
    };
    let procedure = app
        .post(
            "/v1/knowledge/articles",
            admin,
            &article(
                "Chiller high-pressure trip",
                "# Procedure\n\n1. Clean the condenser",
                &["Carrier 30XA"],
                &[],
            ),
        )
        .await
        .expect(StatusCode::CREATED);
    let procedure_id = id_of(&procedure, "id");
    // Its wiring diagram travels with the job; a scanned manual over 1 MiB does not.
    let attach = |name: &'static str, bytes: Vec<u8>| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(format!(
                    "{}/v1/knowledge/articles/{procedure_id}/attachments",
                    app.base_url
                ))
                .query(&[("name", name)])
                .bearer_auth(admin)
                .header("content-type", "application/pdf")
                .body(bytes)
                .send()
                .await
                .expect("upload");
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<serde_json::Value>().await.expect("json")
        }
    };
    let diagram_bytes = b"%PDF-1.4\n% wiring diagram of the 30XA control board\n%%EOF\n".to_vec();
    let diagram = attach("wiring.pdf", diagram_bytes.clone()).await;
    let mut manual = b"%PDF-1.4\n".to_vec();
    manual.resize(1024 * 1024 + 100, b'x');
    attach("manual.pdf", manual).await;
    let safety = id_of(
        &app.post(
            "/v1/knowledge/articles",
            admin,
            &article(
                "Refrigerant safety",
                "Wear gloves <script>alert(1)</script>",
                &[],
                &["hvac"],
            ),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let unrelated = app
        .post(
            "/v1/knowledge/articles",
            admin,
            &article("Boiler reset", "Hold reset", &["Vaillant"], &["heating"]),
        )
        .await
        .expect(StatusCode::CREATED);

    let dir = TempGuard::new("truckroll-articles-");
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(&shop.tenant.name, &shop.techs[0].email, PASSWORD)
        .await
        .expect("signs in");
    let report = client.sync_now().await.expect("sync runs");
    assert_eq!(report.packets_received, vec![ticket.to_string()]);
    assert_eq!(report.attachments_downloaded, 1, "{report:?}");

    // Offline: the procedure for the asset model and the category's article.
    client.set_online(false);
    let articles = client
        .job_articles(&ticket.to_string())
        .await
        .expect("read");
    let titles: Vec<&str> = articles.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(titles, ["Chiller high-pressure trip", "Refrigerant safety"]);
    assert_eq!(articles[0].id, procedure_id.to_string());
    assert_eq!(articles[0].version, 1);
    assert!(
        articles[0].body_html.contains("<h1>Procedure</h1>"),
        "{articles:?}"
    );
    assert!(articles[0].body_markdown.starts_with("# Procedure"));
    assert!(
        !articles[1].body_html.contains("<script"),
        "rendered without script"
    );
    assert_eq!(articles[1].id, safety.to_string());
    // The small attachment is listed and its bytes are on the phone.
    let files: Vec<&str> = articles[0]
        .attachments
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(files, ["wiring.pdf"]);
    assert_eq!(
        articles[0].attachments[0].sha256,
        diagram["sha256"].as_str().expect("sha")
    );
    let held = client
        .packet_attachment(&articles[0].attachments[0].sha256)
        .await
        .expect("read")
        .expect("downloaded for offline reading");
    assert_eq!(held, diagram_bytes);
    assert!(articles[1].attachments.is_empty());
    let one = client
        .article(&procedure_id.to_string())
        .await
        .expect("read")
        .expect("held");
    assert_eq!(one.title, "Chiller high-pressure trip");

    // An edit of an unrelated article sends nothing.
    client.set_online(true);
    app.send(
        Method::PUT,
        &format!("/v1/knowledge/articles/{}", id_of(&unrelated, "id")),
        Some(admin),
        Some(
            &json!({"version": 1, "title": "Boiler reset v2", "body": "Hold reset longer",
                      "visibility": "internal", "asset_models": ["Vaillant"]}),
        ),
    )
    .await
    .expect(StatusCode::OK);
    let report = client.sync_now().await.expect("sync runs");
    assert!(report.packets_received.is_empty(), "{report:?}");

    // The office edits the procedure: the next sync brings it.
    app.send(
        Method::PUT,
        &format!("/v1/knowledge/articles/{procedure_id}"),
        Some(admin),
        Some(&json!({"version": 1, "title": "Chiller high-pressure trip",
                      "body": "# Procedure\n\n1. Clean the condenser\n2. Check the fan motor",
                      "visibility": "internal", "asset_models": ["Carrier 30XA"]})),
    )
    .await
    .expect(StatusCode::OK);
    let report = client.sync_now().await.expect("sync runs");
    assert_eq!(report.packets_received, vec![ticket.to_string()]);
    client.set_online(false);
    let updated = client
        .article(&procedure_id.to_string())
        .await
        .expect("read")
        .expect("held");
    assert_eq!(updated.version, 2);
    assert!(
        updated.body_html.contains("Check the fan motor"),
        "{updated:?}"
    );
    assert!(
        client
            .article(&Uuid::now_v7().to_string())
            .await
            .expect("read")
            .is_none()
    );
    app.stop().await;
}
