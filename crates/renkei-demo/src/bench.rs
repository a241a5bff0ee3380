//! `renkei bench linkage`: the price of trust.
//!
//! One network, one run, two paths over the same mutual-TLS setup:
//!
//! * **direct** — the requester's signed request goes straight to the
//!   provider's `/v1/provide` (wrapped in a forward the client signs with
//!   the hub's key): the provider verifies the requester's certificate and
//!   signature, looks the person up, seals the answer with HPKE auth mode,
//!   signs it and writes its own record durably; the requester verifies the
//!   provider's certificate and signature and opens it. This is everything
//!   but the hub.
//! * **hub** — the same request through `/v1/linkage`: the hub adds
//!   authentication, the permission table, two code translations, its
//!   signed forward, the check of the provider's answer, a durable record
//!   and a signed receipt.
//!
//! The ratio hub ÷ direct of throughput is the price of trust; X-Road's
//! published figure is about 0.11, renkei aims at 0.5 or more.

use std::fmt::Write as _;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use renkei_api::net::{HubReplyWire, SignedAnswerWire, SignedForwardWire, SignedRequestWire};
use renkei_api::node::PersonWire;
use renkei_catalog::{ItemCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{KeyFile, Suite};
use renkei_ids::{InstitutionCode, MessageId, QueryId};
use renkei_pki::{Identity, Role, TrustAnchors};
use renkei_protocol::{
    AnswerPayload, FiscalYear, ForwardedQuery, LinkageRequest, SignedAnswer, SignedReceipt, UnixMillis,
};
use renkei_store_sqlite::Durability;
use renkei_transport::{Expect, NetClient, TrustState};

use crate::country::{CountryOptions, populate};
use crate::institutions::{PENSION, SETAGAYA};
use crate::network::{Network, NetworkOptions, RawNode};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub requests: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub suite: Suite,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Measure {
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Fixture {
    hub_url: String,
    provider_url: String,
    requester: RawNode,
    /// Clients (connections) the requests to the hub address take turns
    /// on: behind a balancer each connection may reach another hub.
    hub_callers: Vec<RawNode>,
    next_caller: std::sync::atomic::AtomicUsize,
    hub_client: Arc<NetClient>,
    hub_signing: renkei_crypto::SigningKey,
    provider_cert: [u8; 32],
    suite: Suite,
    requester_code: InstitutionCode,
    provider_code: InstitutionCode,
}

fn request(f: &Fixture) -> renkei_protocol::SignedRequest {
    LinkageRequest {
        message_id: MessageId::random(),
        requester: PENSION.id(),
        provider: SETAGAYA.id(),
        office_work: OfficeWorkCode::parse("pension_premium_exemption").expect("static code"),
        item: ItemCode::parse("resident_tax_income").expect("static code"),
        fiscal_year: Some(FiscalYear::new(2025).expect("static year")),
        subject: f.requester_code.clone(),
        issued_at: UnixMillis::now(),
        consent: None,
        person_proof: None,
        payload: None,
    }
    .sign(&f.requester.signing, f.requester.certificate.clone())
}

async fn through_hub(f: &Fixture) -> Result<()> {
    let req = request(f);
    let turn = f.next_caller.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let reply: HubReplyWire = f.hub_callers[turn % f.hub_callers.len()]
        .post_hub(&f.hub_url, "/v1/linkage", &SignedRequestWire::from(&req))
        .await?;
    let answer = SignedAnswer::try_from(&reply.answer)?;
    let receipt = SignedReceipt::try_from(&reply.receipt)?;
    let hub_key = f.hub_signing.verifying_key();
    let provider = f
        .requester
        .trust
        .certified_party(&answer.certificate, SETAGAYA.id(), f.suite)?;
    let v = receipt.verify_reply(&hub_key, &req, &answer, &provider, &f.requester.sealing)?;
    if !matches!(v.payload, AnswerPayload::Found { .. }) {
        bail!("the provider had no data");
    }
    Ok(())
}

async fn direct(f: &Fixture) -> Result<()> {
    let req = request(f);
    let forward = ForwardedQuery {
        query_id: QueryId::random(),
        request: req.provider_view(),
        subject: f.provider_code.clone(),
        previous_subjects: Vec::new(),
        table_row: TableRowRef {
            table_version: "bench".into(),
            row_id: RowId::parse("DIRECT")?,
        },
        non_disclosure: false,
        forwarded_at: UnixMillis::now(),
    }
    .sign(&f.hub_signing);
    let w: SignedAnswerWire = f
        .hub_client
        .post(
            &format!("{}/v1/provide", f.provider_url),
            &SignedForwardWire::from(&forward),
            Expect::Certificate(f.provider_cert),
            None,
        )
        .await?;
    let answer = SignedAnswer::try_from(&w)?;
    let provider = f
        .requester
        .trust
        .certified_party(&answer.certificate, SETAGAYA.id(), f.suite)?;
    answer.verify(&provider.signing)?;
    let plain = f.requester.sealing.open_from(
        &provider.sealing,
        &answer.answer.envelope,
        b"renkei/answer/v2",
        &forward.query.answer_aad(),
    )?;
    if plain.is_empty() {
        bail!("empty answer");
    }
    Ok(())
}

async fn measure<F, Fut>(f: Arc<Fixture>, requests: usize, concurrency: usize, call: F) -> Result<Measure>
where
    F: Fn(Arc<Fixture>) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let f = f.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let t = Instant::now();
                call(f.clone()).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for w in workers {
        all.extend(w.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    Ok(Measure {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
    })
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Run the benchmark and return a Markdown report.
pub async fn linkage(opts: &BenchOptions) -> Result<String> {
    let rows = linkage_rounds(opts, |_| {}).await?;
    let mut out = String::new();
    let date = UnixMillis::now();
    let _ = writeln!(out, "## Linkage: price of trust ({})\n", opts.suite);
    let _ = writeln!(
        out,
        "- date: {date}\n- machine: {} × {}, {}\n- command: `renkei bench linkage --requests {} --concurrency {} --rounds {} --suite {}`\n- setup: one process; registry, hub and 7 nodes on loopback mutual TLS (TLS 1.3, {} certificates); SQLite stores with synchronous=FULL; client = pension service asking 世田谷区 for FY2025 income\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::env::consts::ARCH,
        opts.requests,
        opts.concurrency,
        opts.rounds,
        opts.suite,
        renkei_pki::provision::tls_algorithm(opts.suite),
    );
    let _ = writeln!(
        out,
        "| round | direct req/s | direct p50 ms | direct p99 ms | hub req/s | hub p50 ms | hub p99 ms | ratio hub/direct |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (i, (d, h)) in rows.iter().enumerate() {
        let ratio = h.per_second / d.per_second;
        ratios.push(ratio);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
            i + 1,
            d.per_second,
            d.p50_ms,
            d.p99_ms,
            h.per_second,
            h.p50_ms,
            h.p99_ms,
            ratio
        );
    }
    ratios.sort_by(f64::total_cmp);
    let _ = writeln!(
        out,
        "\nMedian price of trust: **{:.2}** (target ≥ 0.5; X-Road's published figure ≈ 0.11).",
        ratios[ratios.len() / 2]
    );
    Ok(out)
}

/// Direct and through-the-hub measurements, `opts.rounds` of each, on a
/// network that `configure` may change (stores, hub processes).
pub(crate) async fn linkage_rounds(
    opts: &BenchOptions,
    configure: impl FnOnce(&mut NetworkOptions),
) -> Result<Vec<(Measure, Measure)>> {
    if opts.requests == 0 || opts.concurrency == 0 || opts.rounds == 0 {
        bail!("requests, concurrency and rounds must be positive");
    }
    let dir = tempfile::Builder::new().prefix("renkei-bench-").tempdir()?;
    let mut net_opts = NetworkOptions::new(dir.path());
    net_opts.suite = opts.suite;
    net_opts.durability = Durability::Full;
    configure(&mut net_opts);
    let net = Network::start(net_opts).await?;
    let country = populate(
        &net,
        &CountryOptions {
            residents: 300,
            seed: 7,
            today: UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await?;
    let (pension_id, setagaya_id) = &country.cast.contributor;
    let requester_code: PersonWire = net
        .node(PENSION.key)
        .local
        .get(&format!("/local/v1/persons/{pension_id}"))
        .await?;
    let provider_code: PersonWire = net
        .node(SETAGAYA.key)
        .local
        .get(&format!("/local/v1/persons/{setagaya_id}"))
        .await?;

    let hub_dir = dir.path().join("hub");
    let hub_signing = match KeyFile::parse(&String::from_utf8(
        renkei_pki::read_private(&hub_dir.join("signing.key"))?.to_vec(),
    )?)? {
        KeyFile::Signing(k) => k,
        KeyFile::Sealing(_) => bail!("hub signing key file holds a sealing key"),
    };
    let anchors = TrustAnchors::load(
        &net.ca_dir.join(renkei_pki::CA_CERT_FILE),
        &net.ca_dir.join(renkei_pki::CA_CRL_FILE),
    )?;
    let hub_identity = Identity::load(&hub_dir.join("tls.crt"), &hub_dir.join("tls.key"))?;
    if hub_identity.certificate().identity.role != Role::Hub {
        bail!("not the hub's certificate");
    }
    let hub_trust = TrustState::new(hub_identity, anchors);
    let setagaya = net.node(SETAGAYA.key);
    let provider_cert = renkei_pki::Identity::load(&setagaya.files.cert, &setagaya.files.key)?
        .certificate()
        .fingerprint;
    let fixture = Arc::new(Fixture {
        hub_url: net.hub.url(),
        provider_url: setagaya.network_url(),
        requester: net.impersonate(PENSION.key)?,
        hub_callers: (0..opts.concurrency.clamp(1, 8))
            .map(|_| net.impersonate(PENSION.key))
            .collect::<Result<_>>()?,
        next_caller: std::sync::atomic::AtomicUsize::new(0),
        hub_client: hub_trust.client(Duration::from_secs(30))?,
        hub_signing,
        provider_cert,
        suite: opts.suite,
        requester_code: InstitutionCode::parse(&requester_code.code)?,
        provider_code: InstitutionCode::parse(&provider_code.code)?,
    });

    // Warm up both paths (connections, caches, SQLite pages).
    let warm = (opts.requests / 10).max(opts.concurrency);
    measure(fixture.clone(), warm, opts.concurrency, |f| async move {
        direct(&f).await
    })
    .await
    .context("direct warm-up")?;
    measure(fixture.clone(), warm, opts.concurrency, |f| async move {
        through_hub(&f).await
    })
    .await
    .context("hub warm-up")?;

    let mut rows = Vec::new();
    for _ in 0..opts.rounds {
        let d = measure(fixture.clone(), opts.requests, opts.concurrency, |f| async move {
            direct(&f).await
        })
        .await?;
        let h = measure(fixture.clone(), opts.requests, opts.concurrency, |f| async move {
            through_hub(&f).await
        })
        .await?;
        rows.push((d, h));
    }
    net.shutdown().await;
    Ok(rows)
}

// ------------------------------------------------------------- log bench

/// A synthetic provision record about a random subject.
pub(crate) fn synthetic_record(i: u64) -> renkei_hub::ProvisionRecord {
    synthetic_record_for(i, renkei_hub::SubjectTag(renkei_ids::random_bytes::<32>()))
}

/// A synthetic provision record (pension service asking 世田谷区 for
/// income) about `subject`; `i` only varies its request time.
pub(crate) fn synthetic_record_for(i: u64, subject: renkei_hub::SubjectTag) -> renkei_hub::ProvisionRecord {
    use renkei_hub::{Outcome, ProvisionRecord};
    ProvisionRecord {
        leaf: renkei_hub::LogLeaf {
            query_id: QueryId::random(),
            message_id: MessageId::random(),
            request_digest: renkei_ids::random_bytes::<32>(),
            requester: PENSION.id(),
            provider: SETAGAYA.id(),
            office_work: OfficeWorkCode::parse("pension_premium_exemption").expect("static code"),
            item: ItemCode::parse("resident_tax_income").expect("static code"),
            fiscal_year: Some(FiscalYear::new(2025).expect("static year")),
            table_row: Some(TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0201").expect("static row"),
            }),
            commitment: Some(renkei_ids::random_bytes::<32>()),
            consent_commitment: None,
            requested_at: UnixMillis::now().plus_ms(-(i as i64 % 1000)),
            provided_at: Some(UnixMillis::now()),
            outcome: Outcome::Provided,
            non_disclosure: false,
            hidden_until: None,
            hidden_reason: None,
        },
        subject: Some(subject),
        consent: None,
    }
}

/// A fresh schema on a PostgreSQL server for one benchmark run, dropped
/// (with its disk) by [`PgSchema::drop`].
#[derive(Debug)]
pub(crate) struct PgSchema {
    pub(crate) base: String,
    pub(crate) name: String,
    /// `base` selecting the schema.
    pub(crate) url: String,
}

impl PgSchema {
    pub(crate) async fn create(base: &str, purpose: &str) -> Result<Self> {
        let name = format!("renkei_bench_{purpose}_{:012x}", fastrand::u64(..1 << 48));
        let url = renkei_store_postgres::schema_url(base, &name)
            .await
            .context("--database-url")?;
        Ok(Self {
            base: base.to_owned(),
            name,
            url,
        })
    }

    /// `DROP SCHEMA … CASCADE`: the run's tables and their disk are gone.
    pub(crate) async fn drop(&self) -> Result<()> {
        renkei_store_postgres::drop_schema(&self.base, &self.name)
            .await
            .with_context(|| format!("dropping the benchmark schema {}", self.name))
    }

    /// "PostgreSQL 15.2 (shared_buffers 128MB, …)" for a report.
    pub(crate) async fn describe_server(&self) -> String {
        match renkei_store_postgres::server_settings(
            &self.base,
            &["shared_buffers", "synchronous_commit", "fsync", "max_wal_size"],
        )
        .await
        {
            Ok(s) => {
                let mut it = s.into_iter();
                let version = it.next().map(|(_, v)| v).unwrap_or_default();
                let rest: Vec<String> = it.map(|(k, v)| format!("{k}={v}")).collect();
                format!("PostgreSQL {version} ({})", rest.join(", "))
            }
            Err(e) => format!("PostgreSQL (settings unreadable: {e})"),
        }
    }
}

/// A database URL for a report: the password, if any, is not shown.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
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

/// One store's figures in the log benchmark.
#[derive(Debug)]
struct LogRun {
    single_n: u64,
    single: f64,
    grouped: f64,
    size: u64,
    gen_t: Vec<Duration>,
    ver_t: Vec<Duration>,
    min_len: usize,
    max_len: usize,
}

async fn log_run<S: renkei_hub::HubStore + Clone>(
    store: &S,
    records: u64,
    concurrency: usize,
) -> Result<LogRun> {
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
    Ok(LogRun {
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

fn us(v: &[Duration], p: f64) -> f64 {
    percentile(v, p) * 1000.0
}

/// `renkei bench log`: durable appends per second with group commit (and
/// without, as the baseline), then inclusion-proof generation from the store
/// and verification. With `database_url` the same run measures the SQLite
/// store and then the PostgreSQL one (in a fresh schema, dropped at the
/// end) and reports them side by side.
pub async fn log(records: u64, concurrency: usize, database_url: Option<&str>) -> Result<String> {
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
                Some((run, pg.describe_server().await))
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

    let mut out = String::new();
    let machine = format!(
        "{} × {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::env::consts::ARCH,
    );
    let Some((pg, server)) = postgres else {
        let s = &sqlite;
        let _ = writeln!(
            out,
            "## Log: durable appends and proofs ({})\n",
            UnixMillis::now()
        );
        let _ = writeln!(
            out,
            "- machine: {machine}\n- command: `renkei bench log --records {records} --concurrency {concurrency}`\n- store: SQLite, WAL, synchronous=FULL (an fsync per commit); each append writes the record, its leaf and the tree nodes it completes in one group-commit transaction\n",
        );
        let _ = writeln!(
            out,
            "| appenders | records | durable appends/s | ratio to 1 appender |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        let _ = writeln!(
            out,
            "| 1 (baseline: one fsync each) | {} | {:.0} | 1.0 |",
            s.single_n, s.single
        );
        let _ = writeln!(
            out,
            "| {concurrency} (group commit) | {records} | {:.0} | {:.1} |",
            s.grouped,
            s.grouped / s.single
        );
        let _ = writeln!(
            out,
            "\nInclusion proofs in a log of {} leaves (1,000 random leaves; proof length {}–{} hashes):\n",
            s.size, s.min_len, s.max_len
        );
        let _ = writeln!(out, "| | p50 µs | p99 µs |");
        let _ = writeln!(out, "|---|---|---|");
        let _ = writeln!(
            out,
            "| generate (from the store) | {:.0} | {:.0} |",
            us(&s.gen_t, 0.5),
            us(&s.gen_t, 0.99)
        );
        let _ = writeln!(
            out,
            "| verify | {:.1} | {:.1} |",
            us(&s.ver_t, 0.5),
            us(&s.ver_t, 0.99)
        );
        return Ok(out);
    };

    let s = &sqlite;
    let _ = writeln!(
        out,
        "## Log: durable appends and proofs, SQLite and PostgreSQL ({})\n",
        UnixMillis::now()
    );
    let _ = writeln!(
        out,
        "- machine: {machine}\n- command: `renkei bench log --records {records} --concurrency {concurrency} --database-url {}`\n- SQLite: WAL, synchronous=FULL (an fsync per commit), a temporary file\n- PostgreSQL: {server}, a fresh schema dropped after the run; one transaction per group-commit batch (≤ 1024 records) locking the `log_state` row\n- both: each append writes the record, its leaf and the tree nodes it completes in one group-commit transaction; the same records, appenders and proofs, one store after the other\n",
        redact_url(database_url.unwrap_or_default()),
    );
    let _ = writeln!(out, "| | SQLite | PostgreSQL | ratio PostgreSQL / SQLite |");
    let _ = writeln!(out, "|---|---|---|---|");
    let row = |out: &mut String, what: &str, a: f64, b: f64, prec: usize| {
        let _ = writeln!(out, "| {what} | {a:.prec$} | {b:.prec$} | {:.2} |", b / a);
    };
    row(
        &mut out,
        &format!("durable appends/s, 1 appender ({} records)", s.single_n),
        s.single,
        pg.single,
        0,
    );
    row(
        &mut out,
        &format!("durable appends/s, {concurrency} appenders, group commit ({records} records)"),
        s.grouped,
        pg.grouped,
        0,
    );
    let _ = writeln!(
        out,
        "| group commit ÷ 1 appender | {:.1} | {:.1} | |",
        s.grouped / s.single,
        pg.grouped / pg.single
    );
    row(
        &mut out,
        "proof generation from the store, p50 µs",
        us(&s.gen_t, 0.5),
        us(&pg.gen_t, 0.5),
        0,
    );
    row(
        &mut out,
        "proof generation from the store, p99 µs",
        us(&s.gen_t, 0.99),
        us(&pg.gen_t, 0.99),
        0,
    );
    row(
        &mut out,
        "proof verification, p50 µs",
        us(&s.ver_t, 0.5),
        us(&pg.ver_t, 0.5),
        1,
    );
    let _ = writeln!(
        out,
        "\nProofs: 1,000 random leaves of a log of {} leaves on each store (proof length {}–{} hashes).",
        s.size,
        s.min_len.min(pg.min_len),
        s.max_len.max(pg.max_len)
    );
    Ok(out)
}
