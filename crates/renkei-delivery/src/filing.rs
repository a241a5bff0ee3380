//! The employer's statutory filings: one file of withholding reports
//! (`withholding_report.v1`) or of monthly earnings reports
//! (`monthly_earnings_filing.v1`), one JSON object per line, that by law
//! carry each employee's My Number. The tax agency's node uses the number once —
//! to enrol the employee through the registry — and keeps and forwards
//! only [`FiledReport::report`], the record with the number taken out: the
//! salary-payment report the municipality receives is that record too.

use renkei_ids::{CorporateNumber, MyNumber};
use serde_json::Value;

use crate::types::DocumentTypes;

/// The annual filing record's type (routed on to the municipalities).
pub const FILING_TYPE: &str = "withholding_report.v1";

/// The monthly filing record's type (kept by the tax agency).
pub const EARNINGS_FILING_TYPE: &str = "monthly_earnings_filing.v1";

/// The types a filing may be of.
pub const FILING_TYPES: [&str; 2] = [FILING_TYPE, EARNINGS_FILING_TYPE];

/// Lines one filing may hold.
pub const MAX_FILING_LINES: usize = 200_000;

/// One line of a filing, checked and split.
#[derive(Debug, Clone, PartialEq)]
pub struct FiledReport {
    /// The line of the file (from 1).
    pub line: usize,
    /// The employee's number, for the enrolment only.
    pub my_number: MyNumber,
    pub payer: CorporateNumber,
    pub tax_year: u16,
    /// The address on 1 January the employer states (the municipality of
    /// that day receives the salary-payment report).
    pub address_on_january_1: Option<String>,
    /// The record as kept and forwarded: `employee.my_number` removed.
    pub report: Value,
}

/// Why a line of a filing is refused; names the line and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {reason}")]
pub struct FilingError {
    pub line: usize,
    pub field: String,
    pub reason: String,
}

fn err(line: usize, field: &str, reason: impl Into<String>) -> FilingError {
    FilingError {
        line,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Check one record against the annual filing type and take the number out.
pub fn split_report(types: &DocumentTypes, line: usize, doc: Value) -> Result<FiledReport, FilingError> {
    split_record(types, FILING_TYPE, line, doc)
}

/// Check one record against a filing type ([`FILING_TYPES`]) and take the
/// number out.
pub fn split_record(
    types: &DocumentTypes,
    filing_type: &str,
    line: usize,
    mut doc: Value,
) -> Result<FiledReport, FilingError> {
    if !FILING_TYPES.contains(&filing_type) {
        return Err(err(line, "type", format!("{filing_type} is not a filing type")));
    }
    let t = types
        .lookup(filing_type)
        .ok_or_else(|| err(line, "type", "the filing type is not loaded"))?;
    t.check(&doc).map_err(|v| {
        // A refusal never repeats the number it refuses.
        if v.pointer.starts_with("/employee/my_number") {
            err(
                line,
                &v.pointer,
                "is not a valid individual number (12 digits with its check digit)",
            )
        } else {
            err(line, &v.pointer, v.reason)
        }
    })?;
    let tax_year = t
        .tax_year(&doc)
        .ok_or_else(|| err(line, "/tax_year", "is missing"))?;
    let payer = doc
        .pointer("/payer_corporate_number")
        .or_else(|| doc.pointer("/payer/corporate_number"))
        .or_else(|| doc.pointer("/employer/corporate_number"))
        .and_then(Value::as_str)
        .and_then(|s| CorporateNumber::parse(s).ok())
        .ok_or_else(|| {
            err(
                line,
                "/payer/corporate_number",
                "the payer's corporate number is required",
            )
        })?;
    let address_on_january_1 = doc
        .pointer("/employee/address_on_january_1")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let employee = doc
        .get_mut("employee")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            err(
                line,
                "/employee",
                "the employee (with the individual number) is required",
            )
        })?;
    let number = employee
        .remove("my_number")
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| err(line, "/employee/my_number", "is required in a statutory filing"))?;
    let my_number = MyNumber::parse(&number).map_err(|_| {
        err(
            line,
            "/employee/my_number",
            "is not a valid individual number (12 digits with its check digit)",
        )
    })?;
    Ok(FiledReport {
        line,
        my_number,
        payer,
        tax_year,
        address_on_january_1,
        report: doc,
    })
}

/// Every line of a filing file of withholding reports (JSONL; blank lines
/// skipped), each checked and split or refused by line number. Nothing
/// here is stored: the caller decides whether a file with refused lines
/// goes in at all.
pub fn parse_filing(
    types: &DocumentTypes,
    text: &str,
) -> Result<Vec<Result<FiledReport, FilingError>>, FilingError> {
    parse_filing_of(types, FILING_TYPE, text)
}

/// As [`parse_filing`], for a file of records of `filing_type`.
pub fn parse_filing_of(
    types: &DocumentTypes,
    filing_type: &str,
    text: &str,
) -> Result<Vec<Result<FiledReport, FilingError>>, FilingError> {
    if !FILING_TYPES.contains(&filing_type) {
        return Err(err(
            0,
            "type",
            format!("{filing_type} is not a filing type ({})", FILING_TYPES.join(", ")),
        ));
    }
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    if lines.is_empty() {
        return Err(err(0, "file", "the filing has no records"));
    }
    if lines.len() > MAX_FILING_LINES {
        return Err(err(
            0,
            "file",
            format!(
                "{} records; a filing holds at most {MAX_FILING_LINES}",
                lines.len()
            ),
        ));
    }
    Ok(lines
        .into_iter()
        .map(|(n, l)| {
            let doc: Value = serde_json::from_str(l).map_err(|e| err(n, "line", format!("not JSON: {e}")))?;
            if !doc.is_object() {
                return Err(err(n, "line", "a record is a JSON object"));
            }
            split_record(types, filing_type, n, doc)
        })
        .collect())
}
