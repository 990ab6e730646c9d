//! The public web form: a customer without an account reports a fault —
//! category (with that category's custom fields), contact, address or
//! site, photos — and gets the ticket number and the progress link.

use std::{net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Attachment, Intake, IntakeError, IntakeResult, OpenTicket, cut};
use crate::{
    domain::{ValidationErrors, custom_fields, people::validate_email, ticket::Ticket},
    store::{
        Actor,
        intake::{Channel, Claim, Finish, IntakeSettings, NewIntakeMessage, Outcome},
    },
};

/// One submission, as the form sends it.
#[derive(Debug, Clone, Default)]
pub struct FormRequest {
    pub category: Option<String>,
    pub custom_fields: Value,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    /// Where the work is, in the customer's words.
    pub address: Option<String>,
    pub title: String,
    pub description: String,
    pub photos: Vec<Attachment>,
    /// The honeypot: hidden from people, filled in by bots.
    pub website: String,
}

/// A category as the form offers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FormCategory {
    pub name: String,
    pub description: String,
    /// The category's JSON Schema for its custom fields; the page builds
    /// the inputs from it.
    #[schema(value_type = Object)]
    pub custom_fields_schema: Value,
}

/// Submissions per client address and hour (in memory, per replica).
pub struct FormLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for FormLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormLimiter").finish_non_exhaustive()
    }
}

impl FormLimiter {
    pub fn new(per_hour: u32) -> Self {
        let per_hour = NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN);
        Self {
            per_address: DefaultKeyedRateLimiter::keyed(Quota::per_hour(per_hour)),
        }
    }

    /// `Err(seconds to wait)` when `address` is over its quota.
    pub fn check(&self, address: IpAddr) -> Result<(), u64> {
        if self.per_address.len() > 10_000 {
            self.per_address.retain_recent();
        }
        let clock = governor::clock::DefaultClock::default();
        self.per_address
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(clock.now()).as_secs().max(1))
    }
}

impl Intake {
    /// The categories the form of `settings` offers, with their schemas.
    pub async fn form_categories(
        &self,
        settings: &IntakeSettings,
    ) -> IntakeResult<Vec<FormCategory>> {
        let names = if settings.form_categories.is_empty() {
            vec![settings.category.clone()]
        } else {
            settings.form_categories.clone()
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let category = self
                .store()
                .category_by_name(settings.tenant_id, &name)
                .await?;
            out.push(match category {
                Some(c) => FormCategory {
                    name: c.name,
                    description: c.description,
                    custom_fields_schema: c.custom_fields_schema,
                },
                None => FormCategory {
                    name,
                    description: String::new(),
                    custom_fields_schema: Value::Object(Default::default()),
                },
            });
        }
        Ok(out)
    }

    /// Opens a ticket from a form submission.
    #[tracing::instrument(skip_all, fields(tenant = %settings.tenant_id))]
    pub async fn submit_form(
        &self,
        settings: &IntakeSettings,
        form: FormRequest,
    ) -> IntakeResult<Ticket> {
        if !settings.form_enabled {
            return Err(IntakeError::NotConfigured);
        }
        let tenant_id = settings.tenant_id;
        let email = form.email.trim().to_lowercase();
        let system = Actor {
            tenant_id,
            user_id: None,
        };
        if !form.website.trim().is_empty() {
            // Recorded for the admins, then refused.
            if let Claim::New(id) = self
                .store()
                .claim_intake_message(tenant_id, &form_message(&email, &form.title))
                .await?
            {
                let finish = Finish {
                    outcome: Outcome::Dropped,
                    reason: Some("honeypot field filled in (a bot)".into()),
                    ticket_id: None,
                    comment_id: None,
                    media_count: 0,
                    thread_message_id: None,
                };
                self.store()
                    .finish_intake_message(system, id, &finish)
                    .await?;
            }
            return Err(IntakeError::Bot);
        }

        let categories = self.form_categories(settings).await?;
        let mut errors = ValidationErrors::new();
        let category = match form.category.as_deref().map(str::trim) {
            None | Some("") => categories.first().cloned(),
            Some(name) => categories.iter().find(|c| c.name == name).cloned(),
        };
        if category.is_none() {
            errors.add("category", "choose one of the offered categories");
        }
        if form.name.trim().is_empty() {
            errors.add("name", "is required");
        }
        validate_email(&mut errors, "email", &email);
        if form.title.trim().is_empty() {
            errors.add("title", "is required");
        }
        if form.description.chars().count() > 10_000 {
            errors.add("description", "must be at most 10000 characters");
        }
        if form
            .phone
            .as_deref()
            .is_some_and(|p| p.chars().count() > 40)
        {
            errors.add("phone", "must be at most 40 characters");
        }
        if form
            .address
            .as_deref()
            .is_some_and(|a| a.chars().count() > 500)
        {
            errors.add("address", "must be at most 500 characters");
        }
        if !form.custom_fields.is_object() {
            errors.add("custom_fields", "must be a JSON object");
        }
        errors.into_result()?;
        let Some(category) = category else {
            return Err(ValidationErrors::single(
                "category",
                "choose one of the offered categories",
            )
            .into());
        };
        custom_fields::validate(&category.custom_fields_schema, &form.custom_fields)?;

        let customer = self
            .customer_for(
                tenant_id,
                &email,
                Some(form.name.trim()),
                form.phone.as_deref(),
            )
            .await?;
        let actor = Actor {
            tenant_id,
            user_id: Some(customer.id),
        };
        let mut description = form.description.trim().to_owned();
        let mut contact = format!("Contact: {}", form.name.trim());
        if let Some(phone) = form
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            contact.push_str(&format!(", {phone}"));
        }
        contact.push_str(&format!(", {email}"));
        if let Some(address) = form
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            contact.push_str(&format!("\nAddress: {address}"));
        }
        description = if description.is_empty() {
            contact
        } else {
            format!("{description}\n\n{contact}")
        };
        let Claim::New(record) = self
            .store()
            .claim_intake_message(tenant_id, &form_message(&email, &form.title))
            .await?
        else {
            return Err(IntakeError::Store(crate::store::StoreError::Conflict(
                "submitted twice".into(),
            )));
        };
        let opened = self
            .open_ticket(
                settings,
                &customer,
                actor,
                OpenTicket {
                    title: form.title,
                    description: cut(&description, 20_000),
                    category: category.name,
                    custom_fields: form.custom_fields,
                    tag: "web-form",
                },
            )
            .await;
        let ticket = match opened {
            Ok(ticket) => ticket,
            Err(error) => {
                let _ = self.store().release_intake_message(tenant_id, record).await;
                return Err(error);
            }
        };
        let media_count = self.attach(actor, ticket.id, &form.photos).await?;
        let finish = Finish {
            outcome: Outcome::Ticket,
            reason: None,
            ticket_id: Some(ticket.id),
            comment_id: None,
            media_count,
            thread_message_id: None,
        };
        self.store()
            .finish_intake_message(actor, record, &finish)
            .await?;
        Ok(ticket)
    }
}

fn form_message(email: &str, title: &str) -> NewIntakeMessage {
    NewIntakeMessage {
        channel: Channel::Form,
        mailbox_id: None,
        message_id: format!("form:{}", Uuid::now_v7()),
        sender: email.to_owned(),
        subject: cut(title, 500),
    }
}
