//! The maintenance generator: on the replica that leads the `maintenance`
//! job, makes each active plan's occurrence tickets `lead_days` ahead, with
//! their windows. The store makes each occurrence once (its row's key), so
//! a restart or a second replica cannot make it twice.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, NaiveTime, Utc};

use super::window_text;
use crate::{
    domain::{
        maintenance::MaintenancePlan,
        schedule::{DEFAULT_DURATION_MINUTES, WindowSource, day_start, local_day},
    },
    events::{Event, EventBus, EventKind},
    store::{Store, StoreResult, maintenance::DuePlan, schedule::WindowSet},
};

/// One pass over every active plan; returns how many tickets it made.
pub async fn generate(
    store: &dyn Store,
    events: &dyn EventBus,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut made = 0;
    for DuePlan {
        tenant_id,
        time_zone,
        plan,
    } in store.active_maintenance_plans().await?
    {
        let today = local_day(&time_zone, now);
        let mut until = today + chrono::Days::new(u64::from(plan.lead_days));
        if let Some(end) = plan.ends_on {
            until = until.min(end);
        }
        // Occurrences already past (before today, or while paused) are not made late.
        for due_on in plan.recurrence.occurrences(plan.start_on, today, until) {
            let Some(window) = window_of(store, tenant_id, &time_zone, &plan, due_on).await? else {
                continue;
            };
            if let Some(ticket) = store
                .create_maintenance_occurrence(tenant_id, &plan, due_on, &window)
                .await?
            {
                tracing::info!(plan = %plan.id, %due_on, ticket = %ticket.number, "maintenance visit made");
                events.publish(Event::new(
                    tenant_id,
                    EventKind::TicketCreated {
                        ticket_id: ticket.id,
                    },
                ));
                made += 1;
            }
        }
        store.maintenance_checked(tenant_id, plan.id, now).await?;
    }
    Ok(made)
}

async fn window_of(
    store: &dyn Store,
    tenant_id: uuid::Uuid,
    time_zone: &str,
    plan: &MaintenancePlan,
    due_on: chrono::NaiveDate,
) -> StoreResult<Option<WindowSet>> {
    let (Some(midnight), Ok(start)) = (
        day_start(time_zone, due_on),
        NaiveTime::parse_from_str(&plan.window_start, "%H:%M"),
    ) else {
        return Ok(None);
    };
    let starts_at = midnight + (start - NaiveTime::MIN);
    let ends_at = starts_at + chrono::Duration::minutes(i64::from(plan.window_minutes));
    let duration = match plan.duration_minutes {
        Some(minutes) => minutes,
        None => store
            .category_duration(tenant_id, &plan.category)
            .await?
            .unwrap_or(DEFAULT_DURATION_MINUTES),
    }
    .min(plan.window_minutes);
    Ok(Some(WindowSet {
        starts_at,
        ends_at,
        duration_minutes: duration,
        technician_id: None,
        source: WindowSource::Manual,
        notice_text: window_text(time_zone, starts_at, ends_at),
    }))
}

/// Runs [`generate`] every `poll` while this replica leads.
pub async fn run(
    store: Arc<dyn Store>,
    events: Arc<dyn EventBus>,
    poll: Duration,
    leading: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(poll);
    loop {
        ticks.tick().await;
        if !*leading.borrow() {
            continue;
        }
        if let Err(error) = generate(store.as_ref(), events.as_ref(), Utc::now()).await {
            tracing::warn!(%error, "maintenance generator failed");
        }
    }
}
