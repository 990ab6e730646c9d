//! Availability: the technician says from the phone whether dispatch may
//! offer them work — available, on a break, or off duty
//! (`PUT /v1/me/availability`). The choice is stored at once and sent now
//! when online, otherwise with the next flush; the last choice wins.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::SdkResult;
use crate::{Client, store};

const META_AVAILABILITY: &str = "availability";

/// What the technician sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Dispatch may offer and suggest work.
    Available,
    /// A pause in the shift: no offers, no suggestions.
    OnBreak,
    /// Not working: no offers, no suggestions.
    OffDuty,
}

/// The technician's availability as the phone knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityState {
    pub status: Availability,
    /// When it was set on the phone (device clock).
    pub set_at_ms: i64,
    /// The server has it.
    pub on_server: bool,
}

impl Client {
    /// The last availability set on this phone (`None`: never set here).
    pub async fn availability(&self) -> SdkResult<Option<AvailabilityState>> {
        let mut local = self.local.lock().await;
        Ok(store::meta(&mut local.conn, META_AVAILABILITY)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Sets the availability: stored at once, sent now when online.
    pub async fn set_availability(&self, status: Availability) -> SdkResult<AvailabilityState> {
        let state = AvailabilityState {
            status,
            set_at_ms: self.clock.now_ms(),
            on_server: false,
        };
        {
            let mut local = self.local.lock().await;
            store::set_meta(
                &mut local.conn,
                META_AVAILABILITY,
                &serde_json::to_string(&state).unwrap_or_default(),
            )
            .await?;
        }
        self.wake.notify_one();
        if let Err(e) = self.flush_availability().await {
            tracing::info!(error = %e, "availability stays queued");
        }
        Ok(self.availability().await?.unwrap_or(state))
    }

    /// Sends the availability if the server lacks it. Returns whether it sent.
    pub(crate) async fn flush_availability(&self) -> SdkResult<bool> {
        let Some(state) = self.availability().await? else {
            return Ok(false);
        };
        if state.on_server {
            return Ok(false);
        }
        let reply = self
            .call(
                Method::PUT,
                "/v1/me/availability",
                Some(&json!({ "status": state.status })),
                None,
            )
            .await?;
        if !reply.ok() {
            return Err(reply.into_error());
        }
        let mut local = self.local.lock().await;
        // Only if nothing newer was set meanwhile.
        let current: Option<AvailabilityState> = store::meta(&mut local.conn, META_AVAILABILITY)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok());
        if current == Some(state) {
            let sent = AvailabilityState {
                on_server: true,
                ..state
            };
            store::set_meta(
                &mut local.conn,
                META_AVAILABILITY,
                &serde_json::to_string(&sent).unwrap_or_default(),
            )
            .await?;
        }
        Ok(true)
    }
}
