//! The signed service report: a PDF of a ticket's job (tenant name and
//! logo, ticket, customer, site, asset, work summary, checklist, parts,
//! time totals, photo thumbnails, the customer's signature) with a short
//! verification code, stored in the blob store and versioned.
//!
//! A report is made when the work is done by the report job ([`run_due`]):
//! it looks at done tickets whose document moved past its checkpoint (a
//! table, so a crash loses nothing: the ticket is simply looked at again),
//! and issues a new version only when what the report would show changed
//! (a correction after signing makes version 2, which says it supersedes
//! version 1). Office users can ask for one at any time ([`generate`]).
//! Anyone holding a PDF can check it against its code ([`verify`]).

pub mod config;
pub mod limit;
pub mod render;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

pub use config::ReportConfig;
use render::{FontData, Issue, ReportContent, SignatureBlock};

use crate::blob::{BlobError, BlobStore, MediaConfig, object_key, sha256_hex, thumbnail_key};
use crate::domain::ticket::Ticket;
pub use crate::store::report::AUDIT_ACTION;
use crate::store::report::{NewServiceReport, ReportSettings, ServiceReport};
use crate::store::{Actor, Store, StoreError};
use crate::work::WorkMediaState;

/// The built-in Latin font (DejaVu Sans, its licence beside it).
static DEFAULT_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Longest edge of a photo drawn from its original when it has no thumbnail.
const PHOTO_EDGE: u32 = 480;
/// Alphabet of verification codes: Crockford's base 32 (no I, L, O, U).
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("random: {0}")]
    Random(#[from] getrandom::Error),
    #[error("report rendering stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Invalid(String),
}

pub type ReportResult<T> = Result<T, ReportError>;

/// What a report service acts through.
#[derive(Debug, Clone, Copy)]
pub struct ReportService<'a> {
    pub store: &'a dyn Store,
    pub blobs: &'a dyn BlobStore,
    pub config: &'a ReportConfig,
    /// For verifying the signature the report shows.
    pub media: &'a MediaConfig,
}

/// Why a version was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The report job, after the work was done (or corrected).
    WorkDone,
    /// Someone asked for it.
    OnDemand,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::WorkDone => "work_done",
            Self::OnDemand => "on_demand",
        }
    }
}

/// The outcome of [`generate`].
#[derive(Debug, Clone)]
pub struct Generated {
    pub report: ServiceReport,
    /// A new version was issued; `false`: the latest still shows the record.
    pub created: bool,
}

/// The path (after the server's origin) of a ticket's latest report.
pub fn report_path(ticket_id: Uuid) -> String {
    format!("/v1/tickets/{ticket_id}/report.pdf")
}

/// The public path that checks a code.
pub fn verify_path(code: &str) -> String {
    format!("/v1/reports/verify/{code}")
}

/// The latest report of a ticket, if one was issued (for notifications:
/// the report's blob key is `report.blob_key`, its URL [`report_path`]).
pub async fn latest(
    store: &dyn Store,
    tenant_id: Uuid,
    ticket_id: Uuid,
) -> ReportResult<Option<ServiceReport>> {
    Ok(store.list_reports(tenant_id, ticket_id).await?.pop())
}

/// Checks a tenant's font upload: face `index` of the file is a font with
/// a character map.
pub fn check_font(bytes: &[u8], index: u32) -> Result<(), String> {
    use skrifa::MetadataProvider;
    let font = skrifa::FontRef::from_index(bytes, index)
        .map_err(|e| format!("not a TrueType/OpenType font (or no face {index}): {e}"))?;
    if font.charmap().mappings().next().is_none() {
        return Err("the font maps no characters".into());
    }
    if krilla::text::Font::new(Arc::new(bytes.to_vec()).into(), index).is_none() {
        return Err("the font cannot be embedded".into());
    }
    Ok(())
}

/// Checks a logo upload; answers its content type (PNG or JPEG).
pub fn check_logo(bytes: &[u8]) -> Result<&'static str, String> {
    let data: krilla::Data = Arc::new(bytes.to_vec()).into();
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        krilla::image::Image::from_png(data, true).map(|_| "image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        krilla::image::Image::from_jpeg(data, true).map(|_| "image/jpeg")
    } else {
        Err("expected a PNG or JPEG image".into())
    }
}

/// Stores a tenant's font or logo (by content) and records it as the
/// tenant's setting, with an audit entry.
pub async fn set_setting(
    service: &ReportService<'_>,
    actor: Actor,
    change: SettingChange,
) -> ReportResult<ReportSettings> {
    let mut settings = service.store.report_settings(actor.tenant_id).await?;
    match change {
        SettingChange::Font { bytes, index } => {
            check_font(&bytes, index).map_err(ReportError::Invalid)?;
            let sha = sha256_hex(&bytes);
            let key = format!("tenants/{}/report-settings/font-{sha}", actor.tenant_id);
            service.blobs.write(&key, bytes, "font/otf").await?;
            settings.font_key = Some(key);
            settings.font_sha256 = Some(sha);
            settings.font_index = i64::from(index);
        }
        SettingChange::Logo { bytes } => {
            let content_type = check_logo(&bytes).map_err(ReportError::Invalid)?;
            let sha = sha256_hex(&bytes);
            let key = format!("tenants/{}/report-settings/logo-{sha}", actor.tenant_id);
            service.blobs.write(&key, bytes, content_type).await?;
            settings.logo_key = Some(key);
            settings.logo_sha256 = Some(sha);
            settings.logo_content_type = Some(content_type.to_owned());
        }
        SettingChange::ClearFont => {
            settings.font_key = None;
            settings.font_sha256 = None;
            settings.font_index = 0;
        }
        SettingChange::ClearLogo => {
            settings.logo_key = None;
            settings.logo_sha256 = None;
            settings.logo_content_type = None;
        }
    }
    service.store.set_report_settings(actor, &settings).await?;
    Ok(settings)
}

/// One change of a tenant's report settings.
#[derive(Debug)]
pub enum SettingChange {
    Font { bytes: Vec<u8>, index: u32 },
    Logo { bytes: Vec<u8> },
    ClearFont,
    ClearLogo,
}

/// The bytes of an issued report.
pub async fn pdf(service: &ReportService<'_>, report: &ServiceReport) -> ReportResult<Vec<u8>> {
    Ok(service.blobs.read(&report.blob_key).await?)
}

fn random_code() -> ReportResult<String> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)?;
    let chars: String = bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect();
    Ok(format!("{}-{}", &chars[..5], &chars[5..]))
}

/// A code as typed: upper case, `O`→`0`, `I`/`L`→`1`, dash in the middle.
pub fn normalize_code(code: &str) -> Option<String> {
    let chars: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    if chars.len() != 10 || !chars.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &chars[..5], &chars[5..]))
}

/// The fonts a tenant's reports are set in, in lookup order.
async fn fonts(
    service: &ReportService<'_>,
    settings: &ReportSettings,
) -> ReportResult<Vec<FontData>> {
    let mut faces = Vec::new();
    if let Some(key) = &settings.font_key {
        faces.push(FontData {
            bytes: Arc::new(service.blobs.read(key).await?),
            index: u32::try_from(settings.font_index).unwrap_or(0),
        });
    }
    let path = &service.config.font_path;
    let default = if path.as_os_str().is_empty() {
        DEFAULT_FONT.to_vec()
    } else {
        tokio::fs::read(path).await.map_err(|e| {
            ReportError::Invalid(format!("report.font_path {}: {e}", path.display()))
        })?
    };
    faces.push(FontData {
        bytes: Arc::new(default),
        index: 0,
    });
    Ok(faces)
}

/// What the report of `ticket` would show now, and the document version
/// it was read at.
async fn content(
    service: &ReportService<'_>,
    ticket: &Ticket,
    settings: &ReportSettings,
) -> ReportResult<(ReportContent, i64, bool)> {
    let store = service.store;
    let tenant_id = ticket.tenant_id;
    let doc_version = store
        .load_document(tenant_id, ticket.id)
        .await?
        .map_or(0, |d| d.version);
    let rows = store.list_ticket_media(tenant_id, ticket.id).await?;
    let work = crate::work::record(store, tenant_id, ticket.id, ticket.status, &rows).await?;
    let site = store.get_site(tenant_id, ticket.site_id).await?;
    let customer = store.get_customer(tenant_id, site.customer_id).await?;
    let asset = match ticket.asset_id {
        Some(id) => Some(store.get_asset(tenant_id, id).await?),
        None => None,
    };
    let technician = match ticket.assignee_id {
        Some(id) => match store.get_technician(tenant_id, id).await {
            Ok(t) => Some(t.name),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let columns = store.field_columns(tenant_id, ticket.id).await?;

    let mut photos = Vec::new();
    let mut photo_sha256 = Vec::new();
    let mut pending = false;
    let mut photos_missing = 0;
    for photo in &work.photos {
        if photo.state != WorkMediaState::Stored || photo.media_id.is_none() {
            photos_missing += 1;
            pending = true;
            continue;
        }
        let thumbnail = if photo.has_thumbnail {
            match service
                .blobs
                .read(&thumbnail_key(tenant_id, &photo.sha256))
                .await
            {
                Ok(bytes) => bytes,
                // Gone from the store (swept, restored from an older backup):
                // the report counts it as missing instead of failing.
                Err(BlobError::NotFound) => {
                    photos_missing += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        } else if crate::media::thumbnail::supported(&photo.content_type) {
            let original = service
                .blobs
                .read(&object_key(tenant_id, &photo.sha256))
                .await?;
            tokio::task::spawn_blocking(move || {
                crate::media::thumbnail::render(&original, PHOTO_EDGE)
            })
            .await?
            .map_err(|e| render::RenderError::Image(e.to_string()))?
        } else {
            photos_missing += 1;
            continue;
        };
        photos.push(thumbnail);
        photo_sha256.push(photo.sha256.clone());
    }
    pending |= work
        .signatures
        .iter()
        .any(|s| s.state == WorkMediaState::Pending);

    let signature = match store.latest_signature(tenant_id, ticket.id).await? {
        Some(signature) => {
            let png = service
                .blobs
                .read(&object_key(tenant_id, &signature.image_sha256))
                .await?;
            let media = crate::media::MediaService {
                store,
                blobs: service.blobs,
                config: service.media,
            };
            let intact = crate::media::signature::verify(&media, &signature)
                .await
                .map(|v| v.intact)
                .unwrap_or(false);
            Some(SignatureBlock {
                png,
                image_sha256: signature.image_sha256.clone(),
                signer_name: signature.signer_name.clone(),
                signed_at: signature.signed_at,
                position: signature.lat.zip(signature.lon),
                intact,
            })
        }
        None => None,
    };
    let corrections_after_signing = match &signature {
        Some(s) => store
            .list_audit_for_entity(tenant_id, ticket.id, 5000)
            .await?
            .iter()
            .filter(|e| e.action == crate::work::corrections::AUDIT_ACTION && e.at > s.signed_at)
            .count(),
        None => 0,
    };

    let logo = match &settings.logo_key {
        Some(key) => Some(service.blobs.read(key).await?),
        None => None,
    };
    let record = &work.record;
    let value = match crate::parts::value::job_value(store, ticket, record).await {
        Ok(value) => value,
        Err(crate::parts::PartsError::Store(e)) => return Err(e.into()),
        Err(crate::parts::PartsError::Invalid(e)) => {
            return Err(ReportError::Invalid(e.to_string()));
        }
    };
    let content = ReportContent {
        tenant_name: store.report_tenant_name(tenant_id).await?,
        logo,
        logo_sha256: settings.logo_sha256.clone(),
        ticket_number: ticket.number.clone(),
        title: ticket.title.clone(),
        status: record.status.as_str().to_owned(),
        customer: customer.name.clone(),
        customer_contact: customer.contact_person.clone(),
        site: site.name.clone(),
        site_address: site.address.clone(),
        asset: asset.map(|a| format!("{} (serial {})", a.model, a.serial)),
        technician,
        completed_at: columns.completed_at,
        notes: record.notes.clone(),
        checklist: record
            .checklist
            .iter()
            .map(|c| (c.label.clone(), c.done))
            .collect(),
        parts: record
            .parts
            .iter()
            .map(|p| (p.part_number.clone(), p.quantity, p.serial.clone()))
            .collect(),
        time: record
            .time_entries
            .iter()
            .map(|t| render::TimeRow {
                kind: t.kind.as_str().to_owned(),
                from: t.started_at,
                to: t.ended_at,
                seconds: t.seconds,
            })
            .collect(),
        travel_seconds: record.time_totals.travel_seconds,
        work_seconds: record.time_totals.work_seconds,
        waiting_seconds: record.time_totals.waiting_seconds,
        break_seconds: record.time_totals.break_seconds,
        total_seconds: record.time_totals.total_seconds,
        photos,
        photo_sha256,
        photos_missing,
        signature,
        corrections_after_signing,
        value: Some(value),
    };
    Ok((content, doc_version, pending))
}

/// SHA-256 over what the report shows (images by their hashes) and the
/// fonts it is set in: equal fingerprints make the same report.
fn fingerprint(content: &ReportContent, settings: &ReportSettings) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(content).unwrap_or_default());
    for photo in &content.photos {
        hasher.update(Sha256::digest(photo));
    }
    hasher.update(settings.font_sha256.as_deref().unwrap_or("built-in"));
    hasher.update(settings.font_index.to_le_bytes());
    hex::encode(hasher.finalize())
}

/// Issues a new version of `ticket`'s report as `actor` when what it would
/// show differs from the latest version (or there is none); otherwise
/// answers the latest.
pub async fn generate(
    service: &ReportService<'_>,
    actor: Actor,
    ticket: &Ticket,
    trigger: Trigger,
) -> ReportResult<Generated> {
    let settings = service.store.report_settings(ticket.tenant_id).await?;
    let (content, doc_version, _) = content(service, ticket, &settings).await?;
    issue(
        service,
        actor,
        ticket,
        trigger,
        content,
        doc_version,
        &settings,
    )
    .await
}

async fn issue(
    service: &ReportService<'_>,
    actor: Actor,
    ticket: &Ticket,
    trigger: Trigger,
    content: ReportContent,
    doc_version: i64,
    settings: &ReportSettings,
) -> ReportResult<Generated> {
    let store = service.store;
    let input_sha256 = fingerprint(&content, settings);
    let previous = latest(store, ticket.tenant_id, ticket.id).await?;
    if let Some(previous) = &previous
        && previous.input_sha256 == input_sha256
    {
        store
            .mark_report_checked(ticket.tenant_id, ticket.id, doc_version)
            .await?;
        return Ok(Generated {
            report: previous.clone(),
            created: false,
        });
    }
    let version = previous.as_ref().map_or(1, |p| p.version + 1);
    let code = random_code()?;
    let issue = Issue {
        version,
        code: code.clone(),
        issued_at: Utc::now(),
        verify_at: format!(
            "{}{}",
            service.config.verify_base_url.trim_end_matches('/'),
            verify_path(&code)
        ),
        supersedes: previous
            .as_ref()
            .map(|p| (p.version, p.code.clone(), p.created_at)),
    };
    let faces = fonts(service, settings).await?;
    let pdf =
        tokio::task::spawn_blocking(move || render::render(&content, &issue, &faces)).await??;
    let sha256 = sha256_hex(&pdf);
    let blob_key = format!(
        "tenants/{}/reports/{}/v{version}-{sha256}.pdf",
        ticket.tenant_id, ticket.id
    );
    let size = i64::try_from(pdf.len()).unwrap_or(i64::MAX);
    service
        .blobs
        .write(&blob_key, pdf, "application/pdf")
        .await?;
    let new = NewServiceReport {
        ticket_id: ticket.id,
        version,
        code,
        sha256,
        blob_key: blob_key.clone(),
        size,
        doc_version,
        input_sha256,
        trigger: trigger.as_str().to_owned(),
    };
    match store.insert_report(actor, &new).await {
        Ok(report) => Ok(Generated {
            report,
            created: true,
        }),
        Err(StoreError::Conflict(_)) => {
            // Another replica issued this version first: its report stands.
            service.blobs.delete(&blob_key).await?;
            let report = latest(store, ticket.tenant_id, ticket.id)
                .await?
                .ok_or_else(|| StoreError::NotFound("report"))?;
            Ok(Generated {
                report,
                created: false,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// One pass of the report job: every done ticket whose document moved past
/// its checkpoint gets a new version if its report would change. A ticket
/// whose photos or signature are still uploading waits (up to
/// `report.pending_media_wait_secs` after completion) so its first report
/// shows them. Returns how many versions it issued.
pub async fn run_due(service: &ReportService<'_>, now: DateTime<Utc>) -> ReportResult<usize> {
    let mut issued = 0;
    for candidate in service
        .store
        .report_candidates(service.config.batch)
        .await?
    {
        let ticket = match service
            .store
            .get_ticket(candidate.tenant_id, candidate.ticket_id)
            .await
        {
            Ok(ticket) => ticket,
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let settings = service.store.report_settings(ticket.tenant_id).await?;
        // One ticket whose report cannot be made must not stop the others:
        // it is logged and looked at again on the next pass.
        let (content, doc_version, pending) = match content(service, &ticket, &settings).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(ticket = %ticket.id, %error, "the service report could not be made");
                continue;
            }
        };
        if pending {
            let completed = service
                .store
                .field_columns(ticket.tenant_id, ticket.id)
                .await?
                .completed_at
                .unwrap_or(now);
            let wait = chrono::Duration::seconds(
                i64::try_from(service.config.pending_media_wait_secs).unwrap_or(i64::MAX / 1000),
            );
            if now - completed < wait {
                continue;
            }
        }
        let actor = Actor {
            tenant_id: ticket.tenant_id,
            user_id: None,
        };
        match issue(
            service,
            actor,
            &ticket,
            Trigger::WorkDone,
            content,
            doc_version,
            &settings,
        )
        .await
        {
            Ok(generated) if generated.created => issued += 1,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(ticket = %ticket.id, %error, "the service report could not be issued");
            }
        }
    }
    Ok(issued)
}

/// Runs the report job every `report.poll_ms`.
pub async fn job_loop(
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    config: ReportConfig,
    media: MediaConfig,
) {
    let service = ReportService {
        store: store.as_ref(),
        blobs: blobs.as_ref(),
        config: &config,
        media: &media,
    };
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(config.poll_ms));
    loop {
        ticks.tick().await;
        match run_due(&service, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reports = n, "service reports issued"),
            Err(error) => tracing::warn!(%error, "the service report job failed"),
        }
    }
}

/// What the public check of a code found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyAnswer {
    pub code: String,
    /// The report version issued under this code.
    pub version: i64,
    pub issued_at: DateTime<Utc>,
    /// The SHA-256 given (or of the PDF sent); absent when none was given.
    pub sha256: Option<String>,
    /// Whether that hash is the issued PDF's; absent when none was given.
    pub matches: Option<bool>,
    /// `matches`, `does not match` or `no document given`.
    pub verdict: String,
    /// A newer version of the same report exists.
    pub superseded: bool,
    pub latest_version: i64,
    pub latest_issued_at: DateTime<Utc>,
}

/// Checks `sha256` (hex) against the report issued under `code`; `None`
/// when no report has that code.
pub async fn verify(
    store: &dyn Store,
    code: &str,
    sha256: Option<&str>,
) -> ReportResult<Option<VerifyAnswer>> {
    let Some(code) = normalize_code(code) else {
        return Ok(None);
    };
    let Some(report) = store.report_by_code(&code).await? else {
        return Ok(None);
    };
    let newest = latest(store, report.tenant_id, report.ticket_id)
        .await?
        .unwrap_or_else(|| report.clone());
    let sha256 = sha256.map(str::to_ascii_lowercase);
    let matches = sha256.as_ref().map(|s| *s == report.sha256);
    let verdict = match matches {
        Some(true) => "matches",
        Some(false) => "does not match",
        None => "no document given",
    };
    Ok(Some(VerifyAnswer {
        code: report.code.clone(),
        version: report.version,
        issued_at: report.created_at,
        sha256,
        matches,
        verdict: verdict.to_owned(),
        superseded: newest.version > report.version,
        latest_version: newest.version,
        latest_issued_at: newest.created_at,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_symbols_and_typing_mistakes_normalize() {
        let code = random_code().unwrap();
        assert_eq!(code.len(), 11);
        assert_eq!(normalize_code(&code.to_lowercase()), Some(code.clone()));
        assert_eq!(
            normalize_code("abcde-fghio").as_deref(),
            Some("ABCDE-FGH10")
        );
        assert_eq!(normalize_code("short"), None);
        assert_eq!(
            normalize_code("ABCDE-FGHIU"),
            None,
            "U is not in the alphabet"
        );
    }

    #[test]
    fn the_built_in_font_renders_a_report() {
        let content = ReportContent {
            tenant_name: "Acme".into(),
            logo: None,
            logo_sha256: None,
            ticket_number: "TR-000001".into(),
            title: "Chiller".into(),
            status: "work_done".into(),
            customer: "Grace".into(),
            customer_contact: None,
            site: "Plant".into(),
            site_address: "1 Main St".into(),
            asset: None,
            technician: None,
            completed_at: None,
            notes: "word ".repeat(400),
            checklist: vec![("Isolate power".into(), true)],
            parts: vec![("FAN-220".into(), 2.5, None)],
            time: Vec::new(),
            travel_seconds: 0,
            work_seconds: 3600,
            waiting_seconds: 0,
            break_seconds: 0,
            total_seconds: 3600,
            photos: Vec::new(),
            photo_sha256: Vec::new(),
            photos_missing: 0,
            signature: None,
            corrections_after_signing: 0,
            value: None,
        };
        let issue = Issue {
            version: 1,
            code: "ABCDE-12345".into(),
            issued_at: Utc::now(),
            verify_at: verify_path("ABCDE-12345"),
            supersedes: None,
        };
        let pdf = render::render(
            &content,
            &issue,
            &[FontData {
                bytes: Arc::new(DEFAULT_FONT.to_vec()),
                index: 0,
            }],
        )
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
