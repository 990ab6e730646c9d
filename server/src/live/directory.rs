//! Names of technicians and positions of sites, which rarely change, kept
//! per replica so that following positions and tickets costs no query.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use uuid::Uuid;

use crate::{
    domain::geo::GeoPoint,
    store::{Page, PageRequest, Store, StoreError},
};

/// What the map shows of technicians and sites besides the dispatch index.
#[derive(Debug, Default)]
pub struct LiveDirectory {
    names: Mutex<HashMap<Uuid, String>>,
    sites: Mutex<HashMap<Uuid, GeoPoint>>,
    /// Held while a whole listing is read: after a start, every viewer's
    /// first snapshot finds names missing at once, and fifty viewers of
    /// different bounds each listing 50 000 technicians took the whole
    /// connection pool (pings waited behind them). One reads; the others
    /// wait and find the names there.
    listing: tokio::sync::Mutex<()>,
}

impl LiveDirectory {
    pub(crate) fn name(&self, id: Uuid) -> Option<String> {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    pub(crate) fn set_name(&self, id: Uuid, name: String) {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, name);
    }

    pub(crate) fn site(&self, id: Uuid) -> Option<GeoPoint> {
        self.sites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }

    fn set_site(&self, id: Uuid, point: GeoPoint) {
        self.sites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, point);
    }

    /// Reads the names of every technician of the tenant, unless
    /// `missing` (asked again once it is this caller's turn to read) says
    /// another caller's listing brought what it lacked.
    pub(crate) async fn load_names_if(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
        missing: impl Fn(&Self) -> bool,
    ) -> Result<(), StoreError> {
        if !missing(self) {
            return Ok(());
        }
        let _listing = self.listing.lock().await;
        if !missing(self) {
            return Ok(());
        }
        each_listed(
            move |page| store.list_technicians(tenant_id, page),
            |technician| self.set_name(technician.id, technician.name),
        )
        .await
    }

    /// Reads the positions of every site of the tenant (one listing at a
    /// time, as the names).
    pub(crate) async fn load_sites(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
    ) -> Result<(), StoreError> {
        let _listing = self.listing.lock().await;
        each_listed(
            move |page| store.list_sites(tenant_id, page),
            |site| self.set_site(site.id, site.location),
        )
        .await
    }

    /// Where a site is, read once.
    pub(crate) async fn site_point(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
        site_id: Uuid,
    ) -> Result<GeoPoint, StoreError> {
        if let Some(point) = self.site(site_id) {
            return Ok(point);
        }
        let site = store.get_site(tenant_id, site_id).await?;
        self.set_site(site_id, site.location);
        Ok(site.location)
    }
}

/// Every item of a paged listing, 200 per page.
async fn each_listed<T, Listed>(
    mut list: impl FnMut(PageRequest) -> Listed,
    mut each: impl FnMut(T),
) -> Result<(), StoreError>
where
    Listed: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let listed = list(page).await?;
        listed.items.into_iter().for_each(&mut each);
        match listed.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(()),
        }
    }
}
