//! Dispatch: which technicians to propose for a job.
//!
//! [`TechnicianIndex`] keeps every technician's live position and dispatch
//! facts (skills, status, shifts, capacity, load) in memory and answers
//! "the nearest `k` technicians available now with skills S to point P"
//! ([`NearestQuery`]) in microseconds. It only proposes: assignments are
//! decided by the database.
//!
//! ```
//! use chrono::Utc;
//! use truckroll_server::dispatch::{NearestQuery, TechnicianEntry, TechnicianIndex, PositionFix};
//! use truckroll_server::domain::{geo::GeoPoint, people::{SkillLevel, TechnicianStatus}, shifts::{Day, Shift}};
//! use uuid::Uuid;
//!
//! let tenant = Uuid::now_v7();
//! let all_week = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun]
//!     .map(|day| Shift { day, start: "00:00".into(), end: "00:00".into(), breaks: vec![] });
//! let index = TechnicianIndex::new();
//! index.upsert(TechnicianEntry {
//!     id: Uuid::now_v7(),
//!     tenant_id: tenant,
//!     position: Some(PositionFix { point: GeoPoint { lat: 52.52, lon: 13.40 }, at: Utc::now() }),
//!     skills: vec![SkillLevel { skill: "hvac".into(), level: 3 }],
//!     status: TechnicianStatus::Available,
//!     shifts: all_week.to_vec(),
//!     time_zone: "Europe/Berlin".into(),
//!     capacity: 2,
//!     load: 0,
//! })?;
//!
//! let hvac = [SkillLevel { skill: "hvac".into(), level: 2 }];
//! let potsdam = GeoPoint { lat: 52.39, lon: 13.06 };
//! let found = index.nearest(&NearestQuery::new(tenant, potsdam, 5, Utc::now()).with_skills(&hvac))?;
//! assert_eq!(found.len(), 1);
//! assert!((found[0].distance_m - 27_500.0).abs() < 1_000.0);
//! # Ok::<(), truckroll_server::dispatch::IndexError>(())
//! ```

pub mod assignment;
pub mod batch;
pub mod calendar;
mod config;
mod index;
pub mod ingest;
pub mod offers;
pub mod parts;
mod query;
mod scan;
mod schedule;
pub mod service;
pub mod sphere;

pub use assignment::{AssignError, AssignmentFlow, DispatchHandles};
pub use config::DispatchConfig;
pub use index::TechnicianIndex;
pub use query::{
    Candidate, CandidateFilter, IndexError, NearestQuery, PositionFix, PositionUpdate,
    TechnicianEntry,
};
pub use scan::nearest_by_scan;

#[cfg(test)]
mod tests;
