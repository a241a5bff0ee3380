//! The document types: one versioned JSON Schema each (in `schemas/`,
//! compiled in), with the checks a schema cannot say.

use std::fmt;

use serde_json::Value;

use crate::schema::{Schema, SchemaDefinitionError, SchemaViolation};

/// A document type and version, written `withholding_slip.v1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentTypeId {
    pub name: String,
    pub version: u32,
}

impl DocumentTypeId {
    pub fn new(name: &str, version: u32) -> Self {
        Self {
            name: name.to_owned(),
            version,
        }
    }

    /// `withholding_slip.v1`, as [`Display`](fmt::Display) writes it.
    pub fn parse(text: &str) -> Option<Self> {
        let (name, version) = text.rsplit_once(".v")?;
        Some(Self::new(name, version.parse().ok()?))
    }
}

impl fmt::Display for DocumentTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.v{}", self.name, self.version)
    }
}

/// One document type: its schema and what the schema's header says.
#[derive(Debug)]
pub struct DocumentType {
    pub id: DocumentTypeId,
    pub label_ja: String,
    pub label_en: String,
    /// The NTA electronic specification it follows (`TEG800`), if any.
    pub nta_spec: Option<String>,
    /// Only the employer's statutory filing record: it goes to the tax
    /// agency, never to a mailbox.
    pub carries_my_number: bool,
    /// Whether senders deposit it into people's mailboxes.
    pub deposit: bool,
    /// The schema as published (served to senders as it is).
    pub source: &'static str,
    schema: Schema,
}

/// The schemas compiled into the binary, by file name.
const SCHEMAS: &[(&str, &str)] = &[
    (
        "withholding_slip.v1",
        include_str!("../schemas/withholding_slip.v1.json"),
    ),
    (
        "specified_account_annual_report.v1",
        include_str!("../schemas/specified_account_annual_report.v1.json"),
    ),
    (
        "life_insurance_certificate.v1",
        include_str!("../schemas/life_insurance_certificate.v1.json"),
    ),
    (
        "earthquake_insurance_certificate.v1",
        include_str!("../schemas/earthquake_insurance_certificate.v1.json"),
    ),
    (
        "housing_loan_year_end_balance.v1",
        include_str!("../schemas/housing_loan_year_end_balance.v1.json"),
    ),
    (
        "donation_receipt.v1",
        include_str!("../schemas/donation_receipt.v1.json"),
    ),
    (
        "national_pension_premium_certificate.v1",
        include_str!("../schemas/national_pension_premium_certificate.v1.json"),
    ),
    (
        "medical_expense_notice.v1",
        include_str!("../schemas/medical_expense_notice.v1.json"),
    ),
    (
        "monthly_earnings_report.v1",
        include_str!("../schemas/monthly_earnings_report.v1.json"),
    ),
    (
        "withholding_report.v1",
        include_str!("../schemas/withholding_report.v1.json"),
    ),
    (
        "monthly_earnings_filing.v1",
        include_str!("../schemas/monthly_earnings_filing.v1.json"),
    ),
];

/// Property names that would hold a My Number; no deposit type has one.
const MY_NUMBER_NAMES: &[&str] = &["my_number", "individual_number", "kojin_bango", "mynumber"];

/// Why the compiled-in document types did not load (a broken build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeDefinitionError {
    #[error("{file}: {source}")]
    Schema {
        file: &'static str,
        source: SchemaDefinitionError,
    },
    #[error("{file}: {reason}")]
    Header { file: &'static str, reason: String },
}

/// A valid example document of each type, as the schemas' README shows
/// them (the demo's senders deposit them; tests start from them).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "withholding_slip.v1",
        include_str!("../schemas/examples/withholding_slip.v1.valid.json"),
    ),
    (
        "specified_account_annual_report.v1",
        include_str!("../schemas/examples/specified_account_annual_report.v1.valid.json"),
    ),
    (
        "life_insurance_certificate.v1",
        include_str!("../schemas/examples/life_insurance_certificate.v1.valid.json"),
    ),
    (
        "earthquake_insurance_certificate.v1",
        include_str!("../schemas/examples/earthquake_insurance_certificate.v1.valid.json"),
    ),
    (
        "housing_loan_year_end_balance.v1",
        include_str!("../schemas/examples/housing_loan_year_end_balance.v1.valid.json"),
    ),
    (
        "donation_receipt.v1",
        include_str!("../schemas/examples/donation_receipt.v1.valid.json"),
    ),
    (
        "national_pension_premium_certificate.v1",
        include_str!("../schemas/examples/national_pension_premium_certificate.v1.valid.json"),
    ),
    (
        "medical_expense_notice.v1",
        include_str!("../schemas/examples/medical_expense_notice.v1.valid.json"),
    ),
    (
        "monthly_earnings_report.v1",
        include_str!("../schemas/examples/monthly_earnings_report.v1.valid.json"),
    ),
    (
        "withholding_report.v1",
        include_str!("../schemas/examples/withholding_report.v1.valid.json"),
    ),
    (
        "monthly_earnings_filing.v1",
        include_str!("../schemas/examples/monthly_earnings_filing.v1.valid.json"),
    ),
];

/// The example document of type `name.vN`, if there is one.
pub fn example_document(type_id: &str) -> Option<Value> {
    EXAMPLES
        .iter()
        .find(|(id, _)| *id == type_id)
        .and_then(|(_, text)| serde_json::from_str(text).ok())
}

/// Every document type, looked up by name and version.
#[derive(Debug)]
pub struct DocumentTypes {
    types: Vec<DocumentType>,
}

impl DocumentTypes {
    /// The document types compiled in, each schema compiled and its header
    /// checked against the file name; a deposit type that names a My
    /// Number property anywhere is refused.
    pub fn builtin() -> Result<Self, TypeDefinitionError> {
        Self::load(SCHEMAS)
    }

    fn load(files: &[(&'static str, &'static str)]) -> Result<Self, TypeDefinitionError> {
        let mut types = Vec::new();
        for &(file, source) in files {
            let header = |reason: &str| TypeDefinitionError::Header {
                file,
                reason: reason.to_owned(),
            };
            let doc: Value = serde_json::from_str(source).map_err(|e| header(&e.to_string()))?;
            let text = |key: &str| doc.get(key).and_then(Value::as_str).map(str::to_owned);
            let flag = |key: &str| doc.get(key).and_then(Value::as_bool);
            let name = text("x-type").ok_or_else(|| header("no x-type"))?;
            let version = doc
                .get("x-version")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| header("no x-version"))?;
            let id = DocumentTypeId::new(&name, version);
            if id.to_string() != *file {
                return Err(header(&format!("declares {id}")));
            }
            if text("x-tax-year-field").as_deref() != Some("tax_year") {
                return Err(header("x-tax-year-field must be tax_year"));
            }
            let carries_my_number =
                flag("x-carries-my-number").ok_or_else(|| header("no x-carries-my-number"))?;
            let deposit = flag("x-deposit").ok_or_else(|| header("no x-deposit"))?;
            let named = my_number_property(&doc);
            if deposit && (carries_my_number || named.is_some()) {
                return Err(header(&format!(
                    "a deposit type must not carry a My Number ({})",
                    named.unwrap_or_else(|| "x-carries-my-number".into())
                )));
            }
            let schema =
                Schema::compile(&doc).map_err(|source| TypeDefinitionError::Schema { file, source })?;
            types.push(DocumentType {
                id,
                label_ja: text("title").ok_or_else(|| header("no title"))?,
                label_en: text("x-label-en").ok_or_else(|| header("no x-label-en"))?,
                nta_spec: text("x-nta-spec"),
                carries_my_number,
                deposit,
                source,
                schema,
            });
        }
        Ok(Self { types })
    }

    pub fn get(&self, name: &str, version: u32) -> Option<&DocumentType> {
        self.types
            .iter()
            .find(|t| t.id.name == name && t.id.version == version)
    }

    /// The type written `name.vN`.
    pub fn lookup(&self, text: &str) -> Option<&DocumentType> {
        let id = DocumentTypeId::parse(text)?;
        self.get(&id.name, id.version)
    }

    pub fn iter(&self) -> impl Iterator<Item = &DocumentType> {
        self.types.iter()
    }
}

/// The path of the first property anywhere in `schema` named like a My
/// Number.
fn my_number_property(schema: &Value) -> Option<String> {
    match schema {
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            if MY_NUMBER_NAMES.contains(&k.to_ascii_lowercase().as_str()) {
                Some(k.clone())
            } else {
                my_number_property(v)
            }
        }),
        Value::Array(a) => a.iter().find_map(my_number_property),
        _ => None,
    }
}

impl DocumentType {
    /// Check `doc` against the schema, then what a schema cannot say:
    /// dates are real calendar dates, corporate numbers and My Numbers
    /// have their check digits, care-medical life insurance is a new
    /// contract. The first violation names its JSON pointer.
    pub fn check(&self, doc: &Value) -> Result<(), SchemaViolation> {
        self.schema.validate(doc)?;
        let mut at = String::new();
        check_values(doc, &mut at)?;
        if self.id.name == "life_insurance_certificate"
            && doc.get("category").and_then(Value::as_str) == Some("care_medical")
            && doc.get("contract").and_then(Value::as_str) != Some("new")
        {
            return Err(SchemaViolation {
                pointer: "/contract".into(),
                reason: "must be \"new\": care-medical insurance exists only under the new contracts".into(),
            });
        }
        self.check_totals(doc)
    }

    /// Totals a document states must be the sums of its parts.
    fn check_totals(&self, doc: &Value) -> Result<(), SchemaViolation> {
        let yen = |p: &str| doc.pointer(p).and_then(Value::as_u64);
        let mismatch = |pointer: &str, stated: u64, sum: u64| SchemaViolation {
            pointer: pointer.into(),
            reason: format!("is {stated}, but its parts add up to {sum}"),
        };
        match self.id.name.as_str() {
            "medical_expense_notice" => {
                let entries = doc
                    .get("entries")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for (field, default) in [("total_cost", None), ("paid", None), ("reimbursed", Some(0))] {
                    let sum: u64 = entries
                        .iter()
                        .map(|e| e.get(field).and_then(Value::as_u64).or(default).unwrap_or(0))
                        .sum();
                    let pointer = format!("/totals/{field}");
                    if let Some(stated) = yen(&pointer)
                        && stated != sum
                    {
                        return Err(mismatch(&pointer, stated, sum));
                    }
                }
            }
            "national_pension_premium_certificate" => {
                if let (Some(total), Some(paid)) = (yen("/total"), yen("/paid")) {
                    let sum = paid + yen("/expected_paid_by_year_end").unwrap_or(0);
                    if total != sum {
                        return Err(mismatch("/total", total, sum));
                    }
                }
            }
            "specified_account_annual_report" => {
                for section in ["listed", "margin", "total"] {
                    let at = format!("/transfer/{section}");
                    if let (Some(proceeds), Some(cost), Some(stated)) = (
                        yen(&format!("{at}/proceeds")),
                        yen(&format!("{at}/acquisition_cost")),
                        doc.pointer(&format!("{at}/gain_or_loss")).and_then(Value::as_i64),
                    ) {
                        let diff = i128::from(proceeds) - i128::from(cost);
                        if i128::from(stated) != diff {
                            return Err(SchemaViolation {
                                pointer: format!("{at}/gain_or_loss"),
                                reason: format!("is {stated}, but proceeds minus cost is {diff}"),
                            });
                        }
                    }
                }
            }
            "monthly_earnings_report" => {
                let parts = ["health", "pension", "employment", "long_term_care"];
                let sum: u64 = parts
                    .iter()
                    .filter_map(|p| yen(&format!("/social_insurance/{p}")))
                    .sum();
                if let Some(stated) = yen("/social_insurance/total")
                    && stated != sum
                {
                    return Err(mismatch("/social_insurance/total", stated, sum));
                }
                if doc.get("employment_status").and_then(Value::as_str) == Some("left")
                    && doc.get("leave_date").is_none()
                {
                    return Err(SchemaViolation {
                        pointer: String::new(),
                        reason: "lacks leave_date, which an employee who left must have".into(),
                    });
                }
            }
            "withholding_slip" | "withholding_report" => {
                // A year-end-adjusted slip states the year's result.
                if doc.get("year_end_adjusted").and_then(Value::as_bool) == Some(true) {
                    for field in ["employment_income", "total_deductions"] {
                        if doc.get(field).is_none() {
                            return Err(SchemaViolation {
                                pointer: String::new(),
                                reason: format!("lacks {field}, which a year-end-adjusted slip states"),
                            });
                        }
                    }
                }
                if let Some(filed) = doc.get("payer_corporate_number")
                    && Some(filed) != doc.pointer("/payer/corporate_number")
                {
                    return Err(SchemaViolation {
                        pointer: "/payer_corporate_number".into(),
                        reason: "differs from payer.corporate_number".into(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The tax year the document belongs to (every type has `tax_year`).
    pub fn tax_year(&self, doc: &Value) -> Option<u16> {
        doc.get("tax_year")
            .and_then(Value::as_u64)
            .and_then(|y| u16::try_from(y).ok())
    }
}

fn check_values(v: &Value, at: &mut String) -> Result<(), SchemaViolation> {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let mark = at.len();
                at.push('/');
                at.push_str(&crate::schema::escape_pointer(k));
                if let Value::String(s) = x {
                    let bad = match k.as_str() {
                        "corporate_number" | "payer_corporate_number" => {
                            renkei_ids::CorporateNumber::parse(s).err().map(|e| e.to_string())
                        }
                        "my_number" => renkei_ids::MyNumber::parse(s).err().map(|e| e.to_string()),
                        _ => None,
                    };
                    if let Some(reason) = bad {
                        return Err(SchemaViolation {
                            pointer: at.clone(),
                            reason,
                        });
                    }
                }
                check_values(x, at)?;
                at.truncate(mark);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let mark = at.len();
                at.push_str(&format!("/{i}"));
                check_values(x, at)?;
                at.truncate(mark);
            }
        }
        Value::String(s) if looks_like_date(s) && !is_calendar_date(s) => {
            return Err(SchemaViolation {
                pointer: at.clone(),
                reason: format!("{s:?} is not a date of the calendar"),
            });
        }
        _ => {}
    }
    Ok(())
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `YYYY-MM-DD` that exists (the schemas' pattern lets 02-30 through).
fn is_calendar_date(s: &str) -> bool {
    let (Ok(y), Ok(m), Ok(d)) = (
        s[0..4].parse::<u32>(),
        s[5..7].parse::<u32>(),
        s[8..10].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn altered(
        file: &'static str,
        change: impl Fn(&mut Value),
    ) -> Result<DocumentTypes, TypeDefinitionError> {
        let (_, source) = SCHEMAS.iter().find(|(f, _)| *f == file).expect("a builtin type");
        let mut doc: Value = serde_json::from_str(source).expect("json");
        change(&mut doc);
        let text: &'static str = doc.to_string().leak();
        DocumentTypes::load(&[(file, text)])
    }

    #[test]
    fn a_deposit_type_never_carries_a_my_number() {
        let types = DocumentTypes::builtin().expect("the builtin types load");
        assert_eq!(types.iter().count(), SCHEMAS.len());
        let filed = types.get("withholding_report", 1).expect("the filing record");
        assert!(filed.carries_my_number && !filed.deposit);
        assert!(types.iter().filter(|t| t.deposit).all(|t| !t.carries_my_number));

        // A property named like a My Number, at any depth, or the flag.
        let e = altered("withholding_slip.v1", |d| {
            d["properties"]["recipient"]["properties"] = serde_json::json!({"my_number": {"type": "string"}});
        })
        .expect_err("refused");
        assert!(
            e.to_string().contains("must not carry a My Number (my_number)"),
            "{e}"
        );
        let e =
            altered("donation_receipt.v1", |d| d["x-carries-my-number"] = true.into()).expect_err("refused");
        assert!(e.to_string().contains("must not carry a My Number"), "{e}");
        // The header must match the file; an unsupported keyword is refused.
        let e = altered("donation_receipt.v1", |d| d["x-version"] = 2.into()).expect_err("refused");
        assert!(e.to_string().contains("declares donation_receipt.v2"), "{e}");
        let e = altered("donation_receipt.v1", |d| {
            d["patternProperties"] = serde_json::json!({})
        })
        .expect_err("refused");
        assert!(e.to_string().contains("patternProperties"), "{e}");
    }

    #[test]
    fn calendar_dates() {
        for ok in ["2024-02-29", "2000-02-29", "2025-12-31", "2025-01-01"] {
            assert!(is_calendar_date(ok), "{ok}");
        }
        for bad in [
            "2025-02-29",
            "1900-02-29",
            "2025-04-31",
            "2025-13-01",
            "2025-00-10",
            "2025-01-00",
        ] {
            assert!(!is_calendar_date(bad), "{bad}");
        }
    }
}
