//! Tenants, users, refresh tokens and devices: who may sign in, and from where.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::people::{Device, NewDevice, NewUser, Tenant, User, UserPatch};

/// A refresh token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub family_id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The old token is spent; the new one is stored in the same family.
    Rotated(User),
    /// The token was already rotated: the whole family is now revoked.
    Reused,
    /// Unknown, expired, revoked, or its user is inactive.
    Invalid,
}

#[async_trait]
pub trait UserStore {
    // Tenants and users.
    async fn create_tenant(
        &self,
        name: &str,
        admin: &NewUser,
        admin_password_hash: &str,
    ) -> StoreResult<(Tenant, User)>;
    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>>;
    async fn user_credentials(
        &self,
        tenant_id: Uuid,
        email: &str,
    ) -> StoreResult<Option<(User, String)>>;
    async fn create_user(
        &self,
        actor: Actor,
        user: &NewUser,
        password_hash: &str,
    ) -> StoreResult<User>;
    async fn get_user(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<User>;
    async fn list_users(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<User>>;
    async fn update_user(
        &self,
        actor: Actor,
        id: Uuid,
        patch: &UserPatch,
        password_hash: Option<&str>,
    ) -> StoreResult<User>;

    // Tokens and devices.
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    /// Spends the token hashed `old_hash` and stores `new_hash` in its
    /// family (same tenant and user), valid until `expires_at`.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome>;
    async fn register_device(
        &self,
        actor: Actor,
        user_id: Uuid,
        device: &NewDevice,
    ) -> StoreResult<Device>;
    /// The tenant's device that writes ticket documents as `actor_id` (hex).
    async fn device_by_actor(&self, tenant_id: Uuid, actor_id: &str)
    -> StoreResult<Option<Device>>;
    /// A user's devices, oldest first, each with the number of ticket
    /// documents it holds a sync state for.
    async fn user_devices(&self, tenant_id: Uuid, user_id: Uuid)
    -> StoreResult<Vec<(Device, i64)>>;
}
