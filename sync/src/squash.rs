//! A document without its history (issue 19's retention): the same content
//! written into a fresh document, so edits that were overwritten or deleted
//! — earlier notes, removed photos, a phone number typed and erased — are
//! gone from the bytes, not only from the current view.

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, Value};

use crate::doc::{DocError, TicketDoc};
use crate::schema::ROOT_KEYS;

impl TicketDoc {
    /// The current content in a new document: the shared skeleton change
    /// (as [`TicketDoc::new`] makes it), then one change by `actor` writing
    /// every value the document holds now. Item ids are kept (they are
    /// values); nothing of the earlier changes remains. A replica holding the
    /// old history must not sync with the result: it would merge both.
    pub fn squashed(&self, actor: ActorId) -> Result<TicketDoc, DocError> {
        let skeleton = TicketDoc::new(&self.ticket_id(), actor)?;
        let mut fresh = Automerge::load(&skeleton.save())?;
        fresh.set_actor(skeleton.actor().clone());
        let source = self.as_automerge();
        fresh
            .transact::<_, _, AutomergeError>(|tx| {
                for (key, object) in ROOT_KEYS {
                    let Some((value, id)) = source.get(ROOT, *key)? else {
                        continue;
                    };
                    match (object, value) {
                        (Some(ty), Value::Object(found)) if *ty == found => {
                            let target = match tx.get(ROOT, *key)? {
                                Some((Value::Object(_), target)) => target,
                                _ => tx.put_object(ROOT, *key, found)?,
                            };
                            copy_object(source, &id, tx, &target, found)?;
                        }
                        (_, Value::Object(found)) => {
                            let target = tx.put_object(ROOT, *key, found)?;
                            copy_object(source, &id, tx, &target, found)?;
                        }
                        (_, Value::Scalar(scalar)) => {
                            let same = matches!(
                                tx.get(ROOT, *key)?,
                                Some((Value::Scalar(ref now), _)) if now.as_ref() == scalar.as_ref()
                            );
                            if !same {
                                tx.put(ROOT, *key, scalar.into_owned())?;
                            }
                        }
                    }
                }
                Ok(())
            })
            .map_err(|failure| failure.error)?;
        Ok(TicketDoc::from_parts(fresh, &skeleton))
    }
}

/// Writes the content of `source`'s object `from` into the empty object `to`.
fn copy_object(
    source: &Automerge,
    from: &ObjId,
    tx: &mut impl Transactable,
    to: &ObjId,
    ty: ObjType,
) -> Result<(), AutomergeError> {
    match ty {
        ObjType::Text => {
            let text = source.text(from)?;
            tx.splice_text(to, 0, 0, &text)?;
        }
        ObjType::List => {
            for index in 0..source.length(from) {
                match source.get(from, index)? {
                    Some((Value::Object(child_ty), child)) => {
                        let target = tx.insert_object(to, index, child_ty)?;
                        copy_object(source, &child, tx, &target, child_ty)?;
                    }
                    Some((Value::Scalar(scalar), _)) => {
                        tx.insert(to, index, scalar.into_owned())?
                    }
                    None => {}
                }
            }
        }
        ObjType::Map | ObjType::Table => {
            for key in source.keys(from) {
                match source.get(from, key.as_str())? {
                    Some((Value::Object(child_ty), child)) => {
                        let target = tx.put_object(to, key.as_str(), child_ty)?;
                        copy_object(source, &child, tx, &target, child_ty)?;
                    }
                    Some((Value::Scalar(scalar), _)) => {
                        tx.put(to, key.as_str(), scalar.into_owned())?
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::NewMediaRef;
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

        let squashed = doc.squashed(ActorId::random()).expect("squash");
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
