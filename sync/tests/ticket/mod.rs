mod coalesce;
mod doc;
mod field_edit;
mod fold;
mod schema;
mod state_machine;
