//! Notices (お知らせ): an institution sends a notice to a person by its own
//! code; the hub translates the code into the portal's and hands the
//! notice to the portal's node (every registered, active institution of
//! kind `digital_agency`), which keeps it for the person. Nobody on the way
//! learns who the person is; the sender learns nothing back but that it
//! was delivered.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use renkei_hub::{HubStore, InstitutionStatus};
use renkei_ids::{CorporateNumber, InstitutionCode, LocalPersonId, MessageId};
use renkei_node::{EnrolledPerson, NodeStore, Notice, check_notice_text};
use renkei_pki::Role;
use renkei_protocol::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::client::Expect;
use crate::error::{ApiError, JsonBody};
use crate::hub::HubState;
use crate::node::{NodeState, upstream};
use crate::peer::Peer;

pub(crate) const NOTICE_BODY_LIMIT: usize = 32 * 1024;

/// The text of a notice, Japanese required, English optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeText {
    pub title_ja: String,
    pub body_ja: String,
    #[serde(default)]
    pub title_en: Option<String>,
    #[serde(default)]
    pub body_en: Option<String>,
}

impl NoticeText {
    fn check(&self) -> Result<(), ApiError> {
        let bad = |e: renkei_node::NoticeTextError| ApiError::malformed(e.to_string());
        check_notice_text("title_ja", &self.title_ja, false).map_err(bad)?;
        check_notice_text("body_ja", &self.body_ja, true).map_err(bad)?;
        match (&self.title_en, &self.body_en) {
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
}

/// A business system asks its node to send a notice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendNoticeRequest {
    pub local_id: String,
    pub notice: NoticeText,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeSent {
    pub notice_id: String,
}

/// Node → hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubNoticeRequest {
    pub code: String,
    pub notice: NoticeText,
}

/// Hub → the portal's node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverNoticeRequest {
    pub notice_id: String,
    pub code: String,
    pub sender: String,
    pub sender_name: String,
    pub sent_at: i64,
    pub notice: NoticeText,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeDelivered {
    pub notice_id: String,
}

/// A notice as the portal reads it from its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeWire {
    pub id: String,
    pub sender: String,
    pub sender_name: String,
    pub title_ja: String,
    pub body_ja: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub sent_at: i64,
    pub read_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkedRead {
    pub read: bool,
}

// ---- hub -----------------------------------------------------------------

pub(crate) async fn hub_notice<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<HubNoticeRequest>,
) -> Result<Json<NoticeDelivered>, ApiError> {
    let id = peer.institution_as(&[Role::Node])?;
    let (sender, portals) = {
        let dir = st.directory.read().unwrap_or_else(|p| p.into_inner());
        let sender = dir.get(&id).cloned().ok_or_else(|| {
            ApiError::forbidden("unknown_requester", format!("institution {id} is not registered"))
        })?;
        let portals: Vec<_> = dir
            .values()
            .filter(|i| i.kind.as_str() == "digital_agency" && i.status == InstitutionStatus::Active)
            .cloned()
            .collect();
        (sender, portals)
    };
    if sender.tls_certificate != peer.fingerprint || sender.status != InstitutionStatus::Active {
        return Err(ApiError::forbidden(
            "certificate_mismatch",
            "not the registered, active certificate",
        ));
    }
    body.notice.check()?;
    let code = InstitutionCode::parse(&body.code).map_err(|e| ApiError::malformed(format!("code: {e}")))?;
    let now = UnixMillis::now();
    if portals.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_portal",
            "no portal (institution of kind digital_agency) is registered to receive notices",
        )
        .retryable(true));
    }
    let notice_id = MessageId::random().to_string();
    for portal in &portals {
        let portal_code = st
            .core
            .translate_code(&id, &code, &portal.id, now)
            .map_err(|e| ApiError::forbidden("code_invalid", e.to_string()))?;
        let deliver = DeliverNoticeRequest {
            notice_id: notice_id.clone(),
            code: portal_code.to_string(),
            sender: id.to_string(),
            sender_name: sender.name.clone(),
            sent_at: now.0,
            notice: body.notice.clone(),
        };
        let _: NoticeDelivered = st
            .client
            .post(
                &format!("{}/v1/notices/deliver", portal.endpoint),
                &deliver,
                Expect::Certificate(portal.tls_certificate),
                None,
            )
            .await
            .map_err(|f| upstream(f, "portal"))?;
    }
    metrics::counter!("renkei_hub_notices_total").increment(1);
    tracing::info!(sender = %id, %notice_id, "notice delivered");
    Ok(Json(NoticeDelivered { notice_id }))
}

// ---- node ----------------------------------------------------------------

pub(crate) fn node_network_routes<S: NodeStore + Clone>() -> Router<Arc<NodeState<S>>> {
    Router::new().route(
        "/v1/notices/deliver",
        post(deliver::<S>).layer(DefaultBodyLimit::max(NOTICE_BODY_LIMIT)),
    )
}

pub(crate) fn node_local_routes<S: NodeStore + Clone>() -> Router<Arc<NodeState<S>>> {
    Router::new()
        .route(
            "/local/v1/notices",
            post(send::<S>).layer(DefaultBodyLimit::max(NOTICE_BODY_LIMIT)),
        )
        .route("/local/v1/persons/{local_id}/notices", get(list::<S>))
        .route("/local/v1/persons/{local_id}/notices/{id}/read", post(read::<S>))
}

fn local_id(s: &str) -> Result<LocalPersonId, ApiError> {
    LocalPersonId::parse(s).map_err(|e| ApiError::malformed(format!("local_id: {e}")))
}

async fn send<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    JsonBody(body): JsonBody<SendNoticeRequest>,
) -> Result<Json<NoticeSent>, ApiError> {
    let id = local_id(&body.local_id)?;
    body.notice.check()?;
    let code = st.store.code_of(&id).await?.ok_or_else(|| {
        ApiError::not_found(
            "not_enrolled",
            format!("person {id} is not enrolled at this node"),
        )
    })?;
    let delivered: NoticeDelivered = st
        .client
        .post(
            &format!("{}/v1/notices", st.hub_url),
            &HubNoticeRequest {
                code: code.to_string(),
                notice: body.notice,
            },
            Expect::Role(Role::Hub),
            None,
        )
        .await
        .map_err(|f| upstream(f, "hub"))?;
    Ok(Json(NoticeSent {
        notice_id: delivered.notice_id,
    }))
}

async fn deliver<S: NodeStore>(
    State(st): State<Arc<NodeState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<DeliverNoticeRequest>,
) -> Result<Json<NoticeDelivered>, ApiError> {
    peer.require_role(Role::Hub)?;
    if st.provider.identity.kind.as_str() != "digital_agency" {
        return Err(ApiError::forbidden(
            "not_a_portal",
            "this node does not receive notices",
        ));
    }
    body.notice.check()?;
    let code = InstitutionCode::parse(&body.code).map_err(|e| ApiError::malformed(format!("code: {e}")))?;
    let sender =
        CorporateNumber::parse(&body.sender).map_err(|e| ApiError::malformed(format!("sender: {e}")))?;
    let person = match st.store.person_by_code(&code).await? {
        Some(id) => id,
        None => {
            // Not known here yet: enrolled under the code, as a card
            // resolution would; the person sees it at first login.
            let id = crate::node_card::new_local_id();
            st.store
                .enrol(vec![EnrolledPerson {
                    local_id: id.clone(),
                    code,
                    enrolled_at: UnixMillis::now(),
                }])
                .await?;
            id
        }
    };
    st.store
        .store_notice(
            &person,
            Notice {
                id: body.notice_id.chars().take(64).collect(),
                sender,
                sender_name: body.sender_name.chars().take(200).collect(),
                title_ja: body.notice.title_ja,
                body_ja: body.notice.body_ja,
                title_en: body.notice.title_en,
                body_en: body.notice.body_en,
                sent_at: UnixMillis(body.sent_at),
                read_at: None,
            },
        )
        .await?;
    metrics::counter!("renkei_node_notices_received_total").increment(1);
    Ok(Json(NoticeDelivered {
        notice_id: body.notice_id,
    }))
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
