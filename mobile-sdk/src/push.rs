//! The push token: the app gives the SDK the token its push provider
//! issued (FCM, APNs) whenever it gets a new one. The SDK registers it with
//! the device at sign-in, sends a rotation with `PATCH /v1/devices/{id}`
//! (at once when online, otherwise with the next flush), and clears it on
//! the server at sign-out.
//!
//! Two values are kept: the token the app gave last, and the one the
//! server is known to hold for this device; a flush sends the first when
//! they differ.

use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use crate::error::SdkResult;
use crate::{Client, store};

const META_TOKEN: &str = "push_token";
const META_ON_SERVER: &str = "push_token_on_server";

/// The push token as the phone knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushTokenState {
    /// The token the app gave last (`None`: none, or cleared).
    pub token: Option<String>,
    /// The server holds this token for the device.
    pub on_server: bool,
}

/// What signing out did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignedOut {
    /// The server cleared the device's push token (`false` when offline or
    /// there was none: no push reaches this phone for the old user only
    /// once the provider reports the token gone or it is rotated).
    pub push_token_cleared: bool,
}

fn encode(token: Option<&str>) -> String {
    json!({ "token": token }).to_string()
}

async fn read(conn: &mut sqlx::SqliteConnection, key: &str) -> SdkResult<Option<Option<String>>> {
    Ok(store::meta(conn, key).await?.map(|text| {
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
    }))
}

/// The token to register a new device with (at sign-in).
pub(crate) async fn registration_token(
    conn: &mut sqlx::SqliteConnection,
) -> SdkResult<Option<String>> {
    Ok(read(conn, META_TOKEN).await?.flatten())
}

/// Records that a device was just registered with `token`.
pub(crate) async fn registered_with(
    conn: &mut sqlx::SqliteConnection,
    token: Option<&str>,
) -> SdkResult<()> {
    store::set_meta(conn, META_ON_SERVER, &encode(token)).await
}

impl Client {
    /// The push token and whether the server has it.
    pub async fn push_token(&self) -> SdkResult<PushTokenState> {
        let mut local = self.local.lock().await;
        let token = read(&mut local.conn, META_TOKEN).await?.flatten();
        let on_server = read(&mut local.conn, META_ON_SERVER).await?;
        Ok(PushTokenState {
            on_server: on_server.as_ref() == Some(&token) && token.is_some(),
            token,
        })
    }

    /// Sets (or rotates, or with `None` clears) the push token. Stored at
    /// once; sent to the server now when online and signed in, otherwise
    /// with the next flush (or registered with the device at sign-in).
    pub async fn set_push_token(&self, token: Option<&str>) -> SdkResult<PushTokenState> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        if token.is_some_and(|t| t.chars().count() > 4096) {
            return Err(crate::SdkError::Invalid(
                "a push token is at most 4096 characters".into(),
            ));
        }
        {
            let mut local = self.local.lock().await;
            store::set_meta(&mut local.conn, META_TOKEN, &encode(token)).await?;
        }
        if self.session().await?.is_some()
            && let Err(e) = self.flush_push_token().await
        {
            tracing::info!(error = %e, "push token stays queued");
        }
        self.push_token().await
    }

    /// Sends the token when the server's differs. Returns whether it sent.
    pub(crate) async fn flush_push_token(&self) -> SdkResult<bool> {
        let Some(session) = self.session().await? else {
            return Ok(false);
        };
        let (wanted, on_server) = {
            let mut local = self.local.lock().await;
            (
                read(&mut local.conn, META_TOKEN).await?,
                read(&mut local.conn, META_ON_SERVER).await?,
            )
        };
        // Never set by the app: nothing to send.
        let Some(wanted) = wanted else {
            return Ok(false);
        };
        if on_server.as_ref() == Some(&wanted) {
            return Ok(false);
        }
        self.patch_device_token(&session.device_id, wanted.as_deref())
            .await?;
        let mut local = self.local.lock().await;
        store::set_meta(&mut local.conn, META_ON_SERVER, &encode(wanted.as_deref())).await?;
        Ok(true)
    }

    async fn patch_device_token(&self, device_id: &str, token: Option<&str>) -> SdkResult<()> {
        let reply = self
            .call(
                Method::PATCH,
                &format!("/v1/devices/{device_id}"),
                Some(&json!({ "push_token": token })),
                None,
            )
            .await?;
        if reply.ok() {
            Ok(())
        } else {
            Err(reply.into_error())
        }
    }

    /// Signs out: clears the device's push token on the server (when
    /// online), then forgets the tokens. The documents, outboxes and
    /// quarantine stay; the app's push token stays too, registered again
    /// at the next sign-in.
    pub async fn sign_out(&self) -> SdkResult<SignedOut> {
        let mut cleared = false;
        if let Some(session) = self.session().await? {
            let on_server = {
                let mut local = self.local.lock().await;
                read(&mut local.conn, META_ON_SERVER).await?.flatten()
            };
            if on_server.is_some() {
                match self.patch_device_token(&session.device_id, None).await {
                    Ok(()) => {
                        cleared = true;
                        let mut local = self.local.lock().await;
                        store::set_meta(&mut local.conn, META_ON_SERVER, &encode(None)).await?;
                    }
                    Err(e) => tracing::info!(error = %e, "push token not cleared on the server"),
                }
            }
        }
        let mut local = self.local.lock().await;
        store::delete_meta(&mut local.conn, crate::META_SESSION).await?;
        Ok(SignedOut {
            push_token_cleared: cleared,
        })
    }
}
