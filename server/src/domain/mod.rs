//! Pure types and rules. No I/O; serde and schema derives only.

pub mod approvals;
pub mod audit;
pub mod automation;
pub mod checkin;
pub mod csv;
pub mod custom_fields;
pub mod customers;
pub mod duplicates;
pub mod geo;
pub mod knowledge;
pub mod lifecycle;
pub mod location;
pub mod macros;
pub mod maintenance;
pub mod offer;
pub mod parts;
pub mod people;
pub mod permissions;
pub mod privacy;
pub mod schedule;
pub mod search;
pub mod shifts;
pub mod sla;
pub mod subtickets;
pub mod territory;
pub mod ticket;
pub mod validation;
pub mod watch;

pub use validation::{FieldError, ValidationErrors};
