//! `renkei bench enrol`: register a population at the registry and enrol
//! every person at ten institutions, through the real network (local API →
//! node → hub → registry, codes issued and stored), on SQLite or
//! PostgreSQL. Reports the time, the rate, and the peak memory of the hub
//! process (which must not grow with the population) and of the rest.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressDrawTarget};
use renkei_api::node::EnrolPerson;
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

use crate::bench::cpu_model;
use crate::country::{bar, enrol_all, register_residents};
use crate::institutions::{BENCH_NODES, NODES};
use crate::network::{Network, NetworkOptions};

#[derive(Debug, Clone)]
pub struct EnrolBenchOptions {
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

/// Resident and peak memory of a process, from /proc (Linux), in KiB.
fn memory_kib(pid: Option<u32>) -> Option<(u64, u64)> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub async fn enrol(opts: &EnrolBenchOptions) -> Result<String> {
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

    let hub_start = memory_kib(hub_pid);
    let pb = bar(&multi, people.len() as u64, "registering residents");
    let t = Instant::now();
    let my_numbers = register_residents(&net, &people, |_| None, &pb).await?;
    let registered = t.elapsed();
    pb.finish_with_message("registered");
    let hub_after_registration = memory_kib(hub_pid);

    // Sample the hub's memory while the ten institutions enrol everyone.
    let done = Arc::new(AtomicBool::new(false));
    let enrolled_so_far = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, so_far) = (done.clone(), enrolled_so_far.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some((rss, _)) = memory_kib(hub_pid) {
                    samples.push((so_far.load(Ordering::Relaxed), rss));
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
    let hub_end = memory_kib(hub_pid);
    let own = memory_kib(None);
    net.shutdown().await;
    if refused > 0 {
        bail!("{refused} enrolments were refused; the benchmark expects every person to enrol");
    }

    let mut out = String::new();
    let _ = writeln!(out, "## Enrolment at national scale ({})\n", UnixMillis::now());
    let _ = writeln!(
        out,
        "- machine: {} × {}, {}\n- command: `renkei bench enrol --people {}{}{}`\n- store: {}; personal data at the registry and nodes {}; every role durable (FULL); the hub in its own process\n- path: registry admin API (batches of 5,000), then each institution's local API (batches of 1,000) → node → hub code service → registry (four facts checked, codes issued) → node; all ten institutions at once\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::env::consts::ARCH,
        opts.people,
        if opts.database_url.is_some() {
            " --database-url …"
        } else {
            ""
        },
        if opts.encrypt_at_rest {
            ""
        } else {
            " --clear-stores"
        },
        if opts.database_url.is_some() {
            "PostgreSQL (one schema per role)"
        } else {
            "SQLite (one file per role)"
        },
        if opts.encrypt_at_rest {
            "sealed at rest (AES-256-GCM-SIV, blind indexes)"
        } else {
            "in clear"
        },
    );
    let _ = writeln!(out, "| phase | items | seconds | items/s |");
    let _ = writeln!(out, "|---|---|---|---|");
    let row = |out: &mut String, what: &str, n: usize, d: Duration| {
        let _ = writeln!(
            out,
            "| {what} | {n} | {:.1} | {:.0} |",
            d.as_secs_f64(),
            n as f64 / d.as_secs_f64()
        );
    };
    row(
        &mut out,
        "generate the population (no I/O)",
        people.len(),
        generated,
    );
    row(&mut out, "register residents", people.len(), registered);
    row(&mut out, "enrol at 10 institutions", enrolled, enrolling);
    let _ = writeln!(out, "\nMemory (resident set; peak = VmHWM):\n");
    let _ = writeln!(out, "| process | at start | after registration | end | peak |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let fmt = |m: Option<(u64, u64)>| m.map_or("–".to_owned(), |(rss, _)| format!("{:.0} MiB", mib(rss)));
    let _ = writeln!(
        out,
        "| hub | {} | {} | {} | {} |",
        fmt(hub_start),
        fmt(hub_after_registration),
        fmt(hub_end),
        hub_end.map_or("–".to_owned(), |(_, hwm)| format!("{:.0} MiB", mib(hwm)))
    );
    let _ = writeln!(
        out,
        "| this process (registry, 10 nodes, portal, witness, population in memory) | – | – | {} | {} |",
        fmt(own),
        own.map_or("–".to_owned(), |(_, hwm)| format!("{:.0} MiB", mib(hwm)))
    );
    if samples.len() >= 4 {
        let q = |f: f64| samples[((samples.len() - 1) as f64 * f) as usize];
        let _ = writeln!(
            out,
            "\nHub resident set while enrolling (enrolments done → RSS): {}",
            [0.0, 0.25, 0.5, 0.75, 1.0]
                .iter()
                .map(|f| {
                    let (n, rss) = q(*f);
                    format!("{n} → {:.0} MiB", mib(rss))
                })
                .collect::<Vec<_>>()
                .join(" · ")
        );
    }
    Ok(out)
}
