//! Customers, their sites (address and coordinates) and the assets at them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ValidationErrors,
    geo::GeoPoint,
    people::validate_email,
    validation::{check_optional_text, check_text},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerTier {
    Standard,
    Silver,
    Gold,
    Platinum,
}

impl CustomerTier {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerTier::Standard => "standard",
            CustomerTier::Silver => "silver",
            CustomerTier::Gold => "gold",
            CustomerTier::Platinum => "platinum",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Standard, Self::Silver, Self::Gold, Self::Platinum]
            .into_iter()
            .find(|t| t.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub tier: CustomerTier,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Whom the technician asks for on site.
    #[serde(default)]
    pub contact_person: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the record was archived; `null` while active.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
    #[serde(default = "default_tier")]
    pub tier: CustomerTier,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(default)]
    pub contact_person: Option<String>,
}

fn default_tier() -> CustomerTier {
    CustomerTier::Standard
}

impl NewCustomer {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 200);
        if let Some(email) = &self.email {
            validate_email(&mut errors, "email", email);
        }
        if let Some(phone) = &self.phone {
            check_text(&mut errors, "phone", phone, 40);
        }
        if let Some(contact) = &self.contact_person {
            check_text(&mut errors, "contact_person", contact, 200);
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

/// `PATCH /v1/customers/{id}`: absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub tier: Option<CustomerTier>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub contact_person: Option<Option<String>>,
}

impl CustomerPatch {
    /// The customer after the patch, validated like a new one.
    pub fn apply(&self, before: &Customer) -> Result<Customer, ValidationErrors> {
        let mut after = before.clone();
        if let Some(name) = &self.name {
            after.name = name.trim().to_owned();
        }
        if let Some(tier) = self.tier {
            after.tier = tier;
        }
        if let Some(email) = &self.email {
            after.email = email.as_deref().map(crate::domain::people::normalize_email);
        }
        if let Some(phone) = &self.phone {
            after.phone.clone_from(phone);
        }
        if let Some(contact) = &self.contact_person {
            after.contact_person.clone_from(contact);
        }
        NewCustomer {
            name: after.name.clone(),
            tier: after.tier,
            email: after.email.clone(),
            phone: after.phone.clone(),
            contact_person: after.contact_person.clone(),
        }
        .validate()?;
        Ok(after)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Site {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub address: String,
    pub location: GeoPoint,
    /// The first territory, by creation, whose boundary covers the site;
    /// kept current when sites or territories are written.
    #[serde(default)]
    pub territory_id: Option<Uuid>,
    /// How to get in, hazards, parking: free text for the technician.
    #[serde(default)]
    pub access_notes: String,
    /// Free text, e.g. `Mo–Fr 07:00–17:00`.
    #[serde(default)]
    pub opening_hours: String,
    pub created_at: DateTime<Utc>,
    /// When the record was archived; `null` while active.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub customer_id: Uuid,
    pub name: String,
    pub address: String,
    pub location: GeoPoint,
    #[serde(default)]
    pub access_notes: String,
    #[serde(default)]
    pub opening_hours: String,
}

impl NewSite {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 200);
        check_text(&mut errors, "address", &self.address, 500);
        self.location.validate("location", &mut errors);
        check_optional_text(&mut errors, "access_notes", &self.access_notes, 4000);
        check_optional_text(&mut errors, "opening_hours", &self.opening_hours, 500);
        errors.into_result()
    }
}

/// `PATCH /v1/sites/{id}`: absent fields stay. A new `location` resolves
/// the site's territory again (and moves the check-in geofence).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    pub customer_id: Option<Uuid>,
    pub location: Option<GeoPoint>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub access_notes: Option<String>,
    pub opening_hours: Option<String>,
}

impl SitePatch {
    /// The site after the patch, validated like a new one.
    pub fn apply(&self, before: &Site) -> Result<Site, ValidationErrors> {
        let mut after = before.clone();
        if let Some(customer_id) = self.customer_id {
            after.customer_id = customer_id;
        }
        if let Some(location) = self.location {
            after.location = location;
        }
        if let Some(name) = &self.name {
            after.name = name.trim().to_owned();
        }
        if let Some(address) = &self.address {
            after.address = address.trim().to_owned();
        }
        if let Some(notes) = &self.access_notes {
            after.access_notes.clone_from(notes);
        }
        if let Some(hours) = &self.opening_hours {
            after.opening_hours.clone_from(hours);
        }
        NewSite {
            customer_id: after.customer_id,
            name: after.name.clone(),
            address: after.address.clone(),
            location: after.location,
            access_notes: after.access_notes.clone(),
            opening_hours: after.opening_hours.clone(),
        }
        .validate()?;
        Ok(after)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Asset {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub site_id: Uuid,
    pub serial: String,
    pub model: String,
    pub warranty_end: Option<NaiveDate>,
    #[serde(default)]
    pub installed_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    /// When the record was archived; `null` while active.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub site_id: Uuid,
    pub serial: String,
    pub model: String,
    pub warranty_end: Option<NaiveDate>,
    #[serde(default)]
    pub installed_on: Option<NaiveDate>,
}

impl NewAsset {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "serial", &self.serial, 100);
        check_text(&mut errors, "model", &self.model, 200);
        if let (Some(installed), Some(end)) = (self.installed_on, self.warranty_end)
            && end < installed
        {
            errors.add("warranty_end", "must not be before installed_on");
        }
        errors.into_result()
    }
}

/// `PATCH /v1/assets/{id}`: absent fields stay, `null` clears a date.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetPatch {
    pub site_id: Option<Uuid>,
    pub serial: Option<String>,
    pub model: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    pub warranty_end: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    pub installed_on: Option<Option<NaiveDate>>,
}

impl AssetPatch {
    /// The asset after the patch, validated like a new one.
    pub fn apply(&self, before: &Asset) -> Result<Asset, ValidationErrors> {
        let mut after = before.clone();
        if let Some(site_id) = self.site_id {
            after.site_id = site_id;
        }
        if let Some(serial) = &self.serial {
            after.serial = serial.trim().to_owned();
        }
        if let Some(model) = &self.model {
            after.model = model.trim().to_owned();
        }
        if let Some(end) = self.warranty_end {
            after.warranty_end = end;
        }
        if let Some(installed) = self.installed_on {
            after.installed_on = installed;
        }
        NewAsset {
            site_id: after.site_id,
            serial: after.serial.clone(),
            model: after.model.clone(),
            warranty_end: after.warranty_end,
            installed_on: after.installed_on,
        }
        .validate()?;
        Ok(after)
    }
}

/// The warranty of an asset on `today`: `Some(true)` in warranty (the end
/// day included), `Some(false)` expired, `None` no end recorded.
pub fn in_warranty(asset: &Asset, today: NaiveDate) -> Option<bool> {
    asset.warranty_end.map(|end| end >= today)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_reject_out_of_range_coordinates() {
        let site = NewSite {
            customer_id: Uuid::nil(),
            name: "Plant".into(),
            address: "1 Main St".into(),
            location: GeoPoint {
                lat: 91.0,
                lon: 10.0,
            },
            access_notes: String::new(),
            opening_hours: String::new(),
        };
        let errors = site.validate().expect_err("latitude out of range");
        assert_eq!(errors.0[0].field, "location.lat");
    }
}
