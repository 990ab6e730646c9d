//! Customer signatures: strokes rendered to PNG on the server, bound to the
//! signer, time, position and the ticket document's heads at signing time
//! by a seal (SHA-256 over all of it), and verified later by recomputing
//! every part.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use truckroll_sync::ChangeHash;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{MediaError, MediaResult, MediaService, invalid};
use crate::{
    blob::{BlobError, object_key, sha256_hex},
    domain::{audit::audit_time, ticket::Ticket},
    store::{
        Actor,
        media::{MediaKind, NewMedia, Signature},
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// What the phone captured: a canvas and the pen's strokes on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strokes {
    pub width: u32,
    pub height: u32,
    pub strokes: Vec<Vec<Point>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignatureInput {
    pub signer_name: String,
    pub signed_at: Option<DateTime<Utc>>,
    pub position: Option<Position>,
    pub strokes: Strokes,
}

impl Strokes {
    /// The same form as the phone's: [`truckroll_sync::signature::Strokes`].
    fn shared(&self) -> truckroll_sync::signature::Strokes {
        truckroll_sync::signature::Strokes {
            width: self.width,
            height: self.height,
            strokes: self
                .strokes
                .iter()
                .map(|stroke| {
                    stroke
                        .iter()
                        .map(|p| truckroll_sync::signature::Point { x: p.x, y: p.y })
                        .collect()
                })
                .collect(),
        }
    }

    fn validate(&self) -> MediaResult<()> {
        self.shared()
            .validate()
            .map_err(|e| invalid(e.field, e.message))
    }
}

/// Black strokes on white, 8-bit greyscale PNG, rendered by the code the
/// SDK shares ([`truckroll_sync::signature`]). Deterministic: the same
/// strokes always give the same bytes, which verification and the phone's
/// offline reference rely on.
pub fn render(strokes: &Strokes) -> Result<Vec<u8>, truckroll_sync::signature::RenderError> {
    strokes.shared().render_png()
}

/// SHA-256 over the sorted hex heads, one per line.
pub fn heads_hash(heads: &[String]) -> String {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sha256_hex(sorted.join("\n").as_bytes())
}

/// The seal binding everything a signature claims.
pub fn seal(signature: &Signature) -> String {
    let bound = json!({
        "v": 1,
        "ticket_id": signature.ticket_id,
        "signer_name": signature.signer_name,
        "signed_at": signature.signed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "lat": signature.lat,
        "lon": signature.lon,
        "strokes_sha256": sha256_hex(signature.strokes.to_string().as_bytes()),
        "doc_heads": signature.doc_heads,
        "heads_hash": signature.heads_hash,
        "image_sha256": signature.image_sha256,
    });
    sha256_hex(bound.to_string().as_bytes())
}

fn render_error(e: truckroll_sync::signature::RenderError) -> MediaError {
    MediaError::Blob(BlobError::Other(e.to_string()))
}

/// Renders, stores and binds a signature to the ticket's current document.
pub async fn capture(
    service: &MediaService<'_>,
    actor: Actor,
    ticket: &Ticket,
    input: SignatureInput,
) -> MediaResult<Signature> {
    let name = input.signer_name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("signer_name", "must be 1 to 200 characters"));
    }
    if let Some(p) = &input.position
        && !((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon))
    {
        return Err(invalid(
            "position",
            "lat must be within ±90 and lon within ±180",
        ));
    }
    input.strokes.validate()?;
    let strokes = input.strokes;
    let png = {
        let strokes = strokes.clone();
        tokio::task::spawn_blocking(move || render(&strokes))
            .await
            .map_err(|e| MediaError::Blob(BlobError::Other(e.to_string())))?
            .map_err(render_error)?
    };
    let image_sha256 = sha256_hex(&png);
    let loaded = crate::device_sync::load_or_create(service.store, actor, ticket).await?;
    let mut doc_heads: Vec<String> = loaded.doc.heads().iter().map(ToString::to_string).collect();
    doc_heads.sort();
    let size = i64::try_from(png.len()).unwrap_or(i64::MAX);
    service
        .blobs
        .write(
            &object_key(actor.tenant_id, &image_sha256),
            png,
            "image/png",
        )
        .await?;
    let mut signature = Signature {
        id: Uuid::nil(),
        tenant_id: actor.tenant_id,
        ticket_id: ticket.id,
        media_id: Uuid::nil(),
        signer_name: name,
        signed_at: audit_time(input.signed_at.unwrap_or_else(Utc::now)),
        lat: input.position.as_ref().map(|p| p.lat),
        lon: input.position.as_ref().map(|p| p.lon),
        strokes: serde_json::to_value(&strokes)
            .map_err(|e| MediaError::Blob(BlobError::Other(e.to_string())))?,
        heads_hash: heads_hash(&doc_heads),
        doc_heads,
        image_sha256: image_sha256.clone(),
        seal: String::new(),
        created_by: actor.user_id,
    };
    signature.seal = seal(&signature);
    let media = NewMedia {
        ticket_id: ticket.id,
        kind: MediaKind::Signature,
        content_type: "image/png".into(),
        size,
        sha256: image_sha256,
    };
    let signature = service
        .store
        .insert_signature(actor, &media, &signature)
        .await?;
    // A phone that captured the signature offline already put a pending
    // reference to the same PNG (rendered by the same code) into the
    // ticket document.
    crate::device_sync::mark_media_stored(service.store, actor, ticket.id, &signature.image_sha256)
        .await;
    Ok(signature)
}

/// What verification found, part by part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    pub signature_id: Uuid,
    /// Everything below holds.
    pub intact: bool,
    /// The stored fields still hash to the seal made at signing time.
    pub seal_intact: bool,
    /// The signed heads hash to the stored hash and are still part of the
    /// ticket document's history.
    pub state_intact: bool,
    /// The stored PNG hashes to the recorded hash and equals a fresh
    /// rendering of the stored strokes.
    pub image_intact: bool,
    /// One line per failed check.
    pub problems: Vec<String>,
}

/// Recomputes every part of `signature` against the stored image and the
/// ticket's current document.
pub async fn verify(
    service: &MediaService<'_>,
    signature: &Signature,
) -> MediaResult<Verification> {
    let mut problems = Vec::new();
    let seal_intact = seal(signature) == signature.seal;
    if !seal_intact {
        problems.push("the stored signature fields no longer match their seal".to_owned());
    }
    let mut state_intact = heads_hash(&signature.doc_heads) == signature.heads_hash;
    if !state_intact {
        problems.push("the signed document heads do not match their hash".to_owned());
    }
    let heads: Option<Vec<ChangeHash>> = signature
        .doc_heads
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|raw| ChangeHash::try_from(raw.as_slice()).ok())
        })
        .collect();
    let in_history = match (
        heads,
        crate::device_sync::load(service.store, signature.tenant_id, signature.ticket_id).await?,
    ) {
        (Some(heads), Some(loaded)) => loaded.doc.contains_heads(&heads),
        _ => false,
    };
    if !in_history {
        problems.push("the signed document state is not in the ticket's history".to_owned());
        state_intact = false;
    }
    let stored = match service
        .blobs
        .read(&object_key(signature.tenant_id, &signature.image_sha256))
        .await
    {
        Ok(bytes) => Some(bytes),
        Err(BlobError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let stored_ok = stored
        .as_deref()
        .is_some_and(|bytes| sha256_hex(bytes) == signature.image_sha256);
    if !stored_ok {
        problems.push("the stored image is missing or does not match its hash".to_owned());
    }
    let rendered_ok = match serde_json::from_value::<Strokes>(signature.strokes.clone()) {
        Ok(strokes) => render(&strokes)
            .map(|png| sha256_hex(&png) == signature.image_sha256)
            .unwrap_or(false),
        Err(_) => false,
    };
    if !rendered_ok {
        problems.push("the stored strokes do not render to the stored image".to_owned());
    }
    let image_intact = stored_ok && rendered_ok;
    Ok(Verification {
        signature_id: signature.id,
        intact: seal_intact && state_intact && image_intact,
        seal_intact,
        state_intact,
        image_intact,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Strokes {
        Strokes {
            width: 200,
            height: 80,
            strokes: vec![
                vec![
                    Point { x: 10.0, y: 60.0 },
                    Point { x: 60.0, y: 20.0 },
                    Point { x: 110.0, y: 60.0 },
                ],
                vec![Point { x: 150.0, y: 40.0 }],
            ],
        }
    }

    #[test]
    fn rendering_is_deterministic_and_draws_ink() {
        let png = render(&sample()).expect("renders");
        assert_eq!(png, render(&sample()).expect("renders again"));
        let decoded = image::load_from_memory(&png).expect("valid PNG").to_luma8();
        assert_eq!(decoded.dimensions(), (200, 80));
        assert!(decoded.get_pixel(35, 40).0[0] < 128, "on the first segment");
        assert!(decoded.get_pixel(150, 40).0[0] < 128, "the dot");
        assert_eq!(
            decoded.get_pixel(190, 5).0[0],
            255,
            "background stays white"
        );
    }

    #[test]
    fn strokes_off_the_canvas_are_refused() {
        let mut strokes = sample();
        strokes.strokes[0][0].x = 500.0;
        assert!(strokes.validate().is_err());
        strokes.strokes = vec![vec![]];
        assert!(strokes.validate().is_err());
    }
}
