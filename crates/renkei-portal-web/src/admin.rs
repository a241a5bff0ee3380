//! The administrators' surface (bearer token): registering a guardian a
//! court appointed, with the decision's reference, and ending it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use renkei_ids::LocalPersonId;
use renkei_portal::{Proxy, ProxyBasis, ProxyId, ProxyStatus, ScopeSet};
use renkei_protocol::UnixMillis;
use renkei_transport::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};

use crate::state::PortalState;

pub(crate) fn router<S: crate::Store + Clone>(st: Arc<PortalState<S>>) -> Router {
    Router::new()
        .route("/admin/v1/guardians", post(register::<S>))
        .route("/admin/v1/guardians/{id}/end", post(end::<S>))
        .route("/admin/v1/state", get(state::<S>))
        .merge(crate::clients::routes::<S>())
        .merge(crate::senders::routes::<S>())
        .layer(middleware::from_fn_with_state(
            st.admin_token.clone(),
            renkei_transport::require_token,
        ))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics_text))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("portal-admin", r, n)
        }))
        .with_state(st)
}

async fn metrics_text() -> String {
    renkei_transport::install_metrics().render()
}

/// What the portal holds in memory for sessions and anonymous visitors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalStateView {
    /// Person log keys cached for live sessions.
    pub person_keys: usize,
    /// Unexpired login challenges counted against the limits.
    pub login_challenges: usize,
    /// Addresses holding at least one of them.
    pub login_addresses: usize,
    /// The number of each card CRL held, by `profile/purpose` (the
    /// refresher replaces one only with a higher number).
    #[serde(default)]
    pub card_crls: std::collections::BTreeMap<String, u64>,
}

async fn state<S: crate::Store>(State(st): State<Arc<PortalState<S>>>) -> Json<PortalStateView> {
    let person_keys = st.person_keys.lock().unwrap_or_else(|p| p.into_inner()).len();
    let (login_challenges, login_addresses) = {
        let mut l = st.login_limiter.lock().unwrap_or_else(|p| p.into_inner());
        l.expire(UnixMillis::now());
        (l.outstanding(), l.addresses())
    };
    let card_crls = {
        let trust = st.trust.read().unwrap_or_else(|p| p.into_inner());
        trust
            .cas()
            .iter()
            .filter_map(|ca| {
                let crl = trust.crl_for(ca)?;
                Some((
                    format!("{}/{}", ca.profile().as_str(), ca.purpose().as_str()),
                    crl.number(),
                ))
            })
            .collect()
    };
    Json(PortalStateView {
        person_keys,
        login_challenges,
        login_addresses,
        card_crls,
    })
}

/// A guardianship as the court decided it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianRequest {
    /// The ward, by the Digital Agency's id.
    pub principal: String,
    pub principal_name: String,
    pub guardian: String,
    pub guardian_name: String,
    /// The court decision, e.g. `東京家庭裁判所 令和8年(家)第1234号`.
    pub reference: String,
    /// Scope codes; all when omitted.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    pub valid_from: String,
    pub valid_until: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardianRegistered {
    pub proxy: u64,
}

fn date(field: &str, s: &str) -> Result<time::Date, ApiError> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| ApiError::malformed(format!("{field}: expected YYYY-MM-DD")))
}

fn text(field: &str, s: &str, max: usize) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(ApiError::malformed(format!(
            "{field}: 1 to {max} characters, no control characters"
        )));
    }
    Ok(t.to_owned())
}

async fn register<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    JsonBody(b): JsonBody<GuardianRequest>,
) -> Result<Json<GuardianRegistered>, ApiError> {
    let principal =
        LocalPersonId::parse(&b.principal).map_err(|e| ApiError::malformed(format!("principal: {e}")))?;
    let guardian =
        LocalPersonId::parse(&b.guardian).map_err(|e| ApiError::malformed(format!("guardian: {e}")))?;
    if principal == guardian {
        return Err(ApiError::malformed("principal and guardian must be two people"));
    }
    let reference = text("reference", &b.reference, 200)?;
    let (principal_name, guardian_name) = (
        text("principal_name", &b.principal_name, 64)?,
        text("guardian_name", &b.guardian_name, 64)?,
    );
    let scopes = match &b.scopes {
        None => ScopeSet::all(),
        Some(list) => ScopeSet::new(
            list.iter()
                .map(|s| {
                    renkei_portal::Scope::parse(s)
                        .ok_or_else(|| ApiError::malformed(format!("scope {s:?} is unknown")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    if scopes.is_empty() {
        return Err(ApiError::malformed("scopes must name at least one scope"));
    }
    let (from, until) = (
        date("valid_from", &b.valid_from)?,
        date("valid_until", &b.valid_until)?,
    );
    if until < from {
        return Err(ApiError::malformed("valid_until is before valid_from"));
    }
    let now = UnixMillis::now();
    let principal_card = st.store.last_card(&principal).await?.map(|h| h.serial);
    let guardian_card = st.store.last_card(&guardian).await?.map(|h| h.serial);
    let p = st
        .store
        .insert_proxy(Proxy {
            id: ProxyId(0),
            principal,
            representative: guardian,
            principal_name,
            representative_name: guardian_name,
            scopes,
            valid_from: from,
            valid_until: until,
            basis: ProxyBasis::Guardianship { reference },
            status: ProxyStatus::Active,
            principal_card,
            representative_card: guardian_card,
            confirmed_at: now,
            created_at: now,
            // No card of the principal confirmed a court's guardianship:
            // the network cannot check it (see SECURITY.md).
            authority: None,
        })
        .await?;
    tracing::info!(proxy = %p.id, "guardian registered by an administrator");
    Ok(Json(GuardianRegistered { proxy: p.id.0 }))
}

async fn end<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    Path(id): Path<String>,
) -> Result<Json<GuardianRegistered>, ApiError> {
    let id = ProxyId(
        id.parse()
            .map_err(|_| ApiError::malformed("the proxy id is a number"))?,
    );
    let mut p = st
        .store
        .proxy(id)
        .await?
        .filter(|p| matches!(p.basis, ProxyBasis::Guardianship { .. }))
        .ok_or_else(|| ApiError::not_found("unknown_guardianship", "no guardianship has this id"))?;
    let before = p.status;
    if matches!(before, ProxyStatus::Revoked { .. }) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_ended",
            "the guardianship has ended already",
        ));
    }
    p.status = ProxyStatus::Revoked {
        at: UnixMillis::now(),
    };
    if !st.store.update_proxy(&p, before).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "changed",
            "the guardianship changed meanwhile; retry",
        ));
    }
    Ok(Json(GuardianRegistered { proxy: p.id.0 }))
}
