//! The ticket as every ticket response shows it: the stored ticket and its
//! SLA state.

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, error::ApiResult};
use crate::{
    domain::ticket::Ticket,
    sla::view::{TicketSla, evaluate},
};

/// A ticket as the API returns it: the stored ticket and its SLA state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: Ticket,
    /// The SLA clocks under the policy that covers the ticket; `null` when no policy does.
    pub sla: Option<TicketSla>,
}

/// Tickets with their SLA state, for a handler's response.
pub(crate) async fn views(
    state: &AppState,
    tenant_id: Uuid,
    tickets: Vec<Ticket>,
) -> ApiResult<Vec<TicketView>> {
    let slas = evaluate(state.store.as_ref(), tenant_id, &tickets, Utc::now()).await?;
    Ok(tickets
        .into_iter()
        .zip(slas)
        .map(|(ticket, sla)| TicketView { ticket, sla })
        .collect())
}

/// One ticket with its SLA state.
pub(crate) async fn view(
    state: &AppState,
    tenant_id: Uuid,
    ticket: Ticket,
) -> ApiResult<TicketView> {
    let mut views = views(state, tenant_id, vec![ticket]).await?;
    Ok(views.remove(0))
}
