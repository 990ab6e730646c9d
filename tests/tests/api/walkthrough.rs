//! The README walk-through (the curl sequence in README.md), then onwards.

use super::*;

backend_tests!(readme_walkthrough,);

// ---------------------------------------------------------------------------
// 1. README walk-through (the curl sequence in README.md, then onwards)

async fn readme_walkthrough(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("acme").await;

    // The admin signs in.
    let tokens = login(&app, "acme", "admin@acme.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().is_some_and(|s| s > 0));
    assert!(!str_of(&tokens, "refresh_token").is_empty());
    let admin = str_of(&tokens, "access_token");
    let admin = admin.as_str();

    // A user who works in the field.
    let user = app
        .post(
            "/v1/users",
            admin,
            &json!({"email": "ada@acme.test", "name": "Ada", "role": "technician", "password": "ada-password-1"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(user["role"], "technician");
    assert_eq!(user["email"], "ada@acme.test");
    assert_eq!(user["active"], true);
    assert!(
        user.get("password").is_none() && user.get("password_hash").is_none(),
        "the password must never be returned: {user}"
    );
    let user_id = id_of(&user, "id");

    // Their technician profile.
    let skills = json!([{"skill": "hvac", "level": 3}]);
    let shifts = json!([{"day": "mon", "start": "08:00", "end": "17:00"}]);
    let technician = app
        .post(
            "/v1/technicians",
            admin,
            &json!({
                "user_id": user_id,
                "name": "Ada",
                "skills": skills,
                "shifts": shifts,
                "time_zone": "Europe/Berlin",
                "home_base": {"lat": 52.52, "lon": 13.40},
                "capacity": 3,
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(id_of(&technician, "user_id"), user_id);
    assert_eq!(technician["skills"], skills);
    assert_eq!(technician["shifts"], shifts);
    assert_eq!(technician["time_zone"], "Europe/Berlin");
    assert_eq!(technician["home_base"], json!({"lat": 52.52, "lon": 13.40}));
    assert_eq!(technician["capacity"], 3);
    assert_eq!(technician["status"], "available");
    let technician_id = id_of(&technician, "id");

    // A customer and their site.
    let customer = app
        .post(
            "/v1/customers",
            admin,
            &json!({"name": "Hotel Adlon", "tier": "gold"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(customer["tier"], "gold");
    let customer_id = id_of(&customer, "id");
    let site = app
        .post(
            "/v1/sites",
            admin,
            &json!({
                "customer_id": customer_id,
                "name": "Main building",
                "address": "Unter den Linden 77, Berlin",
                "location": {"lat": 52.5163, "lon": 13.3795},
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(id_of(&site, "customer_id"), customer_id);
    assert_eq!(site["location"], json!({"lat": 52.5163, "lon": 13.3795}));
    let site_id = id_of(&site, "id");

    // A category whose tickets carry a refrigerant.
    let category = app
        .post(
            "/v1/categories",
            admin,
            &json!({"name": "hvac", "custom_fields_schema": World::hvac_schema()}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(category["custom_fields_schema"], World::hvac_schema());

    // The ticket.
    let ticket = app
        .post(
            "/v1/tickets",
            admin,
            &json!({
                "title": "Chiller trips on high pressure",
                "category": "hvac",
                "priority": "P2",
                "site_id": site_id,
                "required_skills": [{"skill": "hvac", "level": 2}],
                "tags": ["chiller"],
                "custom_fields": {"refrigerant": "R32"},
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(ticket["number"], "TR-000001");
    assert_eq!(ticket["status"], "new");
    assert_eq!(ticket["assignee_id"], Value::Null);
    assert_eq!(id_of(&ticket, "created_by"), tenant.admin_id);
    let ticket_id = id_of(&ticket, "id");
    let ticket_path = format!("/v1/tickets/{ticket_id}");

    // Dispatch it.
    let assigned = app
        .patch(&ticket_path, admin, &json!({"assignee_id": technician_id}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(id_of(&assigned, "assignee_id"), technician_id);

    // The technician signs in and sees exactly their ticket.
    let tech_tokens = login(&app, "acme", "ada@acme.test", "ada-password-1")
        .await
        .expect(StatusCode::OK);
    let tech = str_of(&tech_tokens, "access_token");
    let tech = tech.as_str();
    let own = app.get("/v1/tickets", tech).await.expect(StatusCode::OK);
    assert_eq!(ids(&own), vec![ticket_id]);
    // Office fields are not theirs to edit.
    app.patch(&ticket_path, tech, &json!({"priority": "P1"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // Field steps, including a hold for parts and the resume.
    let steps = [
        (json!({"status": "accepted"}), "accepted", Value::Null),
        (json!({"status": "en_route"}), "en_route", Value::Null),
        (json!({"status": "on_site"}), "on_site", Value::Null),
        (
            json!({"status": "on_hold", "hold_reason": "waiting_parts"}),
            "on_hold",
            json!("waiting_parts"),
        ),
        (json!({"status": "accepted"}), "accepted", Value::Null),
        (json!({"status": "en_route"}), "en_route", Value::Null),
        (json!({"status": "on_site"}), "on_site", Value::Null),
        (json!({"status": "work_done"}), "work_done", Value::Null),
    ];
    for (patch, status, hold_reason) in steps {
        let after = app
            .patch(&ticket_path, tech, &patch)
            .await
            .expect(StatusCode::OK);
        assert_eq!(after["status"], status, "after {patch}");
        assert_eq!(after["hold_reason"], hold_reason, "after {patch}");
    }

    // Comments: internal from the office, public from the field.
    let internal = app
        .post(
            &format!("{ticket_path}/comments"),
            admin,
            &json!({"body": "Pressure switch ordered", "visibility": "internal"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(internal["visibility"], "internal");
    assert_eq!(id_of(&internal, "author_id"), tenant.admin_id);
    let public = app
        .post(
            &format!("{ticket_path}/comments"),
            tech,
            &json!({"body": "Switch replaced; chiller running", "visibility": "public"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(public["visibility"], "public");
    assert_eq!(id_of(&public, "author_id"), user_id);
    let comments = app
        .get(&format!("{ticket_path}/comments"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        ids(&comments),
        vec![id_of(&internal, "id"), id_of(&public, "id")]
    );

    // The office closes it.
    app.patch(&ticket_path, admin, &json!({"status": "closed"}))
        .await
        .expect(StatusCode::OK);

    let last = app.get(&ticket_path, admin).await.expect(StatusCode::OK);
    assert_eq!(last["number"], "TR-000001");
    assert_eq!(last["status"], "closed");
    assert_eq!(last["hold_reason"], Value::Null);
    assert_eq!(id_of(&last, "assignee_id"), technician_id);
    assert_eq!(last["priority"], "P2");
    assert_eq!(last["tags"], json!(["chiller"]));
    assert_eq!(last["custom_fields"], json!({"refrigerant": "R32"}));
    assert_eq!(
        last["required_skills"],
        json!([{"skill": "hvac", "level": 2}])
    );

    // Every one of those writes is in an intact audit chain.
    let report = app
        .get("/v1/audit/verify", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report["valid"], true, "{report}");
    let raw = app.db.raw().await;
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('ticket.assign', 'ticket.update') AND entity_id = $1",
            &[ticket_id]
        )
        .await,
        10,
        "assign, eight field steps and the close"
    );
    raw.close().await;
    app.stop().await;
}
