//! Deliveries (pushes through a node's durable outbox): a hook to measure
//! them. The tax agency's node is handed `deliveries` salary-payment
//! reports for Setagaya (posted `concurrency` at a time through its local
//! API, each kept in its outbox before the answer); its worker pushes them
//! through the hub; the run ends when Setagaya's inbox holds them all.
//!
//! `renkei bench push` ([`push`]) measures them beside queries in the same
//! run: the baseline is the same number of linkages (a query and its
//! answer through the hub) between nodes of the same network.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use renkei_api::deliveries::{DeliveryRequest, DeliveryWire, InboxEntryWire};
use renkei_demo::country::Country;
use renkei_demo::institutions::{PENSION, SETAGAYA, TAX};
use renkei_demo::network::Network;

/// What one run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PushRun {
    pub deliveries: usize,
    /// Deliveries the sender's node took into its outbox per second.
    pub posted_per_second: f64,
    /// Deliveries in the receiver's inbox per second, from the first post
    /// to the last arrival: the end-to-end rate of pushes.
    pub delivered_per_second: f64,
}

/// Push `deliveries` documents from the tax agency's node to Setagaya's,
/// posting `concurrency` at a time; fails if any is not in Setagaya's
/// inbox within `timeout`.
pub async fn deliveries(
    net: &Network,
    country: &Country,
    deliveries: usize,
    concurrency: usize,
    timeout: Duration,
) -> Result<PushRun> {
    let people: Vec<String> = country
        .people
        .iter()
        .filter_map(|p| p.ids.get(TAX.key).cloned())
        .collect();
    if people.is_empty() {
        bail!("no one is enrolled at the tax agency's node");
    }
    let receiver = net.node(SETAGAYA.key).local.clone();
    let mut after = last_seq(&receiver).await?;
    let run = format!("bench-{:016x}", fastrand::u64(..));
    let sender = net.node(TAX.key).local.clone();
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = Instant::now();
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..deliveries {
        let permit = sem.clone().acquire_owned().await?;
        let client = sender.clone();
        let body = DeliveryRequest {
            delivery_id: format!("{run}-{i}"),
            local_id: people[i % people.len()].clone(),
            recipient: SETAGAYA.id().to_string(),
            office_work: "statutory_filing".into(),
            item: "salary_payment_report".into(),
            fiscal_year: Some(2025),
            document: serde_json::json!({
                "form": "給与支払報告書（個人別明細書）",
                "payment": { "salary": 4_000_000 + i, "withheld": 100_000 },
            }),
        };
        posts.spawn(async move {
            let r: Result<DeliveryWire, _> = client.post("/local/v1/deliveries", &body).await;
            drop(permit);
            r
        });
    }
    while let Some(r) = posts.join_next().await {
        r?.context("posting a delivery")?;
    }
    let posted = start.elapsed();

    let mut seen = HashSet::new();
    let deadline = start + timeout;
    while seen.len() < deliveries {
        let page: Vec<InboxEntryWire> = receiver
            .get(&format!("/local/v1/inbox?after={after}&limit=1000"))
            .await
            .context("reading the receiver's inbox")?;
        if page.is_empty() {
            if Instant::now() > deadline {
                bail!("{} of {deliveries} deliveries arrived in time", seen.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for e in &page {
            if e.delivery_id.starts_with(&run) {
                seen.insert(e.delivery_id.clone());
            }
        }
        after = page.last().map_or(after, |e| e.seq);
    }
    let delivered = start.elapsed();
    Ok(PushRun {
        deliveries,
        posted_per_second: deliveries as f64 / posted.as_secs_f64().max(1e-9),
        delivered_per_second: deliveries as f64 / delivered.as_secs_f64().max(1e-9),
    })
}

/// What `renkei bench push` measured, for [`crate::report::render_push`].
#[derive(Debug, Clone)]
pub struct PushBench {
    pub requests: usize,
    pub concurrency: usize,
    pub rounds: Vec<(f64, PushRun)>,
    pub date: renkei_protocol::UnixMillis,
}

/// `requests` queries (the pension service asks Setagaya for a
/// contributor's income, as its premium exemption does), then `requests`
/// deliveries (the tax agency's salary-payment reports to Setagaya), each
/// `concurrency` at a time, `rounds` times, on one durable network.
pub async fn push(requests: usize, concurrency: usize, rounds: usize) -> Result<PushBench> {
    use renkei_demo::country::{CountryOptions, populate};
    use renkei_demo::network::NetworkOptions;
    if requests == 0 || concurrency == 0 || rounds == 0 {
        bail!("requests, concurrency and rounds must be positive");
    }
    let dir = tempfile::Builder::new().prefix("renkei-bench-push-").tempdir()?;
    let mut o = NetworkOptions::new(dir.path());
    o.durability = renkei_store_sqlite::Durability::Full;
    let net = Network::start(o).await?;
    let country = populate(
        &net,
        &CountryOptions {
            residents: 300,
            seed: 7,
            today: renkei_protocol::UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await?;
    let date = renkei_protocol::UnixMillis::now();
    let mut out = Vec::new();
    for _ in 0..rounds {
        let queries = query_rate(&net, &country, requests, concurrency).await?;
        let pushed = deliveries(&net, &country, requests, concurrency, Duration::from_secs(600)).await?;
        out.push((queries, pushed));
    }
    net.shutdown().await;
    Ok(PushBench {
        requests,
        concurrency,
        rounds: out,
        date,
    })
}

/// `requests` queries through the hub (the pension service asks Setagaya
/// for a contributor's income), `concurrency` at a time: queries per second.
pub(crate) async fn query_rate(
    net: &Network,
    country: &renkei_demo::country::Country,
    requests: usize,
    concurrency: usize,
) -> Result<f64> {
    let asker = net.node(PENSION.key).local.clone();
    let body = renkei_api::node::QueryRequest {
        local_id: country.cast.contributor.0.clone(),
        provider: SETAGAYA.id().to_string(),
        office_work: "pension_premium_exemption".into(),
        item: "resident_tax_income".into(),
        fiscal_year: Some(2025),
        consent: None,
        person_proof: None,
    };
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let start = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..requests {
        let permit = sem.clone().acquire_owned().await?;
        let (client, body) = (asker.clone(), body.clone());
        running.spawn(async move {
            let r: Result<renkei_api::node::QueryResult, _> = client.post("/local/v1/queries", &body).await;
            drop(permit);
            r
        });
    }
    while let Some(r) = running.join_next().await {
        let answer = r?.context("a query")?;
        if answer.status != "found" {
            bail!("a query was answered {}", answer.status);
        }
    }
    Ok(requests as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// The receiver's last inbox sequence number (0 for an empty inbox).
async fn last_seq(receiver: &renkei_transport::LocalClient) -> Result<u64> {
    let mut after = 0;
    loop {
        let page: Vec<InboxEntryWire> = receiver
            .get(&format!("/local/v1/inbox?after={after}&limit=1000"))
            .await
            .context("reading the receiver's inbox")?;
        match page.last() {
            Some(e) => after = e.seq,
            None => return Ok(after),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use renkei_demo::country::{CountryOptions, populate};
    use renkei_demo::network::NetworkOptions;
    use renkei_protocol::UnixMillis;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_push_hook_measures_deliveries_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = NetworkOptions::new(dir.path().join("net"));
        o.durability = renkei_store_sqlite::Durability::Normal;
        let net = Network::start(o).await.unwrap();
        let country = populate(
            &net,
            &CountryOptions {
                residents: 200,
                seed: 7,
                today: UnixMillis::now().to_datetime().date(),
                progress: false,
            },
        )
        .await
        .unwrap();
        let run = deliveries(&net, &country, 40, 8, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(run.deliveries, 40);
        assert!(run.delivered_per_second > 0.0 && run.posted_per_second >= run.delivered_per_second);
        // A second run counts only its own.
        let again = deliveries(&net, &country, 5, 2, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(again.deliveries, 5);
        net.shutdown().await;
    }
}
