//! Deliveries (pushes with a durable outbox): an institution's business
//! system hands its node a document of an item about a person, for another
//! institution. The node checks it, keeps it in its outbox in one
//! transaction before anything is sent, and answers at once; a background
//! worker then sends each pending delivery as a push through the hub —
//! sealed (HPKE auth mode) to the receiver's certified key as a notice is,
//! signed, allowed only by a push row of the permission table, translated,
//! recorded at both nodes and as a log leaf — retrying with exponential
//! backoff and jitter while the hub or the receiver cannot take it, until
//! the receiver accepts it or the hub or the receiver refuses it for good.
//!
//! Every attempt is a new signed request (the hub refuses a replayed
//! message id); the delivery id travels inside the sealed payload, so a
//! receiver that already kept it (an answer lost on the way back) keeps it
//! once and acknowledges again. The receiving node keeps each delivery in
//! its inbox once per (sender, delivery id), for the person under its own
//! id (enrolled from the translated code if unknown, as notices are), and
//! its business system reads the inbox in order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_api::deliveries::{DeliveryRequest, DeliveryWire, InboxEntryWire};
use renkei_api::net::SignedAnswerWire;
use renkei_api::notices::NOTICE_ITEM;
use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_ids::{CorporateNumber, LocalPersonId, MessageId, QueryId};
use renkei_node::{
    AttemptOutcome, DeliveryContent, DeliveryId, DeliveryStatus, Enqueued, IncomingDelivery, NodeStore,
    OutgoingDelivery, ProvideError, backoff_ms, check_document,
};
use renkei_protocol::{
    AnswerPayload, CertifiedParty, DenialCode, FiscalYear, LinkageRequest, RecordOutcome, SignedForward,
    UnixMillis,
};
use renkei_provider::Refusal;
use renkei_transport::{ApiError, JsonBody, QueryParams};
use serde::{Deserialize, Serialize};

use crate::node::NodeState;

/// The body of `POST /local/v1/deliveries`: a document of at most
/// [`renkei_node::MAX_DOCUMENT_BYTES`] as compact JSON, with room for
/// its escaping and the other fields.
const DELIVERY_BODY_LIMIT: usize = 64 * 1024;

/// How the outbox's worker retries. Attempt n+1 follows a failed attempt n
/// after `retry_initial_ms × 2^(n-1)`, at most `retry_max_ms`, ±25 %
/// jitter; it never gives up on a failure that may pass (the receiver or
/// the hub down): the delivery stays pending, its attempts and last error
/// visible, until it is delivered or refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Deliveries sent at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
}

fn default_retry_initial_ms() -> u64 {
    1_000
}

fn default_retry_max_ms() -> u64 {
    300_000
}

fn default_concurrency() -> u32 {
    16
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry_initial_ms: default_retry_initial_ms(),
            retry_max_ms: default_retry_max_ms(),
            concurrency: default_concurrency(),
        }
    }
}

/// What is sealed to the receiver: the sender's delivery id (what makes a
/// retry idempotent at the receiver) and the document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedDelivery {
    delivery_id: String,
    document: serde_json::Value,
}

pub(crate) fn node_local_routes<S: NodeStore + Clone>() -> Router<Arc<NodeState<S>>> {
    Router::new()
        .route(
            "/local/v1/deliveries",
            post(post_delivery::<S>)
                .get(list_deliveries::<S>)
                .layer(DefaultBodyLimit::max(DELIVERY_BODY_LIMIT)),
        )
        .route("/local/v1/deliveries/{delivery_id}", get(get_delivery::<S>))
        .route("/local/v1/inbox", get(inbox::<S>))
}

fn wire(d: &OutgoingDelivery) -> DeliveryWire {
    let c = &d.content;
    let (query_id, delivered_at, refusal_code, refused_at) = match &d.status {
        DeliveryStatus::Pending => (None, None, None, None),
        DeliveryStatus::Delivered { query_id, at } => (Some(query_id.to_string()), Some(at.0), None, None),
        DeliveryStatus::Refused { code, at } => (None, None, Some(code.clone()), Some(at.0)),
    };
    DeliveryWire {
        delivery_id: d.delivery_id.to_string(),
        local_id: c.local_id.to_string(),
        recipient: c.recipient.to_string(),
        office_work: c.office_work.to_string(),
        item: c.item.to_string(),
        fiscal_year: c.fiscal_year.map(FiscalYear::get),
        status: d.status.as_str().into(),
        attempts: d.attempts,
        created_at: d.created_at.0,
        next_attempt_at: matches!(d.status, DeliveryStatus::Pending).then_some(d.next_attempt_at.0),
        last_error: d.last_error.clone(),
        query_id,
        delivered_at,
        refusal_code,
        refused_at,
    }
}

fn field<T, E: std::fmt::Display>(name: &str, r: Result<T, E>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::malformed(format!("{name}: {e}")))
}

/// Every check a delivery passes before it is kept: each field's form,
/// the catalog (office work, item, fiscal year for periodic items), the
/// document (an object, not too large).
fn validate<S>(st: &NodeState<S>, body: &DeliveryRequest) -> Result<(DeliveryId, DeliveryContent), ApiError> {
    let delivery_id = field("delivery_id", DeliveryId::parse(&body.delivery_id))?;
    let local_id = field("local_id", LocalPersonId::parse(&body.local_id))?;
    let recipient = field("recipient", CorporateNumber::parse(&body.recipient))?;
    if recipient == st.provider.identity.institution {
        return Err(ApiError::malformed(
            "recipient: a node does not deliver to itself",
        ));
    }
    let office_work = field("office_work", OfficeWorkCode::parse(&body.office_work))?;
    if st.catalog.office_work(&office_work).is_none() {
        return Err(ApiError::malformed(format!(
            "office_work: `{office_work}` is not in catalog {}",
            st.catalog.version
        )));
    }
    let item = field("item", ItemCode::parse(&body.item))?;
    let Some(item_def) = st.catalog.item(&item) else {
        return Err(ApiError::malformed(format!(
            "item: `{item}` is not in catalog {}",
            st.catalog.version
        )));
    };
    if item.as_str() == NOTICE_ITEM {
        return Err(ApiError::malformed(
            "item: notices are sent with POST /local/v1/notices",
        ));
    }
    let fiscal_year = body
        .fiscal_year
        .map(FiscalYear::new)
        .transpose()
        .map_err(|e| ApiError::malformed(format!("fiscal_year: {e}")))?;
    match (item_def.periodic, fiscal_year) {
        (true, None) => {
            return Err(ApiError::malformed(format!(
                "fiscal_year: item `{item}` needs a fiscal year"
            )));
        }
        (false, Some(_)) => {
            return Err(ApiError::malformed(format!(
                "fiscal_year: item `{item}` has no fiscal year; omit it"
            )));
        }
        _ => {}
    }
    let document = check_document(&body.document).map_err(|e| {
        if e.contains("bytes") {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large", e)
        } else {
            ApiError::malformed(e)
        }
    })?;
    // A document for people's mailboxes is checked here, where the sender
    // can mend it, not only where it arrives.
    if renkei_delivery::is_network_document_item(item.as_str()) {
        renkei_delivery::check_network_document(
            item.as_str(),
            fiscal_year.map(FiscalYear::get),
            delivery_id.as_str(),
            &body.document,
            &st.document_types,
        )
        .map_err(|r| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                r.code(),
                format!("document: {r}"),
            )
        })?;
    }
    Ok((
        delivery_id,
        DeliveryContent {
            local_id,
            recipient,
            office_work,
            item,
            fiscal_year,
            document,
        },
    ))
}

async fn post_delivery<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    JsonBody(body): JsonBody<DeliveryRequest>,
) -> Result<(StatusCode, Json<DeliveryWire>), ApiError> {
    let (delivery_id, content) = validate(&st, &body)?;
    if st.store.code_of(&content.local_id).await?.is_none() {
        return Err(ApiError::not_found(
            "not_enrolled",
            format!("person {} is not enrolled at this node", content.local_id),
        ));
    }
    // An institution the hub does not know is refused now, when the hub
    // can tell; with the hub out of reach the delivery is kept and the
    // worker finds out.
    if let Some(previous) = st.store.delivery(&delivery_id).await? {
        return same_or_conflict(previous, &content);
    }
    match receiver_party(&st, content.recipient).await {
        Err(e) if e.code == "unknown_institution" => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_recipient",
                format!("recipient: {}", e.message),
            ));
        }
        Err(e) => {
            tracing::info!(code = %e.code, "the recipient could not be checked now; the delivery is kept");
        }
        Ok(_) => {}
    }
    let now = UnixMillis::now();
    let delivery = OutgoingDelivery {
        delivery_id,
        content: content.clone(),
        created_at: now,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
    };
    match st.store.enqueue_delivery(delivery).await? {
        Enqueued::New(d) => {
            metrics::counter!("renkei_node_deliveries_posted_total").increment(1);
            st.deliveries_wake.notify_one();
            Ok((StatusCode::ACCEPTED, Json(wire(&d))))
        }
        Enqueued::Existing(previous) => same_or_conflict(previous, &content),
    }
}

/// The same delivery posted again is answered as it stands; another
/// content under the same id is a conflict.
fn same_or_conflict(
    previous: OutgoingDelivery,
    content: &DeliveryContent,
) -> Result<(StatusCode, Json<DeliveryWire>), ApiError> {
    if previous.content == *content {
        Ok((StatusCode::ACCEPTED, Json(wire(&previous))))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "delivery_id_conflict",
            format!(
                "delivery {} was posted before with another content",
                previous.delivery_id
            ),
        ))
    }
}

async fn get_delivery<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryWire>, ApiError> {
    let id = field("delivery_id", DeliveryId::parse(&id))?;
    let d = st
        .store
        .delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_delivery", format!("no delivery {id} here")))?;
    Ok(Json(wire(&d)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// The outbox in delivery-id order, of one status or all: an operator
/// finds what is still pending (and why) or what was refused.
async fn list_deliveries<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Vec<DeliveryWire>>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some("pending") => Some("pending"),
        Some("delivered") => Some("delivered"),
        Some("refused") => Some("refused"),
        Some(_) => {
            return Err(ApiError::malformed(
                "status: must be pending, delivered or refused",
            ));
        }
    };
    let after = q
        .after
        .as_deref()
        .map(|a| field("after", DeliveryId::parse(a)))
        .transpose()?;
    let list = st
        .store
        .list_deliveries(status, after, page_limit(q.limit)?)
        .await?;
    Ok(Json(list.iter().map(wire).collect()))
}

/// A page of a listing: 100 unless asked, at most 1,000 (a larger ask is
/// refused, not cut short without a word).
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(100) {
        n @ 1..=1000 => Ok(n),
        n => Err(ApiError::malformed(format!(
            "limit: {n} is not between 1 and 1000"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

async fn inbox<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    QueryParams(q): QueryParams<InboxQuery>,
) -> Result<Json<Vec<InboxEntryWire>>, ApiError> {
    let rows = st.store.inbox(q.after, page_limit(q.limit)?).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(seq, d)| InboxEntryWire {
                seq,
                delivery_id: d.delivery_id.to_string(),
                sender: d.sender.to_string(),
                office_work: d.office_work.to_string(),
                item: d.item.to_string(),
                fiscal_year: d.fiscal_year.map(FiscalYear::get),
                local_id: d.local_id.to_string(),
                document: serde_json::Value::Object(d.document),
                query_id: d.query_id.to_string(),
                received_at: d.received_at.0,
            })
            .collect(),
    ))
}

// ------------------------------------------------------------------ worker

/// How long a receiver's certified keys are used before they are fetched
/// from the hub's directory (and verified against the CA and CRL) again.
const RECEIVER_KEYS_FOR: Duration = Duration::from_secs(60);

/// The receiver's certified keys, as [`crate::notices::recipient_party`]
/// finds them, kept for [`RECEIVER_KEYS_FOR`]: a burst of deliveries to one
/// institution asks the hub's directory once.
async fn receiver_party<S>(
    st: &NodeState<S>,
    recipient: CorporateNumber,
) -> Result<CertifiedParty, ApiError> {
    let cache = || st.receivers.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, party)) = cache().get(&recipient)
        && at.elapsed() < RECEIVER_KEYS_FOR
    {
        return Ok(party.clone());
    }
    let party = crate::notices::recipient_party(st, recipient).await?;
    let mut c = cache();
    c.retain(|_, (at, _)| at.elapsed() < RECEIVER_KEYS_FOR);
    c.insert(recipient, (Instant::now(), party.clone()));
    Ok(party)
}

/// The receivers' keys [`receiver_party`] keeps.
pub(crate) type ReceiverKeys = std::sync::Mutex<HashMap<CorporateNumber, (Instant, CertifiedParty)>>;

/// The outbox's worker: keeps up to `concurrency` due deliveries in
/// flight, takes the next due one as each attempt ends, and sleeps until
/// the next delivery is due or a new one is posted. Runs for the node's
/// lifetime.
pub(crate) async fn run_worker<S: NodeStore>(st: Arc<NodeState<S>>) {
    const IDLE: Duration = Duration::from_secs(5);
    let slots = st.delivery_settings.concurrency.max(1) as usize;
    let mut in_flight: HashSet<DeliveryId> = HashSet::new();
    let mut task_of: HashMap<tokio::task::Id, DeliveryId> = HashMap::new();
    let mut tasks: tokio::task::JoinSet<bool> = tokio::task::JoinSet::new();
    let mut counted = Instant::now();
    loop {
        if tasks.len() < slots {
            let want = u32::try_from(slots + in_flight.len()).unwrap_or(u32::MAX);
            match st.store.due_deliveries(UnixMillis::now(), want).await {
                Ok(due) => {
                    for d in due {
                        if tasks.len() >= slots {
                            break;
                        }
                        if !in_flight.insert(d.delivery_id.clone()) {
                            continue;
                        }
                        let st = st.clone();
                        let id = d.delivery_id.clone();
                        let task = tasks.spawn(async move { attempt(&st, &d).await });
                        task_of.insert(task.id(), id);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        if tasks.is_empty() {
            if let Ok((pending, _, _)) = st.store.delivery_counts().await {
                metrics::gauge!("renkei_node_deliveries_pending").set(pending as f64);
            }
            let wait = match st.store.next_delivery_due().await {
                Ok(Some(t)) => {
                    Duration::from_millis(u64::try_from(t.0 - UnixMillis::now().0).unwrap_or(0)).min(IDLE)
                }
                _ => IDLE,
            };
            tokio::select! {
                () = st.deliveries_wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        tokio::select! {
            ended = tasks.join_next_with_id() => {
                let (task, recorded) = match ended {
                    Some(Ok((task, recorded))) => (Some(task), recorded),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "a delivery attempt failed to complete");
                        (Some(e.id()), false)
                    }
                    None => (None, true),
                };
                if let Some(id) = task.and_then(|t| task_of.remove(&t)) {
                    in_flight.remove(&id);
                }
                if !recorded {
                    // The store would not keep an outcome: that delivery is
                    // still due as it was; do not send it again at once.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            () = st.deliveries_wake.notified() => {}
        }
        if counted.elapsed() >= Duration::from_secs(1) {
            counted = Instant::now();
            if let Ok((pending, _, _)) = st.store.delivery_counts().await {
                metrics::gauge!("renkei_node_deliveries_pending").set(pending as f64);
            }
        }
    }
}

/// Whether a refusal is for good: the hub refused a request it
/// authenticated for a reason another attempt would not change (not
/// permitted, unknown or suspended receiver, …), the receiver is not
/// registered, or the person is not enrolled here. Anything else — the hub
/// or the receiver down or slow, a reply that failed verification, a
/// certificate not yet trusted — may pass, and is retried.
fn refused_for_good(e: &ApiError) -> bool {
    match DenialCode::parse(&e.code) {
        Some(c) => c.is_recorded() && !c.is_retryable(),
        None => matches!(e.code.as_str(), "unknown_institution" | "not_enrolled"),
    }
}

/// One attempt at one delivery, and its outcome kept in the outbox
/// (`false` if the store would not keep it).
async fn attempt<S: NodeStore>(st: &NodeState<S>, d: &OutgoingDelivery) -> bool {
    let now = UnixMillis::now();
    let outcome = match send(st, d).await {
        Ok(query_id) => AttemptOutcome::Delivered { query_id, at: now },
        Err(e) if refused_for_good(&e) => AttemptOutcome::Refused {
            code: e.code.clone(),
            error: e.message.clone(),
            at: now,
        },
        Err(e) => {
            let s = &st.delivery_settings;
            let delay = backoff_ms(
                d.attempts + 1,
                s.retry_initial_ms,
                s.retry_max_ms,
                fastrand::f64(),
            );
            AttemptOutcome::Failed {
                error: format!("{}: {}", e.code, e.message),
                next_attempt_at: UnixMillis(now.0.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX))),
            }
        }
    };
    let label = match &outcome {
        AttemptOutcome::Delivered { .. } => "delivered",
        AttemptOutcome::Failed { .. } => "failed",
        AttemptOutcome::Refused { .. } => "refused",
    };
    metrics::counter!("renkei_node_delivery_attempts_total", "outcome" => label).increment(1);
    match &outcome {
        AttemptOutcome::Delivered { query_id, .. } => {
            tracing::info!(delivery = %d.delivery_id, %query_id, attempts = d.attempts + 1, "delivered");
        }
        AttemptOutcome::Failed {
            error,
            next_attempt_at,
        } => {
            tracing::warn!(delivery = %d.delivery_id, attempts = d.attempts + 1, %error, next = next_attempt_at.0, "delivery attempt failed; will retry");
        }
        AttemptOutcome::Refused { code, .. } => {
            tracing::warn!(delivery = %d.delivery_id, %code, "delivery refused for good");
        }
    }
    match st.store.delivery_attempted(&d.delivery_id, outcome).await {
        Ok(_) => true,
        Err(e) => {
            // The delivery stays pending as it was and is attempted again:
            // the receiver keeps it once.
            tracing::error!(delivery = %d.delivery_id, error = %e, "cannot record a delivery attempt");
            false
        }
    }
}

/// Send one delivery as a push: sealed to the receiver's certified key,
/// signed, through the hub; the hub's query id once the receiver accepted.
async fn send<S: NodeStore>(st: &NodeState<S>, d: &OutgoingDelivery) -> Result<QueryId, ApiError> {
    let c = &d.content;
    let code = st.store.code_of(&c.local_id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {} is not enrolled at this node", c.local_id),
        )
    })?;
    let receiver = receiver_party(st, c.recipient).await?;
    let identity = &st.provider.identity;
    let sealed = zeroize::Zeroizing::new(
        serde_json::to_vec(&SealedDelivery {
            delivery_id: d.delivery_id.to_string(),
            document: serde_json::Value::Object(c.document.clone()),
        })
        .map_err(|e| ApiError::internal("encoding the delivery", e))?,
    );
    let requested_at = UnixMillis::now();
    let mut request = LinkageRequest {
        message_id: MessageId::random(),
        requester: identity.institution,
        provider: c.recipient,
        office_work: c.office_work.clone(),
        item: c.item.clone(),
        fiscal_year: c.fiscal_year,
        subject: code,
        issued_at: requested_at,
        consent: None,
        person_proof: None,
        payload: None,
    };
    let mut core = request.core();
    core.seal_payload(&identity.sealing, &receiver, &sealed)
        .map_err(|e| ApiError::internal("sealing the delivery", e))?;
    request.payload = core.payload;
    let request = request.sign(&identity.signing, identity.certificate.clone());
    let (verified, _) = crate::node::exchange(st, &request, c.local_id.clone(), requested_at, |p| {
        matches!(p, AnswerPayload::Accepted).then_some(RecordOutcome::Provided)
    })
    .await?;
    Ok(verified.query_id)
}

// ---------------------------------------------------------------- receiver

/// A node receives a delivery (the forward already passed every check of
/// [`renkei_provider::Provider::accept`], and the hub found a push row for
/// it): open it, keep it once for the person, answer "accepted" — again
/// if it was kept before — and record the exchange.
pub(crate) async fn receive<S: NodeStore>(
    st: &NodeState<S>,
    forward: &SignedForward,
    requester: &CertifiedParty,
) -> Result<Json<SignedAnswerWire>, ApiError> {
    let q = &forward.query;
    let core = &q.request.core;
    let refuse = |code, reason: String| Refusal::of(forward, ProvideError::Push { code, reason });
    if st.catalog.item(&core.item).is_none() {
        return Err(Refusal::unexpected_payload(forward)
            .recorded(|r| st.store.append_record(r))
            .await);
    }
    let opened = match core.open_payload(&st.provider.identity.sealing, requester) {
        Ok(Some(plain)) => renkei_protocol::strict_json::from_slice::<SealedDelivery>(&plain)
            .map_err(|e| {
                refuse(
                    "push_malformed",
                    format!("the delivery is not a valid delivery document: {e}"),
                )
            })
            .and_then(|s| {
                let id = DeliveryId::parse(&s.delivery_id)
                    .map_err(|e| refuse("push_malformed", format!("delivery_id: {e}")))?;
                if renkei_delivery::is_network_document_item(core.item.as_str()) {
                    renkei_delivery::check_network_document(
                        core.item.as_str(),
                        core.fiscal_year.map(FiscalYear::get),
                        id.as_str(),
                        &s.document,
                        &st.document_types,
                    )
                    .map_err(|r| refuse("push_malformed", format!("document: {r}")))?;
                }
                let document = check_document(&s.document).map_err(|e| refuse("push_malformed", e))?;
                Ok((id, document))
            }),
        Ok(None) => Err(refuse(
            "push_without_payload",
            "a delivery must carry its sealed document".into(),
        )),
        Err(e) => Err(refuse(
            "push_unopened",
            format!("the delivery does not open: {e}"),
        )),
    };
    let (delivery_id, document) = match opened {
        Ok(o) => o,
        Err(r) => return Err(r.recorded(|r| st.store.append_record(r)).await),
    };
    let person = crate::notices::push_subject(st, q).await?;
    let (_, fresh) = st
        .store
        .receive_delivery(IncomingDelivery {
            sender: core.requester,
            delivery_id,
            local_id: person.clone(),
            office_work: core.office_work.clone(),
            item: core.item.clone(),
            fiscal_year: core.fiscal_year,
            document,
            query_id: q.query_id,
            received_at: UnixMillis::now(),
        })
        .await?;
    let answer = st.provider.answer(forward, requester, &AnswerPayload::Accepted)?;
    let record = renkei_node::provider_record(forward, Some(person), &answer, true);
    st.store.append_record(record).await?;
    metrics::counter!("renkei_node_deliveries_received_total", "new" => if fresh { "yes" } else { "no" })
        .increment(1);
    Ok(Json((&answer).into()))
}
