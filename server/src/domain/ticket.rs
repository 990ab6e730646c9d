//! Tickets, their header fields, comments and categories.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use truckroll_sync::{HoldReason, Status, StatusAction, StatusChange};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ValidationErrors,
    checkin::{CheckIn, CheckInPosition},
    people::{SkillLevel, validate_skills},
    validation::{check_optional_text, check_text},
};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::P1, Self::P2, Self::P3, Self::P4]
            .into_iter()
            .find(|p| p.as_str() == value)
    }
}

/// Human ticket number, per tenant: `TR-000123`.
pub fn ticket_number(sequence: i64) -> String {
    format!("TR-{sequence:06}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[schema(example = "TR-000123")]
    pub number: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub priority: Priority,
    pub required_skills: Vec<SkillLevel>,
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Value,
    #[schema(value_type = String, example = "assigned")]
    pub status: Status,
    #[schema(value_type = Option<String>, example = "waiting_parts")]
    pub hold_reason: Option<HoldReason>,
    /// Technician the ticket is assigned to.
    pub assignee_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The newest check-in (status step to `on_site`), judged against the
    /// site's position; `null` until the first check-in.
    #[serde(default)]
    pub check_in: Option<CheckIn>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub priority: Priority,
    #[serde(default)]
    pub required_skills: Vec<SkillLevel>,
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub custom_fields: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl NewTicket {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "title", &self.title, 200);
        check_optional_text(&mut errors, "description", &self.description, 20_000);
        validate_category_name(&mut errors, "category", &self.category);
        validate_skills(&mut errors, "required_skills", &self.required_skills);
        validate_tags(&mut errors, &self.tags);
        if !self.custom_fields.is_object() {
            errors.add("custom_fields", "must be a JSON object");
        }
        errors.into_result()
    }
}

/// Distinguishes an absent field (no change) from an explicit `null` (clear it).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub required_skills: Option<Vec<SkillLevel>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub asset_id: Option<Option<Uuid>>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Value>,
    /// Target status; must be reachable by one transition of the state machine.
    #[schema(value_type = Option<String>, example = "en_route")]
    pub status: Option<Status>,
    /// Required when `status` is `on_hold`.
    #[schema(value_type = Option<String>, example = "waiting_customer")]
    pub hold_reason: Option<HoldReason>,
    /// Assign (`uuid` of a technician) or unassign (`null`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    /// The phone's position when checking in (`status: on_site` from
    /// `en_route`); refused with any other change.
    pub position: Option<CheckInPosition>,
    /// The `updated_at` the client read: when given, a ticket changed since
    /// is refused with 409 instead of being overwritten.
    pub version: Option<DateTime<Utc>>,
}

impl TicketPatch {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(title) = &self.title {
            check_text(&mut errors, "title", title, 200);
        }
        if let Some(description) = &self.description {
            check_optional_text(&mut errors, "description", description, 20_000);
        }
        if let Some(skills) = &self.required_skills {
            validate_skills(&mut errors, "required_skills", skills);
        }
        if let Some(tags) = &self.tags {
            validate_tags(&mut errors, tags);
        }
        if self.custom_fields.as_ref().is_some_and(|v| !v.is_object()) {
            errors.add("custom_fields", "must be a JSON object");
        }
        if self.status.is_some() && self.assignee_id.is_some() {
            errors.add(
                "status",
                "change the status and the assignee in separate requests",
            );
        }
        if self.hold_reason.is_some() && self.status != Some(Status::OnHold) {
            errors.add("hold_reason", "is only allowed with status on_hold");
        }
        if let Some(position) = &self.position {
            position.validate("position", &mut errors);
        }
        errors.into_result()
    }

    /// Whether the patch touches header fields that only the office may edit.
    pub fn edits_header(&self) -> bool {
        self.title.is_some()
            || self.description.is_some()
            || self.priority.is_some()
            || self.required_skills.is_some()
            || self.asset_id.is_some()
            || self.tags.is_some()
            || self.custom_fields.is_some()
    }

    /// The state-machine step this patch asks for, if any. Where two actions
    /// lead to the same status (assigned → new: unassign or decline), a field
    /// user's request means the field action.
    pub fn status_change(
        &self,
        current: &Ticket,
        field_user: bool,
    ) -> Result<Option<StatusChange>, ValidationErrors> {
        if let Some(target) = self.status {
            let field_action = truckroll_sync::allowed_actions(current.status)
                .find(|&(action, to)| {
                    to == target && action.origin() == truckroll_sync::ActionOrigin::Field
                })
                .map(|(action, _)| action);
            let action = match field_action {
                Some(action) if field_user => action,
                _ => truckroll_sync::action_between(current.status, target)
                    .map_err(|e| ValidationErrors::single("status", e.to_string()))?,
            };
            return Ok(Some(StatusChange {
                action,
                hold_reason: self.hold_reason,
            }));
        }
        match self.assignee_id {
            None => Ok(None),
            Some(None) => Ok(Some(StatusChange {
                action: StatusAction::Unassign,
                hold_reason: None,
            })),
            Some(Some(_)) => {
                let action = if current.status == Status::New {
                    StatusAction::Assign
                } else {
                    StatusAction::Reassign
                };
                Ok(Some(StatusChange {
                    action,
                    hold_reason: None,
                }))
            }
        }
    }
}

pub fn validate_category_name(errors: &mut ValidationErrors, field: &str, name: &str) {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        errors.add(field, "must be 1-64 characters of a-z, 0-9, _ and -");
    }
}

pub fn validate_tags(errors: &mut ValidationErrors, tags: &[String]) {
    if tags.len() > 50 {
        errors.add("tags", "must list at most 50 tags");
    }
    for (i, tag) in tags.iter().enumerate() {
        check_text(errors, &format!("tags[{i}]"), tag, 64);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Staff only.
    Internal,
    /// May be shown to the customer.
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Internal, Self::Public]
            .into_iter()
            .find(|v| v.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Comment {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    pub visibility: Visibility,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub body: String,
    pub visibility: Visibility,
}

impl NewComment {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "body", &self.body, 10_000);
        errors.into_result()
    }
}

/// A ticket category with the JSON Schema its custom fields must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub custom_fields_schema: Value,
    pub created_at: DateTime<Utc>,
    /// When the record was archived; `null` while active.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema for the tickets' `custom_fields`; absent means any object.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub custom_fields_schema: Value,
}

impl NewCategory {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_category_name(&mut errors, "name", &self.name);
        check_optional_text(&mut errors, "description", &self.description, 2000);
        if let Err(message) = super::custom_fields::check_schema(&self.custom_fields_schema) {
            errors.add("custom_fields_schema", message);
        }
        errors.into_result()
    }
}

/// `PATCH /v1/categories/{id}`: absent fields stay; a schema given replaces the stored one whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields_schema: Option<Value>,
}

impl CategoryPatch {
    /// The category after the patch, validated like a new one.
    pub fn apply(&self, before: &Category) -> Result<Category, ValidationErrors> {
        let mut after = before.clone();
        if let Some(name) = &self.name {
            after.name = name.trim().to_owned();
        }
        if let Some(description) = &self.description {
            after.description = description.trim().to_owned();
        }
        if let Some(schema) = &self.custom_fields_schema {
            after.custom_fields_schema = schema.clone();
        }
        NewCategory {
            name: after.name.clone(),
            description: after.description.clone(),
            custom_fields_schema: after.custom_fields_schema.clone(),
        }
        .validate()?;
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(status: Status) -> Ticket {
        let now = Utc::now();
        Ticket {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            number: ticket_number(1),
            title: "Boiler".into(),
            description: String::new(),
            category: "hvac".into(),
            priority: Priority::P2,
            required_skills: vec![],
            site_id: Uuid::nil(),
            asset_id: None,
            tags: vec![],
            custom_fields: empty_object(),
            status,
            hold_reason: None,
            assignee_id: None,
            created_by: Uuid::nil(),
            created_at: now,
            updated_at: now,
            check_in: None,
        }
    }

    #[test]
    fn numbers_are_zero_padded() {
        assert_eq!(ticket_number(123), "TR-000123");
        assert_eq!(ticket_number(1_234_567), "TR-1234567");
    }

    #[test]
    fn patch_distinguishes_null_from_absent() {
        let patch: TicketPatch = serde_json::from_str(r#"{"assignee_id": null}"#).expect("json");
        assert_eq!(patch.assignee_id, Some(None));
        let patch: TicketPatch = serde_json::from_str(r#"{"title": "x"}"#).expect("json");
        assert_eq!(patch.assignee_id, None);
    }

    #[test]
    fn patch_maps_to_state_machine_actions() {
        let assign = TicketPatch {
            assignee_id: Some(Some(Uuid::nil())),
            ..Default::default()
        };
        let change = assign
            .status_change(&ticket(Status::New), false)
            .expect("ok")
            .expect("some");
        assert_eq!(change.action, StatusAction::Assign);
        let change = assign
            .status_change(&ticket(Status::Accepted), false)
            .expect("ok")
            .expect("some");
        assert_eq!(change.action, StatusAction::Reassign);

        let check_in = TicketPatch {
            status: Some(Status::OnSite),
            ..Default::default()
        };
        assert!(
            check_in
                .status_change(&ticket(Status::Assigned), true)
                .is_err()
        );
        let change = check_in
            .status_change(&ticket(Status::EnRoute), true)
            .expect("ok")
            .expect("some");
        assert_eq!(change.action, StatusAction::CheckIn);
    }

    #[test]
    fn patch_rejects_mixed_or_stray_fields() {
        let both = TicketPatch {
            status: Some(Status::Accepted),
            assignee_id: Some(None),
            ..Default::default()
        };
        assert!(both.validate().is_err());
        let stray = TicketPatch {
            hold_reason: Some(HoldReason::WaitingParts),
            ..Default::default()
        };
        assert!(stray.validate().is_err());
        let bad_json = serde_json::from_str::<TicketPatch>(r#"{"priority": "P9"}"#);
        assert!(bad_json.is_err());
    }
}
