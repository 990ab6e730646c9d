//! The default notifier: writes each message to the log instead of a phone.

use async_trait::async_trait;

use super::{Notifier, PushError, PushMessage, PushOutcome, redact_token};

/// Logs every message (token redacted) and reports it delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn send(&self, message: &PushMessage) -> Result<PushOutcome, PushError> {
        tracing::info!(
            push = %message.id,
            token = %redact_token(&message.token),
            title = %message.title,
            body = %message.body,
            data = ?message.data,
            "push notification (log provider)"
        );
        Ok(PushOutcome::Delivered)
    }
}
