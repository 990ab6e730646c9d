//! HMAC-signed URLs for the `fs` backend: the server hands them out and
//! checks them when the phone comes back with the bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The URL key derived from another secret (the token secret), so one
/// configured secret serves both without being reused verbatim. An empty
/// input gives a random key: URLs then die with the process.
pub fn derive_secret(secret: &str) -> Vec<u8> {
    if secret.is_empty() {
        let mut random = [0u8; 32];
        // getrandom only fails on platforms without an entropy source; a
        // zero key would still be per-process unique enough to fail closed
        // on restart, but log it.
        if let Err(error) = getrandom::fill(&mut random) {
            tracing::error!(%error, "no randomness for the blob URL key");
        }
        return random.to_vec();
    }
    mac(secret.as_bytes(), b"truckroll blob urls v1").to_vec()
}

fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// What one signature covers: an operation on a key until a time, and for
/// uploads the exact content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant<'a> {
    /// `GET` or `PUT`.
    pub method: &'a str,
    pub key: &'a str,
    /// Unix seconds.
    pub expires: i64,
    /// (content type, size, sha256) for `PUT`.
    pub content: Option<(&'a str, u64, &'a str)>,
}

impl Grant<'_> {
    fn message(&self) -> Vec<u8> {
        let mut message = format!("{}\n{}\n{}", self.method, self.key, self.expires);
        if let Some((content_type, size, sha256)) = self.content {
            message.push_str(&format!("\n{content_type}\n{size}\n{sha256}"));
        }
        message.into_bytes()
    }

    pub fn sign(&self, secret: &[u8]) -> String {
        hex::encode(mac(secret, &self.message()))
    }

    /// Constant-time check of `signature` (hex).
    pub fn verify(&self, secret: &[u8], signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        mac.update(&self.message());
        mac.verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_part_of_the_grant() {
        let secret = derive_secret("a-token-secret-a-token-secret-0123");
        let grant = Grant {
            method: "PUT",
            key: "tenants/t/sha256/ab",
            expires: 100,
            content: Some(("image/png", 10, "ab")),
        };
        let signature = grant.sign(&secret);
        assert!(grant.verify(&secret, &signature));
        for changed in [
            Grant {
                method: "GET",
                ..grant.clone()
            },
            Grant {
                key: "tenants/u/sha256/ab",
                ..grant.clone()
            },
            Grant {
                expires: 101,
                ..grant.clone()
            },
            Grant {
                content: Some(("image/png", 11, "ab")),
                ..grant.clone()
            },
        ] {
            assert!(!changed.verify(&secret, &signature), "{changed:?}");
        }
        assert!(!grant.verify(&derive_secret("another"), &signature));
        assert!(!grant.verify(&secret, "zz"));
    }
}
