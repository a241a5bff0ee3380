// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! The hub as a real process, killed with SIGKILL at random moments under
//! load: every linkage it acknowledged must be in its log afterwards, no
//! index may be reused, and the checkpoints published after each restart
//! must be consistent with the last one published before the crash.

#[path = "crash/faults.rs"]
mod faults;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use renkei_api::hub::RecordWire;
use renkei_api::node::{QueryRequest, QueryResult};
use renkei_demo::country::{CountryOptions, populate};
use renkei_demo::institutions::{PENSION, SETAGAYA};
use renkei_demo::network::{Network, NetworkOptions};
use renkei_hub_service::audit::{HttpTiles, TileSource, verify};
use renkei_log::{Checkpoint, Note, NoteVerifier};
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

async fn latest(tiles: &HttpTiles) -> Option<(Checkpoint, String)> {
    let text = tiles.checkpoint().await.ok()?;
    let note = Note::parse(&text).ok()?;
    Some((Checkpoint::parse(&note.text).ok()?, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_hub_loses_no_acknowledged_record_and_its_log_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.hub_binary = Some(PathBuf::from(env!("CARGO_BIN_EXE_renkei")));
    o.durability = Durability::Normal; // the nodes and registry; the hub process always uses FULL
    o.checkpoint_interval_ms = 50;
    o.provider_timeout_ms = 3000;
    let mut net = Network::start(o).await.unwrap();
    let country = populate(
        &net,
        &CountryOptions {
            residents: 240,
            seed: 5,
            today: UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await
    .unwrap();
    let ca = std::fs::read(net.ca_dir.join("ca.crt")).unwrap();
    let tiles = HttpTiles::new(&net.hub.log_url(), &ca).unwrap();
    let key = NoteVerifier::parse(&net.hub.log_verifier).unwrap();

    // Load: workers ask through the pension service's local API.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..12 {
        let client = net.node(PENSION.key).local.clone();
        let id = country.cast.contributor.0.clone();
        let (stop, acked, failed) = (stop.clone(), acked.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let q = QueryRequest {
                    local_id: id.clone(),
                    provider: SETAGAYA.id().to_string(),
                    office_work: "pension_premium_exemption".into(),
                    item: "resident_tax_income".into(),
                    fiscal_year: Some(2025),
                    consent: None,
                    person_proof: None,
                };
                match client.post::<_, QueryResult>("/local/v1/queries", &q).await {
                    Ok(r) => acked.lock().unwrap().push((r.query_id, r.hub_record_seq)),
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    let mut rng = fastrand::Rng::with_seed(2026);
    let mut crashes = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(rng.u64(400..1200))).await;
        let (before, before_note) = latest(&tiles).await.expect("a checkpoint before the crash");
        net.hub.kill().unwrap();
        crashes += 1;
        tokio::time::sleep(Duration::from_millis(rng.u64(50..400))).await;
        net.hub.restart().await.unwrap();
        // The first checkpoint after the restart extends the last one before it.
        let mut after = None;
        for _ in 0..200 {
            if let Some((cp, _)) = latest(&tiles).await
                && cp.size > before.size
            {
                after = Some(cp);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = after.expect("the log grows after the restart");
        // The consistency proof the hub serves verifies between them …
        let proof: renkei_api::log::ProofWire = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .build()
            .unwrap()
            .get(format!(
                "{}/v1/proof/consistency?old={}&new={}",
                net.hub.log_url(),
                before.size,
                after.size
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hashes: Vec<[u8; 32]> = proof
            .proof
            .iter()
            .map(|h| renkei_crypto::unb64("proof", h).unwrap().try_into().unwrap())
            .collect();
        renkei_log::verify_consistency(before.size, after.size, &before.root, &after.root, &hashes).unwrap();
        // … and so does a full audit from the tiles against the old checkpoint.
        let report = verify(&tiles, &key, &[], Some(&before_note)).await.unwrap();
        assert_eq!(
            report.consistent_with,
            Some(before.size),
            "consistent across crash {crashes}"
        );
        assert!(report.size >= after.size);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} acknowledged", acked.len());
    let records: Vec<RecordWire> = net.hub_admin.get("/admin/v1/records?limit=10000").await.unwrap();
    assert_eq!(missing_from_dense_log(&records, &acked), Vec::<String>::new());
    // And the whole log verifies once a checkpoint covers everything.
    let n = records.len() as u64;
    for _ in 0..200 {
        if latest(&tiles).await.is_some_and(|(cp, _)| cp.size >= n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = verify(&tiles, &key, &[], None).await.unwrap();
    assert_eq!(report.size, n);
    eprintln!(
        "crashes: {crashes}, acknowledged: {}, failed while down: {}, log size: {n}",
        acked.len(),
        failed.load(Ordering::Relaxed)
    );
    net.shutdown().await;
}

/// The acknowledged linkages (query id, index told) that are not in the log
/// at their index as provided; and the log must be one dense sequence
/// (indices 0…n−1, none reused) of unique query ids.
fn missing_from_dense_log(records: &[RecordWire], acked: &[(String, u64)]) -> Vec<String> {
    let by_seq: BTreeMap<u64, &RecordWire> = records.iter().map(|r| (r.seq, r)).collect();
    assert_eq!(
        by_seq.keys().copied().collect::<Vec<_>>(),
        (0..records.len() as u64).collect::<Vec<_>>(),
        "one dense log: no gap, no reused index"
    );
    let ids: HashSet<&str> = records.iter().map(|r| r.query_id.as_str()).collect();
    assert_eq!(ids.len(), records.len(), "query ids are unique");
    acked
        .iter()
        .filter(|(qid, seq)| {
            by_seq
                .get(seq)
                .is_none_or(|r| &r.query_id != qid || r.outcome != "provided")
        })
        .map(|(qid, seq)| format!("{qid} at {seq}: {:?}", by_seq.get(seq)))
        .collect()
}

/// The sum of a counter's samples in a Prometheus text page.
fn counter_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Linkages hub process `i` has recorded since it started.
async fn linkages_at(net: &Network, http: &reqwest::Client, i: usize) -> f64 {
    let url = format!("{}/metrics", net.hub.process_admin_url(i).unwrap());
    let page = http.get(url).send().await.unwrap().text().await.unwrap();
    counter_sum(&page, "renkei_hub_linkages_total")
}

/// The test database (`RENKEI_TEST_DATABASE_URL`); without it the test
/// says what it does not run, and fails under `CI=true`.
fn test_database(not_run: &str) -> Option<String> {
    let url = std::env::var("RENKEI_TEST_DATABASE_URL").ok();
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "RENKEI_TEST_DATABASE_URL is not set under CI=true"
        );
        eprintln!("RENKEI_TEST_DATABASE_URL is not set; {not_run}");
    }
    url
}

/// Three hub processes on one PostgreSQL database behind one balanced
/// address. Four institutions drive load, which reaches every hub; two of
/// the hubs are killed with SIGKILL (and restarted) under load. Afterwards
/// the one log is dense, every acknowledged linkage is in it at the index
/// it was told, and the whole log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_hubs_on_one_database_keep_one_log_when_one_is_killed() {
    use renkei_demo::institutions::{KENPO, REGISTRY, VEHICLE, YOKOHAMA};

    let Some(database) = test_database("several hubs need PostgreSQL, not run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.hub_binary = Some(PathBuf::from(env!("CARGO_BIN_EXE_renkei")));
    o.database_url = Some(database);
    o.hubs = 3;
    o.durability = Durability::Normal;
    o.checkpoint_interval_ms = 50;
    o.provider_timeout_ms = 3000;
    let mut net = Network::start(o).await.unwrap();
    let country = populate(
        &net,
        &CountryOptions {
            residents: 240,
            seed: 7,
            today: UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await
    .unwrap();
    let ca = std::fs::read(net.ca_dir.join("ca.crt")).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let c = &country.cast;
    let asks = [
        (
            PENSION.key,
            c.contributor.0.clone(),
            SETAGAYA.id(),
            "pension_premium_exemption",
            "resident_tax_income",
            Some(2025),
        ),
        (
            KENPO.key,
            c.insured.0.clone(),
            SETAGAYA.id(),
            "high_cost_medical",
            "resident_tax_income",
            Some(2025),
        ),
        (
            SETAGAYA.key,
            c.mover.0.clone(),
            YOKOHAMA.id(),
            "child_allowance",
            "resident_tax_income",
            Some(2025),
        ),
        (
            VEHICLE.key,
            c.driver.clone(),
            REGISTRY.id(),
            "vehicle_registration",
            "four_facts",
            None,
        ),
    ];
    let query = |i: usize| {
        let (_, id, provider, work, item, fy) = &asks[i];
        QueryRequest {
            local_id: id.clone(),
            provider: provider.to_string(),
            office_work: (*work).into(),
            item: (*item).into(),
            fiscal_year: *fy,
            consent: None,
            person_proof: None,
        }
    };
    // Every node's connection to the hub address is re-made after this
    // restart, one institution after the other, so the balancer deals the
    // four connections round robin over the three hubs.
    net.hub.kill().unwrap();
    net.hub.restart().await.unwrap();
    for (i, (key, ..)) in asks.iter().enumerate() {
        let client = net.node(key).local.clone();
        let mut ok = false;
        for _ in 0..50 {
            if client
                .post::<_, QueryResult>("/local/v1/queries", &query(i))
                .await
                .is_ok()
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "{key} reaches a hub");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..12 {
        let i = w % asks.len();
        let client = net.node(asks[i].0).local.clone();
        let q = query(i);
        let (stop, acked, failed) = (stop.clone(), acked.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.post::<_, QueryResult>("/local/v1/queries", &q).await {
                    Ok(r) => acked.lock().unwrap().push((r.query_id, r.hub_record_seq)),
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    // Load reaches every hub.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut served = [0.0; 3];
    for (i, s) in served.iter_mut().enumerate() {
        *s = linkages_at(&net, &http, i).await;
    }
    assert!(
        served.iter().all(|s| *s > 0.0),
        "linkages per hub before the kills: {served:?}"
    );

    // Kill two of them in turn under load, and start them again: hub 0
    // first, which took the checkpoint publisher's lease when it started,
    // so the lease must pass on for the log to keep being published.
    for victim in [0, 2] {
        net.hub.kill_process(victim).unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        net.hub.restart().await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} acknowledged", acked.len());
    let records: Vec<RecordWire> = net.hub_admin.get("/admin/v1/records?limit=10000").await.unwrap();
    assert_eq!(missing_from_dense_log(&records, &acked), Vec::<String>::new());
    // Every hub's log view converges, and the whole log verifies.
    let tiles = HttpTiles::new(&net.hub.log_url(), &ca).unwrap();
    let key = NoteVerifier::parse(&net.hub.log_verifier).unwrap();
    let n = records.len() as u64;
    for _ in 0..200 {
        if latest(&tiles).await.is_some_and(|(cp, _)| cp.size >= n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = verify(&tiles, &key, &[], None).await.unwrap();
    assert_eq!(report.size, n);
    eprintln!(
        "3 hubs, 2 killed: acknowledged {}, failed while a hub was down {}, log size {n}, linkages per hub before the kills {served:?}",
        acked.len(),
        failed.load(Ordering::Relaxed)
    );

    // The code key rotated through one hub is the key of every hub within
    // seconds (they share the key file), not only after a restart.
    let rotated: renkei_api::hub::RotateReply = net
        .hub_admin
        .post(
            "/admin/v1/code-keys/rotate",
            &serde_json::json!({"grace_seconds": 3600}),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for i in 0..3 {
        loop {
            let url = format!("{}/health", net.hub.process_admin_url(i).unwrap());
            let health: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            if health["code_key_version"] == rotated.new_version {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "hub {i} still uses code key {} after the rotation to {}",
                health["code_key_version"],
                rotated.new_version
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    net.shutdown().await;
}

/// Deliveries wait out a hub that is down and a sender node that crashes:
/// each is kept in the sender's outbox before the answer, retried with
/// backoff while the hub is gone, sent on by the restarted node, and kept
/// once by the receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_wait_out_a_dead_hub_and_a_crashed_sender_and_arrive_once() {
    use renkei_api::deliveries::{DeliveryRequest, DeliveryWire, InboxEntryWire};
    use renkei_demo::institutions::TAX;

    let dir = tempfile::tempdir().unwrap();
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.hub_binary = Some(PathBuf::from(env!("CARGO_BIN_EXE_renkei")));
    o.durability = Durability::Normal;
    o.deliveries.retry_initial_ms = 200;
    o.deliveries.retry_max_ms = 1000;
    let mut net = Network::start(o).await.unwrap();
    let country = populate(
        &net,
        &CountryOptions {
            residents: 200,
            seed: 9,
            today: UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await
    .unwrap();
    let tax_person = country.cast.taxpayer.0.clone();
    let delivery = |i: usize| DeliveryRequest {
        delivery_id: format!("crash-{i}"),
        local_id: tax_person.clone(),
        recipient: SETAGAYA.id().to_string(),
        office_work: "statutory_filing".into(),
        item: "salary_payment_report".into(),
        fiscal_year: Some(2025),
        document: serde_json::json!({ "salary": 3_000_000 + i }),
    };
    let status = |net: &Network, i: usize| {
        let client = net.node(TAX.key).local.clone();
        async move {
            client
                .get::<DeliveryWire>(&format!("/local/v1/deliveries/crash-{i}"))
                .await
                .unwrap()
        }
    };

    // The hub is down: the deliveries are kept all the same, and wait.
    net.hub.kill().unwrap();
    for i in 0..5 {
        let d: DeliveryWire = net
            .node(TAX.key)
            .local
            .post("/local/v1/deliveries", &delivery(i))
            .await
            .unwrap();
        assert_eq!(d.status, "pending");
    }
    let mut waited = status(&net, 0).await;
    for _ in 0..100 {
        if waited.attempts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited = status(&net, 0).await;
    }
    assert_eq!(waited.status, "pending", "{waited:?}");
    assert!(waited.attempts >= 2, "{waited:?}");
    assert!(
        waited
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("hub_")),
        "{waited:?}"
    );

    // The sender crashes too; then the hub comes back, then the sender.
    net.kill_node(TAX.key);
    net.hub.restart().await.unwrap();
    net.restart_node(TAX.key).await.unwrap();

    let mut all = Vec::new();
    for i in 0..5 {
        let mut d = status(&net, i).await;
        for _ in 0..300 {
            if d.status != "pending" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            d = status(&net, i).await;
        }
        assert_eq!(d.status, "delivered", "{d:?}");
        all.push(d);
    }
    let inbox: Vec<InboxEntryWire> = net
        .node(SETAGAYA.key)
        .local
        .get("/local/v1/inbox?limit=1000")
        .await
        .unwrap();
    let mut ids: Vec<&str> = inbox.iter().map(|e| e.delivery_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["crash-0", "crash-1", "crash-2", "crash-3", "crash-4"]);
    assert!(inbox.iter().all(|e| e.local_id == country.cast.taxpayer.1));
    assert!(all.iter().all(|d| d.query_id.is_some()));
    net.shutdown().await;
}
