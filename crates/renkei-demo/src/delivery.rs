//! Private delivery in the demo: an employer, a life insurer, a bank and a
//! donation platform apply and are approved at the portal; the demo's card
//! holders link them from the mailbox (confirmed with their cards); each
//! sender learns the handles from its feed and deposits the year's
//! documents; and the scenarios a tax office would ask about run: a
//! forged deposit is refused, a correction supersedes, a card holder's
//! draft return is computed from the mailbox.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use renkei_card::{CardSecret, SoftwareCard};
use renkei_jose::{Alg, Jwks, SigningKey};
use renkei_pki::WriteMode;
use renkei_portal_web::sender_client::{SenderClient, deposit_line};
use serde::Serialize;
use serde_json::{Value, json};

use crate::demo::DemoCard;
use crate::network::Network;
use crate::resident::Resident;
use crate::scenarios::ScenarioResult;

/// One demo sender as `demo.json` describes it.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSender {
    pub name: &'static str,
    pub sender_id: String,
    pub kind: &'static str,
    /// The sender's private signing key (PKCS#8 DER, 0600) and its `kid`.
    pub key: PathBuf,
    pub kid: String,
    pub document_types: Vec<&'static str>,
}

struct Spec {
    name: &'static str,
    corporate_number: &'static str,
    name_ja: &'static str,
    name_en: &'static str,
    kind: &'static str,
    types: &'static [&'static str],
    /// The prefix of the numbers it knows people by.
    reference: &'static str,
}

const SPECS: [Spec; 4] = [
    Spec {
        name: "employer",
        corporate_number: "8010401077777",
        name_ja: "れんけい商事株式会社",
        name_en: "Renkei Trading Co., Ltd.",
        kind: "employer",
        types: &["withholding_slip.v1", "monthly_earnings_report.v1"],
        reference: "EMP",
    },
    Spec {
        name: "life-insurer",
        corporate_number: "4020001095513",
        name_ja: "あおば生命保険株式会社",
        name_en: "Aoba Life Insurance Co., Ltd.",
        kind: "life_insurer",
        types: &["life_insurance_certificate.v1"],
        reference: "POL",
    },
    Spec {
        name: "bank",
        corporate_number: "8011001066666",
        name_ja: "みどり銀行株式会社",
        name_en: "Midori Bank, Ltd.",
        kind: "bank",
        types: &[
            "housing_loan_year_end_balance.v1",
            "specified_account_annual_report.v1",
        ],
        reference: "CUS",
    },
    Spec {
        name: "donation-platform",
        corporate_number: "6010701012345",
        name_ja: "ふるさと寄附ポータル株式会社",
        name_en: "Furusato Donation Portal, Inc.",
        kind: "donation_platform",
        types: &["donation_receipt.v1"],
        reference: "DON",
    },
];

/// What the delivery part of the demo set up and observed.
#[derive(Debug)]
pub struct DeliveryDemo {
    pub senders: Vec<DemoSender>,
    pub results: Vec<ScenarioResult>,
}

/// POST to the portal's admin API with the operator's token.
pub async fn admin_post(net: &Network, path: &str, body: &Value) -> Result<Value> {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{}{path}", net.portal_admin_url()))
        .bearer_auth(&net.portal_admin_token)
        .json(body)
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{path}: {status}: {body}");
    }
    Ok(body)
}

/// Apply and approve each sender, its key in `DIR/senders/<name>/`.
async fn register(net: &Network, dir: &Path) -> Result<Vec<(DemoSender, SenderClient)>> {
    let mut out = Vec::new();
    for spec in &SPECS {
        let sender_dir = dir.join("senders").join(spec.name);
        renkei_pki::provision::private_dir(&sender_dir)?;
        let key = SigningKey::generate(Alg::Es256)?;
        let key_path = sender_dir.join("sender.key");
        renkei_pki::write_private(&key_path, key.pkcs8(), WriteMode::Replace)?;
        let jwks: Value = serde_json::from_str(
            &Jwks {
                keys: vec![key.public_jwk().clone()],
            }
            .to_json(),
        )?;
        let applied = admin_post(
            net,
            "/admin/v1/senders",
            &json!({
                "corporate_number": spec.corporate_number,
                "name": spec.name_ja,
                "name_en": spec.name_en,
                "kind": spec.kind,
                "jwks": jwks,
                "document_types": spec.types,
                "contact": format!("delivery@{}.example", spec.name),
            }),
        )
        .await
        .with_context(|| format!("registering the {} sender", spec.name))?;
        let id = applied["sender_id"]
            .as_str()
            .context("the portal returned no sender_id")?
            .to_owned();
        admin_post(
            net,
            &format!("/admin/v1/senders/{id}/approve"),
            &json!({"by": "renkei demo"}),
        )
        .await?;
        let sender = DemoSender {
            name: spec.name,
            sender_id: id.clone(),
            kind: spec.kind,
            key: key_path,
            kid: key.kid().to_owned(),
            document_types: spec.types.to_vec(),
        };
        std::fs::write(
            sender_dir.join("sender.json"),
            serde_json::to_string_pretty(&json!({
                "portal": net.portal.url,
                "sender_id": id,
                "key": sender.key,
                "kid": sender.kid,
                "document_types": spec.types,
            }))?,
        )?;
        out.push((sender, SenderClient::new(&net.portal.url, &id, key)?));
    }
    Ok(out)
}

fn result(name: &str, passed: bool, expected: &str, observed: String, trace: String) -> ScenarioResult {
    ScenarioResult {
        name: name.to_owned(),
        passed,
        expected: expected.to_owned(),
        observed,
        query_id: None,
        trace,
    }
}

pub async fn run(net: &Network, dir: &Path, cards: &[DemoCard]) -> Result<DeliveryDemo> {
    let senders = register(net, dir).await?;
    let pin = CardSecret::auth_pin(crate::cards::DEMO_PIN)?;
    // Every card holder links every sender, giving each the number it
    // knows them by.
    let mut residents = Vec::new();
    for (i, c) in cards.iter().enumerate() {
        let card = SoftwareCard::open(&c.dir).with_context(|| format!("opening {}", c.dir.display()))?;
        let mut r = Resident::login(&net.portal.url, &card, &pin).await?;
        for (spec, (s, _)) in SPECS.iter().zip(&senders) {
            let reference = format!("{}-{:04}", spec.reference, i + 1);
            r.link_sender(&net.portal.url, &s.sender_id, &reference, &card, &pin)
                .await
                .with_context(|| format!("{} links {}", c.holder, s.name))?;
        }
        residents.push(r);
    }
    // Each sender reads its feed and deposits its documents for each link.
    let mut handles: HashMap<(&str, String), String> = HashMap::new();
    for (s, client) in &senders {
        for l in client.feed(0).await?.links {
            if let Some(reference) = l.reference {
                handles.insert((s.name, reference), l.handle);
            }
        }
    }
    for (spec, (s, client)) in SPECS.iter().zip(&senders) {
        for i in 0..cards.len() {
            let reference = format!("{}-{:04}", spec.reference, i + 1);
            let handle = handles
                .get(&(s.name, reference.clone()))
                .with_context(|| format!("{} has no handle for {reference}", s.name))?;
            for type_id in spec.types {
                let doc = renkei_delivery::example_document(type_id)
                    .with_context(|| format!("no example of {type_id}"))?;
                let id = format!("{}-2025-{}", type_id.split('.').next().unwrap_or("doc"), i + 1);
                client
                    .deposit(&deposit_line(&id, type_id, handle, &doc, None))
                    .await?;
            }
        }
    }
    // The public senders' nodes deliver their certificates through the hub.
    let holders: Vec<&crate::country::Inhabitant> = cards.iter().map(|c| &c.inhabitant).collect();
    let delivered = crate::public_mail::deliver_all(net, &holders).await?;
    let mut results = Vec::new();

    // A deposit signed with a key the insurer never registered.
    let (insurer, insurer_client) = &senders[1];
    let first_handle = handles
        .get(&(insurer.name, "POL-0001".to_owned()))
        .context("the insurer has no handle for the first card holder")?;
    let doc = renkei_delivery::example_document("life_insurance_certificate.v1").context("no example")?;
    let forger = SenderClient::new(
        &net.portal.url,
        &insurer.sender_id,
        SigningKey::generate(Alg::Es256)?,
    )?;
    let forged = forger
        .deposit(&deposit_line(
            "LI-FORGED",
            "life_insurance_certificate.v1",
            first_handle,
            &doc,
            None,
        ))
        .await;
    let observed = match &forged {
        Ok(a) => format!("accepted: {}", a.status),
        Err(e) => e.to_string(),
    };
    results.push(result(
        "a deposit signed with another key is refused",
        observed.contains("bad_signature"),
        "refused: bad_signature",
        observed.clone(),
        format!(
            "     deposit LI-FORGED for {insurer} → {observed}\n",
            insurer = insurer.name
        ),
    ));

    // A correction supersedes the certificate the card holder received.
    let mut corrected = doc.clone();
    corrected["annual_premium"] = 120_000.into();
    let fix = insurer_client
        .deposit(&deposit_line(
            "life_insurance_certificate-2025-1-fix",
            "life_insurance_certificate.v1",
            first_handle,
            &corrected,
            Some("life_insurance_certificate-2025-1"),
        ))
        .await;
    let observed = match &fix {
        Ok(a) => format!("{} version {}", a.status, a.version.unwrap_or(0)),
        Err(e) => e.to_string(),
    };
    results.push(result(
        "a correction supersedes the certificate",
        observed == "stored version 2",
        "stored version 2",
        observed.clone(),
        format!("     correction of life_insurance_certificate-2025-1 → {observed}\n"),
    ));

    // A public sender's certificate came through the network, and the
    // card holder's first opening went back to it as a receipt.
    let (observed, trace) = match delivered.first() {
        None => (
            "no card holder is known to a public sender".to_owned(),
            String::new(),
        ),
        Some((i, spec, id)) => public_document_seen(net, &mut residents[*i], *spec, id).await?,
    };
    results.push(result(
        "a public sender's certificate reached the mailbox through the network",
        observed.starts_with("in the mailbox, received through the network; receipt at the sender"),
        "in the mailbox, received through the network; receipt at the sender",
        observed.clone(),
        trace,
    ));

    // The first card holder's draft return, from the mailbox.
    let observed = match residents.first_mut() {
        None => "no card holder".to_owned(),
        Some(r) => {
            let page = r.get("/mailbox/draft.json?year=2025").await?;
            match serde_json::from_str::<Value>(&page.body) {
                Ok(d) if page.status == 200 => format!(
                    "life insurance deduction {}, tax due {}",
                    d["draft"]["deductions"]["life_insurance"], d["draft"]["tax_due"]
                ),
                _ => format!(
                    "{}: {}",
                    page.status,
                    page.body.chars().take(200).collect::<String>()
                ),
            }
        }
    };
    results.push(result(
        "a card holder's draft return is computed from the mailbox",
        observed.starts_with("life insurance deduction 40000, tax due "),
        "the corrected premium's deduction (40000) and a tax due",
        observed.clone(),
        format!("     GET /mailbox/draft.json?year=2025 → {observed}\n"),
    ));
    Ok(DeliveryDemo {
        senders: senders.into_iter().map(|(s, _)| s).collect(),
        results,
    })
}

/// The card holder finds `id` in the mailbox, opens it (its signature line
/// says it came through the network) and the sender's node receives the
/// receipt.
async fn public_document_seen(
    net: &Network,
    r: &mut Resident,
    sender: crate::institutions::InstitutionSpec,
    id: &str,
) -> Result<(String, String)> {
    let start = std::time::Instant::now();
    let href = loop {
        let page = r.get("/mailbox").await?;
        let needle = format!("/{id}\"");
        if let Some(end) = page.body.find(&needle) {
            let begin = page.body[..end].rfind('"').map_or(0, |b| b + 1);
            break Some(page.body[begin..end + needle.len() - 1].to_owned());
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            break None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let Some(href) = href else {
        return Ok((format!("{id} not in the mailbox after 30 s"), String::new()));
    };
    let page = r.get(&href).await?;
    let network = page.body.contains("ネットワーク経由で受信");
    let receipt = crate::public_mail::receipt_at(net, sender, id, std::time::Duration::from_secs(30)).await?;
    let observed = match (page.status, network, &receipt) {
        (200, true, Some(_)) => format!(
            "in the mailbox, received through the network; receipt at the sender ({} ms)",
            start.elapsed().as_millis()
        ),
        (200, true, None) => "in the mailbox, received through the network; no receipt at the sender".into(),
        (200, false, _) => "in the mailbox without the network's signature line".into(),
        (status, _, _) => format!("GET {href} → {status}"),
    };
    let trace = format!(
        "     {} node → hub → portal node: {id}\n     GET {href} → {}\n     receipt at {}: {}\n",
        sender.key,
        page.status,
        sender.key,
        receipt.map_or_else(
            || "none".to_owned(),
            |e| format!("{} (record {})", e.delivery_id, e.query_id)
        )
    );
    Ok((observed, trace))
}
