//! The catalogue: create, read, update, search; numbers unique per tenant;
//! CSV import that creates and updates, and rejects bad rows by line number
//! writing nothing; who may do what; nothing crosses tenants.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::{Shop, error_fields},
};

use super::{import_csv, part, put};

backend_tests!(
    catalogue_crud_search_and_tenancy,
    csv_import_rejects_bad_rows_with_line_numbers_and_writes_nothing,
);

async fn catalogue_crud_search_and_tenancy(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "parts-crud").build().await;
    let admin = shop.tenant.admin_token.clone();

    let created = app
        .post(
            "/v1/parts",
            &admin,
            &json!({"number": "CR-24", "name": "compressor relay", "unit": "pcs", "price_cents": 1890,
                    "cost_cents": 910, "barcode": "4006381333931", "serial_tracked": false}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created, "id");
    assert_eq!(created["price_cents"], 1890);
    assert_eq!(created["unit"], "pcs");

    // The number is unique in the tenant.
    app.post(
        "/v1/parts",
        &admin,
        &json!({"number": "CR-24", "name": "again", "price_cents": 1}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");
    // Bad input is a problem naming the fields.
    let bad = app
        .post(
            "/v1/parts",
            &admin,
            &json!({"number": " ", "name": "x", "price_cents": -5}),
        )
        .await;
    bad.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error_fields(&bad), ["number", "price_cents"]);

    let updated = put(
        &app,
        &format!("/v1/parts/{id}"),
        &admin,
        &json!({"number": "CR-24", "name": "compressor relay 24V", "price_cents": 1990, "cost_cents": 950,
                "barcode": "4006381333931"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(updated["name"], "compressor relay 24V");
    assert_eq!(
        app.get(&format!("/v1/parts/{id}"), &admin)
            .await
            .expect(StatusCode::OK)["price_cents"],
        1990
    );
    part(&app, &admin, "FAN-220", "condenser fan motor", 12900).await;
    let found = app
        .get("/v1/parts?q=relay", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["items"][0]["number"], "CR-24");
    let by_barcode = app
        .get("/v1/parts?q=40063813", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(by_barcode["items"][0]["number"], "CR-24");

    // Technicians neither read the catalogue nor change it.
    let tech = &shop.tech().token;
    app.get("/v1/parts", tech)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        "/v1/parts",
        tech,
        &json!({"number": "X", "name": "x", "price_cents": 1}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // Another tenant sees nothing of it and may reuse the number.
    let other = app.create_tenant("parts-crud-other").await;
    app.get(&format!("/v1/parts/{id}"), &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        app.get("/v1/parts", &other.admin_token)
            .await
            .expect(StatusCode::OK)["items"],
        json!([])
    );
    part(&app, &other.admin_token, "CR-24", "their relay", 100).await;
    app.stop().await;
}

async fn csv_import_rejects_bad_rows_with_line_numbers_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "parts-csv").build().await;
    let admin = shop.tenant.admin_token.clone();
    part(&app, &admin, "CR-24", "old relay name", 1000).await;

    let bad = "number,name,unit,price,cost,barcode,serial_tracked\r\n\
               FAN-220,condenser fan motor,pcs,129.00,70,,false\r\n\
               ,nameless,pcs,1.00,0.50,,false\r\n\
               \"GAS,KET\",\"gasket, \"\"large\"\"\",m,3.5,1,,no\r\n\
               BAD-PRICE,price with three decimals,pcs,1.999,1,,maybe\r\n\
               FAN-220,the same number again,pcs,1,1,,false\r\n";
    let reply = import_csv(&app, &admin, bad).await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        error_fields(&reply),
        [
            "line 3: number",
            "line 5: price",
            "line 5: serial_tracked",
            "line 6: number"
        ]
    );
    // Nothing was written: one part still, with its old name.
    let list = app.get("/v1/parts", &admin).await.expect(StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["name"], "old relay name");

    // A wrong header and a broken quote are problems too.
    import_csv(&app, &admin, "number,name\nA,b\n")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let unclosed = import_csv(
        &app,
        &admin,
        "number,name,unit,price,cost,barcode,serial_tracked\n\"A,b,pcs,1,1,,false\n",
    )
    .await;
    assert_eq!(error_fields(&unclosed), ["line 2"]);

    // A good file creates new numbers and updates known ones, in one go.
    let good = "number,name,unit,price,cost,barcode,serial_tracked\n\
                CR-24,compressor relay,pcs,18.90,9.10,4006381333931,false\n\
                FAN-220,condenser fan motor,pcs,129,70,,true\n\
                \"GAS,KET\",\"gasket, \"\"large\"\"\",m,3.5,1,,no\n";
    let outcome = import_csv(&app, &admin, good).await.expect(StatusCode::OK);
    assert_eq!(outcome, json!({"created": 2, "updated": 1}));
    let list = app
        .get("/v1/parts?limit=10", &admin)
        .await
        .expect(StatusCode::OK);
    let mut rows: Vec<(String, String, i64, bool)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            (
                p["number"].as_str().unwrap_or_default().to_owned(),
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["price_cents"].as_i64().unwrap_or_default(),
                p["serial_tracked"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            (
                "CR-24".to_owned(),
                "compressor relay".to_owned(),
                1890,
                false
            ),
            (
                "FAN-220".to_owned(),
                "condenser fan motor".to_owned(),
                12900,
                true
            ),
            (
                "GAS,KET".to_owned(),
                "gasket, \"large\"".to_owned(),
                350,
                false
            ),
        ]
    );
    // Only text/csv is taken.
    app.post("/v1/parts/import", &admin, &json!({"csv": good}))
        .await
        .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    app.stop().await;
}
