//! What several command groups share: the role's configuration, where its
//! store lives, the cryptographic suite, tracing and shutdown.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use renkei_crypto::Suite;
use renkei_store_sql::StoreConfig;
use renkei_store_sqlite::Durability;

/// The environment variable every `--database-url` reads.
pub(crate) const DATABASE_URL_ENV: &str = "RENKEI_DATABASE_URL";

/// The environment variable every `--sqlite-cache-mib` reads.
pub(crate) const SQLITE_CACHE_ENV: &str = "RENKEI_SQLITE_CACHE_MIB";

/// A role's configuration file, for commands that open no store.
#[derive(Args)]
pub(crate) struct ConfigArg {
    /// The role's TOML configuration.
    #[arg(long)]
    pub(crate) config: PathBuf,
}

/// Where a serving role keeps its store.
#[derive(Args)]
pub(crate) struct StoreArgs {
    /// Path of the SQLite store (default: next to the configuration).
    #[arg(long)]
    pub(crate) store: Option<PathBuf>,
    /// A PostgreSQL database instead of the SQLite file
    /// (postgres://user@host/db). Several hubs may share one.
    #[arg(long, env = DATABASE_URL_ENV, conflicts_with = "store")]
    pub(crate) database_url: Option<String>,
    /// SQLite page cache per connection, MiB (a store holds up to six
    /// connections; default 32). Smaller bounds memory on a small machine
    /// at the cost of reads from the OS cache.
    #[arg(
        long,
        env = SQLITE_CACHE_ENV,
        value_parser = clap::value_parser!(u32).range(1..=4096),
        conflicts_with = "database_url"
    )]
    pub(crate) sqlite_cache_mib: Option<u32>,
}

/// `… serve`: the configuration and the store it opens.
#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

impl ServeArgs {
    /// Where the role's store lives: `--database-url`, else the SQLite
    /// file `--store`, else `name` next to the configuration.
    /// `--sqlite-cache-mib` applies to every SQLite connection the
    /// process opens from here on.
    pub(crate) fn store_config(&self, name: &str) -> StoreConfig {
        if let Some(mib) = self.store.sqlite_cache_mib {
            renkei_store_sqlite::set_page_cache_mib(mib);
        }
        StoreConfig::new(self.store.database_url.as_deref(), self.sqlite_path(name))
    }

    fn sqlite_path(&self, name: &str) -> PathBuf {
        self.store.store.clone().unwrap_or_else(|| {
            self.config
                .config
                .parent()
                .map_or_else(|| PathBuf::from(name), |d| d.join(name))
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SuiteArg {
    /// Ed25519 + HPKE(X25519) — the default.
    #[value(name = "ed25519-x25519")]
    Ed25519X25519,
    /// ECDSA P-256 + HPKE(DHKEM(P-256), AES-128-GCM) — CRYPTREC-listed primitives.
    #[value(name = "nist-p256")]
    NistP256,
}

impl From<SuiteArg> for Suite {
    fn from(s: SuiteArg) -> Self {
        match s {
            SuiteArg::Ed25519X25519 => Suite::Ed25519X25519,
            SuiteArg::NistP256 => Suite::NistP256,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DurabilityArg {
    /// fsync every commit: survives power loss.
    Full,
    /// fsync at checkpoints: survives a crash of the process only.
    Normal,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::Full => Durability::Full,
            DurabilityArg::Normal => Durability::Normal,
        }
    }
}

pub(crate) fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub(crate) fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid configuration", path.display()))
}

/// The role's data key, if its configuration names one.
pub(crate) fn data_key(path: Option<&Path>) -> Result<Option<renkei_crypto::DataKey>> {
    Ok(path.map(renkei_pki::provision::read_data_key).transpose()?)
}

/// A key given on the command line, or `@FILE` holding it.
pub(crate) fn key_arg(key: &str) -> Result<String> {
    match key.strip_prefix('@') {
        Some(file) => Ok(std::fs::read_to_string(file)
            .with_context(|| format!("reading {file}"))?
            .trim()
            .to_owned()),
        None => Ok(key.to_owned()),
    }
}

pub(crate) async fn wait_for_shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopping");
}
