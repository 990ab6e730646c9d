//! Setting intake up: the settings' rules, the intake token, mailboxes with
//! sealed passwords, and who may post raw mail.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Intake, IntakeError, IntakeResult};
use crate::{
    domain::{ValidationErrors, people::validate_email},
    store::{
        Actor,
        intake::{Mailbox, MailboxWrite, SettingsWrite},
    },
};

/// Prefix of intake tokens, so they are told apart from access tokens.
pub const TOKEN_PREFIX: &str = "tri_";

pub fn validate_settings(settings: &SettingsWrite) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let slug_ok = (2..=64).contains(&settings.slug.len())
        && settings
            .slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !settings.slug.starts_with('-');
    if !slug_ok {
        errors.add(
            "slug",
            "2 to 64 characters: lowercase letters, digits and `-`",
        );
    }
    let name_ok = |n: &str| !n.trim().is_empty() && n.chars().count() <= 100;
    if !name_ok(&settings.category) {
        errors.add("category", "must be 1 to 100 characters");
    }
    for (i, category) in settings.form_categories.iter().enumerate() {
        if !name_ok(category) {
            errors.add(
                format!("form_categories[{i}]"),
                "must be 1 to 100 characters",
            );
        }
    }
    for (i, address) in settings.own_addresses.iter().enumerate() {
        validate_email(&mut errors, &format!("own_addresses[{i}]"), address);
    }
    if !(0..=24 * 365).contains(&settings.reopen_window_hours) {
        errors.add("reopen_window_hours", "must be between 0 and 8760");
    }
    if !(1..=10_000).contains(&settings.sender_limit_per_hour) {
        errors.add("sender_limit_per_hour", "must be between 1 and 10000");
    }
    errors.into_result()
}

/// A new intake token (shown once) and the hash that is stored.
pub fn new_token() -> IntakeResult<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| {
        IntakeError::Store(crate::store::StoreError::Corrupt(
            "the random source failed".into(),
        ))
    })?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A mailbox as an admin sends it, with the password in the clear.
#[derive(Debug, Clone)]
pub struct MailboxInput {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    /// `None` on an update keeps the stored password.
    pub password: Option<String>,
    pub folder: String,
    pub enabled: bool,
}

impl MailboxInput {
    fn validate(&self, creating: bool) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let text = |errors: &mut ValidationErrors, field: &str, value: &str, max: usize| {
            if value.trim().is_empty() || value.chars().count() > max {
                errors.add(field, format!("must be 1 to {max} characters"));
            }
        };
        text(&mut errors, "name", &self.name, 200);
        text(&mut errors, "host", &self.host, 253);
        text(&mut errors, "username", &self.username, 320);
        text(&mut errors, "folder", &self.folder, 200);
        if self.host.contains(char::is_whitespace) || self.host.contains('/') {
            errors.add("host", "must be a host name or address");
        }
        if self.port == 0 {
            errors.add("port", "must be between 1 and 65535");
        }
        match &self.password {
            Some(p) if p.is_empty() || p.len() > 1000 => {
                errors.add("password", "must be 1 to 1000 characters")
            }
            None if creating => errors.add("password", "is required"),
            _ => {}
        }
        errors.into_result()
    }
}

impl Intake {
    pub async fn create_mailbox(
        &self,
        actor: Actor,
        input: &MailboxInput,
    ) -> IntakeResult<Mailbox> {
        input.validate(true)?;
        let password = input.password.as_deref().unwrap_or_default();
        let write = self.mailbox_write(actor.tenant_id, input, password)?;
        Ok(self.store().create_mailbox(actor, &write).await?)
    }

    /// Changes a mailbox; without a new password the stored one is kept
    /// (re-sealed when the user name changed).
    pub async fn update_mailbox(
        &self,
        actor: Actor,
        id: Uuid,
        input: &MailboxInput,
    ) -> IntakeResult<Mailbox> {
        input.validate(false)?;
        let current = self.store().get_mailbox(actor.tenant_id, id).await?;
        let password = match &input.password {
            Some(p) => p.clone(),
            None => self
                .sealer
                .open(actor.tenant_id, &current.username, &current.password_sealed)
                .map_err(|e| ValidationErrors::single("password", e.to_string()))?,
        };
        let write = self.mailbox_write(actor.tenant_id, input, &password)?;
        Ok(self.store().update_mailbox(actor, id, &write).await?)
    }

    fn mailbox_write(
        &self,
        tenant_id: Uuid,
        input: &MailboxInput,
        password: &str,
    ) -> IntakeResult<MailboxWrite> {
        let sealed = self
            .sealer
            .seal(tenant_id, input.username.trim(), password)
            .map_err(|e| ValidationErrors::single("password", e.to_string()))?;
        Ok(MailboxWrite {
            name: input.name.trim().to_owned(),
            host: input.host.trim().to_owned(),
            port: input.port,
            tls: input.tls,
            username: input.username.trim().to_owned(),
            password_sealed: sealed,
            folder: input.folder.trim().to_owned(),
            enabled: input.enabled,
        })
    }
}
