//! The node role over HTTP: `/v1/provide` for the hub on the mutual-TLS
//! listener, and the local API for the institution's business systems on
//! its own listener with its own bearer credential.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
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
    answer_forward, build_request, check_forward, parse_import, payload_of, provider_record,
};
use renkei_pki::Role;
use renkei_protocol::{
    AnswerPayload, CodeDelivery, FiscalYear, SignedAnswer, SignedForward, SignedReceipt, UnixMillis,
};
use serde::{Deserialize, Serialize};

use crate::client::{ApiFailure, Expect, NetClient};
use crate::error::{ApiError, JsonBody, SetupError};
use crate::peer::{Peer, require_peer};
use crate::server::{RoleListeners, RunningServer, TrustState, serve_role};
use crate::settings::{
    TlsFiles, default_crl_poll_secs, default_skew_secs, default_timeout_ms, load_sealing_key,
    load_signing_key, load_verifying_key, read_text, require_token,
};
use crate::wire::{
    CodeRequestEntryWire, CodeRequestWire, CodeResponseWire, HubReplyWire, SignedAnswerWire,
    SignedForwardWire, SignedRequestWire,
};

const PROVIDE_BODY_LIMIT: usize = 64 * 1024;
const IMPORT_BODY_LIMIT: usize = 256 * 1024 * 1024;
pub const MAX_ENROL_BATCH: usize = 1000;

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
    /// Deadlines and connection caps of every listener of this role.
    #[serde(default)]
    pub limits: crate::listener::ListenerLimits,
}

pub(crate) struct NodeState<S> {
    pub(crate) identity: NodeIdentity,
    hub_key: VerifyingKey,
    catalog: Catalog,
    pub(crate) store: S,
    pub(crate) client: Arc<NetClient>,
    pub(crate) hub_url: String,
    pub(crate) registry_url: String,
    max_skew_ms: i64,
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    pub institution: CorporateNumber,
    pub network: RunningServer,
    pub local: RunningServer,
    pub trust: Arc<TrustState>,
    crl_task: tokio::task::JoinHandle<()>,
}

impl RunningNode {
    pub async fn shutdown(self, grace: Duration) {
        self.crl_task.abort();
        self.network.shutdown(grace).await;
        self.local.shutdown(grace).await;
    }

    /// Stop both listeners at once, as a crash would.
    pub fn kill(&self) {
        self.network.kill();
        self.local.kill();
    }
}

pub async fn start_node<S: NodeStore + Clone>(
    settings: &NodeSettings,
    store: S,
) -> Result<RunningNode, SetupError> {
    crate::metrics_util::install_metrics();
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
    };
    let hub_key = load_verifying_key(&settings.hub_signing_key, settings.suite)?;
    let token = crate::settings::read_admin_token(&settings.local_token)?;
    let (tls_identity, anchors) = settings.tls.load()?;
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
    let state = Arc::new(NodeState {
        identity,
        hub_key,
        catalog,
        store,
        client: trust.client(Duration::from_millis(settings.request_timeout_ms))?,
        hub_url: settings.hub_url.trim_end_matches('/').to_owned(),
        registry_url: settings.registry_url.trim_end_matches('/').to_owned(),
        max_skew_ms: settings.max_skew_secs as i64 * 1000,
    });

    let network = Router::new()
        .route(
            "/v1/provide",
            post(provide::<S>).layer(DefaultBodyLimit::max(PROVIDE_BODY_LIMIT)),
        )
        .route("/health", get(health::<S>))
        .merge(crate::notices::node_network_routes::<S>())
        .layer(middleware::from_fn_with_state(trust.clone(), require_peer))
        .layer(middleware::from_fn(|r, n| {
            crate::metrics_util::track("node", r, n)
        }))
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
        .merge(crate::node_card::local_routes::<S>())
        .merge(crate::notices::node_local_routes::<S>())
        .layer(middleware::from_fn_with_state(token, require_token))
        .route("/health", get(health::<S>))
        .route("/metrics", get(crate::metrics_util::render))
        .layer(middleware::from_fn(|r, n| {
            crate::metrics_util::track("node-local", r, n)
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
    tracing::info!(institution = %settings.institution, network = %network.addr, local = %local.addr, "node started");
    Ok(RunningNode {
        institution: settings.institution,
        network,
        local,
        trust,
        crl_task,
    })
}

// ---------------------------------------------------------------- provider

/// The provider's first step, before any data is touched: the caller is the
/// hub, the body is a forward, signed by the hub, fresh, addressed here.
pub(crate) fn accept_forward(
    peer: &Peer,
    body: &SignedForwardWire,
    identity: &NodeIdentity,
    hub_key: &VerifyingKey,
    max_skew_ms: i64,
) -> Result<SignedForward, ApiError> {
    peer.require_role(Role::Hub)?;
    let forward = SignedForward::try_from(body).map_err(|e| ApiError::malformed(e.to_string()))?;
    check_forward(identity, hub_key, &forward, UnixMillis::now(), max_skew_ms)
        .map_err(|e| ApiError::forbidden("forward_rejected", e.to_string()))?;
    Ok(forward)
}

async fn provide<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<SignedForwardWire>,
) -> Result<Json<SignedAnswerWire>, ApiError> {
    let forward = accept_forward(&peer, &body, &st.identity, &st.hub_key, st.max_skew_ms)?;
    let q = &forward.query;
    let mut local_id = st.store.person_by_code(&q.subject).await?;
    for previous in &q.previous_subjects {
        if local_id.is_some() {
            break;
        }
        local_id = st.store.person_by_code(previous).await?;
    }
    let value = match &local_id {
        Some(l) => st.store.item(l, &q.item, q.fiscal_year).await?,
        None => None,
    };
    let answer = answer_forward(
        &st.identity,
        &forward,
        &payload_of(value.as_ref()),
        UnixMillis::now(),
    )
    .map_err(|e| ApiError::internal("sealing the answer", e))?;
    let record = provider_record(&forward, local_id, &answer, value.is_some());
    // Our own record is durable before the answer leaves.
    st.store.append_record(record).await?;
    metrics::counter!("renkei_node_provided_total", "found" => if value.is_some() { "yes" } else { "no" })
        .increment(1);
    Ok(Json((&answer).into()))
}

// -------------------------------------------------------------- local API

/// One person to enrol, as the business system has them on file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolPerson {
    pub local_id: String,
    pub my_number: String,
    pub name: String,
    pub address: String,
    pub birth_date: String,
    pub sex: u8,
}

impl std::fmt::Debug for EnrolPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnrolPerson({}, <redacted>)", self.local_id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub persons: Vec<EnrolPerson>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrolled {
    pub local_id: String,
    pub code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrolRefusal {
    pub local_id: String,
    /// `invalid_input`, `unknown_my_number`, `facts_differ`, ...
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolResult {
    pub enrolled: Vec<Enrolled>,
    pub refused: Vec<EnrolRefusal>,
}

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
                    address: v.facts.address.to_string(),
                    birth_date: v.facts.birth_date.to_string(),
                    sex: v.facts.sex.iso5218(),
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
        let request = CodeRequestWire {
            institution: st.identity.institution.to_string(),
            entries,
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
        let lookup = |acq: &str| {
            AcquisitionNumber::parse(acq)
                .ok()
                .and_then(|a| by_acq.get(&a).map(|l| (a, l.clone())))
        };
        for r in &response.refused {
            let Some((_, local_id)) = lookup(&r.acquisition_number) else {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "registry_error",
                    "the registry refused a number it was not sent",
                ));
            };
            refused.push(EnrolRefusal {
                local_id: local_id.to_string(),
                code: r.code.clone(),
                message: r.message.clone(),
            });
        }
        let mut issued = Vec::new();
        for a in &response.issued {
            let Some((acq, _)) = lookup(a) else {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "registry_error",
                    "the registry issued a code for a number it was not sent",
                ));
            };
            issued.push(acq);
        }
        if let Some(d) = &response.delivery {
            let delivery = CodeDelivery::try_from(d)
                .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "registry_error", e.to_string()))?;
            if delivery.institution != st.identity.institution {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "registry_error",
                    "the code delivery is for another institution",
                ));
            }
            let codes = delivery.open(&st.identity.sealing, &issued).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "registry_error",
                    format!("the code delivery does not open: {e}"),
                )
            })?;
            let now = UnixMillis::now();
            let persons: Vec<EnrolledPerson> = codes
                .into_iter()
                .filter_map(|c| {
                    by_acq.get(&c.acquisition_number).map(|l| EnrolledPerson {
                        local_id: l.clone(),
                        code: c.code,
                        enrolled_at: now,
                    })
                })
                .collect();
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonWire {
    pub local_id: String,
    pub code: String,
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

/// A business system's question.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub local_id: String,
    pub provider: String,
    pub office_work: String,
    pub item: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_year: Option<u16>,
    /// The person's consent this query relies on (the consent API's grant
    /// id); kept in the hub's provision record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

/// The verified, decrypted answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResult {
    pub query_id: String,
    pub provider: String,
    /// `found` or `no_data`.
    pub status: String,
    pub value: Option<serde_json::Value>,
    pub updated_at: Option<i64>,
    pub answered_at: i64,
    pub hub_record_seq: u64,
    pub node_record_seq: u64,
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
    let code = st.store.code_of(&local_id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {local_id} is not enrolled at this node"),
        )
    })?;
    let request = build_request(
        &st.identity,
        renkei_node::Ask {
            provider,
            office_work: office_work.clone(),
            item: item.clone(),
            fiscal_year,
            subject: code,
            consent,
        },
        requested_at,
    );
    let record = |query_id, outcome, completed_at| NodeRecord {
        query_id,
        role: NodeRole::Requester,
        counterpart: provider,
        office_work: office_work.clone(),
        item: item.clone(),
        fiscal_year,
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
            &SignedRequestWire::from(&request),
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
    let verified = SignedAnswer::try_from(&reply.answer)
        .map_err(|e| e.to_string())
        .and_then(|answer| {
            let receipt = SignedReceipt::try_from(&reply.receipt).map_err(|e| e.to_string())?;
            receipt
                .verify_reply(&st.hub_key, &request, &answer, &st.identity.sealing)
                .map_err(|e| e.to_string())
        });
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "the hub's reply failed verification");
            st.store
                .append_record(record(
                    None,
                    RecordOutcome::Denied("reply_invalid".into()),
                    UnixMillis::now(),
                ))
                .await?;
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "reply_invalid",
                format!("the reply failed verification and was discarded: {e}"),
            ));
        }
    };
    let (status, value, updated_at, outcome) = match verified.payload {
        AnswerPayload::Found { value, updated_at_ms } => {
            ("found", Some(value), Some(updated_at_ms), RecordOutcome::Provided)
        }
        AnswerPayload::NoData => ("no_data", None, None, RecordOutcome::NoData),
    };
    let node_seq = st
        .store
        .append_record(record(Some(verified.query_id), outcome, UnixMillis::now()))
        .await?;
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemUpdate {
    #[serde(default)]
    pub fiscal_year: Option<u16>,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportResult {
    pub imported: usize,
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
    Query(q): Query<ImportQuery>,
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
            &me.identity.kind,
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

/// One of the node's own provision records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecordWire {
    pub seq: u64,
    pub query_id: Option<String>,
    pub role: String,
    pub counterpart: String,
    pub office_work: String,
    pub item: String,
    pub fiscal_year: Option<u16>,
    pub local_id: Option<String>,
    pub requested_at: i64,
    pub completed_at: i64,
    pub outcome: String,
    pub non_disclosure: bool,
}

async fn records<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Query(q): Query<RecordsQuery>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeHealth {
    pub status: String,
    pub role: String,
    pub institution: String,
    pub name: String,
    pub kind: String,
    pub persons: u64,
    pub items: u64,
    pub records: u64,
}

async fn health<S: NodeStore>(State(st): State<Arc<NodeState<S>>>) -> Result<Json<NodeHealth>, ApiError> {
    let c = st.store.counts().await?;
    Ok(Json(NodeHealth {
        status: "ok".into(),
        role: "node".into(),
        institution: st.identity.institution.to_string(),
        name: st.identity.name.clone(),
        kind: st.identity.kind.to_string(),
        persons: c.persons,
        items: c.items,
        records: c.records,
    }))
}

/// How a code refresh went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshResult {
    pub refreshed: usize,
    pub unchanged: usize,
    pub failed: usize,
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
        let body = crate::wire::CodeRefreshWire {
            codes: page.iter().map(|p| p.code.to_string()).collect(),
        };
        let reply: crate::wire::CodeRefreshReplyWire = st
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

/// A person's log key as the portal hands it over.
#[derive(Clone, Serialize, Deserialize)]
pub struct PersonKeyResult {
    pub local_id: String,
    /// Opens the person's commitments in the log (base64url).
    pub person_key: String,
    /// Lists the person's records at `<log>/v1/person/records` (base64url).
    pub access_token: String,
    pub log_origin: String,
    pub log_key: String,
}

impl std::fmt::Debug for PersonKeyResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PersonKeyResult({}, <secret>)", self.local_id)
    }
}

/// For the portal (a node of kind `digital_agency`): obtain a person's log
/// key from the hub. The hub refuses any other kind of institution.
async fn person_key<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(local_id): Path<String>,
) -> Result<Json<PersonKeyResult>, ApiError> {
    let id = LocalPersonId::parse(&local_id).map_err(|e| ApiError::malformed(format!("local_id: {e}")))?;
    let code = st.store.code_of(&id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {id} is not enrolled at this node"),
        )
    })?;
    let body = crate::hub_log::PersonKeyRequest {
        code: code.to_string(),
    };
    let reply: crate::hub_log::PersonKeyWire = st
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
        .identity
        .sealing
        .open(
            &envelope,
            crate::hub_log::PERSON_KEY_INFO,
            &crate::hub_log::person_key_aad(&st.identity.institution.to_string(), &body.code),
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
