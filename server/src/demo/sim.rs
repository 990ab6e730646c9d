//! The demo city's life, one step at a time: tickets arrive, technicians
//! answer offers, drive, check in, finish and wander between jobs. Every
//! action is an HTTP request to the server, signed as the acting user.
//! Time is the caller's: [`Simulation::step`] takes `now` and the step
//! length, so tests drive it without waiting.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{DemoClient, DemoError, DemoWorld, Rng};
use crate::domain::{geo::GeoPoint, people::Role};

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Mean time between new tickets.
    pub ticket_every: Duration,
    pub driving_kmh: f64,
    /// Idle technicians report their position this often.
    pub idle_ping_every: Duration,
    /// An offer is answered this long after it is seen.
    pub answer_after: Duration,
    /// Share of offers accepted (the rest are declined).
    pub accept_share: f64,
    /// Work on site takes between these many minutes.
    pub work_minutes: (i64, i64),
    /// A ticket nobody took is assigned by the dispatcher after this long.
    pub dispatcher_after: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            ticket_every: Duration::seconds(30),
            driving_kmh: 35.0,
            idle_ping_every: Duration::seconds(60),
            answer_after: Duration::seconds(10),
            accept_share: 0.85,
            work_minutes: (15, 45),
            dispatcher_after: Duration::seconds(120),
        }
    }
}

/// What happened so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub tickets_created: u64,
    pub offers_accepted: u64,
    pub offers_declined: u64,
    pub assigned_by_dispatcher: u64,
    pub check_ins: u64,
    pub completed: u64,
    pub pings: u64,
    pub failed_requests: u64,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Accepted; starts driving at the next step.
    Accepted,
    Driving,
    OnSite {
        done_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Job {
    ticket_id: Uuid,
    site: GeoPoint,
    phase: Phase,
}

#[derive(Debug, Clone)]
struct TechState {
    id: Uuid,
    user_id: Uuid,
    home: GeoPoint,
    position: GeoPoint,
    wander_to: GeoPoint,
    next_ping: DateTime<Utc>,
    job: Option<Job>,
}

#[derive(Debug, Clone)]
struct OpenTicket {
    site: GeoPoint,
    /// The pending offer seen, and when.
    offer_seen: Option<(Uuid, DateTime<Utc>)>,
    next_dispatcher_try: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Simulation {
    client: DemoClient,
    world: DemoWorld,
    options: SimOptions,
    rng: Rng,
    techs: Vec<TechState>,
    by_id: HashMap<Uuid, usize>,
    open: HashMap<Uuid, OpenTicket>,
    next_ticket_at: DateTime<Utc>,
    totals: Totals,
}

/// Great-circle-ish distance in km (equirectangular; fine within a city).
fn distance_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let x = (b.lon - a.lon).to_radians() * ((a.lat + b.lat) / 2.0).to_radians().cos();
    let y = (b.lat - a.lat).to_radians();
    6371.0 * (x * x + y * y).sqrt()
}

/// `from` moved up to `km` towards `to`.
fn towards(from: GeoPoint, to: GeoPoint, km: f64) -> GeoPoint {
    let total = distance_km(from, to);
    if total <= km || total == 0.0 {
        return to;
    }
    let f = km / total;
    GeoPoint {
        lat: from.lat + (to.lat - from.lat) * f,
        lon: from.lon + (to.lon - from.lon) * f,
    }
}

impl Simulation {
    pub fn new(
        client: DemoClient,
        world: DemoWorld,
        options: SimOptions,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Self {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let techs: Vec<TechState> = world
            .technicians
            .iter()
            .map(|t| TechState {
                id: t.id,
                user_id: t.user_id,
                home: t.home,
                position: t.home,
                wander_to: rng.near(t.home, 2.0),
                // Spread the first pings over the first interval.
                next_ping: now
                    + Duration::milliseconds(
                        (rng.unit() * options.idle_ping_every.num_milliseconds() as f64) as i64,
                    ),
                job: None,
            })
            .collect();
        let by_id = techs.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        Self {
            client,
            world,
            options,
            rng,
            techs,
            by_id,
            open: HashMap::new(),
            next_ticket_at: now,
            totals: Totals::default(),
        }
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Technicians on a job right now.
    pub fn busy(&self) -> usize {
        self.techs.iter().filter(|t| t.job.is_some()).count()
    }

    fn dispatcher_token(&self) -> Result<String, DemoError> {
        self.client
            .token(self.world.dispatcher_id, Role::Dispatcher)
    }

    /// Advances the city from `now - dt` to `now`.
    pub async fn step(&mut self, now: DateTime<Utc>, dt: Duration) -> Result<Totals, DemoError> {
        self.new_tickets(now).await?;
        self.answer_offers(now).await?;
        self.move_technicians(now, dt).await?;
        Ok(self.totals)
    }

    async fn new_tickets(&mut self, now: DateTime<Utc>) -> Result<(), DemoError> {
        let token = self.dispatcher_token()?;
        while self.next_ticket_at <= now {
            let (site_id, site) = self.world.sites[self.rng.below(self.world.sites.len())];
            let category =
                self.world.categories[self.rng.below(self.world.categories.len())].clone();
            let roll = self.rng.unit();
            let priority = if roll < 0.1 {
                "P1"
            } else if roll < 0.4 {
                "P2"
            } else {
                "P3"
            };
            let what = [
                "not cooling",
                "no power",
                "leaking",
                "noisy",
                "error code E4",
                "won't start",
            ];
            let title = format!("{} {}", category, what[self.rng.below(what.len())]);
            let body = json!({"title": title, "category": category, "priority": priority, "site_id": site_id,
                              "required_skills": [{"skill": category, "level": 1}]});
            match self
                .client
                .call(Method::POST, "/v1/tickets", &token, Some(&body))
                .await?
            {
                (201, ticket) => {
                    if let Some(id) = ticket["id"].as_str().and_then(|s| s.parse().ok()) {
                        self.totals.tickets_created += 1;
                        self.open.insert(
                            id,
                            OpenTicket {
                                site,
                                offer_seen: None,
                                next_dispatcher_try: now + self.options.dispatcher_after,
                            },
                        );
                    }
                }
                _ => self.totals.failed_requests += 1,
            }
            let gap = self.options.ticket_every.num_milliseconds() as f64 * (0.5 + self.rng.unit());
            self.next_ticket_at += Duration::milliseconds(gap.max(1.0) as i64);
        }
        Ok(())
    }

    /// Offered technicians answer; tickets nobody took get a dispatcher.
    async fn answer_offers(&mut self, now: DateTime<Utc>) -> Result<(), DemoError> {
        let token = self.dispatcher_token()?;
        let ids: Vec<Uuid> = self.open.keys().copied().collect();
        for ticket_id in ids {
            let (status, offers) = self
                .client
                .call(
                    Method::GET,
                    &format!("/v1/tickets/{ticket_id}/offers"),
                    &token,
                    None,
                )
                .await?;
            if status != 200 {
                self.totals.failed_requests += 1;
                continue;
            }
            let pending = offers
                .as_array()
                .and_then(|list| list.iter().find(|o| o["state"] == "pending").cloned());
            let Some(open) = self.open.get(&ticket_id).cloned() else {
                continue;
            };
            match pending {
                Some(offer) => {
                    let (Some(offer_id), Some(tech_id)) =
                        (uuid(&offer["id"]), uuid(&offer["technician_id"]))
                    else {
                        continue;
                    };
                    match open.offer_seen {
                        Some((seen, at))
                            if seen == offer_id && now - at >= self.options.answer_after =>
                        {
                            self.answer(ticket_id, offer_id, tech_id, open.site).await?;
                        }
                        Some((seen, _)) if seen == offer_id => {}
                        _ => {
                            if let Some(entry) = self.open.get_mut(&ticket_id) {
                                entry.offer_seen = Some((offer_id, now));
                            }
                        }
                    }
                }
                None if now >= open.next_dispatcher_try => {
                    self.dispatcher_assigns(ticket_id, open.site, &token)
                        .await?;
                    if let Some(entry) = self.open.get_mut(&ticket_id) {
                        entry.next_dispatcher_try = now + self.options.dispatcher_after;
                    }
                }
                None => {}
            }
        }
        Ok(())
    }

    async fn answer(
        &mut self,
        ticket_id: Uuid,
        offer_id: Uuid,
        tech_id: Uuid,
        site: GeoPoint,
    ) -> Result<(), DemoError> {
        let Some(&index) = self.by_id.get(&tech_id) else {
            return Ok(());
        };
        let token = self
            .client
            .token(self.techs[index].user_id, Role::Technician)?;
        let accept = self.techs[index].job.is_none() && self.rng.unit() < self.options.accept_share;
        let (path, body) = if accept {
            (format!("/v1/offers/{offer_id}/accept"), None)
        } else {
            (
                format!("/v1/offers/{offer_id}/decline"),
                Some(json!({"reason": "on another job"})),
            )
        };
        match self
            .client
            .call(Method::POST, &path, &token, body.as_ref())
            .await?
            .0
        {
            200 if accept => {
                self.totals.offers_accepted += 1;
                self.techs[index].job = Some(Job {
                    ticket_id,
                    site,
                    phase: Phase::Accepted,
                });
                self.open.remove(&ticket_id);
            }
            200 => self.totals.offers_declined += 1,
            // Expired or withdrawn meanwhile: look again next step.
            _ => self.totals.failed_requests += 1,
        }
        Ok(())
    }

    async fn dispatcher_assigns(
        &mut self,
        ticket_id: Uuid,
        site: GeoPoint,
        token: &str,
    ) -> Result<(), DemoError> {
        let (status, ticket) = self
            .client
            .call(
                Method::POST,
                &format!("/v1/tickets/{ticket_id}/assign"),
                token,
                Some(&json!({"best": true})),
            )
            .await?;
        if status != 200 {
            // Nobody available now; the dispatcher tries again later.
            return Ok(());
        }
        let Some(index) = uuid(&ticket["assignee_id"]).and_then(|id| self.by_id.get(&id).copied())
        else {
            return Ok(());
        };
        let tech_token = self
            .client
            .token(self.techs[index].user_id, Role::Technician)?;
        let accepted = self
            .client
            .call(
                Method::PATCH,
                &format!("/v1/tickets/{ticket_id}"),
                &tech_token,
                Some(&json!({"status": "accepted"})),
            )
            .await?;
        self.open.remove(&ticket_id);
        self.totals.assigned_by_dispatcher += 1;
        if accepted.0 == 200 && self.techs[index].job.is_none() {
            self.techs[index].job = Some(Job {
                ticket_id,
                site,
                phase: Phase::Accepted,
            });
        }
        Ok(())
    }

    async fn move_technicians(
        &mut self,
        now: DateTime<Utc>,
        dt: Duration,
    ) -> Result<(), DemoError> {
        let hours = dt.num_milliseconds() as f64 / 3_600_000.0;
        let drive_km = self.options.driving_kmh * hours;
        let work = self.options.work_minutes;
        let idle_every = self.options.idle_ping_every;
        // Decide first (the generator is not shared across tasks) ...
        let mut plans = Vec::with_capacity(self.techs.len());
        for tech in &mut self.techs {
            let work_minutes = work.0 + (self.rng.unit() * (work.1 - work.0) as f64) as i64;
            if tech.job.is_none() && distance_km(tech.position, tech.wander_to) < 0.05 {
                tech.wander_to = self.rng.near(tech.home, 2.0);
            }
            plans.push(Duration::minutes(work_minutes));
        }
        // ... then act, a few dozen technicians at a time.
        let client = &self.client;
        let mut outcomes = Vec::with_capacity(self.techs.len());
        for (chunk, plans) in self.techs.chunks_mut(32).zip(plans.chunks(32)) {
            let steps = chunk
                .iter_mut()
                .zip(plans)
                .map(|(tech, work)| tech_step(client, tech, now, drive_km, *work, idle_every));
            outcomes.extend(join_all(steps).await);
        }
        for outcome in outcomes {
            let outcome = outcome?;
            self.totals.pings += outcome.pings;
            self.totals.check_ins += outcome.check_ins;
            self.totals.completed += outcome.completed;
            self.totals.failed_requests += outcome.failed;
        }
        Ok(())
    }
}

fn uuid(value: &Value) -> Option<Uuid> {
    value.as_str().and_then(|s| s.parse().ok())
}

#[derive(Debug, Default)]
struct Outcome {
    pings: u64,
    check_ins: u64,
    completed: u64,
    failed: u64,
}

async fn tech_step(
    client: &DemoClient,
    tech: &mut TechState,
    now: DateTime<Utc>,
    drive_km: f64,
    work: Duration,
    idle_every: Duration,
) -> Result<Outcome, DemoError> {
    let mut outcome = Outcome::default();
    let token = client.token(tech.user_id, Role::Technician)?;
    let status = |ticket_id: Uuid, body: Value| {
        let token = token.clone();
        async move {
            client
                .call(
                    Method::PATCH,
                    &format!("/v1/tickets/{ticket_id}"),
                    &token,
                    Some(&body),
                )
                .await
                .map(|(status, _)| status == 200)
        }
    };
    let mut moved = false;
    match tech.job {
        Some(Job {
            ticket_id,
            phase: Phase::Accepted,
            site,
        }) => {
            if status(ticket_id, json!({"status": "en_route"})).await? {
                tech.job = Some(Job {
                    ticket_id,
                    site,
                    phase: Phase::Driving,
                });
            } else {
                outcome.failed += 1;
                tech.job = None;
            }
        }
        Some(Job {
            ticket_id,
            phase: Phase::Driving,
            site,
        }) => {
            tech.position = towards(tech.position, site, drive_km);
            moved = true;
            if distance_km(tech.position, site) < 0.03 {
                let body = json!({"status": "on_site",
                                  "position": {"lat": tech.position.lat, "lon": tech.position.lon, "accuracy_m": 8.0}});
                if status(ticket_id, body).await? {
                    outcome.check_ins += 1;
                    tech.job = Some(Job {
                        ticket_id,
                        site,
                        phase: Phase::OnSite {
                            done_at: now + work,
                        },
                    });
                } else {
                    outcome.failed += 1;
                    tech.job = None;
                }
            }
        }
        Some(Job {
            ticket_id,
            phase: Phase::OnSite { done_at },
            ..
        }) if now >= done_at => {
            let done = status(ticket_id, json!({"status": "work_done"})).await?
                && status(ticket_id, json!({"status": "closed"})).await?;
            if done {
                outcome.completed += 1;
            } else {
                outcome.failed += 1;
            }
            tech.job = None;
        }
        Some(_) => {}
        None => {
            // Between jobs: drift slowly around the home area.
            tech.position = towards(tech.position, tech.wander_to, drive_km / 3.0);
            moved = now >= tech.next_ping;
        }
    }
    if moved {
        tech.next_ping = now + idle_every;
        let fix = tech.position;
        let body = json!({"pings": [{"device_time": Utc::now(), "lat": fix.lat, "lon": fix.lon, "accuracy_m": 8.0}]});
        match client
            .call(Method::POST, "/v1/me/locations", &token, Some(&body))
            .await?
            .0
        {
            200 => outcome.pings += 1,
            _ => outcome.failed += 1,
        }
    }
    Ok(outcome)
}
