//! `renkei bench portal`: card login (challenge → session) server time in
//! both card profiles, and the exchange-history page with 1,000 records and
//! their proofs — each beside a baseline measured in the same run.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use renkei_api::node::QueryRequest;
use renkei_card::{CardKey, CardProfile, CardSecret, CertPurpose, SoftwareCard};
use renkei_demo::country::{CountryOptions, populate};
use renkei_demo::institutions::{DIGITAL, REGISTRY};
use renkei_demo::network::{Network, NetworkOptions};
use renkei_portal_web::card_api::{ApproveRequest, ChallengeWire};
use renkei_protocol::UnixMillis;
use renkei_store_sqlite::Durability;

/// What `renkei bench portal` measured, for [`crate::report::render_portal`].
/// Every series of times is sorted.
#[derive(Debug, Clone)]
pub struct PortalRun {
    /// Logins per card profile, as asked.
    pub logins: usize,
    /// Records about the person, as asked.
    pub records: usize,
    /// When the measurements began (the network up and populated).
    pub date: UnixMillis,
    /// `GET /health`: the portal's HTTP floor.
    pub floor: Vec<Duration>,
    /// One per card profile, in [`CardProfile::ALL`]'s order.
    pub profiles: Vec<ProfileLogins>,
    /// Records the history page counted, and those it showed verified.
    pub count: usize,
    pub verified: usize,
    /// The log's records and proofs as JSON (the history's baseline).
    pub raw: Vec<Duration>,
    /// The history page, one per view.
    pub pages: Vec<Duration>,
}

/// Logins with one card profile, beside resolving the card alone.
#[derive(Debug, Clone)]
pub struct ProfileLogins {
    pub profile: CardProfile,
    pub resolve: Vec<Duration>,
    pub logins: Vec<Duration>,
}

/// A browser's cookies, by hand (the bench measures the server, so it
/// follows nothing it need not).
struct Session {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Session {
    fn new(base: &str) -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()?,
            base: base.to_owned(),
            cookies: Vec::new(),
        })
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let Some((k, v)) = v
                .to_str()
                .ok()
                .and_then(|s| s.split(';').next())
                .and_then(|s| s.split_once('='))
            else {
                continue;
            };
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> Result<(u16, String)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await?;
        self.keep(&resp);
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    async fn post_form(&mut self, path: &str, body: String) -> Result<u16> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        self.keep(&resp);
        Ok(resp.status().as_u16())
    }
}

fn code_in(page: &str) -> Result<String> {
    let rest = page
        .split("id=\"login-code\">")
        .nth(1)
        .context("no code on the login page")?;
    Ok(rest.chars().take_while(|c| *c != '<').collect())
}

fn match_in(page: &str) -> Result<String> {
    let rest = page
        .split("id=\"login-match\">")
        .nth(1)
        .context("no number on the login page")?;
    Ok(rest.chars().take_while(|c| *c != '<').collect())
}

/// One login; returns the server time (the card's signing excluded).
async fn login(base: &str, key: &CardKey, cert: &[u8]) -> Result<(Duration, Session)> {
    let mut s = Session::new(base)?;
    let t = Instant::now();
    let (status, page) = s.get("/login").await?;
    if status != 200 {
        bail!("login page: {status}");
    }
    let code = code_in(&page)?;
    let challenge: ChallengeWire = s
        .http
        .get(format!("{base}/api/card/v1/challenges/{}", code.replace('-', "")))
        .send()
        .await?
        .json()
        .await?;
    let before_sign = t.elapsed();
    // The number the login page shows, entered as a person would.
    let shown = match_in(&page)?;
    let template = base64::engine::general_purpose::STANDARD.decode(&challenge.to_be_signed)?;
    let tbs = renkei_portal::ChallengeText::parse(std::str::from_utf8(&template)?)?
        .with_match(renkei_portal::MatchValue::parse(&shown).context("the login page's number")?)?
        .to_bytes();
    let sig = key.sign(&tbs)?;
    let t2 = Instant::now();
    let resp = s
        .http
        .post(format!("{base}/api/card/v1/challenges/{}", code.replace('-', "")))
        .json(&ApproveRequest {
            certificate: base64::engine::general_purpose::STANDARD.encode(cert),
            signature: base64::engine::general_purpose::STANDARD.encode(&sig),
            match_value: Some(shown),
        })
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!(
            "approve: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    let done = s.post_form("/login/complete", format!("code={code}")).await?;
    if done != 303 {
        bail!("login completion: {done}");
    }
    Ok((before_sign + t2.elapsed(), s))
}

/// Run the benchmark: `logins` logins per card profile, then the history
/// of a person with `records` exchanges.
pub async fn portal(logins: usize, records: usize) -> Result<PortalRun> {
    if logins == 0 || records == 0 {
        bail!("logins and records must be positive");
    }
    let dir = tempfile::Builder::new()
        .prefix("renkei-bench-portal-")
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
    let who = country
        .inhabitant(DIGITAL.key, &country.cast.account_holder.1)
        .context("the account holder")?
        .clone();
    let pin = CardSecret::auth_pin("1234")?;
    let password = CardSecret::signing_password("BENCH2026")?;
    let base = net.portal.url.clone();
    let date = UnixMillis::now();

    // Baseline 1: the portal's HTTP floor.
    let mut floor = Vec::new();
    let http = reqwest::Client::builder().no_proxy().build()?;
    for _ in 0..logins {
        let t = Instant::now();
        http.get(format!("{base}/health")).send().await?.text().await?;
        floor.push(t.elapsed());
    }
    floor.sort();

    let mut profiles = Vec::new();
    let mut last_session = None;
    let mut last_proof = None;
    for profile in CardProfile::ALL {
        // A new card reissues the previous one: each profile is measured
        // right after its card is issued, while it is the live one.
        let card_dir = dir.path().join(format!("live-{}", profile.as_str()));
        let (card, _) = renkei_demo::cards::issue_card(
            &net.registry_admin,
            &who.my_number,
            &card_dir,
            profile,
            &pin,
            &password,
        )
        .await?;
        let key = open_key(&card, &pin)?;
        let cert = card.certificate(CertPurpose::Authentication)?;
        // Baseline 2: resolving the card alone (node → registry → hub),
        // with the card's signature over a fresh challenge and a session
        // proof, as a login does (the card's signing included).
        let mut resolve = Vec::new();
        for _ in 0..logins {
            let t = Instant::now();
            let holder = renkei_demo::cards::resolve_with_card(
                &net.node(DIGITAL.key).local,
                |t| Ok(key.sign(t)?),
                &cert,
                None,
            )
            .await?;
            resolve.push(t.elapsed());
            last_proof = holder.person_proof;
        }
        let mut times = Vec::new();
        for _ in 0..logins {
            let (t, s) = login(&base, &key, &cert).await?;
            times.push(t);
            last_session = Some(s);
        }
        resolve.sort();
        times.sort();
        profiles.push(ProfileLogins {
            profile,
            resolve,
            logins: times,
        });
    }

    // The history: `records` exchanges about the person, then the page.
    let mut session = last_session.context("a session")?;
    let local = net.node(DIGITAL.key).local.clone();
    // The card resolves to the Digital Agency's id of the account holder.
    let person_id = country.cast.account_holder.1.clone();
    let proof = last_proof.context("a person proof from the card")?;
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for _ in 0..records {
        let (local, id, sem, proof) = (local.clone(), person_id.clone(), sem.clone(), proof.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await?;
            let _: renkei_api::node::QueryResult = local
                .post(
                    "/local/v1/queries",
                    &QueryRequest {
                        local_id: id,
                        provider: REGISTRY.id().to_string(),
                        office_work: "own_disclosure".into(),
                        item: "four_facts".into(),
                        fiscal_year: None,
                        consent: None,
                        person_proof: Some(proof),
                    },
                )
                .await?;
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    // Let a checkpoint cover them all, so that every record has its proof.
    tokio::time::sleep(Duration::from_millis(
        net.options.checkpoint_interval_ms * 2 + 200,
    ))
    .await;
    let (status, page) = session.get("/history").await?;
    if status != 200 {
        bail!("history: {status}");
    }
    let count: usize = page
        .split("id=\"record-count\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|n| n.parse().ok())
        .context("the record count")?;
    let verified = page.matches("mark verified").count();
    // Baseline: the hub's view of the same records with proofs, fetched
    // and decoded but neither verified nor rendered.
    let key: renkei_api::node::PersonKeyResult = local
        .post(
            &format!("/local/v1/persons/{person_id}/person-key"),
            &renkei_api::node::PersonKeyAsk {
                person_proof: proof.clone(),
                consent: None,
            },
        )
        .await?;
    let ca = std::fs::read(net.ca_dir.join(renkei_pki::CA_CERT_FILE))?;
    let log = renkei_transport::PublicClient::new(&net.hub.log_url(), &ca, Duration::from_secs(30))?;
    let rounds = logins.clamp(10, 50);
    let (mut raw, mut pages) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let r: renkei_api::log::PersonRecordsWire = log
            .get_json_as_person("/v1/person/records", &key.access_token)
            .await?;
        raw.push(t.elapsed());
        if r.records.len() < records {
            bail!("the log holds {} records of the person", r.records.len());
        }
        let t = Instant::now();
        let (status, _) = session.get("/history").await?;
        pages.push(t.elapsed());
        if status != 200 {
            bail!("history: {status}");
        }
    }
    raw.sort();
    pages.sort();
    net.shutdown().await;
    Ok(PortalRun {
        logins,
        records,
        date,
        floor,
        profiles,
        count,
        verified,
        raw,
        pages,
    })
}

fn open_key(card: &SoftwareCard, pin: &CardSecret) -> Result<CardKey> {
    let pem = renkei_pki::read_private(&card.key_path(CertPurpose::Authentication))?;
    Ok(CardKey::from_encrypted_pem(
        card.profile(),
        std::str::from_utf8(&pem)?,
        pin,
    )?)
}
