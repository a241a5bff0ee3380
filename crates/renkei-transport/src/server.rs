//! Serving over TLS and keeping trust (CA + CRL) current while running.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use renkei_pki::{ClientAuth, CrlWatcher, Identity, PeerCertificate, PkiError, TrustAnchors, server_config};
use tokio::task::JoinHandle;

use crate::client::NetClient;
use crate::error::SetupError;
use crate::listener::{LimitAcceptor, ListenerLimits};

/// The CA and CRL a role currently trusts, shared by its servers (which
/// check peers per request) and its clients.
#[derive(Debug)]
pub struct TrustState {
    anchors: RwLock<TrustAnchors>,
    identity: Arc<Identity>,
    servers: RwLock<Vec<(RustlsConfig, ClientAuth)>>,
    clients: RwLock<Vec<Arc<NetClient>>>,
    /// Certificates verified inside messages, dropped with every new CRL.
    certified: crate::certified::CertifiedCache,
}

impl TrustState {
    pub fn new(identity: Identity, anchors: TrustAnchors) -> Arc<Self> {
        Arc::new(Self {
            anchors: RwLock::new(anchors),
            identity: Arc::new(identity),
            servers: RwLock::new(Vec::new()),
            clients: RwLock::new(Vec::new()),
            certified: crate::certified::CertifiedCache::default(),
        })
    }

    /// The institution and keys a certificate carried inside a message
    /// certifies: verified against the CA and the current CRL, and naming
    /// `expected`.
    pub fn certified_party(
        &self,
        der: &[u8],
        expected: renkei_ids::CorporateNumber,
        suite: renkei_crypto::Suite,
    ) -> Result<renkei_protocol::CertifiedParty, crate::certified::CertifiedError> {
        self.certified.verify(|| self.anchors(), der, expected, suite)
    }

    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    pub fn anchors(&self) -> TrustAnchors {
        self.anchors.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn is_revoked(&self, cert: &PeerCertificate) -> bool {
        self.anchors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .revocations()
            .is_revoked_cert(cert)
    }

    /// A rustls server config for this role, tracked so that a new CRL
    /// reaches it.
    pub fn server_config(&self, auth: ClientAuth) -> Result<RustlsConfig, PkiError> {
        let cfg = RustlsConfig::from_config(server_config(&self.identity, &self.anchors(), auth)?);
        self.servers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((cfg.clone(), auth));
        Ok(cfg)
    }

    /// A client presenting this role's certificate, tracked likewise.
    pub fn client(&self, timeout: Duration) -> Result<Arc<NetClient>, SetupError> {
        let c = Arc::new(NetClient::new(self.identity.clone(), &self.anchors(), timeout)?);
        self.clients
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(c.clone());
        Ok(c)
    }

    /// Install new trust anchors everywhere: servers reload their config
    /// (new handshakes see the CRL), clients rebuild, and per-request checks
    /// use the new list at once.
    pub fn replace(&self, anchors: TrustAnchors) -> Result<(), SetupError> {
        for (cfg, auth) in self.servers.read().unwrap_or_else(|p| p.into_inner()).iter() {
            cfg.reload_from_config(server_config(&self.identity, &anchors, *auth)?);
        }
        for c in self.clients.read().unwrap_or_else(|p| p.into_inner()).iter() {
            c.rebuild(&anchors)?;
        }
        *self.anchors.write().unwrap_or_else(|p| p.into_inner()) = anchors;
        self.certified.clear();
        Ok(())
    }

    /// Poll the CRL file every `every` and install a changed one.
    pub fn watch_crl(
        self: &Arc<Self>,
        ca: PathBuf,
        crl: PathBuf,
        every: Duration,
    ) -> Result<JoinHandle<()>, PkiError> {
        let (mut watcher, _) = CrlWatcher::new(&ca, &crl)?;
        let me = self.clone();
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match watcher.poll() {
                    Ok(Some(anchors)) => match me.replace(anchors) {
                        Ok(()) => tracing::info!(crl = %crl.display(), "installed a new CRL"),
                        Err(e) => tracing::error!(error = %e, "cannot install the new CRL"),
                    },
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, crl = %crl.display(), "cannot read the CRL; keeping the previous one")
                    }
                }
            }
        }))
    }
}

/// A server listening on a socket; dropping it does not stop it.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    handle: Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stop accepting, give open requests `grace` to finish.
    pub async fn shutdown(self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        let _ = self.task.await;
    }

    /// Stop at once (tests simulating a crashed role).
    pub fn kill(&self) {
        self.handle.shutdown();
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Serve `router` over TLS with `config` on `listen` (port 0 picks one),
/// with the default [`ListenerLimits`].
pub async fn serve_tls(
    listen: SocketAddr,
    router: Router,
    config: RustlsConfig,
) -> std::io::Result<RunningServer> {
    serve_tls_limited(listen, router, config, &ListenerLimits::default()).await
}

fn bind(listen: SocketAddr) -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serve `router` over TLS with `config` on `listen`, under `limits`:
/// connection caps before the handshake, a handshake deadline, header and
/// idle deadlines, HTTP/2 limits (see [`crate::listener`]).
pub async fn serve_tls_limited(
    listen: SocketAddr,
    router: Router,
    config: RustlsConfig,
    limits: &ListenerLimits,
) -> std::io::Result<RunningServer> {
    limits
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (listener, addr) = bind(listen)?;
    let handle = Handle::new();
    let acceptor = RustlsAcceptor::new(config)
        .handshake_timeout(limits.handshake())
        .acceptor(LimitAcceptor::new(limits));
    let server = crate::listener::configure(axum_server::from_tcp(listener)?.acceptor(acceptor), limits)
        .handle(handle.clone());
    // ConnectInfo: handlers may see the peer's address (the portal counts
    // anonymous login challenges per address).
    let task = tokio::spawn(async move {
        server
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });
    Ok(RunningServer { addr, handle, task })
}

/// Serve `router` over plain HTTP on `listen` under `limits` (the portal on
/// loopback; the caller decides where plain HTTP is allowed).
pub async fn serve_plain_limited(
    listen: SocketAddr,
    router: Router,
    limits: &ListenerLimits,
) -> std::io::Result<RunningServer> {
    limits
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (listener, addr) = bind(listen)?;
    let handle = Handle::new();
    let server = crate::listener::configure(
        axum_server::from_tcp(listener)?.acceptor(LimitAcceptor::new(limits)),
        limits,
    )
    .handle(handle.clone());
    let task = tokio::spawn(async move {
        server
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });
    Ok(RunningServer { addr, handle, task })
}

/// A role's two listeners — mutual TLS for the network, server TLS for its
/// operators — and the task that keeps its CRL current.
#[derive(Debug)]
pub struct RoleListeners {
    pub network: RunningServer,
    pub operator: RunningServer,
    pub crl_task: JoinHandle<()>,
}

pub async fn serve_role(
    trust: &Arc<TrustState>,
    tls: &crate::settings::TlsFiles,
    crl_poll_secs: u64,
    limits: &ListenerLimits,
    network: (SocketAddr, Router),
    operator: (SocketAddr, Router),
) -> Result<RoleListeners, SetupError> {
    limits.validate().map_err(|e| SetupError::config("limits", e))?;
    let listen = |addr| move |source| SetupError::Listen { addr, source };
    let network = serve_tls_limited(
        network.0,
        network.1,
        trust.server_config(renkei_pki::ClientAuth::Required)?,
        limits,
    )
    .await
    .map_err(listen(network.0))?;
    let operator = serve_tls_limited(
        operator.0,
        operator.1,
        trust.server_config(renkei_pki::ClientAuth::None)?,
        limits,
    )
    .await
    .map_err(listen(operator.0))?;
    let crl_task = trust.watch_crl(
        tls.ca_cert.clone(),
        tls.crl.clone(),
        Duration::from_secs(crl_poll_secs.max(1)),
    )?;
    Ok(RoleListeners {
        network,
        operator,
        crl_task,
    })
}
