//! Pure types and rules. No I/O; serde and schema derives only.

pub mod audit;
pub mod checkin;
pub mod csv;
pub mod custom_fields;
pub mod customers;
pub mod geo;
pub mod lifecycle;
pub mod location;
pub mod offer;
pub mod parts;
pub mod people;
pub mod permissions;
pub mod search;
pub mod shifts;
pub mod sla;
pub mod territory;
pub mod ticket;
pub mod validation;

pub use validation::{FieldError, ValidationErrors};
