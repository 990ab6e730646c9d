//! The in-process bus: one `tokio` broadcast channel.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::broadcast;
use uuid::Uuid;

use super::{BusMessage, CHANNEL_CAPACITY, Delivery, Event, EventBus, Subscription};

#[derive(Debug)]
pub struct MemoryBus {
    replica_id: Uuid,
    sender: broadcast::Sender<BusMessage>,
    published: AtomicU64,
}

impl MemoryBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            replica_id: Uuid::now_v7(),
            sender,
            published: AtomicU64::new(0),
        }
    }

    /// Hands `message` to every subscriber (none listening is fine).
    pub(crate) fn deliver(&self, message: BusMessage) {
        let _ = self.sender.send(message);
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for MemoryBus {
    fn replica_id(&self) -> Uuid {
        self.replica_id
    }

    fn publish(&self, event: Event) {
        self.deliver(BusMessage::Event(Arc::new(Delivery {
            origin: self.replica_id,
            number: self.published.fetch_add(1, Ordering::Relaxed) + 1,
            event,
        })));
    }

    fn subscribe(&self) -> Subscription {
        Subscription::new(self.sender.subscribe())
    }
}
