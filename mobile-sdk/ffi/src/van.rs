//! The technician's van stock across the boundary (issue 23): the SDK's
//! `Client::van_stock`, readable offline, less what this phone's part
//! entries used since the server's copy was fetched.

use truckroll_sdk::van;

use crate::{Phone, PhoneError};

/// One part in the van.
#[derive(Debug, uniffi::Record)]
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
#[derive(Debug, uniffi::Record)]
pub struct VanStock {
    pub lines: Vec<VanLine>,
    /// Fetched from the server just now; `false`: the phone's copy.
    pub from_server: bool,
    /// When the server's copy was fetched (device clock, ms); `None`: never.
    pub fetched_at_ms: Option<i64>,
}

impl From<van::VanStock> for VanStock {
    fn from(stock: van::VanStock) -> Self {
        Self {
            lines: stock
                .lines
                .into_iter()
                .map(|l| VanLine {
                    part_number: l.part_number,
                    name: l.name,
                    unit: l.unit,
                    server_quantity: l.server_quantity,
                    used_locally: l.used_locally,
                    quantity: l.quantity,
                })
                .collect(),
            from_server: stock.from_server,
            fetched_at_ms: stock.fetched_at_ms,
        }
    }
}

#[uniffi::export]
impl Phone {
    /// The van's stock: from the server when online (kept for offline
    /// reading), otherwise as last fetched; either way less what this
    /// phone's part entries used since.
    pub fn van_stock(&self) -> Result<VanStock, PhoneError> {
        Ok(self.runtime.block_on(self.client.van_stock())?.into())
    }
}
