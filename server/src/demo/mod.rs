//! `truckroll demo`: a tenant in a real city with a dispatcher, a manager and
//! a few hundred technicians, and a [`sim::Simulation`] that keeps the map
//! alive — tickets arrive, technicians accept offers, drive, check in and
//! finish — all through the public HTTP API, as real phones would.

pub mod sim;

use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    auth::{password, tokens::TokenService},
    domain::{
        geo::GeoPoint,
        people::{NewUser, Role},
    },
    store::{Actor, PageRequest, Store},
};

/// Every demo user signs in with this password.
pub const DEMO_PASSWORD: &str = "demo-password-2026";

/// Berlin's centre (Alexanderplatz): the demo city.
pub const BERLIN: GeoPoint = GeoPoint {
    lat: 52.5219,
    lon: 13.4132,
};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub tenant: String,
    pub technicians: usize,
    pub sites: usize,
    /// Seeds the random choices, so a run can be repeated.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            tenant: "demo".into(),
            technicians: 300,
            sites: 80,
            seed: 2026,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("demo request {what}: {detail}")]
    Api { what: String, detail: String },
    #[error("demo: {0}")]
    Invalid(String),
}

/// A seeded technician, as the simulation drives it.
#[derive(Debug, Clone)]
pub struct DemoTechnician {
    pub id: Uuid,
    pub user_id: Uuid,
    pub home: GeoPoint,
}

/// What [`seed`] made (or found, when the tenant already existed).
#[derive(Debug, Clone)]
pub struct DemoWorld {
    pub tenant_id: Uuid,
    pub tenant: String,
    pub admin_id: Uuid,
    pub dispatcher_id: Uuid,
    pub dispatcher_email: String,
    pub manager_email: String,
    pub technicians: Vec<DemoTechnician>,
    /// Site id and position.
    pub sites: Vec<(Uuid, GeoPoint)>,
    pub categories: Vec<String>,
}

pub const CATEGORIES: [&str; 3] = ["hvac", "electrical", "plumbing"];

/// A small deterministic generator (xorshift64*): the demo needs no
/// cryptographic randomness and no extra dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// A point within `radius_km` of `center`, denser towards the middle.
    pub fn near(&mut self, center: GeoPoint, radius_km: f64) -> GeoPoint {
        let distance = radius_km * self.unit().sqrt();
        let bearing = self.unit() * std::f64::consts::TAU;
        offset(center, distance * bearing.cos(), distance * bearing.sin())
    }
}

/// `center` moved `north_km` and `east_km` (flat-earth, fine within a city).
pub fn offset(center: GeoPoint, north_km: f64, east_km: f64) -> GeoPoint {
    GeoPoint {
        lat: center.lat + north_km / 111.32,
        lon: center.lon + east_km / (111.32 * center.lat.to_radians().cos()),
    }
}

const STREETS: [&str; 8] = [
    "Karl-Marx-Allee",
    "Friedrichstraße",
    "Torstraße",
    "Kastanienallee",
    "Oranienstraße",
    "Sonnenallee",
    "Kantstraße",
    "Schönhauser Allee",
];
const FIRST: [&str; 10] = [
    "Ada", "Ben", "Cem", "Dana", "Emil", "Fatma", "Greta", "Hugo", "Ines", "Jonas",
];
const LAST: [&str; 10] = [
    "Schulz", "Yilmaz", "Nowak", "Weber", "Kaya", "Fischer", "Berg", "Lange", "Arslan", "Wolf",
];

/// An HTTP client for the demo's own server, signing as demo users.
#[derive(Debug, Clone)]
pub struct DemoClient {
    pub http: reqwest::Client,
    pub base: String,
    /// The server's own token service.
    pub tokens: Arc<TokenService>,
    pub tenant_id: Uuid,
}

impl DemoClient {
    /// An access token for `user` (minted by the server's own token service,
    /// so the demo spends no password hashing per technician).
    pub fn token(&self, user_id: Uuid, role: Role) -> Result<String, DemoError> {
        Ok(self.tokens.issue_access(user_id, self.tenant_id, role)?)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), DemoError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| DemoError::Api {
            what: path.to_owned(),
            detail: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let value = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// A call that must succeed.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value, DemoError> {
        let (status, value) = self.call(method, path, token, body).await?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(DemoError::Api {
                what: path.to_owned(),
                detail: format!("{status}: {value}"),
            })
        }
    }
}

fn id_of(value: &Value) -> Result<Uuid, DemoError> {
    value["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| DemoError::Invalid(format!("no id in {value}")))
}

/// Creates the demo tenant and its people, sites, categories and policies,
/// or finds them when the tenant exists already.
pub async fn seed(
    store: &dyn Store,
    tokens: Arc<TokenService>,
    base_url: &str,
    options: &DemoOptions,
) -> Result<(DemoWorld, DemoClient), DemoError> {
    if options.technicians == 0 || options.sites == 0 {
        return Err(DemoError::Invalid(
            "needs at least one technician and one site".into(),
        ));
    }
    let hash = password::hash(DEMO_PASSWORD.to_owned()).await?;
    let dispatcher_email = format!("dispatcher@{}.demo", options.tenant);
    let manager_email = format!("manager@{}.demo", options.tenant);
    let fresh = store.tenant_by_name(&options.tenant).await?.is_none();
    let (tenant, admin) = match store.tenant_by_name(&options.tenant).await? {
        Some(tenant) => {
            let users = store
                .list_users(
                    tenant.id,
                    PageRequest {
                        limit: 200,
                        after: None,
                    },
                )
                .await?;
            let admin = users
                .items
                .into_iter()
                .find(|u| u.role == Role::Admin)
                .ok_or_else(|| DemoError::Invalid("the demo tenant has no admin".into()))?;
            (tenant, admin)
        }
        None => {
            let admin = NewUser {
                email: format!("admin@{}.demo", options.tenant),
                name: "Demo Admin".into(),
                role: Role::Admin,
                password: DEMO_PASSWORD.into(),
            };
            store.create_tenant(&options.tenant, &admin, &hash).await?
        }
    };
    let client = DemoClient {
        http: reqwest::Client::new(),
        base: base_url.trim_end_matches('/').to_owned(),
        tokens,
        tenant_id: tenant.id,
    };
    if !fresh {
        let world = existing_world(store, &client, &tenant.name, admin.id).await?;
        return Ok((world, client));
    }
    let actor = Actor {
        tenant_id: tenant.id,
        user_id: Some(admin.id),
    };
    let admin_token = client.token(admin.id, Role::Admin)?;
    let post = |path: &'static str, body: Value| {
        let (client, token) = (&client, &admin_token);
        async move {
            client
                .ok(reqwest::Method::POST, path, token, Some(&body))
                .await
        }
    };
    let user = |email: String, name: String, role: Role| NewUser {
        email,
        name,
        role,
        password: DEMO_PASSWORD.into(),
    };
    let dispatcher = store
        .create_user(
            actor,
            &user(
                dispatcher_email.clone(),
                "Dana Dispatcher".into(),
                Role::Dispatcher,
            ),
            &hash,
        )
        .await?;
    store
        .create_user(
            actor,
            &user(manager_email.clone(), "Max Manager".into(), Role::Manager),
            &hash,
        )
        .await?;

    for category in CATEGORIES {
        post("/v1/categories", json!({"name": category})).await?;
        client
            .ok(
                reqwest::Method::PUT,
                &format!("/v1/dispatch/policies/{category}"),
                &admin_token,
                Some(&json!({"mode": "offer_in_turn", "top_n": 3})),
            )
            .await?;
    }
    for (name, priority, targets) in [
        (
            "P1 emergency",
            "P1",
            json!({"response_minutes": 15, "arrival_minutes": 60, "resolution_minutes": 240}),
        ),
        (
            "P2 urgent",
            "P2",
            json!({"response_minutes": 30, "arrival_minutes": 180, "resolution_minutes": 480}),
        ),
        (
            "P3 standard",
            "P3",
            json!({"response_minutes": 120, "arrival_minutes": 480, "resolution_minutes": 1440}),
        ),
    ] {
        post(
            "/v1/sla/policies",
            json!({"name": name, "match": {"priority": priority}, "targets": targets}),
        )
        .await?;
    }

    let mut rng = Rng::new(options.seed);
    let mut sites = Vec::with_capacity(options.sites);
    for i in 0..options.sites {
        let tier = ["standard", "standard", "silver", "gold"][i % 4];
        let customer = post(
            "/v1/customers",
            json!({"name": format!("Customer {}", i + 1), "tier": tier}),
        )
        .await?;
        let location = rng.near(BERLIN, 12.0);
        let site = post(
            "/v1/sites",
            json!({"customer_id": id_of(&customer)?, "name": format!("Site {}", i + 1),
                   "address": format!("{} {}, Berlin", STREETS[i % STREETS.len()], 1 + rng.below(180)),
                   "location": location}),
        )
        .await?;
        sites.push((id_of(&site)?, location));
    }

    let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "00:00", "end": "00:00"}))
        .collect();
    let mut technicians = Vec::with_capacity(options.technicians);
    for i in 0..options.technicians {
        let name = format!(
            "{} {}",
            FIRST[i % FIRST.len()],
            LAST[(i / FIRST.len()) % LAST.len()]
        );
        let account = store
            .create_user(
                actor,
                &user(
                    format!("tech{}@{}.demo", i + 1, options.tenant),
                    name.clone(),
                    Role::Technician,
                ),
                &hash,
            )
            .await?;
        // Everyone has one trade at 2–3 and the others at 1 or not at all.
        let main = i % CATEGORIES.len();
        let skills: Vec<Value> = CATEGORIES
            .iter()
            .enumerate()
            .filter_map(|(k, skill)| {
                let level = if k == main {
                    2 + rng.below(2)
                } else {
                    rng.below(2)
                };
                (level > 0).then(|| json!({"skill": skill, "level": level}))
            })
            .collect();
        let home = rng.near(BERLIN, 15.0);
        let created = post(
            "/v1/technicians",
            json!({"user_id": account.id, "name": name, "time_zone": "Europe/Berlin", "shifts": shifts,
                   "skills": skills, "home_base": home, "capacity": 2}),
        )
        .await?;
        technicians.push(DemoTechnician {
            id: id_of(&created)?,
            user_id: account.id,
            home,
        });
    }
    Ok((
        DemoWorld {
            tenant_id: tenant.id,
            tenant: tenant.name,
            admin_id: admin.id,
            dispatcher_id: dispatcher.id,
            dispatcher_email,
            manager_email,
            technicians,
            sites,
            categories: CATEGORIES.iter().map(|c| (*c).to_owned()).collect(),
        },
        client,
    ))
}

/// The world of a demo tenant seeded by an earlier run.
async fn existing_world(
    store: &dyn Store,
    client: &DemoClient,
    tenant: &str,
    admin_id: Uuid,
) -> Result<DemoWorld, DemoError> {
    let tenant_id = client.tenant_id;
    let mut users = Vec::new();
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let found = store.list_users(tenant_id, page).await?;
        users.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let find = |role: Role| users.iter().find(|u| u.role == role).cloned();
    let dispatcher = find(Role::Dispatcher)
        .ok_or_else(|| DemoError::Invalid("the demo tenant has no dispatcher".into()))?;
    let manager = find(Role::Manager)
        .ok_or_else(|| DemoError::Invalid("the demo tenant has no manager".into()))?;
    let mut technicians = Vec::new();
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let found = store.list_technicians(tenant_id, page).await?;
        technicians.extend(found.items.into_iter().map(|t| DemoTechnician {
            id: t.id,
            user_id: t.user_id,
            home: t.home_base.unwrap_or(BERLIN),
        }));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let mut sites = Vec::new();
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let found = store.list_sites(tenant_id, page).await?;
        sites.extend(found.items.into_iter().map(|s| (s.id, s.location)));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    if technicians.is_empty() || sites.is_empty() {
        return Err(DemoError::Invalid(format!(
            "tenant `{tenant}` exists but is not a demo tenant; choose another --tenant"
        )));
    }
    Ok(DemoWorld {
        tenant_id,
        tenant: tenant.to_owned(),
        admin_id,
        dispatcher_id: dispatcher.id,
        dispatcher_email: dispatcher.email,
        manager_email: manager.email,
        technicians,
        sites,
        categories: CATEGORIES.iter().map(|c| (*c).to_owned()).collect(),
    })
}
