//! Sync benchmarks, against a real server on loopback:
//!
//! - `day_offline`: a technician's day offline — 20 tickets, 400 edits,
//!   60 status events — caught up in one sync, twice: day 1 on fresh
//!   tickets, day 2 on the same tickets carrying day 1. Prints the bytes on the wire
//!   of that sync and of the naive alternative (uploading every whole saved
//!   document), measured in the same run; benches the server's CPU work per
//!   sync for both (the device's recorded sync messages validated and merged
//!   into the server's pre-sync documents, vs loading, validating and merging
//!   the 20 whole documents).
//! - `merge_throughput/{sqlite,postgres}`: one sync carrying one edit for
//!   each of 20 tickets, end to end (HTTP, validation, merge, projection,
//!   storage): criterion reports documents per second.
//! - `big_document`: load time of a ticket document with 10 000 edits; prints
//!   its saved size.
//!
//! `cargo bench -p truckroll-tests --bench sync_day`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use reqwest::StatusCode;
use serde_json::json;
use truckroll_sdk::truckroll_sync::protocol::{Exchange, Message};
use truckroll_sdk::truckroll_sync::{
    ActorId, Limits, Position, StatusAction, SyncState, TicketDoc, TimeEntryKind,
};
use truckroll_sdk::{BaseUrl, Client, ClientConfig, Edit, HttpTransport, SdkResult, Transport};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, TestTenant, id_of},
};
use uuid::Uuid;

const TICKETS: usize = 20;
const EDITS: usize = 400;

/// Records every request body the phone sends and every answer.
#[derive(Debug)]
struct Recording {
    inner: HttpTransport,
    requests: Mutex<Vec<Exchange>>,
    responses: Mutex<Vec<Exchange>>,
}

#[async_trait]
impl Transport for Recording {
    async fn exchange(&self, token: &str, request: &Exchange) -> SdkResult<Exchange> {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request.clone());
        }
        let response = self.inner.exchange(token, request).await?;
        if let Ok(mut r) = self.responses.lock() {
            r.push(response.clone());
        }
        Ok(response)
    }
}

struct Fleet {
    app: TestApp,
    tenant: TestTenant,
    tickets: Vec<Uuid>,
    phone: Client,
    recording: Arc<Recording>,
    device_actor: ActorId,
    _dir: TempGuard,
}

async fn fleet(backend: TestBackend, name: &str) -> Fleet {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant(name).await;
    let site = id_of(&app.berlin_site(&tenant, "standard").await, "id");
    let email = format!("tech@{name}.test");
    let (user, _) = app.create_user(&tenant, &email, "technician").await;
    let tech = id_of(
        &app.post(
            "/v1/technicians",
            &tenant.admin_token,
            &json!({"user_id": user, "name": "Tech", "skills": [], "time_zone": "UTC",
                    "capacity": 100, "home_base": {"lat": 52.5, "lon": 13.4}}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let mut tickets = Vec::new();
    for i in 0..TICKETS {
        let body = json!({"title": format!("Job {i}"), "category": "hvac", "priority": "P3", "site_id": site});
        let ticket = id_of(
            &app.post("/v1/tickets", &tenant.admin_token, &body)
                .await
                .expect(StatusCode::CREATED),
            "id",
        );
        app.post(
            &format!("/v1/tickets/{ticket}/assign"),
            &tenant.admin_token,
            &json!({"technician_id": tech}),
        )
        .await
        .expect(StatusCode::OK);
        tickets.push(ticket);
    }
    let dir = TempGuard::new("truckroll-bench-phone-");
    let recording = Arc::new(Recording {
        inner: HttpTransport::new(BaseUrl::new(&app.base_url)).expect("http"),
        requests: Mutex::new(Vec::new()),
        responses: Mutex::new(Vec::new()),
    });
    let mut config = ClientConfig::new(&app.base_url);
    config.transport = Some(recording.clone());
    let phone = Client::open(&dir.path().join("phone.db"), config)
        .await
        .expect("open");
    let session = phone
        .sign_in(name, &email, PASSWORD)
        .await
        .expect("sign in");
    let report = phone.sync_now().await.expect("first sync");
    assert_eq!(report.docs_added.len(), TICKETS);
    let device_actor = ActorId::from(hex_bytes(&session.actor_hex));
    Fleet {
        app,
        tenant,
        tickets,
        phone,
        recording,
        device_actor,
        _dir: dir,
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// 400 field edits and 60 status events (accept, start_travel, check_in on
/// each of the 20 tickets), spread over the tickets like a working day.
async fn working_day(phone: &Client, tickets: &[Uuid], day: u32) {
    let mut rng = fastrand::Rng::with_seed(2026 + u64::from(day));
    let start = chrono::Utc::now().timestamp_millis() - 8 * 3600 * 1000;
    // Three status events per ticket: on day 1 accept, travel, check in;
    // on day 2 (back on site after waiting for parts) hold, resume, finish.
    let position = Some(Position {
        lat: 52.52,
        lon: 13.40,
        accuracy_m: Some(10.0),
    });
    for t in tickets {
        let id = t.to_string();
        let steps = if day == 1 {
            [
                (StatusAction::Accept, None, None),
                (StatusAction::StartTravel, None, None),
                (StatusAction::CheckIn, position, None),
            ]
        } else {
            [
                (StatusAction::Hold, None, Some("waiting_parts".to_owned())),
                (StatusAction::Resume, None, None),
                (StatusAction::CompleteWork, None, None),
            ]
        };
        for (action, position, reason) in steps {
            phone
                .edit(
                    &id,
                    Edit::Status {
                        action,
                        position,
                        reason,
                    },
                )
                .await
                .expect("status");
        }
    }
    let mut items: Vec<(String, String)> = Vec::new();
    for n in 0..EDITS {
        let t = tickets[n % tickets.len()].to_string();
        let edit = match rng.u32(0..10) {
            0..5 => Edit::NotesAppend {
                text: format!("{n}: checked unit, pressure {} bar. ", rng.u32(2..9)),
            },
            5 | 6 => Edit::AddChecklistItem {
                label: format!("step {n}"),
            },
            7 => match items.iter().position(|(tk, _)| *tk == t) {
                Some(i) => {
                    let (_, item) = items.swap_remove(i);
                    Edit::SetChecklistDone {
                        item_id: item,
                        done: true,
                    }
                }
                None => Edit::AddChecklistItem {
                    label: format!("step {n}"),
                },
            },
            8 => Edit::AddPart {
                part_number: format!("P-{}", rng.u32(100..999)),
                quantity: 1.0,
                serial: Some(format!("SN{n}")),
            },
            _ => Edit::AddTimeEntry {
                kind: TimeEntryKind::Work,
                started_at: start + (n as i64) * 60_000,
                ended_at: Some(start + (n as i64) * 60_000 + 45_000),
            },
        };
        let is_item = matches!(edit, Edit::AddChecklistItem { .. });
        let created = phone.edit(&t, edit).await.expect("edit");
        if let (true, Some(id)) = (is_item, created) {
            items.push((t, id));
        }
    }
}

/// What one day's catch-up sync sent, and what the naive upload would have.
struct DayRecord {
    /// The server's documents before the day.
    before: Vec<Vec<u8>>,
    /// The requests of the catch-up sync.
    requests: Vec<Exchange>,
    /// The phone's whole saved documents after the day (the naive upload).
    saved: Vec<Vec<u8>>,
}

/// One working day offline, then the catch-up sync; prints its bytes.
fn offline_day(rt: &tokio::runtime::Runtime, fleet: &Fleet, day: u32) -> DayRecord {
    // The server's documents before the day, for replaying the sync.
    let before: Vec<Vec<u8>> = rt.block_on(async {
        let mut out = Vec::new();
        for t in &fleet.tickets {
            let loaded = truckroll_server::device_sync::load(
                fleet.app.state.store.as_ref(),
                fleet.tenant.id,
                *t,
            )
            .await
            .expect("load")
            .expect("doc");
            out.push(loaded.doc.save());
        }
        out
    });
    rt.block_on(working_day(&fleet.phone, &fleet.tickets, day));
    if let Ok(mut r) = fleet.recording.requests.lock() {
        r.clear();
    }
    if let Ok(mut r) = fleet.recording.responses.lock() {
        r.clear();
    }
    // The documents as the day left them, one change per edit (the sync
    // coalesces each document's burst first).
    let uncoalesced_docs: Vec<Vec<u8>> = rt.block_on(async {
        let mut out = Vec::new();
        for t in &fleet.tickets {
            out.push(
                fleet
                    .phone
                    .document_bytes(&t.to_string())
                    .await
                    .expect("bytes"),
            );
        }
        out
    });
    let uncoalesced = naive_upload_len(&uncoalesced_docs, &fleet.tickets);
    let (wire_up_before, wire_down_before) = fleet.recording.inner.wire_bytes();
    let started = Instant::now();
    let report = rt.block_on(fleet.phone.sync_now()).expect("reconnect sync");
    let wall = started.elapsed();
    let (wire_up, wire_down) = fleet.recording.inner.wire_bytes();
    let (wire_up, wire_down) = (wire_up - wire_up_before, wire_down - wire_down_before);
    assert!(report.converged && report.pending_edits == 0, "{report:?}");
    let requests = fleet
        .recording
        .requests
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    let responses = fleet
        .recording
        .responses
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    for (n, request) in requests.iter().enumerate() {
        println!(
            "{}",
            breakdown(&format!("day_offline/day{day}: request {}", n + 1), request)
        );
        if let Some(response) = responses.get(n) {
            println!(
                "{}",
                breakdown(&format!("day_offline/day{day}: answer {}", n + 1), response)
            );
        }
    }
    // Naive: every whole saved document, base64 in JSON, up; nothing down.
    let saved: Vec<Vec<u8>> = rt.block_on(async {
        let mut out = Vec::new();
        for t in &fleet.tickets {
            out.push(
                fleet
                    .phone
                    .document_bytes(&t.to_string())
                    .await
                    .expect("bytes"),
            );
        }
        out
    });
    let naive_body = naive_upload_len(&saved, &fleet.tickets);
    println!(
        "day_offline/day{day}: sync {} requests, {} B up + {} B down = {} B of JSON; on the wire (gzip) {wire_up} B up + \
         {wire_down} B down; {:.1} ms wall (client + server, loopback); naive upload of {} whole documents: {} B up \
         (saved sizes sum {} B; {uncoalesced} B for the documents before coalescing); wire up / naive = {:.2} \
         ({:.2} against the uncoalesced documents), JSON up / naive = {:.2}",
        report.requests,
        report.bytes_sent,
        report.bytes_received,
        report.bytes_sent + report.bytes_received,
        wall.as_secs_f64() * 1000.0,
        saved.len(),
        naive_body,
        saved.iter().map(Vec::len).sum::<usize>(),
        wire_up as f64 / naive_body as f64,
        wire_up as f64 / uncoalesced as f64,
        report.bytes_sent as f64 / naive_body as f64,
    );
    DayRecord {
        before,
        requests,
        saved,
    }
}

/// Day 1 starts from fresh tickets; day 2 from tickets that carry day 1,
/// which is where uploading whole documents starts to cost more every day.
fn day_offline(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fleet = rt.block_on(fleet(TestBackend::Sqlite, "benchday"));
    let days: Vec<DayRecord> = (1..=2).map(|day| offline_day(&rt, &fleet, day)).collect();

    let actors = vec![fleet.device_actor.clone()];
    let limits = Limits::default();
    let mut group = c.benchmark_group("day_offline_server_cpu");
    group.sample_size(20);
    for (n, day) in days.iter().enumerate() {
        let label = n + 1;
        group.bench_function(format!("day{label}/delta_sync_messages"), |b| {
            b.iter_batched(
                || {
                    day.before
                        .iter()
                        .map(|d| TicketDoc::load(d).expect("load"))
                        .collect::<Vec<_>>()
                },
                |mut docs| {
                    let mut states: Vec<SyncState> =
                        docs.iter().map(|_| SyncState::new()).collect();
                    for request in &day.requests {
                        for frame in &request.frames {
                            if let Message::Sync { doc_id, data } = frame {
                                let i = fleet
                                    .tickets
                                    .iter()
                                    .position(|t| t.to_string() == *doc_id)
                                    .expect("ticket");
                                let before = docs[i].heads();
                                docs[i]
                                    .receive_field_sync_message(
                                        &mut states[i],
                                        data,
                                        &actors,
                                        &limits,
                                    )
                                    .expect("valid");
                                let _ = docs[i].status();
                                let _ = docs[i].save_after(&before);
                                let _ = docs[i].generate_sync_message(&mut states[i]);
                            }
                        }
                    }
                    docs
                },
                BatchSize::LargeInput,
            );
        });
        group.bench_function(format!("day{label}/naive_whole_documents"), |b| {
            b.iter_batched(
                || {
                    day.before
                        .iter()
                        .map(|d| TicketDoc::load(d).expect("load"))
                        .collect::<Vec<_>>()
                },
                |mut docs| {
                    for (doc, upload) in docs.iter_mut().zip(&day.saved) {
                        let mut incoming = TicketDoc::load(upload).expect("valid upload");
                        doc.merge(&mut incoming).expect("merge");
                        doc.validate().expect("schema");
                        let _ = doc.status();
                        let _ = doc.save();
                    }
                    docs
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
    rt.block_on(fleet.app.stop());
}

/// What one body is made of: per frame type the JSON bytes, and for `sync`
/// frames the parts of the Automerge sync messages (heads, need, have with
/// its Bloom filters, change chunks as sent and as Automerge's deflated
/// change format would send them, whole-document chunks), the base64 and
/// the body gzipped (as the transport would send it).
fn breakdown(label: &str, body: &Exchange) -> String {
    use std::collections::BTreeMap;
    use std::io::Write as _;
    use truckroll_sdk::truckroll_sync::automerge::{Change, sync};

    let gzip_len = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = gz.write_all(bytes);
        gz.finish().map(|v| v.len()).unwrap_or(0)
    };
    let json = body.encode();
    let gzipped = gzip_len(json.as_bytes());
    // The same body with every change chunk deflated, and every sync
    // message's bytes without base64 or JSON (what a binary envelope would
    // carry), each gzipped: where the bytes could go.
    let mut with_deflated = body.clone();
    let mut raw_messages = Vec::new();
    let mut by_type: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut data, mut heads, mut need, mut have, mut bloom, mut flags) = (0, 0, 0, 0, 0, 0);
    let (mut changes, mut change_bytes, mut deflated, mut docs, mut doc_bytes) = (0, 0, 0, 0, 0);
    let (mut v2, mut empty) = (0, 0);
    for (index, frame) in body.frames.iter().enumerate() {
        let kind = match frame {
            Message::Hello { .. } => "hello",
            Message::Sync { .. } => "sync",
            Message::DocAdded { .. } => "doc_added",
            Message::DocRemoved { .. } => "doc_removed",
            Message::Error { .. } => "error",
            Message::Packet { .. } => "packet",
            Message::PacketHave { .. } => "packet_have",
        };
        let entry = by_type.entry(kind).or_default();
        entry.0 += 1;
        entry.1 += frame.encode().len() + 1;
        let Message::Sync { data: bytes, .. } = frame else {
            continue;
        };
        data += bytes.len();
        let Ok(message) = sync::Message::decode(bytes) else {
            continue;
        };
        if message.version == sync::MessageVersion::V2 {
            v2 += 1;
        }
        heads += message.heads.len();
        need += message.need.len();
        let mut have_bytes = 0;
        for h in &message.have {
            have += 1;
            have_bytes += h.bloom.to_bytes().len() + 32 * h.last_sync.len();
        }
        bloom += have_bytes;
        raw_messages.extend_from_slice(bytes);
        let mut chunk_total = 0;
        let mut deflated_entries = Vec::new();
        for entry in message.changes.iter() {
            chunk_total += entry.len();
            let mut deflated_entry = Vec::new();
            let mut rest = entry;
            while rest.len() > 9 {
                let (mut len, mut shift, mut i) = (0usize, 0, 9);
                while let Some(b) = rest.get(i) {
                    len |= usize::from(b & 0x7f) << shift;
                    shift += 7;
                    i += 1;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                let end = (i + len).min(rest.len());
                let chunk = &rest[..end];
                if chunk[8] == 0 {
                    docs += 1;
                    doc_bytes += chunk.len();
                    deflated_entry.extend_from_slice(chunk);
                } else {
                    changes += 1;
                    change_bytes += chunk.len();
                    let small = Change::try_from(chunk)
                        .map(|mut c| c.bytes().to_vec())
                        .unwrap_or_else(|_| chunk.to_vec());
                    deflated += small.len();
                    deflated_entry.extend_from_slice(&small);
                }
                rest = &rest[end..];
            }
            deflated_entries.push(deflated_entry);
        }
        let mut smaller = message.clone();
        smaller.changes = sync::ChunkList::from(deflated_entries);
        if let Message::Sync { data, .. } = &mut with_deflated.frames[index] {
            *data = smaller.encode();
        }
        if chunk_total == 0 {
            empty += 1;
        }
        let fixed = 1 + 32 * (message.heads.len() + message.need.len()) + have_bytes;
        flags += bytes.len().saturating_sub(fixed + chunk_total);
    }
    let types: Vec<String> = by_type
        .iter()
        .map(|(k, (n, b))| format!("{n} {k} {b} B"))
        .collect();
    format!(
        "{label}: {} B of JSON, {gzipped} B gzipped; frames: {}; sync data {data} B binary ({} B as base64): \
         {heads} heads ({} B), {need} need, {have} have ({bloom} B of Bloom filters and last-sync hashes), \
         {changes} change chunks {change_bytes} B ({deflated} B as Automerge's deflated change chunks), \
         {docs} whole-document chunks {doc_bytes} B, {v2} v2 messages, {empty} without changes, \
         {flags} B of length prefixes and flags; gzipped with the changes deflated {} B; \
         the sync messages alone, binary, gzipped {} B; the body with its sync frames in one \
         sync_batch frame {} B, gzipped {} B",
        json.len(),
        types.join(", "),
        data.div_ceil(3) * 4,
        heads * 32,
        gzip_len(with_deflated.encode().as_bytes()),
        gzip_len(&raw_messages),
        body.encode_batched().len(),
        gzip_len(body.encode_batched().as_bytes()),
    )
}

/// Bytes of the naive upload: every whole saved document, base64 in JSON.
fn naive_upload_len(saved: &[Vec<u8>], tickets: &[Uuid]) -> usize {
    json!({"documents": saved.iter().zip(tickets).map(|(b, t)| json!({
        "doc_id": t.to_string(),
        "data": base64_len_placeholder(b),
    })).collect::<Vec<_>>()})
    .to_string()
    .len()
}

/// Length of standard base64 with padding of `bytes`, as the placeholder
/// string it would be (only its length matters for the byte count).
fn base64_len_placeholder(bytes: &[u8]) -> String {
    "A".repeat(bytes.len().div_ceil(3) * 4)
}

fn merge_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("merge_throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TICKETS as u64));
    for (backend, label) in [
        (TestBackend::Sqlite, "sqlite"),
        (TestBackend::Postgres, "postgres"),
    ] {
        let fleet = rt.block_on(fleet(backend, &format!("benchmerge{label}")));
        let mut n = 0u64;
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(async {
                        for t in &fleet.tickets {
                            n += 1;
                            fleet
                                .phone
                                .edit(
                                    &t.to_string(),
                                    Edit::NotesAppend {
                                        text: format!("{n} "),
                                    },
                                )
                                .await
                                .expect("edit");
                        }
                        let started = Instant::now();
                        let report = fleet.phone.sync_now().await.expect("sync");
                        total += started.elapsed();
                        assert_eq!(report.pending_edits, 0);
                    });
                }
                total
            });
        });
        rt.block_on(fleet.app.stop());
    }
    group.finish();
}

fn big_document(c: &mut Criterion) {
    let mut doc = TicketDoc::new(&Uuid::new_v4().to_string(), ActorId::random()).expect("doc");
    let mut rng = fastrand::Rng::with_seed(10_000);
    let mut items = Vec::new();
    for n in 0..10_000 {
        match rng.u32(0..10) {
            0..7 => doc.notes_append(&format!("{n} ok. ")).expect("notes"),
            7 | 8 if items.len() < 450 => {
                items.push(doc.add_checklist_item(&format!("item {n}")).expect("item"))
            }
            _ => match items.get(rng.usize(0..items.len().max(1))) {
                Some(id) => doc
                    .set_checklist_done(id, rng.bool(), "tech", n)
                    .expect("done"),
                None => doc.notes_append("x").expect("notes"),
            },
        }
    }
    let saved = doc.save();
    println!(
        "big_document: 10 000 edits, saved (stored snapshot) {} B, notes {} chars, {} checklist items",
        saved.len(),
        doc.notes().chars().count(),
        doc.checklist().len()
    );
    c.bench_function("big_document/load_10k_edits", |b| {
        b.iter(|| TicketDoc::load(&saved).expect("load"));
    });
}

criterion_group!(benches, day_offline, merge_throughput, big_document);
criterion_main!(benches);
