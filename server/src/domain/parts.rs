//! Parts and van stock (issue 23): the catalogue, stock locations, the
//! movement ledger's kinds, required parts, the dispatch policy per
//! category, labour rates and the job's value — types and rules, no I/O.
//!
//! Quantities travel as numbers of the part's unit (fractional for parts
//! sold by length or weight) and are stored as whole thousandths, so sums
//! over millions of movements are exact. Money is in minor units (cents).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ValidationErrors;
use super::validation::{check_optional_text, check_text};

/// Thousandths per unit: the stored resolution of a quantity.
pub const MILLI: f64 = 1000.0;
/// The largest quantity one movement or entry may carry (units).
pub const MAX_QUANTITY: f64 = 1_000_000_000.0;
/// The largest price or cost (cents).
pub const MAX_CENTS: i64 = 100_000_000_000;
const MAX_TEXT: usize = 200;

/// `quantity` units as stored thousandths; `None` unless finite and within
/// ±[`MAX_QUANTITY`].
pub fn to_milli(quantity: f64) -> Option<i64> {
    (quantity.is_finite() && quantity.abs() <= MAX_QUANTITY)
        .then(|| (quantity * MILLI).round() as i64)
}

/// Stored thousandths as units.
pub fn from_milli(milli: i64) -> f64 {
    milli as f64 / MILLI
}

/// A positive quantity (units) as thousandths, or the field's error.
pub fn positive_milli(errors: &mut ValidationErrors, field: &str, quantity: f64) -> i64 {
    match to_milli(quantity) {
        Some(m) if m > 0 => m,
        _ => {
            errors.add(
                field,
                format!("must be a positive number of at most {MAX_QUANTITY} (resolution 0.001)"),
            );
            0
        }
    }
}

/// A catalogue part.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Part {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    /// Unique per tenant; what the phone's part entries name.
    #[schema(example = "CR-24")]
    pub number: String,
    #[schema(example = "compressor relay")]
    pub name: String,
    /// The unit a quantity counts, e.g. `pcs`, `m`, `kg`.
    pub unit: String,
    /// Sale price per unit, in cents.
    pub price_cents: i64,
    /// Cost per unit, in cents.
    pub cost_cents: i64,
    pub barcode: Option<String>,
    /// Each unit carries a serial number.
    pub serial_tracked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A part to create, or the new state of one (`PUT`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartInput {
    pub number: String,
    pub name: String,
    #[serde(default = "default_unit")]
    pub unit: String,
    pub price_cents: i64,
    #[serde(default)]
    pub cost_cents: i64,
    #[serde(default)]
    pub barcode: Option<String>,
    #[serde(default)]
    pub serial_tracked: bool,
}

fn default_unit() -> String {
    "pcs".into()
}

impl PartInput {
    /// Field errors, each prefixed with `prefix` (e.g. `line 3: `).
    pub fn check(&self, errors: &mut ValidationErrors, prefix: &str) {
        let f = |name: &str| format!("{prefix}{name}");
        check_text(errors, &f("number"), &self.number, 64);
        if !self.number.trim().is_empty() && self.number.trim() != self.number {
            errors.add(f("number"), "must not start or end with spaces");
        }
        check_text(errors, &f("name"), &self.name, MAX_TEXT);
        check_text(errors, &f("unit"), &self.unit, 16);
        for (name, cents) in [
            ("price_cents", self.price_cents),
            ("cost_cents", self.cost_cents),
        ] {
            if !(0..=MAX_CENTS).contains(&cents) {
                errors.add(f(name), format!("must be between 0 and {MAX_CENTS}"));
            }
        }
        if let Some(barcode) = &self.barcode {
            check_optional_text(errors, &f("barcode"), barcode, 64);
        }
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.check(&mut errors, "");
        errors.into_result()
    }
}

/// The columns of a catalogue CSV, in this order, with a header line.
pub const CSV_COLUMNS: [&str; 7] = [
    "number",
    "name",
    "unit",
    "price",
    "cost",
    "barcode",
    "serial_tracked",
];

/// A decimal amount of money (`12.5`, `12.50`, `0`) as cents.
pub fn parse_cents(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

/// A catalogue CSV (header [`CSV_COLUMNS`], prices in currency units) as
/// parts, or every bad line's errors, named `line N: field`.
pub fn parse_catalogue_csv(text: &str) -> Result<Vec<PartInput>, ValidationErrors> {
    let records = super::csv::records(text)
        .map_err(|e| ValidationErrors::single(format!("line {}", e.line), e.message))?;
    let mut errors = ValidationErrors::new();
    let mut lines = records.into_iter();
    match lines.next() {
        Some((_, header)) => {
            let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
            if header != CSV_COLUMNS {
                return Err(ValidationErrors::single(
                    "line 1",
                    format!("the header must be `{}`", CSV_COLUMNS.join(",")),
                ));
            }
        }
        None => return Err(ValidationErrors::single("body", "the CSV is empty")),
    }
    let mut parts = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (line, fields) in lines {
        let prefix = format!("line {line}: ");
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        if fields.len() != CSV_COLUMNS.len() {
            errors.add(
                format!("line {line}"),
                format!(
                    "has {} fields, expected {}",
                    fields.len(),
                    CSV_COLUMNS.len()
                ),
            );
            continue;
        }
        let money = |errors: &mut ValidationErrors, name: &str, value: &str| {
            parse_cents(value).unwrap_or_else(|| {
                errors.add(format!("{prefix}{name}"), "must be an amount like 12.50");
                0
            })
        };
        let price_cents = money(&mut errors, "price", &fields[3]);
        let cost_cents = if fields[4].trim().is_empty() {
            0
        } else {
            money(&mut errors, "cost", &fields[4])
        };
        let serial_tracked = match fields[6].trim().to_lowercase().as_str() {
            "" | "false" | "no" | "0" => false,
            "true" | "yes" | "1" => true,
            _ => {
                errors.add(format!("{prefix}serial_tracked"), "must be true or false");
                false
            }
        };
        let barcode = fields[5].trim();
        let part = PartInput {
            number: fields[0].trim().to_owned(),
            name: fields[1].trim().to_owned(),
            unit: if fields[2].trim().is_empty() {
                default_unit()
            } else {
                fields[2].trim().to_owned()
            },
            price_cents,
            cost_cents,
            barcode: (!barcode.is_empty()).then(|| barcode.to_owned()),
            serial_tracked,
        };
        part.check(&mut errors, &prefix);
        if let Some(first) = seen.insert(part.number.clone(), line) {
            errors.add(
                format!("{prefix}number"),
                format!("`{}` is already on line {first}", part.number),
            );
        }
        parts.push(part);
    }
    errors.into_result()?;
    Ok(parts)
}

/// What kind of place holds stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    /// A technician's van: one per technician, created on demand.
    Van,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warehouse => "warehouse",
            Self::Van => "van",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "warehouse" => Some(Self::Warehouse),
            "van" => Some(Self::Van),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StockLocation {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub kind: LocationKind,
    pub name: String,
    /// The van's technician.
    pub technician_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// What a movement records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Stock arrives from a supplier (into a location).
    Receipt,
    /// From one location to another.
    Transfer,
    /// Used on a ticket (out of a location).
    Consumption,
    /// Back into a location: from a ticket (a corrected or removed part
    /// entry) or from a customer.
    Return,
    /// A count corrected, with a reason (into or out of a location).
    Adjustment,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Transfer => "transfer",
            Self::Consumption => "consumption",
            Self::Return => "return",
            Self::Adjustment => "adjustment",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "receipt" => Self::Receipt,
            "transfer" => Self::Transfer,
            "consumption" => Self::Consumption,
            "return" => Self::Return,
            "adjustment" => Self::Adjustment,
            _ => return None,
        })
    }
}

/// One line of the ledger: `quantity` of a part leaves `from` and/or
/// enters `to`. Never changed or deleted; a mistake is corrected by
/// another movement.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Movement {
    pub id: Uuid,
    pub kind: MovementKind,
    pub part_id: Uuid,
    pub from_location_id: Option<Uuid>,
    pub to_location_id: Option<Uuid>,
    /// Positive, in the part's unit.
    pub quantity: f64,
    pub ticket_id: Option<Uuid>,
    /// The part entry of the ticket's document it reconciles.
    pub entry_id: Option<String>,
    pub reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A movement the office records (`POST /v1/stock/movements`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MovementRequest {
    Receipt {
        part_id: Uuid,
        to_location_id: Uuid,
        quantity: f64,
        #[serde(default)]
        reason: Option<String>,
    },
    Transfer {
        part_id: Uuid,
        from_location_id: Uuid,
        to_location_id: Uuid,
        quantity: f64,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Stock returned into a location (from a customer or a job).
    Return {
        part_id: Uuid,
        to_location_id: Uuid,
        quantity: f64,
        #[serde(default)]
        ticket_id: Option<Uuid>,
        #[serde(default)]
        reason: Option<String>,
    },
    /// A count corrected: `delta` positive adds, negative removes.
    Adjustment {
        part_id: Uuid,
        location_id: Uuid,
        delta: f64,
        reason: String,
    },
}

/// A checked movement, quantities in thousandths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMovement {
    pub kind: MovementKind,
    pub part_id: Uuid,
    pub from_location_id: Option<Uuid>,
    pub to_location_id: Option<Uuid>,
    pub quantity: i64,
    pub ticket_id: Option<Uuid>,
    pub entry_id: Option<String>,
    pub reason: Option<String>,
}

impl MovementRequest {
    pub fn check(&self) -> Result<NewMovement, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let reason_ok = |errors: &mut ValidationErrors, reason: &Option<String>| {
            if let Some(r) = reason {
                check_optional_text(errors, "reason", r, 500);
            }
            reason.clone().filter(|r| !r.trim().is_empty())
        };
        let movement = match self {
            Self::Receipt {
                part_id,
                to_location_id,
                quantity,
                reason,
            } => NewMovement {
                kind: MovementKind::Receipt,
                part_id: *part_id,
                from_location_id: None,
                to_location_id: Some(*to_location_id),
                quantity: positive_milli(&mut errors, "quantity", *quantity),
                ticket_id: None,
                entry_id: None,
                reason: reason_ok(&mut errors, reason),
            },
            Self::Transfer {
                part_id,
                from_location_id,
                to_location_id,
                quantity,
                reason,
            } => {
                if from_location_id == to_location_id {
                    errors.add("to_location_id", "must differ from from_location_id");
                }
                NewMovement {
                    kind: MovementKind::Transfer,
                    part_id: *part_id,
                    from_location_id: Some(*from_location_id),
                    to_location_id: Some(*to_location_id),
                    quantity: positive_milli(&mut errors, "quantity", *quantity),
                    ticket_id: None,
                    entry_id: None,
                    reason: reason_ok(&mut errors, reason),
                }
            }
            Self::Return {
                part_id,
                to_location_id,
                quantity,
                ticket_id,
                reason,
            } => NewMovement {
                kind: MovementKind::Return,
                part_id: *part_id,
                from_location_id: None,
                to_location_id: Some(*to_location_id),
                quantity: positive_milli(&mut errors, "quantity", *quantity),
                ticket_id: *ticket_id,
                entry_id: None,
                reason: reason_ok(&mut errors, reason),
            },
            Self::Adjustment {
                part_id,
                location_id,
                delta,
                reason,
            } => {
                check_text(&mut errors, "reason", reason, 500);
                let milli = match to_milli(*delta) {
                    Some(m) if m != 0 => m,
                    _ => {
                        errors.add("delta", "must be a non-zero number (resolution 0.001)");
                        0
                    }
                };
                NewMovement {
                    kind: MovementKind::Adjustment,
                    part_id: *part_id,
                    from_location_id: (milli < 0).then_some(*location_id),
                    to_location_id: (milli > 0).then_some(*location_id),
                    quantity: milli.abs(),
                    ticket_id: None,
                    entry_id: None,
                    reason: Some(reason.trim().to_owned()),
                }
            }
        };
        errors.into_result()?;
        Ok(movement)
    }
}

/// A part's balance at a location, derived from the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Balance {
    pub location_id: Uuid,
    pub location_name: String,
    pub location_kind: LocationKind,
    pub technician_id: Option<Uuid>,
    pub part_id: Uuid,
    pub part_number: String,
    pub part_name: String,
    pub unit: String,
    pub quantity: f64,
    /// More was taken out than the ledger knew was there.
    pub negative: bool,
    /// The location's reorder point for the part, if set.
    pub reorder_min: Option<f64>,
}

/// Below this, replenish up to `target`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderPointInput {
    pub location_id: Uuid,
    pub part_id: Uuid,
    pub min: f64,
    pub target: f64,
}

/// A replenishment suggestion: a location below its reorder point.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Suggestion {
    pub location_id: Uuid,
    pub location_name: String,
    pub part_id: Uuid,
    pub part_number: String,
    pub part_name: String,
    pub balance: f64,
    pub min: f64,
    pub target: f64,
    /// Up to the target.
    pub suggested_quantity: f64,
}

/// The serial of a serial-tracked part used on a ticket, recorded on the
/// ticket's asset: one per part entry of the ticket's document.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AssetSerial {
    pub ticket_id: Uuid,
    pub ticket_number: String,
    /// The part entry's id in the ticket's document.
    pub entry_id: String,
    pub part_id: Uuid,
    pub part_number: String,
    pub part_name: String,
    pub serial: String,
    /// When the entry's serial was first recorded.
    pub recorded_at: DateTime<Utc>,
    /// When it was last corrected (equal to `recorded_at` until then).
    pub updated_at: DateTime<Utc>,
}

/// A part a ticket needs.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RequiredPart {
    pub part_id: Uuid,
    pub part_number: String,
    pub name: String,
    pub quantity: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredPartInput {
    pub part_id: Uuid,
    pub quantity: f64,
}

/// How dispatch treats a ticket's required parts, per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartsPolicy {
    /// Technicians whose van holds every required part rank higher.
    #[default]
    Prefer,
    /// Only technicians whose van holds every required part are candidates.
    Require,
}

impl PartsPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prefer => "prefer",
            Self::Require => "require",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "prefer" => Some(Self::Prefer),
            "require" => Some(Self::Require),
            _ => None,
        }
    }
}

/// What a labour rate applies to; the most specific wins: technician, then
/// category, then the tenant's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateScope {
    Default,
    /// `key` is a category name.
    Category,
    /// `key` is a technician id.
    Technician,
}

impl RateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Category => "category",
            Self::Technician => "technician",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "default" => Some(Self::Default),
            "category" => Some(Self::Category),
            "technician" => Some(Self::Technician),
            _ => None,
        }
    }
}

/// An hourly labour rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabourRate {
    pub scope: RateScope,
    /// The category name or the technician id; empty for `default`.
    #[serde(default)]
    pub key: String,
    pub cents_per_hour: i64,
}

impl LabourRate {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        match self.scope {
            RateScope::Default if !self.key.is_empty() => {
                errors.add("key", "must be empty for the default rate")
            }
            RateScope::Category => check_text(&mut errors, "key", &self.key, 64),
            RateScope::Technician if self.key.parse::<Uuid>().is_err() => {
                errors.add("key", "must be a technician id")
            }
            _ => {}
        }
        if !(0..=MAX_CENTS).contains(&self.cents_per_hour) {
            errors.add(
                "cents_per_hour",
                format!("must be between 0 and {MAX_CENTS}"),
            );
        }
        errors.into_result()
    }
}

/// One of a ticket's part entries as the ledger reconciled it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartUse {
    pub entry_id: String,
    pub part_number: String,
    /// The catalogue part the number names, if any.
    pub part: Option<Part>,
    pub location_id: Option<Uuid>,
    pub quantity: i64,
    pub consumed: i64,
    pub serial: Option<String>,
}

/// The rate for `technician` on a ticket of `category`: technician, then
/// category, then default; `None` when no rate applies.
pub fn rate_for(rates: &[LabourRate], category: &str, technician: Option<Uuid>) -> Option<i64> {
    let find = |scope: RateScope, key: &str| {
        rates
            .iter()
            .find(|r| r.scope == scope && r.key == key)
            .map(|r| r.cents_per_hour)
    };
    technician
        .and_then(|t| find(RateScope::Technician, &t.to_string()))
        .or_else(|| find(RateScope::Category, category))
        .or_else(|| find(RateScope::Default, ""))
}

/// Cents of `milli` thousandths at `cents_per_unit`, rounded half up.
pub fn line_cents(milli: i64, cents_per_unit: i64) -> i64 {
    let product = i128::from(milli) * i128::from(cents_per_unit);
    i64::try_from((product + 500).div_euclid(1000)).unwrap_or(i64::MAX)
}

/// Cents of `seconds` at `cents_per_hour`, rounded half up.
pub fn labour_cents(seconds: i64, cents_per_hour: i64) -> i64 {
    let product = i128::from(seconds) * i128::from(cents_per_hour);
    i64::try_from((product + 1800).div_euclid(3600)).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_to_thousandths() {
        assert_eq!(to_milli(0.5), Some(500));
        assert_eq!(to_milli(2.0004), Some(2000));
        assert_eq!(to_milli(f64::NAN), None);
        assert_eq!(from_milli(1500), 1.5);
    }

    #[test]
    fn money_parses_two_decimals_at_most() {
        assert_eq!(parse_cents("12.5"), Some(1250));
        assert_eq!(parse_cents("12.50"), Some(1250));
        assert_eq!(parse_cents("7"), Some(700));
        assert_eq!(parse_cents("1.234"), None);
        assert_eq!(parse_cents("-1"), None);
        assert_eq!(parse_cents("abc"), None);
    }

    #[test]
    fn csv_errors_name_their_lines_and_nothing_is_returned() {
        let text = "number,name,unit,price,cost,barcode,serial_tracked\n\
                    CR-24,compressor relay,pcs,18.90,9.10,4006381333931,false\n\
                    ,nameless,pcs,1,1,,false\n\
                    CR-24,again,pcs,1.999,1,,maybe\n";
        let errors = parse_catalogue_csv(text).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "line 3: number",
                "line 4: price",
                "line 4: serial_tracked",
                "line 4: number"
            ]
        );
    }

    #[test]
    fn rates_prefer_the_most_specific_scope() {
        let tech = Uuid::now_v7();
        let rates = vec![
            LabourRate {
                scope: RateScope::Default,
                key: String::new(),
                cents_per_hour: 6000,
            },
            LabourRate {
                scope: RateScope::Category,
                key: "hvac".into(),
                cents_per_hour: 8000,
            },
            LabourRate {
                scope: RateScope::Technician,
                key: tech.to_string(),
                cents_per_hour: 9000,
            },
        ];
        assert_eq!(rate_for(&rates, "hvac", Some(tech)), Some(9000));
        assert_eq!(rate_for(&rates, "hvac", None), Some(8000));
        assert_eq!(rate_for(&rates, "plumbing", None), Some(6000));
        assert_eq!(labour_cents(5400, 8000), 12000);
        assert_eq!(line_cents(2500, 1890), 4725);
    }
}
