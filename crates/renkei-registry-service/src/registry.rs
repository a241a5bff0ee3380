//! The registry role over HTTP: code issuance for institutions and the
//! four facts for the hub on the mutual-TLS listener; resident registration
//! and changes on the admin listener.

use renkei_api::node::MAX_ENROL_BATCH;
use renkei_api::registry::{
    AddressChange, DeathReport, EventRecorded, EventWire, FillResult, MAX_REGISTRATION_BATCH,
    RegisterRequest, RegisterResult, RegistryHealth,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use renkei_catalog::KindCode;
use renkei_crypto::{Suite, b64};
use renkei_ids::{
    AcquisitionNumber, Address, BirthDate, CorporateNumber, FourFacts, KanaName, LinkId, LocalPersonId,
    MyNumber, PersonName, Sex,
};
use renkei_node::NodeIdentity;
use renkei_outbox::{OutboxSettings, RegistryEvents, Relay, RelayWaker};
use renkei_pki::Role;
use renkei_protocol::{AnswerPayload, CodeDelivery, UnixMillis};
use renkei_registry::{
    CodeRequestEntry, HouseholdId, IssuanceRefusal, MismatchPolicy, MismatchThrottle, Municipality,
    MunicipalityDirectory, NewResident, RESIDENCE_ITEM, RegistryStore, ResidentEvent, StatedFacts, Throttled,
    check_identity, four_facts_value, residence_value,
};
use serde::{Deserialize, Serialize};

use crate::card::{CardService, CardSettings};
use renkei_api::net::{
    CodeDeliveryWire, CodeIssueEntryWire, CodeIssueWire, CodeRequestWire, CodeResponseWire, RefusalWire,
    STATUTORY_FILING_BASIS, SignedAnswerWire, SignedForwardWire,
};
use renkei_transport::{ApiError, JsonBody, QueryParams, SetupError};
use renkei_transport::{Expect, NetClient};
use renkei_transport::{Peer, require_peer};
use renkei_transport::{RoleListeners, RunningServer, TrustState, serve_role, serve_tls_limited};
use renkei_transport::{
    TlsFiles, default_crl_poll_secs, default_skew_secs, default_timeout_ms, load_sealing_key,
    load_signing_key, load_verifying_key, require_token,
};

const CODES_BODY_LIMIT: usize = 1024 * 1024;
const PROVIDE_BODY_LIMIT: usize = 64 * 1024;

/// Configuration of `renkei registry serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// The registry's own corporate number (it is an institution too: it
    /// provides the four facts).
    pub institution: CorporateNumber,
    pub name: String,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls: TlsFiles,
    #[serde(default)]
    pub suite: Suite,
    pub signing_key: PathBuf,
    pub sealing_key: PathBuf,
    pub hub_url: String,
    pub hub_signing_key: PathBuf,
    pub admin_token: PathBuf,
    #[serde(default = "default_skew_secs")]
    pub max_skew_secs: u64,
    #[serde(default = "default_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default = "default_crl_poll_secs")]
    pub crl_poll_secs: u64,
    /// The data key file (0600, `renkei-data-key-v1`): with it the store
    /// seals personal data at rest; a store made with a key opens only
    /// with it. Read where the store is opened (`renkei … serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<PathBuf>,
    /// Deadlines and connection caps of every listener of this role.
    #[serde(default)]
    pub limits: renkei_transport::ListenerLimits,
    /// The card CA; without it the registry issues no cards.
    #[serde(default)]
    pub cards: Option<CardSettings>,
    /// `[outbox]`: relay the change events to NATS JetStream for fan-out
    /// at scale. Without it there is no relay and nothing needs NATS.
    #[serde(default)]
    pub outbox: Option<OutboxSettings>,
    /// How many identity mismatches each institution gets answered.
    #[serde(default)]
    pub identity_mismatches: MismatchLimit,
    /// `[[municipalities]]`: the municipalities addresses belong to (by
    /// prefix), for the `residence_on_january_1` item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub municipalities: Vec<Municipality>,
    /// The institutions (the tax agency) that may ask for codes on a
    /// statutory filing's basis: My Number with name and date of birth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statutory_filers: Vec<CorporateNumber>,
}

/// Identity mismatches (an unknown My Number, facts that differ) answered
/// per institution: a token bucket. Beyond it the registry checks nothing
/// more for that institution — the answers would be an oracle on the
/// register — and says when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MismatchLimit {
    /// Answered back to back before throttling starts.
    pub burst: u32,
    /// Answered per minute in the long run.
    pub per_minute: u32,
}

impl Default for MismatchLimit {
    fn default() -> Self {
        let p = MismatchPolicy::default();
        Self {
            burst: p.burst,
            per_minute: p.per_minute,
        }
    }
}

pub(crate) struct RegistryState<S> {
    /// The provider's half (the registry answers `four_facts`); holds the
    /// registry's identity and keys.
    pub(crate) provider: renkei_provider::Provider,
    pub(crate) store: S,
    client: Arc<NetClient>,
    hub_url: String,
    pub(crate) cards: Option<Arc<CardService>>,
    /// Wakes the outbox relay, if there is one, when an event is recorded.
    outbox: Option<RelayWaker>,
    /// Identity mismatches answered per institution.
    mismatches: MismatchThrottle,
    municipalities: MunicipalityDirectory,
    statutory_filers: Vec<CorporateNumber>,
}

/// A started registry.
#[derive(Debug)]
pub struct RunningRegistry {
    pub network: RunningServer,
    pub admin: RunningServer,
    /// The card CA's certificates and CRLs, if cards are configured.
    pub cards: Option<RunningServer>,
    pub trust: Arc<TrustState>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningRegistry {
    pub async fn shutdown(self, grace: Duration) {
        for t in &self.tasks {
            t.abort();
        }
        self.network.shutdown(grace).await;
        self.admin.shutdown(grace).await;
        if let Some(c) = self.cards {
            c.shutdown(grace).await;
        }
    }
}

pub async fn start_registry<S: RegistryStore + Clone>(
    settings: &RegistrySettings,
    store: S,
) -> Result<RunningRegistry, SetupError> {
    renkei_transport::install_metrics();
    // A bad `[outbox]` is refused before anything starts; NATS itself is
    // not contacted here (the relay retries until it is there).
    let relay = settings
        .outbox
        .as_ref()
        .map(|o| Relay::new(o, settings.institution.to_string(), RegistryEvents(store.clone())))
        .transpose()
        .map_err(|e| SetupError::config("the registry's settings", e))?;
    let identity = NodeIdentity {
        institution: settings.institution,
        name: settings.name.clone(),
        kind: KindCode::parse("registry").map_err(|e| SetupError::config("kind", e))?,
        signing: load_signing_key(&settings.signing_key, settings.suite)?,
        sealing: load_sealing_key(&settings.sealing_key, settings.suite)?,
        certificate: Vec::new(),
    };
    if settings.identity_mismatches.burst == 0 || settings.identity_mismatches.per_minute == 0 {
        return Err(SetupError::config(
            "identity_mismatches",
            "burst and per_minute must be greater than 0",
        ));
    }
    let municipalities = MunicipalityDirectory::new(settings.municipalities.clone())
        .map_err(|e| SetupError::config("municipalities", e))?;
    let hub_key = load_verifying_key(&settings.hub_signing_key, settings.suite)?;
    let token = renkei_transport::read_admin_token(&settings.admin_token)?;
    let (tls_identity, anchors) = settings.tls.load()?;
    let cert = tls_identity.certificate().identity;
    if cert.role != Role::Registry || cert.institution != Some(settings.institution) {
        return Err(SetupError::config(
            settings.tls.cert.display().to_string(),
            format!(
                "is not a registry certificate of institution {}",
                settings.institution
            ),
        ));
    }
    let identity =
        renkei_provider::certified_identity(&tls_identity, &settings.tls.cert, settings.suite, identity)?;
    let trust = TrustState::new(tls_identity, anchors);
    let provider = renkei_provider::Provider::new(
        identity,
        hub_key,
        trust.clone(),
        settings.suite,
        settings.max_skew_secs as i64 * 1000,
    );
    provider.seed(store.recent_provided(provider.seed_since()).await?);
    let cards = settings
        .cards
        .as_ref()
        .map(CardService::load)
        .transpose()?
        .map(Arc::new);
    let state = Arc::new(RegistryState {
        provider,
        store,
        client: trust.client(Duration::from_millis(settings.request_timeout_ms))?,
        hub_url: settings.hub_url.trim_end_matches('/').to_owned(),
        cards: cards.clone(),
        outbox: relay.as_ref().map(Relay::waker),
        mismatches: MismatchThrottle::new(MismatchPolicy {
            burst: settings.identity_mismatches.burst,
            per_minute: settings.identity_mismatches.per_minute,
        }),
        municipalities,
        statutory_filers: settings.statutory_filers.clone(),
    });
    // The card listener first: its address goes into the certificates.
    let cards_server = match (&settings.cards, &cards) {
        (Some(cs), Some(svc)) => {
            let server = serve_tls_limited(
                cs.listen,
                crate::card::public_router(state.clone()),
                trust.server_config(renkei_pki::ClientAuth::None)?,
                &settings.limits,
            )
            .await
            .map_err(|source| SetupError::Listen {
                addr: cs.listen,
                source,
            })?;
            svc.set_bound_url(server.addr);
            Some(server)
        }
        _ => None,
    };

    let network = Router::new()
        .route(
            "/v1/codes",
            post(codes::<S>).layer(DefaultBodyLimit::max(CODES_BODY_LIMIT)),
        )
        .route(
            "/v1/provide",
            post(provide::<S>).layer(DefaultBodyLimit::max(PROVIDE_BODY_LIMIT)),
        )
        .route("/health", get(health::<S>))
        .merge(crate::card::network_routes::<S>())
        .layer(middleware::from_fn_with_state(trust.clone(), require_peer))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("registry", r, n)
        }))
        .with_state(state.clone());
    let admin = Router::new()
        .route("/admin/v1/residents", post(register::<S>))
        .route("/admin/v1/residents/address", post(change_address::<S>))
        .route("/admin/v1/residents/death", post(record_death::<S>))
        .route("/admin/v1/events", get(events::<S>))
        .route("/admin/v1/own-codes/fill", post(fill_own_codes_now::<S>))
        .route("/admin/v1/own-codes/refresh", post(refresh_own_codes::<S>))
        .merge(crate::card::admin_routes::<S>())
        .layer(middleware::from_fn_with_state(token, require_token))
        .route("/health", get(health::<S>))
        .route("/metrics", get(renkei_transport::render_metrics))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("registry-admin", r, n)
        }))
        .with_state(state.clone());

    let RoleListeners {
        network,
        operator: admin,
        crl_task,
    } = serve_role(
        &trust,
        &settings.tls,
        settings.crl_poll_secs,
        &settings.limits,
        (settings.listen, network),
        (settings.admin_listen, admin),
    )
    .await?;
    // Residents registered while the hub was unreachable get their own
    // codes later.
    let filler = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            if let Err(e) = fill_own_codes(&state).await {
                tracing::warn!(error = %e, "cannot obtain the registry's own codes yet; will retry");
            }
        }
    });
    let mut tasks = vec![crl_task, filler];
    if let Some(relay) = relay {
        tasks.push(relay.spawn().into_task());
    }
    tracing::info!(network = %network.addr, admin = %admin.addr, cards = ?cards_server.as_ref().map(|c| c.addr), "registry started");
    Ok(RunningRegistry {
        network,
        admin,
        cards: cards_server,
        trust,
        tasks,
    })
}

/// Ask the hub's code service for codes, sealed to `institution`.
pub(crate) async fn request_codes<S>(
    st: &RegistryState<S>,
    institution: CorporateNumber,
    entries: &[(AcquisitionNumber, LinkId)],
) -> Result<CodeDeliveryWire, ApiError> {
    request_codes_with_proof(st, institution, entries, None).await
}

/// [`request_codes`], and for a person whose card the registry has just
/// verified, a person proof for the institution.
pub(crate) async fn request_codes_with_proof<S>(
    st: &RegistryState<S>,
    institution: CorporateNumber,
    entries: &[(AcquisitionNumber, LinkId)],
    proof: Option<renkei_api::net::ProofIssueWire>,
) -> Result<CodeDeliveryWire, ApiError> {
    let body = CodeIssueWire {
        proof,
        institution: institution.to_string(),
        entries: entries
            .iter()
            .map(|(a, l)| CodeIssueEntryWire {
                acquisition_number: a.to_string(),
                link_id: b64(l.as_bytes()),
            })
            .collect(),
    };
    st.client
        .post(
            &format!("{}/v1/code-service/issue", st.hub_url),
            &body,
            Expect::Role(Role::Hub),
            None,
        )
        .await
        .map_err(|f| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "code_service_unavailable",
                format!("the hub's code service failed: {f}"),
            )
            .retryable(true)
        })
}

/// Obtain the registry's own codes for `links` from the code service.
async fn issue_own_codes<S: RegistryStore>(
    st: &RegistryState<S>,
    links: &[LinkId],
) -> Result<usize, ApiError> {
    let entries: Vec<_> = links.iter().map(|l| (AcquisitionNumber::random(), *l)).collect();
    let wire = request_codes(st, st.provider.identity.institution, &entries).await?;
    let delivery = CodeDelivery::try_from(&wire).map_err(|e| ApiError::internal("own codes", e))?;
    let acqs: Vec<_> = entries.iter().map(|(a, _)| *a).collect();
    let codes = delivery
        .open(&st.provider.identity.sealing, &acqs)
        .map_err(|e| ApiError::internal("own codes", e))?;
    let by_acq: HashMap<_, _> = entries.into_iter().collect();
    let pairs: Vec<_> = codes
        .into_iter()
        .filter_map(|c| by_acq.get(&c.acquisition_number).map(|l| (*l, c.code)))
        .collect();
    let n = pairs.len();
    st.store.set_own_codes(pairs).await?;
    Ok(n)
}

/// Obtain the registry's own codes for residents that lack one.
async fn fill_own_codes<S: RegistryStore>(st: &RegistryState<S>) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let links = st.store.without_own_code(1000).await?;
        if links.is_empty() {
            return Ok(total);
        }
        total += issue_own_codes(st, &links).await?;
    }
}

fn refusal(acq: &str, code: &str, message: impl Into<String>) -> RefusalWire {
    RefusalWire {
        acquisition_number: acq.chars().take(16).collect(),
        code: code.into(),
        message: renkei_transport::scrub(&message.into()),
    }
}

async fn codes<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<CodeRequestWire>,
) -> Result<Json<CodeResponseWire>, ApiError> {
    let institution = peer.institution_as(&[Role::Node])?;
    if body.institution != institution.to_string() {
        return Err(ApiError::forbidden(
            "certificate_mismatch",
            format!(
                "the TLS client certificate is {institution}'s, the request is for {}",
                body.institution
            ),
        ));
    }
    if body.entries.is_empty() || body.entries.len() > MAX_ENROL_BATCH {
        return Err(ApiError::malformed(format!(
            "entries must hold 1 to {MAX_ENROL_BATCH} people"
        )));
    }
    let by_filing = match body.basis.as_deref() {
        None | Some("four_facts") => false,
        Some(STATUTORY_FILING_BASIS) if st.statutory_filers.contains(&institution) => true,
        Some(STATUTORY_FILING_BASIS) => {
            return Err(ApiError::forbidden(
                "basis_not_permitted",
                format!("institution {institution} may not ask for codes on a statutory filing's basis"),
            ));
        }
        Some(other) => {
            return Err(ApiError::malformed(format!(
                "basis: {other:?} is neither four_facts nor statutory_filing"
            )));
        }
    };
    let now = UnixMillis::now();
    // An institution over its mismatches is refused before anything is
    // claimed or checked.
    if let Err(t) = st.mismatches.check(institution, now) {
        return Err(mismatch_throttled(institution, t));
    }
    let mut refused = Vec::new();
    let mut valid = Vec::new();
    for e in &body.entries {
        let parsed = (|| -> Result<CodeRequestEntry, String> {
            let name = PersonName::parse(&e.name).map_err(|x| format!("name: {x}"))?;
            let birth_date = BirthDate::parse(&e.birth_date).map_err(|x| format!("birth_date: {x}"))?;
            let stated = match (by_filing, &e.address, e.sex) {
                (false, Some(address), Some(sex)) => StatedFacts::FourFacts(FourFacts {
                    name,
                    address: Address::parse(address).map_err(|x| format!("address: {x}"))?,
                    birth_date,
                    sex: Sex::from_iso5218(sex).map_err(|x| format!("sex: {x}"))?,
                }),
                (false, _, _) => return Err("address and sex are required on the four-facts basis".into()),
                (true, None, None) => StatedFacts::NameAndBirthDate { name, birth_date },
                (true, _, _) => {
                    return Err("a statutory filing's entry states name and date of birth only".into());
                }
            };
            Ok(CodeRequestEntry {
                acquisition_number: AcquisitionNumber::parse(&e.acquisition_number)
                    .map_err(|x| format!("acquisition_number: {x}"))?,
                my_number: MyNumber::parse(&e.my_number).map_err(|x| format!("my_number: {x}"))?,
                stated,
            })
        })();
        match parsed {
            Ok(p) => valid.push(p),
            Err(m) => refused.push(refusal(&e.acquisition_number, "invalid_input", m)),
        }
    }
    let claimed = st
        .store
        .claim_acquisition_numbers(
            institution,
            valid.iter().map(|v| v.acquisition_number).collect(),
            now,
        )
        .await?;
    let residents = st
        .store
        .by_my_numbers(valid.iter().map(|v| v.my_number.clone()).collect())
        .await?;
    let mut issue = Vec::new();
    for ((entry, fresh), resident) in valid.iter().zip(claimed).zip(residents) {
        if fresh && let Err(t) = st.mismatches.check(institution, now) {
            // Nothing more is checked for this institution now, matches
            // included: a withheld answer beside an issued code would still
            // tell a right guess from a wrong one.
            let e = mismatch_throttled(institution, t);
            metrics::counter!("renkei_registry_code_refusals_total", "code" => "rate_limited").increment(1);
            refused.push(refusal(&entry.acquisition_number.to_string(), &e.code, e.message));
            continue;
        }
        let result = if fresh {
            check_identity(entry, resident.as_ref())
        } else {
            Err(IssuanceRefusal::AcquisitionNumberReused)
        };
        if matches!(
            result,
            Err(IssuanceRefusal::UnknownMyNumber | IssuanceRefusal::FactsDiffer(_))
        ) {
            st.mismatches.take(institution, now);
        }
        match result {
            Ok(link) => issue.push((entry.acquisition_number, link)),
            Err(r) => {
                metrics::counter!("renkei_registry_code_refusals_total", "code" => r.code()).increment(1);
                refused.push(refusal(
                    &entry.acquisition_number.to_string(),
                    r.code(),
                    r.to_string(),
                ));
            }
        }
    }
    let delivery = if issue.is_empty() {
        None
    } else {
        let d = request_codes(&st, institution, &issue).await?;
        if d.institution != institution.to_string() {
            return Err(ApiError::internal(
                "code issuance",
                "the hub sealed codes for another institution",
            ));
        }
        Some(d)
    };
    metrics::counter!("renkei_registry_codes_issued_total").increment(issue.len() as u64);
    tracing::info!(%institution, issued = issue.len(), refused = refused.len(), by_filing, "code issuance");
    Ok(Json(CodeResponseWire {
        delivery,
        issued: issue.iter().map(|(a, _)| a.to_string()).collect(),
        refused,
    }))
}

/// The refusal of an institution over its identity mismatches: retryable,
/// saying when; the first one of a burst raises the alert.
fn mismatch_throttled(institution: renkei_ids::CorporateNumber, t: Throttled) -> ApiError {
    metrics::counter!("renkei_registry_mismatches_throttled_total").increment(1);
    if t.burst_started {
        metrics::counter!("renkei_registry_mismatch_bursts_total").increment(1);
        tracing::warn!(%institution, "identity mismatches over the limit: the registry stops answering this institution's code requests for a while (probing?)");
    }
    let secs = (t.retry_after_ms + 999) / 1000;
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "too many identity mismatches from institution {institution}: nothing more is checked for it now; retry in {secs} s with a new acquisition number"
        ),
    )
    .retryable(true)
}

async fn provide<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<SignedForwardWire>,
) -> Result<Json<SignedAnswerWire>, ApiError> {
    let (forward, requester) = match st.provider.accept(&peer, &body) {
        Ok(accepted) => accepted,
        Err(refusal) => return Err(refusal.recorded(|r| st.store.append_record(r)).await),
    };
    let q = &forward.query;
    if q.request.core.payload.is_some() {
        let refusal = renkei_provider::Refusal::unexpected_payload(&forward);
        return Err(refusal.recorded(|r| st.store.append_record(r)).await);
    }
    let mut resident = st.store.by_own_code(&q.subject).await?;
    for previous in &q.previous_subjects {
        if resident.is_some() {
            break;
        }
        resident = st.store.by_own_code(previous).await?;
    }
    let payload = match &resident {
        Some(r) if q.request.core.item.as_str() == "four_facts" => AnswerPayload::Found {
            value: serde_json::Value::Object(four_facts_value(r)),
            updated_at_ms: r.registered_at.0,
        },
        Some(r) if q.request.core.item.as_str() == RESIDENCE_ITEM => {
            let left = st.store.addresses_left(r.link_id).await?;
            let today = renkei_protocol::date_of(UnixMillis::now());
            match residence_value(r, &left, &st.municipalities, today) {
                Some(value) => AnswerPayload::Found {
                    value,
                    updated_at_ms: r.registered_at.0,
                },
                None => AnswerPayload::NoData,
            }
        }
        _ => AnswerPayload::NoData,
    };
    let answer = st.provider.answer(&forward, &requester, &payload)?;
    // The registry's own record names the resident by the link id (a
    // pseudonym kept in clear anyway), not by the resident record code,
    // which an encrypted registry keeps only sealed.
    let local_id = resident
        .as_ref()
        .and_then(|r| LocalPersonId::parse(&format!("L-{}", b64(r.link_id.as_bytes()))).ok());
    let found = matches!(payload, AnswerPayload::Found { .. });
    let record = renkei_node::provider_record(&forward, local_id, &answer, found);
    st.store.append_record(record).await?;
    Ok(Json((&answer).into()))
}

async fn register<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<Json<RegisterResult>, ApiError> {
    if body.residents.is_empty() || body.residents.len() > MAX_REGISTRATION_BATCH {
        return Err(ApiError::malformed(format!(
            "residents must hold 1 to {MAX_REGISTRATION_BATCH} entries"
        )));
    }
    let mut new = Vec::with_capacity(body.residents.len());
    for (i, r) in body.residents.iter().enumerate() {
        let at = |f: &str, e: &dyn std::fmt::Display| ApiError::malformed(format!("resident {i}, {f}: {e}"));
        new.push(NewResident {
            facts: FourFacts {
                name: PersonName::parse(&r.name).map_err(|e| at("name", &e))?,
                address: Address::parse(&r.address).map_err(|e| at("address", &e))?,
                birth_date: BirthDate::parse(&r.birth_date).map_err(|e| at("birth_date", &e))?,
                sex: Sex::from_iso5218(r.sex).map_err(|e| at("sex", &e))?,
            },
            kana: KanaName::parse(&r.kana).map_err(|e| at("kana", &e))?,
            household: HouseholdId(r.household),
            address_since: r
                .address_since
                .as_deref()
                .map(|d| {
                    let since = BirthDate::parse(d).map_err(|e| at("address_since", &e))?;
                    let born = BirthDate::parse(&r.birth_date).map_err(|e| at("birth_date", &e))?;
                    if since < born || since.date() > renkei_protocol::date_of(UnixMillis::now()) {
                        return Err(at(
                            "address_since",
                            &"must lie between the date of birth and today",
                        ));
                    }
                    Ok(since)
                })
                .transpose()?,
        });
    }
    // A freshly drawn My Number can collide with an issued one (11 random
    // digits); the store refuses the batch and we draw again.
    let mut attempt = 0;
    let residents = loop {
        let now = UnixMillis::now();
        let residents: Vec<_> = new.iter().cloned().map(|n| n.register(now)).collect();
        match st.store.register(residents.clone()).await {
            Ok(()) => break residents,
            Err(renkei_protocol::StoreError::Conflict(_)) if attempt < 5 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    };
    metrics::counter!("renkei_registry_residents_registered_total").increment(residents.len() as u64);
    let own_codes = match fill_own_codes(&st).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(code = %e.code, "registered, but the own codes must wait for the hub");
            0
        }
    };
    Ok(Json(RegisterResult {
        my_numbers: residents.iter().map(|r| r.my_number.expose()).collect(),
        own_codes,
    }))
}

async fn fill_own_codes_now<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
) -> Result<Json<FillResult>, ApiError> {
    Ok(Json(FillResult {
        own_codes: fill_own_codes(&st).await?,
    }))
}

/// After a code-key rotation: the registry's own codes under the current key.
async fn refresh_own_codes<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
) -> Result<Json<FillResult>, ApiError> {
    let mut total = 0;
    let mut after = None;
    loop {
        let links = st.store.link_ids_page(after, 1000).await?;
        let Some(last) = links.last() else { break };
        after = Some(*last);
        total += issue_own_codes(&st, &links).await?;
    }
    Ok(Json(FillResult { own_codes: total }))
}

async fn change_address<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    JsonBody(body): JsonBody<AddressChange>,
) -> Result<Json<EventRecorded>, ApiError> {
    let n = MyNumber::parse(&body.my_number).map_err(|e| ApiError::malformed(format!("my_number: {e}")))?;
    let a = Address::parse(&body.address).map_err(|e| ApiError::malformed(format!("address: {e}")))?;
    let now = UnixMillis::now();
    let today = BirthDate::from_date(renkei_protocol::date_of(now));
    let moved_on = match &body.moved_on {
        None => today,
        Some(d) => {
            let d = BirthDate::parse(d).map_err(|e| ApiError::malformed(format!("moved_on: {e}")))?;
            let current = st.store.by_my_numbers(vec![n.clone()]).await?.pop().flatten();
            let since = current.as_ref().map(|r| {
                r.address_since
                    .unwrap_or(BirthDate::from_date(renkei_protocol::date_of(r.registered_at)))
            });
            if d > today || since.is_some_and(|s| d < s) {
                return Err(ApiError::malformed(
                    "moved_on: must lie between the start of the current address and today",
                ));
            }
            d
        }
    };
    let seq = st
        .store
        .change_address(n, a, moved_on, now)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_my_number", "no resident has this My Number"))?;
    if let Some(w) = &st.outbox {
        w.wake();
    }
    Ok(Json(EventRecorded { event_seq: seq }))
}

async fn record_death<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    JsonBody(body): JsonBody<DeathReport>,
) -> Result<Json<EventRecorded>, ApiError> {
    let n = MyNumber::parse(&body.my_number).map_err(|e| ApiError::malformed(format!("my_number: {e}")))?;
    let d = BirthDate::parse(&body.date).map_err(|e| ApiError::malformed(format!("date: {e}")))?;
    let seq = st
        .store
        .record_death(n, d, UnixMillis::now())
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_my_number", "no living resident has this My Number"))?;
    if let Some(w) = &st.outbox {
        w.wake();
    }
    Ok(Json(EventRecorded { event_seq: seq }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

async fn events<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Json<Vec<EventWire>>, ApiError> {
    let events = st
        .store
        .events(q.after.unwrap_or(0), q.limit.unwrap_or(100))
        .await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| EventWire {
                seq: e.seq,
                kind: match e.event {
                    ResidentEvent::AddressChanged { .. } => "address_changed".into(),
                    ResidentEvent::Died { .. } => "died".into(),
                },
                at: e.at.0,
            })
            .collect(),
    ))
}

async fn health<S: RegistryStore>(
    State(st): State<Arc<RegistryState<S>>>,
) -> Result<Json<RegistryHealth>, ApiError> {
    let c = st.store.counts().await?;
    Ok(Json(RegistryHealth {
        status: "ok".into(),
        role: "registry".into(),
        residents: c.residents,
        events: c.events,
        acquisitions: c.acquisitions,
        cards: c.cards,
    }))
}

#[cfg(test)]
mod outbox_settings_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn base() -> String {
        let institution = CorporateNumber::from_base_number(123_456_789_012).unwrap();
        format!("institution = \"{institution}\"\n{REST}")
    }

    const REST: &str = r#"
name = "registry"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
signing_key = "signing.key"
sealing_key = "sealing.key"
hub_url = "https://127.0.0.1:1"
hub_signing_key = "hub.pub"
admin_token = "admin.token"

[tls]
ca_cert = "ca.pem"
crl = "ca.crl"
cert = "registry.pem"
key = "registry.key"
"#;

    #[test]
    fn outbox_is_optional() {
        let s: RegistrySettings = toml::from_str(&base()).unwrap();
        assert!(s.outbox.is_none());
    }

    #[test]
    fn outbox_table_with_defaults() {
        let s: RegistrySettings = toml::from_str(&format!(
            "{}\n[outbox]\nnats_url = \"nats://127.0.0.1:4222\"\n",
            base()
        ))
        .unwrap();
        let o = s.outbox.unwrap();
        assert_eq!(o.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(o.stream, "RENKEI_EVENTS");
        assert_eq!(o.subject, "renkei.registry.events");
        let s: RegistrySettings = toml::from_str(&format!(
            "{}\n[outbox]\nnats_url = \"tls://nats:4222\"\nstream = \"EV\"\nsubject = \"a.b\"\n",
            base()
        ))
        .unwrap();
        let o = s.outbox.unwrap();
        assert_eq!((o.stream.as_str(), o.subject.as_str()), ("EV", "a.b"));
    }

    #[test]
    fn outbox_unknown_field_is_refused() {
        let e = toml::from_str::<RegistrySettings>(&format!(
            "{}\n[outbox]\nnats_url = \"nats://h:4222\"\nsubjects = \"x\"\n",
            base()
        ))
        .unwrap_err();
        assert!(e.to_string().contains("subjects"), "{e}");
    }

    #[tokio::test]
    async fn outbox_bad_scheme_is_refused_at_start() {
        let mut s: RegistrySettings = toml::from_str(&base()).unwrap();
        s.outbox = Some(OutboxSettings::new("http://127.0.0.1:4222"));
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .unwrap();
        let store = renkei_store_sqlite::SqliteRegistryStore::open(
            &dir.path().join("registry.sqlite"),
            renkei_store_sqlite::Durability::Normal,
        )
        .await
        .unwrap();
        // Refused for the outbox, before any key or certificate is read.
        let e = start_registry(&s, store).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("outbox.nats_url") && text.contains("\"http\"") && text.contains("nats://"),
            "{text}"
        );
    }
}
