//! Ticket documents shared by the Truckroll server and the technician's phone:
//! the status state machine, the ticket's Automerge document
//! ([`TicketDoc`]), the deterministic status fold ([`fold_status`]), what a
//! field device may edit ([`check_field_edit`]), and the envelope of the
//! sync protocol ([`protocol`]). `PROTOCOL.md` next to this crate describes
//! the document schema and the wire protocol for clients in other languages.
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

mod doc;
mod edit;
mod event;
pub mod hlc;
mod machine;
pub mod packet;
mod packet_approval;
mod packet_article;
pub mod protocol;
mod schema;
pub mod signature;
#[cfg(test)]
mod squash;
mod status;

/// The Automerge version this crate is built on, for callers that need its
/// types (sync states, change hashes, actor ids) without a second dependency.
pub use automerge;
pub use automerge::sync::State as SyncState;
pub use automerge::{ActorId, ChangeHash};

pub use doc::{Coalesced, DocError, NewMediaRef, NewPart, SKELETON_ACTOR, TicketDoc};
pub use edit::{EditError, LimitError, Limits, ReceiveError, check_field_edit};
pub use event::{FoldedStatus, IgnoreReason, IgnoredEvent, Position, StatusEvent, fold_status};
pub use hlc::Hlc;

pub use machine::{
    StatusChange, TRANSITIONS, TransitionError, action_between, allowed_actions, apply, transition,
};
pub use schema::{
    ChecklistItem, CustomValue, MediaKind, MediaRef, MediaState, Part, SCHEMA_VERSION, SchemaError,
    SchemaProblem, TimeEntry, TimeEntryKind, validate_schema,
};
pub use status::{ActionOrigin, HoldReason, ParseNameError, Status, StatusAction};
