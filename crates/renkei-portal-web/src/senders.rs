//! Administrators' API for delivery's senders: applications, screening,
//! suspension, revocation, transfer — as for the consent API's clients,
//! every change recorded.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router, routing::get, routing::post};
use renkei_delivery::{Sender, SenderEvent, SenderForm, SenderId};
use renkei_protocol::UnixMillis;
use renkei_transport::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};

use crate::clients::{ClientActionRequest, EventView, screening_action, transition_refused};
use crate::state::PortalState;

pub(crate) fn routes<S: crate::Store + Clone>() -> Router<Arc<PortalState<S>>> {
    Router::new()
        .route("/admin/v1/senders", post(apply_for::<S>).get(list::<S>))
        .route("/admin/v1/senders/{id}", get(show::<S>))
        .route("/admin/v1/senders/{id}/{action}", post(change::<S>))
}

/// A sender as administrators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SenderView {
    pub sender_id: String,
    pub corporate_number: String,
    pub name: String,
    pub name_en: Option<String>,
    pub kind: String,
    /// Key ids of its registered signing keys (none for a public sender,
    /// which delivers through its node).
    pub kids: Vec<String>,
    pub document_types: Vec<String>,
    pub contact: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Sender> for SenderView {
    fn from(s: &Sender) -> Self {
        Self {
            sender_id: s.id.to_string(),
            corporate_number: s.app.corporate_number.to_string(),
            name: s.app.name.clone(),
            name_en: s.app.name_en.clone(),
            kind: s.app.kind.as_str().into(),
            kids: s
                .app
                .jwks
                .iter()
                .flat_map(|j| &j.keys)
                .map(|k| k.kid.clone().unwrap_or_else(|| k.thumbprint()))
                .collect(),
            document_types: s.app.document_types.iter().map(ToString::to_string).collect(),
            contact: s.app.contact.clone(),
            status: s.status.as_str().into(),
            status_reason: s.status_reason.clone(),
            created_at: s.created_at.to_string(),
            updated_at: s.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SenderWithEvents {
    pub sender: SenderView,
    pub events: Vec<EventView>,
}

fn sender_id(s: &str) -> Result<SenderId, ApiError> {
    SenderId::parse(s).ok_or_else(|| ApiError::malformed(format!("{s:?} is not a sender id")))
}

async fn apply_for<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    JsonBody(form): JsonBody<SenderForm>,
) -> Result<(StatusCode, Json<SenderView>), ApiError> {
    let app = form
        .validate(&st.document_types)
        .map_err(|e| ApiError::malformed(e.to_string()))?;
    let mut id = [0u8; 16];
    renkei_jose::random_bytes(&mut id).map_err(|e| ApiError::internal("sender id", e))?;
    let sender = Sender::new(SenderId::from_random(id), app, UnixMillis::now());
    st.store
        .insert_sender(&sender, &SenderEvent::applied(&sender))
        .await?;
    tracing::info!(sender = %sender.id, corporate_number = %sender.app.corporate_number, "sender applied");
    metrics::counter!("renkei_delivery_sender_changes_total", "action" => "applied").increment(1);
    Ok((StatusCode::CREATED, Json(SenderView::from(&sender))))
}

async fn list<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
) -> Result<Json<Vec<SenderView>>, ApiError> {
    Ok(Json(
        st.store.senders().await?.iter().map(SenderView::from).collect(),
    ))
}

async fn show<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(id): Path<String>,
) -> Result<Json<SenderWithEvents>, ApiError> {
    let id = sender_id(&id)?;
    let sender = st
        .store
        .sender(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no_sender", "no such sender"))?;
    let events = st.store.sender_events(&id).await?;
    Ok(Json(SenderWithEvents {
        sender: SenderView::from(&sender),
        events: events.iter().map(EventView::from).collect(),
    }))
}

async fn change<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path((id, action)): Path<(String, String)>,
    JsonBody(b): JsonBody<ClientActionRequest>,
) -> Result<Json<SenderView>, ApiError> {
    let id = sender_id(&id)?;
    let (action, actor) = screening_action(&action, &b)?;
    let sender = st
        .store
        .sender(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no_sender", "no such sender"))?;
    if sender.app.kind.is_public() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "public_sender",
            format!(
                "{} is a public sender: its standing follows its network certificate and the permission table, not screening here",
                sender.app.kind.as_str()
            ),
        ));
    }
    let (next, event) = renkei_consent::apply(&sender, &action, actor, UnixMillis::now())
        .map_err(|e| transition_refused(e, "sender_state"))?;
    if !st.store.update_sender(&next, sender.status, &event).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "sender_state",
            "the sender changed meanwhile; read it again",
        ));
    }
    tracing::info!(sender = %id, action = action.name(), to = next.status.as_str(), "sender changed");
    metrics::counter!("renkei_delivery_sender_changes_total", "action" => action.name()).increment(1);
    Ok(Json(SenderView::from(&next)))
}
