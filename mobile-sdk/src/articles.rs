//! Knowledge-base articles on the phone (issue 22): the procedures the job
//! packet carries for a ticket's category and asset model, read from the
//! local database, so they work without signal. They follow the packet: an
//! edited article arrives with the next sync, and goes with the ticket.

use truckroll_sync::packet::PacketArticle;

use crate::Client;
use crate::error::SdkResult;

impl Client {
    /// The articles stored with a ticket's packet (empty before the first
    /// sync brought it); reads only the local database.
    pub async fn job_articles(&self, ticket_id: &str) -> SdkResult<Vec<PacketArticle>> {
        Ok(self
            .packet(ticket_id)
            .await?
            .map(|stored| stored.packet.articles)
            .unwrap_or_default())
    }

    /// One article by its id from any stored packet (the newest version
    /// held); reads only the local database.
    pub async fn article(&self, article_id: &str) -> SdkResult<Option<PacketArticle>> {
        let rows: Vec<String> = {
            let mut local = self.local.lock().await;
            sqlx::query_scalar(
                "SELECT a.value FROM job_packets p, json_each(p.packet, '$.articles') a
                 WHERE json_extract(a.value, '$.id') = ?1",
            )
            .bind(article_id)
            .fetch_all(&mut local.conn)
            .await?
        };
        Ok(rows
            .iter()
            .filter_map(|json| serde_json::from_str::<PacketArticle>(json).ok())
            .max_by_key(|a| a.version))
    }
}
