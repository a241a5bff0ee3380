//! `renkei bench enrol`: register a population at the registry and enrol
//! every person at ten institutions, through the real network (local API →
//! node → hub → registry, codes issued and stored), on SQLite or
//! PostgreSQL. Measures the time, the rate, and the memory of the hub
//! process (which must not grow with the population) and of the rest.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressDrawTarget};
use renkei_api::node::EnrolPerson;
use renkei_demo::country::{bar, enrol_all, register_residents};
use renkei_demo::institutions::{BENCH_NODES, NODES};
use renkei_demo::network::{Network, NetworkOptions};
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

use crate::measure::memory;

/// What to run; the report repeats it as its command line.
#[derive(Debug, Clone)]
pub struct EnrolOptions {
    pub people: usize,
    /// Every role on this PostgreSQL database (one schema each) instead of
    /// SQLite files.
    pub database_url: Option<String>,
    /// The `renkei` binary: the hub runs as its own process so that its
    /// memory is measured apart from the nodes'.
    pub hub_binary: PathBuf,
    pub progress: bool,
    /// Seal the registry's and nodes' personal data at rest (the demo's
    /// default); `false` measures the stores in clear.
    pub encrypt_at_rest: bool,
}

/// A process's memory at one moment, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident set (VmRSS).
    pub rss_kib: u64,
    /// Peak resident set so far (VmHWM).
    pub peak_kib: u64,
}

/// What `renkei bench enrol` measured, for [`crate::report::render_enrol`].
#[derive(Debug, Clone)]
pub struct EnrolRun {
    pub options: EnrolOptions,
    /// When the network had shut down.
    pub date: UnixMillis,
    /// People generated, then registered.
    pub people: usize,
    pub generated: Duration,
    pub registered: Duration,
    /// Enrolments at all ten institutions together.
    pub enrolled: usize,
    pub enrolling: Duration,
    /// The hub process's memory; `None` where /proc could not tell.
    pub hub_start: Option<Memory>,
    pub hub_after_registration: Option<Memory>,
    pub hub_end: Option<Memory>,
    /// This process's memory at the end.
    pub own: Option<Memory>,
    /// (enrolments done, hub resident set in KiB), every half second.
    pub samples: Vec<(u64, u64)>,
}

/// Register and enrol `opts.people` (at least 1,000) through the network.
pub async fn enrol(opts: &EnrolOptions) -> Result<EnrolRun> {
    if opts.people < 1000 {
        bail!("--people must be at least 1000");
    }
    let dir = tempfile::Builder::new().prefix("renkei-bench-enrol-").tempdir()?;
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.durability = Durability::Full;
    o.hub_binary = Some(opts.hub_binary.clone());
    o.database_url = opts.database_url.clone();
    o.extra_nodes = BENCH_NODES.to_vec();
    o.encrypt_at_rest = opts.encrypt_at_rest;
    let net = Network::start(o).await?;
    let hub_pid = net.hub.process_ids().first().copied();
    let multi = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });

    let t = Instant::now();
    let people = renkei_population::generate(
        2026,
        opts.people,
        &[renkei_population::SETAGAYA, renkei_population::YOKOHAMA_NAKA],
        UnixMillis::now().to_datetime().date(),
    );
    let generated = t.elapsed();

    let hub_start = memory(hub_pid);
    let pb = bar(&multi, people.len() as u64, "registering residents");
    let t = Instant::now();
    let my_numbers = register_residents(&net, &people, |_| None, &pb).await?;
    let registered = t.elapsed();
    pb.finish_with_message("registered");
    let hub_after_registration = memory(hub_pid);

    // Sample the hub's memory while the ten institutions enrol everyone.
    let done = Arc::new(AtomicBool::new(false));
    let enrolled_so_far = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, so_far) = (done.clone(), enrolled_so_far.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(m) = memory(hub_pid) {
                    samples.push((so_far.load(Ordering::Relaxed), m.rss_kib));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            samples
        })
    };
    let specs: Vec<_> = NODES.iter().chain(&BENCH_NODES).copied().collect();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for spec in &specs {
        let entries: Vec<EnrolPerson> = people
            .iter()
            .zip(&my_numbers)
            .enumerate()
            .map(|(i, (r, n))| EnrolPerson {
                local_id: format!("{}-{i:08}", spec.key),
                my_number: n.clone(),
                name: r.name.to_string(),
                address: r.address.to_string(),
                birth_date: r.birth_date.to_string(),
                sex: r.sex.iso5218(),
            })
            .collect();
        let pb = bar(&multi, entries.len() as u64, &format!("enrolling {}", spec.key));
        let client = net.node(spec.key).local.clone();
        let so_far = enrolled_so_far.clone();
        tasks.push((
            spec.key,
            tokio::spawn(async move {
                let progress = pb.clone();
                let watch = tokio::spawn(async move {
                    let mut last = 0;
                    loop {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let now = progress.position();
                        so_far.fetch_add(now - last, Ordering::Relaxed);
                        last = now;
                        if progress.is_finished() {
                            return;
                        }
                    }
                });
                let r = enrol_all(client, entries, pb).await;
                let _ = watch.await;
                r
            }),
        ));
    }
    let mut enrolled = 0usize;
    let mut refused = 0usize;
    for (key, task) in tasks {
        let r = task
            .await
            .context("enrolment task")?
            .with_context(|| format!("enrolling at {key}"))?;
        enrolled += r.enrolled.len();
        refused += r.refused.len();
    }
    let enrolling = t.elapsed();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.context("memory sampler")?;
    let hub_end = memory(hub_pid);
    let own = memory(None);
    net.shutdown().await;
    if refused > 0 {
        bail!("{refused} enrolments were refused; the benchmark expects every person to enrol");
    }

    Ok(EnrolRun {
        options: opts.clone(),
        date: UnixMillis::now(),
        people: people.len(),
        generated,
        registered,
        enrolled,
        enrolling,
        hub_start,
        hub_after_registration,
        hub_end,
        own,
        samples,
    })
}
