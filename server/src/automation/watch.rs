//! Mentions and watchers on a new comment (issue 21, item 5).
//!
//! An internal comment's `@handle`s (`domain::watch`) notify the users they
//! name; every comment tells the ticket's watchers. Both go only to users who
//! may see the ticket (staff; the technician it is assigned to) and never to
//! the comment's author: `WatchStore::notify_ticket_users` decides that in
//! the transaction that writes the notifications. Status and assignee
//! changes reach watchers from `AssignmentFlow::after_change`
//! (`store::watch::notify_change`).

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::{
    domain::{
        people::Role,
        ticket::{Ticket, Visibility},
        watch::{mentioned_handles, resolve_mentions},
    },
    store::{Store, StoreError, watch::TicketNotice},
};

/// The most characters of a comment a notification repeats.
const EXCERPT: usize = 280;

fn excerpt(body: &str) -> String {
    let mut out: String = body.chars().take(EXCERPT).collect();
    if body.chars().count() > EXCERPT {
        out.push('…');
    }
    out
}

/// Who a comment reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommentNotices {
    pub mentioned: Vec<Uuid>,
    pub watchers: Vec<Uuid>,
}

/// Notifies the users an internal comment mentions and the ticket's
/// watchers (a mentioned watcher hears once, as mentioned).
pub async fn after_comment(
    store: &dyn Store,
    author: Uuid,
    ticket: &Ticket,
    body: &str,
    visibility: Visibility,
) -> Result<CommentNotices, StoreError> {
    let tenant_id = ticket.tenant_id;
    let who = match store.get_user(tenant_id, author).await {
        Ok(user) => user.name,
        Err(StoreError::NotFound(_)) => "Someone".to_owned(),
        Err(e) => return Err(e),
    };
    let mut out = CommentNotices::default();
    let handles = mentioned_handles(body);
    if visibility == Visibility::Internal && !handles.is_empty() {
        let users = store.users_with_roles(tenant_id, &Role::ALL).await?;
        let named = resolve_mentions(&handles, &users);
        let notice = TicketNotice {
            source: "mention",
            title: format!("{who} mentioned you on {}: {}", ticket.number, ticket.title),
            body: excerpt(body),
        };
        out.mentioned = store
            .notify_ticket_users(tenant_id, ticket, &named, Some(author), &notice)
            .await?;
    }
    let already: BTreeSet<Uuid> = out.mentioned.iter().copied().collect();
    let watchers: Vec<Uuid> = store
        .ticket_watchers(tenant_id, ticket.id)
        .await?
        .into_iter()
        .filter(|w| !already.contains(w))
        .collect();
    if !watchers.is_empty() {
        let notice = TicketNotice {
            source: "watch",
            title: format!("{who} commented on {}: {}", ticket.number, ticket.title),
            body: excerpt(body),
        };
        out.watchers = store
            .notify_ticket_users(tenant_id, ticket, &watchers, Some(author), &notice)
            .await?;
    }
    Ok(out)
}
