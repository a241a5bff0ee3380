//! `renkei bench delivery`: signed deposits per second at the portal —
//! batched and one by one over HTTP, beside the CPU ceiling of checking
//! them (signature, claims, schema) in process — and the mailbox export
//! of a person with 1,000 documents beside the mailbox page listing them.
//!
//! The people are real: card holders of a populated country who log in
//! and link the sender from the mailbox, confirmed with their cards; the
//! sender learns their handles from its feed, as a sender does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use renkei_card::{CardProfile, CardSecret};
use renkei_delivery::{DocumentTypes, Sender, SenderRequest, check_deposit};
use renkei_demo::country::{CountryOptions, populate};
use renkei_demo::delivery::admin_post;
use renkei_demo::institutions::{DIGITAL, PENSION};
use renkei_demo::network::{Network, NetworkOptions};
use renkei_demo::resident::Resident;
use renkei_jose::{Alg, Jwks, SigningKey};
use renkei_portal_web::sender_client::{SenderClient, sign_line};
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;
use serde_json::{Value, json};

/// What `renkei bench delivery` measured, for
/// [`crate::report::render_delivery`].
#[derive(Debug, Clone)]
pub struct DeliveryRun {
    pub deposits: usize,
    pub singles: usize,
    pub batch: usize,
    pub inflight: usize,
    pub concurrency: usize,
    pub date: UnixMillis,
    /// Baseline: `check_deposit` in process on every core (no HTTP, no store).
    pub check_secs: f64,
    /// Batched deposits over HTTP, stored (one transaction per batch).
    pub batched_secs: f64,
    /// One deposit per request over HTTP, `concurrency` at a time.
    pub single_secs: f64,
    /// Documents in the exported mailbox.
    pub export_docs: usize,
    /// `GET /mailbox` listing them (the baseline), then the export; sorted.
    pub page: Vec<Duration>,
    pub export: Vec<Duration>,
    pub export_bytes: usize,
}

fn deposit_line(id: &str, handle: &str, premium: u64) -> String {
    let mut doc = renkei_delivery::example_document("life_insurance_certificate.v1").unwrap_or_default();
    doc["annual_premium"] = premium.into();
    renkei_portal_web::sender_client::deposit_line(id, "life_insurance_certificate.v1", handle, &doc, None)
}

/// Sign `n` deposits for `handle` (ids `prefix-0…`), before any clock runs.
fn signed(key: &SigningKey, handle: &str, prefix: &str, n: usize) -> Result<Vec<String>> {
    let now = UnixMillis::now();
    (0..n)
        .map(|i| {
            sign_line(
                key,
                &deposit_line(&format!("{prefix}-{i}"), handle, 50_000 + i as u64),
                now,
            )
            .map_err(anyhow::Error::msg)
        })
        .collect()
}

pub async fn delivery(
    deposits: usize,
    singles: usize,
    batch: usize,
    inflight: usize,
    concurrency: usize,
    export_docs: usize,
) -> Result<DeliveryRun> {
    if deposits == 0 || singles == 0 || export_docs == 0 || concurrency == 0 || inflight == 0 {
        bail!("every count must be positive");
    }
    if batch == 0 || batch > renkei_portal_web::deposits::MAX_BATCH_LINES {
        bail!("--batch: 1 to {}", renkei_portal_web::deposits::MAX_BATCH_LINES);
    }
    let dir = tempfile::Builder::new()
        .prefix("renkei-bench-delivery-")
        .tempdir()?;
    let mut o = NetworkOptions::new(dir.path());
    o.durability = Durability::Full;
    let net = Network::start(o).await?;
    let country = populate(
        &net,
        &CountryOptions {
            residents: 200,
            seed: 7,
            today: UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await?;
    let pin = CardSecret::auth_pin("1234")?;
    let password = CardSecret::signing_password("BENCH2026")?;
    let base = net.portal.url.clone();

    // The sender, applied and approved.
    let key = SigningKey::generate(Alg::Es256)?;
    let jwks: Value = serde_json::from_str(
        &Jwks {
            keys: vec![key.public_jwk().clone()],
        }
        .to_json(),
    )?;
    let applied = admin_post(
        &net,
        "/admin/v1/senders",
        &json!({"corporate_number": "4020001095513", "name": "あおば生命保険株式会社", "kind": "life_insurer",
                "jwks": jwks, "document_types": ["life_insurance_certificate.v1"],
                "contact": "delivery@aoba-life.example"}),
    )
    .await?;
    let sender_id = applied["sender_id"].as_str().context("no sender_id")?.to_owned();
    admin_post(
        &net,
        &format!("/admin/v1/senders/{sender_id}/approve"),
        &json!({"by": "bench"}),
    )
    .await?;

    // Two card holders link it: one receives the throughput runs' documents,
    // the other exactly `export_docs` for the export.
    let mut people = Vec::new();
    for (i, (key_of, local)) in [
        (DIGITAL.key, &country.cast.account_holder.1),
        (PENSION.key, &country.cast.pensioner.1),
    ]
    .into_iter()
    .enumerate()
    {
        let who = country
            .inhabitant(key_of, local)
            .context("a card holder")?
            .clone();
        let card_dir = dir.path().join(format!("card-{i}"));
        let (card, _) = renkei_demo::cards::issue_card(
            &net.registry_admin,
            &who.my_number,
            &card_dir,
            CardProfile::EcdsaP384Sha384,
            &pin,
            &password,
        )
        .await?;
        let mut r = Resident::login(&base, &card, &pin).await?;
        r.link_sender(&base, &sender_id, &format!("POL-{i}"), &card, &pin)
            .await?;
        people.push(r);
    }
    let client = SenderClient::new(
        &base,
        &sender_id,
        SigningKey::from_pkcs8(Alg::Es256, key.pkcs8())?,
    )?;
    let feed = client.feed(0).await?;
    let handle = |reference: &str| -> Result<String> {
        feed.links
            .iter()
            .find(|l| l.reference.as_deref() == Some(reference))
            .map(|l| l.handle.clone())
            .context("the feed has no link for the reference")
    };
    let (bulk_handle, export_handle) = (handle("POL-0")?, handle("POL-1")?);
    let date = UnixMillis::now();

    // Baseline: the checks alone, in process, on every core.
    let types = Arc::new(DocumentTypes::builtin()?);
    let jws = Arc::new(signed(&key, &bulk_handle, "CHECK", deposits)?);
    // The sender as the portal keeps it, approved.
    let form = renkei_delivery::SenderForm {
        corporate_number: "4020001095513".into(),
        name: "あおば生命保険株式会社".into(),
        name_en: None,
        kind: "life_insurer".into(),
        jwks: jwks.clone(),
        document_types: vec!["life_insurance_certificate.v1".into()],
        contact: "delivery@aoba-life.example".into(),
    };
    let stored_sender = Sender::new(
        renkei_delivery::SenderId::parse(&sender_id).context("sender id")?,
        form.validate(&types).map_err(|e| anyhow::anyhow!("{e}"))?,
        date,
    );
    let mut approved = stored_sender;
    approved.status = renkei_consent::ClientStatus::Approved;
    let approved = Arc::new(approved);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (jws, types, sender) = (jws.clone(), types.clone(), approved.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut ok = 0usize;
            for j in jws.iter().skip(w).step_by(workers) {
                if matches!(
                    check_deposit(j, &sender, &types, UnixMillis::now()),
                    Ok(SenderRequest::Deposit(_))
                ) {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut checked = 0;
    for t in tasks {
        checked += t.await?;
    }
    let check_secs = t.elapsed().as_secs_f64();
    if checked != deposits {
        bail!("only {checked} of {deposits} deposits passed the checks");
    }

    // Batched over HTTP, `inflight` batches at a time.
    let lines = signed(&key, &bulk_handle, "BULK", deposits)?;
    let client = Arc::new(client);
    let t = Instant::now();
    let mut stored = 0usize;
    for group in lines.chunks(batch * inflight) {
        let mut running = Vec::new();
        for chunk in group.chunks(batch) {
            let (client, chunk) = (client.clone(), chunk.to_vec());
            running.push(tokio::spawn(async move { client.batch(&chunk, false).await }));
        }
        for r in running {
            stored += r.await??.stored;
        }
    }
    let batched_secs = t.elapsed().as_secs_f64();
    if stored != deposits {
        bail!("only {stored} of {deposits} batched deposits were stored");
    }

    // One by one over HTTP, `concurrency` at a time.
    let lines = Arc::new(signed(&key, &bulk_handle, "ONE", singles)?);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    let mut running = Vec::new();
    for _ in 0..concurrency {
        let (client, lines, next) = (client.clone(), lines.clone(), next.clone());
        running.push(tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(line) = lines.get(i) else { break };
                if client.deposit(line).await?.status == "stored" {
                    n += 1;
                }
            }
            Ok::<_, anyhow::Error>(n)
        }));
    }
    let mut one_by_one = 0;
    for r in running {
        one_by_one += r.await??;
    }
    let single_secs = t.elapsed().as_secs_f64();
    if one_by_one != singles {
        bail!("only {one_by_one} of {singles} single deposits were stored");
    }

    // The export of a mailbox with `export_docs` documents.
    for chunk in signed(&key, &export_handle, "EXPORT", export_docs)?.chunks(batch) {
        client.batch(chunk, true).await?;
    }
    let reader = &mut people[1];
    let (mut page, mut export, mut export_bytes) = (Vec::new(), Vec::new(), 0);
    for _ in 0..10 {
        let t = Instant::now();
        let p = reader.get("/mailbox").await?;
        page.push(t.elapsed());
        if p.status != 200 || p.body.matches("class=\"notice-item").count() != export_docs {
            bail!(
                "the mailbox page does not list the {export_docs} documents ({})",
                p.status
            );
        }
        let t = Instant::now();
        let (status, zip) = reader.get_bytes("/mailbox/export").await?;
        export.push(t.elapsed());
        if status != 200 {
            bail!("export: {status}");
        }
        export_bytes = zip.len();
    }
    page.sort();
    export.sort();
    net.shutdown().await;
    Ok(DeliveryRun {
        deposits,
        singles,
        batch,
        inflight,
        concurrency,
        date,
        check_secs,
        batched_secs,
        single_secs,
        export_docs,
        page,
        export,
        export_bytes,
    })
}
