//! A year's mailbox as the draft return's input: each figure traced to the
//! documents it came from.

use std::path::Path;

use renkei_delivery::{DocumentTypeId, DocumentTypes, DraftSource, draft_input};
use serde_json::Value;

fn example(name: &str) -> (DocumentTypeId, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/examples/{name}.v1.valid.json"));
    (
        DocumentTypeId::new(name, 1),
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap(),
    )
}

#[test]
fn the_examples_make_a_draft_whose_figures_name_their_documents() {
    let types = DocumentTypes::builtin().unwrap();
    let names = [
        "withholding_slip",
        "life_insurance_certificate",
        "earthquake_insurance_certificate",
        "medical_expense_notice",
        "national_pension_premium_certificate",
        "donation_receipt",
        "housing_loan_year_end_balance",
        "specified_account_annual_report",
    ];
    let docs: Vec<(String, DocumentTypeId, Value)> = names
        .iter()
        .map(|n| {
            let (id, doc) = example(n);
            types.get(n, 1).unwrap().check(&doc).unwrap();
            (format!("{n} #1"), id, doc)
        })
        .collect();
    let mut second_slip = docs[0].2.clone();
    second_slip["payment_amount"] = 600_000.into();
    second_slip["social_insurance_amount"] = 90_000.into();
    second_slip["withholding_tax"] = 12_000.into();
    let mut last_year = docs[5].2.clone();
    last_year["tax_year"] = 2024.into();
    let mut sources: Vec<DraftSource<'_>> = docs
        .iter()
        .map(|(r, id, d)| DraftSource {
            reference: r,
            type_id: id,
            document: d,
        })
        .collect();
    let slip_id = DocumentTypeId::new("withholding_slip", 1);
    let donation_id = DocumentTypeId::new("donation_receipt", 1);
    sources.push(DraftSource {
        reference: "withholding_slip #2",
        type_id: &slip_id,
        document: &second_slip,
    });
    sources.push(DraftSource {
        reference: "donation_receipt 2024",
        type_id: &donation_id,
        document: &last_year,
    });

    let d = draft_input(2025, &sources).unwrap();
    let slip = d.input.withholding_slip.as_ref().unwrap();
    let first = &docs[0].2;
    let paid = |p: &str| first[p].as_u64().unwrap();
    // Two employers' slips add up.
    assert_eq!(slip.payment_amount, paid("payment_amount") + 600_000);
    assert_eq!(
        slip.social_insurance_amount,
        paid("social_insurance_amount") + 90_000
    );
    assert_eq!(slip.withholding_tax, paid("withholding_tax") + 12_000);
    assert_eq!(
        d.sources["withholding_slip"],
        ["withholding_slip #1", "withholding_slip #2"]
    );
    // The pension certificate counts its full year, paid plus expected.
    let pension = &docs[4].2;
    assert_eq!(
        d.input.national_pension_certificate.as_ref().unwrap().paid,
        pension["total"].as_u64().unwrap()
    );
    // Last year's receipt is not this year's; the securities report is named.
    assert_eq!(d.input.donation_certificates.len(), 1);
    assert_eq!(d.sources["donation_certificates[0]"], ["donation_receipt #1"]);
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(
        d.notes[0].starts_with("specified_account_annual_report #1"),
        "{:?}",
        d.notes
    );
    assert_eq!(
        d.input.medical_expense_notices[0].paid,
        docs[3].2["totals"]["paid"].as_u64().unwrap()
    );

    // The draft's trace points at input paths the sources resolve.
    let draft = renkei_tax::draft(2025, &d.input).unwrap();
    let life = draft.trace_for("deductions.life_insurance").unwrap();
    assert_eq!(life.sources, ["life_insurance_certificates[0]"]);
    assert_eq!(d.sources[&life.sources[0]], ["life_insurance_certificate #1"]);
    assert_eq!(
        draft.deductions.social_insurance,
        slip.social_insurance_amount + pension["total"].as_u64().unwrap()
    );
    assert!(draft.housing_loan_credit > 0);
}

#[test]
fn stated_totals_must_add_up() {
    let types = DocumentTypes::builtin().unwrap();
    let (_, mut medical) = example("medical_expense_notice");
    let paid = medical["totals"]["paid"].as_u64().unwrap();
    medical["totals"]["paid"] = (paid + 1).into();
    let e = types
        .get("medical_expense_notice", 1)
        .unwrap()
        .check(&medical)
        .unwrap_err();
    assert_eq!(e.pointer, "/totals/paid", "{e}");
    assert!(e.reason.contains(&format!("add up to {paid}")), "{e}");

    let (_, mut pension) = example("national_pension_premium_certificate");
    pension["total"] = 1.into();
    let e = types
        .get("national_pension_premium_certificate", 1)
        .unwrap()
        .check(&pension)
        .unwrap_err();
    assert_eq!(e.pointer, "/total", "{e}");
}

#[test]
fn cross_field_rules_the_schemas_leave_to_code_are_checked() {
    let types = DocumentTypes::builtin().unwrap();
    let check = |name: &str, change: &dyn Fn(&mut Value)| {
        let (_, mut doc) = example(name);
        types.get(name, 1).unwrap().check(&doc).unwrap();
        change(&mut doc);
        types.get(name, 1).unwrap().check(&doc).unwrap_err()
    };
    let e = check("specified_account_annual_report", &|d| {
        d["transfer"]["total"]["gain_or_loss"] = 1.into()
    });
    assert_eq!(e.pointer, "/transfer/total/gain_or_loss", "{e}");
    let e = check("monthly_earnings_report", &|d| {
        d["social_insurance"]["total"] = 1.into()
    });
    assert_eq!(e.pointer, "/social_insurance/total", "{e}");
    let e = check("monthly_earnings_report", &|d| {
        d["employment_status"] = "left".into();
        d.as_object_mut().unwrap().remove("leave_date");
    });
    assert!(e.reason.contains("leave_date"), "{e}");
    let e = check("withholding_slip", &|d| {
        d["year_end_adjusted"] = true.into();
        d.as_object_mut().unwrap().remove("total_deductions");
    });
    assert!(e.reason.contains("total_deductions"), "{e}");
    let e = check("withholding_report", &|d| {
        d["payer_corporate_number"] = "2010001142730".into()
    });
    assert_eq!(e.pointer, "/payer_corporate_number", "{e}");
}
