//! Short-lived access tokens (HS256 JWT) and opaque refresh tokens, stored
//! only as SHA-256 hashes.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AuthError;
use crate::domain::people::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: Uuid,
    /// Tenant id.
    pub tid: Uuid,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
}

pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// An empty `secret` means a random one for this process.
    pub fn new(
        secret: &str,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Self, AuthError> {
        let secret = if secret.is_empty() {
            random_token()?.into_bytes()
        } else {
            secret.as_bytes().to_vec()
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            access_ttl,
            refresh_ttl,
        })
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    pub fn issue_access(
        &self,
        user_id: Uuid,
        tenant_id: Uuid,
        role: Role,
    ) -> Result<String, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id,
            tid: tenant_id,
            role,
            iat: now,
            exp: now + self.access_ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Claims of a valid, unexpired token; `None` otherwise.
    pub fn verify_access(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// 256 random bits, URL-safe.
pub fn random_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let service = TokenService::new("", Duration::from_secs(60), Duration::from_secs(600))
            .expect("service");
        let (user, tenant) = (Uuid::now_v7(), Uuid::now_v7());
        let token = service
            .issue_access(user, tenant, Role::Dispatcher)
            .expect("token");
        let claims = service.verify_access(&token).expect("valid");
        assert_eq!(
            (claims.sub, claims.tid, claims.role),
            (user, tenant, Role::Dispatcher)
        );

        let other = TokenService::new("", Duration::from_secs(60), Duration::from_secs(600))
            .expect("service");
        assert!(
            other.verify_access(&token).is_none(),
            "another secret must not verify"
        );
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(service.verify_access(&tampered).is_none());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = random_token().expect("random");
        let b = random_token().expect("random");
        assert_ne!(a, b);
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
    }
}
