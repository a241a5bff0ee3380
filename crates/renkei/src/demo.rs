//! `renkei demo`: a whole small country on loopback.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use renkei_demo::demo::{DemoOptions, how_to_reach};

use crate::args::{DATABASE_URL_ENV, DurabilityArg, SuiteArg, init_tracing, wait_for_shutdown};

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Where the network's files and stores go (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How many residents to generate.
    #[arg(long, default_value_t = 10_000)]
    residents: usize,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// The network's signature and encryption suite.
    #[arg(long, value_enum, default_value = "ed25519-x25519")]
    suite: SuiteArg,
    /// When the SQLite stores' commits reach the disk.
    #[arg(long, value_enum, default_value = "full")]
    durability: DurabilityArg,
    /// Run every role on this PostgreSQL database (one schema per role)
    /// instead of SQLite files (postgres://user@host/db).
    #[arg(long, env = DATABASE_URL_ENV)]
    database_url: Option<String>,
    /// Stop after the scenarios; exit status 0 only if every one behaved as expected.
    #[arg(long)]
    exit: bool,
}

pub(crate) async fn run(a: DemoArgs) -> Result<()> {
    init_tracing("warn");
    if a.residents < renkei_demo::country::MIN_RESIDENTS {
        bail!(
            "--residents must be at least {} so every scenario finds its cast",
            renkei_demo::country::MIN_RESIDENTS
        );
    }
    let run = renkei_demo::demo::run(DemoOptions {
        data_dir: a.data_dir,
        residents: a.residents,
        seed: a.seed,
        suite: a.suite.into(),
        durability: a.durability.into(),
        database_url: a.database_url,
        progress: true,
        print: true,
    })
    .await?;
    let ok = run.all_passed();
    if a.exit {
        run.network.shutdown().await;
        if !ok {
            bail!("some scenarios did not behave as expected");
        }
        return Ok(());
    }
    println!("{}", how_to_reach(&run));
    wait_for_shutdown().await;
    run.network.shutdown().await;
    Ok(())
}
