//! A seeded random simulation: a server and two phones edit one ticket,
//! going offline at random, and exchange standard Automerge sync messages
//! over links that delay messages and drop connections. The server accepts
//! each phone message only through `receive_field_sync_message` (actor
//! check, then `check_field_edit` on a copy). At the
//! end every replica holds the same document and folds the same status, and
//! every edit ever made is present.
//!
//! Reproduce one run with `TRUCKROLL_SIM_SEED=<seed> cargo test -p
//! truckroll-sync --test main simulation -- --nocapture`; run more seeds with
//! `TRUCKROLL_SIM_SEEDS=<count>`.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;

use crate::common::*;
use truckroll_sync::{ActionOrigin, StatusAction};
use truckroll_sync::{CustomValue, HoldReason, Limits, SyncState, TicketDoc, allowed_actions};

/// SplitMix64: small, fast and good enough to drive a simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct Peer {
    doc: TicketDoc,
    skew_ms: i64,
    server: bool,
    online: bool,
}

/// One direction of a server↔phone connection.
struct Link {
    /// The sender's sync state for the receiver.
    state: SyncState,
    queue: VecDeque<Vec<u8>>,
}

const SERVER: usize = 0;
const PHONES: [usize; 2] = [1, 2];
const STEPS: usize = 160;

fn link_index(from: usize, to: usize) -> usize {
    // Links: server→1, 1→server, server→2, 2→server.
    match (from, to) {
        (SERVER, 1) => 0,
        (1, SERVER) => 1,
        (SERVER, 2) => 2,
        (2, SERVER) => 3,
        _ => unreachable!(),
    }
}

/// Drops the connection between the server and `phone`: queued messages are
/// lost and both ends restart from their persisted sync state.
fn disconnect(links: &mut [Link], phone: usize) {
    for i in [link_index(SERVER, phone), link_index(phone, SERVER)] {
        links[i].queue.clear();
        links[i].state = SyncState::decode(&links[i].state.encode()).unwrap();
    }
}

/// Delivers a message to `to`; the server validates phone messages on a fork.
fn deliver(
    peers: &mut [Peer],
    links: &mut [Link],
    from: usize,
    to: usize,
    message: &[u8],
    seed: u64,
) {
    // The receiver's own state for the sender lives on the reverse link.
    let back = link_index(to, from);
    if peers[to].server {
        let device_actors = [device(from as u8)];
        let state = &mut links[back].state;
        let limits = Limits::default();
        if let Err(e) =
            peers[to]
                .doc
                .receive_field_sync_message(state, message, &device_actors, &limits)
        {
            panic!("seed {seed}: server refused a legitimate phone message: {e}");
        }
    } else {
        peers[to]
            .doc
            .receive_sync_message(&mut links[back].state, message)
            .unwrap();
    }
}

#[derive(Default)]
struct Made {
    markers: Vec<String>,
    checklist: Vec<String>,
    events: Vec<String>,
}

fn edit(peer: &mut Peer, who: usize, now: i64, rng: &mut Rng, made: &mut Made) {
    let doc = &mut peer.doc;
    let at = now + peer.skew_ms;
    match rng.below(10) {
        0..=2 => {
            let marker = format!("<{who}.{}>", made.markers.len());
            // Insert between markers (never inside one), anywhere in the text.
            let boundaries: Vec<usize> = std::iter::once(0)
                .chain(
                    doc.notes()
                        .chars()
                        .enumerate()
                        .filter(|(_, c)| *c == '>')
                        .map(|(i, _)| i + 1),
                )
                .collect();
            doc.notes_insert(boundaries[rng.below(boundaries.len())], &marker)
                .unwrap();
            made.markers.push(marker);
        }
        3 => made
            .checklist
            .push(doc.add_checklist_item(&format!("item by {who}")).unwrap()),
        4 => {
            let items = doc.checklist();
            if !items.is_empty() {
                let item = &items[rng.below(items.len())];
                doc.set_checklist_done(&item.id.clone(), !item.done, &format!("peer-{who}"), at)
                    .unwrap();
            }
        }
        5 => {
            let key = ["floor", "gate", "pets"][rng.below(3)];
            doc.set_custom(key, CustomValue::Int(rng.below(100) as i64))
                .unwrap();
        }
        _ => {
            // A status action: mostly one the local fold allows, sometimes any
            // action of the peer's side (a deliberate conflict).
            let origin = if peer.server {
                ActionOrigin::Server
            } else {
                ActionOrigin::Field
            };
            let status = doc.status().status;
            let mut candidates: Vec<StatusAction> = allowed_actions(status)
                .map(|(a, _)| a)
                .filter(|a| a.origin() == origin)
                .collect();
            if candidates.is_empty() || rng.chance(20) {
                candidates = StatusAction::ALL
                    .into_iter()
                    .filter(|a| a.origin() == origin)
                    .collect();
            }
            let kind = candidates[rng.below(candidates.len())];
            let mut event = doc.stamp_event(kind, at);
            match kind {
                StatusAction::Assign | StatusAction::Reassign => {
                    event = event.with_assignee(["tech-1", "tech-2"][rng.below(2)]);
                }
                StatusAction::Hold => event = event.with_hold_reason(HoldReason::WaitingParts),
                _ => {}
            }
            doc.append_event(&event).unwrap();
            made.events.push(event.id);
        }
    }
}

fn run(seed: u64) {
    println!("simulation seed {seed}");
    let mut rng = Rng(seed);
    let mut peers: Vec<Peer> = (0..3)
        .map(|i| {
            let doc = if i == SERVER {
                assigned_doc("tech-1")
            } else {
                TicketDoc::new(TICKET, device(i as u8)).unwrap()
            };
            Peer {
                doc,
                skew_ms: if i == SERVER {
                    0
                } else {
                    rng.below(120_001) as i64 - 60_000
                },
                server: i == SERVER,
                online: true,
            }
        })
        .collect();
    let mut links: Vec<Link> = (0..4)
        .map(|_| Link {
            state: SyncState::new(),
            queue: VecDeque::new(),
        })
        .collect();
    let mut made = Made::default();
    made.events
        .extend(peers[SERVER].doc.events().into_iter().map(|e| e.id));
    let mut now = T0;

    for _ in 0..STEPS {
        now += rng.below(5_000) as i64;
        let phone = PHONES[rng.below(2)];
        match rng.below(20) {
            0..=6 => {
                let who = rng.below(3);
                edit(&mut peers[who], who, now, &mut rng, &mut made);
            }
            7 => {
                peers[phone].online = !peers[phone].online;
                disconnect(&mut links, phone);
            }
            8 if rng.chance(30) => disconnect(&mut links, phone),
            _ if !peers[phone].online => {}
            9..=13 => {
                // Generate a message on one side of the link.
                let (from, to) = if rng.chance(50) {
                    (SERVER, phone)
                } else {
                    (phone, SERVER)
                };
                let l = link_index(from, to);
                if let Some(m) = peers[from].doc.generate_sync_message(&mut links[l].state) {
                    links[l].queue.push_back(m);
                }
            }
            _ => {
                // Deliver the oldest queued message, if any (in order per link).
                let (from, to) = if rng.chance(50) {
                    (SERVER, phone)
                } else {
                    (phone, SERVER)
                };
                let l = link_index(from, to);
                if let Some(m) = links[l].queue.pop_front() {
                    deliver(&mut peers, &mut links, from, to, &m, seed);
                }
            }
        }
    }

    // Heal: everyone comes online and syncs until nothing is left to send.
    for phone in PHONES {
        disconnect(&mut links, phone);
    }
    for _round in 0..3 {
        for phone in PHONES {
            for _ in 0..50 {
                let mut quiet = true;
                for (from, to) in [(SERVER, phone), (phone, SERVER)] {
                    let l = link_index(from, to);
                    if let Some(m) = peers[from].doc.generate_sync_message(&mut links[l].state) {
                        deliver(&mut peers, &mut links, from, to, &m, seed);
                        quiet = false;
                    }
                }
                if quiet {
                    break;
                }
            }
        }
    }

    let reference = &peers[SERVER].doc;
    reference.validate().unwrap();
    for peer in &peers[1..] {
        assert_eq!(
            peer.doc.heads(),
            reference.heads(),
            "seed {seed}: heads differ"
        );
        assert_eq!(peer.doc.notes(), reference.notes(), "seed {seed}");
        assert_eq!(peer.doc.checklist(), reference.checklist(), "seed {seed}");
        assert_eq!(peer.doc.custom(), reference.custom(), "seed {seed}");
        assert_eq!(peer.doc.events(), reference.events(), "seed {seed}");
        assert_eq!(
            peer.doc.status(),
            reference.status(),
            "seed {seed}: folds differ"
        );
    }
    let notes = reference.notes();
    for marker in &made.markers {
        assert!(
            notes.contains(marker.as_str()),
            "seed {seed}: {marker} lost from notes"
        );
    }
    let checklist: Vec<String> = reference.checklist().into_iter().map(|i| i.id).collect();
    for id in &made.checklist {
        assert!(
            checklist.contains(id),
            "seed {seed}: checklist item {id} lost"
        );
    }
    let events: Vec<String> = reference.events().into_iter().map(|e| e.id).collect();
    assert_eq!(events.len(), made.events.len(), "seed {seed}");
    for id in &made.events {
        assert!(events.contains(id), "seed {seed}: event {id} lost");
    }
    // The fold does not depend on the order of the list either.
    let mut reversed = reference.events();
    reversed.reverse();
    assert_eq!(truckroll_sync::fold_status(&reversed), reference.status());
}

#[test]
fn replicas_converge_for_many_seeds() {
    if let Ok(seed) = std::env::var("TRUCKROLL_SIM_SEED") {
        run(seed.parse().expect("TRUCKROLL_SIM_SEED must be a number"));
        return;
    }
    let count: u64 = std::env::var("TRUCKROLL_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    for seed in 0..count {
        run(seed);
    }
}
