//! Statutory filings: an employer's withholding reports, filed with the
//! employees' My Numbers at the tax agency's node, kept there under its
//! own ids without the numbers, and delivered through the hub to the
//! municipality of each employee's residence on 1 January after the year —
//! the registry, asked under a query row, says which. A file with any bad
//! line is refused whole, naming the line and the field, and nothing of it
//! is kept.

use super::*;

use renkei_api::filings::FilingWire;
use renkei_demo::filing::{self, filing_file, report_for, submit};
use renkei_demo::institutions::TAX;

fn refusal(r: &Result<FilingWire, ApiFailure>) -> (u16, String, String) {
    match r {
        Err(ApiFailure::Rejected {
            status,
            code,
            message,
            ..
        }) => (*status, code.clone(), message.clone()),
        other => panic!("not refused: {other:?}"),
    }
}

/// The first `n` employed adults of the demo country.
fn employees(h: &Harness, n: usize) -> Vec<&renkei_demo::country::Inhabitant> {
    h.country
        .people
        .iter()
        .filter(|p| p.employed && p.age >= 18)
        .take(n)
        .collect()
}

/// The id a filing gets when none is given (payer, year, file digest).
fn derived_id(file: &str) -> String {
    let digest: String = renkei_crypto::sha256_plain(file.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{}-{}", filing::EMPLOYER, filing::TAX_YEAR, &digest[..16])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filing_reaches_the_municipality_of_1_january_through_the_hub_without_a_number() {
    let h = harness().await;
    let result = filing::run(&h.net, &h.country).await.unwrap();
    assert!(result.passed, "{}: {}", result.expected, result.observed);

    // Every step was a recorded exchange: a residence asked of the
    // registry under R1602, a report pushed under R1601, per employee.
    let records = h.hub_records().await;
    let by_row = |row: &str, item: &str| {
        records
            .iter()
            .filter(|r| r.item == item && r.table_row.as_deref().is_some_and(|t| t.ends_with(row)))
            .count()
    };
    assert_eq!(by_row("#R1602", "residence_on_january_1"), 24, "residences asked");
    assert_eq!(by_row("#R1601", "salary_payment_report"), 24, "reports pushed");
    let tax_records = h.node_records(TAX.key).await;
    assert_eq!(
        tax_records
            .iter()
            .filter(|r| r.item == "residence_on_january_1" && r.outcome == "provided")
            .count(),
        24
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_filing_is_refused_whole_naming_the_line_and_nothing_is_kept() {
    let h = harness().await;
    let people = employees(&h, 3);
    let good: Vec<serde_json::Value> = people
        .iter()
        .enumerate()
        .map(|(i, p)| report_for(p, i).unwrap())
        .collect();
    let tax = &h.net.node(TAX.key).local;

    // Refused before anything is read.
    let wrong_type = tax
        .post_bytes::<FilingWire>(
            "/local/v1/filings",
            filing_file(&good).into_bytes(),
            "application/json",
        )
        .await;
    assert_eq!(refusal(&wrong_type).1, "unsupported_media_type");
    let elsewhere = h
        .net
        .node(SETAGAYA.key)
        .local
        .post_bytes::<FilingWire>(
            "/local/v1/filings",
            filing_file(&good).into_bytes(),
            "application/jsonl",
        )
        .await;
    assert_eq!(refusal(&elsewhere).1, "filings_not_enabled");
    assert_eq!(
        refusal(&submit(&h.net, &filing_file(&good), Some("a b")).await).1,
        "malformed"
    );

    // Bad lines: each named by its line and field, the number never
    // repeated; the whole file refused and nothing of it kept.
    let unknown = renkei_ids::MyNumber::random().expose();
    let mut bad = good.clone();
    let n = people[1].my_number.clone();
    let last = (n.as_bytes()[11] - b'0' + 1) % 10;
    bad[1]["employee"]["my_number"] = format!("{}{last}", &n[..11]).into();
    let file = filing_file(&bad);
    let (status, code, message) = refusal(&submit(&h.net, &file, None).await);
    assert_eq!((status, code.as_str()), (422, "filing_refused"));
    assert!(message.contains("line 2: /employee/my_number"), "{message}");
    assert!(!message.contains(&n[..11]), "{message}");

    let mut bad = good.clone();
    bad[2]["employee"]["my_number"] = unknown.clone().into();
    bad[0]["employee"]["name"]["family_name"] = "別人".into();
    let file = filing_file(&bad);
    let (status, _, message) = refusal(&submit(&h.net, &file, None).await);
    assert_eq!(status, 422);
    assert!(
        message.contains("line 1: /employee: ") && message.contains("name"),
        "{message}"
    );
    assert!(
        message.contains("line 3: /employee/my_number: no resident has this individual number"),
        "{message}"
    );
    assert!(!message.contains(&unknown), "{message}");
    let kept = tax
        .get::<FilingWire>(&format!("/local/v1/filings/{}", derived_id(&file)))
        .await;
    assert_eq!(
        refusal(&kept).1,
        "unknown_filing",
        "nothing of a refused file is kept"
    );

    let mut bad = good.clone();
    bad[1]["payer_corporate_number"] = "3010401187424".into();
    bad[1]["payer"]["corporate_number"] = "3010401187424".into();
    let (_, _, message) = refusal(&submit(&h.net, &filing_file(&bad), None).await);
    assert!(message.contains("line 2: /payer/corporate_number"), "{message}");
    let (_, _, message) = refusal(&submit(&h.net, "\n\n", None).await);
    assert!(message.contains("no records"), "{message}");
    let (_, _, message) = refusal(&submit(&h.net, "{\"tax_year\": 2025}\nnot json\n", None).await);
    assert!(message.contains("line 2: line: not JSON"), "{message}");

    // The good file: kept once, answered as it stands when sent again; the
    // same id with another file is a conflict.
    let file = filing_file(&good);
    let first = submit(&h.net, &file, Some("t-2025-a")).await.unwrap();
    assert_eq!((first.reports, first.tax_year), (3, 2025));
    let again = submit(&h.net, &file, Some("t-2025-a")).await.unwrap();
    assert_eq!(
        (again.filing_id.as_str(), again.received_at),
        ("t-2025-a", first.received_at)
    );
    let other = filing_file(&good[..2]);
    assert_eq!(
        refusal(&submit(&h.net, &other, Some("t-2025-a")).await).1,
        "filing_id_conflict"
    );
    let routed = filing::until_routed(&h.net, "t-2025-a", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!((routed.routed, routed.unroutable), (3, 0));
    let kept = filing::reports(&h.net, "t-2025-a").await.unwrap();
    assert_eq!(kept.len(), 3);
    for (r, p) in kept.iter().zip(&people) {
        assert!(r.report["employee"].get("my_number").is_none());
        assert!(!r.report.to_string().contains(&p.my_number));
        assert_eq!(
            r.delivery_id.as_deref(),
            Some(format!("wr:t-2025-a:{}", r.line).as_str())
        );
    }
    assert_eq!(
        refusal(&tax.get::<FilingWire>("/local/v1/filings/none-such").await).1,
        "unknown_filing"
    );
    let bad_limit = tax
        .get::<Vec<renkei_api::filings::FiledReportWire>>("/local/v1/filings/t-2025-a/reports?limit=0")
        .await;
    assert!(matches!(bad_limit, Err(ApiFailure::Rejected { status: 400, .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monthly_earnings_reports_are_filed_the_same_way_and_kept_by_the_tax_agency() {
    let h = harness().await;
    let people = employees(&h, 4);
    let month = |p: &renkei_demo::country::Inhabitant, i: usize| {
        let mut r = renkei_delivery::example_document(renkei_delivery::EARNINGS_FILING_TYPE).unwrap();
        let w = report_for(p, i).unwrap();
        r["employer"]["corporate_number"] = filing::EMPLOYER.into();
        r["employee"] = w["employee"].clone();
        r["employee"]
            .as_object_mut()
            .unwrap()
            .remove("address_on_january_1");
        r["employee_reference"] = format!("E-{i:05}").into();
        r
    };
    let file = filing_file(
        &people
            .iter()
            .enumerate()
            .map(|(i, p)| month(p, i))
            .collect::<Vec<_>>(),
    );
    let tax = &h.net.node(TAX.key).local;
    let post = |ty: &str| {
        let path = format!("/local/v1/filings?type={ty}&filing_id=m-2025-11");
        let body = file.clone().into_bytes();
        async move {
            tax.post_bytes::<FilingWire>(&path, body, "application/jsonl")
                .await
        }
    };
    // Not a filing type, and not the type the lines are.
    assert_eq!(refusal(&post("monthly_earnings_report.v1").await).1, "malformed");
    let (status, code, _) = refusal(&post("withholding_report.v1").await);
    assert_eq!((status, code.as_str()), (422, "filing_refused"));

    let filed = post("monthly_earnings_filing.v1").await.unwrap();
    assert_eq!(
        (
            filed.filing_type.as_str(),
            filed.reports,
            filed.kept,
            filed.pending
        ),
        ("monthly_earnings_filing.v1", 4, 4, 0)
    );
    let kept = filing::reports(&h.net, "m-2025-11").await.unwrap();
    assert_eq!(kept.len(), 4);
    for (r, p) in kept.iter().zip(&people) {
        assert_eq!(r.route, "kept");
        assert!(r.recipient.is_none() && r.delivery_id.is_none());
        assert!(!r.report.to_string().contains(&p.my_number));
        assert_eq!(r.report["gross_pay"], 380_000);
    }
    // Kept is final: nothing is asked of the registry, nothing pushed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !h.node_records(TAX.key)
            .await
            .iter()
            .any(|r| r.item == "residence_on_january_1" || r.item == "salary_payment_report")
    );
}

/// A file of numbers the register does not know, past the registry's
/// mismatch burst: the registry stops checking the tax agency's numbers for
/// a while, and the filing is answered "retry later", not "wrong" — nothing
/// is kept either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filing_past_the_registrys_mismatch_limit_is_retryable_and_keeps_nothing() {
    let h = harness().await;
    let someone = employees(&h, 1)[0];
    let probes: Vec<serde_json::Value> = (0..250)
        .map(|i| {
            let mut r = report_for(someone, i).unwrap();
            r["employee"]["my_number"] = renkei_ids::MyNumber::random().expose().into();
            r
        })
        .collect();
    let file = filing_file(&probes);
    let (status, code, message) = refusal(&submit(&h.net, &file, None).await);
    assert_eq!((status, code.as_str()), (429, "rate_limited"), "{message}");
    assert!(
        !probes
            .iter()
            .any(|p| message.contains(p["employee"]["my_number"].as_str().unwrap()))
    );
    let kept = h
        .net
        .node(TAX.key)
        .local
        .get::<FilingWire>(&format!("/local/v1/filings/{}", derived_id(&file)))
        .await;
    assert_eq!(refusal(&kept).1, "unknown_filing");
}
