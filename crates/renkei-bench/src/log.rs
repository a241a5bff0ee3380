//! `renkei bench log`: durable appends per second with group commit (and
//! without, as the baseline), then inclusion-proof generation from the
//! store and verification. With a database URL the same run measures the
//! SQLite store and then the PostgreSQL one (in a fresh schema, dropped at
//! the end), so that the report can set them side by side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

use crate::measure::{PgSchema, PgServer, synthetic_record};

/// What `renkei bench log` measured, for [`crate::report::render_log`].
#[derive(Debug, Clone)]
pub struct LogRun {
    pub records: u64,
    pub concurrency: usize,
    /// When the runs ended.
    pub date: UnixMillis,
    pub sqlite: StoreLog,
    /// Present when a database URL was given.
    pub postgres: Option<PostgresLog>,
}

/// The PostgreSQL half of a [`LogRun`].
#[derive(Debug, Clone)]
pub struct PostgresLog {
    /// As given (the report hides its password).
    pub database_url: String,
    pub server: PgServer,
    pub log: StoreLog,
}

/// One store's figures in the log benchmark.
#[derive(Debug, Clone)]
pub struct StoreLog {
    /// Records appended by a single appender (the baseline).
    pub single_n: u64,
    /// Durable appends per second, one appender.
    pub single: f64,
    /// Durable appends per second, all appenders (group commit).
    pub grouped: f64,
    /// Leaves in the log when the proofs were made.
    pub size: u64,
    /// Proof generation times, sorted.
    pub gen_t: Vec<Duration>,
    /// Proof verification times, sorted.
    pub ver_t: Vec<Duration>,
    /// Shortest and longest proof, in hashes.
    pub min_len: usize,
    pub max_len: usize,
}

async fn append_rate<S: renkei_hub::HubStore + Clone>(
    store: &S,
    records: u64,
    concurrency: usize,
) -> Result<f64> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let s = store.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= records {
                    return Ok::<_, anyhow::Error>(());
                }
                s.append_record(synthetic_record(i)).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(records as f64 / start.elapsed().as_secs_f64())
}

async fn log_run<S: renkei_hub::HubStore + Clone>(
    store: &S,
    records: u64,
    concurrency: usize,
) -> Result<StoreLog> {
    use renkei_hub::log::{hash_from_stored, stored_needed};
    // Baseline: one appender, so every record waits for its own fsync.
    let single_n = (records / 100).clamp(200, 2000);
    let single = append_rate(store, single_n, 1).await?;
    let grouped = append_rate(store, records, concurrency).await?;
    let head = store.refresh_log_head().await?;
    if head.size != single_n + records {
        bail!(
            "the log holds {} leaves after {} appends",
            head.size,
            single_n + records
        );
    }

    let mut rng = fastrand::Rng::with_seed(3);
    let (mut gen_t, mut ver_t, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..1000 {
        let index = rng.u64(..head.size);
        let t = Instant::now();
        let nodes = renkei_log::inclusion_nodes(index, head.size);
        let stored = store.stored_hashes(stored_needed(&nodes)).await?;
        let proof = renkei_log::prove_inclusion(index, head.size, &mut |n| {
            hash_from_stored(n, &stored).unwrap_or([0; 32])
        })?;
        gen_t.push(t.elapsed());
        let leaf = store.leaves(index, 1).await?.pop().flatten().context("leaf")?;
        let lh = renkei_log::leaf_hash(&leaf);
        let t = Instant::now();
        renkei_log::verify_inclusion(index, head.size, &lh, &proof, &head.root)?;
        ver_t.push(t.elapsed());
        sizes.push(proof.len());
    }
    gen_t.sort();
    ver_t.sort();
    Ok(StoreLog {
        single_n,
        single,
        grouped,
        size: head.size,
        gen_t,
        ver_t,
        min_len: sizes.iter().copied().min().unwrap_or(0),
        max_len: sizes.iter().copied().max().unwrap_or(0),
    })
}

/// Run the benchmark on SQLite, then on PostgreSQL if `database_url` is
/// given.
pub async fn log(records: u64, concurrency: usize, database_url: Option<&str>) -> Result<LogRun> {
    if records == 0 || concurrency == 0 {
        bail!("--records and --concurrency must be positive");
    }
    // The PostgreSQL schema first: a bad URL is refused before any work.
    let pg = match database_url {
        Some(url) => Some(PgSchema::create(url, "log").await?),
        None => None,
    };
    let runs = async {
        let dir = tempfile::Builder::new()
            .prefix("renkei-bench-log-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        let sqlite = {
            let store =
                renkei_store_sqlite::SqliteHubStore::open(&dir.path().join("hub.sqlite"), Durability::Full)
                    .await?;
            log_run(&store, records, concurrency).await.context("SQLite")?
        };
        let postgres = match &pg {
            Some(pg) => {
                let store = renkei_store_postgres::PgHubStore::open(&pg.url).await?;
                let run = log_run(&store, records, concurrency)
                    .await
                    .context("PostgreSQL")?;
                Some((run, pg.server().await))
            }
            None => None,
        };
        Ok::<_, anyhow::Error>((sqlite, postgres))
    }
    .await;
    if let Some(pg) = &pg {
        pg.drop().await?;
    }
    let (sqlite, postgres) = runs?;
    Ok(LogRun {
        records,
        concurrency,
        date: UnixMillis::now(),
        sqlite,
        postgres: postgres.map(|(log, server)| PostgresLog {
            database_url: database_url.unwrap_or_default().to_owned(),
            server,
            log,
        }),
    })
}
