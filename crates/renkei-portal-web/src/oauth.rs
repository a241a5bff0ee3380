//! The self-information API: a FAPI 2.0 authorization
//! server in the portal role — metadata, PAR, the consent page with its
//! preview, the token endpoint, Grant Management — and the resource API
//! that relays the person's data, signed by the portal (JWS) and encrypted
//! to the client (JWE) when it registered an encryption key.
//!
//! The rules live in `renkei_consent`; this module parses the HTTP, keeps
//! one-time values through the store and carries out the decisions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_consent::{
    ACCESS_TOKEN_TTL_MS, Actor, Admission, Alert, ApiClient, CLIENT_ASSERTION_TYPE, CODE_TTL_MS,
    ClientAction, ClientAlert, ClientId, ClientKeys, ClientWatch, CodeRecord, CodeRedemption,
    DELIVERY_LEASE_MS, DPOP_MAX_AGE_MS, DeliveryClaim, FetchOutcome, FetchRecord, Frequency, Grant, GrantId,
    OAuthError, Params, PushedRequest, REQUEST_URI_PREFIX, REQUEST_URI_TTL_MS, RevokedBy, SKEW_MS,
    SecretDigest, TokenRecord,
};
use renkei_jose::{Alg, JoseError, Jwks, SigningKey};
use renkei_protocol::UnixMillis;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::account::Staged;
use crate::i18n::Tr;
use crate::state::PortalState;
use crate::templates::{ConsentItem, ConsentPage, render};
use crate::web::{ClientAddr, LoggedIn, PageError, cookie, lang_of};

/// Where `/login` sends the browser back to after a card login.
pub(crate) const NEXT_COOKIE: &str = "__Host-renkei-next";

/// The authorization server's keys and the results of asynchronous
/// fetches (kept in memory for their short life).
pub(crate) struct OAuthKeys {
    signing: SigningKey,
    /// Derives the pairwise subject each client sees.
    pairwise: [u8; 32],
    processes: Mutex<HashMap<String, Process>>,
    /// Each client's recent requests and failures (the monitor).
    watches: Mutex<HashMap<ClientId, ClientWatch>>,
    /// Clients' JWKS fetched from their `jwks_uri`, with when.
    jwks_cache: Mutex<HashMap<ClientId, (UnixMillis, Jwks)>>,
    /// Fetches only from public addresses (see `ssrf`).
    http: reqwest::Client,
    jwks_allow_loopback: bool,
}

/// How long a fetched JWKS is used before it is fetched again, and how
/// soon an unknown `kid` may cause a refetch (key rotation; at most one
/// fetch a second per client, whatever kids an attacker sends).
const JWKS_TTL_MS: i64 = 300_000;
const JWKS_REFETCH_MS: i64 = 1_000;
const JWKS_MAX_BYTES: usize = 64 * 1024;

#[derive(Clone)]
enum Process {
    Running {
        client: ClientId,
        since: UnixMillis,
    },
    Done {
        client: ClientId,
        body: String,
        content_type: &'static str,
        at: UnixMillis,
    },
    Failed {
        client: ClientId,
        error: String,
        at: UnixMillis,
    },
}

/// How long a finished asynchronous result can be collected.
const PROCESS_KEEP_MS: i64 = 600_000;
/// How long gathering a delivery may take: less than its claim's lease,
/// so that a live holder completes (or gives up) before anyone else may
/// claim the delivery.
const GATHER_LIMIT: std::time::Duration =
    std::time::Duration::from_millis((DELIVERY_LEASE_MS - 60_000) as u64);
/// A delivery's body and its content type.
type Body = (String, &'static str);

impl OAuthKeys {
    pub(crate) fn from_pkcs8(der: &[u8], jwks_allow_loopback: bool) -> Result<Self, JoseError> {
        let signing = SigningKey::from_pkcs8(Alg::Es256, der)?;
        let pairwise = renkei_crypto::hmac_sha256(der, &[b"renkei/pairwise-subject/v1"]);
        Ok(Self {
            signing,
            pairwise,
            processes: Mutex::new(HashMap::new()),
            watches: Mutex::new(HashMap::new()),
            jwks_cache: Mutex::new(HashMap::new()),
            http: crate::ssrf::fetching_client(jwks_allow_loopback)
                .map_err(|_| JoseError::Crypto("HTTP client for jwks_uri"))?,
            jwks_allow_loopback,
        })
    }

    /// A client's JWKS from its `jwks_uri`: cached for 5 minutes, fetched
    /// again sooner (at most once a second) when a `kid` is not in it.
    async fn client_jwks(&self, client: &ClientId, uri: &str, kid: Option<&str>) -> Result<Jwks, OAuthError> {
        let now = UnixMillis::now();
        let cached = self
            .jwks_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client)
            .cloned();
        if let Some((at, jwks)) = &cached {
            let fresh = now.0 - at.0 < JWKS_TTL_MS;
            let has_kid = kid.is_none_or(|k| jwks.keys.iter().any(|j| j.kid.as_deref() == Some(k)));
            if fresh && (has_kid || now.0 - at.0 < JWKS_REFETCH_MS) {
                return Ok(jwks.clone());
            }
        }
        let bad = |why: String| OAuthError::invalid_client(format!("jwks_uri: {why}"));
        if let Err(why) = crate::ssrf::check_before_fetch(uri, self.jwks_allow_loopback) {
            metrics::counter!("renkei_consent_jwks_refused_total").increment(1);
            tracing::warn!(%client, %why, "jwks_uri refused");
            return Err(bad(why));
        }
        let resp = self
            .http
            .get(uri)
            .header(header::ACCEPT, "application/json, application/jwk-set+json")
            .send()
            .await
            .map_err(|e| {
                let mut why = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(c) = src {
                    why = format!("{why}: {c}");
                    src = c.source();
                }
                if why.contains("non-public") {
                    metrics::counter!("renkei_consent_jwks_refused_total").increment(1);
                    tracing::warn!(%client, %why, "jwks_uri refused");
                }
                bad(format!("cannot fetch ({why})"))
            })?;
        if !resp.status().is_success() {
            return Err(bad(format!("answered {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > JWKS_MAX_BYTES as u64) {
            return Err(bad("larger than 64 KiB".into()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| bad(format!("cannot read ({e})")))?;
        if body.len() > JWKS_MAX_BYTES {
            return Err(bad("larger than 64 KiB".into()));
        }
        let text = std::str::from_utf8(&body).map_err(|_| bad("not UTF-8".into()))?;
        let jwks = Jwks::parse(text).map_err(|e| bad(e.to_string()))?;
        self.jwks_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client.clone(), (now, jwks.clone()));
        metrics::counter!("renkei_consent_jwks_fetches_total").increment(1);
        Ok(jwks)
    }

    /// Requests and failures in the monitor's window, and rate refusals.
    pub(crate) fn watch_counts(&self, client: &ClientId) -> (u64, u64, u64) {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client)
            .map(|w| (w.recent_requests() as u64, w.recent_failures() as u64, w.limited))
            .unwrap_or_default()
    }

    /// Forget a client's history (an administrator resumed it).
    pub(crate) fn reset_watch(&self, client: &ClientId) {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client);
    }

    fn sub_for(&self, client: &ClientId, person: &renkei_ids::LocalPersonId) -> String {
        let h = renkei_crypto::hmac_sha256(
            &self.pairwise,
            &[client.as_str().as_bytes(), b"\0", person.to_string().as_bytes()],
        );
        renkei_jose::b64(h.as_ref())
    }
}

/// Which listener a request came through, and the client certificate the
/// mutual-TLS listener saw (its pin is checked per client).
#[derive(Debug, Clone, Default)]
pub(crate) struct Transport {
    mtls: bool,
    peer: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
struct ViaMtls;

impl<St: Send + Sync> axum::extract::FromRequestParts<St> for Transport {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &St,
    ) -> Result<Self, Self::Rejection> {
        let mtls = parts.extensions.get::<ViaMtls>().is_some();
        let peer = parts
            .extensions
            .get::<Arc<axum_server::tls::TlsInfo>>()
            .and_then(|i| i.peer_certificates.first().cloned());
        Ok(Self { mtls, peer })
    }
}

/// The RFC 8705 aliases on the mutual-TLS listener.
pub(crate) fn mtls_router<S: crate::Store + Clone>(st: Arc<PortalState<S>>) -> Router {
    Router::new()
        .route("/par", post(par::<S>))
        .route("/token", post(token::<S>))
        .route("/grants/{id}", get(grant_status::<S>).delete(grant_revoke::<S>))
        .route("/api/v1/self-information", get(fetch_direct::<S>))
        .route("/api/v1/self-information/requests", post(fetch_start::<S>))
        .route("/api/v1/self-information/requests/{id}", get(fetch_result::<S>))
        .layer(axum::Extension(ViaMtls))
        .layer(axum::middleware::from_fn(|r, n| {
            renkei_transport::track("portal-mtls", r, n)
        }))
        .with_state(st)
}

pub(crate) fn routes<S: crate::Store + Clone>() -> Router<Arc<PortalState<S>>> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata::<S>))
        .route("/jwks", get(jwks::<S>))
        .route("/par", post(par::<S>))
        .route("/authorize", get(authorize::<S>))
        .route("/authorize/decide", post(decide::<S>))
        .route("/token", post(token::<S>))
        .route("/grants/{id}", get(grant_status::<S>).delete(grant_revoke::<S>))
        .route("/api/v1/self-information", get(fetch_direct::<S>))
        .route("/api/v1/self-information/requests", post(fetch_start::<S>))
        .route("/api/v1/self-information/requests/{id}", get(fetch_result::<S>))
}

// ------------------------------------------------------------------ errors

struct OAuthFailure(OAuthError, StatusCode, Option<u32>);

impl From<OAuthError> for OAuthFailure {
    fn from(e: OAuthError) -> Self {
        let status = match e.code {
            "invalid_client" | "invalid_token" => StatusCode::UNAUTHORIZED,
            "insufficient_scope" | "access_denied" => StatusCode::FORBIDDEN,
            "delivery_in_progress" => StatusCode::CONFLICT,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        Self(e, status, None)
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let OAuthFailure(e, status, retry_after) = self;
        metrics::counter!("renkei_consent_errors_total", "error" => e.code).increment(1);
        tracing::info!(error = e.code, description = %e.description, "consent API request refused");
        let mut resp = (
            status,
            Json(json!({"error": e.code, "error_description": e.description})),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if e.code == "invalid_token" || e.code == "invalid_dpop_proof" {
            let v = format!("DPoP error=\"{}\", algs=\"ES256 EdDSA PS256\"", e.code);
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// The form body of the PAR and token endpoints. A body that is not a
/// form is an `invalid_request` in RFC 6749's JSON error, like every other
/// refusal of these endpoints, not axum's plain-text 415 (found by the API
/// tester).
struct OAuthForm(Vec<(String, String)>);

impl<St: Send + Sync> axum::extract::FromRequest<St> for OAuthForm {
    type Rejection = OAuthFailure;

    async fn from_request(req: axum::extract::Request, state: &St) -> Result<Self, OAuthFailure> {
        <Form<Vec<(String, String)>> as axum::extract::FromRequest<St>>::from_request(req, state)
            .await
            .map(|Form(pairs)| Self(pairs))
            .map_err(|rejection| OAuthError::invalid_request(rejection.body_text()).into())
    }
}

fn unavailable(context: &str, e: impl std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, context, "consent API backend failed");
    OAuthError::new("temporarily_unavailable", "try again later")
}

fn store_err(e: renkei_protocol::StoreError) -> OAuthError {
    unavailable("consent store", e)
}

impl<S: crate::Store> PortalState<S> {
    fn keys(&self) -> Result<&OAuthKeys, OAuthError> {
        self.oauth
            .as_ref()
            .ok_or_else(|| OAuthError::new("not_found", "the self-information API is not configured here"))
    }

    fn issuer(&self) -> &str {
        &self.origin
    }

    /// Where this request was addressed: the issuer, or the mTLS alias.
    fn base(&self, t: &Transport) -> &str {
        match (&self.mtls_origin, t.mtls) {
            (Some(m), true) => m,
            _ => &self.origin,
        }
    }

    /// The monitor's word on a request of `client`: refused over the rate
    /// (429 with Retry-After), and any volume alert recorded.
    async fn admit(&self, client: &ApiClient) -> Result<(), OAuthFailure> {
        let keys = self.keys()?;
        let now = UnixMillis::now();
        let (admission, alert) = keys
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(client.id.clone())
            .or_default()
            .admit(&self.settings.consent_monitor, now);
        if let Some(a) = alert {
            self.raise(client, a).await;
        }
        match admission {
            Admission::Allow => Ok(()),
            Admission::Limited { retry_after_secs } => {
                metrics::counter!("renkei_consent_rate_limited_total").increment(1);
                Err(OAuthFailure(
                    OAuthError::new("too_many_requests", "this client is over its rate limit"),
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(retry_after_secs),
                ))
            }
        }
    }

    /// After a request of an identified client: failures feed the monitor,
    /// which may alert and, above its threshold, suspend the client.
    async fn outcome(&self, client: &ApiClient, ok: bool) {
        let Ok(keys) = self.keys() else { return };
        if ok {
            return;
        }
        let alert = keys
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(client.id.clone())
            .or_default()
            .failed(&self.settings.consent_monitor, UnixMillis::now());
        if let Some(a) = alert {
            self.raise(client, a).await;
        }
    }

    async fn raise(&self, client: &ApiClient, alert: Alert) {
        metrics::counter!("renkei_consent_alerts_total", "kind" => alert.kind()).increment(1);
        tracing::warn!(client = %client.id, kind = alert.kind(), detail = %alert.detail(), "API client alert");
        let record = ClientAlert {
            client: client.id.clone(),
            at: UnixMillis::now(),
            kind: alert.kind().to_owned(),
            detail: alert.detail(),
        };
        if let Err(e) = self.store.insert_alert(&record).await {
            tracing::error!(error = %e, "cannot record an alert");
        }
        if let Alert::Suspend { .. } = alert {
            let action = ClientAction::Suspend {
                reason: alert.detail(),
            };
            if let Err(e) = crate::clients::change_client(self, &client.id, &action, Actor::Monitor).await {
                tracing::error!(error = ?e, client = %client.id, "automatic suspension failed");
            }
        }
    }

    /// `private_key_jwt`: the client's assertion, signed with a key of its
    /// registered JWKS, by the FAPI 2.0 rules, its `jti` used once; or
    /// `tls_client_auth`: the registered certificate on this connection.
    async fn authenticate_client(&self, p: &Params, t: &Transport) -> Result<ApiClient, OAuthError> {
        if p.get("client_secret").is_some() {
            return Err(OAuthError::invalid_client(
                "client secrets are not accepted; use private_key_jwt",
            ));
        }
        if p.get("client_assertion").is_none()
            && let Some(id) = p.get("client_id").and_then(ClientId::parse)
            && let Some(client) = self.store.client(&id).await.map_err(store_err)?
            && let renkei_consent::ClientAuth::TlsClientAuth { certificate_sha256 } = &client.app.auth
        {
            if !client.is_active() {
                return Err(OAuthError::invalid_client(format!(
                    "this client is {}",
                    client.status.as_str()
                )));
            }
            let Some(der) = t.peer.as_deref().filter(|_| t.mtls) else {
                return Err(OAuthError::invalid_client(
                    "tls_client_auth: present the registered client certificate at the mtls_endpoint_aliases",
                ));
            };
            if &renkei_pki::certificate_fingerprint_hex(der) != certificate_sha256 {
                self.outcome(&client, false).await;
                return Err(OAuthError::invalid_client(
                    "tls_client_auth: the client certificate is not the registered one",
                ));
            }
            return Ok(client);
        }
        if p.get("client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
            return Err(OAuthError::invalid_client(format!(
                "authenticate with private_key_jwt: client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
            )));
        }
        let assertion = p
            .get("client_assertion")
            .ok_or_else(|| OAuthError::invalid_client("client_assertion is required"))?;
        let unverified = renkei_jose::decode_unverified(assertion)
            .map_err(|e| OAuthError::invalid_client(format!("client assertion: {e}")))?;
        let claimed = p
            .get("client_id")
            .or_else(|| unverified.claims.get("iss").and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned();
        let id = ClientId::parse(&claimed).ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
        let client = self
            .store
            .client(&id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
        if !client.is_active() {
            return Err(OAuthError::invalid_client(format!(
                "this client is {}",
                client.status.as_str()
            )));
        }
        if !matches!(client.app.auth, renkei_consent::ClientAuth::PrivateKeyJwt) {
            return Err(OAuthError::invalid_client(
                "this client authenticates with tls_client_auth, not a client assertion",
            ));
        }
        let fetched;
        let jwks = match &client.app.keys {
            ClientKeys::Jwks(j) => j,
            ClientKeys::JwksUri(uri) => {
                let kid = unverified.header.kid.as_deref();
                fetched = self.keys()?.client_jwks(&client.id, uri, kid).await?;
                &fetched
            }
        };
        let key = jwks
            .signing_key(unverified.header.kid.as_deref(), unverified.header.alg)
            .map_err(|e| OAuthError::invalid_client(format!("client assertion: {e}")))?;
        let verified = unverified
            .verify_with(key)
            .map_err(|e| OAuthError::invalid_client(format!("client assertion: {e}")))?;
        let now = UnixMillis::now();
        let ok = renkei_consent::check_assertion(&verified.claims, id.as_str(), self.issuer(), now)?;
        if !self
            .store
            .remember_once(&format!("assertion:{id}"), &ok.jti, ok.exp.plus_ms(SKEW_MS), now)
            .await
            .map_err(store_err)?
        {
            return Err(OAuthError::invalid_client(
                "client assertion: this jti was used before",
            ));
        }
        Ok(client)
    }

    /// A DPoP proof for `method` at `path`, its `jti` used once.
    async fn dpop(
        &self,
        headers: &HeaderMap,
        t: &Transport,
        method: &str,
        path: &str,
        access_token: Option<&str>,
    ) -> Result<Option<renkei_consent::DpopOk>, OAuthError> {
        let mut proofs = headers.get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return if headers.contains_key("dpop") {
                Err(OAuthError::invalid_dpop("send exactly one DPoP header"))
            } else {
                Ok(None)
            };
        };
        let proof = proof
            .to_str()
            .map_err(|_| OAuthError::invalid_dpop("the DPoP header is not ASCII"))?;
        let now = UnixMillis::now();
        let uri = format!("{}{path}", self.base(t));
        let ok = renkei_consent::check_dpop(proof, method, &uri, access_token, now)?;
        if !self
            .store
            .remember_once(
                &format!("dpop:{}", ok.jkt),
                &ok.jti,
                now.plus_ms(DPOP_MAX_AGE_MS + 2 * SKEW_MS),
                now,
            )
            .await
            .map_err(store_err)?
        {
            return Err(OAuthError::invalid_dpop("this DPoP proof's jti was used before"));
        }
        Ok(Some(ok))
    }

    /// A resource request: `Authorization: DPoP <token>` and a proof bound
    /// to it, for an unexpired token of an active client.
    async fn bearer(
        &self,
        headers: &HeaderMap,
        t: &Transport,
        method: &str,
        path: &str,
    ) -> Result<(TokenRecord, ApiClient, Grant), OAuthError> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OAuthError::invalid_token("send Authorization: DPoP <access token>"))?;
        let Some(token) = auth.strip_prefix("DPoP ") else {
            return Err(OAuthError::invalid_token(
                "the token is DPoP-bound: use the DPoP scheme, not Bearer",
            ));
        };
        let proof = self
            .dpop(headers, t, method, path, Some(token.trim()))
            .await?
            .ok_or_else(|| OAuthError::invalid_dpop("a DPoP proof is required"))?;
        let record = self
            .store
            .token(&SecretDigest::of(token.trim()))
            .await
            .map_err(store_err)?
            .ok_or_else(|| OAuthError::invalid_token("unknown or revoked access token"))?;
        let now = UnixMillis::now();
        if record.expires_at <= now {
            return Err(OAuthError::invalid_token("the access token has expired"));
        }
        if record.jkt != proof.jkt {
            return Err(OAuthError::invalid_token(
                "the DPoP proof is signed by another key than the token is bound to",
            ));
        }
        let client = self
            .store
            .client(&record.client)
            .await
            .map_err(store_err)?
            .ok_or_else(|| OAuthError::invalid_token("unknown client"))?;
        if !client.is_active() {
            return Err(OAuthError::invalid_token(format!(
                "this client is {}",
                client.status.as_str()
            )));
        }
        let grant = self
            .store
            .grant(&record.grant)
            .await
            .map_err(store_err)?
            .ok_or_else(|| OAuthError::invalid_token("unknown grant"))?;
        Ok((record, client, grant))
    }
}

// ---------------------------------------------------------------- metadata

async fn metadata<S: crate::Store>(State(st): State<Arc<PortalState<S>>>) -> Result<Response, OAuthFailure> {
    st.keys()?;
    let i = st.issuer();
    let algs = ["ES256", "EdDSA", "PS256"];
    let mut methods = vec!["private_key_jwt"];
    let aliases = st.mtls_origin.as_ref().map(|m| {
        methods.push("tls_client_auth");
        json!({
            "pushed_authorization_request_endpoint": format!("{m}/par"),
            "token_endpoint": format!("{m}/token"),
            "grant_management_endpoint": format!("{m}/grants"),
            "self_information_endpoint": format!("{m}/api/v1/self-information"),
        })
    });
    let mut meta = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "pushed_authorization_request_endpoint": format!("{i}/par"),
        "require_pushed_authorization_requests": true,
        "jwks_uri": format!("{i}/jwks"),
        "grant_management_endpoint": format!("{i}/grants"),
        "grant_management_actions_supported": ["query", "revoke"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "dpop_signing_alg_values_supported": algs,
        "authorization_response_iss_parameter_supported": true,
        "authorization_details_types_supported": [renkei_consent::SELF_INFORMATION],
        "scopes_supported": [],
        "self_information_endpoint": format!("{i}/api/v1/self-information"),
    });
    if let Some(a) = aliases {
        meta["mtls_endpoint_aliases"] = a;
    }
    Ok(Json(meta).into_response())
}

async fn jwks<S: crate::Store>(State(st): State<Arc<PortalState<S>>>) -> Result<Response, OAuthFailure> {
    let keys = st.keys()?;
    Ok(Json(Jwks {
        keys: vec![keys.signing.public_jwk().clone()],
    })
    .into_response())
}

// --------------------------------------------------------------------- PAR

async fn par<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    t: Transport,
    headers: HeaderMap,
    OAuthForm(pairs): OAuthForm,
) -> Result<Response, OAuthFailure> {
    st.keys()?;
    let p = Params::parse(&pairs)?;
    let client = st.authenticate_client(&p, &t).await?;
    st.admit(&client).await?;
    let r = par_for(&st, &headers, &t, &p, &client).await;
    st.outcome(&client, r.is_ok()).await;
    r
}

async fn par_for<S: crate::Store>(
    st: &PortalState<S>,
    headers: &HeaderMap,
    t: &Transport,
    p: &Params,
    client: &ApiClient,
) -> Result<Response, OAuthFailure> {
    let proof = st.dpop(headers, t, "POST", "/par", None).await?;
    let request = renkei_consent::check_par(p, client, &st.catalog, proof.as_ref().map(|d| d.jkt.as_str()))?;
    let request_uri = format!(
        "{REQUEST_URI_PREFIX}{}",
        renkei_jose::random_b64(32).map_err(|e| unavailable("random", e))?
    );
    let now = UnixMillis::now();
    st.store
        .insert_request(&PushedRequest {
            uri: SecretDigest::of(&request_uri),
            client: client.id.clone(),
            request,
            expires_at: now.plus_ms(REQUEST_URI_TTL_MS),
        })
        .await
        .map_err(store_err)?;
    metrics::counter!("renkei_consent_par_total").increment(1);
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({"request_uri": request_uri, "expires_in": REQUEST_URI_TTL_MS / 1000})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

// ----------------------------------------------------------- consent page

#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizeQuery {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    request_uri: Option<String>,
}

/// The request behind an `/authorize` visit, or the page that says why
/// there is none. Errors here are never redirected: without a valid
/// request the redirect URI is not known to be the client's.
async fn pushed<S: crate::Store>(
    st: &PortalState<S>,
    client_id: Option<&str>,
    request_uri: Option<&str>,
    tr: &Tr,
) -> Result<(PushedRequest, ApiClient), PageError> {
    let bad = || PageError::bad(tr.s("consent_bad_request"));
    let id = client_id.and_then(ClientId::parse).ok_or_else(bad)?;
    let uri = request_uri
        .filter(|u| u.starts_with(REQUEST_URI_PREFIX))
        .ok_or_else(bad)?;
    let req = st
        .store
        .request(&SecretDigest::of(uri), UnixMillis::now())
        .await
        .map_err(|e| PageError::store(e, tr))?
        .ok_or_else(|| PageError::show(StatusCode::GONE, tr.s("consent_gone")))?;
    if req.client != id {
        return Err(bad());
    }
    let client = st
        .store
        .client(&id)
        .await
        .map_err(|e| PageError::store(e, tr))?
        .filter(ApiClient::is_active)
        .ok_or_else(|| PageError::forbidden(tr.s("consent_client_inactive")))?;
    Ok((req, client))
}

/// The person's values for the items asked, fetched live through the hub
/// as the portal's own linkage (own disclosure); each with its source.
///
/// `proof` is the person's authority the node and the hub check: the
/// session's proof for the preview (the person is there), the consent's
/// proof for a delivery (the person confirmed this consent with their card).
pub(crate) async fn gather<S: crate::Store>(
    st: &PortalState<S>,
    person: &renkei_ids::LocalPersonId,
    details: &renkei_consent::SelfInformation,
    consent: Option<&GrantId>,
    proof: Option<&str>,
) -> Result<(Vec<Value>, Vec<u64>), renkei_transport::ApiFailure> {
    let mut values = Vec::new();
    let mut records = Vec::new();
    for item in &details.items {
        let per_year = st.catalog.item(item).is_some_and(|s| s.periodic);
        let years: Vec<Option<u16>> = if per_year {
            details.fiscal_years().into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        let providers: Vec<renkei_ids::CorporateNumber> = st
            .settings
            .sources
            .iter()
            .filter(|s| s.item == item.as_str())
            .flat_map(|s| s.providers.iter().copied())
            .collect();
        for year in years {
            let mut found = false;
            for provider in &providers {
                let r = st
                    .backend
                    .query_for(
                        person,
                        *provider,
                        item.as_str(),
                        year,
                        consent.map(GrantId::as_str),
                        proof,
                    )
                    .await?;
                records.push(r.hub_record_seq);
                if r.status == "found" {
                    values.push(json!({
                        "item": item.as_str(),
                        "tax_year": year,
                        "provider": provider.to_string(),
                        "value": r.value,
                        "updated_at": r.updated_at,
                    }));
                    found = true;
                }
            }
            if !found {
                values.push(json!({"item": item.as_str(), "tax_year": year, "value": null}));
            }
        }
    }
    Ok((values, records))
}

/// A client's name in the page's language (Japanese when it gave no other).
pub(crate) fn client_name(c: &ApiClient, tr: &Tr) -> String {
    tr.pick(&c.app.name, c.app.name_en.as_deref().unwrap_or(&c.app.name))
        .to_owned()
}

fn preview_digest(values: &[Value]) -> String {
    renkei_jose::sha256_b64(Value::Array(values.to_vec()).to_string().as_bytes())
}

async fn authorize<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    headers: HeaderMap,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        if st.oauth.is_none() {
            return Err(PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")));
        }
        let (req, client) = pushed(&st, q.client_id.as_deref(), q.request_uri.as_deref(), &tr).await?;
        let li = match st.logged_in(&headers).await {
            Ok(li) => li,
            Err(PageError::Redirect(_)) => {
                // Log in with the card, then come back here.
                let back = authorize_path(&client.id, q.request_uri.as_deref().unwrap_or_default());
                let mut resp = Redirect::to("/login").into_response();
                resp.headers_mut().insert(
                    header::SET_COOKIE,
                    HeaderValue::from_str(&format!(
                        "{NEXT_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600",
                        renkei_jose::b64(back.as_bytes())
                    ))
                    .map_err(|_| PageError::bad(tr.s("consent_bad_request")))?,
                );
                return Ok(resp);
            }
            Err(e) => return Err(e),
        };
        consent_page(
            &st,
            &li,
            &req,
            &client,
            q.request_uri.as_deref().unwrap_or_default(),
        )
        .await
    }
    .await;
    match r {
        Ok(resp) => resp,
        Err(e) => e.into_response(&tr),
    }
}

async fn consent_page<S: crate::Store + Clone>(
    st: &PortalState<S>,
    li: &LoggedIn,
    req: &PushedRequest,
    client: &ApiClient,
    request_uri: &str,
) -> Result<Response, PageError> {
    let tr = li.tr;
    if li.session.acting_for.is_some() {
        return Err(PageError::forbidden(tr.s("consent_not_as_proxy")));
    }
    let person = &li.session.holder.person;
    let (values, _) = gather(
        st,
        person,
        &req.request.details,
        None,
        li.session.holder.person_proof.as_deref(),
    )
    .await
    .map_err(|e| PageError::backend("consent preview", e, &tr))?;
    let d = &req.request.details;
    let items = values
        .iter()
        .map(|v| ConsentItem {
            name: st.item_name(v["item"].as_str().unwrap_or_default(), &tr),
            year: v["tax_year"].as_u64().map(|y| y.to_string()),
            source: v["provider"]
                .as_str()
                .map(|p| st.institution_name(p, &tr))
                .unwrap_or_else(|| tr.s("consent_no_data").to_owned()),
            fields: if v["value"].is_null() {
                vec![(String::new(), tr.s("consent_no_data").to_owned())]
            } else {
                crate::pages::fields(&v["value"], &tr)
            },
        })
        .collect();
    let page = ConsentPage {
        ctx: st.ctx(li, "consent_title", "/authorize").await,
        client_name: client_name(client, &tr),
        corporate_number: client.app.corporate_number.to_string(),
        client_purpose: client.app.purpose.clone(),
        purpose: d.purpose.clone(),
        data_life_days: d.data_life_days,
        periodic: d.frequency == Frequency::Periodic,
        duration_days: d.duration_days.unwrap_or(0),
        items,
        request_uri: request_uri.to_owned(),
        client_id: client.id.to_string(),
        preview_digest: preview_digest(&values),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DecideForm {
    csrf: String,
    client_id: String,
    request_uri: String,
    decision: String,
    preview_digest: String,
}

/// The 303 back to the client: `first` (the code, or the error), then
/// `state` if the client sent one and `iss` (RFC 9207).
fn authorization_response(req: &PushedRequest, issuer: &str, first: (&str, &str)) -> Response {
    let mut params = vec![first];
    if let Some(s) = &req.request.state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    let uri = &req.request.redirect_uri;
    let mut target = uri.to_owned();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        target.push(sep);
        target.push_str(k);
        target.push('=');
        target.push_str(&crate::templates::encode_component(v).replace('/', "%2F"));
        sep = '&';
    }
    let mut resp = Redirect::to(&target).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn decide<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<DecideForm>,
) -> Response {
    let tr = Tr::new(lang_of(&headers));
    let r = async {
        let li = st.logged_in(&headers).await?;
        st.check_form(&li, &headers, &form.csrf)?;
        let tr = li.tr;
        let (req, client) = pushed(&st, Some(&form.client_id), Some(&form.request_uri), &tr).await?;
        match form.decision.as_str() {
            "decline" => {
                metrics::counter!("renkei_consent_decisions_total", "decision" => "decline").increment(1);
                Ok(authorization_response(
                    &req,
                    st.issuer(),
                    ("error", "access_denied"),
                ))
            }
            "approve" => {
                let text = format!(
                    "{}: {} — {}",
                    tr.s("consent_confirm_text"),
                    client.app.name,
                    req.request.details.purpose
                );
                // The grant's id is chosen now, so that the card's
                // confirmation names it and the hub's proof of the person's
                // consent is for this grant alone.
                let mut raw = [0u8; 16];
                renkei_jose::random_bytes(&mut raw).map_err(|e| PageError::backend("random", e, &tr))?;
                st.stage(
                    &li,
                    addr,
                    Staged::Consent {
                        client_id: client.id.to_string(),
                        request_uri: form.request_uri.clone(),
                        preview_digest: form.preview_digest.clone(),
                        grant_id: GrantId::from_random(raw).as_str().to_owned(),
                    },
                    text,
                )
                .await
            }
            _ => Err(PageError::bad(tr.s("error_bad_input"))),
        }
    }
    .await;
    match r {
        Ok(resp) => resp,
        Err(e) => e.into_response(&tr),
    }
}

/// What the card's confirmation of a consent commits.
pub(crate) struct ConsentCommit<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) request_uri: &'a str,
    pub(crate) preview: &'a str,
    /// The id chosen when the person agreed, which the card confirmed.
    pub(crate) grant_id: &'a str,
    /// The hub's proof of this consent, from the card's confirmation.
    pub(crate) person_proof: Option<String>,
}

/// After the card confirmed: the consent (signed), its code, and the 303
/// back to the client with `code`, `state` and `iss` (RFC 9207).
pub(crate) async fn commit_consent<S: crate::Store + Clone>(
    st: &PortalState<S>,
    li: &LoggedIn,
    commit: ConsentCommit<'_>,
) -> Result<Response, PageError> {
    let ConsentCommit {
        client_id,
        request_uri,
        preview,
        grant_id,
        person_proof,
    } = commit;
    let tr = li.tr;
    let keys = st
        .oauth
        .as_ref()
        .ok_or_else(|| PageError::show(StatusCode::NOT_FOUND, tr.s("error_not_found")))?;
    let (req, client) = pushed(st, Some(client_id), Some(request_uri), &tr).await?;
    let now = UnixMillis::now();
    let id = GrantId::parse(grant_id).ok_or_else(|| PageError::bad(tr.s("error_bad_input")))?;
    // Without the hub's proof of the consent, no relay under it could pass
    // the node or the hub: refuse now rather than hand the client a grant
    // that delivers nothing.
    let Some(person_proof) = person_proof else {
        return Err(PageError::backend(
            "consent",
            "the card's confirmation yielded no proof of the consent",
            &tr,
        ));
    };
    let person = li.session.holder.person.clone();
    let expires_at = Grant::expiry(&req.request.details, now);
    let claims = renkei_consent::artefact_claims(
        st.issuer(),
        &id,
        &client,
        &keys.sub_for(&client.id, &person),
        &req.request.details,
        now,
        expires_at,
        preview,
    );
    let mut h = Map::new();
    h.insert("typ".into(), "consent+jwt".into());
    let artefact = keys
        .signing
        .sign(h, &claims)
        .map_err(|e| PageError::backend("consent signature", e, &tr))?;
    let grant = Grant {
        id: id.clone(),
        client: client.id.clone(),
        person,
        details: req.request.details.clone(),
        created_at: now,
        expires_at,
        revoked: None,
        preview_digest: preview.to_owned(),
        artefact,
        person_proof: Some(person_proof),
    };
    let code = renkei_jose::random_b64(32).map_err(|e| PageError::backend("random", e, &tr))?;
    let record = CodeRecord {
        code: SecretDigest::of(&code),
        grant: id.clone(),
        client: client.id.clone(),
        redirect_uri: req.request.redirect_uri.clone(),
        code_challenge: req.request.code_challenge.clone(),
        dpop_jkt: req.request.dpop_jkt.clone(),
        expires_at: now.plus_ms(CODE_TTL_MS),
    };
    if !st
        .store
        .insert_grant(&req.uri, &grant, &record)
        .await
        .map_err(|e| PageError::store(e, &tr))?
    {
        return Err(PageError::show(StatusCode::GONE, tr.s("consent_gone")));
    }
    metrics::counter!("renkei_consent_decisions_total", "decision" => "approve").increment(1);
    tracing::info!(client = %client.id, grant = %id, "consent given");
    Ok(authorization_response(&req, st.issuer(), ("code", &code)))
}

// ------------------------------------------------------------------- token

async fn token<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    t: Transport,
    headers: HeaderMap,
    OAuthForm(pairs): OAuthForm,
) -> Result<Response, OAuthFailure> {
    st.keys()?;
    let p = Params::parse(&pairs)?;
    let client = st.authenticate_client(&p, &t).await?;
    st.admit(&client).await?;
    let r = token_for(&st, &headers, &t, &p, &client).await;
    st.outcome(&client, r.is_ok()).await;
    r
}

async fn token_for<S: crate::Store>(
    st: &PortalState<S>,
    headers: &HeaderMap,
    t: &Transport,
    p: &Params,
    client: &ApiClient,
) -> Result<Response, OAuthFailure> {
    let grant_type = p.require("grant_type")?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        )
        .into());
    }
    let proof = st
        .dpop(headers, t, "POST", "/token", None)
        .await?
        .ok_or_else(|| OAuthError::invalid_dpop("a DPoP proof is required: tokens are DPoP-bound"))?;
    if grant_type == "refresh_token" {
        return refresh(st, p, client, proof).await;
    }
    let code = p.require("code")?;
    let now = UnixMillis::now();
    let record = match st
        .store
        .redeem_code(&SecretDigest::of(code), now)
        .await
        .map_err(store_err)?
    {
        CodeRedemption::Unknown => return Err(OAuthError::invalid_grant("unknown code").into()),
        CodeRedemption::Replayed(grant) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            st.store
                .revoke_grant(&grant, RevokedBy::Server, now)
                .await
                .map_err(store_err)?;
            metrics::counter!("renkei_consent_code_replays_total").increment(1);
            tracing::warn!(grant = %grant, "authorization code replayed; grant revoked");
            return Err(OAuthError::invalid_grant(
                "the code was already used; everything issued with it is revoked",
            )
            .into());
        }
        CodeRedemption::Fresh(r) => r,
    };
    if record.client != client.id {
        return Err(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired").into());
    }
    if p.get("redirect_uri").is_some_and(|u| u != record.redirect_uri) {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request").into());
    }
    renkei_consent::check_pkce(p.require("code_verifier")?, &record.code_challenge)?;
    if record.dpop_jkt.as_deref().is_some_and(|j| j != proof.jkt) {
        return Err(OAuthError::invalid_dpop("the DPoP key is not the one the request was bound to").into());
    }
    let grant = st
        .store
        .grant(&record.grant)
        .await
        .map_err(store_err)?
        .ok_or_else(|| OAuthError::invalid_grant("unknown grant"))?;
    if !grant.is_active(now) {
        return Err(OAuthError::invalid_grant("the consent is no longer active").into());
    }
    issue_tokens(st, client, &grant, &proof.jkt, now).await
}

/// An access token — and, for a periodic consent, a rotating refresh
/// token — bound to the DPoP key `jkt`.
async fn issue_tokens<S: crate::Store>(
    st: &PortalState<S>,
    client: &ApiClient,
    grant: &Grant,
    jkt: &str,
    now: UnixMillis,
) -> Result<Response, OAuthFailure> {
    let access_token = renkei_jose::random_b64(32).map_err(|e| unavailable("random", e))?;
    st.store
        .insert_token(&TokenRecord {
            token: SecretDigest::of(&access_token),
            grant: grant.id.clone(),
            client: client.id.clone(),
            jkt: jkt.to_owned(),
            expires_at: now.plus_ms(ACCESS_TOKEN_TTL_MS),
        })
        .await
        .map_err(store_err)?;
    let refresh_token = if grant.details.frequency == Frequency::Periodic {
        let r = renkei_jose::random_b64(32).map_err(|e| unavailable("random", e))?;
        st.store
            .insert_refresh(&TokenRecord {
                token: SecretDigest::of(&r),
                grant: grant.id.clone(),
                client: client.id.clone(),
                jkt: jkt.to_owned(),
                expires_at: grant.expires_at,
            })
            .await
            .map_err(store_err)?;
        Some(r)
    } else {
        None
    };
    metrics::counter!("renkei_consent_tokens_total").increment(1);
    let mut body = json!({
        "access_token": access_token,
        "token_type": "DPoP",
        "expires_in": ACCESS_TOKEN_TTL_MS / 1000,
        "authorization_details": grant.details.to_json(),
        "grant_id": grant.id.as_str(),
        "consent": grant.artefact,
    });
    if let Some(r) = refresh_token {
        body["refresh_token"] = r.into();
    }
    let mut resp = Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// `grant_type=refresh_token`: a periodic consent's next access token, for
/// the same client and the same DPoP key, while the consent holds. Refresh
/// tokens rotate; a spent one used again revokes the consent.
async fn refresh<S: crate::Store>(
    st: &PortalState<S>,
    p: &Params,
    client: &ApiClient,
    proof: renkei_consent::DpopOk,
) -> Result<Response, OAuthFailure> {
    let now = UnixMillis::now();
    let token = p.require("refresh_token")?;
    let record = match st
        .store
        .redeem_refresh(&SecretDigest::of(token), &proof.jkt)
        .await
        .map_err(store_err)?
    {
        renkei_consent::RefreshRedemption::Unknown => {
            return Err(OAuthError::invalid_grant("unknown refresh token").into());
        }
        renkei_consent::RefreshRedemption::Replayed(grant) => {
            st.store
                .revoke_grant(&grant, RevokedBy::Server, now)
                .await
                .map_err(store_err)?;
            tracing::warn!(grant = %grant, "refresh token replayed; grant revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the consent is revoked",
            )
            .into());
        }
        renkei_consent::RefreshRedemption::WrongKey => {
            return Err(OAuthError::invalid_dpop(
                "the DPoP key is not the one the refresh token is bound to",
            )
            .into());
        }
        renkei_consent::RefreshRedemption::Fresh(r) => r,
    };
    if record.client != client.id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client").into());
    }
    let grant = st
        .store
        .grant(&record.grant)
        .await
        .map_err(store_err)?
        .ok_or_else(|| OAuthError::invalid_grant("unknown grant"))?;
    if !grant.is_active(now) {
        return Err(OAuthError::invalid_grant(format!("the consent is {}", grant.status(now))).into());
    }
    issue_tokens(st, client, &grant, &proof.jkt, now).await
}

// -------------------------------------------------------- grant management

fn grant_json(g: &Grant, now: UnixMillis) -> Value {
    json!({
        "grant_id": g.id.as_str(),
        "client_id": g.client.as_str(),
        "status": g.status(now),
        "authorization_details": g.details.to_json(),
        "created_at": g.created_at.0 / 1000,
        "expires_at": g.expires_at.0 / 1000,
        "consent": g.artefact,
    })
}

async fn own_grant<S: crate::Store>(
    st: &PortalState<S>,
    headers: &HeaderMap,
    t: &Transport,
    method: &str,
    id: &str,
) -> Result<Grant, OAuthError> {
    let gid = GrantId::parse(id).ok_or_else(|| OAuthError::new("not_found", "no such grant"))?;
    let (_, client, grant) = st.bearer(headers, t, method, &format!("/grants/{id}")).await?;
    if grant.id != gid || grant.client != client.id {
        return Err(OAuthError::new("not_found", "no such grant"));
    }
    Ok(grant)
}

async fn grant_status<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    t: Transport,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, OAuthFailure> {
    st.keys()?;
    let g = own_grant(&st, &headers, &t, "GET", &id).await?;
    Ok(Json(grant_json(&g, UnixMillis::now())).into_response())
}

async fn grant_revoke<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    t: Transport,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, OAuthFailure> {
    st.keys()?;
    let g = own_grant(&st, &headers, &t, "DELETE", &id).await?;
    st.store
        .revoke_grant(&g.id, RevokedBy::Client, UnixMillis::now())
        .await
        .map_err(store_err)?;
    tracing::info!(grant = %g.id, "grant revoked by its client");
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------- resource API

/// Fetch under a grant: the values (live), signed; encrypted to the client
/// if it registered an encryption key; the fetch recorded.
async fn deliver<S: crate::Store>(
    st: &PortalState<S>,
    client: &ApiClient,
    grant: &Grant,
) -> Result<(String, &'static str), OAuthError> {
    let keys = st.keys()?;
    let now = UnixMillis::now();
    if !grant.is_active(now) {
        record(st, client, Some(grant), FetchOutcome::Refused, &[], "").await;
        return Err(OAuthError::invalid_token(format!(
            "the consent is {}",
            grant.status(now)
        )));
    }
    // A one-time consent is claimed before anything is asked of the
    // network: of parallel requests exactly one gathers and delivers.
    let claim = match grant.details.frequency {
        Frequency::OneTime => {
            let claim = renkei_jose::random_b64(16).map_err(|e| unavailable("random", e))?;
            match st
                .store
                .claim_delivery(&grant.id, &claim, now, DELIVERY_LEASE_MS)
                .await
                .map_err(store_err)?
            {
                DeliveryClaim::Claimed => Some(claim),
                DeliveryClaim::Delivered => {
                    record(st, client, Some(grant), FetchOutcome::Refused, &[], "").await;
                    return Err(OAuthError::new(
                        "access_denied",
                        "a one-time consent was used already",
                    ));
                }
                DeliveryClaim::InProgress => {
                    record(st, client, Some(grant), FetchOutcome::Refused, &[], "").await;
                    metrics::counter!("renkei_consent_fetches_total", "outcome" => "in_progress")
                        .increment(1);
                    return Err(OAuthError::new(
                        "delivery_in_progress",
                        "this one-time consent is being delivered to another request",
                    ));
                }
            }
        }
        Frequency::Periodic => None,
    };
    let r = match tokio::time::timeout(
        GATHER_LIMIT,
        gather(
            st,
            &grant.person,
            &grant.details,
            Some(&grant.id),
            grant.person_proof.as_deref(),
        ),
    )
    .await
    {
        Ok(Ok(v)) => seal(st, keys, client, grant, now, v),
        Ok(Err(e)) => Err(unavailable("self-information fetch", e)),
        Err(_) => Err(unavailable(
            "self-information fetch",
            "took longer than its limit",
        )),
    };
    let ((body, content_type), hub_records) = match r {
        Ok(v) => v,
        Err(e) => {
            let f = fetch_record(client, grant, FetchOutcome::Failed, &[], "");
            let released = match &claim {
                Some(c) => st.store.release_delivery(&grant.id, c, &f).await,
                None => st.store.record_fetch(&f).await,
            };
            if let Err(se) = released {
                tracing::error!(error = %se, grant = %grant.id, "cannot release a failed delivery");
            }
            metrics::counter!("renkei_consent_fetches_total", "outcome" => "failed").increment(1);
            return Err(e);
        }
    };
    let items = grant
        .details
        .items
        .iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let f = fetch_record(client, grant, FetchOutcome::Delivered, &hub_records, &items);
    match &claim {
        Some(c) => {
            // Only while the claim is still ours: a holder that outlived
            // its lease delivers nothing (another request may have).
            if !st
                .store
                .complete_delivery(&grant.id, c, &f)
                .await
                .map_err(store_err)?
            {
                tracing::warn!(grant = %grant.id, "a delivery's claim ran out before it completed");
                return Err(OAuthError::new(
                    "delivery_in_progress",
                    "this one-time consent is being delivered to another request",
                ));
            }
        }
        None => {
            if let Err(e) = st.store.record_fetch(&f).await {
                tracing::error!(error = %e, "cannot record a fetch");
            }
        }
    }
    metrics::counter!("renkei_consent_fetches_total", "outcome" => "delivered").increment(1);
    Ok((body, content_type))
}

/// Sign the values for the client (and encrypt them to it, if it
/// registered an encryption key).
fn seal<S: crate::Store>(
    st: &PortalState<S>,
    keys: &OAuthKeys,
    client: &ApiClient,
    grant: &Grant,
    now: UnixMillis,
    (values, hub_records): (Vec<Value>, Vec<u64>),
) -> Result<(Body, Vec<u64>), OAuthError> {
    let claims = json!({
        "iss": st.issuer(),
        "aud": client.id.as_str(),
        "sub": keys.sub_for(&client.id, &grant.person),
        "grant_id": grant.id.as_str(),
        "iat": now.0 / 1000,
        "purpose": grant.details.purpose,
        "data_life": format!("P{}D", grant.details.data_life_days),
        "items": values,
    });
    let mut h = Map::new();
    h.insert("typ".into(), "JWT".into());
    let jws = keys
        .signing
        .sign(h, &claims)
        .map_err(|e| unavailable("response signature", e))?;
    let enc_key = match &client.app.keys {
        ClientKeys::Jwks(j) => j.encryption_key().cloned(),
        ClientKeys::JwksUri(_) => None,
    };
    let (body, content_type) = match enc_key {
        Some(k) => (
            renkei_jose::encrypt(jws.as_bytes(), &k, Some("JWT"))
                .map_err(|e| unavailable("encryption", e))?,
            "application/jose",
        ),
        None => (jws, "application/jwt"),
    };
    Ok(((body, content_type), hub_records))
}

fn fetch_record(
    client: &ApiClient,
    grant: &Grant,
    outcome: FetchOutcome,
    hub_records: &[u64],
    items: &str,
) -> FetchRecord {
    FetchRecord {
        client: client.id.clone(),
        grant: Some(grant.id.clone()),
        at: UnixMillis::now(),
        items: items.to_owned(),
        outcome,
        hub_records: hub_records.to_vec(),
    }
}

async fn record<S: crate::Store>(
    st: &PortalState<S>,
    client: &ApiClient,
    grant: Option<&Grant>,
    outcome: FetchOutcome,
    hub_records: &[u64],
    items: &str,
) {
    let f = FetchRecord {
        client: client.id.clone(),
        grant: grant.map(|g| g.id.clone()),
        at: UnixMillis::now(),
        items: items.to_owned(),
        outcome,
        hub_records: hub_records.to_vec(),
    };
    if let Err(e) = st.store.record_fetch(&f).await {
        tracing::error!(error = %e, "cannot record a fetch");
    }
}

fn typed(body: String, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn fetch_direct<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    t: Transport,
    headers: HeaderMap,
) -> Result<Response, OAuthFailure> {
    st.keys()?;
    let (_, client, grant) = st.bearer(&headers, &t, "GET", "/api/v1/self-information").await?;
    st.admit(&client).await?;
    let r = deliver(&st, &client, &grant).await.map_err(OAuthFailure::from);
    st.outcome(&client, r.is_ok()).await;
    let (body, ct) = r?;
    Ok(typed(body, ct))
}

/// Start an asynchronous fetch: `202` with a process id to poll.
async fn fetch_start<S: crate::Store + Clone>(
    State(st): State<Arc<PortalState<S>>>,
    t: Transport,
    headers: HeaderMap,
) -> Result<Response, OAuthFailure> {
    let keys = st.keys()?;
    let (_, client, grant) = st
        .bearer(&headers, &t, "POST", "/api/v1/self-information/requests")
        .await?;
    st.admit(&client).await?;
    let id = format!(
        "pr_{}",
        renkei_jose::random_b64(16).map_err(|e| unavailable("random", e))?
    );
    let now = UnixMillis::now();
    {
        let mut p = keys.processes.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|_, v| match v {
            Process::Running { since, .. } => since.plus_ms(PROCESS_KEEP_MS) > now,
            Process::Done { at, .. } | Process::Failed { at, .. } => at.plus_ms(PROCESS_KEEP_MS) > now,
        });
        p.insert(
            id.clone(),
            Process::Running {
                client: client.id.clone(),
                since: now,
            },
        );
    }
    let task_st = st.clone();
    let task_id = id.clone();
    tokio::spawn(async move {
        let outcome = deliver(&task_st, &client, &grant)
            .await
            .map_err(OAuthFailure::from);
        task_st.outcome(&client, outcome.is_ok()).await;
        let at = UnixMillis::now();
        let done = match outcome {
            Ok((body, content_type)) => Process::Done {
                client: client.id.clone(),
                body,
                content_type,
                at,
            },
            Err(OAuthFailure(e, ..)) => Process::Failed {
                client: client.id.clone(),
                error: e.to_string(),
                at,
            },
        };
        if let Some(k) = task_st.oauth.as_ref() {
            k.processes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(task_id, done);
        }
    });
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(json!({"process_id": id, "status": "processing"})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/self-information/requests/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn fetch_result<S: crate::Store>(
    State(st): State<Arc<PortalState<S>>>,
    t: Transport,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, OAuthFailure> {
    let keys = st.keys()?;
    let (_, client, _) = st
        .bearer(
            &headers,
            &t,
            "GET",
            &format!("/api/v1/self-information/requests/{id}"),
        )
        .await?;
    let p = keys
        .processes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned();
    let not_found = || OAuthError::new("not_found", "no such process (results are kept 10 minutes)");
    match p {
        Some(Process::Running { client: c, .. }) if c == client.id => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"process_id": id, "status": "processing"})),
        )
            .into_response()),
        Some(Process::Done {
            client: c,
            body,
            content_type,
            ..
        }) if c == client.id => Ok(typed(body, content_type)),
        Some(Process::Failed { client: c, error, .. }) if c == client.id => Ok((
            StatusCode::OK,
            Json(json!({"process_id": id, "status": "failed", "error": error})),
        )
            .into_response()),
        _ => Err(not_found().into()),
    }
}

/// After a card login: back to the consent page if that is where the
/// browser came from. Only the exact form [`authorize_path`] writes is
/// honoured, rebuilt from its two checked values; anything else is
/// ignored (home).
pub(crate) fn next_after_login(headers: &HeaderMap) -> Option<String> {
    let raw = cookie(headers, NEXT_COOKIE)?;
    let decoded = String::from_utf8(renkei_jose::unb64("next", &raw).ok()?).ok()?;
    let parsed = parse_authorize_path(&decoded);
    if parsed.is_none() {
        metrics::counter!("renkei_portal_return_refusals_total").increment(1);
    }
    parsed
}

/// `/authorize?client_id=…&request_uri=…` for a pushed request: the one
/// return path a card login honours.
fn authorize_path(client: &ClientId, request_uri: &str) -> String {
    format!(
        "/authorize?client_id={}&request_uri={}",
        client.as_str(),
        crate::templates::encode_component(request_uri)
    )
}

/// Read back what [`authorize_path`] wrote: a client id, and a request URI
/// of the portal's own form (its prefix and up to 128 base64url
/// characters); `None` for any other text.
fn parse_authorize_path(s: &str) -> Option<String> {
    let query = s.strip_prefix("/authorize?client_id=")?;
    let (client, rest) = query.split_once("&request_uri=")?;
    let client = ClientId::parse(client)?;
    let handle = rest.strip_prefix(&crate::templates::encode_component(REQUEST_URI_PREFIX))?;
    let handle_ok = !handle.is_empty()
        && handle.len() <= 128
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    handle_ok.then(|| authorize_path(&client, &format!("{REQUEST_URI_PREFIX}{handle}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_returns_only_to_a_pushed_requests_consent_page() {
        let client = ClientId::parse(&format!("rc_{}", "A".repeat(22))).unwrap();
        let good = authorize_path(&client, &format!("{REQUEST_URI_PREFIX}abc_DEF-123"));
        assert_eq!(
            good,
            "/authorize?client_id=rc_AAAAAAAAAAAAAAAAAAAAAA&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc_DEF-123"
        );
        assert_eq!(parse_authorize_path(&good), Some(good.clone()));
        for bad in [
            format!("{good}\r\n//evil.example"),
            format!("{good}\t"),
            format!("{good}&next=//evil.example"),
            format!("{good}%2F%2Fevil.example"),
            format!("/{good}"),
            good.replace("/authorize", "//evil.example/authorize"),
            good.replace("/authorize", "/authorize/..//evil.example"),
            good.replace("/authorize", "https://evil.example/authorize"),
            good.replace("urn%3Aietf", "https://evil.example/urn%3Aietf"),
            good.replace("abc_DEF-123", ""),
            good.replace("abc_DEF-123", "abc%2F%2Fevil"),
            good.replace("abc_DEF-123", &"a".repeat(129)),
            good.replace("rc_AAAAAAAAAAAAAAAAAAAAAA", "rc_A"),
            "/authorize?\r\n//evil.example".into(),
            "/authorize?client_id=x\r\nSet-Cookie: a=b".into(),
            "/%09/evil.example".into(),
            String::new(),
        ] {
            assert_eq!(parse_authorize_path(&bad), None, "{bad:?}");
        }
        for v in crate::routes::tests::OFF_SITE {
            assert_eq!(parse_authorize_path(v), None, "{v:?}");
        }
    }
}
