//! Passwords, access tokens, refresh tokens, login rate limits and the
//! `[auth]` configuration section.

pub mod client_address;
mod config;
pub mod password;
pub mod principals;
pub mod rate_limit;
pub mod tokens;

pub use config::AuthConfig;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("token could not be issued: {0}")]
    Issue(#[from] jsonwebtoken::errors::Error),
    #[error("random source failed: {0}")]
    Random(#[from] getrandom::Error),
}
