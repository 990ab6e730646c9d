//! Tenants, users and roles, technicians and their skills, devices.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ValidationErrors,
    geo::GeoPoint,
    shifts::{Shift, validate_shifts, validate_time_zone},
    validation::check_text,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A tenant name is also its login handle: lowercase letters, digits and dashes.
pub fn validate_tenant_name(name: &str) -> Result<(), ValidationErrors> {
    let valid = (2..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(ValidationErrors::single(
            "name",
            "must be 2-63 characters of lowercase letters, digits and inner dashes",
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Dispatcher,
    Manager,
    Technician,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Dispatcher,
        Role::Manager,
        Role::Technician,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Manager => "manager",
            Role::Technician => "technician",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// At least 10 characters.
    #[schema(format = Password)]
    pub password: String,
}

impl NewUser {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_email(&mut errors, "email", &self.email);
        check_text(&mut errors, "name", &self.name, 200);
        validate_password(&mut errors, &self.password);
        errors.into_result()
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    #[schema(format = Password)]
    pub password: Option<String>,
    /// Required to change one's own password; checked, never stored.
    #[schema(format = Password)]
    pub current_password: Option<String>,
}

impl UserPatch {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 200);
        }
        if let Some(password) = &self.password {
            validate_password(&mut errors, password);
        }
        errors.into_result()
    }
}

/// At least 10 characters, not only whitespace, and not one of the common
/// passwords that attackers try first (`common-passwords.txt`, compared
/// without case and surrounding whitespace).
pub fn validate_password(errors: &mut ValidationErrors, password: &str) {
    if password.chars().count() < 10 {
        errors.add("password", "must be at least 10 characters");
    } else if password.len() > 1024 {
        errors.add("password", "must be at most 1024 bytes");
    } else if password.trim().is_empty() {
        errors.add("password", "must not be only whitespace");
    } else if is_common_password(password) {
        errors.add(
            "password",
            "is one of the most common passwords; choose another",
        );
    }
}

fn is_common_password(password: &str) -> bool {
    static COMMON: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    let common = COMMON.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .collect()
    });
    common.contains(password.trim().to_lowercase().as_str())
}

/// Emails are compared lowercased; this is a shape check, not deliverability.
pub fn validate_email(errors: &mut ValidationErrors, field: &str, email: &str) {
    let shape_ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !shape_ok {
        errors.add(field, "must be an email address like name@example.com");
    }
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkillLevel {
    pub skill: String,
    /// 1 (trainee) to 5 (expert).
    #[schema(minimum = 1, maximum = 5)]
    pub level: u8,
}

pub fn validate_skills(errors: &mut ValidationErrors, field: &str, skills: &[SkillLevel]) {
    let mut seen = std::collections::HashSet::new();
    for (i, skill) in skills.iter().enumerate() {
        let valid_name = (1..=64).contains(&skill.skill.len())
            && skill
                .skill
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            errors.add(
                format!("{field}[{i}].skill"),
                "must be 1-64 characters of a-z, 0-9, _ and -",
            );
        }
        if !(1..=5).contains(&skill.level) {
            errors.add(format!("{field}[{i}].level"), "must be between 1 and 5");
        }
        if !seen.insert(skill.skill.as_str()) {
            errors.add(format!("{field}[{i}].skill"), "is listed twice");
        }
    }
    if skills.len() > 100 {
        errors.add(field, "must list at most 100 skills");
    }
}

/// The required skills `held` lacks or holds below the required level,
/// described for a person ("hvac: level 3 required, has 2").
pub fn missing_skills(required: &[SkillLevel], held: &[SkillLevel]) -> Vec<String> {
    required
        .iter()
        .filter_map(|need| match held.iter().find(|h| h.skill == need.skill) {
            Some(has) if has.level >= need.level => None,
            Some(has) => Some(format!(
                "{}: level {} required, has {}",
                need.skill, need.level, has.level
            )),
            None => Some(format!(
                "{}: level {} required, has none",
                need.skill, need.level
            )),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TechnicianStatus {
    Available,
    Busy,
    /// A pause within the shift (set from the phone): like `busy` and
    /// `off_duty`, dispatch neither offers nor suggests the technician.
    OnBreak,
    OffDuty,
}

impl TechnicianStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TechnicianStatus::Available => "available",
            TechnicianStatus::Busy => "busy",
            TechnicianStatus::OnBreak => "on_break",
            TechnicianStatus::OffDuty => "off_duty",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Available, Self::Busy, Self::OnBreak, Self::OffDuty]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Technician {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The user account the technician signs in with (role technician).
    pub user_id: Uuid,
    pub name: String,
    pub skills: Vec<SkillLevel>,
    pub shifts: Vec<Shift>,
    /// IANA time zone the shifts are written in, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub home_base: Option<GeoPoint>,
    /// Maximum number of open assignments at once.
    pub capacity: u32,
    pub status: TechnicianStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the record was archived; `null` while active.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTechnician {
    pub user_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
    #[serde(default)]
    pub shifts: Vec<Shift>,
    pub time_zone: String,
    pub home_base: Option<GeoPoint>,
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    #[serde(default = "default_technician_status")]
    pub status: TechnicianStatus,
}

fn default_capacity() -> u32 {
    5
}

fn default_technician_status() -> TechnicianStatus {
    TechnicianStatus::Available
}

impl NewTechnician {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 200);
        validate_technician_parts(
            &mut errors,
            Some(&self.skills),
            Some(&self.shifts),
            Some(&self.time_zone),
            self.home_base.as_ref(),
            Some(self.capacity),
        );
        errors.into_result()
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TechnicianPatch {
    pub name: Option<String>,
    pub skills: Option<Vec<SkillLevel>>,
    pub shifts: Option<Vec<Shift>>,
    pub time_zone: Option<String>,
    pub home_base: Option<GeoPoint>,
    pub capacity: Option<u32>,
    pub status: Option<TechnicianStatus>,
}

impl TechnicianPatch {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 200);
        }
        validate_technician_parts(
            &mut errors,
            self.skills.as_deref(),
            self.shifts.as_deref(),
            self.time_zone.as_deref(),
            self.home_base.as_ref(),
            self.capacity,
        );
        errors.into_result()
    }

    pub fn apply(self, technician: &mut Technician) {
        if let Some(name) = self.name {
            technician.name = name;
        }
        if let Some(skills) = self.skills {
            technician.skills = skills;
        }
        if let Some(shifts) = self.shifts {
            technician.shifts = shifts;
        }
        if let Some(time_zone) = self.time_zone {
            technician.time_zone = time_zone;
        }
        if let Some(home_base) = self.home_base {
            technician.home_base = Some(home_base);
        }
        if let Some(capacity) = self.capacity {
            technician.capacity = capacity;
        }
        if let Some(status) = self.status {
            technician.status = status;
        }
    }
}

fn validate_technician_parts(
    errors: &mut ValidationErrors,
    skills: Option<&[SkillLevel]>,
    shifts: Option<&[Shift]>,
    time_zone: Option<&str>,
    home_base: Option<&GeoPoint>,
    capacity: Option<u32>,
) {
    if let Some(skills) = skills {
        validate_skills(errors, "skills", skills);
    }
    if let Some(shifts) = shifts {
        validate_shifts(errors, "shifts", shifts);
    }
    if let Some(time_zone) = time_zone {
        validate_time_zone(errors, "time_zone", time_zone);
    }
    if let Some(home_base) = home_base {
        home_base.validate("home_base", errors);
    }
    if let Some(capacity) = capacity
        && !(1..=100).contains(&capacity)
    {
        errors.add("capacity", "must be between 1 and 100");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Android, Self::Ios, Self::Web]
            .into_iter()
            .find(|p| p.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub platform: Platform,
    pub push_token: Option<String>,
    /// Automerge actor id (hex) this device writes ticket documents with.
    pub actor_id: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub platform: Platform,
    pub push_token: Option<String>,
    pub actor_id: String,
}

impl NewDevice {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        // Automerge actor ids are arbitrary bytes written as hex; 16 bytes is the usual size.
        let actor_ok = (2..=128).contains(&self.actor_id.len())
            && self.actor_id.len().is_multiple_of(2)
            && self
                .actor_id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
        if !actor_ok {
            errors.add("actor_id", "must be 1-64 bytes written as lowercase hex");
        }
        if let Some(token) = &self.push_token {
            check_text(&mut errors, "push_token", token, 4096);
        }
        errors.into_result()
    }
}

/// What a technician sets from the phone: the statuses of their own day.
/// `busy` stays the office's (`PATCH /v1/technicians/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    OnBreak,
    OffDuty,
}

impl From<Availability> for TechnicianStatus {
    fn from(a: Availability) -> Self {
        match a {
            Availability::Available => TechnicianStatus::Available,
            Availability::OnBreak => TechnicianStatus::OnBreak,
            Availability::OffDuty => TechnicianStatus::OffDuty,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityInput {
    pub status: Availability,
}

/// A technician's availability as dispatch sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityView {
    pub technician_id: Uuid,
    pub status: TechnicianStatus,
    pub updated_at: DateTime<Utc>,
}

/// `PATCH /v1/devices/{id}`: a new push token (rotation) or `null` (sign-out).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    /// Required; `null` clears the token.
    #[serde(default, deserialize_with = "present_token")]
    #[schema(value_type = Option<String>)]
    pub push_token: Option<Option<String>>,
}

/// Distinguishes an absent `push_token` from an explicit `null`.
fn present_token<'de, D>(deserializer: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(deserializer).map(Some)
}

impl DevicePatch {
    /// The token to store (`None`: cleared).
    pub fn validate(&self) -> Result<Option<String>, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let token = match &self.push_token {
            None => {
                errors.add("push_token", "is required (null clears it)");
                None
            }
            Some(None) => None,
            Some(Some(token)) => {
                check_text(&mut errors, "push_token", token, 4096);
                Some(token.clone())
            }
        };
        errors.into_result()?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_patch_needs_the_token_or_an_explicit_null() {
        let parse = |json: &str| serde_json::from_str::<DevicePatch>(json).expect("parses");
        assert!(parse("{}").validate().is_err(), "absent is not a change");
        assert_eq!(
            parse(r#"{"push_token": null}"#).validate().expect("clears"),
            None
        );
        assert_eq!(
            parse(r#"{"push_token": "fcm-2"}"#)
                .validate()
                .expect("rotates"),
            Some("fcm-2".to_owned())
        );
        assert!(parse(r#"{"push_token": "  "}"#).validate().is_err());
        assert!(serde_json::from_str::<DevicePatch>(r#"{"platform": "ios"}"#).is_err());
    }

    #[test]
    fn phone_availability_maps_onto_technician_statuses() {
        assert_eq!(
            TechnicianStatus::from(Availability::OnBreak),
            TechnicianStatus::OnBreak
        );
        assert_eq!(
            TechnicianStatus::parse("on_break"),
            Some(TechnicianStatus::OnBreak)
        );
        assert_eq!(TechnicianStatus::OnBreak.as_str(), "on_break");
        assert!(serde_json::from_str::<AvailabilityInput>(r#"{"status": "busy"}"#).is_err());
    }

    #[test]
    fn tenant_names_are_login_handles() {
        assert!(validate_tenant_name("acme-hvac").is_ok());
        assert!(validate_tenant_name("Acme").is_err());
        assert!(validate_tenant_name("-acme").is_err());
        assert!(validate_tenant_name("a").is_err());
        assert!(validate_tenant_name("acme'; drop table x").is_err());
    }

    #[test]
    fn user_input_is_checked() {
        let user = NewUser {
            email: "not-an-email".into(),
            name: "".into(),
            role: Role::Admin,
            password: "short".into(),
        };
        let errors = user.validate().expect_err("three problems");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "name", "password"]);
    }

    #[test]
    fn skills_need_levels_between_one_and_five_and_no_repeats() {
        let mut errors = ValidationErrors::new();
        let skills = vec![
            SkillLevel {
                skill: "hvac".into(),
                level: 3,
            },
            SkillLevel {
                skill: "hvac".into(),
                level: 2,
            },
            SkillLevel {
                skill: "electrical".into(),
                level: 6,
            },
            SkillLevel {
                skill: "Bad Name".into(),
                level: 0,
            },
        ];
        validate_skills(&mut errors, "skills", &skills);
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "skills[1].skill",
                "skills[2].level",
                "skills[3].skill",
                "skills[3].level"
            ]
        );
    }

    #[test]
    fn names_missing_and_insufficient_skills() {
        let skill = |name: &str, level| SkillLevel {
            skill: name.into(),
            level,
        };
        let held = [skill("hvac", 2), skill("electrical", 5)];
        let required = [skill("hvac", 3), skill("electrical", 4), skill("gas", 1)];
        assert_eq!(
            missing_skills(&required, &held),
            [
                "hvac: level 3 required, has 2",
                "gas: level 1 required, has none"
            ]
        );
        assert!(missing_skills(&required[1..2], &held).is_empty());
    }

    #[test]
    fn device_actor_ids_are_hex() {
        let device = |actor: &str| NewDevice {
            platform: Platform::Android,
            push_token: None,
            actor_id: actor.into(),
        };
        assert!(
            device("0123456789abcdef0123456789abcdef")
                .validate()
                .is_ok()
        );
        assert!(device("xyz").validate().is_err());
        assert!(device("ABCD").validate().is_err());
        assert!(device("abc").validate().is_err());
    }

    #[test]
    fn technician_patch_applies_only_given_fields() {
        let now = Utc::now();
        let mut technician = Technician {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            user_id: Uuid::nil(),
            name: "Ada".into(),
            skills: vec![],
            shifts: vec![],
            time_zone: "UTC".into(),
            home_base: None,
            capacity: 3,
            status: TechnicianStatus::Available,
            created_at: now,
            updated_at: now,
            archived_at: None,
        };
        TechnicianPatch {
            capacity: Some(7),
            ..Default::default()
        }
        .apply(&mut technician);
        assert_eq!(technician.capacity, 7);
        assert_eq!(technician.name, "Ada");
        assert!(
            TechnicianPatch {
                capacity: Some(0),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
