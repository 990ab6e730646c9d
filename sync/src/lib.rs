//! The ticket status state machine shared by the Truckroll server and the
//! technician's phone.
//!
//! A ticket's status is never stored as a plain value that anyone may
//! overwrite: it is derived by applying [`StatusAction`]s, each checked
//! against the single table [`TRANSITIONS`]. Server and phone link this same
//! crate, so both sides always agree on which changes are allowed.
//!
//! ```
//! use truckroll_sync::{Status, StatusAction, TransitionError, transition};
//!
//! assert_eq!(transition(Status::Assigned, StatusAction::Accept), Ok(Status::Accepted));
//!
//! let err = transition(Status::Assigned, StatusAction::CheckIn).unwrap_err();
//! assert!(matches!(err, TransitionError::NotAllowed { .. }));
//! assert_eq!(
//!     err.to_string(),
//!     "cannot check_in a ticket that is assigned; allowed: reassign, unassign, accept, decline, cancel",
//! );
//! ```

mod machine;
mod status;

pub use machine::{
    StatusChange, TRANSITIONS, TransitionError, action_between, allowed_actions, apply, transition,
};
pub use status::{ActionOrigin, HoldReason, ParseNameError, Status, StatusAction};
