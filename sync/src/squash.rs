//! A document without its history, as retention squashes a closed ticket's
//! (issue 19): [`TicketDoc::squashed`](crate::doc::TicketDoc::squashed) with
//! nothing redacted. Erasure uses the same function with a redaction.

mod tests {
    use automerge::{ActorId, ROOT, ReadDoc};

    use crate::doc::{NewMediaRef, TicketDoc};
    use crate::schema::K_NOTES;

    #[test]
    fn the_content_stays_and_the_history_goes() {
        let mut doc = TicketDoc::new("T-1", ActorId::random()).expect("new");
        doc.set_notes("call Mrs Quux on 555 0100").expect("notes");
        let then = doc.heads();
        doc.set_notes("customer asked to be called").expect("notes");
        let item = doc.add_checklist_item("Check the valve").expect("item");
        doc.set_checklist_done(&item, true, "tech-1", 1_700_000_000_000)
            .expect("done");
        doc.add_photo_ref(&NewMediaRef {
            sha256: "a".repeat(64),
            content_type: "image/jpeg".into(),
            taken_at: 1_700_000_000_000,
        })
        .expect("photo");
        let before = doc.as_automerge().get_changes(&[]).len();
        assert!(before > 3);

        let squashed = doc
            .squashed(ActorId::random(), &|text| text.to_owned())
            .expect("squash");
        squashed.validate().expect("schema holds");
        assert_eq!(
            squashed.as_automerge().get_changes(&[]).len(),
            2,
            "skeleton + one"
        );
        assert_eq!(squashed.notes(), doc.notes());
        assert_eq!(squashed.checklist(), doc.checklist());
        assert_eq!(squashed.photos(), doc.photos());
        assert_eq!(squashed.events(), doc.events());
        assert_eq!(squashed.ticket_id(), "T-1");
        let history = doc.as_automerge();
        let Some((_, notes)) = history.get(ROOT, K_NOTES).expect("notes") else {
            panic!("no notes");
        };
        assert!(
            history
                .text_at(&notes, &then)
                .expect("old text")
                .contains("555 0100"),
            "the history holds the overwritten notes"
        );
        for hash in &then {
            assert!(
                squashed.as_automerge().get_change_by_hash(hash).is_none(),
                "the squashed document has no change of the old history"
            );
        }
        let bytes = squashed.save();
        // A fresh replica (a phone that dropped the document) syncs it whole
        // and edits on.
        let mut phone = TicketDoc::load(&bytes).expect("load");
        phone.set_actor(ActorId::random());
        phone.notes_append(" — done").expect("edit");
        assert!(phone.notes().ends_with("— done"));
    }
}
