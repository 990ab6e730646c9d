//! Territories and geofenced check-in over the real HTTP API: territory CRUD
//! and validation, site → territory resolution (concave, MultiPolygon,
//! antimeridian, creation order, re-resolution on write), the ticket filter,
//! the candidate filter, and check-ins judged against the site. Every
//! scenario runs once on SQLite and once on PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::{
    app::{Reply, TestApp, TestTenant, all_week_shifts, id_of},
    fixtures::error_fields,
};
use uuid::Uuid;

backend_tests!(
    territories_crud_pagination_and_access,
    bad_boundaries_are_refused_naming_the_field,
    sites_resolve_to_the_first_covering_territory,
    sites_follow_territory_changes_and_tickets_filter_by_territory,
    candidates_stay_inside_the_ticket_territory,
    check_in_is_judged_against_the_site_and_never_refused,
);

// ---------------------------------------------------------------------------
// Helpers

/// Metres per degree of latitude (mean Earth radius).
const M_PER_DEG_LAT: f64 = 111_195.0;

/// A closed rectangle `[lon, lat]` ring, counter-clockwise.
fn rect(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Value {
    json!([
        [min_lon, min_lat],
        [max_lon, min_lat],
        [max_lon, max_lat],
        [min_lon, max_lat],
        [min_lon, min_lat]
    ])
}

fn polygon(ring: Value) -> Value {
    json!({"type": "Polygon", "coordinates": [ring]})
}

/// The Berlin box: 13.0–13.8 E, 52.3–52.7 N.
fn berlin() -> Value {
    polygon(rect(13.0, 52.3, 13.8, 52.7))
}

fn expect_invalid(reply: &Reply, field: &str) {
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let fields = error_fields(reply);
    assert!(
        fields.iter().any(|f| f == field),
        "expected a problem with `{field}`, got {fields:?}: {}",
        reply.body
    );
}

struct Office {
    tenant: TestTenant,
    dispatcher: String,
    customer_id: Uuid,
}

impl Office {
    fn admin(&self) -> &str {
        &self.tenant.admin_token
    }
}

async fn office(app: &TestApp, name: &str) -> Office {
    let tenant = app.create_tenant(name).await;
    let (_, dispatcher) = app
        .create_user(&tenant, &format!("dispatch@{name}.test"), "dispatcher")
        .await;
    let customer = app
        .post(
            "/v1/customers",
            &tenant.admin_token,
            &json!({"name": "Acme"}),
        )
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/v1/categories",
        &tenant.admin_token,
        &json!({"name": "hvac"}),
    )
    .await
    .expect(StatusCode::CREATED);
    Office {
        customer_id: id_of(&customer, "id"),
        tenant,
        dispatcher,
    }
}

async fn create_territory(app: &TestApp, token: &str, name: &str, boundary: Value) -> Uuid {
    let created = app
        .post(
            "/v1/territories",
            token,
            &json!({"name": name, "boundary": boundary}),
        )
        .await
        .expect(StatusCode::CREATED);
    id_of(&created, "id")
}

/// A site at `(lat, lon)`; returns its JSON.
async fn site(app: &TestApp, office: &Office, name: &str, (lat, lon): (f64, f64)) -> Value {
    app.post(
        "/v1/sites",
        office.admin(),
        &json!({"customer_id": office.customer_id, "name": name, "address": format!("{name} 1"),
                "location": {"lat": lat, "lon": lon}}),
    )
    .await
    .expect(StatusCode::CREATED)
}

/// The site's `territory_id` as read back now.
async fn territory_of(app: &TestApp, office: &Office, site: &Value) -> Option<Uuid> {
    let read = app
        .get(&format!("/v1/sites/{}", id_of(site, "id")), office.admin())
        .await
        .expect(StatusCode::OK);
    read["territory_id"]
        .as_str()
        .map(|s| s.parse().expect("uuid"))
}

async fn ticket(app: &TestApp, office: &Office, site: &Value, title: &str) -> Uuid {
    let created = app
        .post(
            "/v1/tickets",
            &office.dispatcher,
            &json!({"title": title, "category": "hvac", "priority": "P2", "site_id": site["id"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(created["check_in"].is_null(), "{created}");
    id_of(&created, "id")
}

struct Tech {
    id: Uuid,
    token: String,
}

/// A technician on shift all week, home base at `(lat, lon)`.
async fn technician(app: &TestApp, office: &Office, email: &str, (lat, lon): (f64, f64)) -> Tech {
    let (user_id, token) = app.create_user(&office.tenant, email, "technician").await;
    let all_week = all_week_shifts();
    let created = app
        .post(
            "/v1/technicians",
            office.admin(),
            &json!({"user_id": user_id, "name": email, "time_zone": "UTC", "shifts": all_week,
                    "capacity": 10, "home_base": {"lat": lat, "lon": lon}}),
        )
        .await
        .expect(StatusCode::CREATED);
    Tech {
        id: id_of(&created, "id"),
        token,
    }
}

async fn candidate_ids(app: &TestApp, office: &Office, ticket: Uuid) -> Vec<Uuid> {
    app.get(
        &format!("/v1/tickets/{ticket}/candidates?k=10"),
        &office.dispatcher,
    )
    .await
    .expect(StatusCode::OK)
    .as_array()
    .expect("array")
    .iter()
    .map(|c| id_of(c, "technician_id"))
    .collect()
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn ticket_ids(app: &TestApp, office: &Office, query: &str) -> Vec<Uuid> {
    let page = app
        .get(&format!("/v1/tickets?{query}"), &office.dispatcher)
        .await
        .expect(StatusCode::OK);
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| id_of(t, "id"))
        .collect()
}

// ---------------------------------------------------------------------------
// CRUD

async fn territories_crud_pagination_and_access(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "crud").await;
    let admin = office.admin();

    let created = app
        .post(
            "/v1/territories",
            admin,
            &json!({"name": "  Berlin  ", "boundary": berlin()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let berlin_id = id_of(&created, "id");
    assert_eq!(created["name"], "Berlin");
    assert_eq!(created["boundary"], berlin(), "GeoJSON out as it came in");
    assert_eq!(created["tenant_id"], json!(office.tenant.id));
    let read = app
        .get(&format!("/v1/territories/{berlin_id}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read, created);

    // Dispatchers write too; the same name twice is a conflict.
    let hamburg = create_territory(
        &app,
        &office.dispatcher,
        "Hamburg",
        polygon(rect(9.7, 53.4, 10.3, 53.7)),
    )
    .await;
    let munich =
        create_territory(&app, admin, "Munich", polygon(rect(11.3, 48.0, 11.8, 48.3))).await;
    app.post(
        "/v1/territories",
        admin,
        &json!({"name": "Berlin", "boundary": berlin()}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");

    // Pages in creation order, two at a time.
    let first = app
        .get("/v1/territories?limit=2", admin)
        .await
        .expect(StatusCode::OK);
    let ids: Vec<Uuid> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| id_of(t, "id"))
        .collect();
    assert_eq!(ids, [berlin_id, hamburg]);
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let second = app
        .get(&format!("/v1/territories?limit=2&cursor={cursor}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(second["items"].as_array().expect("items").len(), 1);
    assert_eq!(id_of(&second["items"][0], "id"), munich);
    assert!(second["next_cursor"].is_null());

    // Rename, then reshape as a MultiPolygon.
    let renamed = app
        .patch(
            &format!("/v1/territories/{munich}"),
            admin,
            &json!({"name": "München"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["name"], "München");
    let two_parts = json!({"type": "MultiPolygon", "coordinates": [
        [rect(11.3, 48.0, 11.5, 48.3)], [rect(11.6, 48.0, 11.8, 48.3)]]});
    let reshaped = app
        .patch(
            &format!("/v1/territories/{munich}"),
            &office.dispatcher,
            &json!({"boundary": two_parts}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reshaped["boundary"], two_parts);
    assert_eq!(reshaped["name"], "München");
    assert_ne!(reshaped["updated_at"], renamed["updated_at"]);
    app.patch(
        &format!("/v1/territories/{munich}"),
        admin,
        &json!({"name": "Hamburg"}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");

    // Roles: managers read, technicians do not; only admins and dispatchers write.
    let (_, manager) = app
        .create_user(&office.tenant, "boss@crud.test", "manager")
        .await;
    let (_, tech) = app
        .create_user(&office.tenant, "tech@crud.test", "technician")
        .await;
    app.get("/v1/territories", &manager)
        .await
        .expect(StatusCode::OK);
    app.get(&format!("/v1/territories/{berlin_id}"), &manager)
        .await
        .expect(StatusCode::OK);
    app.post(
        "/v1/territories",
        &manager,
        &json!({"name": "Nope", "boundary": berlin()}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/territories", &tech)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get(&format!("/v1/territories/{berlin_id}"), &tech)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.send(
        Method::DELETE,
        &format!("/v1/territories/{berlin_id}"),
        Some(&manager),
        None,
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // Another tenant sees none of it: 404, never 403.
    let rival = office_with_admin(&app, "rival").await;
    let path = format!("/v1/territories/{berlin_id}");
    app.get(&path, &rival)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.patch(&path, &rival, &json!({"name": "Mine"}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.send(Method::DELETE, &path, Some(&rival), None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let listed = app
        .get("/v1/territories", &rival)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]));

    // Delete.
    let deleted = app.send(Method::DELETE, &path, Some(admin), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    app.get(&path, admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.send(Method::DELETE, &path, Some(admin), None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Every write is audited.
    let audit = app
        .get("/v1/audit?limit=200", admin)
        .await
        .expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("audit entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("territory."))
        .collect();
    assert_eq!(
        actions,
        [
            "territory.create",
            "territory.create",
            "territory.create",
            "territory.update",
            "territory.update",
            "territory.delete"
        ]
    );
    app.stop().await;
}

/// A second tenant; returns its admin's token.
async fn office_with_admin(app: &TestApp, name: &str) -> String {
    app.create_tenant(name).await.admin_token
}

async fn bad_boundaries_are_refused_naming_the_field(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "shapes").await;
    let admin = office.admin();
    let post = |boundary: Value| {
        let app = &app;
        async move {
            app.post(
                "/v1/territories",
                admin,
                &json!({"name": "Shape", "boundary": boundary}),
            )
            .await
        }
    };

    // Open ring.
    let open = json!({"type": "Polygon", "coordinates": [[[13.0, 52.3], [13.8, 52.3], [13.8, 52.7], [13.0, 52.7]]]});
    expect_invalid(&post(open).await, "boundary.coordinates[0]");
    // Too few positions.
    let short =
        json!({"type": "Polygon", "coordinates": [[[13.0, 52.3], [13.8, 52.3], [13.0, 52.3]]]});
    expect_invalid(&post(short).await, "boundary.coordinates[0]");
    // Out of range: longitude, then latitude, of a MultiPolygon's position.
    let far = json!({"type": "MultiPolygon", "coordinates": [[[[13.0, 52.3], [190.0, 52.3], [13.8, 95.0], [13.0, 52.3]]]]});
    let reply = post(far).await;
    expect_invalid(&reply, "boundary.coordinates[0][0][1][0]");
    expect_invalid(&reply, "boundary.coordinates[0][0][2][1]");
    // Wrong geometry type, wrong JSON types.
    let point = json!({"type": "Point", "coordinates": [13.4, 52.5]});
    expect_invalid(&post(point).await, "boundary.type");
    expect_invalid(&post(json!("Berlin")).await, "boundary");
    let text = json!({"type": "Polygon", "coordinates": "13.0 52.3"});
    expect_invalid(&post(text).await, "boundary.coordinates");
    let strings = json!({"type": "Polygon", "coordinates": [[["13.0", "52.3"], [13.8, 52.3], [13.8, 52.7], [13.0, 52.3]]]});
    expect_invalid(&post(strings).await, "boundary.coordinates[0][0]");
    // Self-intersecting (a bow tie) and a ring across the antimeridian.
    let bow_tie = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 3.0], [0.0, 0.0]]]});
    expect_invalid(&post(bow_tie).await, "boundary.coordinates");
    let seam = json!({"type": "Polygon", "coordinates": [[[179.0, -17.0], [-179.0, -17.0], [-179.0, -16.0], [179.0, -16.0], [179.0, -17.0]]]});
    expect_invalid(&post(seam).await, "boundary.coordinates[0][1]");
    // Missing fields and an empty name.
    let reply = app
        .post("/v1/territories", admin, &json!({"name": "No shape"}))
        .await;
    expect_invalid(&reply, "boundary");
    let reply = app
        .post(
            "/v1/territories",
            admin,
            &json!({"name": " ", "boundary": berlin()}),
        )
        .await;
    expect_invalid(&reply, "name");

    // A PATCH is checked the same way and changes nothing when refused.
    let id = create_territory(&app, admin, "Berlin", berlin()).await;
    let open = json!({"type": "Polygon", "coordinates": [[[13.0, 52.3], [13.8, 52.3], [13.8, 52.7], [13.0, 52.8]]]});
    let reply = app
        .patch(
            &format!("/v1/territories/{id}"),
            admin,
            &json!({"boundary": open}),
        )
        .await;
    expect_invalid(&reply, "boundary.coordinates[0]");
    let read = app
        .get(&format!("/v1/territories/{id}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read["boundary"], berlin());
    let listed = app
        .get("/v1/territories", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Site resolution

async fn sites_resolve_to_the_first_covering_territory(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "resolve").await;
    let admin = office.admin();

    // A concave "U" over Berlin: two arms (west 13.0–13.2, east 13.6–13.8)
    // joined in the south (52.3–52.4); the notch between them is outside.
    let u = polygon(json!([
        [13.0, 52.3],
        [13.8, 52.3],
        [13.8, 52.7],
        [13.6, 52.7],
        [13.6, 52.4],
        [13.2, 52.4],
        [13.2, 52.7],
        [13.0, 52.7],
        [13.0, 52.3]
    ]));
    let horseshoe = create_territory(&app, admin, "Horseshoe", u).await;
    // Two islands of one MultiPolygon.
    let islands = create_territory(
        &app,
        admin,
        "Islands",
        json!({"type": "MultiPolygon", "coordinates": [
            [rect(8.0, 53.0, 8.5, 53.3)],
            [rect(9.0, 54.0, 9.5, 54.3), rect(9.2, 54.1, 9.3, 54.2)]]}),
    )
    .await;
    // Fiji's longitude span, split at ±180° as RFC 7946 asks.
    let fiji = create_territory(
        &app,
        admin,
        "Fiji",
        json!({"type": "MultiPolygon", "coordinates": [
            [rect(177.0, -19.0, 180.0, -16.0)],
            [rect(-180.0, -19.0, -178.0, -16.0)]]}),
    )
    .await;
    // A younger territory overlapping the horseshoe's west arm and the notch.
    let west = create_territory(&app, admin, "West", polygon(rect(13.1, 52.45, 13.4, 52.65))).await;

    let cases: [(&str, (f64, f64), Option<Uuid>); 12] = [
        ("west arm", (52.55, 13.05), Some(horseshoe)),
        ("east arm", (52.55, 13.7), Some(horseshoe)),
        ("south bar", (52.35, 13.4), Some(horseshoe)),
        // In both the horseshoe and West: the older one wins.
        ("overlap", (52.55, 13.15), Some(horseshoe)),
        // In the notch: only West covers it.
        ("notch west", (52.55, 13.3), Some(west)),
        ("notch east", (52.55, 13.5), None),
        ("first island", (53.1, 8.2), Some(islands)),
        ("second island", (54.05, 9.1), Some(islands)),
        ("lake in the second island", (54.15, 9.25), None),
        ("Suva side", (-17.5, 179.95), Some(fiji)),
        ("Lau side", (-17.5, -179.95), Some(fiji)),
        ("the Pacific", (-17.5, 170.0), None),
    ];
    for (name, at, expected) in cases {
        let created = site(&app, &office, name, at).await;
        let stored = created["territory_id"]
            .as_str()
            .map(|s| s.parse::<Uuid>().expect("uuid"));
        assert_eq!(stored, expected, "{name}: {created}");
        assert_eq!(
            territory_of(&app, &office, &created).await,
            expected,
            "{name}"
        );
    }
    // A point on the edge counts as inside.
    let edge = site(&app, &office, "edge", (52.5, 13.0)).await;
    assert_eq!(territory_of(&app, &office, &edge).await, Some(horseshoe));

    // The list shows the territory too.
    let listed = app.get("/v1/sites", admin).await.expect(StatusCode::OK);
    let with_territory = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|s| !s["territory_id"].is_null())
        .count();
    assert_eq!(with_territory, 10);
    app.stop().await;
}

async fn sites_follow_territory_changes_and_tickets_filter_by_territory(
    backend: truckroll_tests::TestBackend,
) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "follow").await;
    let admin = office.admin();

    // Sites first, territories later: creating a territory moves them in.
    let mitte = site(&app, &office, "Mitte", (52.52, 13.40)).await;
    let spandau = site(&app, &office, "Spandau", (52.54, 13.20)).await;
    let potsdam = site(&app, &office, "Potsdam", (52.39, 13.06)).await;
    assert_eq!(territory_of(&app, &office, &mitte).await, None);
    let city = create_territory(&app, admin, "City", polygon(rect(13.3, 52.45, 13.5, 52.6))).await;
    let outskirts = create_territory(&app, admin, "Outskirts", berlin()).await;
    assert_eq!(territory_of(&app, &office, &mitte).await, Some(city));
    assert_eq!(territory_of(&app, &office, &spandau).await, Some(outskirts));
    assert_eq!(territory_of(&app, &office, &potsdam).await, Some(outskirts));

    // Tickets filter through their site's territory.
    let at_mitte = ticket(&app, &office, &mitte, "Mitte boiler").await;
    let at_spandau = ticket(&app, &office, &spandau, "Spandau boiler").await;
    let at_potsdam = ticket(&app, &office, &potsdam, "Potsdam boiler").await;
    assert_eq!(
        ticket_ids(&app, &office, &format!("territory_id={city}")).await,
        [at_mitte]
    );
    assert_eq!(
        ticket_ids(&app, &office, &format!("territory_id={outskirts}")).await,
        [at_spandau, at_potsdam]
    );
    assert_eq!(
        ticket_ids(
            &app,
            &office,
            &format!("territory_id={outskirts}&q=potsdam")
        )
        .await,
        [at_potsdam]
    );
    assert!(
        ticket_ids(&app, &office, &format!("territory_id={}", Uuid::now_v7()))
            .await
            .is_empty()
    );

    // Growing the city takes Spandau (the city is older); shrinking the
    // outskirts drops Potsdam.
    app.patch(
        &format!("/v1/territories/{city}"),
        admin,
        &json!({"boundary": polygon(rect(13.1, 52.45, 13.5, 52.6))}),
    )
    .await
    .expect(StatusCode::OK);
    app.patch(
        &format!("/v1/territories/{outskirts}"),
        admin,
        &json!({"boundary": polygon(rect(13.1, 52.45, 13.8, 52.7))}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(territory_of(&app, &office, &spandau).await, Some(city));
    assert_eq!(territory_of(&app, &office, &potsdam).await, None);
    assert_eq!(
        ticket_ids(&app, &office, &format!("territory_id={city}")).await,
        [at_mitte, at_spandau]
    );
    assert!(
        ticket_ids(&app, &office, &format!("territory_id={outskirts}"))
            .await
            .is_empty()
    );

    // Deleting the city hands its sites to the next territory covering them.
    let deleted = app
        .send(
            Method::DELETE,
            &format!("/v1/territories/{city}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(territory_of(&app, &office, &mitte).await, Some(outskirts));
    assert_eq!(territory_of(&app, &office, &spandau).await, Some(outskirts));
    assert_eq!(
        ticket_ids(&app, &office, &format!("territory_id={outskirts}")).await,
        [at_mitte, at_spandau]
    );

    // Another tenant's territory filters to nothing, and its sites are its own.
    let rival = app.create_tenant("rival").await;
    let rival_page = app
        .get(
            &format!("/v1/tickets?territory_id={outskirts}"),
            &rival.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(rival_page["items"], json!([]));
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Dispatch filter

async fn candidates_stay_inside_the_ticket_territory(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "fence").await;
    let admin = office.admin();
    // West Berlin: 13.0–13.5 E. The site sits near its east edge.
    let west = create_territory(&app, admin, "West", polygon(rect(13.0, 52.3, 13.5, 52.7))).await;
    let fenced = site(&app, &office, "Fenced", (52.52, 13.45)).await;
    assert_eq!(territory_of(&app, &office, &fenced).await, Some(west));
    let open = site(&app, &office, "Open", (48.14, 11.58)).await;
    assert_eq!(territory_of(&app, &office, &open).await, None);

    // Just over the line (~1.4 km from the site) and well inside (~10 km).
    let outside = technician(&app, &office, "out@fence.test", (52.52, 13.52)).await;
    let inside = technician(&app, &office, "in@fence.test", (52.52, 13.30)).await;

    let fenced_job = ticket(&app, &office, &fenced, "Fenced job").await;
    assert_eq!(
        candidate_ids(&app, &office, fenced_job).await,
        [inside.id],
        "the nearer technician outside the territory is not proposed"
    );
    // Without a territory both are proposed, nearest first.
    let open_job = ticket(&app, &office, &open, "Open job").await;
    assert_eq!(
        sorted(candidate_ids(&app, &office, open_job).await),
        sorted(vec![inside.id, outside.id])
    );

    // The live position counts: the outsider drives in, the insider out.
    let now = chrono::Utc::now().to_rfc3339();
    app.post(
        "/v1/me/locations",
        &outside.token,
        &json!({"pings": [{"device_time": now, "lat": 52.52, "lon": 13.46, "accuracy_m": 5.0}]}),
    )
    .await
    .expect(StatusCode::OK);
    app.post(
        "/v1/me/locations",
        &inside.token,
        &json!({"pings": [{"device_time": now, "lat": 52.52, "lon": 13.60, "accuracy_m": 5.0}]}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(candidate_ids(&app, &office, fenced_job).await, [outside.id]);

    // "Best" assignment follows the same filter.
    let assigned = app
        .post(
            &format!("/v1/tickets/{fenced_job}/assign"),
            &office.dispatcher,
            &json!({"best": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&assigned, "assignee_id"), outside.id);

    // Reshaping the territory applies to the next question at once.
    app.patch(
        &format!("/v1/territories/{west}"),
        admin,
        &json!({"boundary": polygon(rect(13.0, 52.3, 13.7, 52.7))}),
    )
    .await
    .expect(StatusCode::OK);
    let next_job = ticket(&app, &office, &fenced, "Next job").await;
    assert_eq!(
        sorted(candidate_ids(&app, &office, next_job).await),
        sorted(vec![outside.id, inside.id])
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Check-in

/// The site of the check-in scenario.
const SITE: (f64, f64) = (52.5200, 13.4050);

/// A point `metres` north of the site.
fn north_of_site(metres: f64) -> (f64, f64) {
    (SITE.0 + metres / M_PER_DEG_LAT, SITE.1)
}

/// A ticket at `site` assigned to `tech` and walked to `en_route` by them.
async fn en_route(app: &TestApp, office: &Office, site: &Value, tech: &Tech, title: &str) -> Uuid {
    let id = ticket(app, office, site, title).await;
    app.post(
        &format!("/v1/tickets/{id}/assign"),
        &office.dispatcher,
        &json!({"technician_id": tech.id}),
    )
    .await
    .expect(StatusCode::OK);
    for status in ["accepted", "en_route"] {
        let moved = app
            .patch(
                &format!("/v1/tickets/{id}"),
                &tech.token,
                &json!({"status": status}),
            )
            .await
            .expect(StatusCode::OK);
        assert!(moved["check_in"].is_null(), "{moved}");
    }
    id
}

async fn check_in(
    app: &TestApp,
    tech: &Tech,
    ticket: Uuid,
    position: Option<(f64, f64, f64)>,
) -> Value {
    let mut body = json!({"status": "on_site"});
    if let Some((lat, lon, accuracy_m)) = position {
        body["position"] = json!({"lat": lat, "lon": lon, "accuracy_m": accuracy_m});
    }
    let reply = app
        .patch(&format!("/v1/tickets/{ticket}"), &tech.token, &body)
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply["status"], "on_site");
    reply
}

fn distance(check_in: &Value) -> f64 {
    check_in["distance_m"].as_f64().expect("distance_m")
}

async fn check_in_is_judged_against_the_site_and_never_refused(
    backend: truckroll_tests::TestBackend,
) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "geofence").await;
    let at = site(&app, &office, "Alexanderplatz", SITE).await;
    let tech = technician(&app, &office, "tech@geofence.test", SITE).await;

    // 60 m away, 10 m accuracy: verified.
    let near = en_route(&app, &office, &at, &tech, "Near").await;
    let (lat, lon) = north_of_site(60.0);
    let checked = check_in(&app, &tech, near, Some((lat, lon, 10.0))).await;
    let fix = &checked["check_in"];
    assert_eq!(fix["verified"], true, "{checked}");
    assert!((distance(fix) - 60.0).abs() < 1.0, "{fix}");
    assert_eq!(fix["accuracy_m"], 10.0);
    assert!(fix["at"].is_string());
    // Stored: a later read says the same.
    let read = app
        .get(&format!("/v1/tickets/{near}"), &office.dispatcher)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read["check_in"], checked["check_in"]);

    // 400 m away, 10 m accuracy: recorded, unverified, with the distance.
    let far = en_route(&app, &office, &at, &tech, "Far").await;
    let (lat, lon) = north_of_site(400.0);
    let checked = check_in(&app, &tech, far, Some((lat, lon, 10.0))).await;
    let fix = &checked["check_in"];
    assert_eq!(fix["verified"], false, "{checked}");
    assert!((distance(fix) - 400.0).abs() < 1.0, "{fix}");

    // The same spot with a 300 m accuracy circle may be within 150 m: verified.
    let fuzzy = en_route(&app, &office, &at, &tech, "Fuzzy").await;
    let checked = check_in(&app, &tech, fuzzy, Some((lat, lon, 300.0))).await;
    assert_eq!(checked["check_in"]["verified"], true, "{checked}");
    assert!((distance(&checked["check_in"]) - 400.0).abs() < 1.0);
    // ... but 200 m of accuracy is not enough (400 − 200 > 150).
    let fuzzier = en_route(&app, &office, &at, &tech, "Fuzzier").await;
    let checked = check_in(&app, &tech, fuzzier, Some((lat, lon, 200.0))).await;
    assert_eq!(checked["check_in"]["verified"], false, "{checked}");

    // No position (a basement): checked in, verification unknown.
    let basement = en_route(&app, &office, &at, &tech, "Basement").await;
    let checked = check_in(&app, &tech, basement, None).await;
    let fix = &checked["check_in"];
    assert!(fix["verified"].is_null(), "{checked}");
    assert!(fix["distance_m"].is_null());
    assert!(fix["accuracy_m"].is_null());
    assert!(fix["at"].is_string());

    // A position on any other step, or with bad numbers, is a 422 naming it.
    let other = en_route(&app, &office, &at, &tech, "Other").await;
    let path = format!("/v1/tickets/{other}");
    let position = json!({"lat": SITE.0, "lon": SITE.1, "accuracy_m": 5.0});
    let reply = app
        .patch(
            &path,
            &tech.token,
            &json!({"status": "on_hold", "hold_reason": "waiting_parts", "position": position}),
        )
        .await;
    expect_invalid(&reply, "position");
    let reply = app
        .patch(&path, &tech.token, &json!({"position": position}))
        .await;
    expect_invalid(&reply, "position");
    let reply = app
        .patch(
            &path,
            &office.dispatcher,
            &json!({"title": "Renamed", "position": position}),
        )
        .await;
    expect_invalid(&reply, "position");
    for (bad, field) in [
        (
            json!({"lat": 91.0, "lon": SITE.1, "accuracy_m": 5.0}),
            "position.lat",
        ),
        (
            json!({"lat": SITE.0, "lon": -181.0, "accuracy_m": 5.0}),
            "position.lon",
        ),
        (
            json!({"lat": SITE.0, "lon": SITE.1, "accuracy_m": -1.0}),
            "position.accuracy_m",
        ),
        (json!({"lat": SITE.0, "lon": SITE.1}), "position"),
        (
            json!({"lat": "north", "lon": SITE.1, "accuracy_m": 5.0}),
            "position.lat",
        ),
    ] {
        let reply = app
            .patch(
                &path,
                &tech.token,
                &json!({"status": "on_site", "position": bad}),
            )
            .await;
        expect_invalid(&reply, field);
    }
    // Nothing of that was written.
    let read = app
        .get(&path, &office.dispatcher)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read["status"], "en_route");
    assert!(read["check_in"].is_null());

    // A dispatcher may check in on the technician's behalf; still judged.
    let (lat, lon) = north_of_site(20.0);
    let checked = app
        .patch(
            &path,
            &office.dispatcher,
            &json!({"status": "on_site", "position": {"lat": lat, "lon": lon, "accuracy_m": 0.0}}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(checked["check_in"]["verified"], true, "{checked}");

    // Another tenant's technician cannot reach the ticket at all.
    let rival = office_for_rival(&app).await;
    let reply = app
        .patch(
            &format!("/v1/tickets/{near}"),
            &rival.token,
            &json!({"status": "on_site", "position": position}),
        )
        .await;
    reply.expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

/// Another tenant with a technician at the same spot.
async fn office_for_rival(app: &TestApp) -> Tech {
    let rival = office(app, "rival").await;
    technician(app, &rival, "tech@rival.test", SITE).await
}
