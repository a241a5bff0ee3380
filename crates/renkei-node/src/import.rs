//! Imports of an institution's items from JSONL or CSV files.
//!
//! A file is all or nothing: every row is checked, every problem is
//! reported with its line and field, and only a file without problems is
//! stored (in one transaction, by the caller). Half-imported files are how
//! data goes quietly wrong.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::BufRead;

use renkei_catalog::{Catalog, ItemCode, KindCode};
use renkei_ids::LocalPersonId;
use renkei_protocol::{FiscalYear, UnixMillis};
use serde::Deserialize;

use crate::model::ItemValue;

/// Largest accepted value of one item, serialised.
pub(crate) const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Problems listed in a report; the count covers all of them.
const MAX_LISTED: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Jsonl,
    Csv,
}

impl ImportFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// From a file name's extension.
    pub fn from_path(path: &str) -> Option<Self> {
        let ext = path.rsplit('.').next()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, field `{}`: {}", self.line, field, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// Why a file was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    pub rows: usize,
    pub error_count: usize,
    pub errors: Vec<RowError>,
}

impl ImportReport {
    pub(crate) fn push(&mut self, e: RowError) {
        self.error_count += 1;
        if self.errors.len() < MAX_LISTED {
            self.errors.push(e);
        }
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "nothing imported: {} of {} rows have problems",
            self.error_count, self.rows
        )?;
        for e in &self.errors {
            writeln!(f, "  {e}")?;
        }
        if self.error_count > self.errors.len() {
            writeln!(f, "  … and {} more", self.error_count - self.errors.len())?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Rejected(ImportReport),
    #[error("could not read the file: {0}")]
    Read(String),
}

/// A file whose rows are all well formed; enrolment is checked next.
#[derive(Debug)]
pub struct ParsedImport {
    rows: Vec<(u64, ItemValue)>,
}

impl ParsedImport {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn local_ids(&self) -> Vec<LocalPersonId> {
        let set: HashSet<&LocalPersonId> = self.rows.iter().map(|(_, v)| &v.local_id).collect();
        set.into_iter().cloned().collect()
    }

    /// Every row must be about a person enrolled at this node: data about
    /// nobody could never be asked for, and is usually a typo.
    pub fn check_enrolled(self, enrolled: &HashSet<LocalPersonId>) -> Result<Vec<ItemValue>, ImportReport> {
        let mut report = ImportReport {
            rows: self.rows.len(),
            ..Default::default()
        };
        for (line, v) in &self.rows {
            if !enrolled.contains(&v.local_id) {
                report.push(RowError {
                    line: *line,
                    field: Some("local_id".into()),
                    message: format!("person {} is not enrolled at this node", v.local_id),
                });
            }
        }
        if report.error_count > 0 {
            return Err(report);
        }
        Ok(self.rows.into_iter().map(|(_, v)| v).collect())
    }
}

struct Checker<'a> {
    catalog: &'a Catalog,
    own_kind: &'a KindCode,
    now: UnixMillis,
    seen: HashMap<(LocalPersonId, ItemCode, Option<FiscalYear>), u64>,
    report: ImportReport,
    rows: Vec<(u64, ItemValue)>,
}

impl Checker<'_> {
    fn err(&mut self, line: u64, field: Option<&str>, message: impl Into<String>) {
        self.report.push(RowError {
            line,
            field: field.map(str::to_owned),
            message: message.into(),
        });
    }

    fn row(
        &mut self,
        line: u64,
        local_id: &str,
        item: &str,
        fiscal_year: Option<i64>,
        value: serde_json::Value,
    ) {
        self.report.rows += 1;
        let before = self.report.error_count;
        let local_id = LocalPersonId::parse(local_id)
            .map_err(|e| self.err(line, Some("local_id"), e.to_string()))
            .ok();
        let item_code = match ItemCode::parse(item) {
            Ok(i) => match self.catalog.item(&i) {
                None => {
                    self.err(line, Some("item"), format!("unknown item `{i}`"));
                    None
                }
                Some(def) if !def.held_by.contains(self.own_kind) => {
                    self.err(
                        line,
                        Some("item"),
                        format!("a {} does not hold `{i}` according to the catalog", self.own_kind),
                    );
                    None
                }
                Some(def) => Some((i, def.periodic)),
            },
            Err(e) => {
                self.err(line, Some("item"), e.to_string());
                None
            }
        };
        let fy = match fiscal_year {
            None => None,
            Some(y) => match u16::try_from(y).ok().and_then(|y| FiscalYear::new(y).ok()) {
                Some(fy) => Some(fy),
                None => {
                    self.err(line, Some("fiscal_year"), "must be a year between 1950 and 2200");
                    None
                }
            },
        };
        if let Some((code, periodic)) = &item_code {
            if *periodic && fiscal_year.is_none() {
                self.err(
                    line,
                    Some("fiscal_year"),
                    format!("item `{code}` needs a fiscal year"),
                );
            }
            if !*periodic && fiscal_year.is_some() {
                self.err(
                    line,
                    Some("fiscal_year"),
                    format!("item `{code}` has no fiscal year; leave it empty"),
                );
            }
        }
        let value = match value {
            serde_json::Value::Object(m) if !m.is_empty() => {
                let size = serde_json::to_vec(&m).map_or(usize::MAX, |v| v.len());
                if size > MAX_VALUE_BYTES {
                    self.err(
                        line,
                        Some("value"),
                        format!("is {size} bytes; at most {MAX_VALUE_BYTES} are allowed"),
                    );
                    None
                } else {
                    Some(m)
                }
            }
            _ => {
                self.err(line, Some("value"), "must be a non-empty JSON object");
                None
            }
        };
        if self.report.error_count != before {
            return;
        }
        let (Some(local_id), Some((item, _)), Some(value)) = (local_id, item_code, value) else {
            return;
        };
        let key = (local_id.clone(), item.clone(), fy);
        if let Some(first) = self.seen.get(&key) {
            let first = *first;
            self.err(
                line,
                None,
                format!("repeats the person, item and fiscal year of line {first}"),
            );
            return;
        }
        self.seen.insert(key, line);
        self.rows.push((
            line,
            ItemValue {
                local_id,
                item,
                fiscal_year: fy,
                value,
                updated_at: self.now,
            },
        ));
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    local_id: String,
    item: String,
    #[serde(default)]
    fiscal_year: Option<i64>,
    value: serde_json::Value,
}

/// Parse and check a whole file. `Err` lists every problem found.
pub fn parse_import(
    format: ImportFormat,
    reader: impl BufRead,
    catalog: &Catalog,
    own_kind: &KindCode,
    now: UnixMillis,
) -> Result<ParsedImport, ImportError> {
    let mut c = Checker {
        catalog,
        own_kind,
        now,
        seen: HashMap::new(),
        report: ImportReport::default(),
        rows: Vec::new(),
    };
    match format {
        ImportFormat::Jsonl => parse_jsonl(reader, &mut c)?,
        ImportFormat::Csv => parse_csv(reader, &mut c)?,
    }
    if c.report.error_count > 0 {
        return Err(ImportError::Rejected(c.report));
    }
    if c.rows.is_empty() {
        c.report.push(RowError {
            line: 0,
            field: None,
            message: "the file has no rows".into(),
        });
        return Err(ImportError::Rejected(c.report));
    }
    Ok(ParsedImport { rows: c.rows })
}

fn parse_jsonl(reader: impl BufRead, c: &mut Checker<'_>) -> Result<(), ImportError> {
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| ImportError::Read(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        match renkei_protocol::strict_json::from_str::<JsonRow>(&line) {
            Ok(r) => c.row(line_no, &r.local_id, &r.item, r.fiscal_year, r.value),
            Err(e) => {
                c.report.rows += 1;
                c.err(line_no, None, format!("not a valid row: {e}"));
            }
        }
    }
    Ok(())
}

/// CSV cells become JSON: integers stay numbers unless they have a leading
/// zero (postal codes, ids), `true`/`false` become booleans, empty cells are
/// left out, everything else is a string.
fn cell_value(s: &str) -> Option<serde_json::Value> {
    if s.is_empty() {
        return None;
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && let Ok(n) = s.parse::<i64>()
    {
        return Some(n.into());
    }
    Some(match s {
        "true" => true.into(),
        "false" => false.into(),
        _ => s.into(),
    })
}

fn parse_csv(reader: impl BufRead, c: &mut Checker<'_>) -> Result<(), ImportError> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let headers = match r.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            c.err(1, None, format!("cannot read the header: {e}"));
            return Ok(());
        }
    };
    let pos = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(id_col), Some(item_col)) = (pos("local_id"), pos("item")) else {
        c.err(1, None, "the header must have `local_id` and `item` columns");
        return Ok(());
    };
    let fy_col = pos("fiscal_year");
    for rec in r.records() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                c.report.rows += 1;
                c.err(line, None, format!("not a valid CSV row: {e}"));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let fy = match fy_col.map(|i| rec[i].trim()) {
            None | Some("") => None,
            Some(s) => match s.parse::<i64>() {
                Ok(y) => Some(y),
                Err(_) => {
                    c.report.rows += 1;
                    c.err(line, Some("fiscal_year"), "must be a year like 2025");
                    continue;
                }
            },
        };
        let mut value = serde_json::Map::new();
        for (i, h) in headers.iter().enumerate() {
            if i == id_col || i == item_col || Some(i) == fy_col {
                continue;
            }
            if let Some(v) = cell_value(rec[i].trim()) {
                value.insert(h.trim().to_owned(), v);
            }
        }
        c.row(line, rec[id_col].trim(), rec[item_col].trim(), fy, value.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(k: &str) -> KindCode {
        KindCode::parse(k).unwrap()
    }

    fn run(format: ImportFormat, text: &str) -> Result<ParsedImport, ImportError> {
        let (catalog, _) = renkei_catalog::sample();
        parse_import(
            format,
            text.as_bytes(),
            &catalog,
            &kind("municipality"),
            UnixMillis(5),
        )
    }

    fn report(r: Result<ParsedImport, ImportError>) -> ImportReport {
        match r {
            Err(ImportError::Rejected(rep)) => rep,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn good_jsonl_and_csv_parse_to_the_same_values() {
        let jsonl = r#"{"local_id":"A-1","item":"resident_tax_income","fiscal_year":2025,"value":{"taxable_income":4200000,"postal":"0600001"}}

{"local_id":"A-2","item":"household","value":{"members":3}}"#;
        let csv = "local_id,item,fiscal_year,taxable_income,postal,members\n\
                   A-1,resident_tax_income,2025,4200000,0600001,\n\
                   A-2,household,,,,3\n";
        let a = run(ImportFormat::Jsonl, jsonl).unwrap();
        let b = run(ImportFormat::Csv, csv).unwrap();
        // Same values; only the line numbers differ (the CSV has a header).
        let values = |p: &ParsedImport| p.rows.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>();
        assert_eq!(values(&a), values(&b));
        assert_eq!(b.rows[0].0, 2);
        assert_eq!(a.rows[0].1.value["postal"], "0600001");
        assert_eq!(a.rows[0].1.value["taxable_income"], 4_200_000);
    }

    #[test]
    fn every_bad_row_is_reported_with_line_and_field() {
        let jsonl = r#"{"local_id":"A-1","item":"resident_tax_income","value":{"x":1}}
{"local_id":"A 2","item":"household","value":{"x":1}}
{"local_id":"A-3","item":"pension_benefits","fiscal_year":2025,"value":{"x":1}}
{"local_id":"A-4","item":"household","value":[1]}
not json
{"local_id":"A-5","item":"household","value":{"x":1},"extra":1}
{"local_id":"A-6","item":"household","value":{"x":1}}
{"local_id":"A-6","item":"household","value":{"x":2}}"#;
        let rep = report(run(ImportFormat::Jsonl, jsonl));
        let got: Vec<(u64, Option<&str>)> = rep.errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (1, Some("fiscal_year")),
                (2, Some("local_id")),
                (3, Some("item")),
                (4, Some("value")),
                (5, None),
                (6, None),
                (8, None),
            ]
        );
        assert_eq!(rep.rows, 8);
        assert!(rep.to_string().contains("nothing imported: 7 of 8 rows"));
    }

    #[test]
    fn csv_without_required_columns_or_with_bad_year_is_refused() {
        let rep = report(run(ImportFormat::Csv, "id,item\nA-1,household\n"));
        assert!(rep.errors[0].message.contains("local_id"));
        let rep = report(run(
            ImportFormat::Csv,
            "local_id,item,fiscal_year,x\nA-1,resident_tax_income,twenty,1\n",
        ));
        assert_eq!(rep.errors[0].field.as_deref(), Some("fiscal_year"));
        let rep = report(run(ImportFormat::Csv, "local_id,item,x\nA-1,household,1,2\n"));
        assert_eq!(rep.errors[0].line, 2);
        let rep = report(run(ImportFormat::Csv, "local_id,item\n"));
        assert!(rep.errors[0].message.contains("no rows"));
    }

    #[test]
    fn rows_about_unenrolled_people_are_refused() {
        let parsed = run(
            ImportFormat::Jsonl,
            r#"{"local_id":"A-1","item":"household","value":{"x":1}}"#,
        )
        .unwrap();
        let rep = parsed.check_enrolled(&HashSet::new()).unwrap_err();
        assert_eq!(rep.errors[0].field.as_deref(), Some("local_id"));
    }
}
