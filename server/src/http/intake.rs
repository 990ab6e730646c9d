//! Email and web intake: the admins' settings, token and IMAP mailboxes,
//! the inbound raw-MIME endpoint, the intake record, and the public web
//! form's two endpoints (no account).

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::{DefaultBodyLimit, FromRequestParts, Multipart, State},
    http::{StatusCode, request::Parts},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{
        ApiJson, ApiPath, ApiQuery, AuthUser, ClientAddress, PageBody, Pagination, bearer_token,
    },
};
use crate::{
    domain::{ValidationErrors, permissions::Action, ticket::Priority, validation::NUL_MESSAGE},
    intake::{
        Attachment, IntakeError,
        admin::{MailboxInput, TOKEN_PREFIX, new_token, token_hash, validate_settings},
        form::{FormCategory, FormRequest},
        imap::{ImapError, poll_once},
        progress_link,
    },
    store::intake::{
        Channel, IntakeMessage, IntakeMessageFilter, IntakeSettings, Mailbox, Outcome,
        SettingsWrite,
    },
};

const NOT_SET_UP: &str = "intake is not set up for this tenant: PUT /v1/intake/settings first";

/// The form's own cap; `intake.max_form_bytes` is checked while reading.
const FORM_BODY_CAP: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let form = OpenApiRouter::new()
        .routes(routes!(submit_request))
        .layer(DefaultBodyLimit::max(FORM_BODY_CAP));
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(rotate_token))
        .routes(routes!(list_mailboxes, create_mailbox))
        .routes(routes!(get_mailbox, update_mailbox, delete_mailbox))
        .routes(routes!(poll_mailbox))
        .routes(routes!(receive_email))
        .routes(routes!(list_messages))
        .routes(routes!(public_form))
        .merge(form)
}

impl From<IntakeError> for ApiError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::NotConfigured => ApiError::NotFound("intake form"),
            IntakeError::TooLarge(_) => ApiError::PayloadTooLarge,
            IntakeError::Invalid(errors) => ApiError::Validation(errors),
            IntakeError::Bot => ApiError::Denied("the request was refused"),
            IntakeError::Store(e) => e.into(),
            IntakeError::Media(e) => e.into(),
        }
    }
}

impl From<ImapError> for ApiError {
    fn from(error: ImapError) -> Self {
        match error {
            ImapError::Intake(IntakeError::NotConfigured) => ApiError::Conflict(NOT_SET_UP.into()),
            ImapError::Intake(e) => e.into(),
            // The mailbox's server is a dependency: its failure is the answer.
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

/// Intake settings as an admin sends them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// The public form's path: `/request/{slug}`.
    pub slug: String,
    /// Category of tickets from email (and the form's default).
    pub category: String,
    #[serde(default = "default_priority")]
    #[schema(value_type = String, example = "P3")]
    pub priority: Priority,
    /// The ticket's site when the customer has none of their own.
    pub site_id: Uuid,
    /// Our own addresses; mail from them is dropped (a loop).
    #[serde(default)]
    pub own_addresses: Vec<String>,
    /// A reply reopens a closed ticket within this many hours (default 168).
    #[serde(default = "default_window")]
    pub reopen_window_hours: i64,
    /// Accepted messages per sender and hour (default 20).
    #[serde(default = "default_sender_limit")]
    pub sender_limit_per_hour: i64,
    #[serde(default = "default_true")]
    pub form_enabled: bool,
    /// Categories the form offers; empty: `category` only.
    #[serde(default)]
    pub form_categories: Vec<String>,
}

fn default_priority() -> Priority {
    Priority::P3
}
fn default_window() -> i64 {
    168
}
fn default_sender_limit() -> i64 {
    20
}
fn default_true() -> bool {
    true
}

#[utoipa::path(get, path = "/v1/intake/settings", tag = "intake", security(("bearer" = [])),
    responses((status = 200, body = IntakeSettings), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_settings(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<IntakeSettings>> {
    user.require(Action::IntakeManage)?;
    let settings = state.store.intake_settings(user.tenant_id).await?;
    Ok(Json(settings.ok_or(ApiError::NotFound("intake settings"))?))
}

/// Set up intake (admins): the form's slug, the category, priority and
/// fallback site of new tickets, our own addresses, the reopen window and
/// the sender limit.
#[utoipa::path(put, path = "/v1/intake/settings", tag = "intake", request_body = SettingsBody, security(("bearer" = [])),
    responses((status = 200, body = IntakeSettings), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn put_settings(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SettingsBody>,
) -> ApiResult<Json<IntakeSettings>> {
    user.require(Action::IntakeManage)?;
    let write = SettingsWrite {
        slug: body.slug.trim().to_owned(),
        category: body.category.trim().to_owned(),
        priority: body.priority,
        site_id: body.site_id,
        own_addresses: body
            .own_addresses
            .iter()
            .map(|a| a.trim().to_lowercase())
            .collect(),
        reopen_window_hours: body.reopen_window_hours,
        sender_limit_per_hour: body.sender_limit_per_hour,
        form_enabled: body.form_enabled,
        form_categories: body
            .form_categories
            .iter()
            .map(|c| c.trim().to_owned())
            .collect(),
    };
    validate_settings(&write)?;
    Ok(Json(
        state
            .store
            .put_intake_settings(user.actor(), &write)
            .await?,
    ))
}

/// The intake token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeToken {
    /// Send as `Authorization: Bearer …` to `POST /v1/intake/email`.
    pub token: String,
}

/// Issue a new intake token for the inbound endpoint (admins); the previous one stops working.
#[utoipa::path(post, path = "/v1/intake/token", tag = "intake", security(("bearer" = [])),
    responses((status = 201, body = IntakeToken), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn rotate_token(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<(StatusCode, Json<IntakeToken>)> {
    user.require(Action::IntakeManage)?;
    let (token, hash) = new_token()?;
    state.store.set_intake_token(user.actor(), &hash).await?;
    Ok((StatusCode::CREATED, Json(IntakeToken { token })))
}

/// An IMAP mailbox as an admin sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxBody {
    pub name: String,
    pub host: String,
    /// Default 993 with `tls`, 143 without.
    pub port: Option<u16>,
    /// Implicit TLS (IMAPS). Default true.
    #[serde(default = "default_true")]
    pub tls: bool,
    pub username: String,
    /// Stored sealed, never shown; omit on an update to keep it.
    pub password: Option<String>,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_folder() -> String {
    "INBOX".into()
}

impl From<MailboxBody> for MailboxInput {
    fn from(b: MailboxBody) -> Self {
        Self {
            port: b.port.unwrap_or(if b.tls { 993 } else { 143 }),
            name: b.name,
            host: b.host,
            tls: b.tls,
            username: b.username,
            password: b.password,
            folder: b.folder,
            enabled: b.enabled,
        }
    }
}

/// The IMAP host must be public or allowed by `[egress] allow`; the
/// watcher checks again at every connection.
async fn reachable_host(state: &AppState, input: &MailboxInput) -> ApiResult<()> {
    let host = input.host.trim();
    if host.is_empty() {
        return Ok(()); // the input's own validation names the field
    }
    state
        .egress
        .check_host(host, input.port)
        .await
        .map_err(|refused| ValidationErrors::single("host", refused.to_string()).into())
}

#[utoipa::path(get, path = "/v1/intake/mailboxes", tag = "intake", security(("bearer" = [])),
    responses((status = 200, body = Vec<Mailbox>), (status = 403, body = Problem)))]
async fn list_mailboxes(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Mailbox>>> {
    user.require(Action::IntakeManage)?;
    Ok(Json(state.store.list_mailboxes(user.tenant_id).await?))
}

/// Add an IMAP mailbox (admins). The password is sealed at rest and never answered.
#[utoipa::path(post, path = "/v1/intake/mailboxes", tag = "intake", request_body = MailboxBody, security(("bearer" = [])),
    responses((status = 201, body = Mailbox), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_mailbox(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MailboxBody>,
) -> ApiResult<(StatusCode, Json<Mailbox>)> {
    user.require(Action::IntakeManage)?;
    let input: MailboxInput = body.into();
    reachable_host(&state, &input).await?;
    let created = state.intake().create_mailbox(user.actor(), &input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/intake/mailboxes/{id}", tag = "intake", security(("bearer" = [])),
    responses((status = 200, body = Mailbox), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_mailbox(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Mailbox>> {
    user.require(Action::IntakeManage)?;
    Ok(Json(state.store.get_mailbox(user.tenant_id, id).await?))
}

#[utoipa::path(put, path = "/v1/intake/mailboxes/{id}", tag = "intake", request_body = MailboxBody, security(("bearer" = [])),
    responses((status = 200, body = Mailbox), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_mailbox(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MailboxBody>,
) -> ApiResult<Json<Mailbox>> {
    user.require(Action::IntakeManage)?;
    let input: MailboxInput = body.into();
    reachable_host(&state, &input).await?;
    Ok(Json(
        state
            .intake()
            .update_mailbox(user.actor(), id, &input)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/intake/mailboxes/{id}", tag = "intake", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_mailbox(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::IntakeManage)?;
    state.store.delete_mailbox(user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What one poll did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PollBody {
    /// Unseen messages found.
    pub found: usize,
    /// Taken in and marked seen.
    pub taken: usize,
}

/// Read the mailbox now (admins): every unseen message is taken in and marked seen.
#[utoipa::path(post, path = "/v1/intake/mailboxes/{id}/poll", tag = "intake", security(("bearer" = [])),
    responses((status = 200, body = PollBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(mailbox = %id))]
async fn poll_mailbox(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<PollBody>> {
    user.require(Action::IntakeManage)?;
    let mailbox = state.store.get_mailbox(user.tenant_id, id).await?;
    let report = poll_once(&state.intake(), &mailbox).await?;
    Ok(Json(PollBody {
        found: report.found,
        taken: report.taken,
    }))
}

/// Who posts raw mail: a tenant's intake token, or a signed-in admin.
#[derive(Debug, Clone, Copy)]
pub struct MailPoster {
    pub tenant_id: Uuid,
}

impl FromRequestParts<AppState> for MailPoster {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized(
            "send the intake token (or an admin's access token) as `Authorization: Bearer …`",
        ))?;
        if token.starts_with(TOKEN_PREFIX) {
            let tenant_id = state
                .store
                .tenant_by_intake_token(&token_hash(token))
                .await?
                .ok_or(ApiError::Unauthorized("the intake token is not valid"))?;
            return Ok(MailPoster { tenant_id });
        }
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require(Action::IntakeManage)?;
        Ok(MailPoster {
            tenant_id: user.tenant_id,
        })
    }
}

/// What became of a posted message.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntakeReceipt {
    #[serde(flatten)]
    pub message: IntakeMessage,
    /// The ticket's number, for a ticket or comment.
    pub ticket_number: Option<String>,
    /// The Message-ID was seen before; nothing was done this time.
    pub duplicate: bool,
}

/// Take in one email (as mail providers post them): the body is the raw
/// MIME message (`message/rfc822`). Answers 200 whatever became of it —
/// a ticket, a comment on its ticket, or dropped with the reason — so a
/// provider does not retry a message that was judged.
#[utoipa::path(post, path = "/v1/intake/email", tag = "intake",
    request_body(content = Vec<u8>, content_type = "message/rfc822", description = "The raw MIME message"),
    security(("bearer" = [])),
    responses((status = 200, body = IntakeReceipt), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem)))]
#[tracing::instrument(skip_all, fields(tenant = %poster.tenant_id))]
async fn receive_email(
    poster: MailPoster,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Json<IntakeReceipt>> {
    let limit = state.config.intake.max_message_bytes;
    let raw = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let intake = state.intake();
    let received = match intake
        .receive_email(poster.tenant_id, Channel::Email, None, &raw)
        .await
    {
        Err(IntakeError::NotConfigured) => {
            return Err(ApiError::Conflict(NOT_SET_UP.into()));
        }
        other => other?,
    };
    let ticket_number = match received.message.ticket_id {
        Some(id) => Some(state.store.get_ticket(poster.tenant_id, id).await?.number),
        None => None,
    };
    Ok(Json(IntakeReceipt {
        message: received.message,
        ticket_number,
        duplicate: received.duplicate,
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// `ticket`, `comment`, `dropped` or `processing`.
    pub outcome: Option<String>,
    pub ticket_id: Option<Uuid>,
}

/// Every message intake received, oldest first, with its outcome (a
/// ticket, a comment, or dropped with the reason).
#[utoipa::path(get, path = "/v1/intake/messages", tag = "intake", params(MessagesQuery), security(("bearer" = [])),
    responses((status = 200, body = PageBody<IntakeMessage>), (status = 403, body = Problem)))]
async fn list_messages(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> ApiResult<Json<PageBody<IntakeMessage>>> {
    user.require(Action::IntakeRead)?;
    let page = Pagination {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let outcome = match query.outcome.as_deref() {
        None => None,
        Some(text) => Some(Outcome::parse(text).ok_or_else(|| {
            ValidationErrors::single("outcome", "one of ticket, comment, dropped, processing")
        })?),
    };
    let filter = IntakeMessageFilter {
        outcome,
        ticket_id: query.ticket_id,
    };
    Ok(Json(
        state
            .store
            .list_intake_messages(user.tenant_id, &filter, page)
            .await?
            .into(),
    ))
}

/// The tenant of a public form by its slug (or id).
pub(super) async fn form_settings(state: &AppState, tenant: &str) -> ApiResult<IntakeSettings> {
    let by_slug = state.store.intake_settings_by_slug(tenant).await?;
    let settings = match (by_slug, Uuid::parse_str(tenant)) {
        (Some(s), _) => Some(s),
        (None, Ok(id)) => state.store.intake_settings(id).await?,
        (None, Err(_)) => None,
    };
    settings
        .filter(|s| s.form_enabled)
        .ok_or(ApiError::NotFound("intake form"))
}

/// What the public form shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicForm {
    pub slug: String,
    pub categories: Vec<FormCategory>,
}

/// The public form's categories with their custom-field schemas (no account).
#[utoipa::path(get, path = "/v1/public/{tenant}/form", tag = "intake",
    params(("tenant" = String, Path, description = "The tenant's intake slug (or id)")),
    responses((status = 200, body = PublicForm), (status = 404, body = Problem), (status = 429, body = Problem)))]
async fn public_form(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<Json<PublicForm>> {
    client.limit_public_reads(&state)?;
    let settings = form_settings(&state, &tenant).await?;
    let categories = state.intake().form_categories(&settings).await?;
    Ok(Json(PublicForm {
        slug: settings.slug,
        categories,
    }))
}

/// The public form's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestReceipt {
    pub ticket_number: String,
    /// Where the customer follows the ticket.
    pub progress_link: String,
}

/// The form as multipart fields (documentation only).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RequestForm {
    category: Option<String>,
    /// The category's custom fields as a JSON object.
    custom_fields: Option<String>,
    name: String,
    email: String,
    phone: Option<String>,
    /// Where the work is.
    address: Option<String>,
    title: String,
    description: Option<String>,
    /// Photos (JPEG, PNG, HEIC, WebP), any number of parts named `photos`.
    #[schema(value_type = Vec<String>, format = Binary)]
    photos: Vec<Vec<u8>>,
    /// Leave empty (a honeypot for bots).
    website: Option<String>,
}

fn bad_field(field: &str, message: &str) -> ApiError {
    ValidationErrors::single(field, message).into()
}

/// Report a fault without an account: opens a ticket and answers its
/// number and the progress link. Limited per client address.
#[utoipa::path(post, path = "/v1/public/{tenant}/requests", tag = "intake",
    params(("tenant" = String, Path, description = "The tenant's intake slug (or id)")),
    request_body(content = RequestForm, content_type = "multipart/form-data"),
    responses((status = 201, body = RequestReceipt), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn submit_request(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiPath(tenant): ApiPath<String>,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<RequestReceipt>)> {
    let limit = state.config.intake.max_form_bytes;
    let mut total = 0usize;
    let mut form = FormRequest {
        custom_fields: Value::Object(Default::default()),
        ..FormRequest::default()
    };
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed form: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let file_name = field.file_name().map(str::to_owned);
        // Refused here for every part alike: PostgreSQL cannot store NUL.
        if [
            name.as_str(),
            content_type.as_str(),
            file_name.as_deref().unwrap_or_default(),
        ]
        .iter()
        .any(|text| text.contains('\0'))
        {
            return Err(bad_field(&name.replace('\0', ""), NUL_MESSAGE));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::BadRequest(format!("malformed form: {e}")))?
        {
            total += chunk.len();
            if total > limit {
                return Err(ApiError::PayloadTooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        if name == "photos" {
            if !bytes.is_empty() {
                form.photos.push(Attachment {
                    name: file_name,
                    content_type,
                    bytes,
                });
            }
            continue;
        }
        let text = String::from_utf8(bytes).map_err(|_| bad_field(&name, "must be UTF-8 text"))?;
        if text.contains('\0') {
            return Err(bad_field(&name, NUL_MESSAGE));
        }
        match name.as_str() {
            "category" => form.category = Some(text),
            "custom_fields" => {
                form.custom_fields = serde_json::from_str(&text)
                    .map_err(|_| bad_field("custom_fields", "must be a JSON object"))?;
            }
            "name" => form.name = text,
            "email" => form.email = text,
            "phone" => form.phone = Some(text),
            "address" => form.address = Some(text),
            "title" => form.title = text,
            "description" => form.description = text,
            "website" => form.website = text,
            other => return Err(bad_field(other, "unknown field")),
        }
    }
    // Judged after the body is read, so that a browser gets the answer
    // rather than a connection closed under its upload.
    state
        .form_limiter
        .check(client)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let settings = form_settings(&state, &tenant).await?;
    let ticket = state.intake().submit_form(&settings, form).await?;
    Ok((
        StatusCode::CREATED,
        Json(RequestReceipt {
            progress_link: progress_link(&ticket),
            ticket_number: ticket.number,
        }),
    ))
}
