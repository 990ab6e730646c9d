//! SQL behind `IdempotencyStore`.

macro_rules! impl_idempotency_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;

            use $crate::store::{
                IdempotencyBegin, StoreError, StoreResult, StoredResponse,
                idempotency::IdempotencyStore,
                sql::now,
            };

            #[async_trait]
            impl IdempotencyStore for $store {
                async fn idempotency_begin(&self, tenant_id: Uuid, user_id: Uuid, key: &str, request_hash: &str) -> StoreResult<IdempotencyBegin> {
                    let inserted = sqlx::query(
                        "INSERT INTO idempotency_keys (tenant_id, user_id, key, request_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(key)
                    .bind(request_hash)
                    .bind(now())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        return Ok(IdempotencyBegin::Started);
                    }
                    let row: Option<(String, Option<i64>, Option<String>, Option<Vec<u8>>)> = sqlx::query_as(
                        "SELECT request_hash, status_code, content_type, body FROM idempotency_keys \
                         WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
                    )
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(match row {
                        // Aborted in between: take it over.
                        None => return Box::pin(self.idempotency_begin(tenant_id, user_id, key, request_hash)).await,
                        Some((hash, _, _, _)) if hash != request_hash => IdempotencyBegin::Mismatch,
                        Some((_, Some(status), content_type, body)) => IdempotencyBegin::Replay(StoredResponse {
                            status: u16::try_from(status).map_err(|_| StoreError::Corrupt("stored status code".into()))?,
                            content_type: content_type.unwrap_or_default(),
                            body: body.unwrap_or_default(),
                        }),
                        Some(_) => IdempotencyBegin::InProgress,
                    })
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
                    sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND status_code IS NULL")
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(key)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use impl_idempotency_store;
