//! The node role over HTTP: `/v1/provide` for the hub on the mutual-TLS
//! listener, and the local API for the institution's business systems on
//! its own listener with its own bearer credential.

use renkei_api::node::{
    EnrolPerson, EnrolRefusal, EnrolRequest, EnrolResult, Enrolled, ImportResult, ItemUpdate,
    MAX_ENROL_BATCH, NodeHealth, NodeRecordWire, PersonKeyAsk, PersonKeyResult, PersonWire, QueryRequest,
    QueryResult, RefreshResult,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router, middleware};
use renkei_catalog::{Catalog, ItemCode, KindCode, OfficeWorkCode};
use renkei_crypto::{Suite, VerifyingKey};
use renkei_ids::{
    AcquisitionNumber, Address, BirthDate, CorporateNumber, FourFacts, LocalPersonId, MyNumber, PersonName,
    QueryId, Sex,
};
use renkei_node::{
    EnrolledPerson, ImportError, ImportFormat, NodeIdentity, NodeRecord, NodeRole, NodeStore, RecordOutcome,
    build_request, parse_import, payload_of, provider_record,
};
use renkei_pki::Role;
use renkei_protocol::{AnswerPayload, CodeDelivery, FiscalYear, SignedAnswer, SignedReceipt, UnixMillis};
use serde::{Deserialize, Serialize};

use renkei_api::net::{
    CodeRequestEntryWire, CodeRequestWire, CodeResponseWire, HubReplyWire, SignedAnswerWire,
    SignedForwardWire, SignedRequestWire,
};
use renkei_provider::{Provider, certified_identity};
use renkei_transport::{ApiError, JsonBody, QueryParams, SetupError};
use renkei_transport::{ApiFailure, Expect, NetClient};
use renkei_transport::{Peer, require_peer};
use renkei_transport::{RoleListeners, RunningServer, TrustState, serve_role};
use renkei_transport::{
    TlsFiles, default_crl_poll_secs, default_skew_secs, default_timeout_ms, load_sealing_key,
    load_signing_key, load_verifying_key, read_text, require_token,
};

const PROVIDE_BODY_LIMIT: usize = 64 * 1024;
const IMPORT_BODY_LIMIT: usize = 256 * 1024 * 1024;

/// Configuration of `renkei node serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    pub institution: CorporateNumber,
    pub name: String,
    pub kind: KindCode,
    /// Mutual-TLS listener where the hub forwards queries.
    pub listen: SocketAddr,
    /// The local API for the institution's business systems.
    pub local_listen: SocketAddr,
    pub tls: TlsFiles,
    #[serde(default)]
    pub suite: Suite,
    pub signing_key: PathBuf,
    pub sealing_key: PathBuf,
    pub hub_url: String,
    /// The hub's public signing key (`hub-signing.pub`).
    pub hub_signing_key: PathBuf,
    pub registry_url: String,
    pub catalog: PathBuf,
    /// The local API's bearer token (0600).
    pub local_token: PathBuf,
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
    /// The institution this node sends notices to (the portal's, of kind
    /// `digital_agency`); notices are refused without it. Its certificate
    /// is fetched from the hub and verified against the network CA.
    #[serde(default)]
    pub notice_recipient: Option<CorporateNumber>,
    /// Deadlines and connection caps of every listener of this role.
    #[serde(default)]
    pub limits: renkei_transport::ListenerLimits,
    /// How the outbox's worker retries deliveries.
    #[serde(default)]
    pub deliveries: crate::deliveries::DeliverySettings,
    /// `[filings]`: this node takes statutory filings (the tax agency's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filings: Option<crate::filings::FilingSettings>,
}

pub(crate) struct NodeState<S> {
    /// The provider's half; holds this institution's identity and keys.
    pub(crate) provider: Provider,
    pub(crate) hub_key: VerifyingKey,
    pub(crate) catalog: Catalog,
    pub(crate) store: S,
    pub(crate) client: Arc<NetClient>,
    pub(crate) trust: Arc<TrustState>,
    pub(crate) suite: Suite,
    /// Where this institution's notices go (the portal's node), if anywhere.
    pub(crate) notice_recipient: Option<CorporateNumber>,
    pub(crate) hub_url: String,
    pub(crate) registry_url: String,
    pub(crate) delivery_settings: crate::deliveries::DeliverySettings,
    /// Wakes the outbox's worker when a delivery is posted.
    pub(crate) deliveries_wake: tokio::sync::Notify,
    /// Receivers' certified keys, for a while (see `deliveries`).
    pub(crate) receivers: crate::deliveries::ReceiverKeys,
    /// Statutory filings, at a node that takes them.
    pub(crate) filings: Option<crate::filings::Filings>,
    /// The document types: filings and public senders' documents are
    /// checked against them.
    pub(crate) document_types: renkei_delivery::DocumentTypes,
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    pub institution: CorporateNumber,
    pub network: RunningServer,
    pub local: RunningServer,
    pub trust: Arc<TrustState>,
    crl_task: tokio::task::JoinHandle<()>,
    outbox_task: tokio::task::JoinHandle<()>,
    filings_task: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    pub async fn shutdown(self, grace: Duration) {
        self.crl_task.abort();
        self.outbox_task.abort();
        self.filings_task.abort();
        self.network.shutdown(grace).await;
        self.local.shutdown(grace).await;
    }

    /// Stop both listeners at once, as a crash would.
    pub fn kill(&self) {
        self.outbox_task.abort();
        self.filings_task.abort();
        self.network.kill();
        self.local.kill();
    }
}

pub async fn start_node<S: NodeStore + Clone>(
    settings: &NodeSettings,
    store: S,
) -> Result<RunningNode, SetupError> {
    renkei_transport::install_metrics();
    let catalog = Catalog::parse(&read_text(&settings.catalog)?)
        .map_err(|e| SetupError::config(settings.catalog.display().to_string(), e))?;
    if catalog.kind(&settings.kind).is_none() {
        return Err(SetupError::config(
            "kind",
            format!("`{}` is not a kind of catalog {}", settings.kind, catalog.version),
        ));
    }
    let identity = NodeIdentity {
        institution: settings.institution,
        name: settings.name.clone(),
        kind: settings.kind.clone(),
        signing: load_signing_key(&settings.signing_key, settings.suite)?,
        sealing: load_sealing_key(&settings.sealing_key, settings.suite)?,
        certificate: Vec::new(),
    };
    let hub_key = load_verifying_key(&settings.hub_signing_key, settings.suite)?;
    let token = renkei_transport::read_admin_token(&settings.local_token)?;
    let (tls_identity, anchors) = settings.tls.load()?;
    let identity = certified_identity(&tls_identity, &settings.tls.cert, settings.suite, identity)?;
    let cert_identity = tls_identity.certificate().identity;
    if cert_identity.role != Role::Node || cert_identity.institution != Some(settings.institution) {
        return Err(SetupError::config(
            settings.tls.cert.display().to_string(),
            format!(
                "is not a node certificate of institution {}",
                settings.institution
            ),
        ));
    }
    let trust = TrustState::new(tls_identity, anchors);
    let provider = Provider::new(
        identity,
        hub_key.clone(),
        trust.clone(),
        settings.suite,
        settings.max_skew_secs as i64 * 1000,
    );
    provider.seed(store.recent_provided(provider.seed_since()).await?);
    let filings = settings.filings.clone().map(crate::filings::Filings::new);
    let document_types = renkei_delivery::DocumentTypes::builtin()
        .map_err(|e| SetupError::config("document types", e.to_string()))?;
    let state = Arc::new(NodeState {
        provider,
        hub_key,
        catalog,
        store,
        client: trust.client(Duration::from_millis(settings.request_timeout_ms))?,
        trust: trust.clone(),
        suite: settings.suite,
        notice_recipient: settings.notice_recipient,
        hub_url: settings.hub_url.trim_end_matches('/').to_owned(),
        registry_url: settings.registry_url.trim_end_matches('/').to_owned(),
        delivery_settings: settings.deliveries.clone(),
        deliveries_wake: tokio::sync::Notify::new(),
        receivers: std::sync::Mutex::default(),
        filings,
        document_types,
    });
    let worker_state = state.clone();

    let network = Router::new()
        .route(
            "/v1/provide",
            post(provide::<S>).layer(DefaultBodyLimit::max(PROVIDE_BODY_LIMIT)),
        )
        .route("/health", get(health::<S>))
        .layer(middleware::from_fn_with_state(trust.clone(), require_peer))
        .layer(middleware::from_fn(|r, n| renkei_transport::track("node", r, n)))
        .with_state(state.clone());
    let local = Router::new()
        .route("/local/v1/persons", post(enrol::<S>))
        .route("/local/v1/persons/{local_id}", get(person::<S>))
        .route("/local/v1/persons/{local_id}/items/{item}", put(update_item::<S>))
        .route("/local/v1/queries", post(query::<S>))
        .route(
            "/local/v1/imports",
            post(import::<S>).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route("/local/v1/records", get(records::<S>))
        .route("/local/v1/codes/refresh", post(refresh_codes::<S>))
        .route("/local/v1/persons/{local_id}/person-key", post(person_key::<S>))
        .merge(crate::card::local_routes::<S>())
        .merge(crate::notices::node_local_routes::<S>())
        .merge(crate::deliveries::node_local_routes::<S>())
        .merge(crate::filings::node_local_routes::<S>())
        .layer(middleware::from_fn_with_state(token, require_token))
        .route("/health", get(health::<S>))
        .route("/metrics", get(renkei_transport::render_metrics))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("node-local", r, n)
        }))
        .with_state(state);

    let RoleListeners {
        network,
        operator: local,
        crl_task,
    } = serve_role(
        &trust,
        &settings.tls,
        settings.crl_poll_secs,
        &settings.limits,
        (settings.listen, network),
        (settings.local_listen, local),
    )
    .await?;
    // The outbox's worker starts once the node serves: what was pending
    // before a restart is sent on.
    let filings_task = tokio::spawn(crate::filings::run_worker(worker_state.clone()));
    let outbox_task = tokio::spawn(crate::deliveries::run_worker(worker_state));
    tracing::info!(institution = %settings.institution, network = %network.addr, local = %local.addr, "node started");
    Ok(RunningNode {
        institution: settings.institution,
        network,
        local,
        trust,
        crl_task,
        outbox_task,
        filings_task,
    })
}

// ---------------------------------------------------------------- provider

async fn provide<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<SignedForwardWire>,
) -> Result<Json<SignedAnswerWire>, ApiError> {
    let (forward, requester) = match st.provider.accept(&peer, &body) {
        Ok(accepted) => accepted,
        Err(refusal) => return Err(refusal.recorded(|r| st.store.append_record(r)).await),
    };
    let q = &forward.query;
    let core = &q.request.core;
    if core.item.as_str() == renkei_api::notices::NOTICE_ITEM {
        return crate::notices::receive(&st, &forward, &requester).await;
    }
    if core.payload.is_some() {
        return crate::deliveries::receive(&st, &forward, &requester).await;
    }
    let mut local_id = st.store.person_by_code(&q.subject).await?;
    for previous in &q.previous_subjects {
        if local_id.is_some() {
            break;
        }
        local_id = st.store.person_by_code(previous).await?;
    }
    let value = match &local_id {
        Some(l) => st.store.item(l, &core.item, core.fiscal_year).await?,
        None => None,
    };
    let answer = st
        .provider
        .answer(&forward, &requester, &payload_of(value.as_ref()))?;
    let record = provider_record(&forward, local_id, &answer, value.is_some());
    // Our own record is durable before the answer leaves.
    st.store.append_record(record).await?;
    metrics::counter!("renkei_node_provided_total", "found" => if value.is_some() { "yes" } else { "no" })
        .increment(1);
    Ok(Json((&answer).into()))
}

// -------------------------------------------------------------- local API

struct ValidPerson {
    local_id: LocalPersonId,
    my_number: MyNumber,
    facts: FourFacts,
}

fn validate_person(p: &EnrolPerson) -> Result<ValidPerson, String> {
    let local_id = LocalPersonId::parse(&p.local_id).map_err(|e| format!("local_id: {e}"))?;
    let my_number = MyNumber::parse(&p.my_number).map_err(|e| format!("my_number: {e}"))?;
    let facts = FourFacts {
        name: PersonName::parse(&p.name).map_err(|e| format!("name: {e}"))?,
        address: Address::parse(&p.address).map_err(|e| format!("address: {e}"))?,
        birth_date: BirthDate::parse(&p.birth_date).map_err(|e| format!("birth_date: {e}"))?,
        sex: Sex::from_iso5218(p.sex).map_err(|e| format!("sex: {e}"))?,
    };
    Ok(ValidPerson {
        local_id,
        my_number,
        facts,
    })
}

pub(crate) fn upstream(f: ApiFailure, who: &str) -> ApiError {
    match f {
        ApiFailure::Rejected {
            status,
            code,
            message,
            retryable,
            query_id,
        } => ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            code,
            message,
            retryable,
            query_id: query_id.and_then(|q| QueryId::parse(&q).ok()),
        },
        ApiFailure::Connect(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{who}_unavailable"),
            format!("the {who} cannot be reached: {e}"),
        )
        .retryable(true),
        ApiFailure::Timeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("{who}_timeout"),
            format!("the {who} did not answer in time"),
        )
        .retryable(true),
        ApiFailure::Tls(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "tls_refused",
            format!(
                "the TLS handshake with the {who} failed (is this node's certificate revoked or expired?): {e}"
            ),
        ),
        ApiFailure::Protocol(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("{who}_error"),
            format!("the {who} answered unusably: {e}"),
        ),
    }
}

async fn enrol<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    JsonBody(body): JsonBody<EnrolRequest>,
) -> Result<Json<EnrolResult>, ApiError> {
    if body.persons.is_empty() || body.persons.len() > MAX_ENROL_BATCH {
        return Err(ApiError::malformed(format!(
            "persons must hold 1 to {MAX_ENROL_BATCH} entries"
        )));
    }
    let mut refused = Vec::new();
    let mut by_acq: HashMap<AcquisitionNumber, LocalPersonId> = HashMap::new();
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &body.persons {
        match validate_person(p) {
            Ok(v) if !seen.insert(v.local_id.clone()) => refused.push(EnrolRefusal {
                local_id: p.local_id.clone(),
                code: "invalid_input".into(),
                message: "local_id appears twice in this request".into(),
            }),
            Ok(v) => {
                let acq = AcquisitionNumber::random();
                entries.push(CodeRequestEntryWire {
                    acquisition_number: acq.to_string(),
                    my_number: v.my_number.expose(),
                    name: v.facts.name.to_string(),
                    address: Some(v.facts.address.to_string()),
                    birth_date: v.facts.birth_date.to_string(),
                    sex: Some(v.facts.sex.iso5218()),
                });
                by_acq.insert(acq, v.local_id);
            }
            Err(message) => refused.push(EnrolRefusal {
                local_id: p.local_id.chars().take(32).collect(),
                code: "invalid_input".into(),
                message,
            }),
        }
    }
    let mut enrolled = Vec::new();
    if !entries.is_empty() {
        let answer = ask_codes(&st, entries, None).await?;
        for (acq, code, message) in answer.refused {
            if let Some(local_id) = by_acq.get(&acq) {
                refused.push(EnrolRefusal {
                    local_id: local_id.to_string(),
                    code,
                    message,
                });
            }
        }
        let now = UnixMillis::now();
        let persons: Vec<EnrolledPerson> = answer
            .codes
            .into_iter()
            .filter_map(|(acq, code)| {
                by_acq.get(&acq).map(|l| EnrolledPerson {
                    local_id: l.clone(),
                    code,
                    enrolled_at: now,
                })
            })
            .collect();
        if !persons.is_empty() {
            enrolled = persons
                .iter()
                .map(|p| Enrolled {
                    local_id: p.local_id.to_string(),
                    code: p.code.to_string(),
                })
                .collect();
            st.store.enrol(persons).await?;
        }
    }
    metrics::counter!("renkei_node_enrolled_total").increment(enrolled.len() as u64);
    Ok(Json(EnrolResult { enrolled, refused }))
}

/// What the registry answered a code request: the codes (opened from the
/// sealed delivery) and the refusals, each by acquisition number.
pub(crate) struct CodeAnswer {
    pub(crate) codes: Vec<(AcquisitionNumber, renkei_ids::InstitutionCode)>,
    pub(crate) refused: Vec<(AcquisitionNumber, String, String)>,
}

/// Ask the registry for the codes of these people (at most
/// `MAX_ENROL_BATCH`), on the four-facts basis or another (`basis`), and
/// open the codes the hub sealed to this node. An answer about a number
/// that was not asked is the registry's error.
pub(crate) async fn ask_codes<S>(
    st: &NodeState<S>,
    entries: Vec<CodeRequestEntryWire>,
    basis: Option<&str>,
) -> Result<CodeAnswer, ApiError> {
    let asked: std::collections::HashSet<AcquisitionNumber> = entries
        .iter()
        .filter_map(|e| AcquisitionNumber::parse(&e.acquisition_number).ok())
        .collect();
    let request = CodeRequestWire {
        institution: st.provider.identity.institution.to_string(),
        entries,
        basis: basis.map(str::to_owned),
    };
    let response: CodeResponseWire = st
        .client
        .post(
            &format!("{}/v1/codes", st.registry_url),
            &request,
            Expect::Role(Role::Registry),
            None,
        )
        .await
        .map_err(|f| upstream(f, "registry"))?;
    let registry_error = |m: &str| ApiError::new(StatusCode::BAD_GATEWAY, "registry_error", m.to_owned());
    let lookup = |acq: &str| AcquisitionNumber::parse(acq).ok().filter(|a| asked.contains(a));
    let mut refused = Vec::new();
    for r in &response.refused {
        let acq = lookup(&r.acquisition_number)
            .ok_or_else(|| registry_error("the registry refused a number it was not sent"))?;
        refused.push((acq, r.code.clone(), r.message.clone()));
    }
    let mut issued = Vec::new();
    for a in &response.issued {
        issued.push(
            lookup(a)
                .ok_or_else(|| registry_error("the registry issued a code for a number it was not sent"))?,
        );
    }
    let mut codes = Vec::new();
    if let Some(d) = &response.delivery {
        let delivery = CodeDelivery::try_from(d)
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "registry_error", e.to_string()))?;
        if delivery.institution != st.provider.identity.institution {
            return Err(registry_error("the code delivery is for another institution"));
        }
        let opened = delivery
            .open(&st.provider.identity.sealing, &issued)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "registry_error",
                    format!("the code delivery does not open: {e}"),
                )
            })?;
        codes = opened
            .into_iter()
            .map(|c| (c.acquisition_number, c.code))
            .collect();
    }
    Ok(CodeAnswer { codes, refused })
}

async fn person<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(local_id): Path<String>,
) -> Result<Json<PersonWire>, ApiError> {
    let id = LocalPersonId::parse(&local_id).map_err(|e| ApiError::malformed(format!("local_id: {e}")))?;
    let code = st.store.code_of(&id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {id} is not enrolled at this node"),
        )
    })?;
    Ok(Json(PersonWire {
        local_id: id.to_string(),
        code: code.to_string(),
    }))
}

async fn query<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    JsonBody(body): JsonBody<QueryRequest>,
) -> Result<Json<QueryResult>, ApiError> {
    let requested_at = UnixMillis::now();
    let local_id =
        LocalPersonId::parse(&body.local_id).map_err(|e| ApiError::malformed(format!("local_id: {e}")))?;
    let provider =
        CorporateNumber::parse(&body.provider).map_err(|e| ApiError::malformed(format!("provider: {e}")))?;
    let office_work =
        OfficeWorkCode::parse(&body.office_work).map_err(|e| ApiError::malformed(e.to_string()))?;
    let item = ItemCode::parse(&body.item).map_err(|e| ApiError::malformed(e.to_string()))?;
    let fiscal_year = body
        .fiscal_year
        .map(FiscalYear::new)
        .transpose()
        .map_err(|e| ApiError::malformed(format!("fiscal_year: {e}")))?;
    let consent = body
        .consent
        .as_deref()
        .map(|c| {
            renkei_protocol::ConsentRef::parse(c)
                .ok_or_else(|| ApiError::malformed("consent: 1 to 64 characters of A-Z a-z 0-9 _ -"))
        })
        .transpose()?;
    let person_proof = body
        .person_proof
        .as_deref()
        .map(renkei_protocol::SignedPersonProof::parse)
        .transpose()
        .map_err(|e| ApiError::malformed(format!("person_proof: {e}")))?;
    let code = st.store.code_of(&local_id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {local_id} is not enrolled at this node"),
        )
    })?;
    if st
        .catalog
        .office_work(&office_work)
        .is_some_and(|w| w.person_proof)
    {
        let checked = match &person_proof {
            None => Err((
                "person_proof_required",
                format!(
                    "office work `{office_work}` is done for the person themselves: a person proof is required"
                ),
            )),
            Some(p) => p
                .verify(
                    &st.hub_key,
                    &st.provider.identity.institution,
                    consent.as_ref(),
                    requested_at,
                )
                .map_err(|e| ("person_proof_invalid", e.to_string()))
                .and_then(|()| {
                    (p.proof.subject == code).then_some(()).ok_or((
                        "person_proof_invalid",
                        "the person proof is about another person".to_owned(),
                    ))
                }),
        };
        if let Err((code, message)) = checked {
            // Refused before anything leaves, and kept in this node's own
            // records: who was asked about, and why it was refused.
            metrics::counter!("renkei_node_person_proofs_refused_total", "code" => code).increment(1);
            tracing::warn!(code, %local_id, office_work = %office_work, "query refused without a valid person proof");
            st.store
                .append_record(NodeRecord {
                    query_id: None,
                    message_id: None,
                    role: NodeRole::Requester,
                    counterpart: provider,
                    office_work: office_work.clone(),
                    item: item.clone(),
                    fiscal_year,
                    local_id: Some(local_id.clone()),
                    requested_at,
                    completed_at: UnixMillis::now(),
                    outcome: RecordOutcome::Denied(code.into()),
                    non_disclosure: false,
                })
                .await?;
            return Err(ApiError::forbidden(code, message));
        }
    }
    let request = build_request(
        &st.provider.identity,
        renkei_node::Ask {
            provider,
            office_work: office_work.clone(),
            item: item.clone(),
            fiscal_year,
            subject: code,
            consent,
            person_proof,
        },
        requested_at,
    );
    let (verified, node_seq) = exchange(&st, &request, local_id, requested_at, |p| match p {
        AnswerPayload::Found { .. } => Some(RecordOutcome::Provided),
        AnswerPayload::NoData => Some(RecordOutcome::NoData),
        AnswerPayload::Accepted => None,
    })
    .await?;
    let (status, value, updated_at) = match verified.payload {
        AnswerPayload::Found { value, updated_at_ms } => ("found", Some(value), Some(updated_at_ms)),
        _ => ("no_data", None, None),
    };
    Ok(Json(QueryResult {
        query_id: verified.query_id.to_string(),
        provider: verified.provider.to_string(),
        status: status.into(),
        value,
        updated_at,
        answered_at: verified.answered_at.0,
        hub_record_seq: verified.record_seq,
        node_record_seq: node_seq,
    }))
}

/// The requester's side of one exchange through the hub: send the signed
/// request, check the reply end to end, and keep this node's record of it
/// whatever happens (a refusal, an unusable reply, or the answer).
/// `outcome` says what a verified answer means here, or `None` if such an
/// answer makes no sense for this request (a provider answering a query
/// with "accepted"); that is refused and recorded like a forged reply.
pub(crate) async fn exchange<S: NodeStore>(
    st: &NodeState<S>,
    request: &renkei_protocol::SignedRequest,
    local_id: LocalPersonId,
    requested_at: UnixMillis,
    outcome: impl FnOnce(&AnswerPayload) -> Option<RecordOutcome>,
) -> Result<(renkei_protocol::VerifiedAnswer, u64), ApiError> {
    let r = &request.request;
    let record = |query_id, outcome, completed_at| NodeRecord {
        query_id,
        message_id: Some(r.message_id),
        role: NodeRole::Requester,
        counterpart: r.provider,
        office_work: r.office_work.clone(),
        item: r.item.clone(),
        fiscal_year: r.fiscal_year,
        local_id: Some(local_id.clone()),
        requested_at,
        completed_at,
        outcome,
        non_disclosure: false,
    };
    let reply: Result<HubReplyWire, ApiFailure> = st
        .client
        .post(
            &format!("{}/v1/linkage", st.hub_url),
            &SignedRequestWire::from(request),
            Expect::Role(Role::Hub),
            None,
        )
        .await;
    let reply = match reply {
        Ok(r) => r,
        Err(f) => {
            let err = upstream(f, "hub");
            st.store
                .append_record(record(
                    err.query_id,
                    RecordOutcome::Denied(err.code.clone()),
                    UnixMillis::now(),
                ))
                .await?;
            return Err(err);
        }
    };
    let verified = verify_reply(st, request, &reply).and_then(|v| match outcome(&v.payload) {
        Some(o) => Ok((v, o)),
        None => Err((
            "answer_unexpected",
            "the provider's answer does not fit the request".to_owned(),
            Some(v.query_id),
        )),
    });
    let (verified, outcome) = match verified {
        Ok(v) => v,
        Err((code, e, query_id)) => {
            metrics::counter!("renkei_node_replies_refused_total", "code" => code).increment(1);
            tracing::error!(code, error = %e, "the hub's reply failed verification; discarded");
            st.store
                .append_record(record(
                    query_id,
                    RecordOutcome::Denied(code.into()),
                    UnixMillis::now(),
                ))
                .await?;
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "reply_invalid",
                format!("the reply failed verification and was discarded ({code}): {e}"),
            )
            .with_query_id(query_id));
        }
    };
    let node_seq = st
        .store
        .append_record(record(Some(verified.query_id), outcome, UnixMillis::now()))
        .await?;
    Ok((verified, node_seq))
}

/// The requester's check of the hub's reply: the provider's certificate
/// (carried in the answer) verified against the CA and CRL and naming the
/// provider asked, then [`SignedReceipt::verify_reply`]. On failure: a
/// stable code for the record, the reason, and the query id if the
/// receipt named one.
fn verify_reply<S>(
    st: &NodeState<S>,
    request: &renkei_protocol::SignedRequest,
    reply: &HubReplyWire,
) -> Result<renkei_protocol::VerifiedAnswer, (&'static str, String, Option<QueryId>)> {
    let query_id = QueryId::parse(&reply.receipt.receipt.query_id).ok();
    let fail = |code, e: String| (code, e, query_id);
    let answer = SignedAnswer::try_from(&reply.answer).map_err(|e| fail("reply_malformed", e.to_string()))?;
    let receipt =
        SignedReceipt::try_from(&reply.receipt).map_err(|e| fail("reply_malformed", e.to_string()))?;
    let provider = st
        .trust
        .certified_party(&answer.certificate, request.request.provider, st.suite)
        .map_err(|e| fail("provider_certificate_refused", e.to_string()))?;
    receipt
        .verify_reply(
            &st.hub_key,
            request,
            &answer,
            &provider,
            &st.provider.identity.sealing,
        )
        .map_err(|e| {
            let code = match e {
                renkei_protocol::ReplyError::BadReceipt(_) => "receipt_invalid",
                renkei_protocol::ReplyError::WrongProvider { .. } => "answer_wrong_provider",
                renkei_protocol::ReplyError::BadAnswerSignature(_) => "answer_signature_invalid",
                renkei_protocol::ReplyError::NotBound(_) => "answer_not_bound",
                renkei_protocol::ReplyError::Unsealed(_) => "answer_unsealed",
            };
            fail(code, e.to_string())
        })
}

fn rejected(report: renkei_node::ImportReport) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
        report.to_string(),
    )
}

async fn update_item<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path((local_id, item)): Path<(String, String)>,
    JsonBody(body): JsonBody<ItemUpdate>,
) -> Result<Json<ImportResult>, ApiError> {
    // One row through the same checks as a file import.
    let row = serde_json::json!({
        "local_id": local_id,
        "item": item,
        "fiscal_year": body.fiscal_year,
        "value": body.value,
    });
    let line = serde_json::to_string(&row).map_err(|e| ApiError::internal("encoding the row", e))?;
    import_text(&st, ImportFormat::Jsonl, line.into_bytes()).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    format: String,
}

async fn import<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    QueryParams(q): QueryParams<ImportQuery>,
    body: Bytes,
) -> Result<Json<ImportResult>, ApiError> {
    let format =
        ImportFormat::parse(&q.format).ok_or_else(|| ApiError::malformed("format must be jsonl or csv"))?;
    import_text(&st, format, body.to_vec()).await
}

async fn import_text<S: NodeStore>(
    st: &Arc<NodeState<S>>,
    format: ImportFormat,
    body: Vec<u8>,
) -> Result<Json<ImportResult>, ApiError> {
    let me = st.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        parse_import(
            format,
            body.as_slice(),
            &me.catalog,
            &me.provider.identity.kind,
            UnixMillis::now(),
        )
    })
    .await
    .map_err(|e| ApiError::internal("import", e))?;
    let parsed = match parsed {
        Ok(p) => p,
        Err(ImportError::Rejected(report)) => return Err(rejected(report)),
        Err(ImportError::Read(e)) => return Err(ApiError::malformed(e)),
    };
    let enrolled = st.store.enrolled_among(parsed.local_ids()).await?;
    let rows = parsed.check_enrolled(&enrolled).map_err(rejected)?;
    let n = st.store.import_items(rows).await?;
    metrics::counter!("renkei_node_imported_items_total").increment(n as u64);
    tracing::info!(rows = n, "import stored");
    Ok(Json(ImportResult { imported: n }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

async fn records<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    QueryParams(q): QueryParams<RecordsQuery>,
) -> Result<Json<Vec<NodeRecordWire>>, ApiError> {
    let rows = st.store.records(q.after, q.limit.unwrap_or(100)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(seq, r)| NodeRecordWire {
                seq,
                query_id: r.query_id.map(|q| q.to_string()),
                role: r.role.as_str().into(),
                counterpart: r.counterpart.to_string(),
                office_work: r.office_work.to_string(),
                item: r.item.to_string(),
                fiscal_year: r.fiscal_year.map(FiscalYear::get),
                local_id: r.local_id.map(|l| l.to_string()),
                requested_at: r.requested_at.0,
                completed_at: r.completed_at.0,
                outcome: r.outcome.as_str().into(),
                non_disclosure: r.non_disclosure,
            })
            .collect(),
    ))
}

async fn health<S: NodeStore>(State(st): State<Arc<NodeState<S>>>) -> Result<Json<NodeHealth>, ApiError> {
    let c = st.store.counts().await?;
    Ok(Json(NodeHealth {
        status: "ok".into(),
        role: "node".into(),
        institution: st.provider.identity.institution.to_string(),
        name: st.provider.identity.name.clone(),
        kind: st.provider.identity.kind.to_string(),
        persons: c.persons,
        items: c.items,
        records: c.records,
    }))
}

/// After a code-key rotation: exchange every stored code for the current
/// one, within the grace period, so nothing breaks when it ends.
async fn refresh_codes<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
) -> Result<Json<RefreshResult>, ApiError> {
    let mut result = RefreshResult {
        refreshed: 0,
        unchanged: 0,
        failed: 0,
    };
    let mut after = None;
    loop {
        let page = st.store.persons_page(after.clone(), 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.local_id.clone());
        let body = renkei_api::net::CodeRefreshWire {
            codes: page.iter().map(|p| p.code.to_string()).collect(),
        };
        let reply: renkei_api::net::CodeRefreshReplyWire = st
            .client
            .post(
                &format!("{}/v1/codes/refresh", st.hub_url),
                &body,
                Expect::Role(Role::Hub),
                None,
            )
            .await
            .map_err(|f| upstream(f, "hub"))?;
        if reply.codes.len() != page.len() {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "hub_error",
                "the hub answered a different number of codes",
            ));
        }
        let now = UnixMillis::now();
        let mut updated = Vec::new();
        for (person, fresh) in page.into_iter().zip(reply.codes) {
            match fresh.new.as_deref().map(renkei_ids::InstitutionCode::parse) {
                Some(Ok(code)) if code == person.code => result.unchanged += 1,
                Some(Ok(code)) => {
                    result.refreshed += 1;
                    updated.push(EnrolledPerson {
                        local_id: person.local_id,
                        code,
                        enrolled_at: now,
                    });
                }
                _ => result.failed += 1,
            }
        }
        st.store.enrol(updated).await?;
    }
    tracing::info!(
        refreshed = result.refreshed,
        failed = result.failed,
        "codes refreshed"
    );
    Ok(Json(result))
}

async fn person_key<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(local_id): Path<String>,
    JsonBody(ask): JsonBody<PersonKeyAsk>,
) -> Result<Json<PersonKeyResult>, ApiError> {
    let id = LocalPersonId::parse(&local_id).map_err(|e| ApiError::malformed(format!("local_id: {e}")))?;
    let code = st.store.code_of(&id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {id} is not enrolled at this node"),
        )
    })?;
    let proof = renkei_protocol::SignedPersonProof::parse(&ask.person_proof)
        .map_err(|e| ApiError::malformed(format!("person_proof: {e}")))?;
    let consent = ask
        .consent
        .as_deref()
        .map(|c| {
            renkei_protocol::ConsentRef::parse(c)
                .ok_or_else(|| ApiError::malformed("consent: 1 to 64 characters of A-Z a-z 0-9 _ -"))
        })
        .transpose()?;
    proof
        .verify(
            &st.hub_key,
            &st.provider.identity.institution,
            consent.as_ref(),
            UnixMillis::now(),
        )
        .map_err(|e| ApiError::forbidden("person_proof_invalid", e.to_string()))?;
    if proof.proof.subject != code {
        return Err(ApiError::forbidden(
            "person_proof_invalid",
            "the person proof is about another person",
        ));
    }
    let body = renkei_api::log::PersonKeyRequest {
        person_proof: ask.person_proof,
        consent: ask.consent,
        code: code.to_string(),
    };
    let reply: renkei_api::log::PersonKeyWire = st
        .client
        .post(
            &format!("{}/v1/person/key", st.hub_url),
            &body,
            Expect::Role(Role::Hub),
            None,
        )
        .await
        .map_err(|f| upstream(f, "hub"))?;
    let envelope = renkei_crypto::Envelope::try_from(&reply.envelope)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "hub_error", e.to_string()))?;
    let key = st
        .provider
        .identity
        .sealing
        .open(
            &envelope,
            renkei_api::log::PERSON_KEY_INFO,
            &renkei_api::log::person_key_aad(&st.provider.identity.institution.to_string(), &body.code),
        )
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "hub_error",
                format!("the person key does not open: {e}"),
            )
        })?;
    let key: [u8; 32] = key.as_slice().try_into().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "hub_error",
            "the person key is not 32 bytes",
        )
    })?;
    Ok(Json(PersonKeyResult {
        local_id: id.to_string(),
        person_key: renkei_crypto::b64(&key),
        access_token: renkei_crypto::b64(&renkei_hub::person::access_token(&key)),
        log_origin: reply.log_origin,
        log_key: reply.log_key,
    }))
}
