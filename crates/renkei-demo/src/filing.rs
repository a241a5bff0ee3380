//! The once-only statutory filing in the demo: the employer files the
//! year's withholding reports for its employees — with their My Numbers,
//! as the law requires — at the tax agency's node; the tax agency keeps
//! them under its own ids and each report reaches the municipality of the
//! employee's residence on 1 January after the year through the hub. The
//! scenario checks that the municipality of a mover is the one of 1
//! January (Yokohama), not the current one (Setagaya), and that no copy
//! carries a My Number.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use renkei_api::deliveries::InboxEntryWire;
use renkei_api::filings::{FiledReportWire, FilingWire};
use renkei_transport::ApiFailure;
use serde_json::{Value, json};

use crate::country::{Country, Inhabitant};
use crate::institutions::{InstitutionSpec, SETAGAYA, TAX, YOKOHAMA};
use crate::network::Network;
use crate::scenarios::ScenarioResult;

/// The demo employer (its corporate number, as the deposit API knows it).
pub const EMPLOYER: &str = "8010401077777";

/// The tax year filed.
pub const TAX_YEAR: u16 = 2025;

/// One employee's withholding report as the employer's payroll writes it:
/// the compiled-in example with the employee's facts and figures.
pub fn report_for(person: &Inhabitant, i: usize) -> Result<Value> {
    let mut r = renkei_delivery::example_document(renkei_delivery::FILING_TYPE)
        .context("the withholding report example")?;
    let (family, given) = person
        .name
        .split_once(['　', ' '])
        .unwrap_or((person.name.as_str(), ""));
    let (family_kana, given_kana) = person
        .kana
        .split_once(['　', ' '])
        .unwrap_or((person.kana.as_str(), ""));
    let name = json!({
        "family_name": family,
        "given_name": given,
        "family_name_kana": family_kana,
        "given_name_kana": given_kana,
    });
    let pay = 3_600_000 + 40_000 * (i as i64 % 50);
    r["tax_year"] = TAX_YEAR.into();
    r["payer"]["corporate_number"] = EMPLOYER.into();
    r["payer"]["name"] = "株式会社れんけい商事".into();
    r["payer_corporate_number"] = EMPLOYER.into();
    r["payment_amount"] = pay.into();
    r["withholding_tax"] = (pay / 50).into();
    r["recipient"]["name"] = name.clone();
    r["recipient"]["address"] = person.address.clone().into();
    r["employee"] = json!({
        "my_number": person.my_number,
        "name": name,
        "name_kana": person.kana,
        // What the payroll has on file; the registry decides the municipality.
        "address_on_january_1": person.address,
        "birth_date": person.birth_date,
    });
    Ok(r)
}

/// The filing file: one report per line.
pub fn filing_file(reports: &[Value]) -> String {
    reports.iter().map(|r| format!("{r}\n")).collect()
}

/// Post a filing to the tax agency's node.
pub async fn submit(net: &Network, file: &str, filing_id: Option<&str>) -> Result<FilingWire, ApiFailure> {
    let path = match filing_id {
        Some(id) => format!("/local/v1/filings?filing_id={id}"),
        None => "/local/v1/filings".to_owned(),
    };
    net.node(TAX.key)
        .local
        .post_bytes(&path, file.as_bytes().to_vec(), "application/jsonl")
        .await
}

/// The filing once none of its reports is pending (within `within`).
pub async fn until_routed(net: &Network, filing_id: &str, within: Duration) -> Result<FilingWire> {
    let deadline = Instant::now() + within;
    loop {
        let f: FilingWire = net
            .node(TAX.key)
            .local
            .get(&format!("/local/v1/filings/{filing_id}"))
            .await?;
        if f.pending == 0 {
            return Ok(f);
        }
        if Instant::now() > deadline {
            bail!("filing {filing_id} still has {} reports pending", f.pending);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A filing's reports as the tax agency keeps them.
pub async fn reports(net: &Network, filing_id: &str) -> Result<Vec<FiledReportWire>> {
    let mut out = Vec::new();
    loop {
        let page: Vec<FiledReportWire> = net
            .node(TAX.key)
            .local
            .get(&format!(
                "/local/v1/filings/{filing_id}/reports?after={}&limit=1000",
                out.last().map_or(0, |r: &FiledReportWire| r.line)
            ))
            .await?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}

/// The salary-payment reports a municipality's inbox holds from the tax
/// agency, once `want` of them are there (within `within`).
pub async fn municipality_copies(
    net: &Network,
    key: &str,
    want: usize,
    within: Duration,
) -> Result<Vec<InboxEntryWire>> {
    let deadline = Instant::now() + within;
    loop {
        let mut all = Vec::new();
        let mut after = 0u64;
        loop {
            let page: Vec<InboxEntryWire> = net
                .node(key)
                .local
                .get(&format!("/local/v1/inbox?after={after}&limit=1000"))
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        all.retain(|e| e.item == "salary_payment_report" && e.sender == TAX.id().to_string());
        if all.len() >= want || Instant::now() > deadline {
            return Ok(all);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The demo's filing: the employer files for its employed residents (the
/// mover among them); every report is routed, each municipality holds its
/// copies, the mover's in Yokohama.
pub async fn run(net: &Network, country: &Country) -> Result<ScenarioResult> {
    let (mover_setagaya, _) = &country.cast.mover;
    let mover = country
        .inhabitant(SETAGAYA.key, mover_setagaya)
        .context("the mover")?;
    let mut employees: Vec<&Inhabitant> = vec![mover];
    employees.extend(
        country
            .people
            .iter()
            .filter(|p| p.employed && p.my_number != mover.my_number && p.age >= 18)
            .take(23),
    );
    let file = employees
        .iter()
        .enumerate()
        .map(|(i, p)| report_for(p, i))
        .collect::<Result<Vec<_>>>()?;
    let filed = submit(net, &filing_file(&file), None)
        .await
        .context("filing the withholding reports")?;
    let routed = until_routed(net, &filed.filing_id, Duration::from_secs(60)).await?;
    let kept = reports(net, &filed.filing_id).await?;
    let to = |m: InstitutionSpec| {
        let id = m.id().to_string();
        kept.iter()
            .filter(|r| r.recipient.as_deref() == Some(id.as_str()))
            .count()
    };
    let (to_yokohama, to_setagaya) = (to(YOKOHAMA), to(SETAGAYA));
    let mover_line = kept
        .iter()
        .find(|r| r.line == 1)
        .and_then(|r| r.recipient.clone())
        .unwrap_or_default();
    let yokohama = municipality_copies(net, YOKOHAMA.key, to_yokohama, Duration::from_secs(60)).await?;
    let setagaya = municipality_copies(net, SETAGAYA.key, to_setagaya, Duration::from_secs(60)).await?;
    let mine = |copies: &[InboxEntryWire]| {
        copies
            .iter()
            .filter(|e| e.delivery_id.starts_with(&format!("wr:{}:", filed.filing_id)))
            .count()
    };
    let numbers_leaked = yokohama.iter().chain(&setagaya).any(|e| {
        employees
            .iter()
            .any(|p| e.document.to_string().contains(&p.my_number))
    }) || kept.iter().any(|r| {
        employees
            .iter()
            .any(|p| r.report.to_string().contains(&p.my_number))
    });
    let passed = routed.routed == employees.len() as u64
        && mover_line == YOKOHAMA.id().to_string()
        && mine(&yokohama) == to_yokohama
        && mine(&setagaya) == to_setagaya
        && !numbers_leaked;
    Ok(ScenarioResult {
        name: "the municipality of 1 January received its copy of the filing through the hub".into(),
        passed,
        expected: format!(
            "{} reports routed, the mover's to 横浜市 (resident there on {}-01-01), every copy in its municipality's inbox, no My Number in any copy",
            employees.len(),
            TAX_YEAR + 1
        ),
        observed: format!(
            "filing {}: {} routed ({} unroutable); mover's report to {}; 横浜市 holds {}, 世田谷区 holds {}; My Number in a copy: {}",
            filed.filing_id,
            routed.routed,
            routed.unroutable,
            if mover_line == YOKOHAMA.id().to_string() {
                "横浜市"
            } else {
                "another municipality"
            },
            mine(&yokohama),
            mine(&setagaya),
            if numbers_leaked { "yes" } else { "no" }
        ),
        query_id: None,
        trace: format!(
            "     the employer files {} withholding reports at the tax agency's node as filing {}; each is routed to the municipality of 1 January {}\n",
            filed.reports,
            filed.filing_id,
            TAX_YEAR + 1
        ),
    })
}
