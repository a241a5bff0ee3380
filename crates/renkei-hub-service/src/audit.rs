//! `renkei audit verify`: check a log from its tiles, over HTTPS or straight
//! from a hub's store.
//!
//! Given the log's key (and optionally witness keys and an older
//! checkpoint) the audit checks, for the latest checkpoint of size n:
//! the log's signature (and each witness's cosignature); that every entry
//! hashes to its level-0 tile hash and is a well-formed provision record
//! (entries past the retention period are skipped, their hashes are not);
//! that every higher tile hash is the hash of the 256 below it; that the
//! tiles give the checkpoint's root; and that the older checkpoint's root
//! is the root of the first m leaves — i.e. the log never rewrote history.
//! The first fault is reported with the index it concerns.
//!
//! An entry bundle answered as pruned (410) is accepted only below the
//! log's published minimum index (tlog-tiles allows an error there and
//! nowhere else), and only if the minimum index is proven old enough: it
//! comes with a checkpoint of at least that size, signed by the log, part of
//! the verified tree, and cosigned by every given witness at a time more
//! than the retention period ago. A log that withholds a recent bundle, or
//! raises its minimum index early, fails the audit.

use std::future::Future;

use renkei_hub::{HubStore, LogLeaf};
use renkei_log::hash::{Hash, leaf_hash, node_hash};
use renkei_log::tiles::{TILE_WIDTH, decode_bundle, tile_node, tile_width};
use renkei_log::tree::{NodeId, range_hash};
use renkei_log::{Checkpoint, Note, NoteVerifier};
use renkei_protocol::UnixMillis;

/// Where tiles come from.
pub trait TileSource {
    fn checkpoint(&self) -> impl Future<Output = Result<String, String>> + Send;
    /// The `width` hashes of tile (`level`, `index`).
    fn hashes(
        &self,
        level: u8,
        index: u64,
        width: u64,
    ) -> impl Future<Output = Result<Vec<Hash>, String>> + Send;
    /// The entries of tile `index`; `None` if pruned.
    fn entries(
        &self,
        index: u64,
        width: u64,
    ) -> impl Future<Output = Result<Option<Vec<Vec<u8>>>, String>> + Send;
    /// The published minimum index and the checkpoint proving its age
    /// (`None` if the log says nothing was pruned).
    fn pruned(&self) -> impl Future<Output = Result<Option<(u64, String)>, String>> + Send;
}

/// What an audit is checked against besides the log's key.
#[derive(Debug, Clone)]
pub struct AuditOptions<'a> {
    /// Witnesses that must have cosigned the checkpoint (and the checkpoint
    /// proving the age of pruned entries).
    pub witnesses: &'a [NoteVerifier],
    /// A previously seen checkpoint note the log must extend.
    pub older: Option<&'a str>,
    /// How old entries must be before they may be pruned.
    pub retention_days: u64,
    /// The auditor's time.
    pub now: UnixMillis,
}

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub size: u64,
    pub root: Hash,
    pub entries_checked: u64,
    pub entries_pruned: u64,
    pub cosigned_by: Vec<String>,
    pub consistent_with: Option<u64>,
}

/// The first fault found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("cannot fetch {what}: {reason}")]
    Fetch { what: String, reason: String },
    #[error("the checkpoint: {0}")]
    Checkpoint(String),
    #[error("entry {index} does not match its hash in the log")]
    EntryHash { index: u64 },
    #[error("entry {index} is not a provision record: {reason}")]
    EntryFormat { index: u64, reason: String },
    #[error(
        "tile {level}/{tile}: hash {position} (leaves {first}..{last}) does not match the tiles below it"
    )]
    TileHash {
        level: u8,
        tile: u64,
        position: u64,
        first: u64,
        last: u64,
    },
    #[error("the tiles give a root different from the checkpoint's (size {size})")]
    Root { size: u64 },
    #[error("the older checkpoint (size {old}) is not a prefix of the log: history was rewritten")]
    Inconsistent { old: u64 },
    #[error("entries {first}..{last} are answered as pruned, but {reason}: the log withholds them")]
    Withheld { first: u64, last: u64, reason: String },
    #[error("the minimum index {min_index} is not proven old enough: {reason}")]
    PrematurePruning { min_index: u64, reason: String },
}

fn fetch_err(what: String) -> impl FnOnce(String) -> AuditError {
    move |reason| AuditError::Fetch { what, reason }
}

fn parse_note(text: &str, key: &NoteVerifier) -> Result<(Note, Checkpoint), AuditError> {
    let note = Note::parse(text).map_err(|e| AuditError::Checkpoint(e.to_string()))?;
    note.verify(key)
        .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
    let cp = Checkpoint::parse(&note.text).map_err(|e| AuditError::Checkpoint(e.to_string()))?;
    if cp.origin != key.name() {
        return Err(AuditError::Checkpoint(format!(
            "origin {} is not the key's log ({})",
            cp.origin,
            key.name()
        )));
    }
    Ok((note, cp))
}

/// Verify the log now, with the seven-year retention period. `older` is a
/// previously seen checkpoint note.
pub async fn verify<T: TileSource>(
    src: &T,
    log_key: &NoteVerifier,
    witnesses: &[NoteVerifier],
    older: Option<&str>,
) -> Result<AuditReport, AuditError> {
    verify_with(
        src,
        log_key,
        &AuditOptions {
            witnesses,
            older,
            retention_days: renkei_api::log::SEVEN_YEARS_DAYS,
            now: UnixMillis::now(),
        },
    )
    .await
}

/// Verify the log (see the module documentation).
pub async fn verify_with<T: TileSource>(
    src: &T,
    log_key: &NoteVerifier,
    opts: &AuditOptions<'_>,
) -> Result<AuditReport, AuditError> {
    let (witnesses, older) = (opts.witnesses, opts.older);
    let text = src
        .checkpoint()
        .await
        .map_err(fetch_err("the checkpoint".into()))?;
    let (note, cp) = parse_note(&text, log_key)?;
    let mut cosigned_by = Vec::new();
    for w in witnesses {
        match w.cosignature(&note) {
            Some(c) => cosigned_by.push(format!("{} at {}", c.name, c.timestamp)),
            None => {
                return Err(AuditError::Checkpoint(format!(
                    "no valid cosignature by witness {}",
                    w.name()
                )));
            }
        }
    }
    let n = cp.size;
    let mut report = AuditReport {
        size: n,
        root: cp.root,
        entries_checked: 0,
        entries_pruned: 0,
        cosigned_by,
        consistent_with: None,
    };

    // Level 0: entries against leaf hashes. A bundle answered as pruned
    // must lie wholly below the published minimum index.
    let mut minimum: Option<Option<(u64, String)>> = None;
    let mut levels: Vec<Vec<Hash>> = Vec::new();
    let mut level0 = Vec::with_capacity(n as usize);
    let tiles0 = n.div_ceil(TILE_WIDTH);
    for t in 0..tiles0 {
        let w = tile_width(0, t, n);
        let hashes = src
            .hashes(0, t, w)
            .await
            .map_err(fetch_err(format!("tile 0/{t}")))?;
        if hashes.len() as u64 != w {
            return Err(AuditError::Fetch {
                what: format!("tile 0/{t}"),
                reason: format!("{} hashes, expected {w}", hashes.len()),
            });
        }
        match src
            .entries(t, w)
            .await
            .map_err(fetch_err(format!("entries {t}")))?
        {
            None => {
                if minimum.is_none() {
                    minimum = Some(
                        src.pruned()
                            .await
                            .map_err(fetch_err("the minimum index".into()))?,
                    );
                }
                let (first, last) = (t * TILE_WIDTH, t * TILE_WIDTH + w - 1);
                match minimum.as_ref().and_then(Option::as_ref) {
                    None => {
                        return Err(AuditError::Withheld {
                            first,
                            last,
                            reason: "the log publishes no minimum index".into(),
                        });
                    }
                    Some((min, _)) if last >= *min => {
                        return Err(AuditError::Withheld {
                            first,
                            last,
                            reason: format!("they are not below the minimum index {min}"),
                        });
                    }
                    Some(_) => report.entries_pruned += w,
                }
            }
            Some(entries) => {
                if entries.len() as u64 != w {
                    return Err(AuditError::Fetch {
                        what: format!("entries {t}"),
                        reason: format!("{} entries, expected {w}", entries.len()),
                    });
                }
                for (j, e) in entries.iter().enumerate() {
                    let index = t * TILE_WIDTH + j as u64;
                    if leaf_hash(e) != hashes[j] {
                        return Err(AuditError::EntryHash { index });
                    }
                    LogLeaf::decode(e).map_err(|err| AuditError::EntryFormat {
                        index,
                        reason: err.to_string(),
                    })?;
                    report.entries_checked += 1;
                }
            }
        }
        level0.extend(hashes);
    }
    levels.push(level0);

    // Higher levels: each stored hash is the root of the full tile below.
    let mut level = 1u8;
    while (n >> (8 * u32::from(level))) > 0 {
        let count = n >> (8 * u32::from(level));
        let mut this = Vec::with_capacity(count as usize);
        for t in 0..count.div_ceil(TILE_WIDTH) {
            let w = tile_width(level, t, n);
            let hashes = src
                .hashes(level, t, w)
                .await
                .map_err(fetch_err(format!("tile {level}/{t}")))?;
            for (j, h) in hashes.iter().enumerate() {
                let pos = t * TILE_WIDTH + j as u64;
                let below = &levels[usize::from(level) - 1]
                    [(pos * TILE_WIDTH) as usize..((pos + 1) * TILE_WIDTH) as usize];
                let mut layer = below.to_vec();
                while layer.len() > 1 {
                    layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
                }
                if layer[0] != *h {
                    let first = pos << (8 * u32::from(level));
                    return Err(AuditError::TileHash {
                        level,
                        tile: t,
                        position: j as u64,
                        first,
                        last: first + (1 << (8 * u32::from(level))) - 1,
                    });
                }
            }
            this.extend(hashes);
        }
        levels.push(this);
        level += 1;
    }

    let mut get = |node: NodeId| -> Hash {
        let base = node.level - node.level % 8;
        let span = 1u64 << (node.level - base);
        let first = node.index << (node.level - base);
        let mut layer: Vec<Hash> = (0..span)
            .map(|j| levels[usize::from(base / 8)][(first + j) as usize])
            .collect();
        while layer.len() > 1 {
            layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        layer[0]
    };
    if range_hash(0, n, &mut get) != cp.root {
        return Err(AuditError::Root { size: n });
    }
    if let Some(older) = older {
        let (_, old) = parse_note(older, log_key)?;
        if old.size > n || range_hash(0, old.size, &mut get) != old.root {
            return Err(AuditError::Inconsistent { old: old.size });
        }
        report.consistent_with = Some(old.size);
    }
    if let Some(Some((min, note))) = &minimum {
        check_minimum(*min, note, n, log_key, opts, &mut get)?;
    }
    Ok(report)
}

/// The minimum index under which bundles were accepted as pruned: a whole
/// number of bundles, within a checkpoint of this log that is part of the
/// verified tree, and that checkpoint cosigned by every given witness more
/// than the retention period before now.
fn check_minimum(
    min: u64,
    note: &str,
    n: u64,
    log_key: &NoteVerifier,
    opts: &AuditOptions<'_>,
    get: &mut impl FnMut(NodeId) -> Hash,
) -> Result<(), AuditError> {
    let premature = |reason: String| AuditError::PrematurePruning {
        min_index: min,
        reason,
    };
    if !min.is_multiple_of(TILE_WIDTH) {
        return Err(premature(format!("it is not a multiple of {TILE_WIDTH}")));
    }
    let (proof_note, cp) =
        parse_note(note, log_key).map_err(|e| premature(format!("its checkpoint: {e}")))?;
    if cp.size < min || cp.size > n {
        return Err(premature(format!(
            "its checkpoint has size {}, not between {min} and {n}",
            cp.size
        )));
    }
    if range_hash(0, cp.size, get) != cp.root {
        return Err(premature(
            "its checkpoint is not a prefix of the verified log".into(),
        ));
    }
    if opts.witnesses.is_empty() {
        return Err(premature(
            "no witness key was given to check its checkpoint's age by (the log's own word is not enough)"
                .into(),
        ));
    }
    let limit_secs = opts
        .now
        .plus_ms(-(opts.retention_days as i64) * 86_400_000)
        .0
        .div_euclid(1000);
    for w in opts.witnesses {
        let c = w.cosignature(&proof_note).ok_or_else(|| {
            premature(format!(
                "its checkpoint has no cosignature by witness {}",
                w.name()
            ))
        })?;
        if i64::try_from(c.timestamp).map_or(true, |t| t > limit_secs) {
            return Err(premature(format!(
                "witness {} cosigned its checkpoint at {} (Unix seconds), less than {} days before the audit",
                w.name(),
                c.timestamp,
                opts.retention_days
            )));
        }
    }
    Ok(())
}

/// Tiles straight from a hub's store (`--data-dir`).
#[derive(Debug)]
pub struct StoreTiles<'a, S>(pub &'a S);

impl<S: HubStore> TileSource for StoreTiles<'_, S> {
    async fn checkpoint(&self) -> Result<String, String> {
        self.0
            .latest_checkpoint()
            .await
            .map_err(|e| e.to_string())?
            .map(|(_, note)| note)
            .ok_or_else(|| "no checkpoint has been published".into())
    }

    async fn hashes(&self, level: u8, index: u64, width: u64) -> Result<Vec<Hash>, String> {
        let nodes: Vec<NodeId> = (0..width).map(|j| tile_node(level, index, j)).collect();
        let got = self
            .0
            .stored_hashes(nodes.clone())
            .await
            .map_err(|e| e.to_string())?;
        nodes
            .iter()
            .map(|n| {
                got.get(n)
                    .copied()
                    .ok_or_else(|| format!("node {n:?} is missing"))
            })
            .collect()
    }

    async fn entries(&self, index: u64, width: u64) -> Result<Option<Vec<Vec<u8>>>, String> {
        let leaves = self
            .0
            .leaves(index * TILE_WIDTH, width)
            .await
            .map_err(|e| e.to_string())?;
        Ok(leaves.into_iter().collect())
    }

    async fn pruned(&self) -> Result<Option<(u64, String)>, String> {
        self.0.pruned_below().await.map_err(|e| e.to_string())
    }
}

/// Tiles over HTTPS from `<prefix>/checkpoint` and `<prefix>/tile/…`.
#[derive(Debug, Clone)]
pub struct HttpTiles {
    client: reqwest::Client,
    prefix: String,
}

impl HttpTiles {
    /// `ca_pem`: the certificate to trust for the log's TLS (the network CA).
    pub fn new(prefix: &str, ca_pem: &[u8]) -> Result<Self, String> {
        let cert = reqwest::Certificate::from_pem(ca_pem).map_err(|e| format!("CA certificate: {e}"))?;
        let client = reqwest::Client::builder()
            .tls_certs_only([cert])
            .https_only(true)
            .no_proxy()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            prefix: prefix.trim_end_matches('/').to_owned(),
        })
    }

    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let resp = self
            .client
            .get(format!("{}/{path}", self.prefix))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp.bytes().await.map_err(|e| e.to_string())?.to_vec())),
            410 => Ok(None),
            s => Err(format!("HTTP {s}")),
        }
    }
}

impl TileSource for HttpTiles {
    async fn checkpoint(&self) -> Result<String, String> {
        let b = self.get("checkpoint").await?.ok_or("gone")?;
        String::from_utf8(b).map_err(|_| "not UTF-8".into())
    }

    async fn hashes(&self, level: u8, index: u64, width: u64) -> Result<Vec<Hash>, String> {
        let b = self
            .get(&renkei_log::tiles::tile_path(level, index, width))
            .await?
            .ok_or("gone")?;
        if b.len() as u64 != width * 32 {
            return Err(format!("{} bytes, expected {}", b.len(), width * 32));
        }
        Ok(b.chunks(32).map(|c| c.try_into().unwrap_or([0; 32])).collect())
    }

    async fn entries(&self, index: u64, width: u64) -> Result<Option<Vec<Vec<u8>>>, String> {
        match self.get(&renkei_log::tiles::entries_path(index, width)).await? {
            None => Ok(None),
            Some(b) => decode_bundle(&b).map(Some).map_err(str::to_owned),
        }
    }

    async fn pruned(&self) -> Result<Option<(u64, String)>, String> {
        let resp = self
            .client
            .get(format!("{}/pruned", self.prefix))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match resp.status().as_u16() {
            404 => Ok(None),
            200 => {
                let body = resp.text().await.map_err(|e| e.to_string())?;
                renkei_api::log::parse_pruned(&body).map(Some)
            }
            s => Err(format!("HTTP {s}")),
        }
    }
}
