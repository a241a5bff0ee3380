//! `renkei node …`: serve, and load items and people through the local API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use renkei_api::node::ImportResult;
use renkei_catalog::Catalog;
use renkei_node::{ImportError, ImportFormat, parse_import};
use renkei_node_service::{NodeSettings, start_node};
use renkei_protocol::UnixMillis;

use crate::args::{ConfigArg, ServeArgs, data_key, init_tracing, read_config, wait_for_shutdown};

#[derive(Subcommand)]
pub(crate) enum NodeCommand {
    /// Serve a node.
    Serve(ServeArgs),
    /// Import a JSONL or CSV file of items through the node's local API.
    Import {
        #[command(flatten)]
        config: ConfigArg,
        /// The file (.jsonl or .csv).
        file: PathBuf,
    },
    /// Enrol the people of a JSONL or CSV file (local_id, my_number, name,
    /// address, birth_date, sex) through the node's local API, in batches.
    Enrol {
        #[command(flatten)]
        config: ConfigArg,
        /// The file (.jsonl or .csv).
        file: PathBuf,
        /// People per request to the node.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch: u32,
    },
}

pub(crate) async fn run(cmd: NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Serve(arg) => {
            init_tracing("info");
            let settings: NodeSettings = read_config(&arg.config.config)?;
            let key = data_key(settings.data_key.as_deref())?;
            let store = arg.store_config("node.sqlite").open_node(key.as_ref()).await?;
            serve(&settings, store).await
        }
        NodeCommand::Enrol { config, file, batch } => {
            init_tracing("warn");
            let settings: NodeSettings = read_config(&config.config)?;
            enrol_file(&settings, &file, batch as usize).await
        }
        NodeCommand::Import { config, file } => {
            init_tracing("warn");
            let settings: NodeSettings = read_config(&config.config)?;
            import(&settings, &file).await
        }
    }
}

async fn serve<S: renkei_node::NodeStore + Clone>(settings: &NodeSettings, store: S) -> Result<()> {
    let node = start_node(settings, store).await?;
    eprintln!(
        "node {} serving on {} (local API {})",
        settings.institution,
        node.network.url(),
        node.local.url()
    );
    wait_for_shutdown().await;
    node.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// The file's format, from its name.
fn file_format(name: &str) -> Result<ImportFormat> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Ok(ImportFormat::Csv)
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        Ok(ImportFormat::Jsonl)
    } else {
        bail!("{name}: give a .jsonl or .csv file")
    }
}

/// Read a whole file behind a progress bar, for the local check.
fn read_with_progress(file: &Path) -> Result<(String, Vec<u8>, ProgressBar)> {
    let name = file.display().to_string();
    let bytes = std::fs::read(file).with_context(|| format!("reading {name}"))?;
    let pb = ProgressBar::new(bytes.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("checking {msg} [{bar:30}] {bytes}/{total_bytes}")?
            .progress_chars("=> "),
    );
    pb.set_message(name.clone());
    Ok((name, bytes, pb))
}

/// Parse locally with a progress bar (so a bad file is reported before it
/// is sent), then send it whole to the local API, which imports it in one
/// transaction.
async fn import(settings: &NodeSettings, file: &Path) -> Result<()> {
    let format = file_format(&file.display().to_string())?;
    let (name, bytes, pb) = read_with_progress(file)?;
    let catalog = catalog(settings)?;
    let reader = std::io::BufReader::new(pb.wrap_read(bytes.as_slice()));
    let parsed = match parse_import(format, reader, &catalog, &settings.kind, UnixMillis::now()) {
        Ok(p) => p,
        Err(ImportError::Rejected(report)) => bail!("{name}: {report}"),
        Err(ImportError::Read(e)) => bail!("{name}: {e}"),
    };
    pb.finish();
    eprintln!("{} rows well formed; sending to the node", parsed.len());
    let client = local_client(settings, Duration::from_secs(600))?;
    let kind = match format {
        ImportFormat::Csv => "csv",
        ImportFormat::Jsonl => "jsonl",
    };
    let res: ImportResult = client
        .post_bytes(
            &format!("/local/v1/imports?format={kind}"),
            bytes,
            "application/octet-stream",
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("imported {} rows from {name}", res.imported);
    Ok(())
}

/// `renkei node enrol`: check the whole file, then send it in batches with
/// a progress bar; refusals are listed by local id (never a My Number).
async fn enrol_file(settings: &NodeSettings, file: &Path, batch: usize) -> Result<()> {
    use renkei_api::node::{EnrolPerson, EnrolRequest, EnrolResult};
    let format = file_format(&file.display().to_string())?;
    let (name, bytes, pb) = read_with_progress(file)?;
    let reader = std::io::BufReader::new(pb.wrap_read(bytes.as_slice()));
    let rows = match renkei_node::parse_enrolment(format, reader) {
        Ok(r) => r,
        Err(ImportError::Rejected(report)) => bail!("{name}: {report}; nothing was sent"),
        Err(ImportError::Read(e)) => bail!("{name}: {e}"),
    };
    pb.finish();
    let client = local_client(settings, Duration::from_secs(600))?;
    let pb = ProgressBar::new(rows.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("enrolling [{bar:30}] {pos}/{len} {per_sec} {msg}")?
            .progress_chars("=> "),
    );
    let (mut enrolled, mut refused) = (0usize, Vec::new());
    for chunk in rows.chunks(batch) {
        let persons = chunk
            .iter()
            .map(|r| EnrolPerson {
                local_id: r.local_id.as_str().to_owned(),
                my_number: r.my_number.expose(),
                name: r.name.as_str().to_owned(),
                address: r.address.as_str().to_owned(),
                birth_date: r.birth_date.to_string(),
                sex: r.sex.iso5218(),
            })
            .collect();
        let res: EnrolResult = client
            .post("/local/v1/persons", &EnrolRequest { persons })
            .await
            .map_err(|e| anyhow::anyhow!("the node refused a batch (after {enrolled} enrolled): {e}"))?;
        enrolled += res.enrolled.len();
        refused.extend(res.refused);
        pb.inc(chunk.len() as u64);
    }
    pb.finish_with_message("done");
    println!("enrolled {enrolled} of {} people from {name}", rows.len());
    if refused.is_empty() {
        return Ok(());
    }
    for r in refused.iter().take(100) {
        eprintln!("refused {}: {}: {}", r.local_id, r.code, r.message);
    }
    if refused.len() > 100 {
        eprintln!("… and {} more", refused.len() - 100);
    }
    bail!("{} people were refused; the others are enrolled", refused.len())
}

/// The node's local API, as its configuration describes it.
pub(crate) fn local_client(
    settings: &NodeSettings,
    timeout: Duration,
) -> Result<renkei_transport::LocalClient> {
    let token = renkei_transport::read_token_file(&settings.local_token)?;
    let ca = std::fs::read(&settings.tls.ca_cert)
        .with_context(|| format!("reading {}", settings.tls.ca_cert.display()))?;
    Ok(renkei_transport::LocalClient::new(
        &format!("https://{}", settings.local_listen),
        &ca,
        &token,
        timeout,
    )?)
}

fn catalog(settings: &NodeSettings) -> Result<Catalog> {
    let text = std::fs::read_to_string(&settings.catalog)
        .with_context(|| format!("reading {}", settings.catalog.display()))?;
    Catalog::parse(&text).with_context(|| format!("{} is not a valid catalog", settings.catalog.display()))
}
