//! A year's documents as the input of the draft tax return, with the
//! document each input figure came from.

use std::collections::BTreeMap;

use renkei_tax::TaxInput;
use serde_json::{Value, json};

use crate::types::DocumentTypeId;

/// One current document of a person's mailbox (the latest version, not
/// voided), as the draft reads it.
#[derive(Debug, Clone, Copy)]
pub struct DraftSource<'a> {
    /// How the person recognises it: the sender and its document id.
    pub reference: &'a str,
    pub type_id: &'a DocumentTypeId,
    pub document: &'a Value,
}

/// The draft's input and where each of its entries came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftInput {
    pub input: TaxInput,
    /// Input path (`life_insurance_certificates[0]`, `withholding_slip`) →
    /// the references of the documents it was made from.
    pub sources: BTreeMap<String, Vec<String>>,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

fn yen(doc: &Value, pointer: &str) -> u64 {
    doc.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// The input of `year`'s draft from the documents (already checked
/// against their types). Several withholding slips (two employers in the
/// year) add up, as do national pension certificates; the first housing
/// loan certificate is used and any other is named in the notes.
pub fn draft_input(year: u16, documents: &[DraftSource<'_>]) -> Result<DraftInput, renkei_tax::InputError> {
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut slip = (0u64, 0u64, 0u64);
    let mut pension = 0u64;
    let (mut life, mut quake, mut medical, mut donations) = (vec![], vec![], vec![], vec![]);
    let mut housing = None;
    for d in documents {
        if d.document.get("tax_year").and_then(Value::as_u64) != Some(u64::from(year)) {
            continue;
        }
        let doc = d.document;
        let mut from = |path: String| sources.entry(path).or_default().push(d.reference.to_owned());
        match d.type_id.name.as_str() {
            "withholding_slip" => {
                slip.0 += yen(doc, "/payment_amount");
                slip.1 += yen(doc, "/social_insurance_amount");
                slip.2 += yen(doc, "/withholding_tax");
                from("withholding_slip".into());
            }
            "life_insurance_certificate" => {
                from(format!("life_insurance_certificates[{}]", life.len()));
                life.push(json!({
                    "category": doc["category"],
                    "contract": doc["contract"],
                    "annual_premium": yen(doc, "/annual_premium"),
                }));
            }
            "earthquake_insurance_certificate" => {
                from(format!("earthquake_insurance_certificates[{}]", quake.len()));
                quake.push(json!({"type": doc["type"], "annual_premium": yen(doc, "/annual_premium")}));
            }
            "medical_expense_notice" => {
                from(format!("medical_expense_notices[{}]", medical.len()));
                medical.push(json!({
                    "paid": yen(doc, "/totals/paid"),
                    "reimbursed": yen(doc, "/totals/reimbursed"),
                }));
            }
            "national_pension_premium_certificate" => {
                // The full year's premiums when the certificate gives them.
                pension += doc
                    .get("total")
                    .and_then(Value::as_u64)
                    .unwrap_or_else(|| yen(doc, "/paid"));
                from("national_pension_certificate".into());
            }
            "donation_receipt" => {
                from(format!("donation_certificates[{}]", donations.len()));
                donations.push(json!({"amount": yen(doc, "/amount")}));
            }
            "housing_loan_year_end_balance" if housing.is_none() => {
                let mut h = json!({
                    "year_end_balance": yen(doc, "/year_end_balance"),
                    "move_in_year": doc["move_in_year"],
                    "acquisition": doc["acquisition"],
                    "performance": doc["performance"],
                    "child_or_young_couple": doc["child_or_young_couple"],
                });
                if let Some(c) = doc.get("acquisition_cost") {
                    h["acquisition_cost"] = c.clone();
                }
                housing = Some(h);
                from("housing_loan_certificate".into());
            }
            "housing_loan_year_end_balance" => notes.push(format!(
                "{}: only one housing-loan certificate is used in this draft",
                d.reference
            )),
            other => notes.push(format!(
                "{}: a {other} does not enter a salary-only return",
                d.reference
            )),
        }
    }
    let mut v = json!({
        "life_insurance_certificates": life,
        "earthquake_insurance_certificates": quake,
        "medical_expense_notices": medical,
        "donation_certificates": donations,
    });
    if sources.contains_key("withholding_slip") {
        v["withholding_slip"] =
            json!({"payment_amount": slip.0, "social_insurance_amount": slip.1, "withholding_tax": slip.2});
    }
    if sources.contains_key("national_pension_certificate") {
        v["national_pension_certificate"] = json!({"paid": pension});
    }
    if let Some(h) = housing {
        v["housing_loan_certificate"] = h;
    }
    // The documents passed their schemas, whose enums are the draft's.
    let input: TaxInput = serde_json::from_value(v).map_err(|e| renkei_tax::InputError {
        field: "documents".into(),
        reason: e.to_string(),
    })?;
    input.validate()?;
    Ok(DraftInput {
        input,
        sources,
        notes,
    })
}
