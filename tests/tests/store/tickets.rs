//! TicketStore: categories, tickets and comments.

use super::*;

backend_tests!(
    ticket_numbers_count_per_tenant,
    ticket_with_foreign_site_writes_nothing,
    tickets_filter_by_every_field,
    ticket_text_search_is_literal_and_case_insensitive,
    ticket_text_search_folds_non_ascii_case,
    tickets_update_optimistically,
    replaced_tags_are_filterable,
    comments_belong_to_tickets_of_the_tenant,
    concurrent_tickets_get_distinct_numbers,
);

// ---------------------------------------------------------------------------
// Tickets

async fn ticket_numbers_count_per_tenant(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let a1 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "First"))
        .await
        .expect("a1");
    let a2 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Second"))
        .await
        .expect("a2");
    let b1 = store
        .create_ticket(b.actor(), &new_ticket(b.site_id, "Other tenant"))
        .await
        .expect("b1");
    let a3 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Third"))
        .await
        .expect("a3");
    assert_eq!(a1.number, "TR-000001");
    assert_eq!(a2.number, "TR-000002");
    assert_eq!(a3.number, "TR-000003");
    assert_eq!(b1.number, "TR-000001");

    assert_eq!(a1.status, Status::New);
    assert_eq!(a1.created_by, a.admin_id);
    assert_eq!(a1.created_at, a1.updated_at);
    assert_eq!(a1.assignee_id, None);
    assert_eq!(store.get_ticket(a.tenant_id, a1.id).await.expect("get"), a1);
    assert_not_found(
        store.get_ticket(b.tenant_id, a1.id).await,
        "ticket of a from b",
    );

    // Tickets are written by users, never anonymously.
    let anonymous = Actor {
        tenant_id: a.tenant_id,
        user_id: None,
    };
    assert!(matches!(
        store
            .create_ticket(anonymous, &new_ticket(a.site_id, "Nobody"))
            .await,
        Err(StoreError::Reference { .. })
    ));
    let a4 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Fourth"))
        .await
        .expect("a4");
    assert_eq!(a4.number, "TR-000004", "a rejected ticket uses no number");
}

async fn ticket_with_foreign_site_writes_nothing(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let audit_before = audit_len(store, a.tenant_id).await;

    assert_reference(
        store
            .create_ticket(a.actor(), &new_ticket(b.site_id, "Wrong site"))
            .await,
        "site_id",
        "ticket on another tenant's site",
    );
    assert_reference(
        store
            .create_ticket(a.actor(), &new_ticket(Uuid::now_v7(), "No site"))
            .await,
        "site_id",
        "ticket on an unknown site",
    );
    assert!(
        tickets(store, a.tenant_id, &TicketFilter::default())
            .await
            .is_empty(),
        "no ticket written"
    );
    assert!(
        tickets(store, b.tenant_id, &TicketFilter::default())
            .await
            .is_empty(),
        "nothing written into the site's tenant either"
    );
    assert_eq!(
        audit_len(store, a.tenant_id).await,
        audit_before,
        "no audit entry"
    );
    let raw = db.raw().await;
    assert_eq!(raw.scalar_i64("SELECT COUNT(*) FROM tickets", &[]).await, 0);
    assert_eq!(
        raw.scalar_i64("SELECT COUNT(*) FROM ticket_tags", &[])
            .await,
        0
    );
    raw.close().await;

    let first = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Right site"))
        .await
        .expect("valid ticket");
    assert_eq!(
        first.number, "TR-000001",
        "the failed attempts used no number"
    );
    assert!(store.verify_audit(a.tenant_id).await.expect("verify").valid);
}

async fn tickets_filter_by_every_field(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let second_site = store
        .create_site(a.actor(), &new_site(a.customer_id, "Plant South"))
        .await
        .expect("second site");
    let tech_user = store
        .create_user(
            a.actor(),
            &new_user("tech@alpha.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("technician user");
    let technician = store
        .create_technician(a.actor(), &new_technician(tech_user.id))
        .await
        .expect("technician");

    let mut one = new_ticket(a.site_id, "Boiler broken");
    one.priority = Priority::P1;
    one.category = "hvac".to_owned();
    one.tags = vec!["urgent".to_owned(), "boiler".to_owned()];
    let one = store.create_ticket(a.actor(), &one).await.expect("one");

    let mut two = new_ticket(second_site.id, "Leaking pipe");
    two.priority = Priority::P2;
    two.category = "plumbing".to_owned();
    two.tags = vec!["water".to_owned()];
    let two = store.create_ticket(a.actor(), &two).await.expect("two");

    let mut three = new_ticket(a.site_id, "Annual inspection");
    three.priority = Priority::P4;
    three.category = "hvac".to_owned();
    three.tags = vec!["urgent".to_owned()];
    let three = store.create_ticket(a.actor(), &three).await.expect("three");

    // Another tenant's ticket matches many filters but must never appear.
    let mut foreign = new_ticket(b.site_id, "Boiler broken");
    foreign.priority = Priority::P1;
    foreign.tags = vec!["urgent".to_owned()];
    store
        .create_ticket(b.actor(), &foreign)
        .await
        .expect("foreign");

    // Assign `two` and put `three` on hold.
    let mut assigned = two.clone();
    assigned.assignee_id = Some(technician.id);
    assigned.status = Status::Assigned;
    let two = store
        .update_ticket(a.actor(), &two, &assigned, None)
        .await
        .expect("assign two");
    let mut held = three.clone();
    held.status = Status::OnHold;
    held.hold_reason = Some(HoldReason::WaitingParts);
    let three = store
        .update_ticket(a.actor(), &three, &held, None)
        .await
        .expect("hold three");
    assert_eq!(three.hold_reason, Some(HoldReason::WaitingParts));

    let t = a.tenant_id;
    let all = numbers(store, t, TicketFilter::default()).await;
    assert_eq!(all, ["TR-000001", "TR-000002", "TR-000003"]);

    let by_status = |status| TicketFilter {
        status: Some(status),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_status(Status::New)).await,
        expected(&[&one])
    );
    assert_eq!(
        numbers(store, t, by_status(Status::Assigned)).await,
        expected(&[&two])
    );
    assert_eq!(
        numbers(store, t, by_status(Status::OnHold)).await,
        expected(&[&three])
    );
    assert!(
        numbers(store, t, by_status(Status::Closed))
            .await
            .is_empty()
    );

    let by_assignee = TicketFilter {
        assignee_id: Some(technician.id),
        ..Default::default()
    };
    assert_eq!(numbers(store, t, by_assignee).await, expected(&[&two]));
    let by_unknown_assignee = TicketFilter {
        assignee_id: Some(Uuid::now_v7()),
        ..Default::default()
    };
    assert!(numbers(store, t, by_unknown_assignee).await.is_empty());

    let by_priority = |priority| TicketFilter {
        priority: Some(priority),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_priority(Priority::P1)).await,
        expected(&[&one])
    );
    assert_eq!(
        numbers(store, t, by_priority(Priority::P4)).await,
        expected(&[&three])
    );
    assert!(
        numbers(store, t, by_priority(Priority::P3))
            .await
            .is_empty()
    );

    let by_category = |category: &str| TicketFilter {
        category: Some(category.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_category("hvac")).await,
        expected(&[&one, &three])
    );
    assert_eq!(
        numbers(store, t, by_category("plumbing")).await,
        expected(&[&two])
    );
    assert!(
        numbers(store, t, by_category("HVAC")).await.is_empty(),
        "categories are exact"
    );

    let by_site = |site_id| TicketFilter {
        site_id: Some(site_id),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_site(a.site_id)).await,
        expected(&[&one, &three])
    );
    assert_eq!(
        numbers(store, t, by_site(second_site.id)).await,
        expected(&[&two])
    );
    assert!(numbers(store, t, by_site(b.site_id)).await.is_empty());

    let by_tag = |tag: &str| TicketFilter {
        tag: Some(tag.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_tag("urgent")).await,
        expected(&[&one, &three])
    );
    assert_eq!(numbers(store, t, by_tag("water")).await, expected(&[&two]));
    assert!(
        numbers(store, t, by_tag("urg")).await.is_empty(),
        "tags match whole"
    );

    // Creation-time window [from, to): computed from the stored timestamps,
    // so the test never depends on the clock.
    let created = [&one, &two, &three];
    let window = |from, to| TicketFilter {
        created_from: from,
        created_to: to,
        ..Default::default()
    };
    let expect_window = |from: Option<chrono::DateTime<Utc>>, to: Option<chrono::DateTime<Utc>>| {
        let mut expected: Vec<String> = created
            .iter()
            .filter(|t| from.is_none_or(|f| t.created_at >= f))
            .filter(|t| to.is_none_or(|u| t.created_at < u))
            .map(|t| t.number.clone())
            .collect();
        expected.sort();
        expected
    };
    let micro = Duration::microseconds(1);
    let cases = [
        (Some(two.created_at), None),
        (None, Some(two.created_at)),
        (Some(two.created_at), Some(two.created_at + micro)),
        (Some(one.created_at), Some(three.created_at)),
        (Some(three.created_at + micro), None),
        (None, Some(one.created_at)),
    ];
    for (from, to) in cases {
        let got = numbers(store, t, window(from, to)).await;
        assert_eq!(got, expect_window(from, to), "window {from:?}..{to:?}");
    }
    assert!(
        numbers(
            store,
            t,
            window(Some(two.created_at), Some(two.created_at + micro))
        )
        .await
        .contains(&two.number),
        "from is inclusive"
    );
    assert!(
        !numbers(store, t, window(None, Some(one.created_at)))
            .await
            .contains(&one.number),
        "to is exclusive"
    );

    // Filters combine with AND.
    let combined = TicketFilter {
        category: Some("hvac".to_owned()),
        tag: Some("urgent".to_owned()),
        status: Some(Status::New),
        site_id: Some(a.site_id),
        priority: Some(Priority::P1),
        text: Some("BOILER".to_owned()),
        ..Default::default()
    };
    assert_eq!(numbers(store, t, combined).await, expected(&[&one]));

    // Filters and pagination work together.
    let first_page = store
        .list_tickets(
            t,
            &by_category("hvac"),
            PageRequest {
                limit: 1,
                after: None,
            },
        )
        .await
        .expect("page 1");
    assert_eq!(first_page.items.len(), 1);
    let second_page = store
        .list_tickets(
            t,
            &by_category("hvac"),
            PageRequest {
                limit: 1,
                after: first_page.next_after,
            },
        )
        .await
        .expect("page 2");
    assert_eq!(second_page.items.len(), 1);
    assert_eq!(second_page.next_after, None);
    assert_ne!(first_page.items[0].id, second_page.items[0].id);
}

async fn ticket_text_search_is_literal_and_case_insensitive(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let titles_and_descriptions = [
        ("Boiler LEAK in Basement", ""),
        ("Quarterly check", "Customer reports a Leaky valve"),
        ("Fan at 100% noise", ""),
        ("Fan at 1000 rpm", ""),
        ("fan_speed sensor", ""),
        ("fanXspeed sensor", ""),
        ("Robert'); DROP TABLE tickets;--", "x' OR '1'='1"),
        (r"Path C:\temp\logs", ""),
        (r"Path C:Xtemp", ""),
    ];
    let mut created = Vec::new();
    for (title, description) in titles_and_descriptions {
        let mut input = new_ticket(a.site_id, title);
        input.description = description.to_owned();
        created.push(
            store
                .create_ticket(a.actor(), &input)
                .await
                .expect("create"),
        );
    }
    let number = |i: usize| created[i].number.clone();
    let t = a.tenant_id;

    // Case-insensitive, in title or description.
    assert_eq!(
        numbers(store, t, text("leak")).await,
        [number(0), number(1)]
    );
    assert_eq!(
        numbers(store, t, text("LEAK")).await,
        [number(0), number(1)]
    );
    assert_eq!(numbers(store, t, text("bAsEmEnT")).await, [number(0)]);
    assert_eq!(numbers(store, t, text("leaky VALVE")).await, [number(1)]);
    assert!(numbers(store, t, text("leakage")).await.is_empty());

    // LIKE wildcards are literal.
    assert_eq!(numbers(store, t, text("100%")).await, [number(2)]);
    assert_eq!(numbers(store, t, text("%")).await, [number(2)]);
    assert_eq!(numbers(store, t, text("fan_speed")).await, [number(4)]);
    assert_eq!(numbers(store, t, text("_")).await, [number(4)]);
    assert_eq!(numbers(store, t, text(r"C:\temp")).await, [number(7)]);
    assert_eq!(numbers(store, t, text(r"\")).await, [number(7)]);

    // SQL metacharacters are data: stored verbatim and searchable.
    let injected = store.get_ticket(t, created[6].id).await.expect("get");
    assert_eq!(injected.title, "Robert'); DROP TABLE tickets;--");
    assert_eq!(injected.description, "x' OR '1'='1");
    assert_eq!(
        numbers(store, t, text("'); DROP TABLE tickets;--")).await,
        [number(6)]
    );
    assert_eq!(numbers(store, t, text("'1'='1")).await, [number(6)]);
    assert_eq!(
        numbers(store, t, text("' OR 1=1 --")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        numbers(store, t, TicketFilter::default()).await.len(),
        titles_and_descriptions.len(),
        "the tickets table is intact"
    );
}

/// The contract says "case-insensitive", not "ASCII-case-insensitive":
/// German, French or Turkish customers type their own letters.
async fn ticket_text_search_folds_non_ascii_case(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let ticket = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Überhitzung im Kessel"))
        .await
        .expect("create");
    let t = a.tenant_id;
    assert_eq!(
        numbers(store, t, text("ÜBERHITZUNG")).await,
        expected(&[&ticket])
    );
    assert_eq!(
        numbers(store, t, text("überhitzung")).await,
        expected(&[&ticket])
    );
}

async fn tickets_update_optimistically(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let asset = store
        .create_asset(a.actor(), &new_asset(a.site_id, "SN-1"))
        .await
        .expect("asset");
    let b_user = store
        .create_user(
            b.actor(),
            &new_user("tech@bravo.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("b technician user");
    let b_tech = store
        .create_technician(b.actor(), &new_technician(b_user.id))
        .await
        .expect("b technician");

    let original = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Boiler"))
        .await
        .expect("ticket");
    let mut changed = original.clone();
    changed.title = "  Boiler, really broken ".to_owned();
    changed.description = "Pressure drops overnight".to_owned();
    changed.priority = Priority::P1;
    changed.asset_id = Some(asset.id);
    changed.custom_fields = json!({"pressure": 0.4});
    changed.required_skills = vec![SkillLevel {
        skill: "hvac".to_owned(),
        level: 3,
    }];
    let updated = store
        .update_ticket(a.actor(), &original, &changed, None)
        .await
        .expect("update");
    assert_eq!(updated.title, "Boiler, really broken");
    assert_eq!(updated.priority, Priority::P1);
    assert_eq!(updated.asset_id, Some(asset.id));
    assert_eq!(updated.custom_fields, json!({"pressure": 0.4}));
    assert_eq!(updated.required_skills, changed.required_skills);
    assert_eq!(updated.number, original.number);
    assert_eq!(updated.created_at, original.created_at);
    assert_ne!(updated.updated_at, original.updated_at);
    assert_eq!(
        store
            .get_ticket(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated
    );

    // A second writer holding the original version loses, and nothing changes.
    let audit_before = audit_len(store, a.tenant_id).await;
    let mut stale = original.clone();
    stale.title = "Lost update".to_owned();
    assert_conflict(
        store
            .update_ticket(a.actor(), &original, &stale, None)
            .await,
        "stale ticket update",
    );
    assert_eq!(
        store
            .get_ticket(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated
    );
    assert_eq!(audit_len(store, a.tenant_id).await, audit_before);

    // Assigning another tenant's technician is a bad reference, not a write.
    let mut foreign = updated.clone();
    foreign.assignee_id = Some(b_tech.id);
    foreign.status = Status::Assigned;
    assert_reference(
        store
            .update_ticket(a.actor(), &updated, &foreign, None)
            .await,
        "assignee_id",
        "assignee from another tenant",
    );
    assert_eq!(
        store
            .get_ticket(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated
    );

    // Another tenant cannot update it at all.
    let mut hijack = updated.clone();
    hijack.title = "Hijacked".to_owned();
    assert_not_found(
        store
            .update_ticket(b.actor(), &updated, &hijack, None)
            .await,
        "update from another tenant",
    );
    let mut ghost = updated.clone();
    ghost.id = Uuid::now_v7();
    assert_not_found(
        store.update_ticket(a.actor(), &ghost, &ghost, None).await,
        "update of an unknown ticket",
    );
    assert_eq!(audit_len(store, a.tenant_id).await, audit_before);
}

async fn replaced_tags_are_filterable(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let mut input = new_ticket(a.site_id, "Roof");
    input.tags = vec!["urgent".to_owned(), "roof".to_owned(), "urgent".to_owned()];
    let ticket = store
        .create_ticket(a.actor(), &input)
        .await
        .expect("ticket");
    let by_tag = |tag: &str| TicketFilter {
        tag: Some(tag.to_owned()),
        ..Default::default()
    };
    let t = a.tenant_id;
    assert_eq!(
        numbers(store, t, by_tag("urgent")).await,
        expected(&[&ticket])
    );
    assert_eq!(
        numbers(store, t, by_tag("roof")).await,
        expected(&[&ticket])
    );

    let mut retagged = ticket.clone();
    retagged.tags = vec!["roof".to_owned(), "warranty".to_owned()];
    let updated = store
        .update_ticket(a.actor(), &ticket, &retagged, None)
        .await
        .expect("retag");
    assert_eq!(updated.tags, ["roof", "warranty"]);
    assert!(
        numbers(store, t, by_tag("urgent")).await.is_empty(),
        "old tag gone"
    );
    assert_eq!(
        numbers(store, t, by_tag("roof")).await,
        expected(&[&ticket])
    );
    assert_eq!(
        numbers(store, t, by_tag("warranty")).await,
        expected(&[&ticket])
    );

    let mut untagged = updated.clone();
    untagged.tags = vec![];
    store
        .update_ticket(a.actor(), &updated, &untagged, None)
        .await
        .expect("untag");
    for tag in ["urgent", "roof", "warranty"] {
        assert!(
            numbers(store, t, by_tag(tag)).await.is_empty(),
            "{tag} removed"
        );
    }
}

// ---------------------------------------------------------------------------
// Comments

async fn comments_belong_to_tickets_of_the_tenant(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let ticket = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Boiler"))
        .await
        .expect("ticket");
    let other = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Other"))
        .await
        .expect("other ticket");

    let first = store
        .add_comment(a.actor(), ticket.id, &new_comment("Called the customer"))
        .await
        .expect("comment 1");
    let second = store
        .add_comment(a.actor(), ticket.id, &new_comment("Part ordered"))
        .await
        .expect("comment 2");
    store
        .add_comment(a.actor(), other.id, &new_comment("Elsewhere"))
        .await
        .expect("comment on other ticket");
    assert_eq!(first.ticket_id, ticket.id);
    assert_eq!(first.author_id, a.admin_id);
    assert_eq!(first.tenant_id, a.tenant_id);

    let listed = store
        .list_comments(a.tenant_id, ticket.id, ALL)
        .await
        .expect("list");
    assert_eq!(listed.items, [first.clone(), second.clone()]);
    let page = store
        .list_comments(
            a.tenant_id,
            ticket.id,
            PageRequest {
                limit: 1,
                after: None,
            },
        )
        .await
        .expect("page");
    assert_eq!(page.items, [first]);
    assert_eq!(page.next_after, Some(page.items[0].id));
    assert!(
        store
            .list_comments(b.tenant_id, ticket.id, ALL)
            .await
            .expect("list from b")
            .items
            .is_empty()
    );

    let audit_before = audit_len(store, b.tenant_id).await;
    assert_not_found(
        store
            .add_comment(b.actor(), ticket.id, &new_comment("Sneaky"))
            .await,
        "comment on another tenant's ticket",
    );
    assert_not_found(
        store
            .add_comment(a.actor(), Uuid::now_v7(), &new_comment("Void"))
            .await,
        "comment on an unknown ticket",
    );
    assert_eq!(audit_len(store, b.tenant_id).await, audit_before);
    assert_eq!(
        store
            .list_comments(a.tenant_id, ticket.id, ALL)
            .await
            .expect("list")
            .items
            .len(),
        2
    );
}

// ---------------------------------------------------------------------------
// Concurrency

async fn concurrent_tickets_get_distinct_numbers(db: &TestDb) {
    const N: usize = 20;
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = db.store.clone();
        let fixture = if i % 5 == 4 { b.clone() } else { a.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .create_ticket(
                    fixture.actor(),
                    &new_ticket(fixture.site_id, &format!("Job {i}")),
                )
                .await
        }));
    }
    // Plus `N` more on tenant a only, racing the mixed ones above.
    for i in 0..N {
        let store = db.store.clone();
        let fixture = a.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_ticket(
                    fixture.actor(),
                    &new_ticket(fixture.site_id, &format!("Solo {i}")),
                )
                .await
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        created.push(task.await.expect("task").expect("create ticket"));
    }

    for (fixture, expected) in [(&a, N - N / 5 + N), (&b, N / 5)] {
        let numbers: HashSet<String> = created
            .iter()
            .filter(|t| t.tenant_id == fixture.tenant_id)
            .map(|t| t.number.clone())
            .collect();
        let want: HashSet<String> = (1..=expected).map(|n| format!("TR-{n:06}")).collect();
        assert_eq!(numbers, want, "numbers 1..={expected}, each once");
        let report = db
            .store
            .verify_audit(fixture.tenant_id)
            .await
            .expect("verify");
        assert!(report.valid, "{report:?}");
        assert_eq!(report.entries, 4 + expected as i64);
    }
}
