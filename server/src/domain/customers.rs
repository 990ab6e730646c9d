//! Customers, their sites (address and coordinates) and the assets at them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ValidationErrors, geo::GeoPoint, people::validate_email, validation::check_text};

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
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
    #[serde(default = "default_tier")]
    pub tier: CustomerTier,
    pub email: Option<String>,
    pub phone: Option<String>,
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
        errors.into_result()
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
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub customer_id: Uuid,
    pub name: String,
    pub address: String,
    pub location: GeoPoint,
}

impl NewSite {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 200);
        check_text(&mut errors, "address", &self.address, 500);
        self.location.validate("location", &mut errors);
        errors.into_result()
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
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub site_id: Uuid,
    pub serial: String,
    pub model: String,
    pub warranty_end: Option<NaiveDate>,
}

impl NewAsset {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "serial", &self.serial, 100);
        check_text(&mut errors, "model", &self.model, 200);
        errors.into_result()
    }
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
        };
        let errors = site.validate().expect_err("latitude out of range");
        assert_eq!(errors.0[0].field, "location.lat");
    }
}
