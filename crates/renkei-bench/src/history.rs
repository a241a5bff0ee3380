//! `renkei bench history`: a person's history as the log grows
//! (the history query time with 100M records in PostgreSQL).
//!
//! A hub store is filled through its real durable append path
//! (`append_record`, many concurrent appenders, group commit) with
//! synthetic provision records about random subjects, in stages of 1 %,
//! 10 % and 100 % of the requested size. Each stage has its own person (a
//! fixed subject tag) with the requested number of records spread evenly
//! through the log as it stands at that stage, so every stage asks the same
//! question of a larger log. After each stage the person's history is read
//! as the hub's person endpoint reads it — the records (`subject = ?
//! ORDER BY seq LIMIT 1000`), their leaves, and every proof node in one
//! batched read, then one inclusion proof per record — and the query alone
//! is timed as well.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use renkei_hub::log::{hash_from_stored, stored_needed};
use renkei_hub::{HubStore, RecordFilter, SubjectTag};
use renkei_log::Hash;
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

use crate::measure::{PgSchema, PgServer, percentile, synthetic_record_for};

/// The history page asks for at most this many records.
pub(crate) const HISTORY_LIMIT: u32 = 1000;

/// Above this the head is not recomputed independently (it would keep every
/// leaf hash in memory and double the run).
pub const VERIFY_ROOT_UP_TO: u64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// Records in the log at the end.
    pub records: u64,
    /// Records about the measured person (per stage).
    pub person_records: u64,
    /// Concurrent appenders while filling.
    pub concurrency: usize,
    /// History reads per stage.
    pub repetitions: usize,
    /// PostgreSQL instead of SQLite (a fresh schema, dropped at the end).
    pub database_url: Option<String>,
}

impl HistoryOptions {
    /// Refuse options that cannot make a run, before any work.
    pub fn check(&self) -> Result<()> {
        if self.records == 0 {
            bail!("--records must be positive");
        }
        if self.person_records == 0 {
            bail!("--person-records must be positive");
        }
        if self.person_records > self.records {
            bail!(
                "--person-records ({}) cannot exceed --records ({})",
                self.person_records,
                self.records
            );
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be positive");
        }
        if self.repetitions == 0 {
            bail!("--repetitions must be positive");
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("--database-url: not a PostgreSQL URL (postgres://user@host/db)");
        }
        Ok(())
    }
}

/// One measuring point: the log's size then and its person.
#[derive(Debug, Clone, Copy)]
struct Stage {
    size: u64,
    person: SubjectTag,
    person_records: u64,
}

/// 1 %, 10 % and 100 % of the records — those that can hold the person's
/// records (each stage's person has them all within the stage's size).
fn stages(records: u64, person_records: u64) -> Vec<Stage> {
    let mut sizes: Vec<u64> = [records / 100, records / 10, records]
        .into_iter()
        .filter(|s| *s >= person_records)
        .collect();
    sizes.dedup();
    sizes
        .into_iter()
        .enumerate()
        .map(|(j, size)| {
            let mut tag = [0xA5u8; 32];
            tag[0] = j as u8;
            Stage {
                size,
                person: SubjectTag(tag),
                person_records,
            }
        })
        .collect()
}

/// Which record (in the order they are generated) belongs to which stage's
/// person: record `m` of a stage of size S at about (m + ½)·S/K, the next
/// free one if an earlier stage's person holds it (only when S is within a
/// factor of a few of K).
fn person_positions(stages: &[Stage]) -> HashMap<u64, SubjectTag> {
    let mut at = HashMap::new();
    for st in stages {
        for m in 0..st.person_records {
            let mut i = ((2 * m + 1) as u128 * st.size as u128 / (2 * st.person_records) as u128) as u64;
            while at.contains_key(&i) {
                i = (i + 1) % st.size;
            }
            at.insert(i, st.person);
        }
    }
    at
}

/// What `renkei bench history` measured, for [`crate::report::render_history`].
#[derive(Debug, Clone)]
pub struct HistoryRun {
    pub options: HistoryOptions,
    /// When the run started (before the store was opened).
    pub started: UnixMillis,
    pub store: HistoryStore,
    /// One per log size, smallest first.
    pub stages: Vec<StageResult>,
    pub root_check: RootCheck,
    /// Records appended per second over the whole fill.
    pub fill_rate: f64,
}

/// The store a history run filled.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryStore {
    Sqlite,
    /// A fresh schema `schema`, dropped after the run.
    Postgres {
        server: PgServer,
        schema: String,
    },
}

/// One log size's figures; the latencies are sorted.
#[derive(Debug, Clone)]
pub struct StageResult {
    pub size: u64,
    pub fill_secs: f64,
    /// Records appended per second in this stage alone.
    pub fill_rate: f64,
    pub disk_bytes: u64,
    /// The subject index on PostgreSQL (`None` on SQLite or if unreadable).
    pub index: Option<renkei_store_postgres::BtreeIndex>,
    /// Records in the person's history as read.
    pub returned: usize,
    /// Proof nodes read for one history.
    pub stored_nodes: usize,
    /// Shortest and longest proof, in hashes.
    pub proof_len: (usize, usize),
    /// The records query alone.
    pub query: Vec<Duration>,
    /// Reading the records' leaves alone.
    pub leaves: Vec<Duration>,
    /// Reading the proof nodes alone.
    pub nodes: Vec<Duration>,
    /// The whole history: query, leaves, nodes and proofs.
    pub full: Vec<Duration>,
}

#[derive(Debug)]
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl Backend {
    async fn disk_bytes(&self) -> Result<u64> {
        match self {
            Self::Sqlite(dir) => {
                let mut total = 0;
                for e in std::fs::read_dir(dir.path())? {
                    total += e?.metadata()?.len();
                }
                Ok(total)
            }
            Self::Postgres(pg) => Ok(renkei_store_postgres::schema_size(&pg.base, &pg.name).await?),
        }
    }

    async fn subject_index(&self) -> Option<renkei_store_postgres::BtreeIndex> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(pg) => renkei_store_postgres::btree_index(&pg.base, &pg.name, "records_subject")
                .await
                .ok(),
        }
    }
}

#[allow(clippy::print_stderr)]
fn say(multi: &MultiProgress, line: &str) {
    multi.suspend(|| eprintln!("{line}"));
}

fn bar(multi: &MultiProgress, len: u64, label: &str) -> ProgressBar {
    let pb = multi.add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>18} [{bar:30}] {human_pos:>11}/{human_len:11} {per_sec:>12} eta {eta} {msg}",
        )
        .expect("static template parses")
        .progress_chars("=> "),
    );
    pb.set_prefix(label.to_owned());
    pb
}

/// Append records `from..to` (generation order) with `concurrency` tasks;
/// with `hashes`, remember each leaf hash at the number the store gave it.
async fn fill<S: HubStore + Clone>(
    store: &S,
    (from, to): (u64, u64),
    concurrency: usize,
    persons: &Arc<HashMap<u64, SubjectTag>>,
    pb: &ProgressBar,
    hashes: Option<&mut Vec<Option<Hash>>>,
) -> Result<()> {
    let next = Arc::new(AtomicU64::new(from));
    let keep = hashes.is_some();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (store, next, persons, pb) = (store.clone(), next.clone(), persons.clone(), pb.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return Ok::<_, anyhow::Error>(seen);
                }
                let subject = persons
                    .get(&i)
                    .copied()
                    .unwrap_or_else(|| SubjectTag(renkei_ids::random_bytes::<32>()));
                let record = synthetic_record_for(i, subject);
                let hash = keep.then(|| renkei_log::leaf_hash(&record.leaf_bytes()));
                let seq = store.append_record(record).await?;
                if let Some(h) = hash {
                    seen.push((seq, h));
                }
                pb.inc(1);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    if let Some(hashes) = hashes {
        for (seq, h) in all {
            let slot = usize::try_from(seq)
                .ok()
                .and_then(|s| hashes.get_mut(s))
                .with_context(|| format!("the store numbered a record {seq}, beyond the log"))?;
            ensure!(slot.is_none(), "the store gave number {seq} twice");
            *slot = Some(h);
        }
    }
    Ok(())
}

/// The person's history `repetitions` times; the first read is checked
/// (count, subject, leaves against records, every proof against the head).
async fn measure<S: HubStore>(
    store: &S,
    st: &Stage,
    repetitions: usize,
    pb: &ProgressBar,
) -> Result<StageResult> {
    let head = store.refresh_log_head().await?;
    ensure!(
        head.size == st.size,
        "the log holds {} leaves, expected {}",
        head.size,
        st.size
    );
    let filter = RecordFilter {
        subject: Some(st.person),
        limit: HISTORY_LIMIT,
        ..Default::default()
    };
    let expected = st.person_records.min(u64::from(HISTORY_LIMIT)) as usize;
    let (mut query, mut leaves_t, mut nodes_t, mut full) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut stored_nodes, mut proof_len) = (0, (usize::MAX, 0));
    for rep in 0..repetitions {
        let t = Instant::now();
        let records = store.records(filter.clone()).await?;
        query.push(t.elapsed());
        let seqs: Vec<u64> = records.iter().map(|(s, _)| *s).collect();
        let tl = Instant::now();
        let leaves = store.leaves_at(seqs.clone()).await?;
        leaves_t.push(tl.elapsed());
        let needed: Vec<_> = seqs
            .iter()
            .flat_map(|s| renkei_log::inclusion_nodes(*s, head.size))
            .collect();
        let needed = stored_needed(&needed);
        let count = needed.len();
        let tn = Instant::now();
        let hashes = store.stored_hashes(needed).await?;
        nodes_t.push(tn.elapsed());
        let proofs = seqs
            .iter()
            .map(|s| {
                renkei_log::prove_inclusion(*s, head.size, &mut |n| {
                    hash_from_stored(n, &hashes).unwrap_or([0; 32])
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        full.push(t.elapsed());
        let proofs = std::hint::black_box(proofs);
        if rep == 0 {
            ensure!(
                records.len() == expected,
                "the person's history at {} records has {} records, expected {expected}",
                st.size,
                records.len()
            );
            stored_nodes = count;
            for ((seq, record), proof) in records.iter().zip(&proofs) {
                ensure!(
                    record.subject == Some(st.person),
                    "record {seq} is another person's"
                );
                let leaf = leaves
                    .get(seq)
                    .cloned()
                    .flatten()
                    .with_context(|| format!("leaf {seq} is missing"))?;
                ensure!(
                    leaf == record.leaf_bytes(),
                    "leaf {seq} does not encode its record"
                );
                renkei_log::verify_inclusion(
                    *seq,
                    head.size,
                    &renkei_log::leaf_hash(&leaf),
                    proof,
                    &head.root,
                )
                .with_context(|| format!("the proof of record {seq}"))?;
                proof_len = (proof_len.0.min(proof.len()), proof_len.1.max(proof.len()));
            }
        }
        pb.inc(1);
    }
    query.sort();
    leaves_t.sort();
    nodes_t.sort();
    full.sort();
    Ok(StageResult {
        size: st.size,
        fill_secs: 0.0,
        fill_rate: 0.0,
        disk_bytes: 0,
        index: None,
        returned: expected,
        stored_nodes,
        proof_len: (proof_len.0.min(proof_len.1), proof_len.1),
        query,
        leaves: leaves_t,
        nodes: nodes_t,
        full,
    })
}

/// How the final head was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootCheck {
    Recomputed,
    Skipped,
}

async fn run<S: HubStore + Clone>(
    store: S,
    backend: &Backend,
    opts: &HistoryOptions,
    multi: &MultiProgress,
) -> Result<(Vec<StageResult>, RootCheck, f64)> {
    let stages = stages(opts.records, opts.person_records);
    let persons = Arc::new(person_positions(&stages));
    let mut hashes: Option<Vec<Option<Hash>>> = (opts.records <= VERIFY_ROOT_UP_TO)
        .then(|| vec![None; usize::try_from(opts.records).expect("at most VERIFY_ROOT_UP_TO")]);
    let fill_bar = bar(multi, opts.records, "fill");
    let query_bar = bar(multi, (stages.len() * opts.repetitions) as u64, "history reads");
    let mut results = Vec::new();
    let (mut from, mut fill_total) = (0, 0.0);
    for st in &stages {
        fill_bar.set_message(format!("to {}", st.size));
        let t = Instant::now();
        fill(
            &store,
            (from, st.size),
            opts.concurrency,
            &persons,
            &fill_bar,
            hashes.as_mut(),
        )
        .await
        .with_context(|| format!("filling the log to {}", st.size))?;
        let secs = t.elapsed().as_secs_f64();
        fill_total += secs;
        let mut r = measure(&store, st, opts.repetitions, &query_bar).await?;
        r.fill_secs = secs;
        r.fill_rate = (st.size - from) as f64 / secs;
        r.disk_bytes = backend.disk_bytes().await?;
        r.index = backend.subject_index().await;
        say(
            multi,
            &format!(
                "{} records: filled at {:.0}/s, {:.2} GB on disk, history p50 {:.1} ms (query alone {:.2} ms)",
                st.size,
                r.fill_rate,
                r.disk_bytes as f64 / 1e9,
                percentile(&r.full, 0.5),
                percentile(&r.query, 0.5)
            ),
        );
        results.push(r);
        from = st.size;
    }
    fill_bar.finish();
    query_bar.finish();
    let check = match hashes {
        Some(hashes) => {
            let mut f = renkei_log::Frontier::new();
            for (seq, h) in hashes.into_iter().enumerate() {
                f.push(h.with_context(|| format!("no record was given number {seq}"))?);
            }
            let head = store.refresh_log_head().await?;
            ensure!(
                f.size() == head.size && f.root() == head.root,
                "the store's head ({} leaves) differs from the head recomputed from the appended records",
                head.size
            );
            RootCheck::Recomputed
        }
        None => RootCheck::Skipped,
    };
    Ok((results, check, opts.records as f64 / fill_total))
}

/// Run the benchmark, on PostgreSQL if `opts.database_url` is given.
pub async fn history(opts: &HistoryOptions) -> Result<HistoryRun> {
    opts.check()?;
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let started = UnixMillis::now();
    let backend = match &opts.database_url {
        Some(url) => Backend::Postgres(PgSchema::create(url, "history").await?),
        None => Backend::Sqlite(
            tempfile::Builder::new()
                .prefix("renkei-bench-history-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()?,
        ),
    };
    let store = match &backend {
        Backend::Postgres(pg) => HistoryStore::Postgres {
            server: pg.server().await,
            schema: pg.name.clone(),
        },
        Backend::Sqlite(_) => HistoryStore::Sqlite,
    };
    let outcome = match &backend {
        Backend::Sqlite(dir) => {
            let store =
                renkei_store_sqlite::SqliteHubStore::open(&dir.path().join("hub.sqlite"), Durability::Full)
                    .await?;
            run(store, &backend, opts, &multi).await
        }
        Backend::Postgres(pg) => match renkei_store_postgres::PgHubStore::open(&pg.url).await {
            Ok(store) => run(store, &backend, opts, &multi).await,
            Err(e) => Err(e.into()),
        },
    };
    if let Backend::Postgres(pg) = &backend {
        pg.drop().await?;
    }
    let (stages, root_check, fill_rate) = outcome?;
    Ok(HistoryRun {
        options: opts.clone(),
        started,
        store,
        stages,
        root_check,
        fill_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_person_has_its_records_within_its_stage() {
        for (records, k) in [
            (100_000, 1000),
            (1000, 1000),
            (2000, 10),
            (150, 1),
            (10_000_000, 1000),
        ] {
            let stages = stages(records, k);
            assert_eq!(stages.last().map(|s| s.size), Some(records));
            let at = person_positions(&stages);
            for st in &stages {
                let mine: Vec<u64> = at
                    .iter()
                    .filter(|(_, p)| **p == st.person)
                    .map(|(i, _)| *i)
                    .collect();
                assert_eq!(mine.len() as u64, k, "{records} {k}");
                assert!(mine.iter().all(|i| *i < st.size), "{records} {k}");
            }
        }
    }
}
