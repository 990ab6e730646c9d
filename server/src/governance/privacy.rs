//! Erasure and access requests for one customer, and erasure of a
//! customer's contact person alone (issue 19, item 5).
//!
//! Erasure plans in Rust (values to redact, squashed documents, media to
//! delete), writes everything relational in one store transaction, then
//! deletes the blobs nothing refers to any more. A blob deletion that fails
//! after the commit leaves an unreferenced object for the media orphan sweep;
//! it never leaves a half-erased record.

use std::collections::BTreeSet;

use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::blob::{BlobError, BlobStore, object_key, thumbnail_key};
use crate::domain::{
    audit::AuditEntry,
    customers::{Asset, Customer, Site},
    lifecycle::ArchivedFilter,
    privacy::Redactor,
    ticket::{Comment, Ticket, Visibility},
};
use crate::store::{
    Actor, PageRequest, Store, StoreError, TicketFilter,
    media::Media,
    notify::Notice,
    privacy::{ErasureOutcome, ErasurePlan, ErasureScope, ErasureSubject, ScopedMedia},
};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("{0}")]
    LegalHold(String),
    #[error("{0}")]
    OpenTickets(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
    #[error("ticket document: {0}")]
    Document(#[from] truckroll_sync::DocError),
}

/// Erases customer `customer_id`: refused while it or one of its tickets
/// is under legal hold, or while a ticket is still open (the technician
/// needs the address; close or cancel it first).
pub async fn erase_customer(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    actor: Actor,
    customer_id: Uuid,
) -> Result<ErasureOutcome, PrivacyError> {
    let tenant_id = actor.tenant_id;
    let scope = store.erasure_scope(tenant_id, customer_id).await?;
    refuse_held(&scope)?;
    let open: Vec<&str> = scope
        .tickets
        .iter()
        .filter(|t| t.open)
        .map(|t| t.number.as_str())
        .collect();
    if !open.is_empty() {
        return Err(PrivacyError::OpenTickets(format!(
            "close or cancel the customer's open tickets first: {}",
            open.join(", ")
        )));
    }
    let settings = store.privacy_settings(tenant_id).await?;

    let customer = &scope.customer;
    let mut values: Vec<&str> = vec![customer.name.as_str()];
    values.extend(customer.email.as_deref());
    values.extend(customer.phone.as_deref());
    values.extend(customer.contact_person.as_deref());
    for site in &scope.sites {
        values.push(site.address.as_str());
        values.push(site.name.as_str());
        if !site.access_notes.trim().is_empty() {
            values.push(site.access_notes.as_str());
        }
    }
    values.extend(scope.signer_names.iter().map(String::as_str));
    let redactor = Redactor::new(values);

    let mut documents = Vec::new();
    for ticket in &scope.tickets {
        if let Some(loaded) = crate::device_sync::load(store, tenant_id, ticket.id).await? {
            let redact = |text: &str| redactor.redact(text);
            let squashed = loaded
                .doc
                .squashed(truckroll_sync::ActorId::random(), &redact)?;
            documents.push((ticket.id, squashed.save()));
        }
    }
    let erased_media: Vec<_> = scope
        .media
        .iter()
        .filter(|m| m.kind == "signature" || settings.erase_photos)
        .collect();
    let plan = ErasurePlan {
        subject: ErasureSubject::Customer,
        customer_id,
        site_ids: scope.sites.iter().map(|s| s.id).collect(),
        ticket_ids: scope.tickets.iter().map(|t| t.id).collect(),
        redactor,
        documents,
        media_ids: erased_media.iter().map(|m| m.id).collect(),
        report_ids: scope.reports.iter().map(|(id, _)| *id).collect(),
    };
    let outcome = store.erase_customer(actor, &plan).await?;
    delete_objects(store, blobs, tenant_id, &erased_media, &scope).await?;
    Ok(outcome)
}

/// Erases customer `customer_id`'s contact person alone: the field cleared,
/// the name redacted wherever text quotes it (tickets, comments, messages,
/// outboxes, intake, the search index, audit payloads), ticket documents
/// that quote it squashed, signatures signed in that name and the
/// customer's service reports (they print the contact) deleted. The
/// customer, its sites and everything that does not quote the name stay.
/// 404 when the customer has no contact person; refused under the same
/// legal holds as erasing the customer; 409 `in_use` while an open
/// ticket's document quotes the name (a phone holds that history).
pub async fn erase_contact(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    actor: Actor,
    customer_id: Uuid,
) -> Result<ErasureOutcome, PrivacyError> {
    let tenant_id = actor.tenant_id;
    let scope = store.erasure_scope(tenant_id, customer_id).await?;
    let Some(contact) = scope
        .customer
        .contact_person
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    else {
        return Err(StoreError::NotFound("contact person").into());
    };
    refuse_held(&scope)?;
    let redactor = Redactor::new([contact]);

    let mut documents = Vec::new();
    let mut open = Vec::new();
    for ticket in &scope.tickets {
        let Some(loaded) = crate::device_sync::load(store, tenant_id, ticket.id).await? else {
            continue;
        };
        let quoted = std::cell::Cell::new(false);
        let redact = |text: &str| {
            let redacted = redactor.redact(text);
            if redacted != text {
                quoted.set(true);
            }
            redacted
        };
        let squashed = loaded
            .doc
            .squashed(truckroll_sync::ActorId::random(), &redact)?;
        if !quoted.get() {
            continue;
        }
        if ticket.open {
            open.push(ticket.number.as_str());
        } else {
            documents.push((ticket.id, squashed.save()));
        }
    }
    if !open.is_empty() {
        return Err(PrivacyError::OpenTickets(format!(
            "these open tickets' work records name the contact; close or cancel them first: {}",
            open.join(", ")
        )));
    }
    let erased_media: Vec<_> = scope
        .media
        .iter()
        .filter(|m| {
            m.signer_name
                .as_deref()
                .is_some_and(|name| redactor.contains_any(name))
        })
        .collect();
    let plan = ErasurePlan {
        subject: ErasureSubject::ContactPerson,
        customer_id,
        site_ids: Vec::new(),
        ticket_ids: scope.tickets.iter().map(|t| t.id).collect(),
        redactor,
        documents,
        media_ids: erased_media.iter().map(|m| m.id).collect(),
        report_ids: scope.reports.iter().map(|(id, _)| *id).collect(),
    };
    let outcome = store.erase_customer(actor, &plan).await?;
    delete_objects(store, blobs, tenant_id, &erased_media, &scope).await?;
    Ok(outcome)
}

fn refuse_held(scope: &ErasureScope) -> Result<(), PrivacyError> {
    if scope.legal_hold {
        return Err(PrivacyError::LegalHold(
            "the customer is under legal hold".into(),
        ));
    }
    if let Some(held) = scope.tickets.iter().find(|t| t.legal_hold) {
        return Err(PrivacyError::LegalHold(format!(
            "ticket {} is under legal hold",
            held.number
        )));
    }
    Ok(())
}

/// After the commit: the erased media's objects nothing else refers to,
/// and the service reports' objects.
async fn delete_objects(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    tenant_id: Uuid,
    erased_media: &[&ScopedMedia],
    scope: &ErasureScope,
) -> Result<(), PrivacyError> {
    let shas: BTreeSet<(&str, bool)> = erased_media
        .iter()
        .map(|m| (m.sha256.as_str(), m.has_thumbnail))
        .collect();
    for (sha256, thumbnail) in shas {
        // Content is shared by hash; another ticket's reference keeps it.
        if store.media_referenced(tenant_id, sha256).await? {
            continue;
        }
        blobs.delete(&object_key(tenant_id, sha256)).await?;
        if thumbnail {
            blobs.delete(&thumbnail_key(tenant_id, sha256)).await?;
        }
    }
    for (_, key) in &scope.reports {
        blobs.delete(key).await?;
    }
    Ok(())
}

/// Everything Truckroll keeps about one customer, for an access request.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerExport {
    /// `truckroll.customer-export/1`
    pub format: String,
    pub exported_at: chrono::DateTime<chrono::Utc>,
    pub customer: Customer,
    pub sites: Vec<Site>,
    pub assets: Vec<Asset>,
    pub tickets: Vec<TicketExport>,
    /// Audit entries about the customer and its sites.
    pub audit: Vec<AuditEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketExport {
    pub ticket: Ticket,
    /// Public comments only: internal notes are the company's.
    pub comments: Vec<Comment>,
    /// The ticket document's content (notes, checklist, parts, time, events).
    #[schema(value_type = Object)]
    pub work: serde_json::Value,
    pub media: Vec<MediaExport>,
    pub notices: Vec<Notice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaExport {
    #[serde(flatten)]
    pub media: Media,
    /// The stored bytes, base64 (standard alphabet); `null` when the object
    /// is missing.
    pub content_base64: Option<String>,
}

/// Builds the archive. Media content is read whole; a customer's photos
/// and signatures are few and bounded by the upload limit.
pub async fn export_customer(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    tenant_id: Uuid,
    customer_id: Uuid,
) -> Result<CustomerExport, PrivacyError> {
    let scope = store.erasure_scope(tenant_id, customer_id).await?;
    let site_ids: BTreeSet<Uuid> = scope.sites.iter().map(|s| s.id).collect();
    let mut assets = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_assets_where(
                tenant_id,
                ArchivedFilter::All,
                PageRequest { limit: 500, after },
            )
            .await?;
        assets.extend(
            page.items
                .into_iter()
                .filter(|a| site_ids.contains(&a.site_id)),
        );
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let filter = TicketFilter {
        customer_id: Some(customer_id),
        ..TicketFilter::default()
    };
    let mut tickets = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_tickets(tenant_id, &filter, PageRequest { limit: 500, after })
            .await?;
        for ticket in page.items {
            tickets.push(ticket_export(store, blobs, ticket).await?);
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut audit = Vec::new();
    for entity in std::iter::once(customer_id).chain(site_ids.iter().copied()) {
        audit.extend(
            store
                .list_audit_for_entity(tenant_id, entity, 10_000)
                .await?,
        );
    }
    audit.sort_by_key(|e| e.seq);
    Ok(CustomerExport {
        format: "truckroll.customer-export/1".into(),
        exported_at: chrono::Utc::now(),
        customer: scope.customer,
        sites: scope.sites,
        assets,
        tickets,
        audit,
    })
}

async fn ticket_export(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    ticket: Ticket,
) -> Result<TicketExport, PrivacyError> {
    let tenant_id = ticket.tenant_id;
    let mut comments = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_comments(tenant_id, ticket.id, PageRequest { limit: 500, after })
            .await?;
        comments.extend(
            page.items
                .into_iter()
                .filter(|c| c.visibility == Visibility::Public),
        );
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let rows = store.list_ticket_media(tenant_id, ticket.id).await?;
    let work = crate::work::record(store, tenant_id, ticket.id, ticket.status, &rows).await?;
    let mut media = Vec::new();
    for row in rows {
        let content = match blobs.read(&object_key(tenant_id, &row.sha256)).await {
            Ok(bytes) => Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            Err(BlobError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        media.push(MediaExport {
            media: row,
            content_base64: content,
        });
    }
    let notices = store.list_ticket_notices(tenant_id, ticket.id).await?;
    Ok(TicketExport {
        work: serde_json::to_value(&work.record).unwrap_or(serde_json::Value::Null),
        ticket,
        comments,
        media,
        notices,
    })
}
