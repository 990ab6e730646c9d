//! The progress page's secrets: signed direct links in messages, the
//! short-lived bearer the page holds once in, and the hash codes are kept
//! under. One HMAC-SHA256 key (`notify.link_secret`), a different label per
//! use so one kind of token never passes for another.

use std::sync::OnceLock;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC a token carries (128 bits).
const TAG_BYTES: usize = 16;

#[derive(Clone)]
pub struct ProgressKey(Vec<u8>);

impl std::fmt::Debug for ProgressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressKey(<redacted>)")
    }
}

/// The key of this process when none is configured, shared by the HTTP
/// side and the notify workers so the links they make and check agree.
fn process_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut bytes = vec![0u8; 32];
        if getrandom::fill(&mut bytes).is_err() {
            // Only on platforms without an entropy source; a per-process
            // key from the clock and address space is still unguessable
            // enough for links that die with the process.
            let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &bytes);
            bytes = <Sha256 as sha2::Digest>::digest(seed.as_bytes()).to_vec();
        }
        bytes
    })
}

impl ProgressKey {
    /// `secret` empty: a random key per process start (links stop working
    /// after a restart).
    pub fn new(secret: &str) -> Self {
        if secret.is_empty() {
            Self(process_key().to_vec())
        } else {
            Self(secret.as_bytes().to_vec())
        }
    }

    fn tag(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(label);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The direct link's token for one ticket of one tenant.
    pub fn link_token(&self, tenant_id: Uuid, ticket_id: Uuid) -> String {
        let mut bytes = Vec::with_capacity(32 + TAG_BYTES);
        bytes.extend_from_slice(tenant_id.as_bytes());
        bytes.extend_from_slice(ticket_id.as_bytes());
        let tag = self.tag(b"link", &[&bytes]);
        bytes.extend_from_slice(&tag[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// (tenant, ticket) of a genuine link token.
    pub fn open_link(&self, token: &str) -> Option<(Uuid, Uuid)> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if bytes.len() != 32 + TAG_BYTES {
            return None;
        }
        let (body, tag) = bytes.split_at(32);
        let expected = self.tag(b"link", &[body]);
        if !constant_time_eq(tag, &expected[..TAG_BYTES]) {
            return None;
        }
        Some(ids(body))
    }

    /// A bearer for the public endpoints of one ticket, valid until `expires_at`.
    pub fn session_token(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> String {
        let mut bytes = Vec::with_capacity(40 + TAG_BYTES);
        bytes.extend_from_slice(tenant_id.as_bytes());
        bytes.extend_from_slice(ticket_id.as_bytes());
        bytes.extend_from_slice(&expires_at.timestamp().to_be_bytes());
        let tag = self.tag(b"session", &[&bytes]);
        bytes.extend_from_slice(&tag[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// (tenant, ticket) of a genuine bearer that has not expired at `now`.
    pub fn open_session(&self, token: &str, now: DateTime<Utc>) -> Option<(Uuid, Uuid)> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if bytes.len() != 40 + TAG_BYTES {
            return None;
        }
        let (body, tag) = bytes.split_at(40);
        let expected = self.tag(b"session", &[body]);
        if !constant_time_eq(tag, &expected[..TAG_BYTES]) {
            return None;
        }
        let expires = i64::from_be_bytes(body[32..40].try_into().ok()?);
        (now.timestamp() < expires).then(|| ids(&body[..32]))
    }

    /// How a one-time code is kept: keyed, so a stolen table does not give
    /// the six digits away by trying them all.
    pub fn code_hash(&self, tenant_id: Uuid, ticket_number: &str, code: &str) -> String {
        hex::encode(self.tag(
            b"code",
            &[
                tenant_id.as_bytes(),
                ticket_number.as_bytes(),
                code.as_bytes(),
            ],
        ))
    }
}

fn ids(body: &[u8]) -> (Uuid, Uuid) {
    let mut tenant = [0u8; 16];
    let mut ticket = [0u8; 16];
    tenant.copy_from_slice(&body[..16]);
    ticket.copy_from_slice(&body[16..32]);
    (Uuid::from_bytes(tenant), Uuid::from_bytes(ticket))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_only_with_their_key_and_kind() {
        let key = ProgressKey::new("k".repeat(32).as_str());
        let (tenant, ticket) = (Uuid::now_v7(), Uuid::now_v7());
        let link = key.link_token(tenant, ticket);
        assert_eq!(key.open_link(&link), Some((tenant, ticket)));
        assert_eq!(ProgressKey::new("other").open_link(&link), None);
        let now = Utc::now();
        let session = key.session_token(tenant, ticket, now + chrono::Duration::minutes(5));
        assert_eq!(key.open_session(&session, now), Some((tenant, ticket)));
        assert_eq!(
            key.open_session(&session, now + chrono::Duration::minutes(6)),
            None
        );
        assert_eq!(key.open_link(&session), None);
        assert_eq!(key.open_session(&link, now), None);
    }
}
