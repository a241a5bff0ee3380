//! The `renkei` binary: reads configuration, opens storage, starts HTTP.
//! Everything else lives in the library crates.

// A command-line program talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod card_cli;
mod client_cli;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use renkei_catalog::Catalog;
use renkei_crypto::Suite;
use renkei_demo::demo::{DemoOptions, how_to_reach};
use renkei_http::hub::{HubSettings, check_catalog, start_hub};
use renkei_http::node::{ImportResult, NodeSettings, start_node};
use renkei_http::registry::{RegistrySettings, start_registry};
use renkei_http::witness::{WitnessSettings, start_witness};
use renkei_ids::CorporateNumber;
use renkei_node::{ImportError, ImportFormat, parse_import};
use renkei_pki::{NetworkCa, RevocationReason, Role};
use renkei_protocol::UnixMillis;
use renkei_store_sql::StoreConfig;
use renkei_store_sqlite::{Durability, SqliteHubStore};

#[derive(Parser)]
#[command(
    name = "renkei",
    version,
    about = "A national personal-data linkage network: hub, registry and institution nodes over mutual TLS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole small country on loopback and show every flow.
    Demo(DemoArgs),
    /// The hub (情報提供ネットワークシステム).
    #[command(subcommand)]
    Hub(HubCommand),
    /// An institution node (中間サーバー).
    #[command(subcommand)]
    Node(NodeCommand),
    /// The resident registry (住基ネット / J-LIS).
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// The network CA: certificates and revocation.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// A witness that cosigns the hub's checkpoints (C2SP tlog-witness).
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Verify the transparency log of provision records.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// A person's own records in the log.
    #[command(subcommand)]
    Person(PersonCommand),
    /// The citizen portal (マイナポータル).
    #[command(subcommand)]
    Portal(PortalCommand),
    /// A software card (the smartphone app): keys, issuance, approvals, signatures.
    #[command(subcommand)]
    Card(card_cli::CardCommand),
    /// The self-information API's clients: applications and screening.
    #[command(subcommand)]
    Client(client_cli::ClientCommand),
    /// Benchmarks (results go to BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum PortalCommand {
    /// Serve the portal.
    Serve(ConfigArg),
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Serve a witness.
    Serve(ConfigArg),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify signatures, cosignatures, tiles and consistency of the log.
    Verify {
        /// The log's URL prefix (e.g. https://127.0.0.1:8443/log).
        #[arg(long, conflicts_with = "data_dir", required_unless_present = "data_dir")]
        log: Option<String>,
        /// Or a hub's data directory (reads hub.sqlite).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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

#[derive(Subcommand)]
enum PersonCommand {
    /// As the person at the portal's node: log in with the card (its PIN
    /// from RENKEI_CARD_PIN, else asked), and write the log key the hub
    /// hands over on that proof to a file (0600).
    Key {
        /// The portal node's configuration (a node of kind digital_agency).
        #[arg(long)]
        config: PathBuf,
        /// The person's software card directory.
        #[arg(long)]
        card: PathBuf,
        /// Where to write the key (created; refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// As the person: list my records, each checked against the signed log.
    Records {
        /// The person key file.
        #[arg(long)]
        key: PathBuf,
        /// The log's URL prefix.
        #[arg(long)]
        log: String,
        #[arg(long)]
        ca: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SuiteArg {
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
enum DurabilityArg {
    /// fsync every commit: survives power loss.
    Full,
    /// fsync at checkpoints: survives a crash of the process only.
    Normal,
}

#[derive(Args)]
struct DemoArgs {
    /// Where the network's files and stores go (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How many residents to generate.
    #[arg(long, default_value_t = 10_000)]
    residents: usize,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    #[arg(long, value_enum, default_value = "ed25519-x25519")]
    suite: SuiteArg,
    #[arg(long, value_enum, default_value = "full")]
    durability: DurabilityArg,
    /// Run every role on this PostgreSQL database (one schema per role)
    /// instead of SQLite files (postgres://user@host/db).
    #[arg(long, env = "RENKEI_DATABASE_URL")]
    database_url: Option<String>,
    /// Stop after the scenarios; exit status 0 only if every one behaved as expected.
    #[arg(long)]
    exit: bool,
}

#[derive(Subcommand)]
enum HubCommand {
    /// Serve the hub.
    Serve(ConfigArg),
    /// Validate the catalog and permission table of a configuration.
    Check(ConfigArg),
    /// Several hub processes behind one address: a TCP balancer (TLS passes
    /// through, so mutual TLS stays between the caller and a hub).
    Balance {
        /// Where callers connect (host:port).
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// A hub's network (or log) listener; give it once per hub.
        #[arg(long = "backend", required = true)]
        backends: Vec<std::net::SocketAddr>,
        /// Open connections allowed from one client address (an IPv4
        /// address or an IPv6 /64); the hubs behind see only the balancer.
        #[arg(long, default_value_t = renkei_http::ListenerLimits::default().max_connections_per_address)]
        max_connections_per_address: usize,
        /// Open connections allowed in total.
        #[arg(long, default_value_t = renkei_http::ListenerLimits::default().max_connections)]
        max_connections: usize,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Serve a node.
    Serve(ConfigArg),
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

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve the registry.
    Serve(ConfigArg),
    /// The card CA (JPKI role).
    #[command(subcommand)]
    CardCa(CardCaCommand),
}

#[derive(Subcommand)]
enum CardCaCommand {
    /// Create the card CAs (both profiles, both purposes) in a directory.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Who runs the CA, as it appears in the CA names.
        #[arg(long, default_value = "renkei card authority")]
        operator: String,
        #[arg(long, default_value = "れんけい公的個人認証")]
        operator_ja: String,
    },
}

#[derive(Args)]
struct ConfigArg {
    /// The role's TOML configuration.
    #[arg(long)]
    config: PathBuf,
    /// Path of the SQLite store (default: next to the configuration).
    #[arg(long)]
    store: Option<PathBuf>,
    /// A PostgreSQL database instead of the SQLite file
    /// (postgres://user@host/db). Several hubs may share one.
    #[arg(long, env = "RENKEI_DATABASE_URL", conflicts_with = "store")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the network CA in a directory.
    Init {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "renkei network CA")]
        name: String,
        #[arg(long, value_enum, default_value = "ed25519-x25519")]
        suite: SuiteArg,
    },
    /// Issue a certificate and keys for a role.
    Issue {
        #[arg(long)]
        ca: PathBuf,
        #[arg(long, value_parser = ["hub", "registry", "node", "witness"])]
        role: String,
        /// For a hub: the origin (first line) of its log's checkpoints.
        #[arg(long, default_value = "renkei.example/provision-records")]
        log_origin: String,
        /// The institution's corporate number (registry and node).
        #[arg(long)]
        institution: Option<String>,
        #[arg(long)]
        name: String,
        /// Directory for the certificate, keys and token.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "ed25519-x25519")]
        suite: SuiteArg,
    },
    /// Revoke a certificate by serial and rewrite the CRL.
    Revoke {
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        serial: String,
    },
    /// Re-sign the CRL with a fresh validity (run daily).
    RefreshCrl {
        #[arg(long)]
        ca: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Linkage through the hub against the requester calling the provider directly.
    Linkage(BenchArgs),
    /// Card login server time and the exchange-history page with its proofs.
    Portal {
        /// Logins per card profile.
        #[arg(long, default_value_t = 100)]
        logins: usize,
        /// Records about the person shown in the history.
        #[arg(long, default_value_t = 1000)]
        records: usize,
    },
    /// The price of trust on SQLite and on PostgreSQL, and one hub vs two
    /// behind a balancer, in one run.
    Scale {
        #[command(flatten)]
        linkage: BenchArgs,
        /// The PostgreSQL database (fresh schemas per configuration).
        #[arg(long)]
        database_url: String,
    },
    /// Register a population and enrol everyone at ten institutions through
    /// the network; time, rate and peak memory (the hub in its own process).
    Enrol {
        /// People to register and enrol.
        #[arg(long, default_value_t = 100_000)]
        people: usize,
        /// Every role on this PostgreSQL database instead of SQLite files.
        #[arg(long)]
        database_url: Option<String>,
        /// Keep the registry's and nodes' personal data in clear (no data
        /// key), to measure what encryption at rest costs.
        #[arg(long)]
        clear_stores: bool,
    },
    /// Durable log appends per second, and proof generation and verification.
    Log {
        /// Records to append.
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        /// Appending tasks.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Also run on this PostgreSQL database (a fresh schema, dropped
        /// after the run) and compare it with SQLite side by side.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// A person's history (records and their proofs) as the log grows to
    /// `--records`, with fill rate and size on disk.
    History {
        /// Records in the log at the end (measured at 1 %, 10 % and 100 %).
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// Records about the measured person.
        #[arg(long, default_value_t = 1000)]
        person_records: u64,
        /// Run on this PostgreSQL database (a fresh schema, dropped after
        /// the run) instead of a SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Appending tasks while filling.
        #[arg(long, default_value_t = 1024)]
        concurrency: usize,
        /// History reads measured at each size.
        #[arg(long, default_value_t = 200)]
        repetitions: usize,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Requests per measured round and path.
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured rounds (each runs direct, then through the hub).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, value_enum, default_value = "ed25519-x25519")]
    suite: SuiteArg,
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid configuration", path.display()))
}

/// The role's data key, if its configuration names one.
fn data_key(path: Option<&Path>) -> Result<Option<renkei_crypto::DataKey>> {
    path.map(renkei_demo::provision::read_data_key).transpose()
}

fn sqlite_path(arg: &ConfigArg, name: &str) -> PathBuf {
    arg.store.clone().unwrap_or_else(|| {
        arg.config
            .parent()
            .map_or_else(|| PathBuf::from(name), |d| d.join(name))
    })
}

async fn serve_hub<S: renkei_hub::HubStore + Clone>(settings: &HubSettings, store: S) -> Result<()> {
    let hub = start_hub(settings, store).await?;
    eprintln!("hub serving on {} (admin {})", hub.network.url(), hub.admin.url());
    wait_for_shutdown().await;
    hub.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

async fn serve_node<S: renkei_node::NodeStore + Clone>(settings: &NodeSettings, store: S) -> Result<()> {
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

async fn serve_registry<S: renkei_registry::RegistryStore + Clone>(
    settings: &RegistrySettings,
    store: S,
) -> Result<()> {
    let reg = start_registry(settings, store).await?;
    eprintln!(
        "registry serving on {} (admin {})",
        reg.network.url(),
        reg.admin.url()
    );
    wait_for_shutdown().await;
    reg.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

async fn serve_portal<S: renkei_portal_web::Store + Clone>(
    settings: &renkei_portal_web::PortalSettings,
    store: S,
) -> Result<()> {
    let portal = renkei_portal_web::start_portal(settings, store).await?;
    eprintln!("portal serving on {} (admin {})", portal.url, portal.admin.addr());
    wait_for_shutdown().await;
    portal.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

async fn serve_witness<S: renkei_witness::WitnessStore>(settings: &WitnessSettings, store: S) -> Result<()> {
    let w = start_witness(settings, store).await?;
    eprintln!(
        "witness serving on {} (cosignature key {})",
        w.url(),
        w.cosignature_key
    );
    wait_for_shutdown().await;
    w.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

async fn wait_for_shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopping");
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(a) => {
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
                durability: match a.durability {
                    DurabilityArg::Full => Durability::Full,
                    DurabilityArg::Normal => Durability::Normal,
                },
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
        Command::Hub(HubCommand::Serve(arg)) => {
            init_tracing("info");
            let settings: HubSettings = read_config(&arg.config)?;
            let store = StoreConfig::new(arg.database_url.as_deref(), sqlite_path(&arg, "hub.sqlite"));
            serve_hub(&settings, store.open_hub().await?).await
        }
        Command::Hub(HubCommand::Balance {
            listen,
            backends,
            max_connections_per_address,
            max_connections,
        }) => {
            init_tracing("info");
            let limits = renkei_http::ListenerLimits {
                max_connections_per_address,
                max_connections,
                ..renkei_http::ListenerLimits::default()
            };
            let lb = renkei_http::balancer::Balancer::start_limited(listen, backends.clone(), &limits)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            eprintln!(
                "balancing {} over {}",
                lb.addr,
                backends
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            wait_for_shutdown().await;
            lb.stop();
            Ok(())
        }
        Command::Hub(HubCommand::Check(arg)) => {
            let settings: HubSettings = read_config(&arg.config)?;
            let (works, rows, version) = check_catalog(&settings)?;
            println!("permission table {version}: {rows} rows over {works} office works — valid");
            Ok(())
        }
        Command::Node(NodeCommand::Serve(arg)) => {
            init_tracing("info");
            let settings: NodeSettings = read_config(&arg.config)?;
            let key = data_key(settings.data_key.as_deref())?;
            let store = StoreConfig::new(arg.database_url.as_deref(), sqlite_path(&arg, "node.sqlite"));
            serve_node(&settings, store.open_node(key.as_ref()).await?).await
        }
        Command::Node(NodeCommand::Enrol { config, file, batch }) => {
            init_tracing("warn");
            let settings: NodeSettings = read_config(&config.config)?;
            enrol_file(&settings, &file, batch as usize).await
        }
        Command::Node(NodeCommand::Import { config, file }) => {
            init_tracing("warn");
            let settings: NodeSettings = read_config(&config.config)?;
            import(&settings, &file).await
        }
        Command::Registry(RegistryCommand::Serve(arg)) => {
            init_tracing("info");
            let settings: RegistrySettings = read_config(&arg.config)?;
            let key = data_key(settings.data_key.as_deref())?;
            let store = StoreConfig::new(arg.database_url.as_deref(), sqlite_path(&arg, "registry.sqlite"));
            serve_registry(&settings, store.open_registry(key.as_ref()).await?).await
        }
        Command::Registry(RegistryCommand::CardCa(CardCaCommand::Init {
            dir,
            operator,
            operator_ja,
        })) => card_cli::init_card_ca(&dir, &operator, &operator_ja),
        Command::Portal(PortalCommand::Serve(arg)) => {
            init_tracing("info");
            let settings: renkei_portal_web::PortalSettings = read_config(&arg.config)?;
            let store = StoreConfig::new(arg.database_url.as_deref(), sqlite_path(&arg, "portal.sqlite"));
            serve_portal(&settings, store.open_portal().await?).await
        }
        Command::Card(cmd) => {
            init_tracing("warn");
            card_cli::run(cmd).await
        }
        Command::Client(cmd) => {
            init_tracing("warn");
            client_cli::run(cmd).await
        }
        Command::Pki(cmd) => pki(cmd),
        Command::Witness(WitnessCommand::Serve(arg)) => {
            init_tracing("info");
            let settings: WitnessSettings = read_config(&arg.config)?;
            let store = StoreConfig::new(arg.database_url.as_deref(), sqlite_path(&arg, "witness.sqlite"));
            serve_witness(&settings, store.open_witness().await?).await
        }
        Command::Audit(AuditCommand::Verify {
            log,
            data_dir,
            ca,
            key,
            witness,
            checkpoint,
        }) => {
            init_tracing("warn");
            audit(log, data_dir, ca, &key, &witness, checkpoint).await
        }
        Command::Person(PersonCommand::Key { config, card, out }) => {
            init_tracing("warn");
            let settings: NodeSettings = read_config(&config)?;
            person_key(&settings, &card, &out).await
        }
        Command::Person(PersonCommand::Records { key, log, ca }) => {
            init_tracing("warn");
            person_records(&key, &log, &ca).await
        }
        Command::Bench(BenchCommand::Portal { logins, records }) => {
            init_tracing("warn");
            println!("{}", renkei_demo::bench_portal::portal(logins, records).await?);
            Ok(())
        }
        Command::Bench(BenchCommand::Log {
            records,
            concurrency,
            database_url,
        }) => {
            init_tracing("warn");
            let report = renkei_demo::bench::log(records, concurrency, database_url.as_deref()).await?;
            println!("{report}");
            Ok(())
        }
        Command::Bench(BenchCommand::History {
            records,
            person_records,
            database_url,
            concurrency,
            repetitions,
        }) => {
            init_tracing("warn");
            let report = renkei_demo::bench_history::history(&renkei_demo::bench_history::HistoryOptions {
                records,
                person_records,
                concurrency,
                repetitions,
                database_url,
            })
            .await?;
            println!("{report}");
            Ok(())
        }
        Command::Bench(BenchCommand::Enrol {
            people,
            database_url,
            clear_stores,
        }) => {
            init_tracing("warn");
            let report = renkei_demo::bench_enrol::enrol(&renkei_demo::bench_enrol::EnrolBenchOptions {
                people,
                database_url,
                hub_binary: std::env::current_exe().context("finding this renkei binary")?,
                progress: true,
                encrypt_at_rest: !clear_stores,
            })
            .await?;
            println!("{report}");
            Ok(())
        }
        Command::Bench(BenchCommand::Scale {
            linkage,
            database_url,
        }) => {
            init_tracing("warn");
            let report = renkei_demo::bench_scale::scale(&renkei_demo::bench_scale::ScaleOptions {
                linkage: renkei_demo::bench::BenchOptions {
                    requests: linkage.requests,
                    concurrency: linkage.concurrency,
                    rounds: linkage.rounds,
                    suite: linkage.suite.into(),
                },
                database_url,
                hub_binary: std::env::current_exe().context("finding this renkei binary")?,
            })
            .await?;
            println!("{report}");
            Ok(())
        }
        Command::Bench(BenchCommand::Linkage(args)) => {
            init_tracing("warn");
            let report = renkei_demo::bench::linkage(&renkei_demo::bench::BenchOptions {
                requests: args.requests,
                concurrency: args.concurrency,
                rounds: args.rounds,
                suite: args.suite.into(),
            })
            .await?;
            println!("{report}");
            Ok(())
        }
    }
}

/// Parse locally with a progress bar (so a bad file is reported before it
/// is sent), then send it whole to the local API, which imports it in one
/// transaction.
async fn import(settings: &NodeSettings, file: &Path) -> Result<()> {
    let name = file.display().to_string();
    let format = renkei_node_format(&name)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {name}"))?;
    let pb = ProgressBar::new(bytes.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("checking {msg} [{bar:30}] {bytes}/{total_bytes}")?
            .progress_chars("=> "),
    );
    pb.set_message(name.clone());
    let catalog = renkei_catalog_from(settings)?;
    let fmt = if format == "csv" {
        ImportFormat::Csv
    } else {
        ImportFormat::Jsonl
    };
    let reader = std::io::BufReader::new(pb.wrap_read(bytes.as_slice()));
    let parsed = match parse_import(fmt, reader, &catalog, &settings.kind, UnixMillis::now()) {
        Ok(p) => p,
        Err(ImportError::Rejected(report)) => bail!("{name}: {report}"),
        Err(ImportError::Read(e)) => bail!("{name}: {e}"),
    };
    pb.finish();
    eprintln!("{} rows well formed; sending to the node", parsed.len());
    let client = local_client(settings)?;
    let kind = if format == "csv" { "csv" } else { "jsonl" };
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
    use renkei_http::node::{EnrolPerson, EnrolRequest, EnrolResult};
    let name = file.display().to_string();
    let format = if renkei_node_format(&name)? == "csv" {
        ImportFormat::Csv
    } else {
        ImportFormat::Jsonl
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading {name}"))?;
    let pb = ProgressBar::new(bytes.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("checking {msg} [{bar:30}] {bytes}/{total_bytes}")?
            .progress_chars("=> "),
    );
    pb.set_message(name.clone());
    let reader = std::io::BufReader::new(pb.wrap_read(bytes.as_slice()));
    let rows = match renkei_node::parse_enrolment(format, reader) {
        Ok(r) => r,
        Err(ImportError::Rejected(report)) => bail!("{name}: {report}; nothing was sent"),
        Err(ImportError::Read(e)) => bail!("{name}: {e}"),
    };
    pb.finish();
    let client = local_client(settings)?;
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
fn local_client(settings: &NodeSettings) -> Result<renkei_http::LocalClient> {
    let token = renkei_http::read_token_file(&settings.local_token)?;
    let ca = std::fs::read(&settings.tls.ca_cert)?;
    Ok(renkei_http::LocalClient::new(
        &format!("https://{}", settings.local_listen),
        &ca,
        &token,
        Duration::from_secs(600),
    )?)
}

fn renkei_node_format(name: &str) -> Result<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Ok("csv")
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        Ok("jsonl")
    } else {
        bail!("{name}: give a .jsonl or .csv file")
    }
}

fn renkei_catalog_from(settings: &NodeSettings) -> Result<Catalog> {
    let text = std::fs::read_to_string(&settings.catalog)
        .with_context(|| format!("reading {}", settings.catalog.display()))?;
    Catalog::parse(&text).with_context(|| format!("{} is not a valid catalog", settings.catalog.display()))
}

fn pki(cmd: PkiCommand) -> Result<()> {
    match cmd {
        PkiCommand::Init { dir, name, suite } => {
            let ca = NetworkCa::create(&dir, &name, renkei_demo::provision::tls_algorithm(suite.into()))?;
            println!(
                "network CA created in {} (CRL number {})",
                dir.display(),
                ca.crl_number()
            );
        }
        PkiCommand::Issue {
            ca,
            role,
            log_origin,
            institution,
            name,
            out,
            suite,
        } => {
            let ca = NetworkCa::load(&ca)?;
            let role = match role.as_str() {
                "hub" => Role::Hub,
                "registry" => Role::Registry,
                "witness" => Role::Witness,
                _ => Role::Node,
            };
            if role == Role::Witness {
                let (cert, _, serial) =
                    renkei_demo::provision::issue_tls(&ca, &out, role, None, &name, suite.into())?;
                let key = renkei_http::witness::new_witness_key(&name).map_err(|e| anyhow::anyhow!("{e}"))?;
                let key_file = out.join("witness.key");
                renkei_pki::write_private(&key_file, key.as_bytes(), renkei_pki::WriteMode::Replace)?;
                println!(
                    "issued witness certificate {} (serial {serial}); cosignature key: {}",
                    cert.display(),
                    renkei_demo::provision::note_verifier(&key_file, true)?
                );
                return Ok(());
            }
            let institution = institution
                .map(|s| CorporateNumber::parse(&s).with_context(|| format!("--institution {s}")))
                .transpose()?;
            if matches!(role, Role::Registry | Role::Node) && institution.is_none() {
                bail!("--institution is required for a {} certificate", role.as_str());
            }
            let files =
                renkei_demo::provision::provision_role(&ca, &out, role, institution, &name, suite.into())?;
            if role == Role::Hub {
                let (_, _, log_key) = renkei_demo::provision::provision_hub_secrets(&out, &log_origin)?;
                println!(
                    "log key: {}",
                    renkei_demo::provision::note_verifier(&log_key, false)?
                );
                renkei_demo::provision::write_sample_catalog(&out)?;
            }
            println!(
                "issued {} certificate {} (serial {}) and keys into {}",
                role.as_str(),
                files.cert.display(),
                files.serial,
                out.display()
            );
            if let Some(key) = &files.data_key {
                println!(
                    "data key {} (mode 0600): set `data_key = \"{}\"` in the {} configuration to seal its store's personal data at rest; keep a copy, without it the store cannot be read",
                    key.display(),
                    key.display(),
                    role.as_str()
                );
            }
        }
        PkiCommand::Revoke { ca, serial } => {
            let mut ca = NetworkCa::load(&ca)?;
            ca.revoke(&serial, RevocationReason::Unspecified)?;
            println!(
                "revoked {serial}; CRL number {} written to {}",
                ca.crl_number(),
                ca.crl_path().display()
            );
        }
        PkiCommand::RefreshCrl { ca } => {
            let mut ca = NetworkCa::load(&ca)?;
            ca.refresh_crl()?;
            println!("CRL re-signed, number {}", ca.crl_number());
        }
    }
    Ok(())
}

fn key_arg(key: &str) -> Result<String> {
    match key.strip_prefix('@') {
        Some(file) => Ok(std::fs::read_to_string(file)
            .with_context(|| format!("reading {file}"))?
            .trim()
            .to_owned()),
        None => Ok(key.to_owned()),
    }
}

async fn audit(
    log: Option<String>,
    data_dir: Option<PathBuf>,
    ca: Option<PathBuf>,
    key: &str,
    witnesses: &[String],
    checkpoint: Option<PathBuf>,
) -> Result<()> {
    use renkei_http::audit::{HttpTiles, StoreTiles, verify};
    let log_key = renkei_log::NoteVerifier::parse(&key_arg(key)?).context("--key")?;
    let witnesses = witnesses
        .iter()
        .map(|w| renkei_log::NoteVerifier::parse(&key_arg(w)?).context("--witness"))
        .collect::<Result<Vec<_>>>()?;
    let older = checkpoint
        .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let report = match (log, data_dir) {
        (Some(url), _) => {
            let ca = ca.context("--ca is needed with --log")?;
            let pem = std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?;
            let src = HttpTiles::new(&url, &pem).map_err(|e| anyhow::anyhow!(e))?;
            verify(&src, &log_key, &witnesses, older.as_deref()).await
        }
        (None, Some(dir)) => {
            let path = if dir.join("hub.sqlite").exists() {
                dir.join("hub.sqlite")
            } else {
                dir.join("hub").join("hub.sqlite")
            };
            let store = SqliteHubStore::open(&path, Durability::Full).await?;
            verify(&StoreTiles(&store), &log_key, &witnesses, older.as_deref()).await
        }
        (None, None) => bail!("give --log URL or --data-dir DIR"),
    };
    match report {
        Ok(r) => {
            println!(
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
            );
            Ok(())
        }
        Err(e) => bail!("log verification FAILED: {e}"),
    }
}

async fn person_key(settings: &NodeSettings, card_dir: &Path, out: &Path) -> Result<()> {
    let token = renkei_http::read_token_file(&settings.local_token)?;
    let ca = std::fs::read(&settings.tls.ca_cert)?;
    let client = renkei_http::LocalClient::new(
        &format!("https://{}", settings.local_listen),
        &ca,
        &token,
        Duration::from_secs(60),
    )?;
    // The card signs a login challenge; the registry checks it and the hub
    // states the person's presence in a proof, the only way to their key.
    let card = renkei_card::SoftwareCard::open(card_dir)?;
    let pin = card_cli::secret("RENKEI_CARD_PIN", "PIN", renkei_card::CardSecret::auth_pin)?;
    let cert = card.certificate(renkei_card::CertPurpose::Authentication)?;
    let holder = renkei_demo::cards::resolve_with_card(
        &client,
        |t| Ok(card.sign(renkei_card::CertPurpose::Authentication, &pin, t)?),
        &cert,
        None,
    )
    .await?;
    let proof = holder
        .person_proof
        .context("the portal's node returned no person proof")?;
    let local_id = holder.local_id;
    let k: renkei_http::node::PersonKeyResult = client
        .post(
            &format!("/local/v1/persons/{local_id}/person-key"),
            &renkei_http::node::PersonKeyAsk {
                person_proof: proof,
                consent: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = format!(
        "renkei-person-key-v1\norigin: {}\nlog-key: {}\nkey: {}\ntoken: {}\n",
        k.log_origin, k.log_key, k.person_key, k.access_token
    );
    renkei_pki::write_private(out, text.as_bytes(), renkei_pki::WriteMode::CreateNew)?;
    println!(
        "person key for {local_id} written to {} (mode 0600)",
        out.display()
    );
    Ok(())
}

async fn person_records(key_file: &Path, log: &str, ca: &Path) -> Result<()> {
    let text = String::from_utf8(renkei_pki::read_private(key_file)?.to_vec())?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(str::to_owned)
            .with_context(|| format!("{}: no `{name}` line", key_file.display()))
    };
    if text.lines().next() != Some("renkei-person-key-v1") {
        bail!("{} is not a renkei person key file", key_file.display());
    }
    let log_key = renkei_log::NoteVerifier::parse(&field("log-key")?)?;
    let key: [u8; 32] = renkei_crypto::unb64("key", &field("key")?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the person key is not 32 bytes"))?;
    let token = field("token")?;
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let cert = reqwest::Certificate::from_pem(&pem)?;
    let client = reqwest::Client::builder()
        .tls_certs_only([cert])
        .https_only(true)
        .no_proxy()
        .build()?;
    let resp = client
        .get(format!("{}/v1/person/records", log.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!(
            "the log refused: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    let records: renkei_http::hub_log::PersonRecordsWire = resp.json().await?;
    let (cp, leaves) = renkei_http::hub_log::verify_person_records(&records, &log_key, &key)
        .map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "{} records about you in the log (checkpoint size {}, signature verified)",
        leaves.len(),
        cp.size
    );
    for renkei_http::hub_log::VerifiedRecord {
        index,
        leaf,
        included,
    } in leaves
    {
        println!(
            "  #{index:<7} {} {} {} → {} · {} · {}{} · {}{}",
            if included {
                "✔ in log"
            } else {
                "… next checkpoint"
            },
            leaf.requested_at,
            leaf.requester,
            leaf.provider,
            leaf.office_work,
            leaf.item,
            leaf.fiscal_year.map(|y| format!(" {y}")).unwrap_or_default(),
            leaf.outcome.as_str(),
            leaf.hidden_reason
                .map(|r| format!(" · disclosed late: {r}"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}
