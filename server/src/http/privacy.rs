//! Masking settings, reveals, legal holds, erasure and the customer export
//! (issue 19, items 3 and 5).

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser},
};
use crate::domain::{
    permissions::Action,
    privacy::{MaskedField, PrivacySettings, Visibility, mask_email, mask_phone, mask_text},
    search::{SearchHit, SearchKind},
};
use crate::governance::privacy::{
    CustomerExport, PrivacyError, erase_contact, erase_customer, export_customer,
};
use crate::store::privacy::ErasureOutcome;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_privacy_settings, put_privacy_settings))
        .routes(routes!(reveal_customer))
        .routes(routes!(reveal_site))
        .routes(routes!(customer_legal_hold))
        .routes(routes!(ticket_legal_hold))
        .routes(routes!(erase))
        .routes(routes!(erase_contact_person))
        .routes(routes!(export))
}

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> Self {
        match e {
            PrivacyError::LegalHold(detail) => ApiError::LegalHold(detail),
            PrivacyError::OpenTickets(detail) => ApiError::InUse(detail),
            PrivacyError::Store(e) => e.into(),
            PrivacyError::Blob(e) => ApiError::Internal(e.to_string()),
            PrivacyError::Document(e) => ApiError::Internal(e.to_string()),
        }
    }
}

/// What `user` sees unmasked of customers and sites it may read. Office
/// roles: the tenant's settings. A technician reaches a customer or site
/// only through a ticket assigned to them (`directory::may_read`), and
/// sees it whole.
pub(super) async fn visibility(state: &AppState, user: &AuthUser) -> ApiResult<Visibility> {
    if !user.can(Action::CustomersRead) {
        return Ok(Visibility::all());
    }
    let settings = state.store.privacy_settings(user.tenant_id).await?;
    Ok(Visibility(settings.unmasked_for(user.role)))
}

/// Search hits name customers by email or phone and sites by address:
/// masked as the reader's role says (technicians find only their tickets).
pub(super) async fn mask_hits(
    state: &AppState,
    user: &AuthUser,
    hits: Vec<SearchHit>,
) -> ApiResult<Vec<SearchHit>> {
    if !hits
        .iter()
        .any(|h| matches!(h.kind, SearchKind::Customer | SearchKind::Site))
    {
        return Ok(hits);
    }
    let settings = state.store.privacy_settings(user.tenant_id).await?;
    let seen = Visibility(settings.unmasked_for(user.role));
    Ok(hits
        .into_iter()
        .map(|mut hit| {
            let field = match hit.kind {
                SearchKind::Customer if hit.subtitle.contains('@') => Some(MaskedField::Email),
                SearchKind::Customer => Some(MaskedField::Phone),
                SearchKind::Site => Some(MaskedField::Address),
                _ => None,
            };
            if let Some(field) = field.filter(|f| !seen.shows(*f)) {
                hit.subtitle = match field {
                    MaskedField::Email => mask_email(&hit.subtitle),
                    MaskedField::Phone => mask_phone(&hit.subtitle),
                    MaskedField::Address => mask_text(&hit.subtitle),
                };
            }
            hit
        })
        .collect())
}

/// Which office roles see customers' phone, email and address unmasked,
/// and whether erasure deletes photos.
#[utoipa::path(get, path = "/v1/privacy/settings", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = PrivacySettings), (status = 403, body = Problem)))]
async fn get_privacy_settings(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<PrivacySettings>> {
    user.require(Action::PrivacyManage)?;
    Ok(Json(state.store.privacy_settings(user.tenant_id).await?))
}

#[utoipa::path(put, path = "/v1/privacy/settings", tag = "privacy", request_body = PrivacySettings, security(("bearer" = [])),
    responses((status = 200, body = PrivacySettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_privacy_settings(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(settings): ApiJson<PrivacySettings>,
) -> ApiResult<Json<PrivacySettings>> {
    user.require(Action::PrivacyManage)?;
    settings.validate()?;
    Ok(Json(
        state
            .store
            .put_privacy_settings(user.actor(), &settings)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    pub field: MaskedField,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revealed {
    pub field: MaskedField,
    /// The unmasked value; `null` when the record has none.
    pub value: Option<String>,
}

/// Shows one masked field of a customer (`phone` or `email`) to an office
/// user. Audited as `customer.reveal` with the field's name, not its value.
#[utoipa::path(post, path = "/v1/customers/{id}/reveal", tag = "privacy", request_body = RevealRequest, security(("bearer" = [])),
    responses((status = 200, body = Revealed), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reveal_customer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<RevealRequest>,
) -> ApiResult<Json<Revealed>> {
    user.require(Action::CustomersReveal)?;
    let customer = state.store.get_customer(user.tenant_id, id).await?;
    let value = match request.field {
        MaskedField::Phone => customer.phone,
        MaskedField::Email => customer.email,
        MaskedField::Address => {
            return Err(ApiError::Validation(
                crate::domain::validation::ValidationErrors::single(
                    "field",
                    "a customer has phone and email; reveal an address on its site",
                ),
            ));
        }
    };
    state
        .store
        .record_reveal(user.actor(), "customer", id, request.field)
        .await?;
    Ok(Json(Revealed {
        field: request.field,
        value,
    }))
}

/// Shows a site's masked `address` (and access notes) to an office user.
/// Audited as `site.reveal`.
#[utoipa::path(post, path = "/v1/sites/{id}/reveal", tag = "privacy", request_body = RevealRequest, security(("bearer" = [])),
    responses((status = 200, body = Revealed), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reveal_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<RevealRequest>,
) -> ApiResult<Json<Revealed>> {
    user.require(Action::CustomersReveal)?;
    if request.field != MaskedField::Address {
        return Err(ApiError::Validation(
            crate::domain::validation::ValidationErrors::single(
                "field",
                "a site has an address; reveal phone and email on its customer",
            ),
        ));
    }
    let site = state.store.get_site(user.tenant_id, id).await?;
    state
        .store
        .record_reveal(user.actor(), "site", id, request.field)
        .await?;
    Ok(Json(Revealed {
        field: request.field,
        value: Some(site.address),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    pub legal_hold: bool,
}

/// Sets or lifts a customer's legal hold; while set, erasure answers 409
/// `legal-hold`.
#[utoipa::path(put, path = "/v1/customers/{id}/legal-hold", tag = "privacy", request_body = LegalHold, security(("bearer" = [])),
    responses((status = 200, body = LegalHold), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn customer_legal_hold(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(hold): ApiJson<LegalHold>,
) -> ApiResult<Json<LegalHold>> {
    user.require(Action::CustomersErase)?;
    state
        .store
        .set_customer_legal_hold(user.actor(), id, hold.legal_hold)
        .await?;
    Ok(Json(hold))
}

/// Sets or lifts a ticket's legal hold; while set, its customer cannot be
/// erased.
#[utoipa::path(put, path = "/v1/tickets/{id}/legal-hold", tag = "privacy", request_body = LegalHold, security(("bearer" = [])),
    responses((status = 200, body = LegalHold), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn ticket_legal_hold(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(hold): ApiJson<LegalHold>,
) -> ApiResult<Json<LegalHold>> {
    user.require(Action::CustomersErase)?;
    state
        .store
        .set_ticket_legal_hold(user.actor(), id, hold.legal_hold)
        .await?;
    Ok(Json(hold))
}

/// Erases a customer: name, email, phone, contact and its sites' addresses
/// replaced; the values redacted wherever text quotes them (tickets,
/// comments, messages, outboxes, the search index); signatures (and, per
/// the settings, photos) and service reports deleted with their stored
/// objects; ticket documents squashed into fresh ones without history;
/// audit payloads that held the values replaced by their digests, so the
/// chain still verifies. 409 `legal-hold` while the customer or one of its
/// tickets is held; 409 `in_use` while a ticket is open.
#[utoipa::path(post, path = "/v1/customers/{id}/erase", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = ErasureOutcome), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn erase(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ErasureOutcome>> {
    user.require(Action::CustomersErase)?;
    let outcome =
        erase_customer(state.store.as_ref(), state.blobs.as_ref(), user.actor(), id).await?;
    Ok(Json(outcome))
}

/// Erases a customer's contact person alone: `contact_person` cleared and
/// the name redacted wherever text quotes it (tickets, comments, messages,
/// outboxes, intake, search, audit payloads); ticket documents quoting it
/// squashed; signatures signed in that name and the customer's service
/// reports (they print the contact) deleted. The customer's own name,
/// email, phone and sites stay. 404 when the customer has no contact
/// person; 409 `legal-hold` as for erasing the customer; 409 `in_use` while
/// an open ticket's work record names the contact.
#[utoipa::path(post, path = "/v1/customers/{id}/contact/erase", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = ErasureOutcome), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn erase_contact_person(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ErasureOutcome>> {
    user.require(Action::CustomersErase)?;
    let outcome =
        erase_contact(state.store.as_ref(), state.blobs.as_ref(), user.actor(), id).await?;
    Ok(Json(outcome))
}

/// Everything kept about one customer (an access request): the customer,
/// its sites and assets, its tickets with public comments, work record,
/// media (content as base64) and customer messages, and the audit entries
/// about it. Unmasked: only for roles allowed to export.
#[utoipa::path(get, path = "/v1/customers/{id}/export", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = CustomerExport), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn export(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    user.require(Action::CustomersExport)?;
    let archive = export_customer(
        state.store.as_ref(),
        state.blobs.as_ref(),
        user.tenant_id,
        id,
    )
    .await?;
    let mut response = Json(archive).into_response();
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"customer-{id}.json\""))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
