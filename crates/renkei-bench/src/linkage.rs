//! `renkei bench linkage`: the price of trust.
//!
//! One network, one run, two paths over the same mutual-TLS setup:
//!
//! * **direct** — the requester's signed request goes straight to the
//!   provider's `/v1/provide` (wrapped in a forward the client signs with
//!   the hub's key): the provider verifies the requester's certificate and
//!   signature, looks the person up, seals the answer with HPKE auth mode,
//!   signs it and writes its own record durably; the requester verifies the
//!   provider's certificate and signature and opens it. This is everything
//!   but the hub.
//! * **hub** — the same request through `/v1/linkage`: the hub adds
//!   authentication, the permission table, two code translations, its
//!   signed forward, the check of the provider's answer, a durable record
//!   and a signed receipt.
//!
//! The ratio hub ÷ direct of throughput is the price of trust; X-Road's
//! published figure is about 0.11, renkei aims at 0.5 or more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use renkei_api::net::{HubReplyWire, SignedAnswerWire, SignedForwardWire, SignedRequestWire};
use renkei_api::node::PersonWire;
use renkei_catalog::{ItemCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{KeyFile, Suite};
use renkei_demo::country::{CountryOptions, populate};
use renkei_demo::institutions::{PENSION, SETAGAYA};
use renkei_demo::network::{Network, NetworkOptions, RawNode};
use renkei_ids::{InstitutionCode, MessageId, QueryId};
use renkei_pki::{Identity, Role, TrustAnchors};
use renkei_protocol::{
    AnswerPayload, FiscalYear, ForwardedQuery, LinkageRequest, SignedAnswer, SignedReceipt, UnixMillis,
};
use renkei_store_sqlite::Durability;
use renkei_transport::{Expect, NetClient, TrustState};

use crate::measure::{Measure, percentile};

/// What to run: the same options make the same measurement on another
/// machine, and the report repeats them as its command line.
#[derive(Debug, Clone)]
pub struct LinkageOptions {
    pub requests: usize,
    pub concurrency: usize,
    pub rounds: usize,
    pub suite: Suite,
}

struct Fixture {
    hub_url: String,
    provider_url: String,
    requester: RawNode,
    /// Clients (connections) the requests to the hub address take turns
    /// on: behind a balancer each connection may reach another hub.
    hub_callers: Vec<RawNode>,
    next_caller: std::sync::atomic::AtomicUsize,
    hub_client: Arc<NetClient>,
    hub_signing: renkei_crypto::SigningKey,
    provider_cert: [u8; 32],
    suite: Suite,
    requester_code: InstitutionCode,
    provider_code: InstitutionCode,
}

fn request(f: &Fixture) -> renkei_protocol::SignedRequest {
    LinkageRequest {
        message_id: MessageId::random(),
        requester: PENSION.id(),
        provider: SETAGAYA.id(),
        office_work: OfficeWorkCode::parse("pension_premium_exemption").expect("static code"),
        item: ItemCode::parse("resident_tax_income").expect("static code"),
        fiscal_year: Some(FiscalYear::new(2025).expect("static year")),
        subject: f.requester_code.clone(),
        issued_at: UnixMillis::now(),
        consent: None,
        person_proof: None,
        payload: None,
    }
    .sign(&f.requester.signing, f.requester.certificate.clone())
}

async fn through_hub(f: &Fixture) -> Result<()> {
    let req = request(f);
    let turn = f.next_caller.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let reply: HubReplyWire = f.hub_callers[turn % f.hub_callers.len()]
        .post_hub(&f.hub_url, "/v1/linkage", &SignedRequestWire::from(&req))
        .await?;
    let answer = SignedAnswer::try_from(&reply.answer)?;
    let receipt = SignedReceipt::try_from(&reply.receipt)?;
    let hub_key = f.hub_signing.verifying_key();
    let provider = f
        .requester
        .trust
        .certified_party(&answer.certificate, SETAGAYA.id(), f.suite)?;
    let v = receipt.verify_reply(&hub_key, &req, &answer, &provider, &f.requester.sealing)?;
    if !matches!(v.payload, AnswerPayload::Found { .. }) {
        bail!("the provider had no data");
    }
    Ok(())
}

async fn direct(f: &Fixture) -> Result<()> {
    let req = request(f);
    let forward = ForwardedQuery {
        query_id: QueryId::random(),
        request: req.provider_view(),
        subject: f.provider_code.clone(),
        previous_subjects: Vec::new(),
        table_row: TableRowRef {
            table_version: "bench".into(),
            row_id: RowId::parse("DIRECT")?,
        },
        non_disclosure: false,
        forwarded_at: UnixMillis::now(),
    }
    .sign(&f.hub_signing);
    let w: SignedAnswerWire = f
        .hub_client
        .post(
            &format!("{}/v1/provide", f.provider_url),
            &SignedForwardWire::from(&forward),
            Expect::Certificate(f.provider_cert),
            None,
        )
        .await?;
    let answer = SignedAnswer::try_from(&w)?;
    let provider = f
        .requester
        .trust
        .certified_party(&answer.certificate, SETAGAYA.id(), f.suite)?;
    answer.verify(&provider.signing)?;
    let plain = f.requester.sealing.open_from(
        &provider.sealing,
        &answer.answer.envelope,
        b"renkei/answer/v2",
        &forward.query.answer_aad(),
    )?;
    if plain.is_empty() {
        bail!("empty answer");
    }
    Ok(())
}

async fn measure<F, Fut>(f: Arc<Fixture>, requests: usize, concurrency: usize, call: F) -> Result<Measure>
where
    F: Fn(Arc<Fixture>) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let f = f.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let t = Instant::now();
                call(f.clone()).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for w in workers {
        all.extend(w.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    Ok(Measure {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
    })
}

/// What `renkei bench linkage` measured, for [`crate::report::render_linkage`].
#[derive(Debug, Clone)]
pub struct LinkageRun {
    pub options: LinkageOptions,
    /// When the rounds ended.
    pub date: UnixMillis,
    /// Each round's direct and through-the-hub measurements.
    pub rows: Vec<(Measure, Measure)>,
}

/// Run the benchmark: `opts.rounds` rounds of each path.
pub async fn linkage(opts: &LinkageOptions) -> Result<LinkageRun> {
    let rows = linkage_rounds(opts, |_| {}).await?;
    Ok(LinkageRun {
        options: opts.clone(),
        date: UnixMillis::now(),
        rows,
    })
}

/// Direct and through-the-hub measurements, `opts.rounds` of each, on a
/// network that `configure` may change (stores, hub processes).
pub(crate) async fn linkage_rounds(
    opts: &LinkageOptions,
    configure: impl FnOnce(&mut NetworkOptions),
) -> Result<Vec<(Measure, Measure)>> {
    if opts.requests == 0 || opts.concurrency == 0 || opts.rounds == 0 {
        bail!("requests, concurrency and rounds must be positive");
    }
    let dir = tempfile::Builder::new().prefix("renkei-bench-").tempdir()?;
    let mut net_opts = NetworkOptions::new(dir.path());
    net_opts.suite = opts.suite;
    net_opts.durability = Durability::Full;
    configure(&mut net_opts);
    let net = Network::start(net_opts).await?;
    let country = populate(
        &net,
        &CountryOptions {
            residents: 300,
            seed: 7,
            today: UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await?;
    let (pension_id, setagaya_id) = &country.cast.contributor;
    let requester_code: PersonWire = net
        .node(PENSION.key)
        .local
        .get(&format!("/local/v1/persons/{pension_id}"))
        .await?;
    let provider_code: PersonWire = net
        .node(SETAGAYA.key)
        .local
        .get(&format!("/local/v1/persons/{setagaya_id}"))
        .await?;

    let hub_dir = dir.path().join("hub");
    let hub_signing = match KeyFile::parse(&String::from_utf8(
        renkei_pki::read_private(&hub_dir.join("signing.key"))?.to_vec(),
    )?)? {
        KeyFile::Signing(k) => k,
        KeyFile::Sealing(_) => bail!("hub signing key file holds a sealing key"),
    };
    let anchors = TrustAnchors::load(
        &net.ca_dir.join(renkei_pki::CA_CERT_FILE),
        &net.ca_dir.join(renkei_pki::CA_CRL_FILE),
    )?;
    let hub_identity = Identity::load(&hub_dir.join("tls.crt"), &hub_dir.join("tls.key"))?;
    if hub_identity.certificate().identity.role != Role::Hub {
        bail!("not the hub's certificate");
    }
    let hub_trust = TrustState::new(hub_identity, anchors);
    let setagaya = net.node(SETAGAYA.key);
    let provider_cert = renkei_pki::Identity::load(&setagaya.files.cert, &setagaya.files.key)?
        .certificate()
        .fingerprint;
    let fixture = Arc::new(Fixture {
        hub_url: net.hub.url(),
        provider_url: setagaya.network_url(),
        requester: net.impersonate(PENSION.key)?,
        hub_callers: (0..opts.concurrency.clamp(1, 8))
            .map(|_| net.impersonate(PENSION.key))
            .collect::<Result<_>>()?,
        next_caller: std::sync::atomic::AtomicUsize::new(0),
        hub_client: hub_trust.client(Duration::from_secs(30))?,
        hub_signing,
        provider_cert,
        suite: opts.suite,
        requester_code: InstitutionCode::parse(&requester_code.code)?,
        provider_code: InstitutionCode::parse(&provider_code.code)?,
    });

    // Warm up both paths (connections, caches, SQLite pages).
    let warm = (opts.requests / 10).max(opts.concurrency);
    measure(fixture.clone(), warm, opts.concurrency, |f| async move {
        direct(&f).await
    })
    .await
    .context("direct warm-up")?;
    measure(fixture.clone(), warm, opts.concurrency, |f| async move {
        through_hub(&f).await
    })
    .await
    .context("hub warm-up")?;

    let mut rows = Vec::new();
    for _ in 0..opts.rounds {
        let d = measure(fixture.clone(), opts.requests, opts.concurrency, |f| async move {
            direct(&f).await
        })
        .await?;
        let h = measure(fixture.clone(), opts.requests, opts.concurrency, |f| async move {
            through_hub(&f).await
        })
        .await?;
        rows.push((d, h));
    }
    net.shutdown().await;
    Ok(rows)
}
