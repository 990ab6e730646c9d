//! Parts and van stock (issue 23) through the real HTTP API and phones: the
//! catalogue and its CSV import, the ledger and its balances (under
//! concurrent movements), consumption from the phone's part entries
//! (exactly once, corrected with the entry), part-aware dispatch, and the
//! priced job on the work record, the service report and the export.

mod catalogue;
mod consumption;
mod dispatch;
mod ledger;
mod plans;
mod serials;
mod value;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::app::{Reply, TestApp, id_of};
use uuid::Uuid;

pub(super) async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> Reply {
    app.send(Method::PUT, path, Some(token), Some(body)).await
}

/// `POST /v1/parts/import` with a CSV body.
pub(super) async fn import_csv(app: &TestApp, token: &str, csv: &str) -> Reply {
    let response = app
        .client
        .post(format!("{}/v1/parts/import", app.base_url))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A catalogue part; returns its id.
pub(super) async fn part(
    app: &TestApp,
    token: &str,
    number: &str,
    name: &str,
    price_cents: i64,
) -> Uuid {
    id_of(
        &app.post(
            "/v1/parts",
            token,
            &json!({"number": number, "name": name, "price_cents": price_cents, "cost_cents": price_cents / 2}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    )
}

pub(super) async fn warehouse(app: &TestApp, token: &str, name: &str) -> Uuid {
    id_of(
        &app.post("/v1/stock/locations", token, &json!({"name": name}))
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

/// The technician's van (made on first use).
pub(super) async fn van(app: &TestApp, token: &str, technician: Uuid) -> Uuid {
    id_of(
        &put(
            app,
            &format!("/v1/technicians/{technician}/van"),
            token,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK),
        "id",
    )
}

pub(super) async fn receive(app: &TestApp, token: &str, part: Uuid, location: Uuid, quantity: f64) {
    app.post(
        "/v1/stock/movements",
        token,
        &json!({"kind": "receipt", "part_id": part, "to_location_id": location, "quantity": quantity}),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// The balance of `part` at `location` (0 when none is listed).
pub(super) async fn balance(app: &TestApp, token: &str, location: Uuid, part: Uuid) -> f64 {
    let list = app
        .get(
            &format!("/v1/stock/balances?location_id={location}&part_id={part}"),
            token,
        )
        .await
        .expect(StatusCode::OK);
    list.as_array()
        .and_then(|l| l.first())
        .and_then(|b| b["quantity"].as_f64())
        .unwrap_or(0.0)
}

/// Every movement of the tenant matching `query` (all pages), newest first.
pub(super) async fn movements(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/stock/movements?limit=200&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path, token).await.expect(StatusCode::OK);
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}
