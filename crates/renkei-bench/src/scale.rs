//! `renkei bench scale`: the price of trust (through the hub vs direct)
//! with the stores on SQLite and on PostgreSQL, and one hub process vs
//! two behind a balancer — side by side in one run, the hub always as its
//! own process so the configurations differ only in what they compare.

use std::path::PathBuf;

use anyhow::{Result, bail};
use renkei_protocol::UnixMillis;

use crate::linkage::{LinkageOptions, linkage_rounds};
use crate::measure::Measure;

/// What to run; the report repeats it as its command line.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub linkage: LinkageOptions,
    /// A PostgreSQL database (each configuration gets fresh schemas).
    pub database_url: String,
    /// The `renkei` binary, to run the hubs as processes.
    pub hub_binary: PathBuf,
}

/// What `renkei bench scale` measured, for [`crate::report::render_scale`].
#[derive(Debug, Clone)]
pub struct ScaleRun {
    pub options: ScaleOptions,
    /// When the last configuration was measured.
    pub date: UnixMillis,
    /// SQLite with 1 hub first: the report compares the others with it.
    pub configurations: Vec<ScaleConfiguration>,
}

/// One configuration's rounds, as [`crate::linkage::LinkageRun::rows`].
#[derive(Debug, Clone)]
pub struct ScaleConfiguration {
    pub name: &'static str,
    pub rows: Vec<(Measure, Measure)>,
}

/// Run the linkage benchmark on each configuration in turn.
pub async fn scale(opts: &ScaleOptions) -> Result<ScaleRun> {
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
    let mut configurations = Vec::new();
    for (name, db, hubs) in configs {
        tracing::info!(configuration = name, "measuring");
        let rows = linkage_rounds(&opts.linkage, |o| {
            o.hub_binary = Some(opts.hub_binary.clone());
            o.database_url = db.map(str::to_owned);
            o.hubs = hubs;
        })
        .await?;
        configurations.push(ScaleConfiguration { name, rows });
    }
    Ok(ScaleRun {
        options: opts.clone(),
        date: UnixMillis::now(),
        configurations,
    })
}
