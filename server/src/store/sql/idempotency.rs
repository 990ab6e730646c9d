//! SQL behind `IdempotencyStore`.

macro_rules! impl_idempotency_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use $crate::store::{
                IdempotencyBegin, StoreError, StoreResult, StoredResponse,
                idempotency::{IdempotencyStore, IdempotencyWindow},
            };

            #[async_trait]
            impl IdempotencyStore for $store {
                async fn idempotency_begin(&self, tenant_id: Uuid, user_id: Uuid, key: &str, request_hash: &str, window: IdempotencyWindow) -> StoreResult<IdempotencyBegin> {
                    // Bounded: each round either inserts, answers, or saw a
                    // row vanish (aborted or expired) in between.
                    for _ in 0..4 {
                        sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND created_at < $4")
                            .bind(tenant_id)
                            .bind(user_id)
                            .bind(key)
                            .bind(window.expired_before)
                            .execute(&self.pool)
                            .await?;
                        let inserted = sqlx::query(
                            "INSERT INTO idempotency_keys (tenant_id, user_id, key, request_hash, created_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(key)
                        .bind(request_hash)
                        .bind(window.now)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                        if inserted == 1 {
                            return Ok(IdempotencyBegin::Started);
                        }
                        let row: Option<(String, Option<i64>, Option<String>, Option<Vec<u8>>, Option<DateTime<Utc>>, DateTime<Utc>)> = sqlx::query_as(
                            "SELECT request_hash, status_code, content_type, body, committed_at, created_at FROM idempotency_keys \
                             WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
                        )
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                        let Some((hash, status, content_type, body, committed_at, created_at)) = row else {
                            continue;
                        };
                        if hash != request_hash {
                            return Ok(IdempotencyBegin::Mismatch);
                        }
                        if let Some(status) = status {
                            return Ok(IdempotencyBegin::Replay(StoredResponse {
                                status: u16::try_from(status).map_err(|_| StoreError::Corrupt("stored status code".into()))?,
                                content_type: content_type.unwrap_or_default(),
                                body: body.unwrap_or_default(),
                            }));
                        }
                        let abandoned = created_at < window.abandoned_before;
                        if committed_at.is_some() {
                            return Ok(if abandoned { IdempotencyBegin::CommittedUnanswered } else { IdempotencyBegin::InProgress });
                        }
                        if !abandoned {
                            return Ok(IdempotencyBegin::InProgress);
                        }
                        // Begun long ago and never committed: the request
                        // died before writing. Take the key over (one
                        // taker wins the conditional update).
                        let taken = sqlx::query(
                            "UPDATE idempotency_keys SET created_at = $4 \
                             WHERE tenant_id = $1 AND user_id = $2 AND key = $3 \
                               AND status_code IS NULL AND committed_at IS NULL AND created_at < $5",
                        )
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(key)
                        .bind(window.now)
                        .bind(window.abandoned_before)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                        return Ok(if taken == 1 { IdempotencyBegin::Started } else { IdempotencyBegin::InProgress });
                    }
                    Ok(IdempotencyBegin::InProgress)
                }

                async fn idempotency_complete(&self, tenant_id: Uuid, user_id: Uuid, key: &str, response: &StoredResponse) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE idempotency_keys SET status_code = $4, content_type = $5, body = $6 \
                         WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
                    )
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(key)
                    .bind(i64::from(response.status))
                    .bind(&response.content_type)
                    .bind(&response.body)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn idempotency_abort(&self, tenant_id: Uuid, user_id: Uuid, key: &str) -> StoreResult<()> {
                    // A request that committed keeps its key: running it
                    // again would write twice.
                    sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND status_code IS NULL AND committed_at IS NULL")
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(key)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn idempotency_sweep(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                        .bind(before)
                        .execute(&self.pool)
                        .await?
                        .rows_affected())
                }
            }
        };
    };
}

pub(in crate::store) use impl_idempotency_store;
