//! PostgreSQL's warnings about transaction state, as the server's database
//! driver logs them.
//!
//! sqlx logs every `NoticeResponse` as a `tracing` event with target
//! `sqlx::postgres::notice`. A connection that went back to the pool inside
//! a transaction shows up there as "there is already a transaction in
//! progress" (the next `BEGIN` on it) or "there is no transaction in
//! progress" (a `ROLLBACK` or `COMMIT` after the transaction ended). The
//! collector is process-wide (the tests share one process, and such a
//! warning is a bug whichever test causes it); it records only those two.

use std::sync::{Mutex, OnceLock};

use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{Layer, filter::Targets, layer::Context, prelude::*};

const TARGET: &str = "sqlx::postgres::notice";

/// Messages that mean a pooled connection's transaction state was wrong.
const TRANSACTION_STATE: [&str; 2] = [
    "there is already a transaction in progress",
    "there is no transaction in progress",
];

static SEEN: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

fn seen() -> &'static Mutex<Vec<String>> {
    SEEN.get_or_init(|| Mutex::new(Vec::new()))
}

/// Starts collecting (once per process). Returns false when another global
/// subscriber was installed first, in which case nothing is collected.
pub fn collect() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let layer =
            Collector.with_filter(Targets::new().with_target(TARGET, tracing::Level::TRACE));
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .is_ok()
    })
}

/// Every transaction-state warning logged so far in this process.
pub fn transaction_state_warnings() -> Vec<String> {
    seen().lock().map(|v| v.clone()).unwrap_or_default()
}

struct Collector;

impl<S: Subscriber> Layer<S> for Collector {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = MessageField(None);
        event.record(&mut message);
        if let Some(message) = message.0
            && TRANSACTION_STATE.iter().any(|m| message.contains(m))
            && let Ok(mut seen) = seen().lock()
        {
            seen.push(message);
        }
    }
}

struct MessageField(Option<String>);

impl tracing::field::Visit for MessageField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && self.0.is_none() {
            self.0 = Some(format!("{value:?}"));
        }
    }
}
