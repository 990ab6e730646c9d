//! The technician's job packet (`truckroll_sync::packet::JobPacket`): built
//! from the relational data for each ticket in a device's set and carried in
//! the sync envelope beside the ticket's document (PROTOCOL.md §4), never in
//! the document itself, so the personal data in it stays erasable.
//!
//! A packet is identified by the SHA-256 of its JSON; the device says which
//! hash it holds (`packet_have`) and gets a `packet` frame only when the
//! server's differs ([`Packets::frames`]).

mod approvals;
mod articles;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use truckroll_sync::TicketDoc;
use truckroll_sync::packet::{
    JobPacket, PacketArticle, PacketAsset, PacketAttachment, PacketComment, PacketCustomer,
    PacketDeadline, PacketPastJob, PacketSite, PacketSkill, PacketTicket, WarrantyStatus,
};
use truckroll_sync::protocol::Message;
use uuid::Uuid;

mod appointment;

use crate::domain::approvals::ApprovalRequest;
use crate::domain::customers::{Asset, Customer, Site, in_warranty};
use crate::domain::schedule::AppointmentWindow;
use crate::domain::ticket::{Comment, Ticket};
use crate::sla::view::{TicketSla, evaluate};
use crate::store::media::{Media, MediaKind, MediaState};
use crate::store::{Store, StoreError, StoreResult};

/// How many earlier tickets on the asset a packet lists.
pub const ASSET_HISTORY: u32 = 5;
/// How many office comments a packet carries (the newest).
pub const MAX_COMMENTS: usize = 50;
/// How much of a past ticket's work notes the history shows.
const NOTES_EXCERPT_CHARS: usize = 280;

/// The packet's content hash: lowercase hex SHA-256 of its JSON.
pub fn packet_hash(packet: &JobPacket) -> String {
    let json = serde_json::to_vec(packet).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

/// What a device holds, and builds what it lacks.
#[derive(Debug, Default)]
pub struct Packets {
    /// Ticket → hash of the packet the device holds (from `packet_have`, or
    /// sent in this session).
    held: HashMap<Uuid, String>,
    /// When the packets of `built_for` were last built: an idle WebSocket
    /// asks every few seconds, the packets are rebuilt at most every
    /// [`REBUILD_AFTER`] unless the set changed.
    built: Option<(Instant, Vec<Uuid>)>,
}

/// How long a WebSocket session reuses its packets for an unchanged set.
pub const REBUILD_AFTER: Duration = Duration::from_secs(30);

impl Packets {
    /// The device said it holds this packet (ignored for a document whose
    /// packet this session already sent).
    pub fn have(&mut self, doc_id: &str, hash: &str) {
        if let Ok(id) = Uuid::parse_str(doc_id) {
            // A packet sent on this connection is newer than what the
            // device said it held before receiving it.
            if let std::collections::hash_map::Entry::Vacant(entry) = self.held.entry(id) {
                entry.insert(hash.to_owned());
                self.built = None;
            }
        }
    }

    /// A `packet` frame for every ticket of `set` whose packet differs from
    /// the one the device holds. `technician_user` is the technician's user:
    /// their own comments are not the office's.
    pub async fn frames(
        &mut self,
        store: &dyn Store,
        tenant_id: Uuid,
        technician_user: Option<Uuid>,
        set: &[Ticket],
        out: &mut Vec<Message>,
    ) -> StoreResult<()> {
        let ids: Vec<Uuid> = set.iter().map(|t| t.id).collect();
        if let Some((at, previous)) = &self.built
            && at.elapsed() < REBUILD_AFTER
            && *previous == ids
        {
            return Ok(());
        }
        self.built = Some((Instant::now(), ids));
        let built = build_all(store, tenant_id, technician_user, set, Utc::now()).await?;
        for (ticket_id, packet) in built {
            let hash = packet_hash(&packet);
            if self.held.get(&ticket_id) == Some(&hash) {
                continue;
            }
            self.held.insert(ticket_id, hash.clone());
            out.push(Message::Packet {
                doc_id: ticket_id.to_string(),
                hash,
                packet: Box::new(packet),
            });
        }
        Ok(())
    }
}

/// Lookups shared by the packets of one set (tickets often share a site,
/// a category and its articles), and what the set's tickets own, read for
/// the whole set with one query per kind: a packet per ticket must not cost
/// queries per ticket on every sync request.
#[derive(Default)]
struct Cache {
    sites: HashMap<Uuid, Site>,
    customers: HashMap<Uuid, Customer>,
    authors: HashMap<Uuid, String>,
    /// By (category, asset model).
    articles: HashMap<(String, Option<String>), Vec<PacketArticle>>,
    comments: HashMap<Uuid, Vec<Comment>>,
    media: HashMap<Uuid, Vec<Media>>,
    windows: HashMap<Uuid, AppointmentWindow>,
    approvals: HashMap<Uuid, Vec<ApprovalRequest>>,
}

impl Cache {
    async fn for_set(store: &dyn Store, tenant_id: Uuid, tickets: &[Ticket]) -> StoreResult<Self> {
        let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
        let mut cache = Self::default();
        if ids.is_empty() {
            return Ok(cache);
        }
        for comment in store.comments_of_tickets(tenant_id, &ids).await? {
            cache
                .comments
                .entry(comment.ticket_id)
                .or_default()
                .push(comment);
        }
        for media in store.stored_media_of_tickets(tenant_id, &ids).await? {
            cache.media.entry(media.ticket_id).or_default().push(media);
        }
        for window in store.ticket_windows(tenant_id, &ids).await? {
            cache.windows.insert(window.ticket_id, window);
        }
        for request in store.approval_requests_of_tickets(tenant_id, &ids).await? {
            cache
                .approvals
                .entry(request.ticket_id)
                .or_default()
                .push(request);
        }
        Ok(cache)
    }
}

/// The packets of `tickets`, in order.
pub async fn build_all(
    store: &dyn Store,
    tenant_id: Uuid,
    technician_user: Option<Uuid>,
    tickets: &[Ticket],
    now: DateTime<Utc>,
) -> StoreResult<Vec<(Uuid, JobPacket)>> {
    let slas = evaluate(store, tenant_id, tickets, now).await?;
    let mut cache = Cache::for_set(store, tenant_id, tickets).await?;
    let mut out = Vec::with_capacity(tickets.len());
    for (ticket, sla) in tickets.iter().zip(slas) {
        let packet = build(
            store,
            &mut cache,
            technician_user,
            ticket,
            sla.as_ref(),
            now.date_naive(),
        )
        .await?;
        out.push((ticket.id, packet));
    }
    Ok(out)
}

async fn build(
    store: &dyn Store,
    cache: &mut Cache,
    technician_user: Option<Uuid>,
    ticket: &Ticket,
    sla: Option<&TicketSla>,
    today: NaiveDate,
) -> StoreResult<JobPacket> {
    let tenant_id = ticket.tenant_id;
    let site = match cache.sites.get(&ticket.site_id) {
        Some(s) => s.clone(),
        None => {
            let s = store.get_site(tenant_id, ticket.site_id).await?;
            cache.sites.insert(s.id, s.clone());
            s
        }
    };
    let customer = match cache.customers.get(&site.customer_id) {
        Some(c) => c.clone(),
        None => {
            let c = store.get_customer(tenant_id, site.customer_id).await?;
            cache.customers.insert(c.id, c.clone());
            c
        }
    };
    let asset = match ticket.asset_id {
        Some(id) => match store.get_asset(tenant_id, id).await {
            Ok(asset) => Some(packet_asset(store, ticket, &asset, today).await?),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let comments = office_comments(store, cache, technician_user, ticket).await?;
    let attachments = cache
        .media
        .get(&ticket.id)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|m| {
            m.kind == MediaKind::Document
                && m.state == MediaState::Stored
                && (technician_user.is_none() || m.created_by != technician_user)
        })
        .map(|m| PacketAttachment {
            media_id: m.id.to_string(),
            content_type: m.content_type.clone(),
            size: m.size,
            sha256: m.sha256.clone(),
        })
        .collect();
    let mut packet_ticket = packet_ticket(ticket, sla);
    packet_ticket.appointment = appointment::of(cache.windows.get(&ticket.id));
    let model = asset.as_ref().map(|a| a.model.clone());
    let key = (ticket.category.clone(), model);
    let articles = match cache.articles.get(&key) {
        Some(articles) => articles.clone(),
        None => {
            let articles =
                articles::job_articles(store, tenant_id, &ticket.category, key.1.as_deref())
                    .await?;
            cache.articles.insert(key, articles.clone());
            articles
        }
    };
    let approvals = approvals::job_approvals(
        cache
            .approvals
            .get(&ticket.id)
            .map(Vec::as_slice)
            .unwrap_or_default(),
    );
    Ok(JobPacket {
        ticket: packet_ticket,
        site: PacketSite {
            name: site.name,
            address: site.address,
            lat: site.location.lat,
            lon: site.location.lon,
            access_notes: site.access_notes,
            opening_hours: site.opening_hours,
        },
        customer: PacketCustomer {
            name: customer.name,
            contact_person: customer.contact_person,
            phone: customer.phone,
            email: customer.email,
        },
        asset,
        comments,
        attachments,
        articles,
        approvals,
    })
}

fn packet_ticket(ticket: &Ticket, sla: Option<&TicketSla>) -> PacketTicket {
    let custom_fields: BTreeMap<String, serde_json::Value> = match &ticket.custom_fields {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => BTreeMap::new(),
    };
    let sla = sla
        .map(|s| {
            [&s.response, &s.arrival, &s.resolution]
                .into_iter()
                .flatten()
                .map(|clock| PacketDeadline {
                    target: clock.target.as_str().to_owned(),
                    // Minutes: a paused clock's deadline moves with `now`;
                    // whole minutes keep the packet (and its hash) stable.
                    deadline_ms: clock.deadline.timestamp() / 60 * 60_000,
                    met_ms: clock.met_at.map(|t| t.timestamp_millis()),
                })
                .collect()
        })
        .unwrap_or_default();
    PacketTicket {
        number: ticket.number.clone(),
        title: ticket.title.clone(),
        description: ticket.description.clone(),
        category: ticket.category.clone(),
        priority: ticket.priority.as_str().to_owned(),
        required_skills: ticket
            .required_skills
            .iter()
            .map(|s| PacketSkill {
                skill: s.skill.clone(),
                level: s.level,
            })
            .collect(),
        custom_fields,
        sla,
        appointment: None,
    }
}

async fn packet_asset(
    store: &dyn Store,
    ticket: &Ticket,
    asset: &Asset,
    today: NaiveDate,
) -> StoreResult<PacketAsset> {
    let mut history = Vec::new();
    for past in store
        .asset_history(ticket.tenant_id, asset.id, ticket.id, ASSET_HISTORY)
        .await?
    {
        let field = store.field_columns(past.tenant_id, past.id).await?;
        history.push(PacketPastJob {
            number: past.number.clone(),
            title: past.title.clone(),
            status: past.status.as_str().to_owned(),
            created_ms: past.created_at.timestamp_millis(),
            completed_ms: field.completed_at.map(|t| t.timestamp_millis()),
            work_done: work_done(store, &past).await?,
        });
    }
    Ok(PacketAsset {
        model: asset.model.clone(),
        serial: asset.serial.clone(),
        installed_on: asset.installed_on.map(|d| d.to_string()),
        warranty_end: asset.warranty_end.map(|d| d.to_string()),
        warranty: match in_warranty(asset, today) {
            Some(true) => WarrantyStatus::InWarranty,
            Some(false) => WarrantyStatus::Expired,
            None => WarrantyStatus::Unknown,
        },
        history,
    })
}

/// What was done on a past ticket, from its document: the start of the
/// work notes, then the parts used.
async fn work_done(store: &dyn Store, ticket: &Ticket) -> StoreResult<String> {
    let Some(stored) = store.load_document(ticket.tenant_id, ticket.id).await? else {
        return Ok(String::new());
    };
    let mut bytes = stored.snapshot;
    for chunk in stored.chunks {
        bytes.extend_from_slice(&chunk);
    }
    let doc = match TicketDoc::load(&bytes) {
        Ok(doc) => doc,
        Err(e) => {
            tracing::warn!(ticket = %ticket.id, error = %e, "unreadable document left out of a packet's history");
            return Ok(String::new());
        }
    };
    let notes = doc.notes();
    let mut text: String = notes.trim().chars().take(NOTES_EXCERPT_CHARS).collect();
    if notes.trim().chars().count() > NOTES_EXCERPT_CHARS {
        text.push('…');
    }
    let parts: Vec<String> = doc
        .parts()
        .iter()
        .map(|p| format!("{} ×{}", p.part_number, p.quantity))
        .collect();
    if !parts.is_empty() {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str("parts: ");
        text.push_str(&parts.join(", "));
    }
    Ok(text)
}

/// The office's comments for the technician: every comment on the ticket,
/// internal or public, that the technician did not write themselves, the
/// newest [`MAX_COMMENTS`], oldest first.
async fn office_comments(
    store: &dyn Store,
    cache: &mut Cache,
    technician_user: Option<Uuid>,
    ticket: &Ticket,
) -> StoreResult<Vec<PacketComment>> {
    let all: Vec<Comment> = cache
        .comments
        .remove(&ticket.id)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| Some(c.author_id) != technician_user)
        .collect();
    let skip = all.len().saturating_sub(MAX_COMMENTS);
    let mut out = Vec::new();
    for comment in all.into_iter().skip(skip) {
        let author = match cache.authors.get(&comment.author_id) {
            Some(name) => name.clone(),
            None => {
                let name = match store.get_user(ticket.tenant_id, comment.author_id).await {
                    Ok(user) => user.name,
                    Err(StoreError::NotFound(_)) => String::new(),
                    Err(e) => return Err(e),
                };
                cache.authors.insert(comment.author_id, name.clone());
                name
            }
        };
        out.push(PacketComment {
            id: comment.id.to_string(),
            author,
            body: comment.body,
            created_ms: comment.created_at.timestamp_millis(),
        });
    }
    Ok(out)
}
