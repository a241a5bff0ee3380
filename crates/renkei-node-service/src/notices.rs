//! Notices (お知らせ): an institution sends a notice to a person by its own
//! code, as a *push* through the hub with every check of a linkage. The
//! sender's node seals the text (HPKE auth mode) to the portal's node —
//! the institution it is configured to send notices to, whose certificate
//! it fetches from the hub's directory and verifies against the network
//! CA — signs the request, and sends it like a query: the hub
//! authenticates it, checks the permission table (office work
//! `notice_delivery`, item `notice`), refuses replays, translates the code
//! and records the exchange as a log leaf, and never sees the text. The
//! portal's node checks the sender's signature and certificate, opens the
//! text, keeps it for the person and answers "accepted", sealed back.

use renkei_api::notices::{
    MarkedRead, NOTICE_ITEM, NOTICE_OFFICE_WORK, NoticeSent, NoticeText, NoticeWire,
    RegisteredCertificateWire, SendNoticeRequest,
};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_catalog::{ItemCode, OfficeWorkCode};
use renkei_ids::{CorporateNumber, LocalPersonId, MessageId};
use renkei_node::{EnrolledPerson, NodeStore, Notice, ProvideError, check_notice_text};
use renkei_pki::Role;
use renkei_protocol::{
    AnswerPayload, CertifiedParty, LinkageRequest, RecordOutcome, SignedForward, UnixMillis,
};
use serde::{Deserialize, Serialize};

use crate::node::{NodeState, upstream};
use renkei_api::net::SignedAnswerWire;
use renkei_provider::Refusal;
use renkei_transport::Expect;
use renkei_transport::{ApiError, JsonBody};

pub(crate) const NOTICE_BODY_LIMIT: usize = 32 * 1024;

/// What is sealed to the portal's node: the text and the sender's name
/// as the sender gives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedNotice {
    sender_name: String,
    notice: NoticeText,
}

// ---- hub -----------------------------------------------------------------

// ---- node ----------------------------------------------------------------

pub(crate) fn node_local_routes<S: NodeStore + Clone>() -> Router<Arc<NodeState<S>>> {
    Router::new()
        .route(
            "/local/v1/notices",
            post(send::<S>).layer(axum::extract::DefaultBodyLimit::max(NOTICE_BODY_LIMIT)),
        )
        .route("/local/v1/persons/{local_id}/notices", get(list::<S>))
        .route("/local/v1/persons/{local_id}/notices/{id}/read", post(read::<S>))
}

/// The checks a notice's text passes before it is sealed.
fn check_text(text: &NoticeText) -> Result<(), ApiError> {
    let bad = |e: renkei_node::NoticeTextError| ApiError::malformed(e.to_string());
    check_notice_text("title_ja", &text.title_ja, false).map_err(bad)?;
    check_notice_text("body_ja", &text.body_ja, true).map_err(bad)?;
    match (&text.title_en, &text.body_en) {
        (Some(t), Some(b)) => {
            check_notice_text("title_en", t, false).map_err(bad)?;
            check_notice_text("body_en", b, true).map_err(bad)?;
        }
        (None, None) => {}
        _ => {
            return Err(ApiError::malformed(
                "title_en and body_en come together or not at all",
            ));
        }
    }
    Ok(())
}

fn local_id(s: &str) -> Result<LocalPersonId, ApiError> {
    LocalPersonId::parse(s).map_err(|e| ApiError::malformed(format!("local_id: {e}")))
}

async fn send<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    JsonBody(body): JsonBody<SendNoticeRequest>,
) -> Result<Json<NoticeSent>, ApiError> {
    let id = local_id(&body.local_id)?;
    check_text(&body.notice)?;
    let recipient = st.notice_recipient.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_notice_recipient",
            "this node is not configured to send notices (set notice_recipient to the portal's institution)",
        )
    })?;
    let code = st.store.code_of(&id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {id} is not enrolled at this node"),
        )
    })?;
    let portal = recipient_party(&st, recipient).await?;
    let identity = &st.provider.identity;
    let sealed = serde_json::to_vec(&SealedNotice {
        sender_name: identity.name.clone(),
        notice: body.notice,
    })
    .map_err(|e| ApiError::internal("encoding the notice", e))?;
    let requested_at = UnixMillis::now();
    let mut request = LinkageRequest {
        message_id: MessageId::random(),
        requester: identity.institution,
        provider: recipient,
        office_work: OfficeWorkCode::parse(NOTICE_OFFICE_WORK)
            .map_err(|e| ApiError::internal("office work", e))?,
        item: ItemCode::parse(NOTICE_ITEM).map_err(|e| ApiError::internal("item", e))?,
        fiscal_year: None,
        subject: code,
        issued_at: requested_at,
        consent: None,
        person_proof: None,
        payload: None,
    };
    let mut core = request.core();
    core.seal_payload(&identity.sealing, &portal, &sealed)
        .map_err(|e| ApiError::internal("sealing the notice", e))?;
    request.payload = core.payload;
    let request = request.sign(&identity.signing, identity.certificate.clone());
    let (verified, _) = crate::node::exchange(&st, &request, id, requested_at, |p| {
        matches!(p, AnswerPayload::Accepted).then_some(RecordOutcome::Provided)
    })
    .await?;
    metrics::counter!("renkei_node_notices_sent_total").increment(1);
    Ok(Json(NoticeSent {
        notice_id: verified.query_id.to_string(),
    }))
}

/// The institution notices go to, with the keys its certificate certifies.
/// The certificate comes from the hub's directory but is trusted only once
/// it verifies against the network CA and CRL and names `recipient`.
pub(crate) async fn recipient_party<S>(
    st: &NodeState<S>,
    recipient: CorporateNumber,
) -> Result<CertifiedParty, ApiError> {
    let wire: RegisteredCertificateWire = st
        .client
        .get(
            &format!("{}/v1/institutions/{recipient}/certificate", st.hub_url),
            Expect::Role(Role::Hub),
        )
        .await
        .map_err(|f| upstream(f, "hub"))?;
    let der = renkei_crypto::unb64("certificate", &wire.certificate)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "hub_error", e.to_string()))?;
    st.trust.certified_party(&der, recipient, st.suite).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "recipient_certificate_refused",
            format!("the notice recipient's certificate is refused: {e}"),
        )
    })
}

/// The portal's node receives a pushed notice (the forward already passed
/// every check of [`renkei_provider::Provider::accept`]): open it, keep it
/// for the person, answer "accepted". Any other node refuses pushes.
pub(crate) async fn receive<S: NodeStore>(
    st: &NodeState<S>,
    forward: &SignedForward,
    requester: &CertifiedParty,
) -> Result<Json<SignedAnswerWire>, ApiError> {
    let q = &forward.query;
    let core = &q.request.core;
    let refuse = |code, reason: String| Refusal::of(forward, ProvideError::Push { code, reason });
    let refused = match () {
        _ if st.provider.identity.kind.as_str() != "digital_agency" || core.item.as_str() != NOTICE_ITEM => {
            Some(Refusal::unexpected_payload(forward))
        }
        _ => None,
    };
    if let Some(r) = refused {
        return Err(r.recorded(|r| st.store.append_record(r)).await);
    }
    let opened = match core.open_payload(&st.provider.identity.sealing, requester) {
        Ok(Some(plain)) => renkei_protocol::strict_json::from_slice::<SealedNotice>(&plain)
            .map_err(|e| {
                refuse(
                    "push_malformed",
                    format!("the notice is not a valid notice document: {e}"),
                )
            })
            .and_then(|n| {
                check_text(&n.notice).map_err(|e| refuse("push_malformed", e.message))?;
                check_notice_text("sender_name", &n.sender_name, false)
                    .map_err(|e| refuse("push_malformed", e.to_string()))?;
                Ok(n)
            }),
        Ok(None) => Err(refuse(
            "push_without_payload",
            "a notice must carry its sealed text".into(),
        )),
        Err(e) => Err(refuse("push_unopened", format!("the notice does not open: {e}"))),
    };
    let sealed = match opened {
        Ok(n) => n,
        Err(r) => return Err(r.recorded(|r| st.store.append_record(r)).await),
    };
    let person = push_subject(st, q).await?;
    st.store
        .store_notice(
            &person,
            Notice {
                id: q.query_id.to_string(),
                sender: core.requester,
                sender_name: sealed.sender_name,
                title_ja: sealed.notice.title_ja,
                body_ja: sealed.notice.body_ja,
                title_en: sealed.notice.title_en,
                body_en: sealed.notice.body_en,
                sent_at: core.issued_at,
                read_at: None,
            },
        )
        .await?;
    let answer = st.provider.answer(forward, requester, &AnswerPayload::Accepted)?;
    let record = renkei_node::provider_record(forward, Some(person), &answer, true);
    st.store.append_record(record).await?;
    metrics::counter!("renkei_node_notices_received_total").increment(1);
    Ok(Json((&answer).into()))
}

/// The person a push is about, here: by the code the hub translated (or a
/// code the person had before), or — not known here yet — enrolled under
/// that code. The enrolment opens nothing: the portal reads a person's data
/// only with their card (see the person proofs), and a business system
/// matches the new local id itself.
pub(crate) async fn push_subject<S: NodeStore>(
    st: &NodeState<S>,
    q: &renkei_protocol::ForwardedQuery,
) -> Result<LocalPersonId, ApiError> {
    let mut person = st.store.person_by_code(&q.subject).await?;
    for previous in &q.previous_subjects {
        if person.is_some() {
            break;
        }
        person = st.store.person_by_code(previous).await?;
    }
    if let Some(id) = person {
        return Ok(id);
    }
    let id = crate::card::new_local_id();
    st.store
        .enrol(vec![EnrolledPerson {
            local_id: id.clone(),
            code: q.subject.clone(),
            enrolled_at: UnixMillis::now(),
        }])
        .await?;
    Ok(id)
}

async fn list<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path(local): Path<String>,
) -> Result<Json<Vec<NoticeWire>>, ApiError> {
    let id = local_id(&local)?;
    let notices = st.store.notices(&id).await?;
    Ok(Json(
        notices
            .into_iter()
            .map(|n| NoticeWire {
                id: n.id,
                sender: n.sender.to_string(),
                sender_name: n.sender_name,
                title_ja: n.title_ja,
                body_ja: n.body_ja,
                title_en: n.title_en,
                body_en: n.body_en,
                sent_at: n.sent_at.0,
                read_at: n.read_at.map(|r| r.0),
            })
            .collect(),
    ))
}

async fn read<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Path((local, notice)): Path<(String, String)>,
) -> Result<Json<MarkedRead>, ApiError> {
    let id = local_id(&local)?;
    if !st.store.mark_notice_read(&id, &notice, UnixMillis::now()).await? {
        return Err(ApiError::not_found(
            "unknown_notice",
            "this person has no such notice",
        ));
    }
    Ok(Json(MarkedRead { read: true }))
}
