//! The demo's scenarios: each linkage that must work, and
//! each that must be refused, with what it must look like afterwards.

use std::fmt::Write as _;

use anyhow::Result;
use renkei_api::hub::RecordWire;
use renkei_api::net::{HubReplyWire, SignedRequestWire};
use renkei_api::node::{PersonWire, QueryRequest, QueryResult};
use renkei_ids::{InstitutionCode, MessageId};
use renkei_protocol::{FiscalYear, LinkageRequest, UnixMillis};
use renkei_transport::ApiFailure;
use serde::Serialize;

use crate::country::Country;
use crate::institutions::{
    DIGITAL, InstitutionSpec, KENPO, PENSION, REGISTRY, SETAGAYA, TAX, VEHICLE, YOKOHAMA,
};
use crate::network::Network;
use renkei_hub_service::audit::{HttpTiles, TileSource, verify};

/// How one scenario went.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub passed: bool,
    pub expected: String,
    pub observed: String,
    pub query_id: Option<String>,
    #[serde(skip)]
    pub trace: String,
}

enum Expect {
    Found,
    NoData,
    Refused(&'static str),
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Expect::Found => "data provided".into(),
            Expect::NoData => "no data (indistinguishable from an unknown person)".into(),
            Expect::Refused(code) => format!("refused with {code}, and recorded"),
        }
    }
}

fn yen(v: &serde_json::Value) -> String {
    let n = v.as_i64().unwrap_or(0);
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("¥{}{out}", if n < 0 { "-" } else { "" })
}

/// A short human line for a value (amounts as yen, never a My Number).
fn summarize(v: &serde_json::Value) -> String {
    let Some(m) = v.as_object() else {
        return v.to_string();
    };
    m.iter()
        .take(5)
        .map(|(k, v)| {
            let shown = if k.contains("income") || k.contains("tax") || k.contains("amount") {
                if v.is_i64() { yen(v) } else { v.to_string() }
            } else if let Some(s) = v.as_str() {
                s.to_owned()
            } else {
                v.to_string()
            };
            format!("{k}: {shown}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

struct Query<'a> {
    name: &'static str,
    from: InstitutionSpec,
    to: InstitutionSpec,
    local_id: &'a str,
    office_work: &'static str,
    item: &'static str,
    fiscal_year: Option<u16>,
    expect: Expect,
}

async fn run_query(net: &Network, q: Query<'_>) -> ScenarioResult {
    let body = QueryRequest {
        local_id: q.local_id.to_owned(),
        provider: q.to.id().to_string(),
        office_work: q.office_work.into(),
        item: q.item.into(),
        fiscal_year: q.fiscal_year,
        consent: None,
        person_proof: None,
    };
    let result: Result<QueryResult, ApiFailure> =
        net.node(q.from.key).local.post("/local/v1/queries", &body).await;
    let mut trace = String::new();
    let fy = q.fiscal_year.map(|y| format!(" FY{y}")).unwrap_or_default();
    let _ = writeln!(
        trace,
        "     {} ({}) → hub → {} ({})\n     office work {} · item {}{fy}",
        q.from.name, q.from.name_en, q.to.name, q.to.name_en, q.office_work, q.item
    );
    let (passed, observed, query_id) = match (&q.expect, result) {
        (Expect::Found, Ok(r)) if r.status == "found" => {
            let _ = writeln!(
                trace,
                "     query {} · hub record #{} · {}'s record #{} · answered {}",
                &r.query_id[..12],
                r.hub_record_seq,
                q.from.key,
                r.node_record_seq,
                UnixMillis(r.answered_at)
            );
            if let Some(v) = &r.value {
                let _ = writeln!(trace, "     decrypted at {} only: {}", q.from.name, summarize(v));
            }
            (true, "data provided".to_owned(), Some(r.query_id))
        }
        (Expect::NoData, Ok(r)) if r.status == "no_data" => {
            let _ = writeln!(
                trace,
                "     query {} · hub record #{} · answer: no data",
                &r.query_id[..12],
                r.hub_record_seq
            );
            (true, "no data".to_owned(), Some(r.query_id))
        }
        (
            Expect::Refused(code),
            Err(ApiFailure::Rejected {
                code: got,
                message,
                query_id,
                ..
            }),
        ) if got == *code => {
            let _ = writeln!(trace, "     refused: {got}: {message}");
            if let Some(q) = &query_id {
                let _ = writeln!(
                    trace,
                    "     the refusal is recorded at the hub as query {}",
                    &q[..12]
                );
            }
            (query_id.is_some(), format!("refused with {got}"), query_id)
        }
        (_, Ok(r)) => (
            false,
            format!("answered with status {}", r.status),
            Some(r.query_id),
        ),
        (_, Err(e)) => (false, format!("failed: {e}"), None),
    };
    ScenarioResult {
        name: q.name.into(),
        passed,
        expected: q.expect.describe(),
        observed,
        query_id,
        trace,
    }
}

/// A vehicle office that presents Setagaya's code for a person: it signs
/// properly with its own key over its own certificate, so only the code
/// check can catch it.
async fn foreign_code(net: &Network, country: &Country) -> Result<ScenarioResult> {
    let setagaya_id = &country.cast.account_holder.0;
    let person: PersonWire = net
        .node(SETAGAYA.key)
        .local
        .get(&format!("/local/v1/persons/{setagaya_id}"))
        .await?;
    let stolen = InstitutionCode::parse(&person.code)?;
    let vehicle = net.impersonate(VEHICLE.key)?;
    let request = LinkageRequest {
        message_id: MessageId::random(),
        requester: VEHICLE.id(),
        provider: REGISTRY.id(),
        office_work: renkei_catalog::OfficeWorkCode::parse("vehicle_registration")?,
        item: renkei_catalog::ItemCode::parse("four_facts")?,
        fiscal_year: None::<FiscalYear>,
        subject: stolen,
        issued_at: UnixMillis::now(),
        consent: None,
        person_proof: None,
        payload: None,
    }
    .sign(&vehicle.signing, vehicle.certificate.clone());
    let reply: Result<HubReplyWire, ApiFailure> = vehicle
        .post_hub(&net.hub.url(), "/v1/linkage", &SignedRequestWire::from(&request))
        .await;
    let mut trace = String::new();
    let _ = writeln!(
        trace,
        "     {} presents 世田谷区's code for a person, signed with its own key",
        VEHICLE.name
    );
    let (passed, observed, query_id) = match reply {
        Err(ApiFailure::Rejected {
            code,
            message,
            query_id,
            ..
        }) if code == "code_invalid" => {
            let _ = writeln!(trace, "     refused: {code}: {message}");
            (query_id.is_some(), format!("refused with {code}"), query_id)
        }
        Err(e) => (false, format!("failed differently: {e}"), None),
        Ok(_) => (false, "the hub answered".into(), None),
    };
    Ok(ScenarioResult {
        name: "a code from another institution is rejected".into(),
        passed,
        expected: "refused with code_invalid, and recorded".into(),
        observed,
        query_id,
        trace,
    })
}

async fn exact_facts(net: &Network, country: &Country) -> Result<ScenarioResult> {
    let refusal = country
        .refused
        .get(SETAGAYA.key)
        .and_then(|r| r.iter().find(|x| x.local_id == country.cast.stale));
    let enrolled: Result<PersonWire, ApiFailure> = net
        .node(SETAGAYA.key)
        .local
        .get(&format!("/local/v1/persons/{}", country.cast.stale))
        .await;
    let mut trace = String::new();
    let _ = writeln!(
        trace,
        "     世田谷区's file has an old block number for one resident; enrolment asked the registry"
    );
    let passed = match (refusal, &enrolled) {
        (Some(r), Err(ApiFailure::Rejected { code, .. })) => {
            let _ = writeln!(trace, "     registry: {}: {}", r.code, r.message);
            let _ = writeln!(trace, "     no code was issued (世田谷区: {code})");
            r.code == "facts_differ" && r.message.contains("address differs") && code == "not_enrolled"
        }
        _ => false,
    };
    Ok(ScenarioResult {
        name: "the four facts are checked exactly, address included".into(),
        passed,
        expected: "refused with facts_differ naming the address; nothing issued".into(),
        observed: refusal.map_or_else(|| "no refusal".into(), |r| format!("{}: {}", r.code, r.message)),
        query_id: None,
        trace,
    })
}

/// Run every scenario; then check the hub recorded each exchange.
pub async fn run(net: &Network, country: &Country) -> Result<Vec<ScenarioResult>> {
    let c = &country.cast;
    let mut results = Vec::new();
    let queries = [
        Query {
            name: "child allowance asks for income",
            from: SETAGAYA,
            to: YOKOHAMA,
            local_id: &c.mover.0,
            office_work: "child_allowance",
            item: "resident_tax_income",
            fiscal_year: Some(2025),
            expect: Expect::Found,
        },
        Query {
            name: "vehicle registration asks the registry for an address",
            from: VEHICLE,
            to: REGISTRY,
            local_id: &c.driver,
            office_work: "vehicle_registration",
            item: "four_facts",
            fiscal_year: None,
            expect: Expect::Found,
        },
        Query {
            name: "pension premium exemption asks for income",
            from: PENSION,
            to: SETAGAYA,
            local_id: &c.contributor.0,
            office_work: "pension_premium_exemption",
            item: "resident_tax_income",
            fiscal_year: Some(2025),
            expect: Expect::Found,
        },
        Query {
            name: "public assistance asks for pension benefits",
            from: SETAGAYA,
            to: PENSION,
            local_id: &c.pensioner.0,
            office_work: "public_assistance",
            item: "pension_benefits",
            fiscal_year: Some(2025),
            expect: Expect::Found,
        },
        Query {
            name: "high-cost medical expense asks for income",
            from: KENPO,
            to: SETAGAYA,
            local_id: &c.insured.0,
            office_work: "high_cost_medical",
            item: "resident_tax_income",
            fiscal_year: Some(2025),
            expect: Expect::Found,
        },
        Query {
            name: "benefit payment looks up the public-fund account",
            from: SETAGAYA,
            to: DIGITAL,
            local_id: &c.account_holder.0,
            office_work: "benefit_payment_account",
            item: "public_fund_account",
            fiscal_year: None,
            expect: Expect::Found,
        },
        Query {
            name: "the hub cannot tell an unknown person from missing data",
            from: SETAGAYA,
            to: YOKOHAMA,
            local_id: &c.contributor.1,
            office_work: "child_allowance",
            item: "resident_tax_income",
            fiscal_year: Some(2025),
            expect: Expect::NoData,
        },
        Query {
            name: "a request outside the permission table is refused",
            from: VEHICLE,
            to: SETAGAYA,
            local_id: &c.driver,
            office_work: "vehicle_registration",
            item: "resident_tax_income",
            fiscal_year: Some(2025),
            expect: Expect::Refused("not_permitted"),
        },
        Query {
            name: "the tax agency may not ask for child-allowance income",
            from: TAX,
            to: SETAGAYA,
            local_id: &c.taxpayer.0,
            office_work: "child_allowance",
            item: "resident_tax_income",
            fiscal_year: Some(2025),
            expect: Expect::Refused("not_permitted"),
        },
    ];
    for q in queries {
        results.push(run_query(net, q).await);
    }
    results.push(foreign_code(net, country).await?);
    results.push(exact_facts(net, country).await?);

    results.push(log_verifies(net).await?);
    results.push(person_view(net, country).await?);

    // Every exchange above — allowed or refused — is in the hub's records.
    let records: Vec<RecordWire> = net.hub_admin.get("/admin/v1/records?limit=10000").await?;
    let missing: Vec<&str> = results
        .iter()
        .filter_map(|r| r.query_id.as_deref())
        .filter(|q| !records.iter().any(|rec| rec.query_id == *q))
        .collect();
    let mut trace = String::new();
    let _ = writeln!(
        trace,
        "     {} provision records at the hub; {} of this run's {} exchanges missing",
        records.len(),
        missing.len(),
        results.iter().filter(|r| r.query_id.is_some()).count()
    );
    results.push(ScenarioResult {
        name: "every exchange is recorded at the hub, refusals included".into(),
        passed: missing.is_empty(),
        expected: "all query ids found in the hub's records".into(),
        observed: format!("{} missing", missing.len()),
        query_id: None,
        trace,
    });
    Ok(results)
}

async fn wait_checkpoint(net: &Network, tiles: &HttpTiles, size: u64) -> Option<String> {
    for _ in 0..100 {
        if let Ok(text) = tiles.checkpoint().await
            && let Ok(note) = renkei_log::Note::parse(&text)
            && renkei_log::Checkpoint::parse(&note.text).is_ok_and(|c| c.size >= size)
            && note.signatures.len() > net.witness_count()
        {
            return Some(text);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

/// The log: signed by the hub, cosigned by the witness, every tile checked.
async fn log_verifies(net: &Network) -> Result<ScenarioResult> {
    let records: Vec<RecordWire> = net.hub_admin.get("/admin/v1/records?limit=10000").await?;
    let ca = std::fs::read(net.ca_dir.join(renkei_pki::CA_CERT_FILE))?;
    let tiles = HttpTiles::new(&net.hub.log_url(), &ca).map_err(anyhow::Error::msg)?;
    let key = renkei_log::NoteVerifier::parse(&net.hub.log_verifier)?;
    let witness = renkei_log::NoteVerifier::parse(&net.witness.cosignature_key)?;
    let mut trace = String::new();
    let _ = writeln!(
        trace,
        "     log {} · key {}",
        net.hub.log_url(),
        net.hub.log_verifier
    );
    let outcome = match wait_checkpoint(net, &tiles, records.len() as u64).await {
        None => Err("no cosigned checkpoint covering the records".to_owned()),
        Some(_) => verify(&tiles, &key, &[witness], None)
            .await
            .map_err(|e| e.to_string()),
    };
    let (passed, observed) = match outcome {
        Ok(r) => {
            let _ = writeln!(
                trace,
                "     checkpoint size {} · root {} · cosigned by {}\n     {} entries re-hashed from the public tiles, every tile and the root recomputed: consistent",
                r.size,
                &renkei_crypto::b64(&r.root)[..16],
                r.cosigned_by.join(", "),
                r.entries_checked
            );
            (
                r.size >= records.len() as u64,
                format!("verified at size {}", r.size),
            )
        }
        Err(e) => (false, e),
    };
    Ok(ScenarioResult {
        name: "the provision records form a signed, witnessed, verifiable log".into(),
        passed,
        expected: "the audit of all tiles passes".into(),
        observed,
        query_id: None,
        trace,
    })
}

/// A person, with the key the portal obtained for them, lists their own
/// exchanges and checks each against the signed log.
async fn person_view(net: &Network, country: &Country) -> Result<ScenarioResult> {
    let (_, digital_id) = &country.cast.account_holder;
    // The person logs in with their card: the portal's node obtains the
    // hub's proof of it, without which no one's log key is handed over.
    let proof = crate::cards::login_proof(
        net,
        country,
        digital_id,
        &net.options.data_dir.join(format!(
            "scenario-card-{}",
            renkei_crypto::b64(&renkei_ids::random_bytes::<6>())
        )),
    )
    .await?;
    let key: renkei_api::node::PersonKeyResult = net
        .node(crate::institutions::DIGITAL.key)
        .local
        .post(
            &format!("/local/v1/persons/{digital_id}/person-key"),
            &renkei_api::node::PersonKeyAsk {
                person_proof: proof,
                consent: None,
            },
        )
        .await?;
    let person_key: [u8; 32] = renkei_crypto::unb64("person key", &key.person_key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("person key length"))?;
    let ca = std::fs::read(net.ca_dir.join(renkei_pki::CA_CERT_FILE))?;
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca)?])
        .https_only(true)
        .build()?;
    let records: renkei_api::log::PersonRecordsWire = client
        .get(format!("{}/v1/person/records", net.hub.log_url()))
        .bearer_auth(&key.access_token)
        .send()
        .await?
        .json()
        .await?;
    let mut trace = String::new();
    let _ = writeln!(
        trace,
        "     the person logs in with their card; デジタル庁 (the portal) obtains their log key with the hub's proof of it; the person lists and checks:"
    );
    let (passed, observed) = match renkei_api::log::verify_person_records(
        &records,
        &renkei_log::NoteVerifier::parse(&key.log_key)?,
        &person_key,
    ) {
        Ok((cp, seen)) => {
            for r in &seen {
                let _ = writeln!(
                    trace,
                    "     #{} {} {} → {} · {} · {} · {}",
                    r.index,
                    if r.included {
                        "✔ proven in checkpoint"
                    } else {
                        "… in the next checkpoint"
                    },
                    name_of(&r.leaf.requester),
                    name_of(&r.leaf.provider),
                    r.leaf.office_work,
                    r.leaf.item,
                    r.leaf.outcome.as_str()
                );
            }
            let _ = writeln!(
                trace,
                "     (checkpoint size {}; other people's leaves do not open with this key)",
                cp.size
            );
            (
                !seen.is_empty() && seen.iter().all(|r| r.included),
                format!("{} records, all proven", seen.len()),
            )
        }
        Err(e) => (false, e),
    };
    Ok(ScenarioResult {
        name: "a person sees who looked at their data, with proofs".into(),
        passed,
        expected: "the person's records, each with a verified inclusion proof".into(),
        observed,
        query_id: None,
        trace,
    })
}

fn name_of(id: &renkei_ids::CorporateNumber) -> String {
    crate::institutions::NODES
        .iter()
        .chain([&REGISTRY])
        .find(|s| s.id() == *id)
        .map_or_else(|| id.to_string(), |s| s.name.to_owned())
}
