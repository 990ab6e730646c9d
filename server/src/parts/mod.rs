//! Parts and van stock (issue 23): the catalogue and its CSV import, stock
//! movements, required parts, and the priced job (`value.rs`).
//!
//! The ledger itself lives in the store (`store/parts.rs`): every movement
//! moves its balances in its own transaction, and a ticket document's part
//! entries are reconciled into consumption in the transaction that stores
//! the document (`store/sql/parts.rs`), so a phone's part counts once
//! however often it is synced. Dispatch reads van holdings through
//! `dispatch/parts.rs`.

pub mod value;

use uuid::Uuid;

use crate::domain::ValidationErrors;
use crate::domain::parts::{
    self, Movement, MovementRequest, Part, PartInput, RequiredPart, RequiredPartInput,
};
use crate::store::parts::ImportOutcome;
use crate::store::{Actor, Store, StoreError};

/// Rows one import takes, at most.
pub const MAX_IMPORT_ROWS: usize = 20_000;
/// Required parts per ticket, at most.
pub const MAX_REQUIRED_PARTS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type PartsResult<T> = Result<T, PartsError>;

pub async fn create_part(store: &dyn Store, actor: Actor, input: &PartInput) -> PartsResult<Part> {
    input.validate()?;
    Ok(store.create_part(actor, input).await?)
}

pub async fn update_part(
    store: &dyn Store,
    actor: Actor,
    id: Uuid,
    input: &PartInput,
) -> PartsResult<Part> {
    input.validate()?;
    Ok(store.update_part(actor, id, input).await?)
}

/// Imports a catalogue CSV: every line is checked first, and one bad line
/// (named with its line number) writes nothing.
pub async fn import_csv(store: &dyn Store, actor: Actor, text: &str) -> PartsResult<ImportOutcome> {
    let rows = parts::parse_catalogue_csv(text)?;
    if rows.is_empty() {
        return Err(ValidationErrors::single("body", "no parts after the header").into());
    }
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(ValidationErrors::single(
            "body",
            format!("at most {MAX_IMPORT_ROWS} parts per import"),
        )
        .into());
    }
    Ok(store.import_parts(actor, &rows).await?)
}

pub async fn record_movement(
    store: &dyn Store,
    actor: Actor,
    request: &MovementRequest,
) -> PartsResult<Movement> {
    let movement = request.check()?;
    Ok(store.record_movement(actor, &movement).await?)
}

pub async fn set_required_parts(
    store: &dyn Store,
    actor: Actor,
    ticket_id: Uuid,
    input: &[RequiredPartInput],
) -> PartsResult<Vec<RequiredPart>> {
    let mut errors = ValidationErrors::new();
    if input.len() > MAX_REQUIRED_PARTS {
        errors.add("parts", format!("at most {MAX_REQUIRED_PARTS} parts"));
    }
    let mut rows = Vec::with_capacity(input.len());
    for (i, line) in input.iter().enumerate() {
        let quantity =
            parts::positive_milli(&mut errors, &format!("parts[{i}].quantity"), line.quantity);
        if rows.iter().any(|(p, _)| *p == line.part_id) {
            errors.add(format!("parts[{i}].part_id"), "listed twice");
        }
        rows.push((line.part_id, quantity));
    }
    errors.into_result()?;
    Ok(store.set_required_parts(actor, ticket_id, &rows).await?)
}
