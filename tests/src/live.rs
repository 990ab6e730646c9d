//! A live-map client for `GET /v1/live`, as a dispatcher's browser would be.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A generous cap on waiting for a message; a healthy server answers in
/// milliseconds, so reaching it means the message is not coming.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Map bounds: south, west, north, east.
pub type Bounds = (f64, f64, f64, f64);

#[derive(Debug)]
pub struct LiveClient {
    pub socket: Socket,
}

/// `ws://…/v1/live?access_token=…[&south=…]`.
pub fn live_url(base_url: &str, token: &str, bounds: Option<Bounds>) -> String {
    let mut url = format!(
        "{}/v1/live?access_token={token}",
        base_url.replacen("http://", "ws://", 1)
    );
    if let Some((south, west, north, east)) = bounds {
        url.push_str(&format!(
            "&south={south}&west={west}&north={north}&east={east}"
        ));
    }
    url
}

impl LiveClient {
    pub async fn connect(base_url: &str, token: &str, bounds: Option<Bounds>) -> Self {
        Self::connect_url(&live_url(base_url, token, bounds)).await
    }

    /// Reconnects asking to resume after `cursor` (cursors are URL-safe).
    pub async fn resume(base_url: &str, token: &str, bounds: Option<Bounds>, cursor: &str) -> Self {
        Self::connect_url(&format!(
            "{}&since={cursor}",
            live_url(base_url, token, bounds)
        ))
        .await
    }

    pub async fn connect_url(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
        Self { socket }
    }

    /// The next JSON message, heartbeats included.
    pub async fn next_any(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("no live message within the patience cap")?;
            match message.ok()? {
                Message::Text(text) => {
                    return Some(
                        serde_json::from_str(text.as_str()).expect("live messages are JSON"),
                    );
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The next JSON message other than a heartbeat; `None` when the server
    /// closed the stream.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("no live message within the patience cap")?;
            match message.ok()? {
                Message::Text(text) => {
                    let value: Value =
                        serde_json::from_str(text.as_str()).expect("live messages are JSON");
                    if value["type"] != "heartbeat" {
                        return Some(value);
                    }
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Reads until a message satisfies `wanted`, and returns it; every
    /// message read on the way is handed to `seen` first.
    pub async fn until(
        &mut self,
        mut seen: impl FnMut(&Value),
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        loop {
            let message = self.next().await.expect("the live stream ended");
            seen(&message);
            if wanted(&message) {
                return message;
            }
        }
    }

    /// The first snapshot.
    pub async fn snapshot(&mut self) -> Value {
        self.until(|_| {}, |m| m["type"] == "snapshot").await
    }

    pub async fn set_bounds(&mut self, (south, west, north, east): Bounds) {
        let message =
            json!({"type": "bounds", "south": south, "west": west, "north": north, "east": east});
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send bounds");
    }
}

/// Whether `message` (snapshot or delta) carries the technician `id`,
/// returning its record.
pub fn technician_in(message: &Value, id: &str) -> Option<Value> {
    message["technicians"]
        .as_array()?
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
}

pub fn ticket_in(message: &Value, id: &str) -> Option<Value> {
    message["tickets"]
        .as_array()?
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
}
