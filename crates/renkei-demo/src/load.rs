//! A mixed load on the running network, the same for the fault tests and
//! the soak benchmark: linkages between four pairs of institutions (one
//! answered by the registry), the registry's address changes, and private
//! services applying for the consent API at the portal. It keeps every
//! acknowledgement, so a test can check none was lost, and every refusal
//! by its status and code.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use renkei_api::node::{QueryRequest, QueryResult};
use renkei_api::registry::{AddressChange, EventRecorded};
use renkei_transport::{ApiFailure, LocalClient};

use crate::country::Country;
use crate::institutions::{KENPO, PENSION, REGISTRY, SETAGAYA, VEHICLE};

/// Kinds of request, and the role processes each passes through besides
/// the hub (`node/<key>`, `registry`, `portal`).
pub const KINDS: [(&str, &[&str]); 6] = [
    ("pension→setagaya", &["node/pension", "node/setagaya"]),
    ("setagaya→pension", &["node/setagaya", "node/pension"]),
    ("kenpo→setagaya", &["node/kenpo", "node/setagaya"]),
    ("vehicle→registry", &["node/vehicle", "registry"]),
    ("address change", &["registry"]),
    ("client application", &["portal"]),
];

/// Where the load is sent.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Each node's local API, by institution key.
    pub nodes: BTreeMap<&'static str, LocalClient>,
    pub registry_admin: LocalClient,
    pub portal_admin_url: String,
    pub portal_admin_token: String,
}

#[derive(Clone)]
struct Ask {
    kind: &'static str,
    from: &'static str,
    request: QueryRequest,
}

fn asks(country: &Country) -> Vec<Ask> {
    let c = &country.cast;
    let q = |id: &str, provider: String, work: &str, item: &str, fy: Option<u16>| QueryRequest {
        local_id: id.to_owned(),
        provider,
        office_work: work.into(),
        item: item.into(),
        fiscal_year: fy,
        consent: None,
        person_proof: None,
    };
    let tax = "resident_tax_income";
    vec![
        Ask {
            kind: KINDS[0].0,
            from: PENSION.key,
            request: q(
                &c.contributor.0,
                SETAGAYA.id().to_string(),
                "pension_premium_exemption",
                tax,
                Some(2025),
            ),
        },
        Ask {
            kind: KINDS[1].0,
            from: SETAGAYA.key,
            request: q(
                &c.pensioner.0,
                PENSION.id().to_string(),
                "public_assistance",
                "pension_benefits",
                Some(2025),
            ),
        },
        Ask {
            kind: KINDS[2].0,
            from: KENPO.key,
            request: q(
                &c.insured.0,
                SETAGAYA.id().to_string(),
                "high_cost_medical",
                tax,
                Some(2025),
            ),
        },
        Ask {
            kind: KINDS[3].0,
            from: VEHICLE.key,
            request: q(
                &c.driver,
                REGISTRY.id().to_string(),
                "vehicle_registration",
                "four_facts",
                None,
            ),
        },
    ]
}

/// What the load was told.
#[derive(Debug, Default)]
pub struct Tally {
    /// Acknowledged linkages: (query id, the log index the hub gave).
    pub linkages: Mutex<Vec<(String, u64)>>,
    /// Acknowledged registry events by sequence number.
    pub events: Mutex<Vec<u64>>,
    /// Acknowledged API client applications by client id.
    pub clients: Mutex<Vec<String>>,
    /// Refusals and failures, by "kind: status code" (or the transport failure).
    pub failures: Mutex<BTreeMap<String, u64>>,
    /// When each kind last succeeded.
    pub last_ok: Mutex<HashMap<&'static str, Instant>>,
    /// Latencies of successful linkages since the last [`Tally::take_latencies`].
    latencies: Mutex<Vec<Duration>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tally {
    fn ok(&self, kind: &'static str) {
        lock(&self.last_ok).insert(kind, Instant::now());
    }

    fn failed(&self, kind: &str, e: &ApiFailure) {
        let why = match e {
            ApiFailure::Rejected { status, code, .. } => format!("{kind}: {status} {code}"),
            ApiFailure::Connect(_) => format!("{kind}: cannot connect"),
            ApiFailure::Timeout => format!("{kind}: timeout"),
            ApiFailure::Tls(_) => format!("{kind}: TLS"),
            ApiFailure::Protocol(_) => format!("{kind}: unusable answer"),
        };
        *lock(&self.failures).entry(why).or_default() += 1;
    }

    /// Requests acknowledged, of every kind.
    pub fn acknowledged(&self) -> usize {
        lock(&self.linkages).len() + lock(&self.events).len() + lock(&self.clients).len()
    }

    /// Requests refused or failed, of every kind.
    pub fn failed_total(&self) -> u64 {
        lock(&self.failures).values().sum()
    }

    /// A copy of the refusals by cause.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        lock(&self.failures).clone()
    }

    /// Whether `kind` has succeeded at least once.
    pub fn succeeded(&self, kind: &str) -> bool {
        lock(&self.last_ok).contains_key(kind)
    }

    /// When a request of a kind that passes through `role` last succeeded
    /// (`hub`: any kind).
    pub fn last_ok_through(&self, role: &str) -> Option<Instant> {
        let last = lock(&self.last_ok);
        KINDS
            .iter()
            .filter(|(_, roles)| role == "hub" || roles.contains(&role))
            .filter_map(|(k, _)| last.get(k).copied())
            .max()
    }

    /// The linkage latencies since the last call.
    pub fn take_latencies(&self) -> Vec<Duration> {
        std::mem::take(&mut *lock(&self.latencies))
    }
}

/// The load, running until [`Load::stop`].
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub tally: Arc<Tally>,
}

impl Load {
    /// Start `per_pair` workers per pair of institutions, one mover at the
    /// registry and one applicant at the portal.
    pub fn start(targets: &Targets, country: &Country, per_pair: usize) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let mut tasks = Vec::new();
        for ask in asks(country) {
            for _ in 0..per_pair {
                let client = targets
                    .nodes
                    .get(ask.from)
                    .ok_or_else(|| anyhow::anyhow!("no node {}", ask.from))?
                    .clone();
                let (stop, tally, ask) = (stop.clone(), tally.clone(), ask.clone());
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let began = Instant::now();
                        match client
                            .post::<_, QueryResult>("/local/v1/queries", &ask.request)
                            .await
                        {
                            Ok(r) => {
                                lock(&tally.latencies).push(began.elapsed());
                                lock(&tally.linkages).push((r.query_id, r.hub_record_seq));
                                tally.ok(ask.kind);
                            }
                            Err(e) => {
                                tally.failed(ask.kind, &e);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                }));
            }
        }
        let people: Vec<String> = country.my_numbers.iter().take(40).cloned().collect();
        if people.is_empty() {
            anyhow::bail!("the country has no residents to move");
        }
        {
            let admin = targets.registry_admin.clone();
            let (stop, tally) = (stop.clone(), tally.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let change = AddressChange {
                        my_number: people[i % people.len()].clone(),
                        address: format!("東京都世田谷区太子堂{}丁目{}番", 1 + i % 5, i),
                        moved_on: None,
                    };
                    match admin
                        .post::<_, EventRecorded>("/admin/v1/residents/address", &change)
                        .await
                    {
                        Ok(r) => {
                            lock(&tally.events).push(r.event_seq);
                            tally.ok(KINDS[4].0);
                        }
                        Err(e) => tally.failed(KINDS[4].0, &e),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        {
            let http = reqwest::Client::builder().no_proxy().build()?;
            let base = targets.portal_admin_url.clone();
            let token = targets.portal_admin_token.clone();
            let (stop, tally) = (stop.clone(), tally.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    match apply(&http, &base, &token, i).await {
                        Ok(id) => {
                            lock(&tally.clients).push(id);
                            tally.ok(KINDS[5].0);
                        }
                        Err(e) => tally.failed(KINDS[5].0, &e),
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }));
        }
        Ok(Self { stop, tasks, tally })
    }

    /// Stop every worker (each finishes the request it is in).
    pub async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        self.tally
    }
}

/// Apply for the consent API as a private service; the client id the
/// portal acknowledged.
async fn apply(http: &reqwest::Client, base: &str, token: &str, i: u64) -> Result<String, ApiFailure> {
    let key = renkei_jose::SigningKey::generate(renkei_jose::Alg::Es256)
        .map_err(|e| ApiFailure::Protocol(e.to_string()))?;
    let jwks: serde_json::Value = serde_json::from_str(
        &renkei_jose::Jwks {
            keys: vec![key.public_jwk().clone()],
        }
        .to_json(),
    )
    .map_err(|e| ApiFailure::Protocol(e.to_string()))?;
    let form = serde_json::json!({
        "corporate_number": "4010001234567",
        "name": format!("耐障害試験{i}"),
        "name_en": format!("Fault test {i}"),
        "purpose": "家計簿アプリでの所得の表示",
        "redirect_uris": [format!("https://fault{i}.example/callback")],
        "jwks": jwks,
        "items": ["resident_tax_income"],
        "max_data_life_days": 30,
        "contact": "api@fault.example",
    });
    let resp = http
        .post(format!("{base}/admin/v1/clients"))
        .bearer_auth(token)
        .json(&form)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                ApiFailure::Timeout
            } else {
                ApiFailure::Connect(e.to_string())
            }
        })?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| ApiFailure::Protocol(e.to_string()))?;
    match body["client_id"].as_str() {
        Some(id) if status == 201 => Ok(id.to_owned()),
        _ => Err(ApiFailure::Rejected {
            status,
            code: body["error"].as_str().unwrap_or("no client_id").to_owned(),
            message: body.to_string(),
            retryable: false,
            query_id: None,
        }),
    }
}
