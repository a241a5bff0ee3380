//! `renkei bench scale`: the price of trust (through the hub vs direct)
//! with the stores on SQLite and on PostgreSQL, and one hub process vs
//! two behind a balancer — side by side in one run, the hub always as its
//! own process so the configurations differ only in what they compare.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Result, bail};
use renkei_protocol::UnixMillis;

use crate::bench::{BenchOptions, Measure, cpu_model, linkage_rounds};

#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub linkage: BenchOptions,
    /// A PostgreSQL database (each configuration gets fresh schemas).
    pub database_url: String,
    /// The `renkei` binary, to run the hubs as processes.
    pub hub_binary: PathBuf,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub async fn scale(opts: &ScaleOptions) -> Result<String> {
    if !(opts.database_url.starts_with("postgres://") || opts.database_url.starts_with("postgresql://")) {
        bail!("--database-url must be a postgres:// URL");
    }
    let configs: [(&str, Option<&str>, usize); 3] = [
        ("SQLite, 1 hub", None, 1),
        ("PostgreSQL, 1 hub", Some(opts.database_url.as_str()), 1),
        (
            "PostgreSQL, 2 hubs behind a balancer",
            Some(opts.database_url.as_str()),
            2,
        ),
    ];
    let mut results: Vec<(&str, Vec<(Measure, Measure)>)> = Vec::new();
    for (name, db, hubs) in configs {
        tracing::info!(configuration = name, "measuring");
        let rows = linkage_rounds(&opts.linkage, |o| {
            o.hub_binary = Some(opts.hub_binary.clone());
            o.database_url = db.map(str::to_owned);
            o.hubs = hubs;
        })
        .await?;
        results.push((name, rows));
    }

    let l = &opts.linkage;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Scale-out: price of trust on SQLite and PostgreSQL, 1 and 2 hubs ({})\n",
        UnixMillis::now()
    );
    let _ = writeln!(
        out,
        "- machine: {} × {}, {}\n- command: `renkei bench scale --database-url … --requests {} --concurrency {} --rounds {}`\n- setup: as `bench linkage`, but the hub runs as its own process in every configuration (two processes on one database behind `renkei hub balance`'s TCP balancer in the last); the requester spreads its requests over {} connections; every store durable (SQLite FULL, PostgreSQL default fsync); registry and nodes in the benchmark's process\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::env::consts::ARCH,
        l.requests,
        l.concurrency,
        l.rounds,
        l.concurrency.clamp(1, 8),
    );
    let _ = writeln!(
        out,
        "| configuration | direct req/s | hub req/s | hub p50 ms | hub p99 ms | price of trust (hub/direct) | hub req/s vs SQLite, 1 hub |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let base = median(results[0].1.iter().map(|(_, h)| h.per_second).collect());
    for (name, rows) in &results {
        let direct = median(rows.iter().map(|(d, _)| d.per_second).collect());
        let hub = median(rows.iter().map(|(_, h)| h.per_second).collect());
        let p50 = median(rows.iter().map(|(_, h)| h.p50_ms).collect());
        let p99 = median(rows.iter().map(|(_, h)| h.p99_ms).collect());
        let ratio = median(rows.iter().map(|(d, h)| h.per_second / d.per_second).collect());
        let _ = writeln!(
            out,
            "| {name} | {direct:.0} | {hub:.0} | {p50:.2} | {p99:.2} | {ratio:.2} | {:.2} |",
            hub / base
        );
    }
    let _ = writeln!(out, "\n(Medians over {} rounds of each path.)", l.rounds);
    Ok(out)
}
