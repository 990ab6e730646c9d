//! CustomerStore: customers, sites and assets (and categories), never across tenants.

use super::*;

backend_tests!(
    customers_sites_assets_and_categories,
    references_never_cross_tenants,
);

// ---------------------------------------------------------------------------
// Customers, sites, assets, categories

async fn customers_sites_assets_and_categories(db: &TestDb) {
    let store = db.store.as_ref();
    let (tenant, admin) = store
        .create_tenant(
            "alpha",
            &new_user("admin@alpha.example", Role::Admin),
            PASSWORD_HASH,
        )
        .await
        .expect("tenant");
    let actor = Actor {
        tenant_id: tenant.id,
        user_id: Some(admin.id),
    };

    let customer = store
        .create_customer(actor, &new_customer("  Stadtwerke  "))
        .await
        .expect("customer");
    assert_eq!(customer.name, "Stadtwerke");
    assert_eq!(customer.email.as_deref(), Some("facilities@example.com"));
    assert_eq!(
        store
            .get_customer(tenant.id, customer.id)
            .await
            .expect("get"),
        customer
    );

    let site = store
        .create_site(actor, &new_site(customer.id, "Plant North"))
        .await
        .expect("site");
    assert_eq!(site.customer_id, customer.id);
    assert_eq!(site.location.lat, 52.5);
    assert_eq!(site.location.lon, 13.4);
    assert_eq!(store.get_site(tenant.id, site.id).await.expect("get"), site);

    let asset = store
        .create_asset(actor, &new_asset(site.id, "SN-1"))
        .await
        .expect("asset");
    assert_eq!(asset.site_id, site.id);
    assert_eq!(
        asset.warranty_end,
        chrono::NaiveDate::from_ymd_opt(2030, 12, 31)
    );
    assert_eq!(
        store.get_asset(tenant.id, asset.id).await.expect("get"),
        asset
    );
    assert_conflict(
        store.create_asset(actor, &new_asset(site.id, "SN-1")).await,
        "duplicate serial",
    );

    let mut input = new_category("hvac");
    input.custom_fields_schema =
        json!({"type": "object", "properties": {"pressure": {"type": "number"}}});
    let category = store
        .create_category(actor, &input)
        .await
        .expect("category");
    assert_eq!(category.custom_fields_schema, input.custom_fields_schema);
    assert_eq!(
        store
            .category_by_name(tenant.id, "hvac")
            .await
            .expect("by name"),
        Some(category.clone())
    );
    assert_eq!(
        store
            .category_by_name(tenant.id, "plumbing")
            .await
            .expect("by name"),
        None
    );
    assert_conflict(
        store.create_category(actor, &new_category("hvac")).await,
        "duplicate category",
    );

    let second_customer = store
        .create_customer(actor, &new_customer("Hospital"))
        .await
        .expect("customer 2");
    let customers = store
        .list_customers(tenant.id, ALL)
        .await
        .expect("list customers");
    assert_eq!(customers.items, [customer, second_customer]);
    assert_eq!(customers.next_after, None);
    assert_eq!(
        store.list_sites(tenant.id, ALL).await.expect("sites").items,
        [site]
    );
    assert_eq!(
        store
            .list_assets(tenant.id, ALL)
            .await
            .expect("assets")
            .items,
        [asset]
    );
    assert_eq!(
        store
            .list_categories(tenant.id, ALL)
            .await
            .expect("categories")
            .items,
        [category]
    );
    let first_only = store
        .list_customers(
            tenant.id,
            PageRequest {
                limit: 1,
                after: None,
            },
        )
        .await
        .expect("page");
    assert_eq!(first_only.items.len(), 1);
    assert_eq!(first_only.next_after, Some(first_only.items[0].id));
}

async fn references_never_cross_tenants(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let b_asset = store
        .create_asset(b.actor(), &new_asset(b.site_id, "SN-B"))
        .await
        .expect("asset in b");
    let b_category = store
        .create_category(b.actor(), &new_category("hvac"))
        .await
        .expect("category in b");

    let audit_before = audit_len(store, a.tenant_id).await;
    assert_reference(
        store
            .create_site(a.actor(), &new_site(b.customer_id, "Stolen"))
            .await,
        "customer_id",
        "site with another tenant's customer",
    );
    assert_reference(
        store
            .create_site(a.actor(), &new_site(Uuid::now_v7(), "Nowhere"))
            .await,
        "customer_id",
        "site with unknown customer",
    );
    assert_reference(
        store
            .create_asset(a.actor(), &new_asset(b.site_id, "SN-X"))
            .await,
        "site_id",
        "asset on another tenant's site",
    );
    let mut with_foreign_asset = new_ticket(a.site_id, "Foreign asset");
    with_foreign_asset.asset_id = Some(b_asset.id);
    assert!(
        matches!(
            store.create_ticket(a.actor(), &with_foreign_asset).await,
            Err(StoreError::Reference { .. })
        ),
        "ticket with another tenant's asset"
    );
    assert_eq!(
        audit_len(store, a.tenant_id).await,
        audit_before,
        "rejected writes are not audited"
    );
    assert_eq!(
        store
            .list_sites(a.tenant_id, ALL)
            .await
            .expect("sites")
            .items
            .len(),
        1
    );
    assert!(
        store
            .list_assets(a.tenant_id, ALL)
            .await
            .expect("assets")
            .items
            .is_empty()
    );

    // Reads are scoped too.
    assert_not_found(
        store.get_customer(a.tenant_id, b.customer_id).await,
        "customer of b",
    );
    assert_not_found(store.get_site(a.tenant_id, b.site_id).await, "site of b");
    assert_not_found(store.get_asset(a.tenant_id, b_asset.id).await, "asset of b");
    assert_eq!(
        store
            .category_by_name(a.tenant_id, &b_category.name)
            .await
            .expect("lookup"),
        None
    );
    assert!(
        store
            .list_categories(a.tenant_id, ALL)
            .await
            .expect("categories")
            .items
            .is_empty()
    );
    // A category name may repeat across tenants.
    store
        .create_category(a.actor(), &new_category("hvac"))
        .await
        .expect("same category name in a");
}
