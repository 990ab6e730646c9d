//! The document validator (`truckroll_sync` schema, limits, field-edit
//! rules, status fold) on arbitrary edits of a ticket document: whatever a
//! device writes, validation answers without panicking, and what it accepts
//! can be read, folded, saved and loaded.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use truckroll_fuzz::{DEVICE_ACTOR, Op, apply_ops, server_doc};
use truckroll_sync::automerge::Automerge;
use truckroll_sync::{ActorId, Limits, TicketDoc, check_field_edit, fold_status};

fuzz_target!(|data: &[u8]| {
    let Ok(ops) = Vec::<Op>::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let server = server_doc();
    let mut device = Automerge::load(&server.save()).expect("device copy");
    device.set_actor(ActorId::from(DEVICE_ACTOR));
    apply_ops(&mut device, &ops);
    let edited = TicketDoc::load_unvalidated(&device.save()).expect("a saved document loads");

    if edited.validate().is_ok() {
        // Everything the readers return for a valid document is usable.
        let events = edited.events();
        let folded = fold_status(&events);
        assert_eq!(folded, edited.status());
        let _ = (
            edited.notes(),
            edited.checklist(),
            edited.parts(),
            edited.time_entries(),
            edited.photos(),
            edited.signatures(),
            edited.custom(),
        );
        TicketDoc::load(&edited.save()).expect("a valid document loads validated");
    }
    let _ = Limits::default().check(&edited);
    if check_field_edit(&server, &edited, &Limits::default()).is_ok() {
        edited
            .validate()
            .expect("an accepted edit passes the schema");
        assert!(edited.contains_heads(&server.heads()));
    }
});
