//! What the back-office console keeps besides tickets and master data: the
//! tenant's settings (time zone, default language), each user's language,
//! saved queue views per user, and ticket templates (prefilled create forms
//! an admin keeps).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::{ValidationErrors, shifts::validate_time_zone, validation::check_text};

/// A language the console is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Locale {
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Locale {
    pub const fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "en" => Some(Locale::En),
            "zh-CN" => Some(Locale::ZhCn),
            _ => None,
        }
    }
}

/// The tenant as its users see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TenantSettings {
    pub id: Uuid,
    /// The name people sign in with; fixed (it is the sign-in key).
    pub name: String,
    /// IANA time zone the pages show dates and times in, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// The language of users who have not chosen one and whose browser asks for neither.
    pub default_locale: Locale,
    /// Customers may pick one of the offered visit windows on the progress page.
    pub customer_slot_choice: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsPatch {
    pub time_zone: Option<String>,
    pub default_locale: Option<Locale>,
    pub customer_slot_choice: Option<bool>,
}

impl TenantSettingsPatch {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(time_zone) = &self.time_zone {
            validate_time_zone(&mut errors, "time_zone", time_zone);
        }
        errors.into_result()
    }
}

/// The queue's parameters a saved view may carry.
pub const VIEW_PARAMETERS: &[&str] = &[
    "status",
    "priority",
    "category",
    "assignee_id",
    "territory_id",
    "tag",
    "sla",
    "created_from",
    "created_to",
    "q",
    "sort",
    "limit",
];

/// A queue view a user saved: a name and the queue's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SavedView {
    pub id: Uuid,
    pub name: String,
    /// Parameter → value, as the queue sends them to `GET /v1/tickets`.
    pub query: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedView {
    pub name: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
}

impl NewSavedView {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 80);
        for (key, value) in &self.query {
            if !VIEW_PARAMETERS.contains(&key.as_str()) {
                errors.add(
                    format!("query.{key}"),
                    format!("is not a queue parameter ({})", VIEW_PARAMETERS.join(", ")),
                );
            } else if value.chars().count() > 200 {
                errors.add(format!("query.{key}"), "must be at most 200 characters");
            }
        }
        errors.into_result()
    }
}

/// The fields a template may prefill on the create form.
pub const TEMPLATE_FIELDS: &[&str] = &[
    "title",
    "description",
    "category",
    "priority",
    "tags",
    "custom_fields",
    "required_skills",
];

/// A saved, prefilled create form.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketTemplate {
    pub id: Uuid,
    pub name: String,
    /// Create-form fields: any of title, description, category, priority,
    /// tags, custom_fields, required_skills (as `POST /v1/tickets` takes them).
    #[schema(value_type = Object)]
    pub fields: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub name: String,
    #[schema(value_type = Object)]
    pub fields: Value,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Value>,
}

/// Checks a template's fields: an object of known create-form fields of the right shapes.
pub fn validate_template_fields(errors: &mut ValidationErrors, fields: &Value) {
    let Some(object) = fields.as_object() else {
        errors.add("fields", "must be an object");
        return;
    };
    for (key, value) in object {
        let field = format!("fields.{key}");
        let ok = match key.as_str() {
            "title" | "description" | "category" => value.is_string(),
            "priority" => matches!(value.as_str(), Some("P1" | "P2" | "P3" | "P4")),
            "tags" => value
                .as_array()
                .is_some_and(|tags| tags.iter().all(Value::is_string)),
            "custom_fields" => value.is_object(),
            "required_skills" => value.is_array(),
            _ => {
                errors.add(
                    &field,
                    format!(
                        "is not a create-form field ({})",
                        TEMPLATE_FIELDS.join(", ")
                    ),
                );
                continue;
            }
        };
        if !ok {
            errors.add(&field, "has the wrong type for this field");
        }
    }
    if fields.to_string().len() > 20_000 {
        errors.add("fields", "must be at most 20000 bytes of JSON");
    }
}

impl TemplateInput {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 80);
        validate_template_fields(&mut errors, &self.fields);
        errors.into_result()
    }
}

impl TemplatePatch {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 80);
        }
        if let Some(fields) = &self.fields {
            validate_template_fields(&mut errors, fields);
        }
        errors.into_result()
    }
}

#[async_trait]
pub trait ConsoleStore {
    async fn tenant_settings(&self, tenant_id: Uuid) -> StoreResult<TenantSettings>;
    async fn update_tenant_settings(
        &self,
        actor: Actor,
        patch: &TenantSettingsPatch,
    ) -> StoreResult<TenantSettings>;
    /// The user's chosen language; `None` when they have not chosen.
    async fn user_locale(&self, tenant_id: Uuid, user_id: Uuid) -> StoreResult<Option<Locale>>;
    async fn set_user_locale(
        &self,
        actor: Actor,
        user_id: Uuid,
        locale: Option<Locale>,
    ) -> StoreResult<()>;

    /// The user's saved views, by name.
    async fn list_saved_views(&self, tenant_id: Uuid, user_id: Uuid)
    -> StoreResult<Vec<SavedView>>;
    /// A name the user already used is a conflict.
    async fn create_saved_view(
        &self,
        actor: Actor,
        user_id: Uuid,
        view: &NewSavedView,
    ) -> StoreResult<SavedView>;
    /// Only the user's own view; another's is not found.
    async fn delete_saved_view(&self, actor: Actor, user_id: Uuid, id: Uuid) -> StoreResult<()>;

    async fn list_ticket_templates(&self, tenant_id: Uuid) -> StoreResult<Vec<TicketTemplate>>;
    async fn get_ticket_template(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<TicketTemplate>;
    async fn create_ticket_template(
        &self,
        actor: Actor,
        input: &TemplateInput,
    ) -> StoreResult<TicketTemplate>;
    async fn update_ticket_template(
        &self,
        actor: Actor,
        id: Uuid,
        patch: &TemplatePatch,
    ) -> StoreResult<TicketTemplate>;
    async fn delete_ticket_template(&self, actor: Actor, id: Uuid) -> StoreResult<()>;
}
