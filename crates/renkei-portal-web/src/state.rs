//! The running portal: its state, its two listeners and the task that
//! keeps the card CAs' CRLs current.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use renkei_card::{CardCaCertificate, CardCrl, CardProfile, CardTrust, CertPurpose};
use renkei_catalog::Catalog;
use renkei_ids::CorporateNumber;
use renkei_pki::{ClientAuth, Identity, TrustAnchors};
use renkei_portal::{ChallengeLimiter, ChallengeLimits, SessionCache, SessionPolicy};
use renkei_transport::{RunningServer, SetupError};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::settings::PortalSettings;

/// A person's log key, held for the session that obtained it (and no
/// longer: [`SessionCache`] drops it when the session lapses).
pub(crate) struct CachedKey {
    pub(crate) key: Zeroizing<[u8; 32]>,
    pub(crate) token: Zeroizing<String>,
    pub(crate) log_key: String,
    pub(crate) person: renkei_ids::LocalPersonId,
}

pub(crate) struct PortalState<S> {
    pub(crate) settings: PortalSettings,
    /// `scheme://host:port`, what cards sign and `Origin` must be.
    pub(crate) origin: String,
    pub(crate) store: S,
    pub(crate) backend: Backend,
    pub(crate) catalog: Catalog,
    pub(crate) trust: RwLock<CardTrust>,
    pub(crate) policy: SessionPolicy,
    pub(crate) names: HashMap<CorporateNumber, (String, String)>,
    pub(crate) person_keys: Mutex<SessionCache<CachedKey>>,
    /// The login challenges anonymous visitors hold, per address and in
    /// total.
    pub(crate) login_limiter: Mutex<ChallengeLimiter>,
    pub(crate) admin_token: renkei_transport::AdminToken,
    /// The consent API's keys, when it is configured.
    pub(crate) oauth: Option<crate::oauth::OAuthKeys>,
    /// The origin of the mutual-TLS aliases, when they are served.
    pub(crate) mtls_origin: Option<String>,
    /// The document types senders deposit (compiled in).
    pub(crate) document_types: Arc<renkei_delivery::DocumentTypes>,
    /// The key of senders' delivery handles; without it delivery is off.
    pub(crate) handle_key: Option<renkei_delivery::HandleKey>,
}

/// One listener of the portal: plain HTTP on loopback, or TLS; both under
/// the portal's `[limits]` (deadlines and connection caps).
#[derive(Debug)]
pub enum Listener {
    Plain(RunningServer),
    Tls(RunningServer),
}

impl Listener {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Plain(s) | Self::Tls(s) => s.addr,
        }
    }

    pub async fn shutdown(self, grace: Duration) {
        match self {
            Self::Plain(s) | Self::Tls(s) => s.shutdown(grace).await,
        }
    }
}

/// A started portal.
#[derive(Debug)]
pub struct RunningPortal {
    pub web: Listener,
    pub admin: Listener,
    /// The consent API's mutual-TLS aliases, when configured.
    pub mtls: Option<Listener>,
    /// The origin (what to open in a browser).
    pub url: String,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningPortal {
    pub async fn shutdown(self, grace: Duration) {
        for t in &self.tasks {
            t.abort();
        }
        self.web.shutdown(grace).await;
        self.admin.shutdown(grace).await;
        if let Some(m) = self.mtls {
            m.shutdown(grace).await;
        }
    }
}

async fn serve(
    listen: SocketAddr,
    router: axum::Router,
    tls: Option<&(Identity, TrustAnchors)>,
    limits: &renkei_transport::ListenerLimits,
) -> Result<Listener, SetupError> {
    let listen_err = |source| SetupError::Listen { addr: listen, source };
    match tls {
        Some((identity, anchors)) => {
            let cfg = renkei_pki::server_config(identity, anchors, ClientAuth::None)?;
            let server =
                renkei_transport::serve_tls_limited(listen, router, RustlsConfig::from_config(cfg), limits)
                    .await
                    .map_err(listen_err)?;
            Ok(Listener::Tls(server))
        }
        None => {
            if !listen.ip().is_loopback() {
                return Err(SetupError::config(
                    "listen",
                    format!("{listen} is not a loopback address: serve the portal with [tls] there"),
                ));
            }
            let server = renkei_transport::serve_plain_limited(listen, router, limits)
                .await
                .map_err(listen_err)?;
            Ok(Listener::Plain(server))
        }
    }
}

impl<S: crate::Store> PortalState<S> {
    /// Remove what has lapsed at `now`: from the store expired challenges
    /// (at once: they are what anonymous visitors make the portal keep),
    /// invitations, and sessions past their absolute limit; from memory
    /// the person keys of sessions lapsed either way (idle or too old) and
    /// the count of expired challenges.
    pub(crate) async fn sweep(&self, now: renkei_protocol::UnixMillis) {
        match self.store.purge(now, self.policy.max_ms).await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "portal store swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired portal state failed"),
        }
        let keys = {
            let mut k = self.person_keys.lock().unwrap_or_else(|p| p.into_inner());
            k.sweep(&self.policy, now);
            k.len()
        };
        let outstanding = {
            let mut l = self.login_limiter.lock().unwrap_or_else(|p| p.into_inner());
            l.expire(now);
            l.outstanding()
        };
        metrics::gauge!("renkei_portal_person_keys").set(keys as f64);
        metrics::gauge!("renkei_portal_login_challenges").set(outstanding as f64);
    }
}

/// Fetch the card CAs (once) and their current CRLs into `trust`.
pub(crate) async fn refresh_card_trust<S>(st: &PortalState<S>) -> Result<(), String> {
    let have_cas = !st
        .trust
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .cas()
        .is_empty();
    if !have_cas {
        let mut cas = Vec::new();
        for profile in CardProfile::ALL {
            for purpose in CertPurpose::ALL {
                let pem = st
                    .backend
                    .cards
                    .get_bytes(&format!(
                        "/card/v1/ca/{}/{}.pem",
                        profile.as_str(),
                        purpose.as_str()
                    ))
                    .await
                    .map_err(|e| format!("card CA {profile}/{purpose}: {e}"))?;
                let text = String::from_utf8(pem).map_err(|e| e.to_string())?;
                cas.push(CardCaCertificate::from_pem(&text).map_err(|e| e.to_string())?);
            }
        }
        *st.trust.write().unwrap_or_else(|p| p.into_inner()) = CardTrust::new(cas);
    }
    let cas: Vec<CardCaCertificate> = st.trust.read().unwrap_or_else(|p| p.into_inner()).cas().to_vec();
    for ca in &cas {
        let der = st
            .backend
            .cards
            .get_bytes(&format!(
                "/card/v1/crl/{}/{}.crl",
                ca.profile().as_str(),
                ca.purpose().as_str()
            ))
            .await
            .map_err(|e| format!("CRL {}/{}: {e}", ca.profile(), ca.purpose()))?;
        let crl = CardCrl::parse(&der, ca).map_err(|e| e.to_string())?;
        let mut trust = st.trust.write().unwrap_or_else(|p| p.into_inner());
        let newer = trust.crl_for(ca).is_none_or(|held| held.number() < crl.number());
        if newer {
            trust.install_crl(crl).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

pub async fn start_portal<S: crate::Store + Clone>(
    settings: &PortalSettings,
    store: S,
) -> Result<RunningPortal, SetupError> {
    renkei_transport::install_metrics();
    let ca_pem = std::fs::read(&settings.network_ca)
        .map_err(|e| SetupError::config(settings.network_ca.display().to_string(), e))?;
    let node_token = renkei_transport::read_token_file(&settings.node_token)?;
    let backend = Backend::new(
        &settings.node_url,
        &node_token,
        &settings.log_url,
        &settings.card_url,
        &ca_pem,
    )
    .map_err(|e| SetupError::config("portal clients", e))?;
    let catalog_text = std::fs::read_to_string(&settings.catalog)
        .map_err(|e| SetupError::config(settings.catalog.display().to_string(), e))?;
    let catalog = Catalog::parse(&catalog_text)
        .map_err(|e| SetupError::config(settings.catalog.display().to_string(), e))?;
    for s in &settings.sources {
        let item = renkei_catalog::ItemCode::parse(&s.item)
            .map_err(|e| SetupError::config(format!("sources: {}", s.item), e))?;
        let spec = catalog.item(&item).ok_or_else(|| {
            SetupError::config(format!("sources: {}", s.item), "not an item of the catalog")
        })?;
        if spec.periodic && s.fiscal_years.is_empty() {
            return Err(SetupError::config(
                format!("sources: {}", s.item),
                "a periodic item needs fiscal_years",
            ));
        }
    }
    let admin_token = renkei_transport::read_admin_token(&settings.admin_token)?;
    let oauth = settings
        .oauth_signing_key
        .as_ref()
        .map(|path| {
            let der = renkei_pki::read_private(path)?;
            crate::oauth::OAuthKeys::from_pkcs8(&der, settings.jwks_uri_allow_loopback)
                .map_err(|e| SetupError::config(path.display().to_string(), e))
        })
        .transpose()?;
    let handle_key = settings
        .delivery_handle_key
        .as_ref()
        .map(|path| {
            let bytes = renkei_pki::read_private(path)?;
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                SetupError::config(
                    path.display().to_string(),
                    format!("a delivery handle key is 32 bytes, not {}", bytes.len()),
                )
            })?;
            Ok::<_, SetupError>(renkei_delivery::HandleKey::from_bytes(key))
        })
        .transpose()?;
    let tls = settings.tls.as_ref().map(|t| t.load()).transpose()?;
    // Bind first: the origin may come from the bound port.
    let web_socket = std::net::TcpListener::bind(settings.listen).map_err(|source| SetupError::Listen {
        addr: settings.listen,
        source,
    })?;
    let bound = web_socket.local_addr().map_err(|source| SetupError::Listen {
        addr: settings.listen,
        source,
    })?;
    drop(web_socket);
    let origin = match &settings.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None if tls.is_some() => format!("https://localhost:{}", bound.port()),
        None => format!("http://localhost:{}", bound.port()),
    };
    let mtls_bound = match (settings.mtls_listen, &tls) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(SetupError::config(
                "mtls_listen",
                "the mutual-TLS endpoints need [tls] (a server certificate)",
            ));
        }
        (Some(addr), Some(_)) => {
            let s =
                std::net::TcpListener::bind(addr).map_err(|source| SetupError::Listen { addr, source })?;
            let bound = s
                .local_addr()
                .map_err(|source| SetupError::Listen { addr, source })?;
            drop(s);
            Some(bound)
        }
    };
    let mtls_origin = mtls_bound.map(|b| match &settings.mtls_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => format!("https://localhost:{}", b.port()),
    });
    let names = settings
        .institutions
        .iter()
        .map(|i| (i.id, (i.name_ja.clone(), i.name_en.clone())))
        .collect();
    let st = Arc::new(PortalState {
        settings: settings.clone(),
        origin: origin.clone(),
        store,
        backend,
        catalog,
        trust: RwLock::new(CardTrust::default()),
        policy: SessionPolicy {
            idle_ms: settings.session_idle_secs as i64 * 1000,
            max_ms: settings.session_max_secs as i64 * 1000,
        },
        names,
        person_keys: Mutex::new(SessionCache::default()),
        login_limiter: Mutex::new(ChallengeLimiter::new(ChallengeLimits {
            per_address: settings.login_challenges_per_address,
            total: settings.login_challenges_total,
        })),
        admin_token: admin_token.clone(),
        oauth,
        mtls_origin,
        document_types: Arc::new(
            renkei_delivery::DocumentTypes::builtin().map_err(|e| SetupError::config("document types", e))?,
        ),
        handle_key,
    });
    if let Err(e) = refresh_card_trust(&st).await {
        tracing::warn!(error = %e, "card CAs and CRLs not available yet; logins fail until they are");
    }
    settings
        .limits
        .validate()
        .map_err(|e| SetupError::config("limits", e))?;
    let web = serve(
        bound,
        crate::routes::web_router(st.clone()),
        tls.as_ref(),
        &settings.limits,
    )
    .await?;
    let admin = serve(
        settings.admin_listen,
        crate::admin::router(st.clone()),
        tls.as_ref(),
        &settings.limits,
    )
    .await?;
    let mtls = match (mtls_bound, tls.as_ref()) {
        (Some(addr), Some((identity, anchors))) => {
            let cfg = renkei_pki::server_config(identity, anchors, ClientAuth::Pinned)?;
            let server = renkei_transport::serve_tls_limited(
                addr,
                crate::oauth::mtls_router(st.clone()),
                RustlsConfig::from_config(cfg),
                &settings.limits,
            )
            .await
            .map_err(|source| SetupError::Listen { addr, source })?;
            Some(Listener::Tls(server))
        }
        _ => None,
    };
    let refresher = {
        let st = st.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(st.settings.crl_poll_secs.max(1)));
            loop {
                tick.tick().await;
                if let Err(e) = refresh_card_trust(&st).await {
                    metrics::counter!("renkei_portal_crl_refresh_failures_total").increment(1);
                    tracing::error!(error = %e, "cannot refresh the card CRLs; keeping the held ones");
                }
            }
        })
    };
    let sweeper = {
        let st = st.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(st.settings.sweep_secs.max(1)));
            loop {
                tick.tick().await;
                st.sweep(renkei_protocol::UnixMillis::now()).await;
            }
        })
    };
    let network_mail = tokio::spawn(crate::network_mail::run(st.clone()));
    tracing::info!(url = %origin, admin = %admin.addr(), "portal started");
    Ok(RunningPortal {
        web,
        admin,
        mtls,
        url: origin,
        tasks: vec![refresher, sweeper, network_mail],
    })
}
