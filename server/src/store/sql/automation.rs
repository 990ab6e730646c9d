//! SQL behind `AutomationStore`: teams, ticket ownership by team (with the
//! round-robin and least-loaded picks), rules, a chain's recorded effects
//! and staff notifications.

macro_rules! impl_automation_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                automation::{OwnerChoice, Rule, RuleDefinition, Team, TeamAssignment, TeamChange, TeamInput, TeamPatch, TicketTeam},
                people::{Role, User},
                ticket::Ticket,
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                automation::{AutomationStore, ChainEffects, ChainWrite, NewNotification, QueueItem, RuleSave, StaffNotification},
                notify::{Locale, NoticeContext, NoticeEvent},
                rows::{TicketRow, UserRow},
                sql::{TICKET_COLUMNS, USER_COLUMNS, audit, now, write_error},
            };
            use $crate::domain::audit::audit_time;

            type Tx = sqlx::Transaction<'static, $db>;
            type TeamRow = (Uuid, String, String, DateTime<Utc>, DateTime<Utc>);
            type RuleRow = (Uuid, String, i64, bool, Json<RuleDefinition>, Uuid, DateTime<Utc>, DateTime<Utc>);
            type TicketTeamRow = (Uuid, Uuid, String, Option<Uuid>, String, DateTime<Utc>);
            type NotificationRow = (Uuid, Option<Uuid>, String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

            const RULE_SELECT: &str =
                "SELECT id, name, position, active, definition, updated_by, created_at, updated_at FROM automation_rules WHERE tenant_id = $1";
            const NOTIFICATION_SELECT: &str =
                "SELECT id, ticket_id, source, title, body, created_at, read_at FROM staff_notifications WHERE tenant_id = $1 AND user_id = $2";
            /// Tickets still being worked: they count towards an owner's load.
            const OPEN: &str = "('new', 'assigned', 'accepted', 'en_route', 'on_site', 'on_hold')";

            fn assignment_from(value: &str) -> StoreResult<TeamAssignment> {
                TeamAssignment::parse(value).ok_or_else(|| StoreError::Corrupt(format!("teams.assignment: {value:?}")))
            }

            fn rule_from(row: RuleRow) -> Rule {
                let (id, name, position, active, definition, updated_by, created_at, updated_at) = row;
                Rule { id, name, position, active, definition: definition.0, updated_by, created_at, updated_at }
            }

            fn ticket_team_from(row: TicketTeamRow) -> TicketTeam {
                let (ticket_id, team_id, team_name, owner_id, reason, updated_at) = row;
                TicketTeam { ticket_id, team_id, team_name, owner_id, reason, updated_at }
            }

            fn notification_from(row: NotificationRow) -> StaffNotification {
                let (id, ticket_id, source, title, body, created_at, read_at) = row;
                StaffNotification { id, ticket_id, source, title, body, created_at, read_at }
            }

            impl $store {
                /// A chain's firings, team transfer, notifications (in-console,
                /// push, email through the notification outbox) and webhooks.
                async fn record_chain_in(tx: &mut Tx, tenant_id: Uuid, ticket: &Ticket, effects: &ChainEffects) -> StoreResult<()> {
                    let system = Actor { tenant_id, user_id: None };
                    for firing in &effects.firings {
                        audit::append(tx, tenant_id, AuditEvent::new(None, "rule.fired", "ticket", Some(ticket.id), None, Some(firing))).await?;
                    }
                    if let Some(change) = &effects.team {
                        Self::set_ticket_team_in(tx, system, ticket.id, change).await?;
                    }
                    let at = now();
                    for notification in &effects.notifications {
                        sqlx::query(
                            "INSERT INTO staff_notifications (id, tenant_id, user_id, ticket_id, source, title, body, created_at) \
                             VALUES ($1, $2, $3, $4, 'rule', $5, $6, $7)",
                        )
                        .bind(Uuid::now_v7())
                        .bind(tenant_id)
                        .bind(notification.user_id)
                        .bind(ticket.id)
                        .bind(&notification.title)
                        .bind(&notification.body)
                        .bind(at)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| write_error(e, "duplicate notification", ("user_id", "no such user")))?;
                        let content = $crate::store::push::PushContent {
                            title: notification.title.clone(),
                            body: notification.body.clone(),
                            data: [("ticket_id".to_owned(), ticket.id.to_string()), ("kind".to_owned(), "rule".to_owned())].into_iter().collect(),
                        };
                        Self::enqueue_user_pushes_in(tx, tenant_id, notification.user_id, &content).await?;
                        if notification.email {
                            Self::enqueue_staff_email_in(tx, ticket, notification).await?;
                        }
                    }
                    for data in &effects.webhooks {
                        // The ticket as written (its version moved with this write).
                        let mut data = data.clone();
                        if let Some(slot) = data.get_mut("ticket") {
                            *slot = serde_json::to_value(ticket).unwrap_or_default();
                        }
                        Self::enqueue_webhooks_in(tx, tenant_id, "rule.fired", Some(ticket.id), data).await?;
                    }
                    Ok(())
                }

                /// A staff member's email in the one notification outbox: the
                /// user's address and language, the ticket's customer as the
                /// row's customer (whose opt-outs are for customer messages only).
                async fn enqueue_staff_email_in(tx: &mut Tx, ticket: &Ticket, notification: &NewNotification) -> StoreResult<()> {
                    let user: Option<(String, Option<String>)> =
                        sqlx::query_as("SELECT email, locale FROM users WHERE tenant_id = $1 AND id = $2 AND active")
                            .bind(ticket.tenant_id)
                            .bind(notification.user_id)
                            .fetch_optional(&mut **tx)
                            .await?;
                    let Some((email, locale)) = user.filter(|(email, _)| !email.trim().is_empty()) else {
                        return Ok(());
                    };
                    let customer: Option<(Uuid, String)> = sqlx::query_as(
                        "SELECT c.id, c.name FROM sites s JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id \
                         WHERE s.tenant_id = $1 AND s.id = $2",
                    )
                    .bind(ticket.tenant_id)
                    .bind(ticket.site_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    let Some((customer_id, customer_name)) = customer else {
                        return Ok(());
                    };
                    let context = NoticeContext {
                        ticket_number: ticket.number.clone(),
                        ticket_title: ticket.title.clone(),
                        customer_name,
                        staff_title: Some(notification.title.clone()),
                        staff_body: Some(notification.body.clone()),
                        ..NoticeContext::default()
                    };
                    let at = now();
                    sqlx::query(
                        "INSERT INTO notify_messages (id, tenant_id, ticket_id, customer_id, event, event_key, channel, recipient, locale, context, \
                         attempts, next_attempt_at, state, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 'email', $7, $8, $9, 0, $10, 'pending', $10)",
                    )
                    .bind(Uuid::now_v7())
                    .bind(ticket.tenant_id)
                    .bind(ticket.id)
                    .bind(customer_id)
                    .bind(NoticeEvent::StaffAlert.as_str())
                    // Every alert is its own message.
                    .bind(format!("staff:{}:{}", notification.user_id, Uuid::now_v7()))
                    .bind(email.trim())
                    .bind(locale.as_deref().and_then(Locale::parse).unwrap_or_default().as_str())
                    .bind(Json(&context))
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                }

                async fn team_in(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<Team> {
                    let row: Option<TeamRow> = sqlx::query_as(
                        "SELECT id, name, assignment, created_at, updated_at FROM teams WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    let (id, name, assignment, created_at, updated_at) = row.ok_or(StoreError::NotFound("team"))?;
                    let members: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT user_id FROM team_members WHERE tenant_id = $1 AND team_id = $2 ORDER BY user_id",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_all(&mut **tx)
                    .await?;
                    Ok(Team {
                        id,
                        name,
                        assignment: assignment_from(&assignment)?,
                        members: members.into_iter().map(|(m,)| m).collect(),
                        created_at,
                        updated_at,
                    })
                }

                /// Replaces the team's members; each must be an active staff user.
                async fn set_members_in(tx: &mut Tx, tenant_id: Uuid, team_id: Uuid, members: &[Uuid]) -> StoreResult<()> {
                    for (i, user_id) in members.iter().enumerate() {
                        let role: Option<(String,)> = sqlx::query_as("SELECT role FROM users WHERE tenant_id = $1 AND id = $2 AND active")
                            .bind(tenant_id)
                            .bind(user_id)
                            .fetch_optional(&mut **tx)
                            .await?;
                        match role {
                            None => return Err(StoreError::Reference { field: "members", message: format!("members[{i}]: no such active user") }),
                            Some((role,)) if role == Role::Technician.as_str() => {
                                return Err(StoreError::Reference { field: "members", message: format!("members[{i}]: technicians work tickets in the field, not in team queues") });
                            }
                            Some(_) => {}
                        }
                    }
                    sqlx::query("DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2")
                        .bind(tenant_id)
                        .bind(team_id)
                        .execute(&mut **tx)
                        .await?;
                    let at = now();
                    for user_id in members {
                        sqlx::query("INSERT INTO team_members (tenant_id, team_id, user_id, added_at) VALUES ($1, $2, $3, $4)")
                            .bind(tenant_id)
                            .bind(team_id)
                            .bind(user_id)
                            .bind(at)
                            .execute(&mut **tx)
                            .await?;
                    }
                    Ok(())
                }

                async fn ticket_team_in(tx: &mut Tx, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<TicketTeam>> {
                    let row: Option<TicketTeamRow> = sqlx::query_as(
                        "SELECT tt.ticket_id, tt.team_id, t.name, tt.owner_id, tt.reason, tt.updated_at \
                         FROM ticket_teams tt JOIN teams t ON t.tenant_id = tt.tenant_id AND t.id = tt.team_id \
                         WHERE tt.tenant_id = $1 AND tt.ticket_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    Ok(row.map(ticket_team_from))
                }

                /// The member a pick names: round robin after the last pick,
                /// or the least loaded (open tickets of this team owned),
                /// ties to the first in member order.
                async fn pick_owner_in(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    team: &Team,
                    ticket_id: Uuid,
                    pick: TeamAssignment,
                ) -> StoreResult<Option<Uuid>> {
                    if team.members.is_empty() {
                        return Ok(None);
                    }
                    match pick {
                        TeamAssignment::Manual => Ok(None),
                        TeamAssignment::RoundRobin => {
                            // The update locks the team row: concurrent picks take turns.
                            let (last,): (Option<Uuid>,) = sqlx::query_as(
                                "UPDATE teams SET last_owner_id = last_owner_id WHERE tenant_id = $1 AND id = $2 RETURNING last_owner_id",
                            )
                            .bind(tenant_id)
                            .bind(team.id)
                            .fetch_one(&mut **tx)
                            .await?;
                            let next = last
                                .and_then(|last| team.members.iter().find(|m| **m > last))
                                .or_else(|| team.members.first())
                                .copied();
                            sqlx::query("UPDATE teams SET last_owner_id = $3 WHERE tenant_id = $1 AND id = $2")
                                .bind(tenant_id)
                                .bind(team.id)
                                .bind(next)
                                .execute(&mut **tx)
                                .await?;
                            Ok(next)
                        }
                        TeamAssignment::LeastLoaded => {
                            let loads: Vec<(Uuid, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                                "SELECT tt.owner_id, COUNT(*) FROM ticket_teams tt \
                                 JOIN tickets t ON t.tenant_id = tt.tenant_id AND t.id = tt.ticket_id \
                                 WHERE tt.tenant_id = $1 AND tt.team_id = $2 AND tt.owner_id IS NOT NULL AND tt.ticket_id <> $3 \
                                 AND t.status IN {OPEN} GROUP BY tt.owner_id"
                            )))
                            .bind(tenant_id)
                            .bind(team.id)
                            .bind(ticket_id)
                            .fetch_all(&mut **tx)
                            .await?;
                            let loads: HashMap<Uuid, i64> = loads.into_iter().collect();
                            Ok(team
                                .members
                                .iter()
                                .min_by_key(|m| loads.get(*m).copied().unwrap_or(0))
                                .copied())
                        }
                    }
                }

                pub(crate) async fn set_ticket_team_in(
                    tx: &mut Tx,
                    actor: Actor,
                    ticket_id: Uuid,
                    change: &TeamChange,
                ) -> StoreResult<Option<TicketTeam>> {
                    let tenant_id = actor.tenant_id;
                    let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM tickets WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    if exists.is_none() {
                        return Err(StoreError::NotFound("ticket"));
                    }
                    let before = Self::ticket_team_in(tx, tenant_id, ticket_id).await?;
                    let Some(team_id) = change.team_id else {
                        if before.is_some() {
                            sqlx::query("DELETE FROM ticket_teams WHERE tenant_id = $1 AND ticket_id = $2")
                                .bind(tenant_id)
                                .bind(ticket_id)
                                .execute(&mut **tx)
                                .await?;
                            let after = serde_json::json!({"team_id": null, "reason": change.reason});
                            let before = serde_json::to_value(&before).unwrap_or_default();
                            audit::append(tx, tenant_id, AuditEvent::new(actor.user_id, "ticket.team", "ticket", Some(ticket_id), Some(&before), Some(&after))).await?;
                        }
                        return Ok(None);
                    };
                    let team = Self::team_in(tx, tenant_id, team_id).await.map_err(|e| match e {
                        StoreError::NotFound(_) => StoreError::Reference { field: "team_id", message: "no such team".into() },
                        other => other,
                    })?;
                    let kept = before.as_ref().filter(|b| b.team_id == team_id).and_then(|b| b.owner_id);
                    let owner = match change.owner {
                        OwnerChoice::Member(user_id) => {
                            if !team.members.contains(&user_id) {
                                return Err(StoreError::Reference { field: "owner_id", message: "is not a member of the team".into() });
                            }
                            Some(user_id)
                        }
                        OwnerChoice::Nobody => None,
                        // Staying in the team keeps the owner it has.
                        OwnerChoice::TeamDefault if kept.is_some() => kept,
                        OwnerChoice::TeamDefault => Self::pick_owner_in(tx, tenant_id, &team, ticket_id, team.assignment).await?,
                        OwnerChoice::Pick(pick) => Self::pick_owner_in(tx, tenant_id, &team, ticket_id, pick).await?,
                    };
                    let at = now();
                    sqlx::query(
                        "INSERT INTO ticket_teams (tenant_id, ticket_id, team_id, owner_id, reason, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET team_id = excluded.team_id, owner_id = excluded.owner_id, \
                         reason = excluded.reason, updated_at = excluded.updated_at",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .bind(team_id)
                    .bind(owner)
                    .bind(&change.reason)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                    let after = TicketTeam { ticket_id, team_id, team_name: team.name.clone(), owner_id: owner, reason: change.reason.clone(), updated_at: at };
                    let unchanged = before.as_ref().is_some_and(|b| b.team_id == after.team_id && b.owner_id == after.owner_id);
                    if !unchanged {
                        audit::append(tx, tenant_id, AuditEvent::new(actor.user_id, "ticket.team", "ticket", Some(ticket_id), before.as_ref(), Some(&after))).await?;
                    }
                    Ok(Some(after))
                }
            }

            #[async_trait]
            impl AutomationStore for $store {
                async fn list_teams(&self, tenant_id: Uuid) -> StoreResult<Vec<Team>> {
                    let rows: Vec<TeamRow> = sqlx::query_as(
                        "SELECT id, name, assignment, created_at, updated_at FROM teams WHERE tenant_id = $1 ORDER BY name, id",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let members: Vec<(Uuid, Uuid)> = sqlx::query_as(
                        "SELECT team_id, user_id FROM team_members WHERE tenant_id = $1 ORDER BY team_id, user_id",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut by_team: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
                    for (team_id, user_id) in members {
                        by_team.entry(team_id).or_default().push(user_id);
                    }
                    rows.into_iter()
                        .map(|(id, name, assignment, created_at, updated_at)| {
                            Ok(Team { id, name, assignment: assignment_from(&assignment)?, members: by_team.remove(&id).unwrap_or_default(), created_at, updated_at })
                        })
                        .collect()
                }

                async fn get_team(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Team> {
                    let mut tx = self.pool.begin().await?;
                    let team = Self::team_in(&mut tx, tenant_id, id).await?;
                    tx.commit().await?;
                    Ok(team)
                }

                #[tracing::instrument(skip_all)]
                async fn create_team(&self, actor: Actor, input: &TeamInput) -> StoreResult<Team> {
                    let mut tx = self.begin_write().await?;
                    let id = Uuid::now_v7();
                    let at = now();
                    sqlx::query("INSERT INTO teams (id, tenant_id, name, assignment, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
                        .bind(id)
                        .bind(actor.tenant_id)
                        .bind(input.name.trim())
                        .bind(input.assignment.as_str())
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| write_error(e, "a team with this name exists", ("tenant_id", "no such tenant")))?;
                    Self::set_members_in(&mut tx, actor.tenant_id, id, &input.members).await?;
                    let team = Self::team_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "team.create", "team", Some(id), None, Some(&team))).await?;
                    tx.commit().await?;
                    Ok(team)
                }

                #[tracing::instrument(skip_all)]
                async fn update_team(&self, actor: Actor, id: Uuid, patch: &TeamPatch) -> StoreResult<Team> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::team_in(&mut tx, actor.tenant_id, id).await?;
                    let name = patch.name.as_deref().map_or(before.name.clone(), |n| n.trim().to_owned());
                    let assignment = patch.assignment.unwrap_or(before.assignment);
                    sqlx::query("UPDATE teams SET name = $3, assignment = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .bind(&name)
                        .bind(assignment.as_str())
                        .bind(now())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| write_error(e, "a team with this name exists", ("tenant_id", "no such tenant")))?;
                    if let Some(members) = &patch.members {
                        Self::set_members_in(&mut tx, actor.tenant_id, id, members).await?;
                    }
                    let after = Self::team_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "team.update", "team", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                #[tracing::instrument(skip_all)]
                async fn delete_team(&self, actor: Actor, id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::team_in(&mut tx, actor.tenant_id, id).await?;
                    let (owned,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ticket_teams WHERE tenant_id = $1 AND team_id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if owned > 0 {
                        return Err(StoreError::InUse(format!("team owns {owned} tickets; transfer them first")));
                    }
                    sqlx::query("DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM teams WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "team.delete", "team", Some(id), Some(&before), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn ticket_team(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<TicketTeam>> {
                    let mut tx = self.pool.begin().await?;
                    let found = Self::ticket_team_in(&mut tx, tenant_id, ticket_id).await?;
                    tx.commit().await?;
                    Ok(found)
                }

                #[tracing::instrument(skip_all, fields(ticket = %ticket_id))]
                async fn set_ticket_team(&self, actor: Actor, ticket_id: Uuid, change: &TeamChange) -> StoreResult<Option<TicketTeam>> {
                    let mut tx = self.begin_write().await?;
                    let after = Self::set_ticket_team_in(&mut tx, actor, ticket_id, change).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn team_queue(&self, tenant_id: Uuid, team_id: Uuid, all: bool, limit: u32) -> StoreResult<Vec<QueueItem>> {
                    let open = if all { String::new() } else { format!(" AND status IN {OPEN}") };
                    let rows: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1{open} AND id IN \
                         (SELECT ticket_id FROM ticket_teams WHERE tenant_id = $1 AND team_id = $2) ORDER BY id LIMIT $3"
                    )))
                    .bind(tenant_id)
                    .bind(team_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    let owners: Vec<(Uuid, Option<Uuid>)> =
                        sqlx::query_as("SELECT ticket_id, owner_id FROM ticket_teams WHERE tenant_id = $1 AND team_id = $2")
                            .bind(tenant_id)
                            .bind(team_id)
                            .fetch_all(&self.pool)
                            .await?;
                    let owners: HashMap<Uuid, Option<Uuid>> = owners.into_iter().collect();
                    rows.into_iter()
                        .map(|row| {
                            let ticket = Ticket::try_from(row)?;
                            let owner_id = owners.get(&ticket.id).copied().flatten();
                            Ok(QueueItem { ticket, owner_id })
                        })
                        .collect()
                }

                async fn list_rules(&self, tenant_id: Uuid) -> StoreResult<Vec<Rule>> {
                    let rows: Vec<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{RULE_SELECT} ORDER BY position, id")))
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(rule_from).collect())
                }

                async fn get_rule(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Rule> {
                    let row: Option<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{RULE_SELECT} AND id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(rule_from).ok_or(StoreError::NotFound("rule"))
                }

                #[tracing::instrument(skip_all)]
                async fn create_rule(&self, actor: Actor, rule: &RuleSave) -> StoreResult<Rule> {
                    let updated_by = actor.user_id.ok_or(StoreError::Reference { field: "updated_by", message: "rules are saved by a user".into() })?;
                    let mut tx = self.begin_write().await?;
                    let position = match rule.position {
                        Some(position) => position,
                        None => {
                            let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(position) FROM automation_rules WHERE tenant_id = $1")
                                .bind(actor.tenant_id)
                                .fetch_one(&mut *tx)
                                .await?;
                            last.unwrap_or(0) + 10
                        }
                    };
                    let at = now();
                    let saved = Rule { id: Uuid::now_v7(), name: rule.name.trim().to_owned(), position, active: rule.active, definition: rule.definition.clone(), updated_by, created_at: at, updated_at: at };
                    sqlx::query(
                        "INSERT INTO automation_rules (id, tenant_id, name, position, active, definition, updated_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(saved.id)
                    .bind(actor.tenant_id)
                    .bind(&saved.name)
                    .bind(saved.position)
                    .bind(saved.active)
                    .bind(Json(&saved.definition))
                    .bind(updated_by)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a rule with this name exists", ("tenant_id", "no such tenant")))?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "rule.create", "rule", Some(saved.id), None, Some(&saved))).await?;
                    tx.commit().await?;
                    Ok(saved)
                }

                #[tracing::instrument(skip_all)]
                async fn update_rule(&self, actor: Actor, id: Uuid, rule: &RuleSave) -> StoreResult<Rule> {
                    let updated_by = actor.user_id.ok_or(StoreError::Reference { field: "updated_by", message: "rules are saved by a user".into() })?;
                    let mut tx = self.begin_write().await?;
                    let row: Option<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{RULE_SELECT} AND id = $2")))
                        .bind(actor.tenant_id)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let before = row.map(rule_from).ok_or(StoreError::NotFound("rule"))?;
                    let after = Rule {
                        name: rule.name.trim().to_owned(),
                        position: rule.position.unwrap_or(before.position),
                        active: rule.active,
                        definition: rule.definition.clone(),
                        updated_by,
                        updated_at: now(),
                        ..before.clone()
                    };
                    sqlx::query(
                        "UPDATE automation_rules SET name = $3, position = $4, active = $5, definition = $6, updated_by = $7, updated_at = $8 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(&after.name)
                    .bind(after.position)
                    .bind(after.active)
                    .bind(Json(&after.definition))
                    .bind(updated_by)
                    .bind(after.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a rule with this name exists", ("tenant_id", "no such tenant")))?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "rule.update", "rule", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                #[tracing::instrument(skip_all)]
                async fn delete_rule(&self, actor: Actor, id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let removed = sqlx::query("DELETE FROM automation_rules WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if removed == 0 {
                        return Err(StoreError::NotFound("rule"));
                    }
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "rule.delete", "rule", Some(id), None, None::<&Rule>)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(ticket = %ticket.id))]
                async fn record_chain(&self, tenant_id: Uuid, ticket: &Ticket, effects: &ChainEffects) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    Self::record_chain_in(&mut tx, tenant_id, ticket, effects).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(ticket = %write.before.id))]
                async fn write_chain(&self, write: ChainWrite<'_>) -> StoreResult<Option<Ticket>> {
                    let before = write.before;
                    let tenant_id = before.tenant_id;
                    let mut tx = self.begin_write().await?;
                    // The claim first: a second replica waits here for the first
                    // one's transaction and then finds the firing made.
                    if let Some(claim) = write.claim {
                        let claimed = sqlx::query(
                            "INSERT INTO timed_rule_firings (tenant_id, rule_id, ticket_id, anchor, fired_at) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (tenant_id, rule_id, ticket_id, anchor) DO NOTHING",
                        )
                        .bind(tenant_id)
                        .bind(claim.rule_id)
                        .bind(before.id)
                        .bind(audit_time(claim.anchor))
                        .bind(now())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if claimed == 0 {
                            return Ok(None);
                        }
                    }
                    let system = Actor { tenant_id, user_id: None };
                    let ticket = match write.after {
                        Some((after, document)) => Self::update_ticket_in(&mut tx, system, before, after, document).await?,
                        None => before.clone(),
                    };
                    Self::record_chain_in(&mut tx, tenant_id, &ticket, write.effects).await?;
                    for (author, note) in write.notes {
                        let author = Actor { tenant_id, user_id: Some(*author) };
                        Self::add_comment_in(&mut tx, author, ticket.id, note).await?;
                    }
                    tx.commit().await?;
                    Ok(Some(ticket))
                }

                async fn record_auto_dispatch(&self, tenant_id: Uuid, ticket_id: Uuid, outcome: &serde_json::Value) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    audit::append(&mut tx, tenant_id, AuditEvent::new(None, "rule.auto_dispatch", "ticket", Some(ticket_id), None, Some(outcome))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn ticket_channel(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<String> {
                    let row: Option<(String,)> = sqlx::query_as(
                        "SELECT channel FROM intake_messages WHERE tenant_id = $1 AND ticket_id = $2 AND outcome = 'ticket' ORDER BY received_at LIMIT 1",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map_or_else(|| "api".to_owned(), |(channel,)| channel))
                }

                async fn users_with_roles(&self, tenant_id: Uuid, roles: &[Role]) -> StoreResult<Vec<User>> {
                    let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND active ORDER BY id"
                    )))
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let users: Vec<User> = rows.into_iter().map(User::try_from).collect::<StoreResult<_>>()?;
                    Ok(users.into_iter().filter(|u| roles.contains(&u.role)).collect())
                }

                async fn list_notifications(&self, tenant_id: Uuid, user_id: Uuid, unread_only: bool, limit: u32) -> StoreResult<Vec<StaffNotification>> {
                    let unread = if unread_only { " AND read_at IS NULL" } else { "" };
                    let rows: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{NOTIFICATION_SELECT}{unread} ORDER BY id DESC LIMIT $3"
                    )))
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(notification_from).collect())
                }

                async fn mark_notification_read(&self, tenant_id: Uuid, user_id: Uuid, id: Uuid) -> StoreResult<StaffNotification> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("UPDATE staff_notifications SET read_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND id = $3 AND read_at IS NULL")
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(id)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    let row: Option<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{NOTIFICATION_SELECT} AND id = $3")))
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    row.map(notification_from).ok_or(StoreError::NotFound("notification"))
                }
            }
        };
    };
}

pub(crate) use impl_automation_store;
