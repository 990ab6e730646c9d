//! Sign-in: refresh tokens rotate and detect reuse; logins are rate limited.

use super::*;

backend_tests!(
    refresh_tokens_rotate_and_detect_reuse,
    login_is_rate_limited_per_account,
);

// ---------------------------------------------------------------------------
// 5. Refresh tokens

async fn refresh_tokens_rotate_and_detect_reuse(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("tokens").await;

    let first = login(&app, "tokens", "admin@tokens.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let r1 = str_of(&first, "refresh_token");

    let second = refresh(&app, &r1).await.expect(StatusCode::OK);
    let r2 = str_of(&second, "refresh_token");
    assert_ne!(r2, r1, "refresh tokens rotate");
    assert_eq!(second["token_type"], "Bearer");
    let me = app
        .get("/v1/me", &str_of(&second, "access_token"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&me, "id"), tenant.admin_id);

    let third = refresh(&app, &r2).await.expect(StatusCode::OK);
    let r3 = str_of(&third, "refresh_token");

    // r1 comes back: someone kept a copy. The whole family dies.
    let reused = refresh(&app, &r1).await;
    reused.expect_problem(StatusCode::UNAUTHORIZED, "/refresh-token-reused");
    assert_eq!(header(&reused.headers, "www-authenticate"), Some("Bearer"));
    refresh(&app, &r3)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    refresh(&app, &r2)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/refresh-token-reused");

    // Unknown tokens.
    for garbage in ["garbage", "", "' OR 1=1 --"] {
        refresh(&app, garbage)
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    }
    // A fresh login starts a new, working family.
    let fresh = login(&app, "tokens", "admin@tokens.test", PASSWORD)
        .await
        .expect(StatusCode::OK);

    // A new password ends every session of that user.
    let (user_id, _) = app
        .create_user(&tenant, "disp@tokens.test", "dispatcher")
        .await;
    let session = login(&app, "tokens", "disp@tokens.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let other_session = login(&app, "tokens", "disp@tokens.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let rotated = refresh(&app, &str_of(&other_session, "refresh_token"))
        .await
        .expect(StatusCode::OK);
    app.patch(
        &format!("/v1/users/{user_id}"),
        &tenant.admin_token,
        &json!({"password": "a-brand-new-password"}),
    )
    .await
    .expect(StatusCode::OK);
    for token in [
        str_of(&session, "refresh_token"),
        str_of(&rotated, "refresh_token"),
    ] {
        refresh(&app, &token)
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    }
    login(&app, "tokens", "disp@tokens.test", PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    let renewed = login(&app, "tokens", "disp@tokens.test", "a-brand-new-password")
        .await
        .expect(StatusCode::OK);
    refresh(&app, &str_of(&renewed, "refresh_token"))
        .await
        .expect(StatusCode::OK);
    // The admin's session is untouched by that.
    let admin_again = refresh(&app, &str_of(&fresh, "refresh_token"))
        .await
        .expect(StatusCode::OK);
    app.get("/v1/me", &str_of(&admin_again, "access_token"))
        .await
        .expect(StatusCode::OK);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 6. Login rate limiting

async fn login_is_rate_limited_per_account(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.auth.login_per_account_per_minute = 3;
        config.auth.login_per_address_per_minute = 10_000;
    })
    .await;
    let tenant = app.create_tenant("limits").await;
    // Created without signing in, so the account's quota is untouched.
    app.post(
        "/v1/users",
        &tenant.admin_token,
        &json!({"email": "victim@limits.test", "name": "Victim", "role": "dispatcher", "password": PASSWORD}),
    )
    .await
    .expect(StatusCode::CREATED);

    for attempt in 1..=3 {
        let reply = login(&app, "limits", "victim@limits.test", "wrong-password-123").await;
        assert!(
            header(&reply.headers, "retry-after").is_none(),
            "attempt {attempt}"
        );
        reply.expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    }
    let limited = login(&app, "limits", "victim@limits.test", "wrong-password-123").await;
    limited.expect_problem(StatusCode::TOO_MANY_REQUESTS, "/rate-limited");
    let retry_after: u64 = header(&limited.headers, "retry-after")
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // The right password does not help, nor does shouting the email.
    login(&app, "limits", "victim@limits.test", PASSWORD)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "/rate-limited");
    login(&app, "limits", "VICTIM@Limits.Test", PASSWORD)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "/rate-limited");

    // Another account from the same address is judged on its own.
    login(&app, "limits", "admin@limits.test", "wrong-password-123")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    login(&app, "limits", "admin@limits.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    app.stop().await;
}
