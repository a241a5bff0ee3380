//! `renkei demo`: start the country, fill it, run the scenarios, print a
//! trace a person can follow, and describe the running network in
//! `demo.json` for scripts.

// The demo's output *is* its product: it prints on purpose.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use renkei_crypto::{Suite, b64};
use renkei_pki::WriteMode;
use renkei_store_sqlite::Durability;
use serde_json::json;

use crate::country::{Country, CountryOptions, populate};
use crate::institutions::REGISTRY;
use crate::network::{Network, NetworkOptions};
use crate::scenarios::{self, ScenarioResult};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// `None`: a fresh temporary directory (kept afterwards, for inspection).
    pub data_dir: Option<PathBuf>,
    pub residents: usize,
    pub seed: u64,
    pub suite: Suite,
    pub durability: Durability,
    /// Every role on this PostgreSQL database instead of SQLite files.
    pub database_url: Option<String>,
    pub progress: bool,
    /// Print the trace (tests turn it off).
    pub print: bool,
}

/// A finished demo run, with the network still running.
#[derive(Debug)]
pub struct DemoRun {
    pub network: Network,
    pub country: Country,
    pub results: Vec<ScenarioResult>,
    pub demo_json: PathBuf,
    /// Ready software cards of a few residents, to log in to the portal.
    pub cards: Vec<DemoCard>,
}

/// A resident's software card, ready to use.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoCard {
    /// Who it is, for people to read (name, age, what they show).
    pub holder: String,
    pub about: String,
    pub dir: PathBuf,
    pub profile: String,
    pub pin: String,
    pub password: String,
    /// The resident as the demo's business systems know them (their ids
    /// at each institution); never written to `demo.json`.
    #[serde(skip)]
    pub inhabitant: crate::country::Inhabitant,
}

/// Cards for the cast the portal shows best: an account holder, a worker
/// with health checkups, a pensioner.
async fn issue_demo_cards(net: &Network, country: &Country, dir: &Path) -> Result<Vec<DemoCard>> {
    use crate::institutions::{DIGITAL, KENPO, PENSION};
    use renkei_card::{CardProfile, CardSecret};
    let pin = CardSecret::auth_pin(crate::cards::DEMO_PIN)?;
    let password = CardSecret::signing_password(crate::cards::DEMO_PASSWORD)?;
    let checkup_holder = country
        .people
        .iter()
        .find(|p| p.age >= 35 && p.employed && p.ids.contains_key(KENPO.key))
        .cloned();
    let picks = [
        (
            country
                .inhabitant(DIGITAL.key, &country.cast.account_holder.1)
                .cloned(),
            "public-fund account holder / 公金受取口座を登録済み",
            CardProfile::EcdsaP384Sha384,
        ),
        (
            checkup_holder,
            "insured worker with health checkups / 特定健診の結果あり",
            CardProfile::Rsa2048Sha256,
        ),
        (
            country
                .inhabitant(PENSION.key, &country.cast.pensioner.1)
                .cloned(),
            "pensioner / 年金受給者",
            CardProfile::EcdsaP384Sha384,
        ),
    ];
    let mut out = Vec::new();
    for (i, (who, about, profile)) in picks.into_iter().enumerate() {
        let Some(who) = who else { continue };
        let card_dir = dir.join("cards").join(format!("resident-{}", i + 1));
        crate::cards::issue_card(
            &net.registry_admin,
            &who.my_number,
            &card_dir,
            profile,
            &pin,
            &password,
        )
        .await?;
        out.push(DemoCard {
            holder: format!("{} ({})", who.name, who.age),
            about: about.to_owned(),
            dir: card_dir,
            profile: profile.as_str().to_owned(),
            pin: crate::cards::DEMO_PIN.to_owned(),
            password: crate::cards::DEMO_PASSWORD.to_owned(),
            inhabitant: who,
        });
    }
    Ok(out)
}

impl DemoRun {
    pub fn all_passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }
}

fn prepare_dir(dir: Option<PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(&d)?.next().is_some() {
                bail!(
                    "{} is not empty; give a new or empty directory (the demo never overwrites a network)",
                    d.display()
                );
            }
            renkei_pki::provision::private_dir(&d)?;
            Ok(d)
        }
        None => Ok(tempfile::Builder::new()
            .prefix("renkei-demo-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .context("creating a temporary directory")?
            .keep()),
    }
}

/// One scenario's line (and its trace when printing).
fn show_result(say: &impl Fn(String), print: bool, n: usize, r: &ScenarioResult) {
    say(format!(
        "[{n:>2}] {} {}",
        if r.passed { "✔" } else { "✘" },
        r.name
    ));
    if print {
        print!("{}", r.trace);
    }
    if !r.passed {
        say(format!("     expected {}, observed {}", r.expected, r.observed));
    }
}

pub async fn run(opts: DemoOptions) -> Result<DemoRun> {
    let started = Instant::now();
    let dir = prepare_dir(opts.data_dir.clone())?;
    let say = |s: String| {
        if opts.print {
            println!("{s}");
        }
    };
    say(format!(
        "renkei demo — suite {}, {} residents, data in {}",
        opts.suite,
        opts.residents,
        dir.display()
    ));
    let mut net_opts = NetworkOptions::new(&dir);
    net_opts.suite = opts.suite;
    net_opts.durability = opts.durability;
    net_opts.database_url = opts.database_url.clone();
    if let Some(url) = &opts.database_url {
        say(format!(
            "stores: PostgreSQL at {}, one schema per role",
            redact_password(url)
        ));
    }
    let network = Network::start(net_opts).await?;
    say(format!(
        "network up in {:.1} s: hub {}, registry {}, {} institution nodes (mutual TLS, {} certificates)",
        started.elapsed().as_secs_f64(),
        network.hub.url(),
        network.registry.network.url(),
        network.nodes.len(),
        renkei_pki::provision::tls_algorithm(opts.suite)
    ));

    let today = renkei_protocol::UnixMillis::now().to_datetime().date();
    let country = populate(
        &network,
        &CountryOptions {
            residents: opts.residents,
            seed: opts.seed,
            today,
            progress: opts.progress,
        },
    )
    .await?;
    say(format!(
        "country loaded in {:.1} s: {} residents ({} moved from 横浜市 to 世田谷区); enrolled {}",
        started.elapsed().as_secs_f64(),
        country.residents,
        country.movers,
        country
            .enrolled
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let mut results = scenarios::run(&network, &country).await?;
    say(String::new());
    say("scenarios".into());
    for (i, r) in results.iter().enumerate() {
        show_result(&say, opts.print, i + 1, r);
    }
    let passed = results.iter().filter(|r| r.passed).count();
    say(format!(
        "\n{passed} of {} scenarios behaved as expected",
        results.len()
    ));

    let cards = issue_demo_cards(&network, &country, &dir).await?;
    say(format!(
        "\nportal {} — {} residents have a card ready (PIN {})",
        network.portal.url,
        cards.len(),
        crate::cards::DEMO_PIN
    ));
    let clients = crate::examples::register(&network, &dir, crate::examples::demo_redirect_uri).await?;
    say(format!(
        "consent API {} — example clients registered and approved: {}",
        network.portal.url,
        clients.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
    ));
    let mut delivery = crate::delivery::run(&network, &dir, &cards).await?;
    // The employer's statutory filing, routed to the municipalities.
    delivery
        .results
        .push(crate::filing::run(&network, &country).await?);
    say(format!(
        "private delivery {}/delivery/v1 — senders approved, linked by the card holders and depositing: {}",
        network.portal.url,
        delivery
            .senders
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for r in &delivery.results {
        show_result(&say, opts.print, results.len() + 1, r);
        results.push(r.clone());
    }
    say(format!(
        "{} of {} delivery scenarios behaved as expected",
        delivery.results.iter().filter(|r| r.passed).count(),
        delivery.results.len()
    ));
    let demo_json = write_demo_json(&network, &results, &cards, &clients, &delivery.senders)?;
    say(format!("network description: {}", demo_json.display()));
    Ok(DemoRun {
        network,
        country,
        results,
        demo_json,
        cards,
    })
}

fn text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn token(path: &Path) -> Result<String> {
    Ok(String::from_utf8_lossy(&renkei_pki::read_private(path)?)
        .trim()
        .to_owned())
}

/// `DIR/demo.json`: every role's URL, the CA, the operator and local-API
/// credentials. It holds bearer tokens, so it is written 0600.
pub fn write_demo_json(
    net: &Network,
    results: &[ScenarioResult],
    cards: &[DemoCard],
    clients: &[crate::examples::ExampleClient],
    senders: &[crate::delivery::DemoSender],
) -> Result<PathBuf> {
    let dir = &net.options.data_dir;
    let ca_cert = net.ca_dir.join(renkei_pki::CA_CERT_FILE);
    let institutions: Vec<_> = net
        .nodes
        .values()
        .map(|n| {
            Ok(json!({
                "key": n.spec.key,
                "institution": n.id.to_string(),
                "name": n.spec.name,
                "name_en": n.spec.name_en,
                "kind": n.spec.kind,
                "node_url": n.network_url(),
                "local_api": {
                    "url": n.local_url(),
                    "token": token(&n.files.token)?,
                    "token_file": n.files.token,
                },
                "config": n.files.dir.join("node.toml"),
                // The SQLite file, or the PostgreSQL schema (no password).
                "store": n.database_url.as_deref().map_or_else(
                    || n.store_path.display().to_string(),
                    redact_password,
                ),
                "tls_certificate": n.files.cert,
                "tls_certificate_serial": n.files.serial,
            }))
        })
        .collect::<Result<_>>()?;
    let doc = json!({
        "format": "renkei-demo/1",
        "suite": net.options.suite.name(),
        "data_dir": dir,
        "ca": {
            "certificate": ca_cert,
            "certificate_pem": text(&ca_cert)?,
            "crl": net.ca_dir.join(renkei_pki::CA_CRL_FILE),
        },
        "hub": {
            "url": net.hub.url(),
            "admin_url": net.hub.admin_url(),
            "admin_token": token(&net.hub_settings.admin_token)?,
            "signing_key": {
                "alg": net.hub_key.algorithm().name(),
                "key": b64(&net.hub_key.to_bytes()),
                "key_id": net.hub_key.key_id().to_string(),
            },
            "config": dir.join("hub").join("hub.toml"),
        },
        "log": {
            "prefix": net.hub.log_url(),
            "checkpoint": format!("{}/checkpoint", net.hub.log_url()),
            "origin": crate::network::LOG_ORIGIN,
            "key": net.hub.log_verifier,
        },
        "witness": {
            "url": net.witness.url(),
            "cosignature_key": net.witness.cosignature_key,
        },
        "registry": {
            "institution": REGISTRY.id().to_string(),
            "url": net.registry.network.url(),
            "admin_url": net.registry.admin.url(),
            "admin_token": token(&net.registry_files.token)?,
            // The card CAs' certificates and CRLs (no client certificate).
            "cards_url": net.registry.cards.as_ref().map(|c| c.url()),
            "config": dir.join("registry").join("registry.toml"),
        },
        "institutions": institutions,
        "portal": {
            "url": net.portal.url,
            "login": format!("{}/login", net.portal.url),
            "admin_url": net.portal_admin_url(),
            "admin_token": net.portal_admin_token,
            "config": dir.join("portal").join("portal.toml"),
            "cards": cards,
        },
        "consent_api": {
            "issuer": net.portal.url,
            "metadata": format!("{}/.well-known/oauth-authorization-server", net.portal.url),
            "clients": clients,
        },
        "delivery": {
            "deposit_api": format!("{}/delivery/v1", net.portal.url),
            "document_types": format!("{}/delivery/v1/document-types", net.portal.url),
            "senders": senders,
        },
        "scenarios": results,
    });
    let path = dir.join("demo.json");
    let text = serde_json::to_string_pretty(&doc)?;
    renkei_pki::write_private(&path, text.as_bytes(), WriteMode::Replace)?;
    Ok(path)
}

/// What to tell a person who wants to use the running network.
pub fn how_to_reach(run: &DemoRun) -> String {
    let net = &run.network;
    let setagaya = net.node("setagaya");
    let ca = net.ca_dir.join(renkei_pki::CA_CERT_FILE);
    format!(
        "\nThe network keeps serving. Reach it with the files in {dir}:\n\
         \n  hub (mutual TLS)        {hub}\n  hub admin API           {hub_admin}   token: {hub_tok}\n  \
         registry admin API      {reg_admin}   token: {reg_tok}\n  世田谷区 local API       {local}   token: {loc_tok}\n\
         \nFor example, ask 横浜市 for a mover's FY2025 income, as 世田谷区's child-allowance system would:\n\
         \n  curl --cacert {ca} -H \"Authorization: Bearer $(cat {loc_tok})\" \\\n       \
         -H 'content-type: application/json' \\\n       \
         -d '{{\"local_id\":\"{mover}\",\"provider\":\"{yokohama}\",\"office_work\":\"child_allowance\",\"item\":\"resident_tax_income\",\"fiscal_year\":2025}}' \\\n       \
         {local}/local/v1/queries\n\
         \nand list the hub's provision records:\n\
         \n  curl --cacert {ca} -H \"Authorization: Bearer $(cat {hub_tok})\" {hub_admin}/admin/v1/records\n\
         \nLog in to the portal from a browser on this machine: open {portal}/login, then approve the\n         code it shows, entering the two-digit number it shows, with a resident's card (PIN {pin}):\n         \n  renkei card approve <CODE> --match <NUMBER> --portal {portal} --card {card}\n{cards}         \nEverything (URLs, tokens, CA, cards) is in {json}. Press Ctrl-C to stop.",
        dir = net.options.data_dir.display(),
        hub = net.hub.url(),
        hub_admin = net.hub.admin_url(),
        hub_tok = net.hub_settings.admin_token.display(),
        reg_admin = net.registry.admin.url(),
        reg_tok = net.registry_files.token.display(),
        local = setagaya.local_url(),
        loc_tok = setagaya.files.token.display(),
        ca = ca.display(),
        mover = run.country.cast.mover.0,
        yokohama = crate::institutions::YOKOHAMA.id(),
        json = run.demo_json.display(),
        portal = net.portal.url,
        pin = crate::cards::DEMO_PIN,
        card = run
            .cards
            .first()
            .map_or_else(|| "<card directory>".into(), |c| c.dir.display().to_string()),
        cards = run
            .cards
            .iter()
            .map(|c| format!("    {}  {} — {}\n", c.dir.display(), c.holder, c.about))
            .collect::<String>(),
    )
}

/// A database URL as it may be shown: without its password.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redact_password;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            redact_password("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact_password("postgres://h/db"), "postgres://h/db");
    }
}
