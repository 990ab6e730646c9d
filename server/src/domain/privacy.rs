//! Customers' personal data (issue 19): which fields are masked for whom,
//! how a masked value looks, and what erasure replaces.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    customers::{Customer, Site},
    people::Role,
    validation::ValidationErrors,
};

/// A customer field that is masked for roles that do not need it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MaskedField {
    Phone,
    Email,
    /// A site's address (with its access notes).
    Address,
}

impl MaskedField {
    pub const ALL: [MaskedField; 3] =
        [MaskedField::Phone, MaskedField::Email, MaskedField::Address];

    pub fn as_str(self) -> &'static str {
        match self {
            MaskedField::Phone => "phone",
            MaskedField::Email => "email",
            MaskedField::Address => "address",
        }
    }
}

/// A tenant's choices. Technicians are not configurable: they see the
/// fields of customers and sites of tickets assigned to them, and no others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Per office role (`admin`, `dispatcher`, `manager`), the fields it
    /// sees unmasked. A role not named sees all three masked.
    #[schema(value_type = Object)]
    pub unmasked: BTreeMap<String, BTreeSet<MaskedField>>,
    /// Whether erasing a customer also deletes the photos of its tickets
    /// (signatures are always deleted: they show the signer's name).
    pub erase_photos: bool,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        let all: BTreeSet<MaskedField> = MaskedField::ALL.into_iter().collect();
        Self {
            unmasked: BTreeMap::from([
                ("admin".to_owned(), all.clone()),
                ("dispatcher".to_owned(), all),
            ]),
            erase_photos: true,
        }
    }
}

impl PrivacySettings {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        for role in self.unmasked.keys() {
            if !matches!(role.as_str(), "admin" | "dispatcher" | "manager") {
                errors.add(
                    format!("unmasked.{role}"),
                    "must be admin, dispatcher or manager (technicians see their assigned jobs only)",
                );
            }
        }
        errors.into_result()
    }

    /// The fields `role` sees unmasked on records it may read at all.
    pub fn unmasked_for(&self, role: Role) -> BTreeSet<MaskedField> {
        self.unmasked
            .get(role.as_str())
            .cloned()
            .unwrap_or_default()
    }
}

/// What a reader may see of the three fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility(pub BTreeSet<MaskedField>);

impl Visibility {
    pub fn all() -> Self {
        Self(MaskedField::ALL.into_iter().collect())
    }

    pub fn shows(&self, field: MaskedField) -> bool {
        self.0.contains(&field)
    }

    pub fn customer(&self, mut customer: Customer) -> Customer {
        if !self.shows(MaskedField::Phone) {
            customer.phone = customer.phone.as_deref().map(mask_phone);
        }
        if !self.shows(MaskedField::Email) {
            customer.email = customer.email.as_deref().map(mask_email);
        }
        customer
    }

    pub fn site(&self, mut site: Site) -> Site {
        if !self.shows(MaskedField::Address) {
            site.address = mask_text(&site.address);
            if !site.access_notes.is_empty() {
                site.access_notes = mask_text(&site.access_notes);
            }
        }
        site
    }
}

/// The character a masked value shows in place of what it hides.
pub const MASK: char = '•';

/// `+49 170 5551234` → `•••••••••••34`: only the last two digits stay.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    phone
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen + 2 > digits { c } else { MASK }
            } else {
                MASK
            }
        })
        .collect()
}

/// `ada@example.com` → `a•••@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}{MASK}{MASK}{MASK}@{domain}")
        }
        None => mask_text(email),
    }
}

/// Free text (an address): nothing of it stays.
pub fn mask_text(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        MASK.to_string().repeat(8)
    }
}

/// What erased text is replaced with.
pub const ERASED: &str = "[erased]";

/// Replaces a customer's values wherever they occur in a text: as written,
/// lowercased and uppercased (the search text is lowercased), and a phone
/// number also without its spaces and punctuation.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// Values shorter than three characters are ignored: erasing every "Al"
    /// from the tenant's text would damage more than it protects.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = BTreeSet::new();
        for value in values {
            let value = value.trim();
            let compact: String = value
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect();
            let digits = compact.chars().filter(char::is_ascii_digit).count();
            let mut variants = vec![value.to_owned(), value.to_lowercase(), value.to_uppercase()];
            if digits >= 6 {
                variants.push(compact.trim_start_matches('+').to_owned());
                variants.push(compact);
            }
            needles.extend(variants.into_iter().filter(|v| v.chars().count() >= 3));
        }
        // Longest first, so a value is replaced before a part of it.
        let mut needles: Vec<String> = needles.into_iter().collect();
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Self { needles }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    pub fn needles(&self) -> &[String] {
        &self.needles
    }

    pub fn contains_any(&self, text: &str) -> bool {
        self.needles.iter().any(|n| text.contains(n.as_str()))
    }

    pub fn contains_any_bytes(&self, bytes: &[u8]) -> bool {
        self.needles.iter().any(|n| {
            let n = n.as_bytes();
            bytes.windows(n.len()).any(|w| w == n)
        })
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), ERASED);
            }
        }
        out
    }

    /// Every string inside a JSON value, keys included.
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.redact(k), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_a_hint() {
        assert_eq!(
            mask_phone("+49 170 5551234"),
            format!("{}34", "•".repeat(11))
        );
        assert_eq!(mask_email("ada@example.com"), "a•••@example.com");
        assert_eq!(mask_text("Kastanienallee 12"), "••••••••");
        assert_eq!(mask_text(""), "");
    }

    #[test]
    fn the_redactor_finds_every_form_of_a_value() {
        let r = Redactor::new(["Ada Lovelace", "+49 170 5551234", "Al"]);
        assert_eq!(r.redact("Call Ada Lovelace"), "Call [erased]");
        assert_eq!(r.redact("ada lovelace called"), "[erased] called");
        assert_eq!(r.redact("tel 491705551234"), "tel [erased]");
        assert_eq!(r.redact("tel +49 170 5551234"), "tel [erased]");
        assert_eq!(r.redact("Al was here"), "Al was here");
        assert!(r.contains_any_bytes(b"xx ADA LOVELACE yy"));
        let json = serde_json::json!({"note": "Ada Lovelace", "n": 3});
        assert_eq!(
            r.redact_json(&json),
            serde_json::json!({"note": "[erased]", "n": 3})
        );
    }
}
