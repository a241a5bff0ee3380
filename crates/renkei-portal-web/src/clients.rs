//! Administrators' API for the consent API's clients: applications,
//! screening, suspension, revocation, transfer; every change recorded.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router, routing::get, routing::post};
use renkei_consent::{
    Actor, ApiClient, ApplicationForm, ClientAction, ClientAuth, ClientEvent, ClientId, ClientKeys,
};
use renkei_ids::CorporateNumber;
use renkei_protocol::UnixMillis;
use renkei_transport::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};

use crate::state::PortalState;

pub(crate) fn routes<S: crate::Store + Clone>() -> Router<Arc<PortalState<S>>> {
    Router::new()
        .route("/admin/v1/clients", post(apply_for::<S>).get(list::<S>))
        .route("/admin/v1/clients/{id}", get(show::<S>))
        .route("/admin/v1/clients/{id}/{action}", post(change::<S>))
        .route("/admin/v1/clients/{id}/usage", get(usage::<S>))
        .route("/admin/v1/alerts", get(alerts::<S>))
}

/// A client as administrators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientView {
    pub client_id: String,
    pub corporate_number: String,
    pub name: String,
    pub name_en: Option<String>,
    pub purpose: String,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub jwks_uri: Option<String>,
    pub items: Vec<String>,
    pub max_data_life_days: u32,
    pub contact: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ApiClient> for ClientView {
    fn from(c: &ApiClient) -> Self {
        Self {
            client_id: c.id.to_string(),
            corporate_number: c.app.corporate_number.to_string(),
            name: c.app.name.clone(),
            name_en: c.app.name_en.clone(),
            purpose: c.app.purpose.clone(),
            redirect_uris: c.app.redirect_uris.clone(),
            token_endpoint_auth_method: match c.app.auth {
                ClientAuth::PrivateKeyJwt => "private_key_jwt".into(),
                ClientAuth::TlsClientAuth { .. } => "tls_client_auth".into(),
            },
            jwks_uri: match &c.app.keys {
                ClientKeys::JwksUri(u) => Some(u.clone()),
                ClientKeys::Jwks(_) => None,
            },
            items: c.app.items.iter().map(|i| i.as_str().to_owned()).collect(),
            max_data_life_days: c.app.max_data_life_days,
            contact: c.app.contact.clone(),
            status: c.status.as_str().into(),
            status_reason: c.status_reason.clone(),
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventView {
    pub at: String,
    pub actor: Actor,
    pub action: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: Option<String>,
    pub previous_corporate_number: Option<String>,
}

impl<I> From<&renkei_consent::ScreeningEvent<I>> for EventView {
    fn from(e: &renkei_consent::ScreeningEvent<I>) -> Self {
        Self {
            at: e.at.to_string(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            from: e.from.map(|s| s.as_str().into()),
            to: e.to.as_str().into(),
            reason: e.reason.clone(),
            previous_corporate_number: e.previous_corporate_number.map(|c| c.to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientWithEvents {
    pub client: ClientView,
    pub events: Vec<EventView>,
}

/// `POST /admin/v1/clients/{id}/{action}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientActionRequest {
    /// The administrator acting (kept in the event).
    pub by: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// For `transfer`: the successor's corporate number.
    #[serde(default)]
    pub to: Option<String>,
}

fn client_id(s: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(s).ok_or_else(|| ApiError::malformed(format!("{s:?} is not a client id")))
}

async fn apply_for<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    JsonBody(form): JsonBody<ApplicationForm>,
) -> Result<(StatusCode, Json<ClientView>), ApiError> {
    let app = form
        .validate(&st.catalog)
        .map_err(|e| ApiError::malformed(e.to_string()))?;
    if let ClientKeys::JwksUri(uri) = &app.keys {
        crate::ssrf::check_uri(uri, st.settings.jwks_uri_allow_loopback)
            .map_err(|why| ApiError::malformed(format!("jwks_uri: {why}")))?;
    }
    if matches!(app.auth, ClientAuth::TlsClientAuth { .. }) && st.mtls_origin.is_none() {
        // Without the mutual-TLS listener a client registered so could
        // never authenticate.
        return Err(ApiError::malformed(
            "token_endpoint_auth_method: tls_client_auth needs the portal's mtls_listen; use private_key_jwt",
        ));
    }
    let mut id = [0u8; 16];
    renkei_jose::random_bytes(&mut id).map_err(|e| ApiError::internal("client id", e))?;
    let client = ApiClient::new(ClientId::from_random(id), app, UnixMillis::now());
    st.store
        .insert_client(&client, &ClientEvent::applied(&client))
        .await?;
    tracing::info!(client = %client.id, corporate_number = %client.app.corporate_number, "API client applied");
    metrics::counter!("renkei_consent_client_changes_total", "action" => "applied").increment(1);
    Ok((StatusCode::CREATED, Json(ClientView::from(&client))))
}

async fn list<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    Ok(Json(
        st.store.clients().await?.iter().map(ClientView::from).collect(),
    ))
}

async fn show<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(id): Path<String>,
) -> Result<Json<ClientWithEvents>, ApiError> {
    let id = client_id(&id)?;
    let client = st
        .store
        .client(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no_client", "no such client"))?;
    let events = st.store.client_events(&id).await?;
    Ok(Json(ClientWithEvents {
        client: ClientView::from(&client),
        events: events.iter().map(EventView::from).collect(),
    }))
}

async fn change<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path((id, action)): Path<(String, String)>,
    JsonBody(b): JsonBody<ClientActionRequest>,
) -> Result<Json<ClientView>, ApiError> {
    let id = client_id(&id)?;
    let (action, actor) = screening_action(&action, &b)?;
    change_client(&st, &id, &action, actor)
        .await
        .map(|c| Json(ClientView::from(&c)))
}

/// The screening action a `POST …/{id}/{action}` names, and the
/// administrator taking it (clients and senders alike).
pub(crate) fn screening_action(
    action: &str,
    b: &ClientActionRequest,
) -> Result<(ClientAction, Actor), ApiError> {
    let by = b.by.trim();
    if by.is_empty() || by.chars().count() > 64 || by.chars().any(char::is_control) {
        return Err(ApiError::malformed(
            "by: the administrator's name, 1 to 64 characters",
        ));
    }
    let reason = || b.reason.clone().unwrap_or_default();
    let action = match action {
        "approve" => ClientAction::Approve,
        "reject" => ClientAction::Reject { reason: reason() },
        "suspend" => ClientAction::Suspend { reason: reason() },
        "resume" => ClientAction::Resume,
        "revoke" => ClientAction::Revoke { reason: reason() },
        "transfer" => ClientAction::Transfer {
            to: CorporateNumber::parse(b.to.as_deref().unwrap_or_default())
                .map_err(|e| ApiError::malformed(format!("to: {e}")))?,
            reason: reason(),
        },
        other => {
            return Err(ApiError::not_found(
                "no_action",
                format!("{other:?}: use approve, reject, suspend, resume, revoke or transfer"),
            ));
        }
    };
    Ok((action, Actor::Administrator(by.to_owned())))
}

/// A screening change refused by the state machine: a missing reason is
/// malformed, a change from the wrong status a conflict (`code`).
pub(crate) fn transition_refused(e: renkei_consent::TransitionError, code: &'static str) -> ApiError {
    match e {
        renkei_consent::TransitionError::ReasonRequired(_) => ApiError::malformed(e.to_string()),
        _ => ApiError::new(StatusCode::CONFLICT, code, e.to_string()),
    }
}

/// Apply a change and store it with its event; shared with the monitor.
pub(crate) async fn change_client<S: crate::Store>(
    st: &PortalState<S>,
    id: &ClientId,
    action: &ClientAction,
    actor: Actor,
) -> Result<ApiClient, ApiError> {
    let client = st
        .store
        .client(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no_client", "no such client"))?;
    let (next, event) = renkei_consent::apply(&client, action, actor, UnixMillis::now())
        .map_err(|e| transition_refused(e, "client_state"))?;
    if !st.store.update_client(&next, client.status, &event).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "client_state",
            "the client changed meanwhile; read it again",
        ));
    }
    if matches!(action, ClientAction::Resume)
        && let Some(k) = st.oauth.as_ref()
    {
        k.reset_watch(id);
    }
    tracing::info!(client = %id, action = action.name(), to = next.status.as_str(), "API client changed");
    metrics::counter!("renkei_consent_client_changes_total", "action" => action.name()).increment(1);
    Ok(next)
}

/// A client's use of the API, for administrators.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageView {
    pub client_id: String,
    pub status: String,
    /// Fetches in the last 24 hours, by outcome.
    pub last_24h: UsageCounts,
    /// All fetches, by outcome.
    pub total: UsageCounts,
    /// The monitor's window (this process): requests, failures, refusals
    /// over the rate limit.
    pub window_requests: u64,
    pub window_failures: u64,
    pub rate_limited: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageCounts {
    pub delivered: u64,
    pub refused: u64,
    pub failed: u64,
}

impl From<renkei_consent::Usage> for UsageCounts {
    fn from(u: renkei_consent::Usage) -> Self {
        Self {
            delivered: u.delivered,
            refused: u.refused,
            failed: u.failed,
        }
    }
}

async fn usage<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(id): Path<String>,
) -> Result<Json<UsageView>, ApiError> {
    let id = client_id(&id)?;
    let client = st
        .store
        .client(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no_client", "no such client"))?;
    let now = UnixMillis::now();
    let last = st.store.usage(&id, now.plus_ms(-86_400_000)).await?;
    let total = st.store.usage(&id, UnixMillis(0)).await?;
    let (w_req, w_fail, limited) = st.oauth.as_ref().map(|k| k.watch_counts(&id)).unwrap_or_default();
    Ok(Json(UsageView {
        client_id: id.to_string(),
        status: client.status.as_str().into(),
        last_24h: last.into(),
        total: total.into(),
        window_requests: w_req,
        window_failures: w_fail,
        rate_limited: limited,
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertView {
    pub client_id: String,
    pub at: String,
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Deserialize)]
struct AlertQuery {
    #[serde(default)]
    client: Option<String>,
}

async fn alerts<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    renkei_transport::QueryParams(q): renkei_transport::QueryParams<AlertQuery>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let client = q.client.as_deref().map(client_id).transpose()?;
    let list = st.store.alerts(client.as_ref(), 500).await?;
    Ok(Json(
        list.into_iter()
            .map(|a| AlertView {
                client_id: a.client.to_string(),
                at: a.at.to_string(),
                kind: a.kind,
                detail: a.detail,
            })
            .collect(),
    ))
}
