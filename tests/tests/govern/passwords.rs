//! Password policy (length, not only whitespace, not a common password),
//! the current password to change one's own, and lock-outs a stranger
//! cannot trigger: failures slow down only their (account, address) pair.

use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, Reply, TestApp},
    fixtures::error_fields,
};

backend_tests!(
    weak_passwords_are_refused,
    changing_ones_own_password_needs_the_current_one,
    a_stranger_cannot_lock_the_owner_out,
);

async fn weak_passwords_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("weak").await;
    let admin = &tenant.admin_token;
    for (i, password) in [
        "          ",
        "\t\t\t\t\t  \n   ",
        "password1234",
        "Password1234 ",
        "1234567890",
    ]
    .into_iter()
    .enumerate()
    {
        let reply = app
            .post(
                "/v1/users",
                admin,
                &json!({"email": format!("u{i}@weak.test"), "name": "U", "role": "dispatcher", "password": password}),
            )
            .await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        assert_eq!(
            error_fields(&reply),
            ["password"],
            "{password:?}: {}",
            reply.body
        );
    }
    let (user, _) = app.create_user(&tenant, "ok@weak.test", "dispatcher").await;
    let reply = app
        .post(
            &format!("/v1/users/{user}/password"),
            admin,
            &json!({"new_password": "           "}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), ["new_password"]);
    app.stop().await;
}

async fn changing_ones_own_password_needs_the_current_one(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("own").await;
    let (admin_id, admin) = (tenant.admin_id, tenant.admin_token.clone());
    let path = format!("/v1/users/{admin_id}");
    let new = "a-fresh-long-passphrase";
    let reply = app.patch(&path, &admin, &json!({"password": new})).await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), ["current_password"]);
    let reply = app
        .patch(
            &path,
            &admin,
            &json!({"password": new, "current_password": "not-the-password"}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let reply = app
        .post(
            &format!("{path}/password"),
            &admin,
            &json!({"new_password": new}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.patch(
        &path,
        &admin,
        &json!({"password": new, "current_password": PASSWORD}),
    )
    .await
    .expect(StatusCode::OK);
    let body = json!({"tenant": "own", "email": "admin@own.test", "password": new});
    super::login_with(&app, &body).await.expect(StatusCode::OK);
    // Another user's password (an admin's reset) needs no current password.
    let (user, _) = app
        .create_user(&tenant, "desk@own.test", "dispatcher")
        .await;
    app.post(
        &format!("/v1/users/{user}/password"),
        &admin,
        &json!({"new_password": "another-long-passphrase"}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.stop().await;
}

async fn login_from(app: &TestApp, from: [u8; 4], password: &str) -> Reply {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .build()
        .expect("client");
    let response = client
        .post(format!("{}/v1/auth/login", app.base_url))
        .json(&json!({"tenant": "lock", "email": "admin@lock.test", "password": password}))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

async fn a_stranger_cannot_lock_the_owner_out(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        // The production defaults for attempts per minute.
        config.auth.login_per_account_per_minute = 10;
        config.auth.login_per_address_per_minute = 60;
        config.auth.login_failures_before_delay = 3;
        config.auth.login_delay_base_ms = 60_000;
    })
    .await;
    app.create_tenant("lock").await;
    let stranger = [127, 0, 0, 2];
    let owner = [127, 0, 0, 1];
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            login_from(&app, stranger, "guess-guess-guess")
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..3], [401, 401, 401], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    let waiting = login_from(&app, stranger, PASSWORD).await;
    assert_eq!(
        waiting.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger's pair waits"
    );
    let retry_after: u64 = waiting
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The owner, from their own address, is not locked out.
    login_from(&app, owner, PASSWORD)
        .await
        .expect(StatusCode::OK);
    app.stop().await;
}
