//! Part-aware dispatch: a ticket's required parts (a sub-resource), the
//! category's policy (`prefer` by default, or `require`), candidates and
//! "assign the best" ranking technicians whose van holds the parts, with
//! the reason in words.

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::{Shop, error_fields},
};
use uuid::Uuid;

use super::{part, put, receive, van};

backend_tests!(candidates_rank_technicians_with_the_required_part);

fn ranking(list: &Value) -> Vec<Uuid> {
    list.as_array()
        .expect("candidates")
        .iter()
        .map(|c| id_of(c, "technician_id"))
        .collect()
}

fn reasons_of(list: &Value, technician: Uuid) -> Value {
    list.as_array()
        .expect("candidates")
        .iter()
        .find(|c| id_of(c, "technician_id") == technician)
        .map(|c| c["reasons"]["van_parts"].clone())
        .unwrap_or(Value::Null)
}

async fn candidates_rank_technicians_with_the_required_part(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    // Technician 0 is nearest, then 1, then 2 (about 1.1 km apart).
    let shop = Shop::builder(&app, "parts-dispatch")
        .skilled()
        .spaced(0.01)
        .technicians(3)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let [near, middle, far] = [shop.techs[0].id, shop.techs[1].id, shop.techs[2].id];
    let relay = part(&app, &admin, "CR-24", "compressor relay", 1890).await;
    let far_van = van(&app, &admin, far).await;
    receive(&app, &admin, relay, far_van, 2.0).await;
    let middle_van = van(&app, &admin, middle).await;
    receive(&app, &admin, relay, middle_van, 1.0).await;
    let ticket = id_of(&shop.ticket(&app, "P2").await, "id");
    let candidates = |k: usize| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.get(&format!("/v1/tickets/{ticket}/candidates?k={k}"), &admin)
                .await
                .expect(StatusCode::OK)
        }
    };

    // No required parts: nearest first, and no word about vans.
    let plain = candidates(3).await;
    assert_eq!(ranking(&plain), [near, middle, far]);
    assert!(plain[0]["reasons"].get("van_parts").is_none(), "{plain}");

    // Bad required parts are problems and change nothing.
    let path = format!("/v1/tickets/{ticket}/required-parts");
    let bad = put(
        &app,
        &path,
        &admin,
        &json!({"parts": [{"part_id": relay, "quantity": 0}]}),
    )
    .await;
    assert_eq!(error_fields(&bad), ["parts[0].quantity"]);
    let unknown = put(
        &app,
        &path,
        &admin,
        &json!({"parts": [{"part_id": Uuid::now_v7(), "quantity": 1}]}),
    )
    .await;
    unknown.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    put(&app, &path, &shop.techs[0].token, &json!({"parts": []}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.get(&path, &admin).await.expect(StatusCode::OK),
        json!([])
    );

    let required = put(
        &app,
        &path,
        &admin,
        &json!({"parts": [{"part_id": relay, "quantity": 2}]}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        required,
        json!([{"part_id": relay, "part_number": "CR-24", "name": "compressor relay", "quantity": 2.0}])
    );

    // `prefer` (the default): the technician with both relays rises to the
    // top over two nearer ones; everyone's van is described.
    let preferred = candidates(3).await;
    assert_eq!(ranking(&preferred), [far, near, middle]);
    assert_eq!(
        reasons_of(&preferred, far),
        json!(["has 2 × compressor relay in van"])
    );
    assert_eq!(
        reasons_of(&preferred, middle),
        json!(["has 1 × compressor relay in van, needs 2"])
    );
    assert_eq!(
        reasons_of(&preferred, near),
        json!(["no compressor relay in van"])
    );

    // `require`: only technicians whose van holds them are candidates.
    assert_eq!(
        app.get("/v1/parts/policies/hvac", &admin)
            .await
            .expect(StatusCode::OK),
        json!({"policy": "prefer"})
    );
    put(
        &app,
        "/v1/parts/policies/hvac",
        &admin,
        &json!({"policy": "require"}),
    )
    .await
    .expect(StatusCode::OK);
    put(
        &app,
        "/v1/parts/policies/hvac",
        &admin,
        &json!({"policy": "sometimes"}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let required_only = candidates(3).await;
    assert_eq!(ranking(&required_only), [far]);
    assert_eq!(
        reasons_of(&required_only, far),
        json!(["has 2 × compressor relay in van"])
    );

    // "Assign the best" follows the same ranking.
    let assigned = app
        .post(
            &format!("/v1/tickets/{ticket}/assign"),
            &admin,
            &json!({"best": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(assigned["assignee_id"], json!(far));
    // The assigned technician reads what the ticket needs.
    assert_eq!(
        app.get(&path, &shop.techs[2].token)
            .await
            .expect(StatusCode::OK)[0]["part_number"],
        "CR-24"
    );
    app.get(&path, &shop.techs[0].token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}
