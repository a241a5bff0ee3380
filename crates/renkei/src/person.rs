//! `renkei person …`: a person's own key to the log, and their records in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use renkei_node_service::NodeSettings;

use crate::args::{init_tracing, read_config};

#[derive(Subcommand)]
pub(crate) enum PersonCommand {
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
        /// The CA certificate to trust for the log's TLS.
        #[arg(long)]
        ca: PathBuf,
    },
}

pub(crate) async fn run(cmd: PersonCommand) -> Result<()> {
    init_tracing("warn");
    match cmd {
        PersonCommand::Key { config, card, out } => {
            let settings: NodeSettings = read_config(&config)?;
            person_key(&settings, &card, &out).await
        }
        PersonCommand::Records { key, log, ca } => person_records(&key, &log, &ca).await,
    }
}

async fn person_key(settings: &NodeSettings, card_dir: &Path, out: &Path) -> Result<()> {
    let client = crate::node::local_client(settings, Duration::from_secs(60))?;
    // The card signs a login challenge; the registry checks it and the hub
    // states the person's presence in a proof, the only way to their key.
    let card = renkei_card::SoftwareCard::open(card_dir)?;
    let pin = crate::card::secret("RENKEI_CARD_PIN", "PIN", renkei_card::CardSecret::auth_pin)?;
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
    let k: renkei_api::node::PersonKeyResult = client
        .post(
            &format!("/local/v1/persons/{local_id}/person-key"),
            &renkei_api::node::PersonKeyAsk {
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
    let records: renkei_api::log::PersonRecordsWire = resp.json().await?;
    let (cp, leaves) =
        renkei_api::log::verify_person_records(&records, &log_key, &key).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "{} records about you in the log (checkpoint size {}, signature verified)",
        leaves.len(),
        cp.size
    );
    for renkei_api::log::VerifiedRecord {
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
