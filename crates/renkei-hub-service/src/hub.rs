//! The hub role over HTTP: the linkage and code-service endpoints on the
//! mutual-TLS listener, the institution registry and records on the admin
//! listener.

use renkei_api::hub::{InstitutionWire, MAX_CODE_BATCH, RecordWire, RotateReply, SecurityEventWire};
use renkei_api::notices::RegisteredCertificateWire;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router, middleware};
use renkei_catalog::{Catalog, KindCode, PermissionTable};
use renkei_crypto::{CodeKeyring, Suite, VerifyingKey, b64, unb64};
use renkei_hub::{
    Endpoint, HubCore, HubPolicy, HubStore, Institution, InstitutionStatus, Outcome, PeerInstitution,
    RecordFilter, SecurityEvent,
};
use renkei_ids::{CorporateNumber, LinkId, MessageId};
use renkei_pki::{Role, WriteMode};
use renkei_protocol::{Denial, DenialCode, SignedAnswer, SignedRequest, StoreError, UnixMillis};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use renkei_api::net::{
    CodeDeliveryWire, CodeIssueWire, CodeRefreshReplyWire, CodeRefreshWire, HubReplyWire, RefreshedCodeWire,
    SignedAnswerWire, SignedForwardWire, SignedRequestWire, acquisition, field,
};
use renkei_transport::{ApiError, JsonBody, QueryParams, SetupError};
use renkei_transport::{ApiFailure, Expect, NetClient};
use renkei_transport::{Peer, require_peer};
use renkei_transport::{RoleListeners, RunningServer, TrustState, serve_role, serve_tls_limited};
use renkei_transport::{
    TlsFiles, default_crl_poll_secs, default_skew_secs, default_timeout_ms, load_signing_key, read_text,
    require_token,
};

/// Largest linkage message accepted on the network listener.
const LINKAGE_BODY_LIMIT: usize = 64 * 1024;
/// Largest code-service batch (10,000 entries of ~100 bytes).
const CODE_BATCH_LIMIT: usize = 2 * 1024 * 1024;

/// Configuration of `renkei hub serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSettings {
    /// Mutual-TLS listener for nodes and the registry.
    pub listen: SocketAddr,
    /// Server-TLS listener for operators (admin API, health, metrics).
    pub admin_listen: SocketAddr,
    pub tls: TlsFiles,
    #[serde(default)]
    pub suite: Suite,
    pub signing_key: PathBuf,
    /// The code keyring (0600); rewritten on rotation.
    pub code_keys: PathBuf,
    /// The 32-byte key of the provision records' subject tags (0600).
    pub record_key: PathBuf,
    pub catalog: PathBuf,
    pub permissions: PathBuf,
    pub admin_token: PathBuf,
    #[serde(default = "default_skew_secs")]
    pub max_skew_secs: u64,
    #[serde(default = "default_timeout_ms")]
    pub provider_timeout_ms: u64,
    #[serde(default = "default_crl_poll_secs")]
    pub crl_poll_secs: u64,
    /// Deadlines and connection caps of every listener of this role.
    #[serde(default)]
    pub limits: renkei_transport::ListenerLimits,
    /// The transparency log of provision records.
    pub log: crate::log::LogSettings,
}

pub(crate) struct HubState<S> {
    pub(crate) core: HubCore,
    pub(crate) trust: Arc<TrustState>,
    pub(crate) store: S,
    pub(crate) suite: Suite,
    pub(crate) directory: RwLock<HashMap<CorporateNumber, Institution>>,
    /// When a lookup miss last reloaded the directory (ms).
    directory_miss_reload: std::sync::atomic::AtomicI64,
    pub(crate) client: Arc<NetClient>,
    pub(crate) code_keys: PathBuf,
    pub(crate) log: crate::log::LogState,
}

/// A started hub.
#[derive(Debug)]
pub struct RunningHub {
    pub network: RunningServer,
    pub admin: RunningServer,
    /// The public log: checkpoint, tiles, a person's records.
    pub log: RunningServer,
    pub trust: Arc<TrustState>,
    pub verifying_key: VerifyingKey,
    /// The log's note verifier key (`<origin>+<hash>+<key>`).
    pub log_verifier: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningHub {
    pub async fn shutdown(self, grace: Duration) {
        for t in &self.tasks {
            t.abort();
        }
        self.network.shutdown(grace).await;
        self.admin.shutdown(grace).await;
        self.log.shutdown(grace).await;
    }

    /// The URL prefix of the public log (`…/log`).
    pub fn log_url(&self) -> String {
        format!("{}/log", self.log.url())
    }
}

fn load_catalog(settings: &HubSettings) -> Result<(Catalog, PermissionTable), SetupError> {
    let catalog = Catalog::parse(&read_text(&settings.catalog)?)
        .map_err(|e| SetupError::config(settings.catalog.display().to_string(), e))?;
    let table = PermissionTable::parse(&read_text(&settings.permissions)?, &catalog)
        .map_err(|e| SetupError::config(settings.permissions.display().to_string(), e))?;
    Ok((catalog, table))
}

/// Check the catalog and permission table files without starting anything
/// (`renkei hub check`).
pub fn check_catalog(settings: &HubSettings) -> Result<(usize, usize, String), SetupError> {
    let (c, t) = load_catalog(settings)?;
    Ok((c.office_works().count(), t.rows().len(), t.version.clone()))
}

/// The sample catalog and permission table, as files an operator edits:
/// `catalog.toml` and `permissions.csv` in `dir` (`renkei pki issue --role
/// hub`, the demo's hub).
pub fn write_sample_catalog(dir: &std::path::Path) -> Result<(PathBuf, PathBuf), renkei_pki::PkiError> {
    let catalog = dir.join("catalog.toml");
    let permissions = dir.join("permissions.csv");
    renkei_pki::write_public(
        &catalog,
        renkei_catalog::SAMPLE_CATALOG.as_bytes(),
        WriteMode::Replace,
    )?;
    renkei_pki::write_public(
        &permissions,
        renkei_catalog::SAMPLE_PERMISSIONS.as_bytes(),
        WriteMode::Replace,
    )?;
    Ok((catalog, permissions))
}

/// Start a hub with `store`.
pub async fn start_hub<S: HubStore + Clone>(
    settings: &HubSettings,
    store: S,
) -> Result<RunningHub, SetupError> {
    renkei_transport::install_metrics();
    let (catalog, table) = load_catalog(settings)?;
    let signer = load_signing_key(&settings.signing_key, settings.suite)?;
    let keyring_text = renkei_pki::read_private(&settings.code_keys)?;
    let keyring = CodeKeyring::from_file_text(&String::from_utf8_lossy(&keyring_text))
        .map_err(|e| SetupError::config(settings.code_keys.display().to_string(), e))?;
    let record_key_text = renkei_pki::read_private(&settings.record_key)?;
    let record_key: [u8; 32] = unb64("record key", String::from_utf8_lossy(&record_key_text).trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            SetupError::config(
                settings.record_key.display().to_string(),
                "must hold 32 bytes in base64url",
            )
        })?;
    let token = renkei_transport::read_admin_token(&settings.admin_token)?;
    let (identity, anchors) = settings.tls.load()?;
    if identity.certificate().identity.role != Role::Hub {
        return Err(SetupError::config(
            settings.tls.cert.display().to_string(),
            "is not a hub certificate",
        ));
    }
    let trust = TrustState::new(identity, anchors);
    let policy = HubPolicy {
        max_skew_ms: settings.max_skew_secs as i64 * 1000,
    };
    let core = HubCore::new(
        catalog,
        table,
        keyring,
        signer,
        Zeroizing::new(record_key),
        policy,
    );
    let verifying_key = core.verifying_key();

    let now = UnixMillis::now();
    let seen = store
        .recent_message_ids(now.plus_ms(-2 * policy.max_skew_ms))
        .await?;
    core.seed_replay(seen, now);
    let directory = store
        .institutions()
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();

    let log = crate::log::LogState::load(&settings.log, &store).await?;
    let log_verifier = log.verifier().to_string();
    let state = Arc::new(HubState {
        core,
        trust: trust.clone(),
        store,
        suite: settings.suite,
        directory: RwLock::new(directory),
        directory_miss_reload: std::sync::atomic::AtomicI64::new(0),
        client: trust.client(Duration::from_millis(settings.provider_timeout_ms))?,
        code_keys: settings.code_keys.clone(),
        log,
    });

    let network = Router::new()
        .route(
            "/v1/linkage",
            post(linkage::<S>).layer(DefaultBodyLimit::max(LINKAGE_BODY_LIMIT)),
        )
        .route(
            "/v1/code-service/issue",
            post(issue_codes::<S>).layer(DefaultBodyLimit::max(CODE_BATCH_LIMIT)),
        )
        .route(
            "/v1/codes/refresh",
            post(refresh_codes::<S>).layer(DefaultBodyLimit::max(CODE_BATCH_LIMIT)),
        )
        .route("/v1/person/key", post(crate::log::person_key::<S>))
        .route(
            "/v1/institutions/{id}/certificate",
            get(directory_certificate::<S>),
        )
        .route("/health", get(health::<S>))
        .layer(middleware::from_fn_with_state(trust.clone(), require_peer))
        .layer(middleware::from_fn(|r, n| renkei_transport::track("hub", r, n)))
        .with_state(state.clone());

    let admin = Router::new()
        .route("/admin/v1/institutions", get(list_institutions::<S>))
        .route("/admin/v1/institutions/{id}", put(register_institution::<S>))
        .route("/admin/v1/institutions/{id}/status", post(set_status::<S>))
        .route("/admin/v1/records", get(list_records::<S>))
        .route("/admin/v1/security-events", get(security_events::<S>))
        .route("/admin/v1/code-keys/rotate", post(rotate_code_key::<S>))
        .route("/admin/v1/log/prune", post(crate::log::prune_now::<S>))
        .layer(middleware::from_fn_with_state(token, require_token))
        .route("/health", get(health::<S>))
        .route("/metrics", get(renkei_transport::render_metrics))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("hub-admin", r, n)
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
    let log_router = crate::log::router(state.clone());
    let log_server = serve_tls_limited(
        settings.log.listen,
        log_router,
        trust.server_config(renkei_pki::ClientAuth::None)?,
        &settings.limits,
    )
    .await
    .map_err(|source| SetupError::Listen {
        addr: settings.log.listen,
        source,
    })?;
    let witness_client = trust.client(Duration::from_secs(10))?;
    let publisher = tokio::spawn(crate::log::publish_checkpoints(
        state.clone(),
        witness_client,
        Duration::from_millis(settings.log.checkpoint_interval_ms.max(10)),
    ));
    let retention = tokio::spawn(crate::log::retain(state.clone(), settings.log.retention_days));
    let directory = tokio::spawn(refresh_directory(state.clone()));
    let code_keys = tokio::spawn(watch_code_keys(state.clone()));
    tracing::info!(network = %network.addr, admin = %admin.addr, log = %log_server.addr, suite = %settings.suite, "hub started");
    Ok(RunningHub {
        network,
        admin,
        log: log_server,
        trust,
        verifying_key,
        log_verifier,
        tasks: vec![crl_task, publisher, retention, directory, code_keys],
    })
}

/// Follow the code-key file: hubs that share it (several processes on one
/// store) learn of a rotation made through any of them within a second,
/// instead of refusing the new version's codes until restarted. A file
/// that cannot be read or parsed is reported and the keys in use kept.
async fn watch_code_keys<S: HubStore>(st: Arc<HubState<S>>) {
    let stamp = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
    let mut seen = stamp(&st.code_keys);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&st.code_keys);
        if now == seen {
            continue;
        }
        seen = now;
        let loaded = renkei_pki::read_private(&st.code_keys)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                CodeKeyring::from_file_text(&String::from_utf8_lossy(&text)).map_err(|e| e.to_string())
            });
        match loaded {
            Ok(ring) => {
                let version = ring.current_version();
                let changed = version != st.core.code_key_version();
                st.core.replace_keyring(ring);
                if changed {
                    tracing::info!(version, "code keys reloaded from the key file");
                }
            }
            Err(e) => {
                metrics::counter!("renkei_hub_code_key_reload_failures_total").increment(1);
                tracing::error!(file = %st.code_keys.display(), error = %e, "the code-key file changed but cannot be used; the keys in use are kept");
            }
        }
    }
}

impl<S: HubStore> HubState<S> {
    /// Replace the in-memory directory with the store's: registrations
    /// and suspensions made through another hub on the same store.
    async fn reload_directory(&self) -> Result<(), StoreError> {
        let fresh: HashMap<_, _> = self
            .store
            .institutions()
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        *self.directory.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// Both parties; an unknown one may have been registered through
    /// another hub on the same store in the last second, so look again
    /// after reloading (at most ten reloads a second).
    async fn lookup_pair(
        &self,
        a: &CorporateNumber,
        b: &CorporateNumber,
    ) -> (Option<Institution>, Option<Institution>) {
        let (x, y) = (self.lookup(a), self.lookup(b));
        if x.is_some() && y.is_some() {
            return (x, y);
        }
        let now = UnixMillis::now().0;
        let last = self
            .directory_miss_reload
            .load(std::sync::atomic::Ordering::Relaxed);
        if now - last >= 100
            && self
                .directory_miss_reload
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
            && let Err(e) = self.reload_directory().await
        {
            tracing::warn!(error = %e, "cannot reload the institution directory");
        }
        (self.lookup(a), self.lookup(b))
    }

    pub(crate) fn lookup(&self, id: &CorporateNumber) -> Option<Institution> {
        self.directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Record a request that failed authentication. If the event cannot be
    /// stored the request is refused as `hub_unavailable` (retryable)
    /// instead, and `renkei_hub_security_event_failures_total` counts it:
    /// an attack must not go unrecorded because the store failed.
    async fn security_event(
        &self,
        denial: &Denial,
        peer: Option<CorporateNumber>,
        message_id: Option<MessageId>,
        at: UnixMillis,
    ) -> Result<(), ApiError> {
        metrics::counter!("renkei_hub_security_events_total", "code" => denial.code.as_str()).increment(1);
        tracing::warn!(code = %denial.code, peer = ?peer.map(|p| p.to_string()), message = %denial.message, "request failed authentication");
        let event = SecurityEvent {
            at,
            code: denial.code,
            peer,
            message_id,
            detail: denial.message.clone(),
        };
        match self.store.append_security_event(event).await {
            Ok(()) => Ok(()),
            Err(e) => {
                metrics::counter!("renkei_hub_security_event_failures_total").increment(1);
                tracing::error!(error = %e, code = %denial.code, "cannot store a security event; refusing the request as unavailable");
                Err(Denial::new(
                    DenialCode::HubUnavailable,
                    "the hub could not record this request's refusal; retry with a new message id",
                )
                .into())
            }
        }
    }

    async fn append(&self, record: renkei_hub::ProvisionRecord) -> Result<u64, ApiError> {
        let outcome = record.leaf.outcome.as_str();
        let query_id = record.leaf.query_id;
        match self.store.append_record(record).await {
            Ok(seq) => {
                metrics::counter!("renkei_hub_linkages_total", "outcome" => outcome).increment(1);
                Ok(seq)
            }
            Err(e) => {
                tracing::error!(error = %e, %query_id, "cannot record an exchange; refusing to answer");
                Err(ApiError::from(Denial::new(
                    DenialCode::HubUnavailable,
                    "the hub could not record the exchange, so it is not answered; retry with a new message id",
                ))
                .with_query_id(Some(query_id)))
            }
        }
    }
}

/// How soon a suspension made through one hub holds at the others on the
/// same store.
const DIRECTORY_REFRESH: Duration = Duration::from_secs(1);

async fn refresh_directory<S: HubStore>(st: Arc<HubState<S>>) {
    let mut tick = tokio::time::interval(DIRECTORY_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = st.reload_directory().await {
            tracing::warn!(error = %e, "cannot refresh the institution directory; keeping the last one");
        }
    }
}

fn provider_denial(f: ApiFailure, provider: &CorporateNumber) -> Denial {
    match f {
        ApiFailure::Connect(e) => Denial::new(
            DenialCode::ProviderUnavailable,
            format!("provider {provider} cannot be reached ({e}); retry later"),
        ),
        ApiFailure::Timeout => Denial::new(
            DenialCode::ProviderTimeout,
            format!("provider {provider} did not answer in time; retry later"),
        ),
        ApiFailure::Rejected { code, message, .. } => Denial::new(
            if renkei_protocol::FINAL_PROVIDER_REFUSALS.contains(&code.as_str()) {
                DenialCode::ProviderRefused
            } else {
                DenialCode::ProviderError
            },
            format!("provider {provider} refused the forward: {code}: {message}"),
        ),
        ApiFailure::Tls(e) => Denial::new(
            DenialCode::ProviderUnavailable,
            format!(
                "provider {provider} refused the hub's TLS connection or presented a refused certificate ({e})"
            ),
        ),
        ApiFailure::Protocol(e) => Denial::new(
            DenialCode::ProviderError,
            format!("provider {provider} answered unusably: {e}"),
        ),
    }
}

async fn linkage<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<SignedRequestWire>,
) -> Result<Json<HubReplyWire>, ApiError> {
    let now = UnixMillis::now();
    let peer_institution = peer.institution_as(&[Role::Node, Role::Registry, Role::Portal])?;
    let request = SignedRequest::try_from(&body).map_err(|e| ApiError::malformed(e.to_string()))?;
    let r = &request.request;
    let (requester, provider) = st.lookup_pair(&r.requester, &r.provider).await;
    let peer_id = PeerInstitution {
        institution: peer_institution,
        certificate_fingerprint: peer.fingerprint,
    };
    if let Err(denial) = st.core.authenticate(&peer_id, &request, requester.as_ref(), now) {
        st.security_event(&denial, Some(peer_institution), Some(r.message_id), now)
            .await?;
        return Err(denial.into());
    }
    // Other hub processes on the same store saw other ids: claim this one
    // for all of them (the in-memory guard above only knows this process).
    let forget_after = r.issued_at.plus_ms(st.core.policy().max_skew_ms);
    match st
        .store
        .claim_message(r.requester, r.message_id, forget_after)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let denial = Denial::new(
                DenialCode::Replayed,
                format!("message id {} was already received", r.message_id),
            );
            st.security_event(&denial, Some(peer_institution), Some(r.message_id), now)
                .await?;
            return Err(denial.into());
        }
        Err(e) => {
            metrics::counter!("renkei_hub_replay_store_failures_total").increment(1);
            tracing::error!(error = %e, "cannot claim a message id; refusing the request");
            return Err(Denial::new(
                DenialCode::HubUnavailable,
                "the hub could not check the message id for replay; retry with a new message id",
            )
            .into());
        }
    }
    let requester =
        requester.ok_or_else(|| ApiError::internal("linkage", "requester vanished after authentication"))?;

    let authorized = match st.core.authorize(&request, &requester, provider.as_ref(), now) {
        Ok(a) => a,
        Err(rejected) => {
            let record = st.core.record_rejected(&request, &rejected);
            let query_id = record.leaf.query_id;
            st.append(record).await?;
            tracing::info!(%query_id, code = %rejected.denial.code, requester = %r.requester, provider = %r.provider, "linkage denied");
            return Err(ApiError::from(rejected.denial).with_query_id(Some(query_id)));
        }
    };
    let provider =
        provider.ok_or_else(|| ApiError::internal("linkage", "provider vanished after authorization"))?;
    let forward = st.core.forward(&request, &authorized, now);

    let answer = match st
        .client
        .post::<_, SignedAnswerWire>(
            &format!("{}/v1/provide", provider.endpoint),
            &SignedForwardWire::from(&forward),
            Expect::Certificate(provider.tls_certificate),
            None,
        )
        .await
    {
        Err(f) => Err(provider_denial(f, &provider.id)),
        Ok(w) => SignedAnswer::try_from(&w)
            .map_err(|e| {
                Denial::new(
                    DenialCode::ProviderError,
                    format!("provider {} answered unusably: {e}", provider.id),
                )
            })
            .and_then(|a| {
                st.core
                    .check_answer(&forward, &a, &requester, &provider)
                    .map(|()| a)
            }),
    };
    let answer = match answer {
        Ok(a) => a,
        Err(denial) => {
            let record = st
                .core
                .record_forwarded(&request, &authorized, Outcome::Denied(denial.code), None);
            st.append(record).await?;
            tracing::warn!(query_id = %authorized.query_id, code = %denial.code, message = %denial.message, "provider failed");
            return Err(ApiError::from(denial).with_query_id(Some(authorized.query_id)));
        }
    };
    let record = st
        .core
        .record_forwarded(&request, &authorized, Outcome::Provided, Some(UnixMillis::now()));
    let seq = st.append(record).await?;
    let receipt = st.core.receipt(&forward, &answer, seq, UnixMillis::now());
    Ok(Json(HubReplyWire {
        answer: (&answer).into(),
        receipt: (&receipt).into(),
    }))
}

async fn issue_codes<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<CodeIssueWire>,
) -> Result<Json<CodeDeliveryWire>, ApiError> {
    // The registry as registered: its role, institution and certificate.
    let registry_id = peer.institution_as(&[Role::Registry])?;
    let id = CorporateNumber::parse(&body.institution)
        .map_err(|e| ApiError::malformed(format!("institution: {e}")))?;
    let (registry, institution) = st.lookup_pair(&registry_id, &id).await;
    match registry {
        Some(r) if r.tls_certificate != peer.fingerprint => {
            return Err(ApiError::forbidden(
                "certificate_mismatch",
                "the TLS client certificate is not the one registered for the registry",
            ));
        }
        Some(r) if r.status == InstitutionStatus::Suspended => {
            return Err(ApiError::forbidden(
                "requester_suspended",
                format!("the registry {registry_id} is suspended"),
            ));
        }
        Some(_) => {}
        None => {
            return Err(ApiError::forbidden(
                "unknown_requester",
                format!("the registry {registry_id} is not registered at this hub"),
            ));
        }
    }
    let institution = institution.ok_or_else(|| {
        ApiError::not_found(
            "unknown_institution",
            format!("institution {id} is not registered at this hub"),
        )
    })?;
    if institution.status == InstitutionStatus::Suspended {
        return Err(ApiError::forbidden(
            "institution_suspended",
            format!("institution {id} is suspended"),
        ));
    }
    if body.entries.is_empty() || body.entries.len() > MAX_CODE_BATCH {
        return Err(ApiError::malformed(format!(
            "entries must hold 1 to {MAX_CODE_BATCH} people"
        )));
    }
    let mut entries = Vec::with_capacity(body.entries.len());
    for (i, e) in body.entries.iter().enumerate() {
        let acq = acquisition("entries.acquisition_number", &e.acquisition_number)
            .map_err(|err| ApiError::malformed(format!("entry {i}: {err}")))?;
        let link: [u8; 16] = unb64("link id", &e.link_id)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                ApiError::malformed(format!("entry {i}: link_id must be 16 bytes in base64url"))
            })?;
        entries.push((acq, LinkId::from_bytes(link)));
    }
    let delivery = st
        .core
        .issue_codes(&institution, &entries)
        .map_err(|e| ApiError::internal("code issuance", e))?;
    metrics::counter!("renkei_hub_codes_issued_total").increment(entries.len() as u64);
    let mut wire = CodeDeliveryWire::from(&delivery);
    if let Some(p) = &body.proof {
        // The registry vouches that the card holder just signed a fresh
        // challenge; the hub states it, for this institution's code only.
        let [(acq, link)] = entries.as_slice() else {
            return Err(ApiError::malformed(
                "a person proof is issued for exactly one person",
            ));
        };
        let purpose = p.purpose().map_err(|e| ApiError::malformed(e.to_string()))?;
        let card_challenge: [u8; 32] = unb64("card challenge", &p.card_challenge)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                ApiError::malformed("field `proof.card_challenge`: must be 32 bytes in base64url")
            })?;
        let now = UnixMillis::now();
        if p.until <= now.0 {
            return Err(ApiError::malformed("field `proof.until`: must be in the future"));
        }
        let proof = st.core.issue_person_proof(
            &institution.id,
            link,
            purpose,
            card_challenge,
            UnixMillis(p.until),
            now,
        );
        let sealed = proof
            .seal(&institution.sealing_key, acq)
            .map_err(|e| ApiError::internal("sealing a person proof", e))?;
        metrics::counter!("renkei_hub_person_proofs_issued_total").increment(1);
        wire.proof = Some((&sealed).into());
    }
    Ok(Json(wire))
}

/// Exchange an institution's codes for ones under the current key.
async fn refresh_codes<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<CodeRefreshWire>,
) -> Result<Json<CodeRefreshReplyWire>, ApiError> {
    let id = peer.institution_as(&[Role::Node, Role::Registry, Role::Portal])?;
    let institution = st.lookup(&id).ok_or_else(|| {
        ApiError::forbidden(
            "unknown_requester",
            format!("institution {id} is not registered at this hub"),
        )
    })?;
    if institution.tls_certificate != peer.fingerprint {
        return Err(ApiError::forbidden(
            "certificate_mismatch",
            "the TLS client certificate is not the one registered",
        ));
    }
    if institution.status == InstitutionStatus::Suspended {
        return Err(ApiError::forbidden(
            "requester_suspended",
            format!("institution {id} is suspended"),
        ));
    }
    if body.codes.len() > MAX_CODE_BATCH {
        return Err(ApiError::malformed(format!(
            "at most {MAX_CODE_BATCH} codes per request"
        )));
    }
    let now = UnixMillis::now();
    let codes = body
        .codes
        .iter()
        .map(|c| match renkei_ids::InstitutionCode::parse(c) {
            Err(e) => RefreshedCodeWire {
                new: None,
                error: Some(e.to_string()),
            },
            Ok(code) => match st.core.refresh_code(&id, &code, now) {
                Ok(fresh) => RefreshedCodeWire {
                    new: Some(fresh.to_string()),
                    error: None,
                },
                Err(e) => RefreshedCodeWire {
                    new: None,
                    error: Some(e.to_string()),
                },
            },
        })
        .collect();
    Ok(Json(CodeRefreshReplyWire { codes }))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    role: &'static str,
    suite: String,
    institutions: usize,
    catalog_version: String,
    permission_table_version: String,
    code_key_version: u32,
}

async fn health<S: HubStore>(State(st): State<Arc<HubState<S>>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        role: "hub",
        suite: st.suite.to_string(),
        institutions: st.directory.read().unwrap_or_else(|p| p.into_inner()).len(),
        catalog_version: st.core.catalog().version.clone(),
        permission_table_version: st.core.table().version.clone(),
        code_key_version: st.core.code_key_version(),
    })
}

fn institution_wire(i: &Institution) -> InstitutionWire {
    InstitutionWire {
        id: i.id.to_string(),
        name: i.name.clone(),
        kind: i.kind.to_string(),
        endpoint: i.endpoint.to_string(),
        certificate: b64(&i.tls_certificate),
        signing_key: Some((&i.signing_key).into()),
        sealing_key: Some((&i.sealing_key).into()),
        status: Some(i.status.as_str().into()),
    }
}

async fn list_institutions<S: HubStore>(State(st): State<Arc<HubState<S>>>) -> Json<Vec<InstitutionWire>> {
    let dir = st.directory.read().unwrap_or_else(|p| p.into_inner());
    let mut v: Vec<_> = dir.values().map(institution_wire).collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    Json(v)
}

/// The registered certificate: issued by the network CA, not revoked, an
/// institution role naming `id`, certifying the institution's signing and
/// sealing keys in the network suite. Returns its fingerprint and the keys.
fn registered_certificate<S>(
    st: &HubState<S>,
    pem: &str,
    id: &CorporateNumber,
) -> Result<(Vec<u8>, [u8; 32], renkei_protocol::CertifiedParty), ApiError> {
    let der = pem_to_der(pem)
        .ok_or_else(|| ApiError::malformed("certificate must be one PEM CERTIFICATE block"))?;
    let cert = st
        .trust
        .anchors()
        .verify_certificate(&der, rustls_pki_types::UnixTime::now())
        .map_err(|e| ApiError::malformed(format!("certificate: {e}")))?;
    if cert.identity.institution != Some(*id) {
        return Err(ApiError::malformed(format!(
            "certificate is issued to {}, not to institution {id}",
            cert.identity
                .institution
                .map_or_else(|| "no institution".into(), |i| i.to_string())
        )));
    }
    let party = renkei_transport::certified::party_of(&cert, st.suite)
        .map_err(|e| ApiError::malformed(format!("certificate: {e}")))?;
    Ok((der, cert.fingerprint, party))
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| l.trim() != "-----BEGIN CERTIFICATE-----")
        .skip(1)
        .take_while(|l| l.trim() != "-----END CERTIFICATE-----")
        .collect::<Vec<_>>()
        .join("");
    if body.is_empty() {
        return None;
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
}

async fn register_institution<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<InstitutionWire>,
) -> Result<Json<InstitutionWire>, ApiError> {
    let id = CorporateNumber::parse(&id).map_err(|e| ApiError::malformed(format!("institution id: {e}")))?;
    if !body.id.is_empty() && body.id != id.to_string() {
        return Err(ApiError::malformed(
            "field `id`: differs from the institution in the path",
        ));
    }
    let bad = |e: renkei_api::net::WireError| ApiError::malformed(e.to_string());
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::malformed("field `name`: must be 1 to 200 characters"));
    }
    let kind = field("kind", KindCode::parse(&body.kind)).map_err(bad)?;
    if st.core.catalog().kind(&kind).is_none() {
        return Err(ApiError::malformed(format!(
            "field `kind`: `{kind}` is not a kind of catalog {}",
            st.core.catalog().version
        )));
    }
    let endpoint = field("endpoint", Endpoint::parse(&body.endpoint)).map_err(bad)?;
    let (certificate, tls_certificate, certified) = registered_certificate(&st, &body.certificate, &id)?;
    if let Some(k) = &body.signing_key
        && k.verifying("signing_key").map_err(bad)? != certified.signing
    {
        return Err(ApiError::malformed(
            "field `signing_key`: not the signing key the certificate certifies",
        ));
    }
    if let Some(k) = &body.sealing_key
        && k.sealing("sealing_key").map_err(bad)? != certified.sealing
    {
        return Err(ApiError::malformed(
            "field `sealing_key`: not the sealing key the certificate certifies",
        ));
    }
    let status = match body.status.as_deref() {
        None => InstitutionStatus::Active,
        Some(s) => InstitutionStatus::parse(s)
            .ok_or_else(|| ApiError::malformed("field `status`: must be active or suspended"))?,
    };
    let institution = Institution {
        id,
        name,
        kind,
        endpoint,
        tls_certificate,
        signing_key: certified.signing,
        sealing_key: certified.sealing,
        certificate,
        status,
        updated_at: UnixMillis::now(),
    };
    st.store.upsert_institution(&institution).await?;
    tracing::info!(institution = %id, kind = %institution.kind, "institution registered");
    let wire = institution_wire(&institution);
    st.directory
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, institution);
    Ok(Json(wire))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
}

async fn set_status<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Json<InstitutionWire>, ApiError> {
    let id = CorporateNumber::parse(&id).map_err(|e| ApiError::malformed(format!("institution id: {e}")))?;
    let status = InstitutionStatus::parse(&body.status)
        .ok_or_else(|| ApiError::malformed("field `status`: must be active or suspended"))?;
    let now = UnixMillis::now();
    if !st.store.set_institution_status(id, status, now).await? {
        return Err(ApiError::not_found(
            "unknown_institution",
            format!("institution {id} is not registered"),
        ));
    }
    // Another hub on the same store may have registered it: read back.
    st.reload_directory().await?;
    let entry = st
        .lookup(&id)
        .ok_or_else(|| ApiError::internal("set status", "institution vanished after its status changed"))?;
    tracing::info!(institution = %id, status = status.as_str(), "institution status changed");
    Ok(Json(institution_wire(&entry)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordQuery {
    after: Option<u64>,
    limit: Option<u32>,
    requester: Option<String>,
    provider: Option<String>,
}

async fn list_records<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    QueryParams(q): QueryParams<RecordQuery>,
) -> Result<Json<Vec<RecordWire>>, ApiError> {
    let corp = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| CorporateNumber::parse(s).map_err(|e| ApiError::malformed(format!("{name}: {e}"))))
            .transpose()
    };
    let filter = RecordFilter {
        after_seq: q.after,
        requester: corp("requester", &q.requester)?,
        provider: corp("provider", &q.provider)?,
        subject: None,
        limit: q.limit.unwrap_or(100).clamp(1, 10_000),
    };
    let records = st.store.records(filter).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|(seq, r)| RecordWire {
                seq,
                query_id: r.leaf.query_id.to_string(),
                message_id: r.leaf.message_id.to_string(),
                requester: r.leaf.requester.to_string(),
                provider: r.leaf.provider.to_string(),
                office_work: r.leaf.office_work.to_string(),
                item: r.leaf.item.to_string(),
                fiscal_year: r.leaf.fiscal_year.map(|y| y.get()),
                table_row: r.leaf.table_row.map(|t| t.to_string()),
                subject: r.subject.map(|s| b64(&s.0)),
                requested_at: r.leaf.requested_at.0,
                provided_at: r.leaf.provided_at.map(|t| t.0),
                outcome: r.leaf.outcome.as_str().into(),
                non_disclosure: r.leaf.non_disclosure,
                consent: r.consent.clone(),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<u32>,
}

async fn security_events<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    QueryParams(q): QueryParams<LimitQuery>,
) -> Result<Json<Vec<SecurityEventWire>>, ApiError> {
    let events = st.store.security_events(q.limit.unwrap_or(100)).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| SecurityEventWire {
                at: e.at.0,
                code: e.code.as_str().into(),
                peer: e.peer.map(|p| p.to_string()),
                message_id: e.message_id.map(|m| m.to_string()),
                detail: e.detail,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// How long codes under the old key stay valid.
    grace_seconds: u64,
}

async fn rotate_code_key<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    JsonBody(body): JsonBody<RotateBody>,
) -> Result<Json<RotateReply>, ApiError> {
    if body.grace_seconds > 400 * 24 * 3600 {
        return Err(ApiError::malformed("grace_seconds must be at most 400 days"));
    }
    let (version, text) = st
        .core
        .rotate_code_key(UnixMillis::now(), body.grace_seconds as i64 * 1000);
    renkei_pki::write_private(&st.code_keys, text.as_bytes(), WriteMode::Replace)
        .map_err(|e| ApiError::internal("writing the code key file", e))?;
    tracing::info!(version, "code key rotated");
    Ok(Json(RotateReply { new_version: version }))
}

/// An institution's registered certificate, for an institution that pushes
/// to it. Nothing secret, and nothing to trust the hub for: the caller
/// verifies it against the network CA and the CRL and takes the keys from it.
async fn directory_certificate<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
) -> Result<Json<RegisteredCertificateWire>, ApiError> {
    peer.institution_as(&[Role::Node, Role::Registry, Role::Portal])?;
    let id = CorporateNumber::parse(&id).map_err(|e| ApiError::malformed(format!("institution: {e}")))?;
    let entry = st
        .lookup(&id)
        .filter(|i| !i.certificate.is_empty())
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_institution",
                format!("no certificate is registered for institution {id}"),
            )
        })?;
    Ok(Json(RegisteredCertificateWire {
        institution: id.to_string(),
        certificate: renkei_crypto::b64(&entry.certificate),
    }))
}
