//! Mailbox passwords at rest: sealed with ChaCha20-Poly1305 under a key
//! derived from the server's token secret (`auth.token_secret`), bound to
//! the tenant and mailbox name, so a database dump alone does not reveal
//! them and a sealed value copied to another row does not open.

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const KEY_CONTEXT: &[u8] = b"truckroll intake mailbox password v1\0";

#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the random source failed")]
    Random,
    /// Wrong key (the token secret changed) or a tampered value.
    #[error("the stored mailbox password cannot be opened; enter it again")]
    Open,
}

fn aad(tenant_id: Uuid, username: &str) -> Vec<u8> {
    let mut aad = tenant_id.as_bytes().to_vec();
    aad.extend_from_slice(username.as_bytes());
    aad
}

impl Sealer {
    pub fn new(token_secret: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(KEY_CONTEXT);
        hasher.update(token_secret.as_bytes());
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn key(&self) -> LessSafeKey {
        // 32 bytes is ChaCha20-Poly1305's key length, so this cannot fail.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &self.key)
            .unwrap_or_else(|_| unreachable!("32-byte key"));
        LessSafeKey::new(unbound)
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`.
    pub fn seal(
        &self,
        tenant_id: Uuid,
        username: &str,
        password: &str,
    ) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buffer = password.as_bytes().to_vec();
        self.key()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(tenant_id, username)),
                &mut buffer,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, tenant_id: Uuid, username: &str, sealed: &str) -> Result<String, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buffer = rest.to_vec();
        let plain = self
            .key()
            .open_in_place(nonce, Aad::from(aad(tenant_id, username)), &mut buffer)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_refuses_other_keys_and_rows() {
        let sealer = Sealer::new("secret-one");
        let tenant = Uuid::now_v7();
        let sealed = sealer.seal(tenant, "desk", "hunter2").expect("seal");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            sealer.open(tenant, "desk", &sealed).as_deref(),
            Ok("hunter2")
        );
        assert_eq!(
            Sealer::new("secret-two").open(tenant, "desk", &sealed),
            Err(SealError::Open)
        );
        assert_eq!(sealer.open(tenant, "other", &sealed), Err(SealError::Open));
        assert_eq!(
            sealer.open(Uuid::now_v7(), "desk", &sealed),
            Err(SealError::Open)
        );
    }
}
