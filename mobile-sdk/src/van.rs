//! The technician's van stock (issue 23), readable offline: the server's
//! balances (`GET /v1/me/van`, kept in `meta` for offline reading) less
//! what the phone's own part entries use that the server has not consumed
//! yet — so a part added offline shows at once as used.
//!
//! The server answers, with the balances, what it has consumed per part
//! entry of the technician's open tickets (`entries`); a local entry uses
//! its quantity less that. Corrections the office made arrive with the
//! ticket's document and count the same way.

use std::collections::HashMap;

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::Client;
use crate::error::{SdkError, SdkResult};
use crate::store;

const META_VAN: &str = "van_stock";

/// One part in the van.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VanLine {
    pub part_number: String,
    pub name: String,
    pub unit: String,
    /// The server's balance when last fetched.
    pub server_quantity: f64,
    /// Used by part entries on this phone the server had not consumed then.
    pub used_locally: f64,
    /// What the van holds now, as far as the phone knows.
    pub quantity: f64,
}

/// The van as the phone knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VanStock {
    pub lines: Vec<VanLine>,
    /// Fetched from the server just now; `false`: the phone's copy.
    pub from_server: bool,
    /// When the server's copy was fetched (device clock); `None`: never.
    pub fetched_at_ms: Option<i64>,
}

fn thousandths(quantity: f64) -> i64 {
    (quantity * 1000.0).round() as i64
}

impl Client {
    /// The van's stock: from the server when online (kept for offline
    /// reading), otherwise as last fetched; either way less what this
    /// phone's part entries used since.
    pub async fn van_stock(&self) -> SdkResult<VanStock> {
        let now = self.clock.now_ms();
        let fetched = match self.call(Method::GET, "/v1/me/van", None, None).await {
            Ok(reply) if reply.ok() => Some(reply.body),
            Ok(reply) if reply.retryable() => None,
            Ok(reply) => return Err(reply.into_error()),
            Err(SdkError::Transport(_)) => None,
            Err(e) => return Err(e),
        };
        let mut local = self.local.lock().await;
        let from_server = fetched.is_some();
        if let Some(body) = fetched {
            let kept = serde_json::json!({"fetched_at_ms": now, "van": body});
            store::set_meta(&mut local.conn, META_VAN, &kept.to_string()).await?;
        }
        let Some(kept) = store::meta(&mut local.conn, META_VAN).await? else {
            return Ok(VanStock {
                lines: Vec::new(),
                from_server,
                fetched_at_ms: None,
            });
        };
        let kept: Value = serde_json::from_str(&kept).unwrap_or(Value::Null);
        let van = &kept["van"];
        // What the server consumed per (ticket, entry) when it answered.
        let consumed: HashMap<(String, String), i64> = van["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    (
                        e["ticket_id"].as_str()?.to_owned(),
                        e["entry_id"].as_str()?.to_owned(),
                    ),
                    thousandths(e["consumed"].as_f64()?),
                ))
            })
            .collect();
        let mut used: HashMap<String, i64> = HashMap::new();
        for ticket in store::doc_ids(&mut local.conn).await? {
            let entry = local.doc(&ticket).await?;
            for part in entry.doc.parts() {
                let server = consumed
                    .get(&(ticket.clone(), part.id.clone()))
                    .copied()
                    .unwrap_or(0);
                *used.entry(part.part_number).or_default() += thousandths(part.quantity) - server;
            }
        }
        let lines = van["balances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| {
                let part_number = b["part_number"].as_str()?.to_owned();
                let server = thousandths(b["quantity"].as_f64()?);
                let local_use = used.get(&part_number).copied().unwrap_or(0);
                Some(VanLine {
                    name: b["part_name"].as_str().unwrap_or_default().to_owned(),
                    unit: b["unit"].as_str().unwrap_or_default().to_owned(),
                    server_quantity: server as f64 / 1000.0,
                    used_locally: local_use as f64 / 1000.0,
                    quantity: (server - local_use) as f64 / 1000.0,
                    part_number,
                })
            })
            .collect();
        Ok(VanStock {
            lines,
            from_server,
            fetched_at_ms: kept["fetched_at_ms"].as_i64(),
        })
    }
}
