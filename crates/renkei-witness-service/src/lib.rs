//! The witness role over HTTP: C2SP tlog-witness `POST /add-checkpoint`
//! on a server-TLS listener (the log authenticates itself by its checkpoint
//! signature, not by a client certificate), health and metrics.

use renkei_api::witness::SplitViewWire;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use renkei_log::{NoteSigner, NoteVerifier};
use renkei_pki::{ClientAuth, Role};
use renkei_protocol::UnixMillis;
use renkei_witness::{FollowedLog, Refusal, WitnessStore, check, parse_request};
use serde::{Deserialize, Serialize};

use renkei_transport::SetupError;
use renkei_transport::{RunningServer, TrustState, serve_tls_limited};
use renkei_transport::{TlsFiles, default_crl_poll_secs};

/// Configuration of `renkei witness serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSettings {
    pub listen: SocketAddr,
    pub tls: TlsFiles,
    /// The witness's Ed25519 note key (`PRIVATE+KEY+…`, 0600).
    pub key: PathBuf,
    /// The logs this witness follows.
    pub logs: Vec<FollowedLogSettings>,
    #[serde(default = "default_crl_poll_secs")]
    pub crl_poll_secs: u64,
    /// Deadlines and connection caps of every listener of this role.
    #[serde(default)]
    pub limits: renkei_transport::ListenerLimits,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowedLogSettings {
    pub origin: String,
    /// The log's note verifier key.
    pub key: String,
}

struct WitnessState<S> {
    signer: NoteSigner,
    logs: Vec<FollowedLog>,
    store: S,
    /// Serialises decisions per witness: read, check, advance.
    lock: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
pub struct RunningWitness {
    pub server: RunningServer,
    /// The cosignature verifier key of this witness.
    pub cosignature_key: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningWitness {
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub async fn shutdown(self, grace: Duration) {
        for t in &self.tasks {
            t.abort();
        }
        self.server.shutdown(grace).await;
    }
}

/// A fresh witness key file's content.
pub fn new_witness_key(name: &str) -> Result<zeroize::Zeroizing<String>, renkei_log::NoteError> {
    Ok(NoteSigner::generate(name)?.to_private_text())
}

pub async fn start_witness<S: WitnessStore>(
    settings: &WitnessSettings,
    store: S,
) -> Result<RunningWitness, SetupError> {
    renkei_transport::install_metrics();
    let key = renkei_pki::read_private(&settings.key)?;
    let signer = NoteSigner::parse_private(&String::from_utf8_lossy(&key))
        .map_err(|e| SetupError::config(settings.key.display().to_string(), e))?;
    let logs = settings
        .logs
        .iter()
        .map(|l| {
            let verifier = NoteVerifier::parse(&l.key).map_err(|e| SetupError::config("logs.key", e))?;
            if verifier.is_cosignature() || verifier.name() != l.origin {
                return Err(SetupError::config(
                    "logs.key",
                    format!("must be the note key of {} (named after its origin)", l.origin),
                ));
            }
            Ok(FollowedLog {
                origin: l.origin.clone(),
                verifier,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (identity, anchors) = settings.tls.load()?;
    if identity.certificate().identity.role != Role::Witness {
        return Err(SetupError::config(
            settings.tls.cert.display().to_string(),
            "is not a witness certificate",
        ));
    }
    let trust = TrustState::new(identity, anchors);
    let cosignature_key = signer.cosignature_verifier().to_string();
    let state = Arc::new(WitnessState {
        signer,
        logs,
        store,
        lock: tokio::sync::Mutex::new(()),
    });
    let app = Router::new()
        .route("/add-checkpoint", post(add_checkpoint::<S>))
        .route("/split-views", get(split_views::<S>))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(renkei_transport::render_metrics))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("witness", r, n)
        }))
        .with_state(state);
    settings
        .limits
        .validate()
        .map_err(|e| SetupError::config("limits", e))?;
    let server = serve_tls_limited(
        settings.listen,
        app,
        trust.server_config(ClientAuth::None)?,
        &settings.limits,
    )
    .await
    .map_err(|source| SetupError::Listen {
        addr: settings.listen,
        source,
    })?;
    let crl_task = trust.watch_crl(
        settings.tls.ca_cert.clone(),
        settings.tls.crl.clone(),
        Duration::from_secs(settings.crl_poll_secs.max(1)),
    )?;
    tracing::info!(addr = %server.addr, key = %cosignature_key, "witness started");
    Ok(RunningWitness {
        server,
        cosignature_key,
        tasks: vec![crl_task],
    })
}

fn refuse(r: &Refusal) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let (ctype, body) = match r {
        // The protocol: a conflict answers the size the witness has.
        Refusal::Conflict { current } => ("text/x.tlog.size", format!("{current}\n")),
        other => ("text/plain; charset=utf-8", format!("{other}\n")),
    };
    (status, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

async fn add_checkpoint<S: WitnessStore>(State(st): State<Arc<WitnessState<S>>>, body: String) -> Response {
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(r) => return refuse(&r),
    };
    let origin = req.checkpoint.origin.clone();
    let _guard = st.lock.lock().await;
    let known = match st.store.known(&origin).await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "witness store unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
        }
    };
    match check(&st.logs, known.as_ref(), &req) {
        Ok(next) => {
            let size = next.size;
            match st
                .store
                .advance(&origin, known.as_ref().map(|k| k.size), next)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return refuse(&Refusal::Conflict {
                        current: known.map_or(0, |k| k.size),
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "witness store unavailable");
                    return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
                }
            }
            let now = (UnixMillis::now().0 / 1000).max(0) as u64;
            let sig = st.signer.cosign(&req.note.text, now);
            metrics::counter!("renkei_witness_cosigned_total").increment(1);
            tracing::debug!(%origin, size, "cosigned");
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                sig.to_line(),
            )
                .into_response()
        }
        Err(Refusal::SplitView { size, earlier_note }) => {
            // Loud: this is the event a witness exists for.
            metrics::counter!("renkei_witness_split_views_total").increment(1);
            tracing::error!(%origin, size, "SPLIT VIEW: the log signed two different trees of the same size; refusing to cosign");
            if let Err(e) = st
                .store
                .record_split_view(&origin, earlier_note.clone(), req.note.to_text())
                .await
            {
                // Fail closed: without the evidence kept, answer as
                // unavailable so the log comes back and the evidence is
                // stored then.
                metrics::counter!("renkei_witness_evidence_failures_total").increment(1);
                tracing::error!(error = %e, "cannot store split-view evidence; refusing as unavailable");
                return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
            }
            refuse(&Refusal::SplitView { size, earlier_note })
        }
        Err(r) => {
            metrics::counter!("renkei_witness_refusals_total", "status" => r.status().to_string())
                .increment(1);
            tracing::warn!(%origin, refusal = %r, "checkpoint not cosigned");
            refuse(&r)
        }
    }
}

async fn split_views<S: WitnessStore>(
    State(st): State<Arc<WitnessState<S>>>,
) -> Result<Json<Vec<SplitViewWire>>, StatusCode> {
    let v = st
        .store
        .split_views()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(Json(
        v.into_iter()
            .map(|(origin, earlier_note, later_note)| SplitViewWire {
                origin,
                earlier_note,
                later_note,
            })
            .collect(),
    ))
}
