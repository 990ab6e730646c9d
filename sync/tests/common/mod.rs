//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use truckroll_sync::automerge::Automerge;
use truckroll_sync::{ActorId, StatusAction, SyncState, TicketDoc};

pub const TICKET: &str = "0196a1e2-0000-7000-8000-000000000001";
pub const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

pub fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16])
}

pub fn server() -> ActorId {
    actor(0x5e)
}

pub fn device(n: u8) -> ActorId {
    actor(0xd0 + n)
}

/// A server document with the ticket assigned to `tech`.
pub fn assigned_doc(tech: &str) -> TicketDoc {
    let mut doc = TicketDoc::new(TICKET, server()).unwrap();
    let e = doc
        .stamp_event(StatusAction::Assign, T0)
        .with_assignee(tech);
    doc.append_event(&e).unwrap();
    doc
}

/// Stamps and appends a plain event.
pub fn act(doc: &mut TicketDoc, kind: StatusAction, at: i64) -> String {
    let e = doc.stamp_event(kind, at);
    doc.append_event(&e).unwrap();
    e.id
}

/// Runs the Automerge sync protocol between `a` and `b` until neither has
/// anything to send; returns the number of messages exchanged.
pub fn sync_until_quiet(
    a: &mut TicketDoc,
    sa: &mut SyncState,
    b: &mut TicketDoc,
    sb: &mut SyncState,
) -> usize {
    let mut messages = 0;
    for _ in 0..100 {
        let ab = a.generate_sync_message(sa);
        if let Some(m) = &ab {
            b.receive_sync_message(sb, m).unwrap();
            messages += 1;
        }
        let ba = b.generate_sync_message(sb);
        if let Some(m) = &ba {
            a.receive_sync_message(sa, m).unwrap();
            messages += 1;
        }
        if ab.is_none() && ba.is_none() {
            return messages;
        }
    }
    panic!("sync did not converge in 100 rounds");
}

/// Syncs two documents with fresh sync states.
pub fn sync_fresh(a: &mut TicketDoc, b: &mut TicketDoc) -> usize {
    sync_until_quiet(a, &mut SyncState::new(), b, &mut SyncState::new())
}

/// Applies a raw Automerge edit to a copy of `doc` made by `actor`, as a
/// misbehaving client in any language could, and returns the result loaded
/// without the schema check.
pub fn raw_edit(doc: &TicketDoc, actor: ActorId, f: impl FnOnce(&mut Automerge)) -> TicketDoc {
    let mut raw = Automerge::load(&doc.save()).unwrap().with_actor(actor);
    f(&mut raw);
    TicketDoc::load_unvalidated(&raw.save()).unwrap()
}

/// Runs `f` in one transaction of `doc`.
pub fn tx(
    doc: &mut Automerge,
    f: impl FnOnce(&mut truckroll_sync::automerge::transaction::Transaction<'_>),
) {
    let mut t = doc.transaction();
    f(&mut t);
    t.commit();
}
