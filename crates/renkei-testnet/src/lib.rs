//! The test network: what the whole-network tests share, and nothing the
//! `renkei` binary ships (this crate is only ever a dev-dependency).
//!
//! [`TestNet`] starts the demo's network (`renkei_demo::network`) with test
//! settings in a fresh owner-only directory and fills it with a small
//! seeded country; [`capture_logs`] keeps everything every role logs for
//! the privacy checks; [`browser`] drives Debian's headless Chromium over
//! WebDriver and [`portal_client`] is a cookie-exact HTTP client for the
//! portal; the rest are assertions several tests make.
//!
//! Test support panics where a test would (a failure should stop the test
//! with its backtrace), so the workspace's `unwrap` lint is lifted here.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

pub mod browser;
pub mod portal_client;
mod store_db;

pub use store_db::StoreDb;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};
use renkei_card::{CardSecret, SoftwareCard};
use renkei_demo::country::{Country, CountryOptions, populate};
use renkei_demo::network::{Network, NetworkOptions};
use renkei_portal_web::cardapp::CardApp;
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;
use renkei_transport::ApiFailure;

/// Residents of the test country, and the seed that draws them.
const RESIDENTS: usize = 240;
const SEED: u64 = 11;

/// Set to a PostgreSQL URL, every [`TestNet`] keeps its roles' data there.
pub const TESTNET_DATABASE_ENV: &str = "RENKEI_TESTNET_DATABASE_URL";

/// A running test network with its country; the directory goes with it.
#[derive(Debug)]
pub struct TestNet {
    pub net: Network,
    pub country: Country,
    pub dir: tempfile::TempDir,
}

/// The network options the tests start from: durable enough for a test
/// (no fsync per commit) and checkpoints every 100 ms so proofs come soon.
fn test_options(data_dir: &Path) -> NetworkOptions {
    let mut o = NetworkOptions::new(data_dir);
    o.durability = Durability::Normal;
    o.checkpoint_interval_ms = 100;
    o
}

impl TestNet {
    /// The network under `dir/net`, tuned by `tune`, with the test country.
    pub async fn start(tune: impl FnOnce(&mut NetworkOptions)) -> Result<Self> {
        Self::start_with(tune, RESIDENTS, SEED).await
    }

    /// The same with a country of `residents` drawn from `seed`.
    pub async fn start_with(
        tune: impl FnOnce(&mut NetworkOptions),
        residents: usize,
        seed: u64,
    ) -> Result<Self> {
        // The owner's alone: stores made directly in it (a second portal's)
        // refuse any other directory.
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .context("creating the test directory")?;
        let mut options = test_options(&dir.path().join("net"));
        // The same suites on PostgreSQL: every role in a schema of this
        // database (scripts/test runs the portal's and consent API's so).
        if let Ok(url) = std::env::var(TESTNET_DATABASE_ENV) {
            options.database_url = Some(url);
        }
        tune(&mut options);
        let net = Network::start(options).await.context("starting the network")?;
        let country = populate(
            &net,
            &CountryOptions {
                residents,
                seed,
                today: UnixMillis::now().to_datetime().date(),
                progress: false,
            },
        )
        .await
        .context("populating the network")?;
        Ok(Self { net, country, dir })
    }
}

/// Log in at the portal at `url` with `card`, as a person does: the
/// browser asks for a login code, the card app approves it over the number
/// the page shows, the browser completes. The client holds the session.
/// Panics (a test failure) if any step is refused.
pub async fn portal_login(url: &str, card: &SoftwareCard, pin: &CardSecret) -> portal_client::Client {
    let mut c = portal_client::Client::new(url);
    let page = c.get("/login").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let code = page.id_text("login-code").unwrap();
    let shown = page.id_text("login-match").unwrap();
    CardApp::new(url, None)
        .unwrap()
        .approve(&code, Some(&shown), card, pin)
        .await
        .unwrap();
    let done = c.post("/login/complete", &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/"));
    c
}

/// What the roles log goes to the test's output (shown when it fails);
/// RUST_LOG chooses how much (warnings and errors by default).
pub fn log_to_test_output() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Everything every role logs, kept for the privacy checks: renkei's own
/// crates at every level, the libraries at info (sqlx: every statement at
/// debug). The first caller in a process installs it.
pub fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,renkei_transport=trace,renkei_provider=trace,renkei_hub_service=trace,\
                 renkei_node_service=trace,renkei_registry_service=trace,renkei_witness_service=trace,\
                 renkei_portal_web=trace,renkei_store_sql=trace,renkei_store_sqlite=trace,\
                 renkei_store_postgres=trace,renkei_demo=trace,sqlx=debug",
            ))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The error code of a refusal (printed with its message), or what came
/// instead.
pub fn rejected_code(r: &Result<impl std::fmt::Debug, ApiFailure>) -> String {
    match r {
        Err(ApiFailure::Rejected { code, message, .. }) => {
            eprintln!("rejected: {code}: {message}");
            code.clone()
        }
        other => format!("not rejected: {other:?}"),
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether any of the twelve-digit `numbers` occurs in `haystack`, in one
/// pass.
pub fn contains_any_number(haystack: &[u8], numbers: &HashSet<&[u8]>) -> bool {
    let mut run = 0usize;
    for (i, b) in haystack.iter().enumerate() {
        if b.is_ascii_digit() {
            run += 1;
            if run >= 12 && numbers.contains(&haystack[i + 1 - 12..=i]) {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Run `sql` (no parameters, the same text in both dialects) on `role`'s
/// store, whichever backend holds it: for tests that move a store's clock
/// or read what it kept. The rows changed.
pub async fn store_execute(net: &Network, role: &str, sql: &'static str) -> u64 {
    StoreDb::open(net, role).await.execute(sql).await
}

/// The first column of every row `sql` selects from `role`'s store, as text.
pub async fn store_strings(net: &Network, role: &str, sql: &'static str) -> Vec<String> {
    StoreDb::open(net, role).await.strings(sql).await
}
