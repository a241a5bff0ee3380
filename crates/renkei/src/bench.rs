//! `renkei bench …`: the benchmarks whose results BENCHMARKS.md records.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use renkei_bench::report::{
    render_delivery, render_enrol, render_history, render_linkage, render_log, render_portal, render_scale,
    render_soak,
};
use renkei_bench::{enrol, history, linkage, log, portal, scale, soak};

use crate::args::{DATABASE_URL_ENV, SuiteArg, init_tracing};

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Linkage through the hub against the requester calling the provider directly.
    Linkage(BenchArgs),
    /// Every role as a process under mixed load for a long time: memory,
    /// open files, rate and p99 sampled at intervals (not run in CI).
    Soak {
        /// How long the load runs.
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Seconds between samples.
        #[arg(long, default_value_t = 60)]
        sample_secs: u64,
        /// Residents of the country.
        #[arg(long, default_value_t = 1000)]
        residents: usize,
        /// SQLite page cache per connection of every role, MiB (the
        /// roles' default, 32, if not given).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
        sqlite_cache_mib: Option<u32>,
    },
    /// Card login server time and the exchange-history page with its proofs.
    Portal {
        /// Logins per card profile.
        #[arg(long, default_value_t = 100)]
        logins: usize,
        /// Records about the person shown in the history.
        #[arg(long, default_value_t = 1000)]
        records: usize,
    },
    /// Signed deposits per second at the portal (batched and one by one,
    /// beside the checks alone) and the export of a 1,000-document mailbox.
    Delivery {
        /// Deposits in the batched run (and the in-process baseline).
        #[arg(long, default_value_t = 20_000)]
        deposits: usize,
        /// Deposits in the one-per-request run.
        #[arg(long, default_value_t = 4_000)]
        singles: usize,
        /// Documents per batch.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Batches in flight at once.
        #[arg(long, default_value_t = 2)]
        inflight: usize,
        /// Single deposits in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Documents in the exported mailbox.
        #[arg(long, default_value_t = 1_000)]
        export_docs: usize,
    },
    /// The statutory filing end to end: an employer's file of withholding
    /// reports, from its submission to every municipality holding its copy.
    Filing {
        /// Employees in the file.
        #[arg(long, default_value_t = 100_000)]
        employees: usize,
        /// Plain queries through the hub first, the baseline.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Baseline queries in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Deliveries (pushes through the outbox and the hub) beside queries
    /// in the same run.
    Push {
        /// Queries, then deliveries, per round.
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Requests (or posts) in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Measured rounds (each runs the queries, then the deliveries).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The price of trust on SQLite and on PostgreSQL, and one hub vs two
    /// behind a balancer, in one run.
    Scale {
        #[command(flatten)]
        linkage: BenchArgs,
        /// The PostgreSQL database (fresh schemas per configuration).
        #[arg(long, env = DATABASE_URL_ENV)]
        database_url: String,
    },
    /// Register a population and enrol everyone at ten institutions through
    /// the network; time, rate and peak memory (the hub in its own process).
    Enrol {
        /// People to register and enrol.
        #[arg(long, default_value_t = 100_000)]
        people: usize,
        /// Every role on this PostgreSQL database instead of SQLite files.
        #[arg(long, env = DATABASE_URL_ENV)]
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
        #[arg(long, env = DATABASE_URL_ENV)]
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
        #[arg(long, env = DATABASE_URL_ENV)]
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
pub(crate) struct BenchArgs {
    /// Requests per measured round and path.
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured rounds (each runs direct, then through the hub).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The network's signature and encryption suite.
    #[arg(long, value_enum, default_value = "ed25519-x25519")]
    suite: SuiteArg,
}

impl From<&BenchArgs> for linkage::LinkageOptions {
    fn from(a: &BenchArgs) -> Self {
        linkage::LinkageOptions {
            requests: a.requests,
            concurrency: a.concurrency,
            rounds: a.rounds,
            suite: a.suite.into(),
        }
    }
}

pub(crate) async fn run(cmd: BenchCommand) -> Result<()> {
    init_tracing("warn");
    let report = match cmd {
        BenchCommand::Portal { logins, records } => render_portal(&portal::portal(logins, records).await?),
        BenchCommand::Push {
            requests,
            concurrency,
            rounds,
        } => {
            renkei_bench::report::render_push(&renkei_bench::push::push(requests, concurrency, rounds).await?)
        }
        BenchCommand::Filing {
            employees,
            queries,
            concurrency,
        } => renkei_bench::report::render_filing(
            &renkei_bench::filing::filing(employees, queries, concurrency, true).await?,
        ),
        BenchCommand::Delivery {
            deposits,
            singles,
            batch,
            inflight,
            concurrency,
            export_docs,
        } => render_delivery(
            &renkei_bench::delivery::delivery(deposits, singles, batch, inflight, concurrency, export_docs)
                .await?,
        ),
        BenchCommand::Log {
            records,
            concurrency,
            database_url,
        } => render_log(&log::log(records, concurrency, database_url.as_deref()).await?),
        BenchCommand::History {
            records,
            person_records,
            database_url,
            concurrency,
            repetitions,
        } => render_history(
            &history::history(&history::HistoryOptions {
                records,
                person_records,
                concurrency,
                repetitions,
                database_url,
            })
            .await?,
        ),
        BenchCommand::Enrol {
            people,
            database_url,
            clear_stores,
        } => render_enrol(
            &enrol::enrol(&enrol::EnrolOptions {
                people,
                database_url,
                hub_binary: std::env::current_exe().context("finding this renkei binary")?,
                progress: true,
                encrypt_at_rest: !clear_stores,
            })
            .await?,
        ),
        BenchCommand::Scale {
            linkage,
            database_url,
        } => render_scale(
            &scale::scale(&scale::ScaleOptions {
                linkage: (&linkage).into(),
                database_url,
                hub_binary: std::env::current_exe().context("finding this renkei binary")?,
            })
            .await?,
        ),
        BenchCommand::Linkage(args) => render_linkage(&linkage::linkage(&(&args).into()).await?),
        BenchCommand::Soak {
            minutes,
            sample_secs,
            residents,
            sqlite_cache_mib,
        } => {
            if !(minutes > 0.0 && minutes.is_finite()) {
                anyhow::bail!("--minutes must be a positive number, not {minutes}");
            }
            if residents < renkei_demo::country::MIN_RESIDENTS {
                anyhow::bail!(
                    "--residents must be at least {} so the load finds its cast",
                    renkei_demo::country::MIN_RESIDENTS
                );
            }
            render_soak(
                &soak::soak(&soak::SoakOptions {
                    minutes,
                    sample_secs,
                    residents,
                    sqlite_cache_mib,
                    binary: std::env::current_exe().context("finding this renkei binary")?,
                    progress: true,
                })
                .await?,
            )
        }
    };
    println!("{report}");
    Ok(())
}
