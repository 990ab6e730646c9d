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

    /// Reads the names of every technician of the tenant.
    pub(crate) async fn load_names(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
    ) -> Result<(), StoreError> {
        each_listed(
            move |page| store.list_technicians(tenant_id, page),
            |technician| self.set_name(technician.id, technician.name),
        )
        .await
    }

    /// Reads the positions of every site of the tenant.
    pub(crate) async fn load_sites(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
    ) -> Result<(), StoreError> {
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
