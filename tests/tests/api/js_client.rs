//! A client written from `sync/PROTOCOL.md` alone on the official
//! `@automerge/automerge` npm package (`tests/js-client/`) syncs a ticket
//! over `POST /v1/sync` and the `GET /v1/sync` WebSocket, edits it and
//! converges in the number of requests the protocol promises; the server's
//! ticket and document show the edits.

use reqwest::StatusCode;
use truckroll_sync::Status;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp},
    fixtures::Shop,
};

backend_tests!(js_client_syncs_from_the_protocol_document);

async fn js_client_syncs_from_the_protocol_document(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "js-client")
        .technicians(2)
        .build()
        .await;
    let tech = &shop.techs[0];
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let colleagues = shop.assigned_ticket(&app, shop.techs[1].id).await;

    let result = truckroll_tests::js_client::run(&[
        ("TRUCKROLL_URL", format!("http://{}", app.address)),
        ("TRUCKROLL_TENANT", shop.tenant.name.clone()),
        ("TRUCKROLL_EMAIL", tech.email.clone()),
        ("TRUCKROLL_PASSWORD", PASSWORD.to_owned()),
        ("TRUCKROLL_TICKET", ticket.to_string()),
        ("TRUCKROLL_COLLEAGUE_TICKET", colleagues.to_string()),
    ])
    .await;
    assert_eq!(
        result["requests"],
        serde_json::json!({"first": 2, "idle": 1, "edit": 2, "after_ws": 1, "old_recipe": "cap"}),
        "{result}"
    );
    assert_eq!(result["status"], "en_route", "{result}");

    // The server holds exactly what the client holds, and REST agrees.
    let seen = app
        .get(&format!("/v1/tickets/{ticket}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["status"], "en_route", "{seen}");
    assert!(seen["field"]["accepted_at"].is_string(), "{seen}");
    assert_eq!(seen["field"]["part_count"], 1, "{seen}");
    let server = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("document")
        .doc;
    assert_eq!(server.notes(), "Compressor noisy 🔧. On my way.");
    assert_eq!(server.notes(), result["notes"].as_str().expect("notes"));
    assert_eq!(server.status().status, Status::EnRoute);
    assert_eq!(server.parts().len(), 1);
    assert_eq!(server.parts()[0].part_number, "CMP-1");
    let heads: Vec<String> = server.heads().iter().map(|h| h.to_string()).collect();
    let mut client_heads: Vec<String> = result["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h.as_str().expect("hash").to_owned())
        .collect();
    client_heads.sort();
    let mut heads = heads;
    heads.sort();
    assert_eq!(heads, client_heads);
    // The colleague's ticket was not touched.
    assert!(
        app.ticket_doc(shop.tenant.id, colleagues)
            .await
            .is_none_or(|d| d.doc.notes().is_empty())
    );
    app.stop().await;
}
