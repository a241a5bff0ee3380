//! `renkei audit verify`: check the transparency log of provision records,
//! from its public tiles or from a hub's store.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use renkei_hub_service::audit::{AuditReport, HttpTiles, StoreTiles, verify};
use renkei_log::NoteVerifier;
use renkei_store_sql::StoreConfig;

use crate::args::{DATABASE_URL_ENV, init_tracing, key_arg};

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify signatures, cosignatures, tiles and consistency of the log.
    /// The log is read from --log, else from a hub's SQLite store in
    /// --data-dir, else from a hub's PostgreSQL database (--database-url).
    Verify {
        /// The log's URL prefix (e.g. https://127.0.0.1:8443/log).
        #[arg(long, conflicts_with = "data_dir")]
        log: Option<String>,
        /// Or a hub's data directory (reads hub.sqlite).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Or a hub's PostgreSQL database (postgres://user@host/db); used
        /// only when neither --log nor --data-dir is given.
        #[arg(long, env = DATABASE_URL_ENV)]
        database_url: Option<String>,
        /// The CA certificate to trust for the log's TLS.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// The log's note verifier key, or @FILE holding it.
        #[arg(long)]
        key: String,
        /// A witness cosignature key that must have cosigned (repeatable).
        #[arg(long)]
        witness: Vec<String>,
        /// An older checkpoint (note file) the log must be consistent with.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
}

pub(crate) async fn run(cmd: AuditCommand) -> Result<()> {
    let AuditCommand::Verify {
        log,
        data_dir,
        database_url,
        ca,
        key,
        witness,
        checkpoint,
    } = cmd;
    init_tracing("warn");
    let log_key = NoteVerifier::parse(&key_arg(&key)?).context("--key")?;
    let witnesses = witness
        .iter()
        .map(|w| NoteVerifier::parse(&key_arg(w)?).context("--witness"))
        .collect::<Result<Vec<_>>>()?;
    let older = checkpoint
        .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let report = match (log, data_dir, database_url) {
        (Some(url), _, _) => {
            let ca = ca.context("--ca is needed with --log")?;
            let pem = std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?;
            let src = HttpTiles::new(&url, &pem).map_err(|e| anyhow::anyhow!(e))?;
            verify(&src, &log_key, &witnesses, older.as_deref()).await
        }
        (None, data_dir, database_url) => {
            let config = match (data_dir, database_url) {
                (Some(dir), _) => {
                    let path = if dir.join("hub.sqlite").exists() {
                        dir.join("hub.sqlite")
                    } else {
                        dir.join("hub").join("hub.sqlite")
                    };
                    StoreConfig::new(None, path)
                }
                (None, Some(url)) => StoreConfig::Postgres { url },
                (None, None) => bail!("give --log URL, --data-dir DIR or --database-url URL"),
            };
            let store = config.open_hub().await?;
            verify(&StoreTiles(&store), &log_key, &witnesses, older.as_deref()).await
        }
    };
    match report {
        Ok(r) => {
            println!("{}", verified(&r));
            Ok(())
        }
        Err(e) => bail!("log verification FAILED: {e}"),
    }
}

fn verified(r: &AuditReport) -> String {
    format!(
        "log verified: size {}, {} entries checked, {} pruned (hashes checked){}{}",
        r.size,
        r.entries_checked,
        r.entries_pruned,
        if r.cosigned_by.is_empty() {
            String::new()
        } else {
            format!(", cosigned by {}", r.cosigned_by.join(", "))
        },
        r.consistent_with
            .map(|m| format!(", consistent with the checkpoint of size {m}"))
            .unwrap_or_default()
    )
}
