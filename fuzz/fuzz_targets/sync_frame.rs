//! The server's handling of a device's frames: the envelope (a WebSocket
//! text frame and a `POST /v1/sync` body, frame by frame), the Automerge
//! sync message in a `sync` frame, and applying it to the server's copy of
//! the ticket through the field-edit checks — then, when accepted, the
//! invariants the server relies on (the result passes the schema, folds,
//! answers, saves and loads).
//!
//! Three shapes of input: envelope text, raw sync-message bytes, and
//! arbitrary device edits synced for real (optionally with one byte of each
//! message flipped).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use truckroll_fuzz::{DEVICE_ACTOR, Op, apply_ops, server_doc};
use truckroll_sync::automerge::{Automerge, sync::SyncDoc};
use truckroll_sync::protocol::{Exchange, Incoming, Message};
use truckroll_sync::{ActorId, Limits, SyncState, TicketDoc};

#[derive(Debug, Arbitrary)]
struct Edits {
    ops: Vec<Op>,
    /// (position, xor) applied to every device message.
    flip: Option<(u16, u8)>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => envelope(rest),
        1 => {
            let mut server = server_doc();
            receive(&mut server, &mut SyncState::new(), rest);
        }
        _ => {
            if let Ok(edits) = Edits::arbitrary(&mut Unstructured::new(rest)) {
                sync_edits(&edits);
            }
        }
    }
});

fn envelope(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let mut frames = vec![Incoming::decode(text)];
    if let Ok(body) = Exchange::decode_frames(text) {
        frames.extend(body);
    }
    for frame in frames {
        match frame {
            Incoming::Frame(message) => {
                // What the server decodes, it can encode and decode again unchanged.
                let again = Message::decode(&message.encode()).expect("re-decodes");
                assert_eq!(again, message);
                if let Message::Sync { data, .. } = message {
                    receive(&mut server_doc(), &mut SyncState::new(), &data);
                }
            }
            Incoming::Bad { code, .. } => assert!(!code.requires_reset()),
            Incoming::Unknown(_) => {}
        }
    }
}

/// What `Session::receive` does with one message, minus storage; checks the
/// invariants of an accepted message. Returns the server's reply.
fn receive(server: &mut TicketDoc, state: &mut SyncState, data: &[u8]) -> Option<Vec<u8>> {
    let actors = [ActorId::from(DEVICE_ACTOR)];
    let before = server.heads();
    match server.receive_field_sync_message(state, data, &actors, &Limits::default()) {
        Ok(()) => {
            server
                .validate()
                .expect("an accepted document passes the schema");
            Limits::default()
                .check(server)
                .expect("an accepted document is within the limits");
            assert!(server.contains_heads(&before));
            let _ = server.status();
            let reloaded = TicketDoc::load(&server.save()).expect("an accepted document reloads");
            assert_eq!(reloaded.heads().len(), server.heads().len());
            server.generate_sync_message(state)
        }
        Err(e) => {
            assert!(e.code().requires_reset());
            assert_eq!(server.heads(), before, "a refused message changes nothing");
            None
        }
    }
}

fn sync_edits(edits: &Edits) {
    let mut server = server_doc();
    let mut device = Automerge::load(&server.save()).expect("device copy");
    device.set_actor(ActorId::from(DEVICE_ACTOR));
    apply_ops(&mut device, &edits.ops);
    let (mut device_state, mut server_state) = (SyncState::new(), SyncState::new());
    for _ in 0..6 {
        let Some(message) = device.generate_sync_message(&mut device_state) else {
            return;
        };
        let mut bytes = message.encode();
        if let Some((at, xor)) = edits.flip
            && !bytes.is_empty()
        {
            let i = usize::from(at) % bytes.len();
            bytes[i] ^= xor;
        }
        let Some(reply) = receive(&mut server, &mut server_state, &bytes) else {
            return;
        };
        device_state.sent_hashes.clear();
        let reply =
            truckroll_sync::automerge::sync::Message::decode(&reply).expect("our reply decodes");
        device
            .receive_sync_message(&mut device_state, reply)
            .expect("a device applies the server's reply");
    }
}
