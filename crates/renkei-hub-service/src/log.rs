//! The hub's transparency log over HTTP: checkpoint publication (signed,
//! submitted to witnesses, cosignatures collected), the public C2SP
//! tlog-tiles endpoints under `/log`, a person's records with their proofs,
//! person-key issuance for the portal, and retention.
//!
//! Everything under `/log` is served over server-authenticated TLS without a
//! client certificate: anyone may check the log.

use renkei_api::log::{
    PERSON_KEY_INFO, PRUNE_MARGIN_MS, PersonKeyRequest, PersonKeyWire, PersonRecordWire, PersonRecordsWire,
    ProofWire, PruneResult, SEVEN_YEARS_DAYS, add_checkpoint_body, person_key_aad, pruned_body,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router, middleware};
use renkei_crypto::{b64, unb64};
use renkei_hub::log::{hash_from_stored, stored_needed};
use renkei_hub::{HubStore, InstitutionStatus, RecordFilter, SubjectTag};
use renkei_ids::InstitutionCode;
use renkei_log::hash::Hash;
use renkei_log::tiles::{TILE_WIDTH, TileRef, encode_bundle, parse_path, tile_node, tile_width};
use renkei_log::tree::NodeId;
use renkei_log::{Checkpoint, Note, NoteSigner, NoteVerifier};
use renkei_pki::Role;
use renkei_protocol::UnixMillis;
use serde::{Deserialize, Serialize};

use crate::hub::HubState;
use renkei_transport::Peer;
use renkei_transport::{ApiError, JsonBody, QueryParams, SetupError};
use renkei_transport::{ApiFailure, Expect, NetClient};

/// Configuration of the hub's transparency log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Server-TLS listener for the public log (no client certificate).
    pub listen: SocketAddr,
    /// The log's Ed25519 note key (`PRIVATE+KEY+…`, 0600).
    pub key: PathBuf,
    /// The checkpoint origin line, e.g. `renkei.example/provision-records`.
    pub origin: String,
    #[serde(default = "default_checkpoint_ms")]
    pub checkpoint_interval_ms: u64,
    #[serde(default)]
    pub witnesses: Vec<WitnessPeer>,
    /// Leaf data older than this is pruned (hashes are kept).
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
}

/// A witness the hub submits its checkpoints to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessPeer {
    /// Base URL; the hub posts to `<url>/add-checkpoint`.
    pub url: String,
    /// The witness's cosignature verifier key.
    pub key: String,
}

fn default_checkpoint_ms() -> u64 {
    1000
}

fn default_retention_days() -> u64 {
    SEVEN_YEARS_DAYS
}

struct Witness {
    url: String,
    verifier: NoteVerifier,
    /// The size the witness last cosigned, as far as the hub knows.
    size: RwLock<u64>,
}

/// The log's signing key, witnesses and latest checkpoint.
pub(crate) struct LogState {
    signer: NoteSigner,
    origin: String,
    witnesses: Vec<Witness>,
    /// (size, signed note with cosignatures).
    latest: RwLock<Option<(u64, String)>>,
    /// Held while the latest checkpoint changes: a witness's cosignature
    /// is added only to the checkpoint it cosigned.
    merging: tokio::sync::Mutex<()>,
}

impl LogState {
    pub(crate) async fn load<S: HubStore>(settings: &LogSettings, store: &S) -> Result<Self, SetupError> {
        let text = renkei_pki::read_private(&settings.key)?;
        let signer = NoteSigner::parse_private(&String::from_utf8_lossy(&text))
            .map_err(|e| SetupError::config(settings.key.display().to_string(), e))?;
        if signer.name() != settings.origin {
            return Err(SetupError::config(
                settings.key.display().to_string(),
                format!(
                    "the log key is named {} but the origin is {}",
                    signer.name(),
                    settings.origin
                ),
            ));
        }
        let witnesses = settings
            .witnesses
            .iter()
            .map(|w| {
                let verifier =
                    NoteVerifier::parse(&w.key).map_err(|e| SetupError::config("log.witnesses", e))?;
                if !verifier.is_cosignature() {
                    return Err(SetupError::config(
                        "log.witnesses",
                        "a witness key must be a cosignature/v1 key",
                    ));
                }
                Ok(Witness {
                    url: w.url.trim_end_matches('/').to_owned(),
                    verifier,
                    size: RwLock::new(0),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let latest = store.latest_checkpoint().await?;
        if let Some((size, _)) = &latest {
            // Another hub on a shared store may have published since this
            // one opened it: compare with the store's head as it is now.
            let head = store.refresh_log_head().await?;
            if *size > head.size {
                return Err(SetupError::config(
                    "log",
                    format!(
                        "a checkpoint of size {size} was published but the store holds only {}",
                        head.size
                    ),
                ));
            }
        }
        Ok(Self {
            signer,
            origin: settings.origin.clone(),
            witnesses,
            latest: RwLock::new(latest),
            merging: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    fn latest(&self) -> Option<(u64, String)> {
        self.latest.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A stored checkpoint as the log signed it, without cosignatures
    /// (what a witness is asked to cosign).
    fn as_signed(&self, text: &str) -> Option<Note> {
        let text = Note::parse(text).ok()?.text;
        Some(Note {
            signatures: vec![self.signer.sign(&text)],
            text,
        })
    }
}

// ------------------------------------------------------------------ proofs

async fn stored<S: HubStore>(store: &S, nodes: &[NodeId]) -> Result<HashMap<NodeId, Hash>, ApiError> {
    Ok(store.stored_hashes(stored_needed(nodes)).await?)
}

fn from_stored(node: NodeId, stored: &HashMap<NodeId, Hash>) -> Hash {
    // Every node below a durable size is stored; a miss is a corrupt store,
    // which the proof's verification will then reveal.
    hash_from_stored(node, stored).unwrap_or([0; 32])
}

pub(crate) async fn consistency_proof<S: HubStore>(
    store: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ApiError> {
    let nodes = renkei_log::consistency_nodes(old, new);
    let st = stored(store, &nodes).await?;
    renkei_log::prove_consistency(old, new, &mut |n| from_stored(n, &st))
        .map_err(|e| ApiError::malformed(e.to_string()))
}

// ------------------------------------------------------------- publishing

/// How long one request to a witness may take before it counts as failed
/// and is tried again.
const COSIGN_TIMEOUT: Duration = Duration::from_secs(5);

/// Sign a checkpoint whenever the log has grown and keep it; the
/// witnesses cosign it as they answer. Publishing never waits for a
/// witness: each has a task of its own that asks it to cosign the latest
/// checkpoint this hub published, again and again while it fails, and adds
/// the cosignature to the checkpoint if it is still the latest. A witness
/// that is down, slow or cut off delays its cosignature, never the
/// checkpoints (the fault tests partition one).
pub(crate) async fn publish_checkpoints<S: HubStore>(
    st: Arc<HubState<S>>,
    client: Arc<NetClient>,
    every: Duration,
) {
    // The latest checkpoint this hub published, as the log signed it.
    let (published, _) = tokio::sync::watch::channel::<Option<(u64, Note)>>(None);
    // Dropped (and so aborted) with this task.
    let mut cosigners = tokio::task::JoinSet::new();
    for i in 0..st.log.witnesses.len() {
        cosigners.spawn(cosign_latest(
            st.clone(),
            client.clone(),
            i,
            published.subscribe(),
            every.max(Duration::from_millis(200)),
        ));
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let head = st.store.log_head();
        // One publisher among hubs sharing a store; the others serve what
        // it stored, so witnesses see one growing sequence. (A store only
        // one process uses always grants the lease: no extra reads.)
        match st.store.publisher_lease().await {
            Ok(true) => {}
            Ok(false) => {
                match st.store.latest_checkpoint().await {
                    Ok(Some((size, note))) if st.log.latest().is_none_or(|(s, _)| s < size) => {
                        *st.log.latest.write().unwrap_or_else(|p| p.into_inner()) = Some((size, note));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot read the latest checkpoint"),
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether this hub publishes checkpoints");
                continue;
            }
        }
        match st.log.latest() {
            Some((s, _)) if s > head.size => continue,
            // Nothing new. The witnesses' tasks work on the latest
            // checkpoint, also one a predecessor published and a witness
            // never cosigned.
            Some((s, text)) if s == head.size => {
                let stale = published.borrow().as_ref().is_none_or(|(p, _)| *p != s);
                if stale && let Some(note) = st.log.as_signed(&text) {
                    published.send_replace(Some((s, note)));
                }
                continue;
            }
            _ => {}
        }
        match publish(&st, head.size, head.root).await {
            Ok(note) => {
                published.send_replace(Some((head.size, note)));
            }
            Err(e) => tracing::error!(error = %e, size = head.size, "cannot publish a checkpoint"),
        }
    }
}

/// Sign the checkpoint of `size` and `root`, and keep it as the latest.
async fn publish<S: HubStore>(st: &HubState<S>, size: u64, root: Hash) -> Result<Note, ApiError> {
    let text = Checkpoint {
        origin: st.log.origin.clone(),
        size,
        root,
        extensions: Vec::new(),
    }
    .to_text();
    let note = Note {
        signatures: vec![st.log.signer.sign(&text)],
        text,
    };
    let _merging = st.log.merging.lock().await;
    // Durable first: a checkpoint served but not stored could be lost.
    st.store
        .save_checkpoint(size, note.to_text(), UnixMillis::now())
        .await?;
    *st.log.latest.write().unwrap_or_else(|p| p.into_inner()) = Some((size, note.to_text()));
    metrics::gauge!("renkei_log_size").set(size as f64);
    tracing::debug!(size, "checkpoint published");
    Ok(note)
}

/// Witness `i`'s task: have it cosign every checkpoint this hub publishes
/// (the latest, when several came while it was asked), retrying every
/// `retry` while it fails.
async fn cosign_latest<S: HubStore>(
    st: Arc<HubState<S>>,
    client: Arc<NetClient>,
    i: usize,
    mut published: tokio::sync::watch::Receiver<Option<(u64, Note)>>,
    retry: Duration,
) {
    let w = &st.log.witnesses[i];
    let mut failing = false;
    loop {
        let target = published.borrow_and_update().clone();
        let cosigned = |size: u64| {
            st.log
                .latest()
                .filter(|(s, _)| *s == size)
                .and_then(|(_, text)| Note::parse(&text).ok())
                .is_some_and(|n| w.verifier.cosignature(&n).is_some())
        };
        let Some((size, note)) = target.filter(|(size, _)| !cosigned(*size)) else {
            // Nothing to cosign until the next checkpoint.
            if published.changed().await.is_err() {
                return;
            }
            continue;
        };
        let outcome = match tokio::time::timeout(COSIGN_TIMEOUT, cosign(&st, &client, w, &note, size)).await {
            Ok(Ok(sig)) => add_cosignature(&st, w, size, sig).await,
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {} s", COSIGN_TIMEOUT.as_secs())),
        };
        match outcome {
            Ok(()) => {
                if failing {
                    tracing::info!(witness = %w.url, size, "the witness cosigns again");
                }
                failing = false;
            }
            Err(e) => {
                metrics::counter!("renkei_log_witness_failures_total").increment(1);
                if failing {
                    tracing::debug!(witness = %w.url, error = %e, "witness did not cosign");
                } else {
                    tracing::warn!(witness = %w.url, error = %e, "witness did not cosign; asking again");
                }
                failing = true;
                // Again after a while, or at once for a newer checkpoint.
                let _ = tokio::time::timeout(retry, published.changed()).await;
            }
        }
    }
}

/// Add `w`'s cosignature to the checkpoint of `size` if it is still the
/// latest (a newer one gets its own).
async fn add_cosignature<S: HubStore>(
    st: &HubState<S>,
    w: &Witness,
    size: u64,
    sig: renkei_log::Signature,
) -> Result<(), String> {
    let _merging = st.log.merging.lock().await;
    let Some((latest, text)) = st.log.latest() else {
        return Ok(());
    };
    if latest != size {
        return Ok(());
    }
    let mut note = Note::parse(&text).map_err(|e| format!("the latest checkpoint does not parse: {e}"))?;
    if w.verifier.cosignature(&note).is_some() {
        return Ok(());
    }
    note.signatures.push(sig);
    st.store
        .save_checkpoint(size, note.to_text(), UnixMillis::now())
        .await
        .map_err(|e| format!("cannot keep the cosigned checkpoint: {e}"))?;
    *st.log.latest.write().unwrap_or_else(|p| p.into_inner()) = Some((size, note.to_text()));
    tracing::debug!(witness = %w.url, size, "checkpoint cosigned");
    Ok(())
}

async fn cosign<S: HubStore>(
    st: &HubState<S>,
    client: &NetClient,
    w: &Witness,
    note: &Note,
    size: u64,
) -> Result<renkei_log::Signature, String> {
    let mut old = *w.size.read().unwrap_or_else(|p| p.into_inner());
    for _ in 0..2 {
        if old > size {
            return Err(format!("the witness is at size {old}, beyond ours ({size})"));
        }
        let proof = consistency_proof(&st.store, old, size)
            .await
            .map_err(|e| e.message)?;
        let body = add_checkpoint_body(old, &proof, &note.to_text());
        match client
            .post_text(
                &format!("{}/add-checkpoint", w.url),
                body,
                Expect::Role(Role::Witness),
            )
            .await
        {
            Ok(lines) => {
                let sig = lines
                    .lines()
                    .filter_map(|l| renkei_log::Signature::parse_line(l).ok())
                    .find_map(|sig| {
                        let mut cosigned = note.clone();
                        cosigned.signatures = vec![sig.clone()];
                        w.verifier.cosignature(&cosigned).map(|_| sig)
                    })
                    .ok_or("the witness answered without a valid cosignature")?;
                *w.size.write().unwrap_or_else(|p| p.into_inner()) = size;
                return Ok(sig);
            }
            // The witness knows another size: prove from there.
            Err(ApiFailure::Rejected {
                status: 409, message, ..
            }) => {
                old = message
                    .trim()
                    .parse()
                    .map_err(|_| format!("the witness refused: {message}"))?;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("the witness kept changing its size".into())
}

// ------------------------------------------------------------ public log

pub(crate) fn router<S: HubStore>(st: Arc<HubState<S>>) -> Router {
    Router::new()
        .route("/log/checkpoint", get(checkpoint::<S>))
        .route("/log/tile/{*path}", get(tile::<S>))
        .route("/log/pruned", get(pruned::<S>))
        .route("/log/v1/person/records", get(person_records::<S>))
        .route("/log/v1/proof/consistency", get(consistency::<S>))
        .route("/health", get(|| async { "ok" }))
        .layer(middleware::from_fn(|r, n| {
            renkei_transport::track("hub-log", r, n)
        }))
        .with_state(st)
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn checkpoint<S: HubStore>(State(st): State<Arc<HubState<S>>>) -> Result<Response, ApiError> {
    let (_, note) = st
        .log
        .latest()
        .ok_or_else(|| ApiError::not_found("no_checkpoint", "no checkpoint has been published yet"))?;
    let mut r = text(note);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn tile<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Path(path): Path<String>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let size = st.log.latest().map_or(0, |(s, _)| s);
    let tile = parse_path(&format!("tile/{path}")).ok_or_else(|| {
        ApiError::not_found("no_such_tile", "not a tile path of this log (C2SP tlog-tiles)")
    })?;
    let missing = || ApiError::not_found("no_such_tile", "the latest checkpoint does not cover this tile");
    let entries = matches!(tile, TileRef::Entries { .. });
    let body = match tile {
        TileRef::Hashes { level, index, width } => {
            if tile_width(level, index, size) < width {
                return Err(missing());
            }
            let nodes: Vec<NodeId> = (0..width).map(|j| tile_node(level, index, j)).collect();
            let hashes = st.store.stored_hashes(nodes.clone()).await?;
            let mut out = Vec::with_capacity(nodes.len() * 32);
            for n in &nodes {
                out.extend_from_slice(hashes.get(n).ok_or_else(|| {
                    ApiError::internal("serving a tile", format!("stored node {n:?} missing"))
                })?);
            }
            out
        }
        TileRef::Entries { index, width } => {
            if tile_width(0, index, size) < width {
                return Err(missing());
            }
            let leaves = st.store.leaves(index * TILE_WIDTH, width).await?;
            let present: Option<Vec<Vec<u8>>> = leaves.into_iter().collect();
            let Some(present) = present else {
                // Gone only wholly below the published minimum index
                // (tlog-tiles); leaf data missing above it is a fault.
                let min = st.store.pruned_below().await?.map_or(0, |(m, _)| m);
                if index * TILE_WIDTH + width <= min {
                    return Err(ApiError::new(
                        StatusCode::GONE,
                        "pruned",
                        format!(
                            "entries below index {min} are past the retention period (see /log/pruned); their hashes remain in the hash tiles"
                        ),
                    ));
                }
                return Err(ApiError::internal(
                    "serving entries",
                    format!("leaf data of tile {index} is missing above the minimum index {min}"),
                ));
            };
            encode_bundle(present.iter().map(Vec::as_slice))
                .map_err(|e| ApiError::internal("bundling entries", e))?
        }
    };
    // Entry bundles are compressed for a client that takes gzip
    // (tlog-tiles); hash tiles are random bytes, not worth it.
    let gzip = entries && accepts_gzip(&request);
    let body = if gzip { gzip_bytes(&body)? } else { body };
    let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    if entries {
        r.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if gzip {
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // Full tiles never change; partial ones are replaced by longer ones.
    let full = !path.contains(".p/");
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if full {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    Ok(r)
}

/// Whether the request's `Accept-Encoding` admits gzip (with a non-zero
/// quality).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn gzip_bytes(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    use std::io::Write as _;
    let mut z =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::default());
    z.write_all(body)
        .and_then(|()| z.finish())
        .map_err(|e| ApiError::internal("compressing an entry bundle", e))
}

async fn pruned<S: HubStore>(State(st): State<Arc<HubState<S>>>) -> Result<Response, ApiError> {
    let (min, note) = st
        .store
        .pruned_below()
        .await?
        .ok_or_else(|| ApiError::not_found("not_pruned", "no entry of this log has been pruned"))?;
    let mut r = text(pruned_body(min, &note));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

async fn consistency<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    QueryParams(q): QueryParams<ConsistencyQuery>,
) -> Result<Json<ProofWire>, ApiError> {
    let size = st.log.latest().map_or(0, |(s, _)| s);
    if q.new > size || q.old > q.new {
        return Err(ApiError::malformed(format!(
            "need old ≤ new ≤ {size} (the latest checkpoint)"
        )));
    }
    let proof = consistency_proof(&st.store, q.old, q.new).await?;
    Ok(Json(ProofWire {
        proof: proof.iter().map(|h| b64(h)).collect(),
    }))
}

// --------------------------------------------------------- person's view

fn bearer(headers: &HeaderMap) -> Option<[u8; 32]> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    unb64("token", v.strip_prefix("Bearer ")?).ok()?.try_into().ok()
}

async fn person_records<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    headers: HeaderMap,
) -> Result<Json<PersonRecordsWire>, ApiError> {
    let token = bearer(&headers)
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <person access token>`"))?;
    let subject = st
        .store
        .subject_for_token(renkei_hub::person::token_hash(&token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("this access token was not issued by this hub"))?;
    let (size, note) = st
        .log
        .latest()
        .ok_or_else(|| ApiError::not_found("no_checkpoint", "no checkpoint has been published yet"))?;
    let now = UnixMillis::now();
    let records = st
        .store
        .records(RecordFilter {
            subject: Some(subject),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    // Visible records, then their leaves and every proof node in two
    // batched reads: per-record reads made a 1,000-record history cost
    // 2,000 round trips to the store.
    let mut visible = Vec::new();
    for (seq, r) in records {
        match r.leaf.hidden_until {
            Some(t) if t > now => continue,
            Some(_) => visible.push((
                seq,
                Some(b64(&st.core.hidden_record_key(&subject, &r.leaf.query_id))),
            )),
            None => visible.push((seq, None)),
        }
    }
    let mut leaves = st
        .store
        .leaves_at(visible.iter().map(|(s, _)| *s).collect())
        .await?;
    let proven: Vec<u64> = visible.iter().map(|(s, _)| *s).filter(|s| *s < size).collect();
    let needed: Vec<NodeId> = proven
        .iter()
        .flat_map(|s| renkei_log::inclusion_nodes(*s, size))
        .collect();
    let hashes = stored(&st.store, &needed).await?;
    let mut out = Vec::with_capacity(visible.len());
    for (seq, record_key) in visible {
        let proof = if seq < size {
            let p = renkei_log::prove_inclusion(seq, size, &mut |n| from_stored(n, &hashes))
                .map_err(|e| ApiError::malformed(e.to_string()))?;
            Some(p.iter().map(|h| b64(h)).collect())
        } else {
            None
        };
        out.push(PersonRecordWire {
            index: seq,
            leaf: leaves.remove(&seq).flatten().map(|l| b64(&l)),
            proof,
            record_key,
        });
    }
    metrics::counter!("renkei_log_person_views_total").increment(1);
    Ok(Json(PersonRecordsWire {
        checkpoint: note,
        records: out,
    }))
}

/// Issue a person's log key to the portal (kind `digital_agency`), which
/// hands it to the person after card login.
pub(crate) async fn person_key<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    Extension(peer): Extension<Peer>,
    JsonBody(body): JsonBody<PersonKeyRequest>,
) -> Result<Json<PersonKeyWire>, ApiError> {
    let id = peer.institution_as(&[Role::Node, Role::Portal])?;
    let institution = st
        .directory
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned()
        .ok_or_else(|| {
            ApiError::forbidden("unknown_requester", format!("institution {id} is not registered"))
        })?;
    if institution.tls_certificate != peer.fingerprint || institution.status != InstitutionStatus::Active {
        return Err(ApiError::forbidden(
            "certificate_mismatch",
            "not the registered, active certificate",
        ));
    }
    if institution.kind.as_str() != "digital_agency" {
        return Err(ApiError::forbidden(
            "not_permitted",
            "only the portal (kind digital_agency) may obtain a person's log key",
        ));
    }
    let code = InstitutionCode::parse(&body.code).map_err(|e| ApiError::malformed(format!("code: {e}")))?;
    let proof = renkei_protocol::SignedPersonProof::parse(&body.person_proof)
        .map_err(|e| ApiError::malformed(format!("person_proof: {e}")))?;
    let consent = body
        .consent
        .as_deref()
        .map(|c| {
            renkei_protocol::ConsentRef::parse(c)
                .ok_or_else(|| ApiError::malformed("consent: 1 to 64 characters of A-Z a-z 0-9 _ -"))
        })
        .transpose()?;
    let now = UnixMillis::now();
    if let Err(e) = st
        .core
        .check_person_proof(&proof, &id, &code, consent.as_ref(), now)
    {
        metrics::counter!("renkei_hub_person_keys_refused_total").increment(1);
        tracing::warn!(institution = %id, reason = %e, "person key refused");
        return Err(ApiError::forbidden("person_proof_invalid", e));
    }
    let subject: SubjectTag = st
        .core
        .subject_of_code(&id, &code, now)
        .map_err(|e| ApiError::forbidden("code_invalid", e.to_string()))?;
    let (key, token_hash) = st.core.person_key(&subject);
    st.store
        .save_person_token(token_hash, subject, UnixMillis::now())
        .await?;
    let envelope = institution
        .sealing_key
        .seal(
            PERSON_KEY_INFO,
            &person_key_aad(&id.to_string(), &body.code),
            key.as_slice(),
        )
        .map_err(|e| ApiError::internal("sealing the person key", e))?;
    Ok(Json(PersonKeyWire {
        envelope: (&envelope).into(),
        log_origin: st.log.origin.clone(),
        log_key: st.log.verifier().to_string(),
    }))
}

// -------------------------------------------------------------- retention

/// Prune by index every entry known to be older than `cut`: those below the
/// newest checkpoint saved before `cut` (less [`PRUNE_MARGIN_MS`]), rounded
/// down to whole entry bundles, so that a bundle is either served whole or
/// gone whole. That checkpoint is published with the minimum index as the
/// proof of their age. `None` if no checkpoint is that old.
pub async fn prune_older_than<S: HubStore>(
    store: &S,
    cut: UnixMillis,
    now: UnixMillis,
) -> Result<Option<PruneResult>, renkei_protocol::StoreError> {
    let Some((size, note)) = store
        .checkpoint_at_or_before(cut.plus_ms(-PRUNE_MARGIN_MS))
        .await?
    else {
        return Ok(None);
    };
    let min_index = size / TILE_WIDTH * TILE_WIDTH;
    if min_index == 0 {
        return Ok(None);
    }
    let pruned = store.prune_below(min_index, note, now).await?;
    Ok(Some(PruneResult { min_index, pruned }))
}

/// [`prune_older_than`] the retention period (`days`) before `now`.
pub async fn prune_for_retention<S: HubStore>(
    store: &S,
    now: UnixMillis,
    days: u64,
) -> Result<Option<PruneResult>, renkei_protocol::StoreError> {
    prune_older_than(store, now.plus_ms(-(days as i64) * 86_400_000), now).await
}

/// Daily: prune leaf data older than the retention period.
pub(crate) async fn retain<S: HubStore>(st: Arc<HubState<S>>, days: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        tick.tick().await;
        match prune_for_retention(&st.store, UnixMillis::now(), days).await {
            Ok(Some(r)) if r.pruned > 0 => {
                tracing::info!(
                    pruned = r.pruned,
                    min_index = r.min_index,
                    "retention: leaf data pruned"
                );
            }
            Ok(_) => {}
            Err(e) => {
                metrics::counter!("renkei_log_prune_failures_total").increment(1);
                tracing::error!(error = %e, "retention pruning failed");
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PruneBody {
    /// Prune entries older than this time (Unix ms): those below a
    /// checkpoint saved before it.
    before: i64,
}

/// Operator-triggered pruning, e.g. after a change of retention policy.
pub(crate) async fn prune_now<S: HubStore>(
    State(st): State<Arc<HubState<S>>>,
    JsonBody(body): JsonBody<PruneBody>,
) -> Result<Json<PruneResult>, ApiError> {
    let now = UnixMillis::now();
    let limit = now.plus_ms(-(SEVEN_YEARS_DAYS as i64) * 86_400_000);
    if body.before > limit.0 {
        return Err(ApiError::malformed(format!(
            "records must be kept 7 years: `before` may be at most {limit}"
        )));
    }
    let held = st.store.pruned_below().await?.map_or(0, |(m, _)| m);
    Ok(Json(
        prune_older_than(&st.store, UnixMillis(body.before), now)
            .await?
            .unwrap_or(PruneResult {
                min_index: held,
                pruned: 0,
            }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn gzip_is_used_only_when_the_client_takes_it() {
        assert!(accepts_gzip(&headers(&["gzip"])));
        assert!(accepts_gzip(&headers(&["br, GZIP;q=0.5, identity"])));
        assert!(accepts_gzip(&headers(&["identity", "gzip"])));
        assert!(accepts_gzip(&headers(&["*"])));
        assert!(!accepts_gzip(&headers(&[])));
        assert!(!accepts_gzip(&headers(&["identity"])));
        assert!(!accepts_gzip(&headers(&["gzip;q=0"])));
        assert!(!accepts_gzip(&headers(&["x-gzip-not"])));
    }

    #[test]
    fn a_compressed_bundle_is_standard_gzip_of_the_bundle() {
        use std::io::Read as _;
        let bundle: Vec<u8> = (0..4000u32).flat_map(|i| (i % 7).to_be_bytes()).collect();
        let z = gzip_bytes(&bundle).unwrap();
        assert!(z.len() < bundle.len() / 4, "{} of {}", z.len(), bundle.len());
        assert_eq!(&z[..2], &[0x1f, 0x8b], "the gzip magic (RFC 1952)");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(z.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, bundle);
    }
}
