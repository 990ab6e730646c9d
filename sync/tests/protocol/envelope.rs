//! The protocol envelope: round trips and a fixture pinning the wire format.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use truckroll_sync::protocol::{
    EnvelopeError, ErrorCode, Exchange, MAX_FRAME_BYTES, Message, PROTOCOL_VERSION, RemovalReason,
};
use truckroll_sync::{SyncState, TicketDoc};

/// Every message type and its exact wire form. Changing any line here is a
/// protocol change: bump `PROTOCOL_VERSION` and update PROTOCOL.md.
fn fixtures() -> Vec<(Message, &'static str)> {
    vec![
        (
            Message::Hello {
                version: 1,
                device_id: "0196a1e2-d0d0-7000-8000-00000000000d".into(),
            },
            r#"{"type":"hello","version":1,"device_id":"0196a1e2-d0d0-7000-8000-00000000000d"}"#,
        ),
        (
            Message::Sync {
                doc_id: "t-1".into(),
                data: vec![0x42, 0x00, 0xff, 0x10],
            },
            r#"{"type":"sync","doc_id":"t-1","data":"QgD/EA=="}"#,
        ),
        (
            Message::DocAdded {
                doc_id: "t-2".into(),
            },
            r#"{"type":"doc_added","doc_id":"t-2"}"#,
        ),
        (
            Message::DocRemoved {
                doc_id: "t-3".into(),
                reason: RemovalReason::Reassigned,
            },
            r#"{"type":"doc_removed","doc_id":"t-3","reason":"reassigned"}"#,
        ),
        (
            Message::Error {
                doc_id: Some("t-4".into()),
                code: ErrorCode::NotFieldEditable,
                detail: "/events/2: `cancel` is a server event; a field device may not append it"
                    .into(),
            },
            r#"{"type":"error","doc_id":"t-4","code":"not_field_editable","detail":"/events/2: `cancel` is a server event; a field device may not append it"}"#,
        ),
        (
            Message::Error {
                doc_id: None,
                code: ErrorCode::UnsupportedVersion,
                detail: "this server speaks version 1".into(),
            },
            r#"{"type":"error","code":"unsupported_version","detail":"this server speaks version 1"}"#,
        ),
    ]
}

#[test]
fn the_wire_format_is_pinned() {
    assert_eq!(PROTOCOL_VERSION, 1);
    for (message, wire) in fixtures() {
        assert_eq!(message.encode(), wire);
        assert_eq!(Message::decode(wire).unwrap(), message);
    }
}

#[test]
fn every_code_and_reason_has_the_documented_name() {
    let codes = [
        (ErrorCode::UnsupportedVersion, "unsupported_version", false),
        (ErrorCode::HelloRequired, "hello_required", false),
        (ErrorCode::MalformedFrame, "malformed_frame", false),
        (ErrorCode::FrameTooLarge, "frame_too_large", false),
        (ErrorCode::NotInSet, "not_in_set", false),
        (
            ErrorCode::MalformedSyncMessage,
            "malformed_sync_message",
            true,
        ),
        (ErrorCode::ForeignActor, "foreign_actor", true),
        (ErrorCode::SchemaViolation, "schema_violation", true),
        (ErrorCode::NotFieldEditable, "not_field_editable", true),
        (ErrorCode::LimitExceeded, "limit_exceeded", true),
        (ErrorCode::InvalidChanges, "invalid_changes", true),
        (ErrorCode::Unauthorized, "unauthorized", false),
        (ErrorCode::Internal, "internal", false),
        (ErrorCode::SessionLimit, "session_limit", false),
    ];
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/PROTOCOL.md")).unwrap();
    for (code, name, reset) in codes {
        assert_eq!(serde_json::to_value(code).unwrap(), name);
        assert_eq!(code.requires_reset(), reset, "{name}");
        assert!(
            doc.contains(&format!("`{name}`")),
            "PROTOCOL.md does not document {name}"
        );
    }
    let reasons = [
        (RemovalReason::Reassigned, "reassigned"),
        (RemovalReason::Unassigned, "unassigned"),
        (RemovalReason::Cancelled, "cancelled"),
        (RemovalReason::Closed, "closed"),
        (RemovalReason::Deleted, "deleted"),
        (RemovalReason::NotInSet, "not_in_set"),
    ];
    for (reason, name) in reasons {
        assert_eq!(serde_json::to_value(reason).unwrap(), name);
        assert!(
            doc.contains(&format!("`{name}`")),
            "PROTOCOL.md does not document {name}"
        );
    }
}

#[test]
fn newer_peers_are_tolerated() {
    // Unknown fields are ignored; unknown codes and reasons decode as Other.
    let m = Message::decode(r#"{"type":"doc_removed","doc_id":"t","reason":"archived","extra":1}"#)
        .unwrap();
    assert_eq!(
        m,
        Message::DocRemoved {
            doc_id: "t".into(),
            reason: RemovalReason::Other
        }
    );
    let m =
        Message::decode(r#"{"type":"error","code":"rate_limited","detail":"slow down"}"#).unwrap();
    assert!(matches!(
        m,
        Message::Error {
            code: ErrorCode::Other,
            ..
        }
    ));
    // An unknown frame type is reported as such, so receivers can skip it.
    let err = Message::decode(r#"{"type":"presence","doc_id":"t"}"#).unwrap_err();
    assert!(matches!(err, EnvelopeError::UnknownType(ref t) if t == "presence"));
}

#[test]
fn malformed_frames_are_refused() {
    for bad in [
        "",
        "not json",
        "[]",
        r#"{"doc_id":"t"}"#,
        r#"{"type":"sync","doc_id":"t"}"#,
        r#"{"type":"sync","doc_id":"t","data":"***"}"#,
        r#"{"type":"hello","version":"one","device_id":"d"}"#,
    ] {
        let err = Message::decode(bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedFrame, "{bad}: {err}");
    }
    let huge = format!(
        r#"{{"type":"doc_added","doc_id":"{}"}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    assert_eq!(
        Message::decode(&huge).unwrap_err().code(),
        ErrorCode::FrameTooLarge
    );
}

#[test]
fn a_one_shot_exchange_round_trips_and_skips_unknown_frames() {
    let exchange = Exchange {
        frames: fixtures().into_iter().map(|(m, _)| m).collect(),
    };
    let body = exchange.encode();
    assert!(
        body.starts_with(r#"{"frames":[{"type":"hello","version":1,"#),
        "{body}"
    );
    assert_eq!(Exchange::decode(&body).unwrap(), exchange);
    let body = r#"{"frames":[{"type":"hello","version":1,"device_id":"d"},{"type":"presence"},{"type":"doc_added","doc_id":"t"}]}"#;
    assert_eq!(Exchange::decode(body).unwrap().frames.len(), 2);
    assert!(Exchange::decode(r#"{"frames":[{"type":"sync"}]}"#).is_err());
}

#[test]
fn automerge_sync_messages_travel_in_frames() {
    let mut server = assigned_doc("tech-1");
    let mut phone = TicketDoc::new(TICKET, device(1)).unwrap();
    let (mut ss, mut ps) = (SyncState::new(), SyncState::new());
    let mut frames = 0;
    loop {
        let mut quiet = true;
        if let Some(data) = server.generate_sync_message(&mut ss) {
            let wire = Message::Sync {
                doc_id: TICKET.into(),
                data,
            }
            .encode();
            let Message::Sync { doc_id, data } = Message::decode(&wire).unwrap() else {
                panic!()
            };
            assert_eq!(doc_id, TICKET);
            phone.receive_sync_message(&mut ps, &data).unwrap();
            quiet = false;
            frames += 1;
        }
        if let Some(data) = phone.generate_sync_message(&mut ps) {
            let wire = Message::Sync {
                doc_id: TICKET.into(),
                data,
            }
            .encode();
            let Message::Sync { data, .. } = Message::decode(&wire).unwrap() else {
                panic!()
            };
            server.receive_sync_message(&mut ss, &data).unwrap();
            quiet = false;
            frames += 1;
        }
        if quiet {
            break;
        }
    }
    assert!(frames >= 2);
    assert_eq!(phone.heads(), server.heads());
    // Garbage in a sync frame is an error, not a panic.
    assert!(phone.receive_sync_message(&mut ps, b"\x42garbage").is_err());
}

#[test]
fn the_server_reads_each_frame_on_its_own() {
    use truckroll_sync::protocol::Incoming;

    let body = r#"{"frames":[
        {"type":"presence","doc_id":"t-0"},
        {"type":"sync","doc_id":"t-1","data":"%%%"},
        {"type":"sync","doc_id":17,"data":"QgA="},
        7,
        {"type":"doc_added","doc_id":"t-2"}
    ]}"#;
    let frames = Exchange::decode_frames(body).unwrap();
    assert_eq!(frames.len(), 5);
    assert_eq!(frames[0], Incoming::Unknown("presence".into()));
    assert!(matches!(
        &frames[1],
        Incoming::Bad { doc_id: Some(d), code: ErrorCode::MalformedFrame, .. } if d == "t-1"
    ));
    assert!(matches!(
        &frames[2],
        Incoming::Bad {
            doc_id: None,
            code: ErrorCode::MalformedFrame,
            ..
        }
    ));
    assert!(matches!(&frames[3], Incoming::Bad { doc_id: None, .. }));
    assert_eq!(
        frames[4],
        Incoming::Frame(Message::DocAdded {
            doc_id: "t-2".into()
        })
    );
    // The answer to a bad frame names its document.
    let Some(Message::Error { doc_id, code, .. }) = frames[1].error_frame() else {
        panic!("an error frame");
    };
    assert_eq!(
        (doc_id.as_deref(), code),
        (Some("t-1"), ErrorCode::MalformedFrame)
    );
    assert!(!code.requires_reset());
    // Only a body that is not `{"frames": [...]}` fails as a whole.
    assert!(Exchange::decode_frames("[]").is_err());
    assert!(Exchange::decode_frames(r#"{"frames":{}}"#).is_err());
    // One WebSocket text frame.
    assert_eq!(
        Incoming::decode(r#"{"type":"typing"}"#),
        Incoming::Unknown("typing".into())
    );
    assert!(matches!(
        Incoming::decode("{"),
        Incoming::Bad {
            doc_id: None,
            code: ErrorCode::MalformedFrame,
            ..
        }
    ));
    let huge = "x".repeat(MAX_FRAME_BYTES + 1);
    assert!(matches!(
        Incoming::decode(&huge),
        Incoming::Bad {
            code: ErrorCode::FrameTooLarge,
            ..
        }
    ));
}

#[test]
fn close_codes_follow_the_error_codes() {
    use truckroll_sync::protocol::close;

    assert_eq!(close::for_code(ErrorCode::Unauthorized), 4401);
    assert_eq!(close::for_code(ErrorCode::UnsupportedVersion), 4426);
    assert_eq!(close::for_code(ErrorCode::HelloRequired), 4400);
    assert_eq!(close::for_code(ErrorCode::MalformedFrame), 4400);
    assert_eq!(close::for_code(ErrorCode::FrameTooLarge), 1009);
    assert_eq!(close::for_code(ErrorCode::Internal), 1011);
    assert_eq!(close::NORMAL, 1000);
}

/// A request's `sync` frames deflated together in one `sync_batch` frame
/// (PROTOCOL.md §3.4, "Batched sync frames").
#[test]
fn a_sync_batch_reads_as_the_sync_frames_it_carries() {
    use std::io::Write;
    use truckroll_sync::protocol::{Incoming, SYNC_BATCH};

    let mut server = TicketDoc::new("t-1", device(9)).unwrap();
    server
        .notes_append("checked unit, pressure 4 bar. ")
        .unwrap();
    let message = server.generate_sync_message(&mut SyncState::new()).unwrap();
    let request = Exchange {
        frames: vec![
            Message::Hello {
                version: PROTOCOL_VERSION,
                device_id: "d-1".into(),
            },
            Message::PacketHave {
                doc_id: "t-1".into(),
                hash: "ab".into(),
            },
            Message::Sync {
                doc_id: "t-1".into(),
                data: message.clone(),
            },
            Message::Sync {
                doc_id: "t-2".into(),
                data: vec![0x42, 0x00],
            },
            Message::Sync {
                doc_id: "t-3".into(),
                data: message,
            },
        ],
    };
    let body = request.encode_batched();
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let types: Vec<&str> = value["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["hello", "packet_have", SYNC_BATCH]);
    let frames = Exchange::decode_frames(&body).unwrap();
    let read: Vec<Message> = frames
        .into_iter()
        .map(|f| match f {
            Incoming::Frame(m) => m,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(read, request.frames, "the same frames, in the same order");

    // The layout, built by hand: per frame the doc_id and the message, each
    // behind its LEB128 length, deflated (RFC 1951), base64.
    let long = vec![7u8; 200];
    let mut raw = vec![3, b't', b'-', b'9', 0xc8, 0x01];
    raw.extend_from_slice(&long);
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&raw).unwrap();
    let data = base64_encode(&encoder.finish().unwrap());
    let body = format!(r#"{{"frames":[{{"type":"sync_batch","data":"{data}"}}]}}"#);
    assert_eq!(
        Exchange::decode_frames(&body).unwrap(),
        [Incoming::Frame(Message::Sync {
            doc_id: "t-9".into(),
            data: long
        })]
    );

    // Nothing to batch: the plain body.
    let idle = Exchange {
        frames: request.frames[..2].to_vec(),
    };
    assert_eq!(idle.encode_batched(), idle.encode());
    // A reader that does not know batches skips the frame (it is only sent
    // to a server that said it reads them).
    assert!(Exchange::decode(&body).unwrap().frames.is_empty());
}

#[test]
fn a_bad_sync_batch_fails_only_itself() {
    use truckroll_sync::protocol::Incoming;

    let truncated = base64_encode(&{
        use std::io::Write;
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[3, b't', b'-', b'1', 9, 0x42]).unwrap();
        encoder.finish().unwrap()
    });
    for data in [r#""%%%""#, r#""QUJD""#, "17", &format!("\"{truncated}\"")] {
        let body = format!(
            r#"{{"frames":[{{"type":"sync_batch","data":{data}}},{{"type":"doc_added","doc_id":"t-2"}}]}}"#
        );
        let frames = Exchange::decode_frames(&body).unwrap();
        assert_eq!(frames.len(), 2, "{data}");
        assert!(
            matches!(
                &frames[0],
                Incoming::Bad {
                    doc_id: None,
                    code: ErrorCode::MalformedFrame,
                    ..
                }
            ),
            "{data}: {:?}",
            frames[0]
        );
        assert_eq!(
            frames[1],
            Incoming::Frame(Message::DocAdded {
                doc_id: "t-2".into()
            })
        );
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
