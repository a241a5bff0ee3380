//! The soak: every role as a process of the `renkei` binary under the
//! fault tests' mixed load for a long time, sampled at intervals — each
//! role's resident memory and open file handles, and the linkages' rate
//! and latency — so a leak or a slow drift shows as a trend.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use renkei_demo::country::{CountryOptions, populate};
use renkei_demo::load::Load;
use renkei_demo::network::{Network, NetworkOptions};
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

use crate::measure::{memory, percentile};

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub minutes: f64,
    pub sample_secs: u64,
    pub residents: usize,
    /// `--sqlite-cache-mib` of every role (the roles' default if none).
    pub sqlite_cache_mib: Option<u32>,
    /// The `renkei` binary every role runs as.
    pub binary: PathBuf,
    pub progress: bool,
}

/// One role's use of the machine at a sample.
#[derive(Debug, Clone)]
pub struct RoleUse {
    pub role: String,
    pub rss_kib: u64,
    pub fds: usize,
}

/// One interval of the soak.
#[derive(Debug, Clone)]
pub struct SoakSample {
    /// Seconds since the load started, at the end of the interval.
    pub at_secs: u64,
    pub linkages: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Requests of every kind refused or failed in the interval.
    pub failed: u64,
    pub roles: Vec<RoleUse>,
}

#[derive(Debug, Clone)]
pub struct SoakRun {
    pub date: UnixMillis,
    pub options: SoakOptions,
    pub samples: Vec<SoakSample>,
    pub acknowledged: usize,
    pub failures: std::collections::BTreeMap<String, u64>,
}

/// What `/proc` says of one process: resident memory and open files.
fn role_use(role: &str, pid: u32) -> RoleUse {
    let rss_kib = memory(Some(pid)).map_or(0, |m| m.rss_kib);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    RoleUse {
        role: role.to_owned(),
        rss_kib,
        fds,
    }
}

pub async fn soak(options: &SoakOptions) -> Result<SoakRun> {
    let dir = tempfile::tempdir()?;
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.hub_binary = Some(options.binary.clone());
    if let Some(mib) = options.sqlite_cache_mib {
        o.process_env
            .push(("RENKEI_SQLITE_CACHE_MIB".into(), mib.to_string()));
    }
    o.durability = Durability::Normal; // only while populating: the processes run FULL
    let net = Network::start(o).await.context("starting the network")?;
    let country = populate(
        &net,
        &CountryOptions {
            residents: options.residents,
            seed: 2026,
            today: UnixMillis::now().to_datetime().date(),
            progress: options.progress,
        },
    )
    .await?;
    let net = net.into_processes(&options.binary).await?;
    let load = Load::start(&net.load_targets(), &country, 2)?;
    let total = Duration::from_secs_f64(options.minutes * 60.0);
    let every = Duration::from_secs(options.sample_secs.max(1));
    let bar = options.progress.then(|| {
        let b = indicatif::ProgressBar::new(total.as_secs());
        b.set_style(
            indicatif::ProgressStyle::with_template("soak {bar:40} {pos}/{len} s {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let began = Instant::now();
    let mut samples = Vec::new();
    let mut failed_before = 0;
    while began.elapsed() < total {
        tokio::time::sleep(every.min(total.saturating_sub(began.elapsed()))).await;
        let mut lat = load.tally.take_latencies();
        lat.sort();
        let failed_now = load.tally.failed_total();
        let roles = net
            .pids()
            .into_iter()
            .map(|(role, pid)| role_use(&role, pid))
            .collect();
        let at = began.elapsed();
        let window = every.as_secs_f64();
        samples.push(SoakSample {
            at_secs: at.as_secs(),
            linkages: lat.len(),
            per_second: lat.len() as f64 / window,
            p50_ms: percentile(&lat, 0.5),
            p99_ms: percentile(&lat, 0.99),
            failed: failed_now - failed_before,
            roles,
        });
        failed_before = failed_now;
        if let Some(b) = &bar {
            b.set_position(at.as_secs());
            if let Some(s) = samples.last() {
                b.set_message(format!("{:.0}/s p99 {:.1} ms", s.per_second, s.p99_ms));
            }
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    let tally = load.stop().await;
    let run = SoakRun {
        date: UnixMillis::now(),
        options: options.clone(),
        samples,
        acknowledged: tally.acknowledged(),
        failures: tally.failures(),
    };
    net.shutdown().await;
    Ok(run)
}
