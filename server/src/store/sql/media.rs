//! SQL behind `MediaStore`: photo and signature references and signatures.

macro_rules! impl_media_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use $crate::domain::audit::AuditEvent;
            use $crate::store::{
                Actor, StoreError, StoreResult,
                media::{Media, MediaBegin, MediaState, MediaStore, NewMedia, Signature, SweptMedia},
                rows::{MediaRow, SignatureRow},
                sql::{MEDIA_COLUMNS, SIGNATURE_COLUMNS, audit, now, write_error},
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                async fn media_in(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<Media> {
                    let row: Option<MediaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MEDIA_COLUMNS} FROM media WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    row.ok_or(StoreError::NotFound("media"))?.try_into()
                }

                async fn insert_media(tx: &mut Tx, actor: Actor, media: &NewMedia, state: MediaState) -> StoreResult<Media> {
                    let at = now();
                    let id = Uuid::now_v7();
                    let completed_at = (state == MediaState::Stored).then_some(at);
                    sqlx::query(
                        "INSERT INTO media (id, tenant_id, ticket_id, kind, content_type, size, sha256, state, has_thumbnail, created_by, created_at, completed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(media.ticket_id)
                    .bind(media.kind.as_str())
                    .bind(&media.content_type)
                    .bind(media.size)
                    .bind(&media.sha256)
                    .bind(state.as_str())
                    .bind(false)
                    .bind(actor.user_id)
                    .bind(at)
                    .bind(completed_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, "this content is already referenced by the ticket", ("ticket_id", "no such ticket")))?;
                    Self::media_in(tx, actor.tenant_id, id).await
                }
            }

            #[async_trait]
            impl MediaStore for $store {
                #[tracing::instrument(skip_all)]
                async fn begin_media(&self, actor: Actor, media: &NewMedia, max_per_ticket: u32) -> StoreResult<MediaBegin> {
                    let mut tx = self.begin_write().await?;
                    // Serialises begins on one ticket (PostgreSQL row lock;
                    // SQLite already holds the write lock), so the lookup
                    // below sees any reference a concurrent begin created.
                    let locked: Option<(Uuid,)> = sqlx::query_as(
                        "UPDATE tickets SET id = id WHERE tenant_id = $1 AND id = $2 RETURNING id",
                    )
                    .bind(actor.tenant_id)
                    .bind(media.ticket_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if locked.is_none() {
                        return Err(StoreError::NotFound("ticket"));
                    }
                    let existing: Option<MediaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MEDIA_COLUMNS} FROM media WHERE tenant_id = $1 AND ticket_id = $2 AND sha256 = $3 AND kind = $4"
                    )))
                    .bind(actor.tenant_id)
                    .bind(media.ticket_id)
                    .bind(&media.sha256)
                    .bind(media.kind.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = existing {
                        tx.commit().await?;
                        return Ok(MediaBegin::Existing(row.try_into()?));
                    }
                    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM media WHERE tenant_id = $1 AND ticket_id = $2")
                        .bind(actor.tenant_id)
                        .bind(media.ticket_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if count >= i64::from(max_per_ticket) {
                        return Err(StoreError::Conflict(format!(
                            "the ticket already has {count} media; the limit is {max_per_ticket}"
                        )));
                    }
                    let created = Self::insert_media(&mut tx, actor, media, MediaState::Pending).await?;
                    tx.commit().await?;
                    Ok(MediaBegin::Created(created))
                }

                async fn get_media(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Media> {
                    let row: Option<MediaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MEDIA_COLUMNS} FROM media WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("media"))?.try_into()
                }

                async fn list_ticket_media(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<Media>> {
                    let rows: Vec<MediaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MEDIA_COLUMNS} FROM media WHERE tenant_id = $1 AND ticket_id = $2 AND state = 'stored' ORDER BY id"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(Media::try_from).collect()
                }

                async fn stored_media_of_tickets(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<Vec<Media>> {
                    let mut out = Vec::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = sqlx::QueryBuilder::<$db>::new(format!("SELECT {MEDIA_COLUMNS} FROM media WHERE state = 'stored' AND tenant_id = "));
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(") ORDER BY id");
                        let rows: Vec<MediaRow> = query.build_query_as().fetch_all(&self.pool).await?;
                        for row in rows {
                            out.push(Media::try_from(row)?);
                        }
                    }
                    Ok(out)
                }

                #[tracing::instrument(skip_all)]
                async fn complete_media(&self, actor: Actor, id: Uuid, has_thumbnail: bool) -> StoreResult<Media> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::media_in(&mut tx, actor.tenant_id, id).await?;
                    if before.state == MediaState::Stored {
                        tx.commit().await?;
                        return Ok(before);
                    }
                    sqlx::query("UPDATE media SET state = 'stored', has_thumbnail = $3, completed_at = $4 WHERE tenant_id = $1 AND id = $2 AND state = 'pending'")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .bind(has_thumbnail)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    let after = Self::media_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new(actor.user_id, "media.complete", "media", Some(id), Some(&before), Some(&after)),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(after)
                }

                #[tracing::instrument(skip_all)]
                async fn reject_media(&self, actor: Actor, id: Uuid, reason: &str) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let media = Self::media_in(&mut tx, actor.tenant_id, id).await?;
                    if media.state != MediaState::Pending {
                        return Err(StoreError::Conflict("the media is already stored".into()));
                    }
                    sqlx::query("DELETE FROM media WHERE tenant_id = $1 AND id = $2 AND state = 'pending'")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let detail = serde_json::json!({"media": media, "reason": reason});
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new(actor.user_id, "media.reject", "media", Some(id), Some(&detail), None),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn sweep_pending_media(&self, cutoff: DateTime<Utc>, limit: u32) -> StoreResult<Vec<SweptMedia>> {
                    let mut tx = self.begin_write().await?;
                    let due: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
                        "SELECT id, tenant_id, sha256 FROM media WHERE state = 'pending' AND created_at < $1 ORDER BY created_at LIMIT $2",
                    )
                    .bind(cutoff)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut swept = Vec::with_capacity(due.len());
                    for (id, tenant_id, sha256) in due {
                        sqlx::query("DELETE FROM media WHERE id = $1 AND state = 'pending'")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM media WHERE tenant_id = $1 AND sha256 = $2")
                            .bind(tenant_id)
                            .bind(&sha256)
                            .fetch_one(&mut *tx)
                            .await?;
                        swept.push(SweptMedia { tenant_id, sha256, object_unreferenced: left == 0 });
                    }
                    tx.commit().await?;
                    Ok(swept)
                }

                async fn media_referenced(&self, tenant_id: Uuid, sha256: &str) -> StoreResult<bool> {
                    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM media WHERE tenant_id = $1 AND sha256 = $2")
                        .bind(tenant_id)
                        .bind(sha256)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(count > 0)
                }

                #[tracing::instrument(skip_all)]
                async fn insert_signature(&self, actor: Actor, media: &NewMedia, signature: &Signature) -> StoreResult<Signature> {
                    let mut tx = self.begin_write().await?;
                    let existing: Option<MediaRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MEDIA_COLUMNS} FROM media WHERE tenant_id = $1 AND ticket_id = $2 AND sha256 = $3 AND kind = $4"
                    )))
                    .bind(actor.tenant_id)
                    .bind(media.ticket_id)
                    .bind(&media.sha256)
                    .bind(media.kind.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let stored = match existing {
                        Some(row) => {
                            let m = Media::try_from(row)?;
                            if m.state == MediaState::Pending {
                                sqlx::query("UPDATE media SET state = 'stored', completed_at = $2 WHERE id = $1")
                                    .bind(m.id)
                                    .bind(now())
                                    .execute(&mut *tx)
                                    .await?;
                            }
                            m
                        }
                        None => Self::insert_media(&mut tx, actor, media, MediaState::Stored).await?,
                    };
                    let id = Uuid::now_v7();
                    let strokes = serde_json::to_string(&signature.strokes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let heads = serde_json::to_string(&signature.doc_heads).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query(
                        "INSERT INTO signatures (id, tenant_id, ticket_id, media_id, signer_name, signed_at, lat, lon, strokes, doc_heads, heads_hash, image_sha256, seal, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    )
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(media.ticket_id)
                    .bind(stored.id)
                    .bind(&signature.signer_name)
                    .bind(signature.signed_at)
                    .bind(signature.lat)
                    .bind(signature.lon)
                    .bind(strokes)
                    .bind(heads)
                    .bind(&signature.heads_hash)
                    .bind(&signature.image_sha256)
                    .bind(&signature.seal)
                    .bind(actor.user_id)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    let row: SignatureRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SIGNATURE_COLUMNS} FROM signatures WHERE id = $1"
                    )))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let created = Signature::try_from(row)?;
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new(actor.user_id, "signature.capture", "signature", Some(id), None, Some(&created)),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn latest_signature(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<Signature>> {
                    let row: Option<SignatureRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SIGNATURE_COLUMNS} FROM signatures WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(Signature::try_from).transpose()
                }
            }
        };
    };
}

pub(in crate::store) use impl_media_store;
