//! Access control through the real HTTP API: the role × endpoint permission
//! matrix, what a technician may see and do, tenant isolation, the audit log
//! as an admin sees it, and requests without a valid token.
//!
//! Every scenario runs once on SQLite and once on PostgreSQL
//! (`name::sqlite`, `name::postgres`), each against its own server and
//! database.

use std::{collections::BTreeSet, fmt::Write as _};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{Reply, TestApp, TestTenant, id_of},
};
use uuid::Uuid;

backend_tests!(
    permission_matrix,
    technicians_see_and_work_only_their_own_tickets,
    tenants_never_see_each_other,
    audit_log_through_the_api,
    requests_without_a_valid_token_are_refused,
);

// ---------------------------------------------------------------------------
// Helpers

const ROLES: [&str; 4] = ["admin", "dispatcher", "manager", "technician"];

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    app.post(path, token, &body)
        .await
        .expect(StatusCode::CREATED)
}

async fn created_id(app: &TestApp, token: &str, path: &str, body: Value) -> Uuid {
    id_of(&created(app, token, path, body).await, "id")
}

/// The technician profile of a user whose role is `technician`.
async fn technician_profile(app: &TestApp, tenant: &TestTenant, user_id: Uuid, name: &str) -> Uuid {
    let body = json!({
        "user_id": user_id,
        "name": name,
        "time_zone": "Europe/Berlin",
        "home_base": {"lat": 52.52, "lon": 13.405},
    });
    created_id(app, &tenant.admin_token, "/v1/technicians", body).await
}

/// A customer with one site and one asset there.
#[derive(Debug, Clone, Copy)]
struct Directory {
    customer: Uuid,
    site: Uuid,
    asset: Uuid,
}

async fn directory(app: &TestApp, token: &str, name: &str) -> Directory {
    let customer = created_id(app, token, "/v1/customers", json!({"name": name})).await;
    let site = created_id(app, token, "/v1/sites", site_body(customer, name)).await;
    let asset = created_id(
        app,
        token,
        "/v1/assets",
        json!({"site_id": site, "serial": format!("SN-{name}"), "model": "Boiler 3000"}),
    )
    .await;
    Directory {
        customer,
        site,
        asset,
    }
}

fn site_body(customer: Uuid, name: &str) -> Value {
    json!({
        "customer_id": customer,
        "name": format!("{name} site"),
        "address": "1 Main St, Berlin",
        "location": {"lat": 52.5, "lon": 13.4},
    })
}

fn ticket_body(site: Uuid, title: &str) -> Value {
    json!({"title": title, "category": "hvac", "priority": "P3", "site_id": site})
}

async fn ticket(app: &TestApp, token: &str, site: Uuid, title: &str) -> Uuid {
    created_id(app, token, "/v1/tickets", ticket_body(site, title)).await
}

async fn assign(app: &TestApp, token: &str, ticket: Uuid, technician: Uuid) {
    let body = app
        .patch(
            &format!("/v1/tickets/{ticket}"),
            token,
            &json!({"assignee_id": technician}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["assignee_id"], json!(technician), "{body}");
    assert_eq!(body["status"], "assigned", "{body}");
}

/// The `items` of a list answer, after asserting 200.
fn items(reply: Reply) -> Vec<Value> {
    let body = reply.expect(StatusCode::OK);
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .clone()
}

fn ids(items: &[Value]) -> Vec<Uuid> {
    items.iter().map(|item| id_of(item, "id")).collect()
}

async fn listed_ids(app: &TestApp, path: &str, token: &str) -> Vec<Uuid> {
    ids(&items(app.get(path, token).await))
}

/// Whether `reply` is a problem document whose `type` ends in `/slug`.
fn is_problem(reply: &Reply, slug: &str) -> bool {
    let content_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    content_type == "application/problem+json"
        && reply.body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with(&format!("/{slug}")))
        && reply.body["status"] == json!(reply.status.as_u16())
}

// ---------------------------------------------------------------------------
// 1. The permission matrix

/// THE TABLE: the status each role must get, in the order admin, dispatcher,
/// manager, technician. Written out by hand on purpose: it is the
/// specification the server's permission table must implement, not a copy
/// of it. 200/201 = allowed, 403 = the role is refused, 404 = not visible (a
/// technician and a ticket not assigned to them).
///
/// `{own}` is a ticket assigned to the signed-in technician, `{other}` one
/// assigned to another technician.
#[rustfmt::skip]
const MATRIX: &[(&str, [u16; 4])] = &[
    //                                        admin  disp  mgr  tech
    ("GET /v1/users",                         [200,  200,  200, 403]),
    ("POST /v1/users",                        [201,  403,  403, 403]),
    ("GET /v1/users/{id}",                    [200,  200,  200, 403]),
    ("PATCH /v1/users/{id}",                  [200,  403,  403, 403]),
    ("GET /v1/me",                            [200,  200,  200, 200]),
    ("GET /v1/technicians",                   [200,  200,  200, 403]),
    ("POST /v1/technicians",                  [201,  403,  403, 403]),
    ("GET /v1/technicians/{id}",              [200,  200,  200, 403]),
    ("PATCH /v1/technicians/{id}",            [200,  403,  403, 403]),
    ("GET /v1/customers",                     [200,  200,  200, 403]),
    ("POST /v1/customers",                    [201,  201,  403, 403]),
    ("GET /v1/customers/{id}",                [200,  200,  200, 403]),
    ("GET /v1/sites",                         [200,  200,  200, 403]),
    ("POST /v1/sites",                        [201,  201,  403, 403]),
    ("GET /v1/sites/{id}",                    [200,  200,  200, 403]),
    ("GET /v1/assets",                        [200,  200,  200, 403]),
    ("POST /v1/assets",                       [201,  201,  403, 403]),
    ("GET /v1/assets/{id}",                   [200,  200,  200, 403]),
    // The site, customer and asset of a ticket assigned to the technician
    // (its job packet's sources); `{id}` above are another technician's.
    ("GET /v1/customers/{own}",               [200,  200,  200, 200]),
    ("GET /v1/sites/{own}",                   [200,  200,  200, 200]),
    ("GET /v1/assets/{own}",                  [200,  200,  200, 200]),
    ("PATCH /v1/customers/{id}",              [200,  200,  403, 403]),
    ("PATCH /v1/sites/{id}",                  [200,  200,  403, 403]),
    ("PATCH /v1/assets/{id}",                 [200,  200,  403, 403]),
    ("GET /v1/categories",                    [200,  200,  200, 403]),
    ("POST /v1/categories",                   [201,  403,  403, 403]),
    ("GET /v1/tickets",                       [200,  200,  200, 200]),
    ("POST /v1/tickets",                      [201,  201,  403, 403]),
    ("GET /v1/tickets/{other}",               [200,  200,  200, 404]),
    ("PATCH /v1/tickets/{other} (title)",     [200,  200,  403, 404]),
    ("GET /v1/tickets/{other}/comments",      [200,  200,  200, 404]),
    ("POST /v1/tickets/{other}/comments",     [201,  201,  201, 404]),
    ("GET /v1/tickets/{own}",                 [200,  200,  200, 200]),
    ("PATCH /v1/tickets/{own} (title)",       [200,  200,  403, 403]),
    ("GET /v1/tickets/{own}/comments",        [200,  200,  200, 200]),
    ("POST /v1/tickets/{own}/comments",       [201,  201,  201, 201]),
    ("GET /v1/tickets/{other}/work",          [200,  200,  200, 404]),
    ("GET /v1/tickets/{own}/work",            [200,  200,  200, 200]),
    ("GET /v1/tickets/{other}/timeline",      [200,  200,  200, 404]),
    ("GET /v1/tickets/{own}/timeline",        [200,  200,  200, 200]),
    ("GET /v1/work/export",                   [200,  200,  200, 403]),
    ("GET /v1/work/export/parts.csv",         [200,  200,  200, 403]),
    ("GET /v1/audit",                         [200,  403,  403, 403]),
    ("GET /v1/audit/verify",                  [200,  403,  403, 403]),
    ("POST /v1/devices",                      [201,  201,  201, 201]),
    // A plain GET: allowed roles are told to upgrade to a WebSocket.
    ("GET /v1/live",                          [400,  400,  400, 403]),
    ("GET /v1/webhooks",                      [200,  403,  403, 403]),
    ("POST /v1/webhooks",                     [201,  403,  403, 403]),
    ("GET /v1/intake/mailboxes",              [200,  403,  403, 403]),
    ("GET /v1/intake/messages",               [200,  200,  200, 403]),
    ("GET /v1/notify/templates",              [200,  403,  403, 403]),
    ("GET /v1/customers/{id}/notify-preferences", [200, 200, 200, 403]),
    ("PATCH /v1/me",                          [200,  200,  200, 200]),
    ("GET /v1/tenant",                        [200,  200,  200, 200]),
    ("PATCH /v1/tenant",                      [200,  403,  403, 403]),
    ("GET /v1/me/views",                      [200,  200,  200, 200]),
    ("POST /v1/me/views",                     [201,  201,  201, 403]),
    ("GET /v1/ticket-templates",              [200,  200,  403, 403]),
    ("POST /v1/ticket-templates",             [201,  403,  403, 403]),
    // Master data lifecycle (issue 16): restores of active records are
    // harmless to repeat; histories and search.
    ("POST /v1/sites/{id}/restore",           [200,  200,  403, 403]),
    ("POST /v1/customers/{id}/restore",       [200,  200,  403, 403]),
    ("POST /v1/assets/{id}/restore",          [200,  200,  403, 403]),
    ("POST /v1/technicians/{id}/restore",     [200,  403,  403, 403]),
    ("POST /v1/users/{id}/activate",          [200,  403,  403, 403]),
    ("GET /v1/customers/{id}/tickets",        [200,  200,  200, 403]),
    ("GET /v1/sites/{id}/tickets",            [200,  200,  200, 403]),
    ("GET /v1/assets/{id}/tickets",           [200,  200,  200, 403]),
    ("GET /v1/search",                        [200,  200,  200, 200]),
    ("GET /v1/reports/csat",                  [200,  200,  200, 403]),
];

/// The export's period in the matrix: any valid one.
const PERIOD: &str = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z";

/// One request of the matrix, as sent by one role.
#[derive(Debug)]
struct MatrixRequest {
    /// The row of [`MATRIX`] this request checks.
    label: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
}

fn request(label: &'static str, path: String, body: Option<Value>) -> MatrixRequest {
    let method = match label.split_once(' ') {
        Some(("GET", _)) => GET,
        Some(("POST", _)) => POST,
        Some(("PATCH", _)) => PATCH,
        _ => panic!("label {label} does not start with a method"),
    };
    MatrixRequest {
        label,
        method,
        path,
        body,
    }
}

/// The fixtures the matrix requests refer to.
#[derive(Debug)]
struct MatrixWorld {
    tenant: TestTenant,
    /// Token per role, in [`ROLES`] order.
    tokens: [String; 4],
    /// A dispatcher the requests read and rename.
    target_user: Uuid,
    /// Technician-role users without a profile yet, one per role, so that a
    /// `POST /v1/technicians` the table allows can succeed for each role.
    profileless: [Uuid; 4],
    /// A technician other than the signed-in one.
    other_technician: Uuid,
    directory: Directory,
    /// The customer, site and asset of the own ticket.
    own_directory: Directory,
    /// Assigned to the signed-in technician.
    own_ticket: Uuid,
    /// Assigned to the other technician.
    other_ticket: Uuid,
}

/// The request for every row of [`MATRIX`], with a valid body that is
/// unique per role, so that whatever the table allows answers 2xx.
fn matrix_requests(w: &MatrixWorld, role: usize) -> Vec<MatrixRequest> {
    let r = ROLES[role];
    let d = w.directory;
    let target = w.target_user;
    let tech = w.other_technician;
    let own = w.own_ticket;
    let other = w.other_ticket;
    let comment = || Some(json!({"body": format!("note from {r}"), "visibility": "internal"}));
    vec![
        request("GET /v1/users", "/v1/users".into(), None),
        request(
            "POST /v1/users",
            "/v1/users".into(),
            Some(json!({
                "email": format!("new-{r}@matrix.test"),
                "name": format!("New {r}"),
                "role": "manager",
                "password": "a-long-enough-password",
            })),
        ),
        request("GET /v1/users/{id}", format!("/v1/users/{target}"), None),
        request(
            "PATCH /v1/users/{id}",
            format!("/v1/users/{target}"),
            Some(json!({"name": format!("Renamed by {r}")})),
        ),
        request("GET /v1/me", "/v1/me".into(), None),
        request("GET /v1/technicians", "/v1/technicians".into(), None),
        request(
            "POST /v1/technicians",
            "/v1/technicians".into(),
            Some(json!({
                "user_id": w.profileless[role],
                "name": format!("Tech of {r}"),
                "time_zone": "Europe/Berlin",
            })),
        ),
        request(
            "GET /v1/technicians/{id}",
            format!("/v1/technicians/{tech}"),
            None,
        ),
        request(
            "PATCH /v1/technicians/{id}",
            format!("/v1/technicians/{tech}"),
            Some(json!({"capacity": 2 + role})),
        ),
        request("GET /v1/customers", "/v1/customers".into(), None),
        request(
            "POST /v1/customers",
            "/v1/customers".into(),
            Some(json!({"name": format!("Customer of {r}")})),
        ),
        request(
            "GET /v1/customers/{id}",
            format!("/v1/customers/{}", d.customer),
            None,
        ),
        request("GET /v1/sites", "/v1/sites".into(), None),
        request(
            "POST /v1/sites",
            "/v1/sites".into(),
            Some(site_body(d.customer, r)),
        ),
        request("GET /v1/sites/{id}", format!("/v1/sites/{}", d.site), None),
        request("GET /v1/assets", "/v1/assets".into(), None),
        request(
            "POST /v1/assets",
            "/v1/assets".into(),
            Some(json!({"site_id": d.site, "serial": format!("SN-{r}"), "model": "Chiller"})),
        ),
        request(
            "GET /v1/assets/{id}",
            format!("/v1/assets/{}", d.asset),
            None,
        ),
        request(
            "GET /v1/customers/{own}",
            format!("/v1/customers/{}", w.own_directory.customer),
            None,
        ),
        request(
            "GET /v1/sites/{own}",
            format!("/v1/sites/{}", w.own_directory.site),
            None,
        ),
        request(
            "GET /v1/assets/{own}",
            format!("/v1/assets/{}", w.own_directory.asset),
            None,
        ),
        request(
            "PATCH /v1/customers/{id}",
            format!("/v1/customers/{}", d.customer),
            Some(json!({"contact_person": format!("Contact of {r}")})),
        ),
        request(
            "PATCH /v1/sites/{id}",
            format!("/v1/sites/{}", d.site),
            Some(json!({"access_notes": format!("Gate code from {r}")})),
        ),
        request(
            "PATCH /v1/assets/{id}",
            format!("/v1/assets/{}", d.asset),
            Some(json!({"installed_on": format!("2020-01-0{}", role + 1)})),
        ),
        request("GET /v1/categories", "/v1/categories".into(), None),
        request(
            "POST /v1/categories",
            "/v1/categories".into(),
            Some(json!({"name": format!("cat-{r}")})),
        ),
        request("GET /v1/tickets", "/v1/tickets".into(), None),
        request(
            "POST /v1/tickets",
            "/v1/tickets".into(),
            Some(ticket_body(d.site, &format!("Opened by {r}"))),
        ),
        request(
            "GET /v1/tickets/{other}",
            format!("/v1/tickets/{other}"),
            None,
        ),
        request(
            "PATCH /v1/tickets/{other} (title)",
            format!("/v1/tickets/{other}"),
            Some(json!({"title": format!("Retitled by {r}")})),
        ),
        request(
            "GET /v1/tickets/{other}/comments",
            format!("/v1/tickets/{other}/comments"),
            None,
        ),
        request(
            "POST /v1/tickets/{other}/comments",
            format!("/v1/tickets/{other}/comments"),
            comment(),
        ),
        request("GET /v1/tickets/{own}", format!("/v1/tickets/{own}"), None),
        request(
            "PATCH /v1/tickets/{own} (title)",
            format!("/v1/tickets/{own}"),
            Some(json!({"title": format!("Own retitled by {r}")})),
        ),
        request(
            "GET /v1/tickets/{own}/comments",
            format!("/v1/tickets/{own}/comments"),
            None,
        ),
        request(
            "POST /v1/tickets/{own}/comments",
            format!("/v1/tickets/{own}/comments"),
            comment(),
        ),
        request(
            "GET /v1/tickets/{other}/work",
            format!("/v1/tickets/{other}/work"),
            None,
        ),
        request(
            "GET /v1/tickets/{own}/work",
            format!("/v1/tickets/{own}/work"),
            None,
        ),
        request(
            "GET /v1/tickets/{other}/timeline",
            format!("/v1/tickets/{other}/timeline"),
            None,
        ),
        request(
            "GET /v1/tickets/{own}/timeline",
            format!("/v1/tickets/{own}/timeline"),
            None,
        ),
        request(
            "GET /v1/work/export",
            format!("/v1/work/export?{PERIOD}"),
            None,
        ),
        request(
            "GET /v1/work/export/parts.csv",
            format!("/v1/work/export/parts.csv?{PERIOD}"),
            None,
        ),
        request("GET /v1/audit", "/v1/audit".into(), None),
        request("GET /v1/audit/verify", "/v1/audit/verify".into(), None),
        request(
            "POST /v1/devices",
            "/v1/devices".into(),
            Some(json!({
                "platform": "android",
                "push_token": format!("push-{r}"),
                "actor_id": format!("{:032x}", 0xabc0 + role),
            })),
        ),
        request("GET /v1/live", "/v1/live".into(), None),
        request("GET /v1/webhooks", "/v1/webhooks".into(), None),
        request(
            "POST /v1/webhooks",
            "/v1/webhooks".into(),
            Some(
                json!({"url": format!("https://hooks.example/{r}"), "events": ["ticket.created"]}),
            ),
        ),
        request(
            "GET /v1/intake/mailboxes",
            "/v1/intake/mailboxes".into(),
            None,
        ),
        request(
            "GET /v1/intake/messages",
            "/v1/intake/messages".into(),
            None,
        ),
        request(
            "GET /v1/notify/templates",
            "/v1/notify/templates".into(),
            None,
        ),
        request(
            "GET /v1/customers/{id}/notify-preferences",
            format!("/v1/customers/{}/notify-preferences", d.customer),
            None,
        ),
        request(
            "PATCH /v1/me",
            "/v1/me".into(),
            Some(json!({"locale": "en"})),
        ),
        request("GET /v1/tenant", "/v1/tenant".into(), None),
        request(
            "PATCH /v1/tenant",
            "/v1/tenant".into(),
            Some(json!({"default_locale": "en"})),
        ),
        request("GET /v1/me/views", "/v1/me/views".into(), None),
        request(
            "POST /v1/me/views",
            "/v1/me/views".into(),
            Some(json!({"name": format!("View of {r}"), "query": {"priority": "P1"}})),
        ),
        request(
            "GET /v1/ticket-templates",
            "/v1/ticket-templates".into(),
            None,
        ),
        request(
            "POST /v1/ticket-templates",
            "/v1/ticket-templates".into(),
            Some(json!({"name": format!("Template of {r}"), "fields": {"priority": "P2"}})),
        ),
        request(
            "POST /v1/sites/{id}/restore",
            format!("/v1/sites/{}/restore", d.site),
            Some(json!({})),
        ),
        request(
            "POST /v1/customers/{id}/restore",
            format!("/v1/customers/{}/restore", d.customer),
            Some(json!({})),
        ),
        request(
            "POST /v1/assets/{id}/restore",
            format!("/v1/assets/{}/restore", d.asset),
            Some(json!({})),
        ),
        request(
            "POST /v1/technicians/{id}/restore",
            format!("/v1/technicians/{tech}/restore"),
            Some(json!({})),
        ),
        request(
            "POST /v1/users/{id}/activate",
            format!("/v1/users/{target}/activate"),
            Some(json!({})),
        ),
        request(
            "GET /v1/customers/{id}/tickets",
            format!("/v1/customers/{}/tickets", d.customer),
            None,
        ),
        request(
            "GET /v1/sites/{id}/tickets",
            format!("/v1/sites/{}/tickets", d.site),
            None,
        ),
        request(
            "GET /v1/assets/{id}/tickets",
            format!("/v1/assets/{}/tickets", d.asset),
            None,
        ),
        request("GET /v1/search", "/v1/search?q=ticket".into(), None),
        request(
            "GET /v1/reports/csat",
            format!("/v1/reports/csat?{PERIOD}"),
            None,
        ),
    ]
}

async fn matrix_world(app: &TestApp) -> MatrixWorld {
    let tenant = app.create_tenant("matrix").await;
    let (_, dispatcher) = app
        .create_user(&tenant, "dispatcher@matrix.test", "dispatcher")
        .await;
    let (_, manager) = app
        .create_user(&tenant, "manager@matrix.test", "manager")
        .await;
    let (tech_user, technician) = app
        .create_user(&tenant, "tech@matrix.test", "technician")
        .await;
    let (other_user, _) = app
        .create_user(&tenant, "other@matrix.test", "technician")
        .await;
    let (target_user, _) = app
        .create_user(&tenant, "target@matrix.test", "dispatcher")
        .await;
    let mut profileless = [Uuid::nil(); 4];
    for (slot, role) in profileless.iter_mut().zip(ROLES) {
        *slot = app
            .create_user(
                &tenant,
                &format!("new-tech-{role}@matrix.test"),
                "technician",
            )
            .await
            .0;
    }
    let own_technician = technician_profile(app, &tenant, tech_user, "Own Tech").await;
    let other_technician = technician_profile(app, &tenant, other_user, "Other Tech").await;
    let admin = tenant.admin_token.clone();
    let directory = directory(app, &admin, "matrix").await;
    let own_directory = self::directory(app, &admin, "own").await;
    let own_ticket = created_id(
        app,
        &admin,
        "/v1/tickets",
        json!({"title": "Own ticket", "category": "hvac", "priority": "P3",
               "site_id": own_directory.site, "asset_id": own_directory.asset}),
    )
    .await;
    assign(app, &admin, own_ticket, own_technician).await;
    let other_ticket = ticket(app, &admin, directory.site, "Other ticket").await;
    assign(app, &admin, other_ticket, other_technician).await;
    MatrixWorld {
        tokens: [admin, dispatcher, manager, technician],
        tenant,
        target_user,
        profileless,
        other_technician,
        directory,
        own_directory,
        own_ticket,
        other_ticket,
    }
}

async fn permission_matrix(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let world = matrix_world(&app).await;

    // The requests cover every row of the table exactly once, in its order.
    let labels: Vec<_> = matrix_requests(&world, 0)
        .iter()
        .map(|request| request.label)
        .collect();
    let rows: Vec<_> = MATRIX.iter().map(|(label, _)| *label).collect();
    assert_eq!(labels, rows, "matrix_requests and MATRIX disagree");

    // Cells of the printed table: [row][role] = (expected, actual, ok).
    let mut cells = vec![[(0u16, 0u16, true); 4]; MATRIX.len()];
    let mut mismatches = Vec::new();
    for (role, token) in world.tokens.iter().enumerate() {
        let requests = matrix_requests(&world, role);
        for (row, (request, (_, expect))) in requests.iter().zip(MATRIX).enumerate() {
            let reply = app
                .send(
                    request.method.clone(),
                    &request.path,
                    Some(token),
                    request.body.as_ref(),
                )
                .await;
            let want = expect[role];
            let got = reply.status.as_u16();
            let shape_ok = match want {
                403 => is_problem(&reply, "forbidden"),
                404 => is_problem(&reply, "not-found"),
                _ => true,
            };
            let ok = got == want && shape_ok;
            if !ok {
                mismatches.push(format!(
                    "{} as {}: want {want}, got {got}{}: {}",
                    request.label,
                    ROLES[role],
                    if shape_ok {
                        ""
                    } else {
                        " (not the expected problem document)"
                    },
                    reply.body
                ));
            }
            cells[row][role] = (want, got, ok);
        }
    }

    if !mismatches.is_empty() {
        let mut table = format!(
            "{backend:?}: {} of {} requests broke the permission matrix\n\n{:<40}",
            mismatches.len(),
            MATRIX.len() * ROLES.len(),
            "endpoint"
        );
        for role in ROLES {
            let _ = write!(table, "{role:<20}");
        }
        table.push('\n');
        for ((label, _), row) in MATRIX.iter().zip(&cells) {
            let _ = write!(table, "{label:<40}");
            for &(want, got, ok) in row {
                let cell = if ok {
                    got.to_string()
                } else {
                    format!("{got} (want {want}) ✗")
                };
                let _ = write!(table, "{cell:<20}");
            }
            table.push('\n');
        }
        table.push_str("\nmismatches:\n");
        for mismatch in &mismatches {
            let _ = writeln!(table, "  {mismatch}");
        }
        panic!("{table}");
    }

    // A role that may not change tickets is refused before its patch is
    // judged: 403, not a validation error about the ticket's state.
    let manager = &world.tokens[2];
    for body in [
        json!({"status": "closed"}),
        json!({"status": "on_site"}),
        json!({"hold_reason": "waiting_parts"}),
        json!({"status": "accepted", "assignee_id": world.other_technician}),
    ] {
        let reply = app
            .patch(&format!("/v1/tickets/{}", world.own_ticket), manager, &body)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "manager PATCH {body}: {}",
            reply.body
        );
        reply.expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }

    // The writes the table allowed really happened, to the right records.
    let admin = &world.tenant.admin_token;
    let target = app
        .get(&format!("/v1/users/{}", world.target_user), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(target["name"], "Renamed by admin");
    let other = app
        .get(&format!("/v1/tickets/{}", world.other_ticket), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(other["title"], "Retitled by dispatcher");
    assert_eq!(
        other["assignee_id"],
        json!(world.other_technician),
        "a title edit keeps the assignee"
    );
    let own = app
        .get(&format!("/v1/tickets/{}", world.own_ticket), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(own["title"], "Own retitled by dispatcher");
    let comments = items(
        app.get(&format!("/v1/tickets/{}/comments", world.own_ticket), admin)
            .await,
    );
    assert_eq!(comments.len(), 4, "every role commented on the own ticket");
    let comments = items(
        app.get(
            &format!("/v1/tickets/{}/comments", world.other_ticket),
            admin,
        )
        .await,
    );
    assert_eq!(comments.len(), 3, "the technician's comment was refused");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 2. Technician scope

async fn technicians_see_and_work_only_their_own_tickets(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("scope").await;
    let admin = tenant.admin_token.clone();
    let (_, dispatcher) = app
        .create_user(&tenant, "dispatch@scope.test", "dispatcher")
        .await;
    let (ann_user, ann) = app
        .create_user(&tenant, "ann@scope.test", "technician")
        .await;
    let (bob_user, bob) = app
        .create_user(&tenant, "bob@scope.test", "technician")
        .await;
    let (_, newbie) = app
        .create_user(&tenant, "newbie@scope.test", "technician")
        .await;
    let ann_tech = technician_profile(&app, &tenant, ann_user, "Ann").await;
    let bob_tech = technician_profile(&app, &tenant, bob_user, "Bob").await;
    let site = directory(&app, &admin, "scope").await.site;

    let mine = ticket(&app, &dispatcher, site, "Ann's boiler").await;
    let bobs = ticket(&app, &dispatcher, site, "Bob's chiller").await;
    let unassigned = ticket(&app, &dispatcher, site, "Nobody's pump").await;
    assign(&app, &dispatcher, mine, ann_tech).await;
    assign(&app, &dispatcher, bobs, bob_tech).await;

    // Lists: only one's own tickets, whatever the filter asks for.
    assert_eq!(listed_ids(&app, "/v1/tickets", &ann).await, [mine]);
    assert_eq!(listed_ids(&app, "/v1/tickets", &bob).await, [bobs]);
    assert_eq!(
        listed_ids(&app, "/v1/tickets", &admin).await,
        [mine, bobs, unassigned]
    );
    let for_bob = app
        .get(&format!("/v1/tickets?assignee_id={bob_tech}"), &ann)
        .await
        .expect(StatusCode::OK);
    assert_eq!(for_bob["items"], json!([]), "{for_bob}");
    assert_eq!(for_bob["next_cursor"], Value::Null);
    assert_eq!(
        listed_ids(&app, &format!("/v1/tickets?assignee_id={ann_tech}"), &ann).await,
        [mine]
    );
    assert_eq!(
        listed_ids(&app, "/v1/tickets?status=assigned", &ann).await,
        [mine]
    );
    assert_eq!(
        listed_ids(&app, "/v1/tickets?status=new", &ann).await,
        Vec::<Uuid>::new(),
        "unassigned tickets are not the technician's"
    );
    // A technician-role user without a technician profile sees nothing.
    assert_eq!(
        listed_ids(&app, "/v1/tickets", &newbie).await,
        Vec::<Uuid>::new()
    );
    app.get(&format!("/v1/tickets/{mine}"), &newbie)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Others' tickets answer 404, exactly like absent ones.
    for id in [bobs, unassigned, Uuid::now_v7()] {
        app.get(&format!("/v1/tickets/{id}"), &ann)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not-found");
        app.get(&format!("/v1/tickets/{id}/comments"), &ann)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not-found");
        app.post(
            &format!("/v1/tickets/{id}/comments"),
            &ann,
            &json!({"body": "sneaky", "visibility": "public"}),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
        app.patch(
            &format!("/v1/tickets/{id}"),
            &ann,
            &json!({"status": "accepted"}),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let bobs_comments = items(
        app.get(&format!("/v1/tickets/{bobs}/comments"), &admin)
            .await,
    );
    assert!(bobs_comments.is_empty(), "{bobs_comments:?}");
    let bobs_ticket = app
        .get(&format!("/v1/tickets/{bobs}"), &bob)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        bobs_ticket["status"], "assigned",
        "Ann's PATCH changed nothing"
    );

    // Own ticket: readable, commentable.
    let own = app
        .get(&format!("/v1/tickets/{mine}"), &ann)
        .await
        .expect(StatusCode::OK);
    assert_eq!(own["assignee_id"], json!(ann_tech));
    let comment = created(
        &app,
        &ann,
        &format!("/v1/tickets/{mine}/comments"),
        json!({"body": "On my way soon", "visibility": "public"}),
    )
    .await;
    assert_eq!(comment["author_id"], json!(ann_user));

    let path = format!("/v1/tickets/{mine}");
    let step = |status: &'static str, extra: Value| {
        let mut body = json!({"status": status});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let forbidden = |body: Value| {
        let app = &app;
        let path = &path;
        let ann = &ann;
        async move {
            let reply = app.patch(path, ann, &body).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "technician PATCH {body} should be refused: {}",
                reply.body
            );
            reply.expect_problem(StatusCode::FORBIDDEN, "forbidden");
        }
    };

    // Office-only changes are refused while the ticket is assigned …
    forbidden(json!({"status": "cancelled"})).await;
    forbidden(json!({"assignee_id": bob_tech})).await;
    forbidden(json!({"assignee_id": null})).await;

    // … the field steps are the technician's own.
    let mut walked = Vec::new();
    for (status, extra) in [
        ("accepted", json!({})),
        ("en_route", json!({})),
        ("on_site", json!({})),
        ("on_hold", json!({"hold_reason": "waiting_parts"})),
        ("accepted", json!({})), // resume
        ("en_route", json!({})),
        ("on_site", json!({})),
        ("work_done", json!({})),
    ] {
        let body = app
            .patch(&path, &ann, &step(status, extra))
            .await
            .expect(StatusCode::OK);
        assert_eq!(body["status"], status, "{body}");
        walked.push(status);

        if status == "accepted" && walked.len() == 1 {
            // Header edits, assigning and cancelling stay with the office,
            // also when combined with a field step.
            forbidden(json!({"title": "Ann's title"})).await;
            forbidden(json!({"description": "rewritten"})).await;
            forbidden(json!({"priority": "P1"})).await;
            forbidden(json!({"tags": ["vip"]})).await;
            forbidden(json!({"status": "en_route", "title": "Ann's title"})).await;
            forbidden(json!({"assignee_id": bob_tech})).await;
            forbidden(json!({"assignee_id": null})).await;
            forbidden(json!({"status": "cancelled"})).await;
            forbidden(json!({"status": "assigned"})).await; // reassign
            forbidden(json!({})).await; // not a field step
        }
    }
    let closed = app
        .patch(&path, &ann, &step("closed", json!({})))
        .await
        .expect(StatusCode::OK);
    assert_eq!(closed["status"], "closed");
    forbidden(json!({"status": "new"})).await; // reopen is the office's

    let seen_by_office = app.get(&path, &dispatcher).await.expect(StatusCode::OK);
    assert_eq!(seen_by_office["status"], "closed");
    assert_eq!(
        seen_by_office["title"], "Ann's boiler",
        "no header edit got through"
    );
    assert_eq!(seen_by_office["priority"], "P3");
    assert_eq!(seen_by_office["tags"], json!([]));
    assert_eq!(seen_by_office["assignee_id"], json!(ann_tech));

    // The office reassigns Bob's ticket to Ann: the scopes follow.
    let reassigned = app
        .patch(
            &format!("/v1/tickets/{bobs}"),
            &dispatcher,
            &json!({"assignee_id": ann_tech}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reassigned["assignee_id"], json!(ann_tech));
    assert_eq!(listed_ids(&app, "/v1/tickets", &ann).await, [mine, bobs]);
    assert_eq!(
        listed_ids(&app, "/v1/tickets", &bob).await,
        Vec::<Uuid>::new()
    );
    app.get(&format!("/v1/tickets/{bobs}"), &bob)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/tickets/{bobs}"), &ann)
        .await
        .expect(StatusCode::OK);

    // Ann declines Bob's old ticket (assigned → new): a field step that
    // hands the ticket back to the office, after which she no longer sees it.
    let declined = app
        .patch(
            &format!("/v1/tickets/{bobs}"),
            &ann,
            &json!({"status": "new"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(declined["status"], "new");
    assert_eq!(declined["assignee_id"], Value::Null);
    app.get(&format!("/v1/tickets/{bobs}"), &ann)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let audit = app
        .get("/v1/audit?limit=200", &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let last = audit["items"]
        .as_array()
        .and_then(|items| items.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["action"], "ticket.update");
    assert_eq!(last["actor_id"], json!(ann_user), "the decline is Ann's");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 3. Tenant isolation

/// Everything tenant B owns that tenant A might try to reach.
#[derive(Debug)]
struct Bravo {
    tenant: TestTenant,
    user: Uuid,
    technician: Uuid,
    directory: Directory,
    category: Uuid,
    ticket: Uuid,
    comment: Uuid,
}

async fn bravo(app: &TestApp) -> Bravo {
    let tenant = app.create_tenant("bravo").await;
    let admin = tenant.admin_token.clone();
    let (user, _) = app
        .create_user(&tenant, "tech@bravo.test", "technician")
        .await;
    let technician = technician_profile(app, &tenant, user, "Bravo Tech").await;
    let directory = directory(app, &admin, "bravo").await;
    let category = created_id(app, &admin, "/v1/categories", json!({"name": "hvac"})).await;
    let ticket = ticket(app, &admin, directory.site, "Bravo ticket").await;
    assign(app, &admin, ticket, technician).await;
    let comment = created_id(
        app,
        &admin,
        &format!("/v1/tickets/{ticket}/comments"),
        json!({"body": "bravo only", "visibility": "internal"}),
    )
    .await;
    Bravo {
        tenant,
        user,
        technician,
        directory,
        category,
        ticket,
        comment,
    }
}

async fn tenants_never_see_each_other(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let a = app.create_tenant("alpha").await;
    let a_admin = a.admin_token.clone();
    let (a_tech_user, a_tech) = app.create_user(&a, "tech@alpha.test", "technician").await;
    let a_technician = technician_profile(&app, &a, a_tech_user, "Alpha Tech").await;
    let a_dir = directory(&app, &a_admin, "alpha").await;
    let a_ticket = ticket(&app, &a_admin, a_dir.site, "Alpha ticket").await;
    let b = bravo(&app).await;
    let b_admin = b.tenant.admin_token.clone();
    let b_ids: BTreeSet<Uuid> = [
        b.tenant.id,
        b.tenant.admin_id,
        b.user,
        b.technician,
        b.directory.customer,
        b.directory.site,
        b.directory.asset,
        b.category,
        b.ticket,
        b.comment,
    ]
    .into();

    let raw = app.db.raw().await;
    let b_audit_before = app
        .get("/v1/audit?limit=200", &b_admin)
        .await
        .expect(StatusCode::OK);
    let count = |table: &'static str| {
        let raw = raw.clone();
        async move {
            raw.scalar_i64(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await
        }
    };
    let a_audit_count = || {
        let raw = raw.clone();
        async move {
            raw.scalar_i64(
                "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1",
                &[a.id],
            )
            .await
        }
    };

    // Reads of B's ids with A's admin token: 404, as if they did not exist.
    for path in [
        format!("/v1/users/{}", b.tenant.admin_id),
        format!("/v1/users/{}", b.user),
        format!("/v1/technicians/{}", b.technician),
        format!("/v1/customers/{}", b.directory.customer),
        format!("/v1/sites/{}", b.directory.site),
        format!("/v1/assets/{}", b.directory.asset),
        format!("/v1/tickets/{}", b.ticket),
        format!("/v1/tickets/{}/comments", b.ticket),
    ] {
        let reply = app.get(&path, &a_admin).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "GET {path}: {}",
            reply.body
        );
        reply.expect_problem(StatusCode::NOT_FOUND, "not-found");
    }
    // A's technician neither.
    app.get(&format!("/v1/tickets/{}", b.ticket), &a_tech)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Writes to B's ids: 404, and nothing written anywhere.
    let audit_rows = count("audit_log").await;
    for (method, path, body) in [
        (
            PATCH,
            format!("/v1/users/{}", b.user),
            json!({"name": "Hijacked"}),
        ),
        (
            PATCH,
            format!("/v1/users/{}", b.tenant.admin_id),
            json!({"active": false}),
        ),
        (
            PATCH,
            format!("/v1/technicians/{}", b.technician),
            json!({"capacity": 1}),
        ),
        (
            PATCH,
            format!("/v1/tickets/{}", b.ticket),
            json!({"title": "Hijacked"}),
        ),
        (
            PATCH,
            format!("/v1/tickets/{}", b.ticket),
            json!({"assignee_id": a_technician}),
        ),
        (
            PATCH,
            format!("/v1/tickets/{}", b.ticket),
            json!({"status": "cancelled"}),
        ),
        (
            POST,
            format!("/v1/tickets/{}/comments", b.ticket),
            json!({"body": "hello from alpha", "visibility": "public"}),
        ),
    ] {
        let reply = app
            .send(method.clone(), &path, Some(&a_admin), Some(&body))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path} {body}: {}",
            reply.body
        );
        reply.expect_problem(StatusCode::NOT_FOUND, "not-found");
    }
    assert_eq!(
        count("audit_log").await,
        audit_rows,
        "a refused write was audited"
    );

    // References from A to B's records are invalid input (422), never written.
    let sites = count("sites").await;
    let tickets = count("tickets").await;
    let assets = count("assets").await;
    let technicians = count("technicians").await;
    let a_audit = a_audit_count().await;
    let refused: [(&str, Value, &str); 6] = [
        (
            "/v1/sites",
            site_body(b.directory.customer, "stolen"),
            "customer_id",
        ),
        (
            "/v1/tickets",
            ticket_body(b.directory.site, "Stolen site"),
            "site_id",
        ),
        (
            "/v1/tickets",
            json!({
                "title": "Stolen asset",
                "category": "hvac",
                "priority": "P2",
                "site_id": a_dir.site,
                "asset_id": b.directory.asset,
            }),
            "asset_id",
        ),
        (
            "/v1/assets",
            json!({"site_id": b.directory.site, "serial": "SN-stolen", "model": "X"}),
            "site_id",
        ),
        (
            "/v1/technicians",
            json!({"user_id": b.user, "name": "Stolen", "time_zone": "UTC"}),
            "user_id",
        ),
        (
            "/v1/technicians",
            json!({"user_id": b.tenant.admin_id, "name": "Stolen admin", "time_zone": "UTC"}),
            "user_id",
        ),
    ];
    for (path, body, field) in refused {
        let reply = app.post(path, &a_admin, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "POST {path} {body}: {}",
            reply.body
        );
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "POST {path}: {}",
            reply.body
        );
    }
    // Assigning A's ticket to B's technician.
    let reply = app
        .patch(
            &format!("/v1/tickets/{a_ticket}"),
            &a_admin,
            &json!({"assignee_id": b.technician}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        reply.body["errors"][0]["field"], "assignee_id",
        "{}",
        reply.body
    );
    assert_eq!(count("sites").await, sites);
    assert_eq!(count("tickets").await, tickets);
    assert_eq!(count("assets").await, assets);
    assert_eq!(count("technicians").await, technicians);
    assert_eq!(
        a_audit_count().await,
        a_audit,
        "refused writes left audit entries"
    );
    let a_ticket_now = app
        .get(&format!("/v1/tickets/{a_ticket}"), &a_admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(a_ticket_now["assignee_id"], Value::Null);
    assert_eq!(a_ticket_now["status"], "new");
    // The refused ticket did not use up a ticket number either.
    let next = created(
        &app,
        &a_admin,
        "/v1/tickets",
        ticket_body(a_dir.site, "Next"),
    )
    .await;
    assert_eq!(next["number"], "TR-000002", "{next}");

    // A's lists never contain B's records.
    for path in [
        "/v1/users",
        "/v1/technicians",
        "/v1/customers",
        "/v1/sites",
        "/v1/assets",
        "/v1/categories",
        "/v1/tickets",
        format!("/v1/tickets?site_id={}", b.directory.site).as_str(),
        format!("/v1/tickets?assignee_id={}", b.technician).as_str(),
        "/v1/tickets?category=hvac",
    ] {
        let listed = items(app.get(path, &a_admin).await);
        for item in &listed {
            assert_eq!(item["tenant_id"], json!(a.id), "{path} lists {item}");
            assert!(!b_ids.contains(&id_of(item, "id")), "{path} lists {item}");
        }
    }
    assert!(
        listed_ids(
            &app,
            &format!("/v1/tickets?site_id={}", b.directory.site),
            &a_admin
        )
        .await
        .is_empty()
    );
    let a_audit_page = app
        .get("/v1/audit?limit=200", &a_admin)
        .await
        .expect(StatusCode::OK);
    for entry in a_audit_page["items"].as_array().into_iter().flatten() {
        assert_eq!(entry["tenant_id"], json!(a.id), "{entry}");
        if let Some(entity) = entry["entity_id"].as_str() {
            let entity: Uuid = entity.parse().expect("uuid entity id");
            assert!(!b_ids.contains(&entity), "A's audit names B's {entry}");
        }
    }
    // And the other way round, for B's technician.
    let b_tech = app.login("bravo", "tech@bravo.test").await;
    assert_eq!(listed_ids(&app, "/v1/tickets", &b_tech).await, [b.ticket]);
    app.get(&format!("/v1/tickets/{a_ticket}"), &b_tech)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    // Signing in to tenant A with B's credentials does not work.
    let reply = app
        .send(
            POST,
            "/v1/auth/login",
            None,
            Some(&json!({"tenant": "alpha", "email": "tech@bravo.test", "password": truckroll_tests::app::PASSWORD})),
        )
        .await;
    reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // B's records and audit log are untouched by everything A tried.
    let b_user = app
        .get(&format!("/v1/users/{}", b.user), &b_admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(b_user["name"], "tech@bravo.test");
    let b_admin_user = app
        .get(&format!("/v1/users/{}", b.tenant.admin_id), &b_admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(b_admin_user["active"], true);
    let b_technician = app
        .get(&format!("/v1/technicians/{}", b.technician), &b_admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(b_technician["capacity"], 5);
    let b_ticket = app
        .get(&format!("/v1/tickets/{}", b.ticket), &b_admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(b_ticket["title"], "Bravo ticket");
    assert_eq!(b_ticket["status"], "assigned");
    assert_eq!(b_ticket["assignee_id"], json!(b.technician));
    assert_eq!(
        listed_ids(
            &app,
            &format!("/v1/tickets/{}/comments", b.ticket),
            &b_admin
        )
        .await,
        [b.comment]
    );
    let b_audit_after = app
        .get("/v1/audit?limit=200", &b_admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(b_audit_after, b_audit_before, "B's audit log changed");
    let b_verify = app
        .get("/v1/audit/verify", &b_admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(b_verify["valid"], true, "{b_verify}");
    raw.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 4. The audit log through the API

async fn audit_log_through_the_api(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("ledger").await; // 1 tenant.create, 2 user.create
    let other = app.create_tenant("other-ledger").await;
    let admin = tenant.admin_token.clone();
    let (dispatcher_id, dispatcher) = app
        .create_user(&tenant, "dispatch@ledger.test", "dispatcher")
        .await; // 3
    let customer = created_id(
        &app,
        &dispatcher,
        "/v1/customers",
        json!({"name": "Ledger Co"}),
    )
    .await; // 4
    let category = created_id(&app, &admin, "/v1/categories", json!({"name": "plumbing"})).await; // 5
    let site = created_id(
        &app,
        &dispatcher,
        "/v1/sites",
        site_body(customer, "Ledger"),
    )
    .await; // 6

    let expected: [(i64, &str, Option<Uuid>, Option<Uuid>); 6] = [
        (1, "tenant.create", None, Some(tenant.id)),
        (2, "user.create", None, Some(tenant.admin_id)),
        (3, "user.create", Some(tenant.admin_id), Some(dispatcher_id)),
        (4, "customer.create", Some(dispatcher_id), Some(customer)),
        (5, "category.create", Some(tenant.admin_id), Some(category)),
        (6, "site.create", Some(dispatcher_id), Some(site)),
    ];
    let page = app.get("/v1/audit", &admin).await.expect(StatusCode::OK);
    let entries = page["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), expected.len(), "{page}");
    assert_eq!(page["next_after_seq"], Value::Null, "{page}");
    let mut prev_hash: Option<&Value> = None;
    for (entry, (seq, action, actor, entity)) in entries.iter().zip(expected) {
        assert_eq!(entry["seq"], seq, "{entry}");
        assert_eq!(entry["action"], action, "{entry}");
        assert_eq!(entry["actor_id"], json!(actor), "{entry}");
        assert_eq!(entry["entity_id"], json!(entity), "{entry}");
        assert_eq!(entry["tenant_id"], json!(tenant.id), "{entry}");
        if let Some(prev_hash) = prev_hash {
            assert_eq!(&entry["prev_hash"], prev_hash, "the chain links {entry}");
        }
        prev_hash = Some(&entry["hash"]);
    }
    let after: Value = entries[3]["after"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .expect("customer.create records the customer as JSON");
    assert_eq!(after["name"], "Ledger Co");

    // Paging by two with after_seq walks the same entries once each.
    let mut walked = Vec::new();
    let mut after_seq = 0;
    let mut pages = 0;
    loop {
        let page = app
            .get(&format!("/v1/audit?limit=2&after_seq={after_seq}"), &admin)
            .await
            .expect(StatusCode::OK);
        pages += 1;
        assert!(pages <= 10, "paging does not end: {page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2, "{page}");
        walked.extend(items);
        match page["next_after_seq"].as_i64() {
            Some(next) => {
                assert!(next > after_seq, "{page}");
                after_seq = next;
            }
            None => break,
        }
    }
    assert_eq!(walked, entries, "the pages add up to the whole log");
    let second = app
        .get("/v1/audit?limit=2&after_seq=2", &admin)
        .await
        .expect(StatusCode::OK);
    let seqs: Vec<_> = second["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["seq"].clone())
        .collect();
    assert_eq!(seqs, [json!(3), json!(4)]);
    assert_eq!(second["next_after_seq"], 4);
    for bad in ["limit=0", "limit=201"] {
        app.get(&format!("/v1/audit?{bad}"), &admin)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    app.get("/v1/audit?cursor=abc", &admin)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "malformed-request");

    // The chain verifies; then someone edits entry 2 behind the API's back.
    let report = app
        .get("/v1/audit/verify", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries"], 6, "{report}");
    assert_eq!(report["broken_at_seq"], Value::Null, "{report}");

    let raw = app.db.raw().await;
    let changed = raw
        .execute(
            r#"UPDATE audit_log SET after = '{"x":1}' WHERE tenant_id = $1 AND seq = 2"#,
            &[tenant.id],
        )
        .await;
    assert_eq!(changed, 1);
    raw.close().await;

    let report = app
        .get("/v1/audit/verify", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["broken_at_seq"], 2, "{report}");
    assert_eq!(report["entries"], 6, "{report}");
    assert!(
        report["problem"].as_str().is_some_and(|p| !p.is_empty()),
        "{report}"
    );
    let tampered = app
        .get("/v1/audit?limit=1&after_seq=1", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(tampered["items"][0]["after"], r#"{"x":1}"#, "{tampered}");

    // The other tenant's chain is its own and still intact.
    let report = app
        .get("/v1/audit/verify", &other.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries"], 2, "{report}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 5. Authentication

async fn requests_without_a_valid_token_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("gate").await;
    let admin = tenant.admin_token.clone();
    let (_, technician) = app
        .create_user(&tenant, "tech@gate.test", "technician")
        .await;
    let ticket_path = format!("/v1/tickets/{}", Uuid::now_v7());
    let user_path = format!("/v1/users/{}", tenant.admin_id);

    // The technician's claims with the admin's signature: a forged role.
    let forged = {
        let (claims, _) = technician.rsplit_once('.').expect("a JWT");
        let (_, signature) = admin.rsplit_once('.').expect("a JWT");
        format!("{claims}.{signature}")
    };
    let garbage = "not-a-token";
    let cases: [(&str, Option<String>); 5] = [
        ("no Authorization header", None),
        ("garbage bearer token", Some(format!("Bearer {garbage}"))),
        ("empty bearer token", Some("Bearer ".to_owned())),
        ("forged signature", Some(format!("Bearer {forged}"))),
        (
            "Basic credentials",
            Some("Basic YWRtaW46cGFzc3dvcmQ=".to_owned()),
        ),
    ];
    let requests: [(Method, &str, Option<Value>); 8] = [
        (GET, "/v1/me", None),
        (GET, "/v1/tickets", None),
        (GET, ticket_path.as_str(), None),
        (POST, "/v1/tickets", Some(json!({"title": "x"}))),
        (
            PATCH,
            user_path.as_str(),
            Some(json!({"role": "technician"})),
        ),
        (GET, "/v1/audit", None),
        (GET, "/v1/audit/verify", None),
        (
            POST,
            "/v1/devices",
            Some(json!({"platform": "web", "actor_id": "abcd"})),
        ),
    ];
    let mut failures = Vec::new();
    for (what, authorization) in &cases {
        for (method, path, body) in &requests {
            let headers: Vec<(&str, &str)> = authorization
                .as_deref()
                .map(|value| ("authorization", value))
                .into_iter()
                .collect();
            let reply = app
                .send_with(method.clone(), path, None, body.as_ref(), &headers)
                .await;
            let challenge = reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if reply.status != StatusCode::UNAUTHORIZED
                || !is_problem(&reply, "unauthorized")
                || challenge != "Bearer"
                || reply.body["detail"].as_str().is_none_or(str::is_empty)
            {
                failures.push(format!(
                    "{what}: {method} {path} → {} (WWW-Authenticate: {challenge:?}) {}",
                    reply.status, reply.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "not refused with 401:\n{}",
        failures.join("\n")
    );

    // A malformed body does not get past the missing token either.
    let reply = app
        .send_with(
            POST,
            "/v1/tickets",
            None,
            None,
            &[("content-type", "application/json")],
        )
        .await;
    reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // A wrong password is a 401 with the same challenge.
    let reply = app
        .send(
            POST,
            "/v1/auth/login",
            None,
            Some(&json!({"tenant": "gate", "email": "admin@gate.test", "password": "wrong-password!"})),
        )
        .await;
    reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        reply
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );

    // Nothing above changed anything; the real tokens still work.
    let me = app.get("/v1/me", &admin).await.expect(StatusCode::OK);
    assert_eq!(me["role"], "admin");
    let me = app.get("/v1/me", &technician).await.expect(StatusCode::OK);
    assert_eq!(me["role"], "technician");
    app.get("/v1/audit", &technician)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let report = app
        .get("/v1/audit/verify", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(report["valid"], true);
    assert_eq!(
        report["entries"], 3,
        "only tenant, admin and technician: {report}"
    );
    app.stop().await;
}
