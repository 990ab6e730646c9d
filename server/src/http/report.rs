//! The signed service report: download, regenerate, list versions, the
//! public check of a code, and the tenant's logo and font for its reports.

use axum::{
    Json,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiPath, ApiQuery, AuthUser, ClientAddress},
    tickets::visible_ticket,
};
use crate::{
    blob::BlobError,
    domain::{ValidationErrors, permissions::Action},
    report::{self, ReportError, ReportService, SettingChange, Trigger, VerifyAnswer},
    store::report::{ReportSettings, ServiceReport},
};

/// Largest font or logo upload (a CJK font collection is ~20 MB).
const MAX_SETTING_BYTES: usize = 32 * 1024 * 1024;
/// Largest PDF accepted by the public check.
const MAX_VERIFY_BYTES: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_report_pdf))
        .routes(routes!(generate_report))
        .routes(routes!(list_reports))
        .routes(routes!(verify_hash, verify_pdf))
        .routes(routes!(get_settings))
        .routes(routes!(put_logo, delete_logo))
        .routes(routes!(put_font, delete_font))
        .layer(DefaultBodyLimit::max(
            MAX_VERIFY_BYTES.max(MAX_SETTING_BYTES),
        ))
}

impl From<ReportError> for ApiError {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Store(e) => e.into(),
            ReportError::Blob(BlobError::Unavailable(detail)) => ApiError::Unavailable(detail),
            ReportError::Blob(other) => ApiError::Internal(other.to_string()),
            ReportError::Invalid(message) => ValidationErrors::single("body", message).into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn service(state: &AppState) -> ReportService<'_> {
    ReportService {
        store: state.store.as_ref(),
        blobs: state.blobs.as_ref(),
        config: &state.config.report,
        media: &state.config.media,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    /// A former version; the latest when absent.
    version: Option<i64>,
}

/// The ticket's service report as PDF: the latest version, or `version`.
/// Headers name its version (`X-Report-Version`) and verification code
/// (`X-Report-Code`). Office roles and the assigned technician; 404 when
/// no report was issued yet.
#[utoipa::path(get, path = "/v1/tickets/{id}/report.pdf", tag = "reports", params(VersionQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn get_report_pdf(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> ApiResult<Response> {
    let ticket = visible_ticket(&state, &user, id).await?;
    let reports = state.store.list_reports(user.tenant_id, ticket.id).await?;
    let report = match query.version {
        Some(v) => reports.into_iter().find(|r| r.version == v),
        None => reports.into_iter().next_back(),
    }
    .ok_or(ApiError::NotFound("report"))?;
    let bytes = report::pdf(&service(&state), &report).await?;
    let header_value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    let disposition = format!(
        "inline; filename=\"report-{}-v{}.pdf\"",
        ticket.number, report.version
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, header_value(&disposition)),
            (
                header::ETAG,
                header_value(&format!("\"{}\"", report.sha256)),
            ),
            (
                header::HeaderName::from_static("x-report-version"),
                header_value(&report.version.to_string()),
            ),
            (
                header::HeaderName::from_static("x-report-code"),
                header_value(&report.code),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Every issued version of the ticket's report, oldest first.
#[utoipa::path(get, path = "/v1/tickets/{id}/reports", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = Vec<ServiceReport>), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn list_reports(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<ServiceReport>>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(
        state.store.list_reports(user.tenant_id, ticket.id).await?,
    ))
}

/// Makes the ticket's report now (at any status): a new version when what
/// it would show changed since the latest (201), else the latest (200).
/// Admins, dispatchers and managers.
#[utoipa::path(post, path = "/v1/tickets/{id}/report", tag = "reports", security(("bearer" = [])),
    responses((status = 201, body = ServiceReport), (status = 200, body = ServiceReport), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn generate_report(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<ServiceReport>)> {
    let ticket = visible_ticket(&state, &user, id).await?;
    user.require(Action::WorkCorrect)?;
    let generated =
        report::generate(&service(&state), user.actor(), &ticket, Trigger::OnDemand).await?;
    let status = if generated.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(generated.report)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    /// SHA-256 (hex) of the PDF in hand.
    sha256: Option<String>,
}

fn limited(state: &AppState, client: std::net::IpAddr) -> ApiResult<()> {
    state
        .report_verify_limiter
        .check(client)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
}

async fn answer(
    state: &AppState,
    code: &str,
    sha256: Option<&str>,
) -> ApiResult<Json<VerifyAnswer>> {
    if let Some(sha) = sha256
        && !crate::blob::is_sha256_hex(&sha.to_ascii_lowercase())
    {
        return Err(ValidationErrors::single("sha256", "expected 64 hex digits").into());
    }
    report::verify(state.store.as_ref(), code, sha256)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("report"))
}

/// Public, no sign-in: was a report issued under `code`, when, is there a
/// newer version, and — given `?sha256=` of a PDF — is that PDF the one
/// issued (`matches`)? Rate limited per client address.
#[utoipa::path(get, path = "/v1/reports/verify/{code}", tag = "reports", params(VerifyQuery),
    responses((status = 200, body = VerifyAnswer), (status = 404, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn verify_hash(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiPath(code): ApiPath<String>,
    ApiQuery(query): ApiQuery<VerifyQuery>,
) -> ApiResult<Json<VerifyAnswer>> {
    limited(&state, client)?;
    answer(&state, &code, query.sha256.as_deref()).await
}

/// Public, no sign-in: the same check with the PDF itself as the request
/// body (`Content-Type: application/pdf`); the server hashes it.
#[utoipa::path(post, path = "/v1/reports/verify/{code}", tag = "reports",
    request_body(content = Vec<u8>, content_type = "application/pdf"),
    responses((status = 200, body = VerifyAnswer), (status = 404, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn verify_pdf(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiPath(code): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<VerifyAnswer>> {
    limited(&state, client)?;
    let sha = crate::blob::sha256_hex(&body);
    answer(&state, &code, Some(&sha)).await
}

/// A tenant's report settings as shown.
#[derive(Debug, Serialize, ToSchema)]
// Named apart from intake's `SettingsBody`: one schema name, one shape.
#[schema(as = ReportSettingsBody)]
struct SettingsBody {
    logo_sha256: Option<String>,
    logo_content_type: Option<String>,
    /// Absent: the built-in font (DejaVu Sans) alone.
    font_sha256: Option<String>,
    font_index: i64,
}

impl From<ReportSettings> for SettingsBody {
    fn from(s: ReportSettings) -> Self {
        Self {
            logo_sha256: s.logo_sha256,
            logo_content_type: s.logo_content_type,
            font_sha256: s.font_sha256,
            font_index: s.font_index,
        }
    }
}

/// The tenant's logo and font for service reports. Admins.
#[utoipa::path(get, path = "/v1/service-reports/settings", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = SettingsBody), (status = 403, body = Problem)))]
async fn get_settings(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<SettingsBody>> {
    user.require(Action::ReportSettingsWrite)?;
    Ok(Json(
        state.store.report_settings(user.tenant_id).await?.into(),
    ))
}

async fn change(
    state: &AppState,
    user: &AuthUser,
    change: SettingChange,
) -> ApiResult<Json<SettingsBody>> {
    user.require(Action::ReportSettingsWrite)?;
    let settings = report::set_setting(&service(state), user.actor(), change).await?;
    Ok(Json(settings.into()))
}

/// Sets the logo printed on the tenant's reports: the request body is the
/// PNG or JPEG image. Admins.
#[utoipa::path(put, path = "/v1/service-reports/settings/logo", tag = "reports", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = SettingsBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_logo(
    user: AuthUser,
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<SettingsBody>> {
    if body.len() > MAX_SETTING_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    change(
        &state,
        &user,
        SettingChange::Logo {
            bytes: body.to_vec(),
        },
    )
    .await
}

/// Removes the logo. Admins.
#[utoipa::path(delete, path = "/v1/service-reports/settings/logo", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = SettingsBody), (status = 403, body = Problem)))]
async fn delete_logo(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<SettingsBody>> {
    change(&state, &user, SettingChange::ClearLogo).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FontQuery {
    /// The face of a font collection (`.ttc`); 0 for a single font.
    #[serde(default)]
    index: u32,
}

/// Sets the font the tenant's reports are set in (before the built-in
/// Latin font, which fills in characters it lacks): the request body is a
/// TrueType or OpenType file or collection (`?index=` picks the face).
/// Admins.
#[utoipa::path(put, path = "/v1/service-reports/settings/font", tag = "reports", params(FontQuery), security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "font/otf"),
    responses((status = 200, body = SettingsBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_font(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FontQuery>,
    body: Bytes,
) -> ApiResult<Json<SettingsBody>> {
    if body.len() > MAX_SETTING_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    change(
        &state,
        &user,
        SettingChange::Font {
            bytes: body.to_vec(),
            index: query.index,
        },
    )
    .await
}

/// Back to the built-in font alone. Admins.
#[utoipa::path(delete, path = "/v1/service-reports/settings/font", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = SettingsBody), (status = 403, body = Problem)))]
async fn delete_font(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<SettingsBody>> {
    change(&state, &user, SettingChange::ClearFont).await
}
