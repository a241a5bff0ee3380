//! `renkei bench filing`: the once-only statutory filing end to end. An
//! employer files the withholding reports of `employees` people in one
//! file at the tax agency's node; the run ends when every municipality of
//! 1 January holds its copy in its inbox. Measured: the submission (every
//! line checked, every employee enrolled through the registry by number,
//! the reports kept), the routing (a residence asked of the registry
//! through the hub per report) and the deliveries (a push through the hub
//! per report). The baseline, in the same network and run, is the rate of
//! plain queries through the hub.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressDrawTarget};
use renkei_api::deliveries::DeliveryWire;
use renkei_api::filings::FilingWire;
use renkei_demo::country::{CountryOptions, Inhabitant, bar, populate, register_residents};
use renkei_demo::filing::{filing_file, report_for, submit};
use renkei_demo::institutions::{SETAGAYA, TAX, YOKOHAMA};
use renkei_demo::network::{Network, NetworkOptions};
use renkei_protocol::UnixMillis;

/// What `renkei bench filing` measured, for [`crate::report::render_filing`].
#[derive(Debug, Clone)]
pub struct FilingRun {
    pub employees: usize,
    pub queries: usize,
    pub concurrency: usize,
    pub date: UnixMillis,
    /// The file's size in bytes.
    pub file_bytes: usize,
    /// Plain queries through the hub per second (the baseline).
    pub queries_per_second: f64,
    /// From the POST to its answer: lines checked, employees enrolled by
    /// number, reports kept.
    pub submission: Duration,
    /// From the POST to the last report routed (its residence asked).
    pub routed: Duration,
    /// From the POST to the last copy in its municipality's inbox.
    pub delivered: Duration,
    pub unroutable: u64,
    /// Copies in each municipality's inbox at the end (Setagaya, Yokohama).
    pub copies: (usize, usize),
}

impl FilingRun {
    /// Reports delivered per second, end to end.
    pub fn reports_per_second(&self) -> f64 {
        self.employees as f64 / self.delivered.as_secs_f64().max(1e-9)
    }
}

/// File for `employees` people (registered at the registry for the run,
/// living in Setagaya and Yokohama) and follow the filing to the
/// municipalities; `queries` plain queries first, `concurrency` at a time,
/// as the baseline.
pub async fn filing(
    employees: usize,
    queries: usize,
    concurrency: usize,
    progress: bool,
) -> Result<FilingRun> {
    if employees == 0 || queries == 0 || concurrency == 0 {
        bail!("employees, queries and concurrency must be positive");
    }
    let dir = tempfile::Builder::new()
        .prefix("renkei-bench-filing-")
        .tempdir()?;
    let mut o = NetworkOptions::new(dir.path());
    o.durability = renkei_store_sqlite::Durability::Full;
    let net = Network::start(o).await?;
    let multi = MultiProgress::with_draw_target(if progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let today = UnixMillis::now().to_datetime().date();
    let country = populate(
        &net,
        &CountryOptions {
            residents: 300,
            seed: 7,
            today,
            progress: false,
        },
    )
    .await?;
    let queries_per_second = crate::push::query_rate(&net, &country, queries, concurrency).await?;

    // The employees: adults of a generated population, registered now at
    // the address they have held since 2020.
    let people: Vec<_> = renkei_population::generate(
        2025,
        employees * 2,
        &[renkei_population::SETAGAYA, renkei_population::YOKOHAMA_NAKA],
        today,
    )
    .into_iter()
    .filter(|r| r.birth_date.date().year() <= today.year() - 18)
    .take(employees)
    .collect();
    if people.len() < employees {
        bail!("the generated population has fewer than {employees} adults");
    }
    let pb = bar(&multi, people.len() as u64, "registering the employees");
    let my_numbers = register_residents(&net, &people, |_| None, &pb).await?;
    pb.finish_with_message("registered");
    let staff: Vec<Inhabitant> = people
        .iter()
        .zip(my_numbers)
        .map(|(r, my_number)| Inhabitant {
            my_number,
            name: r.name.to_string(),
            kana: r.kana.to_string(),
            birth_date: r.birth_date.to_string(),
            address: r.address.to_string(),
            age: 0,
            household: r.household,
            relationship: r.relationship.as_str(),
            employed: true,
            disability: false,
            ids: Default::default(),
        })
        .collect();
    let reports = staff
        .iter()
        .enumerate()
        .map(|(i, p)| report_for(p, i))
        .collect::<Result<Vec<_>>>()?;
    let file = filing_file(&reports);
    drop(reports);

    let pb = bar(&multi, employees as u64, "filing: reports routed");
    let start = Instant::now();
    let filed: FilingWire = submit(&net, &file, None).await.context("filing")?;
    let submission = start.elapsed();
    let (routed, last) = loop {
        let f: FilingWire = net
            .node(TAX.key)
            .local
            .get(&format!("/local/v1/filings/{}", filed.filing_id))
            .await?;
        pb.set_position(f.routed + f.unroutable);
        if f.pending == 0 {
            break (start.elapsed(), f);
        }
        if start.elapsed() > Duration::from_secs(3600) {
            bail!("{} reports still pending after an hour", f.pending);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    pb.finish_with_message("routed");
    // Every routed report is a delivery; the run ends when none is pending.
    let delivered = loop {
        let pending: Vec<DeliveryWire> = net
            .node(TAX.key)
            .local
            .get("/local/v1/deliveries?status=pending&limit=1")
            .await?;
        if pending.is_empty() {
            break start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(3600) {
            bail!("deliveries still pending after an hour");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let prefix = format!("wr:{}:", filed.filing_id);
    let count = |key: &'static str| {
        let net = &net;
        let prefix = prefix.clone();
        async move {
            let copies = renkei_demo::filing::municipality_copies(net, key, 0, Duration::ZERO).await?;
            anyhow::Ok(
                copies
                    .iter()
                    .filter(|e| e.delivery_id.starts_with(&prefix))
                    .count(),
            )
        }
    };
    let copies = (count(SETAGAYA.key).await?, count(YOKOHAMA.key).await?);
    if (copies.0 + copies.1) as u64 != last.routed {
        bail!(
            "{} reports routed but {} copies in the municipalities' inboxes",
            last.routed,
            copies.0 + copies.1
        );
    }
    let run = FilingRun {
        employees,
        queries,
        concurrency,
        date: UnixMillis::now(),
        file_bytes: file.len(),
        queries_per_second,
        submission,
        routed,
        delivered,
        unroutable: last.unroutable,
        copies,
    };
    net.shutdown().await;
    Ok(run)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_filing_hook_follows_a_filing_to_the_municipalities() {
        let run = filing(60, 20, 4, false).await.unwrap();
        assert_eq!(run.employees, 60);
        assert_eq!(run.unroutable, 0);
        assert_eq!(run.copies.0 + run.copies.1, 60);
        assert!(run.copies.0 > 0 && run.copies.1 > 0, "{:?}", run.copies);
        assert!(run.submission <= run.routed && run.routed <= run.delivered);
        assert!(run.queries_per_second > 0.0 && run.reports_per_second() > 0.0);
    }
}
