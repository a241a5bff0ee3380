//! Bulk enrolment files: the people an institution enrols, one per row,
//! with the My Number and the four basic facts the registry checks.
//!
//! Like item imports, a file is checked whole before anything is sent:
//! every problem is reported with its line and field, and a file with a
//! problem is not sent at all. Messages never repeat a My Number or a fact
//! (they name the field and what is wrong with it).

use std::collections::HashMap;
use std::io::BufRead;

use renkei_ids::{Address, BirthDate, LocalPersonId, MyNumber, PersonName, Sex};
use serde::Deserialize;

use crate::import::{ImportError, ImportFormat, ImportReport, RowError};

/// The columns (CSV header) or keys (JSONL) of an enrolment file.
pub const ENROLMENT_FIELDS: [&str; 6] = ["local_id", "my_number", "name", "address", "birth_date", "sex"];

/// One person to enrol, every field checked.
#[derive(Clone)]
pub struct EnrolmentRow {
    pub local_id: LocalPersonId,
    pub my_number: MyNumber,
    pub name: PersonName,
    pub address: Address,
    pub birth_date: BirthDate,
    pub sex: Sex,
}

impl std::fmt::Debug for EnrolmentRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnrolmentRow({}, <redacted>)", self.local_id.as_str())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    local_id: String,
    my_number: String,
    name: String,
    address: String,
    birth_date: String,
    sex: serde_json::Value,
}

struct Checker {
    report: ImportReport,
    rows: Vec<EnrolmentRow>,
    seen: HashMap<String, u64>,
}

impl Checker {
    fn err(&mut self, line: u64, field: Option<&str>, message: impl Into<String>) {
        self.report.push(RowError {
            line,
            field: field.map(str::to_owned),
            message: message.into(),
        });
    }

    fn row(&mut self, line: u64, cells: [&str; 6]) {
        self.report.rows += 1;
        let [local_id, my_number, name, address, birth_date, sex] = cells;
        let before = self.report.error_count;
        let local_id = LocalPersonId::parse(local_id)
            .map_err(|e| self.err(line, Some("local_id"), e.to_string()))
            .ok();
        if let Some(id) = &local_id
            && let Some(first) = self.seen.insert(id.as_str().to_owned(), line)
        {
            self.err(
                line,
                Some("local_id"),
                format!("appears again (first on line {first})"),
            );
        }
        // The value is never echoed: a My Number must not reach a log.
        let my_number = MyNumber::parse(my_number)
            .map_err(|_| {
                self.err(
                    line,
                    Some("my_number"),
                    "not a My Number (12 digits, valid check digit)",
                )
            })
            .ok();
        let name = PersonName::parse(name)
            .map_err(|e| self.err(line, Some("name"), e.to_string()))
            .ok();
        let address = Address::parse(address)
            .map_err(|e| self.err(line, Some("address"), e.to_string()))
            .ok();
        let birth_date = BirthDate::parse(birth_date)
            .map_err(|e| self.err(line, Some("birth_date"), e.to_string()))
            .ok();
        let sex = Sex::parse(sex)
            .map_err(|e| self.err(line, Some("sex"), e.to_string()))
            .ok();
        if self.report.error_count != before {
            return;
        }
        if let (Some(local_id), Some(my_number), Some(name), Some(address), Some(birth_date), Some(sex)) =
            (local_id, my_number, name, address, birth_date, sex)
        {
            self.rows.push(EnrolmentRow {
                local_id,
                my_number,
                name,
                address,
                birth_date,
                sex,
            });
        }
    }
}

/// Parse and check a whole enrolment file. `Err` lists every problem.
pub fn parse_enrolment(format: ImportFormat, reader: impl BufRead) -> Result<Vec<EnrolmentRow>, ImportError> {
    let mut c = Checker {
        report: ImportReport::default(),
        rows: Vec::new(),
        seen: HashMap::new(),
    };
    match format {
        ImportFormat::Jsonl => {
            for (i, line) in reader.lines().enumerate() {
                let line_no = i as u64 + 1;
                let line = line.map_err(|e| ImportError::Read(e.to_string()))?;
                if line.trim().is_empty() {
                    continue;
                }
                match renkei_protocol::strict_json::from_str::<JsonRow>(&line) {
                    Ok(r) => {
                        let sex = match &r.sex {
                            serde_json::Value::Number(n) => n.to_string(),
                            serde_json::Value::String(s) => s.clone(),
                            _ => String::new(),
                        };
                        c.row(
                            line_no,
                            [
                                &r.local_id,
                                &r.my_number,
                                &r.name,
                                &r.address,
                                &r.birth_date,
                                &sex,
                            ],
                        );
                    }
                    Err(e) => {
                        c.report.rows += 1;
                        // serde's message names the field, never a value
                        // for these string fields.
                        c.err(line_no, None, format!("not a valid row: {e}"));
                    }
                }
            }
        }
        ImportFormat::Csv => {
            let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
            let headers = match r.headers() {
                Ok(h) => h.clone(),
                Err(e) => {
                    c.err(1, None, format!("cannot read the header: {e}"));
                    return Err(ImportError::Rejected(c.report));
                }
            };
            let cols: Option<Vec<usize>> = ENROLMENT_FIELDS
                .iter()
                .map(|f| headers.iter().position(|h| h.trim() == *f))
                .collect();
            let Some(cols) = cols else {
                c.err(
                    1,
                    None,
                    format!("the header must have the columns {}", ENROLMENT_FIELDS.join(", ")),
                );
                return Err(ImportError::Rejected(c.report));
            };
            for rec in r.records() {
                let rec = match rec {
                    Ok(rec) => rec,
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        c.report.rows += 1;
                        c.err(
                            line,
                            None,
                            "not a valid CSV row (a quote or the number of cells is wrong)",
                        );
                        continue;
                    }
                };
                let line = rec.position().map_or(0, |p| p.line());
                let cell = |i: usize| rec[cols[i]].trim();
                c.row(line, [cell(0), cell(1), cell(2), cell(3), cell(4), cell(5)]);
            }
        }
    }
    if c.report.error_count > 0 {
        return Err(ImportError::Rejected(c.report));
    }
    if c.rows.is_empty() {
        c.err(0, None, "the file has no rows");
        return Err(ImportError::Rejected(c.report));
    }
    Ok(c.rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    // A valid My Number (check digit per the published formula).
    fn my_number() -> String {
        MyNumber::from_base([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
            .unwrap()
            .expose()
    }

    fn csv_file(rows: &[String]) -> String {
        let mut s = "local_id,my_number,name,address,birth_date,sex\n".to_owned();
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s
    }

    #[test]
    fn a_good_csv_and_jsonl_file_parse_to_the_same_rows() {
        let n = my_number();
        let csv = csv_file(&[format!(
            "S-1,{n},山田 太郎,東京都世田谷区世田谷4丁目21番27号,1980-04-01,1"
        )]);
        let rows = parse_enrolment(ImportFormat::Csv, csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].local_id.as_str(), "S-1");
        assert_eq!(rows[0].my_number.expose(), n);
        let jsonl = format!(
            "{{\"local_id\":\"S-1\",\"my_number\":\"{n}\",\"name\":\"山田 太郎\",\"address\":\"東京都世田谷区世田谷4丁目21番27号\",\"birth_date\":\"1980-04-01\",\"sex\":1}}\n"
        );
        let j = parse_enrolment(ImportFormat::Jsonl, jsonl.as_bytes()).unwrap();
        assert_eq!(j[0].birth_date, rows[0].birth_date);
        assert_eq!(j[0].sex, rows[0].sex);
    }

    #[test]
    fn every_problem_is_reported_with_its_line_and_no_my_number_is_echoed() {
        let n = my_number();
        let mut bad = n.clone();
        bad.replace_range(11..12, if n.ends_with('0') { "1" } else { "0" });
        let csv = csv_file(&[
            format!("S-1,{n},山田 太郎,東京都世田谷区1番,1980-04-01,1"),
            format!("S-2,{bad},山田 花子,東京都世田谷区1番,1980-02-30,3"),
            format!("S-1,{n},,東京都世田谷区1番,1980-04-01,2"),
        ]);
        let Err(ImportError::Rejected(report)) = parse_enrolment(ImportFormat::Csv, csv.as_bytes()) else {
            panic!("a bad file must be rejected");
        };
        let text = report.to_string();
        for (line, field) in [
            (3, "my_number"),
            (3, "birth_date"),
            (3, "sex"),
            (4, "local_id"),
            (4, "name"),
        ] {
            assert!(
                report
                    .errors
                    .iter()
                    .any(|e| e.line == line && e.field.as_deref() == Some(field)),
                "line {line} {field}: {text}"
            );
        }
        assert!(!text.contains(&bad) && !text.contains(&n), "{text}");
    }

    #[test]
    fn a_header_without_the_columns_or_an_empty_file_is_refused() {
        let r = parse_enrolment(ImportFormat::Csv, "local_id,name\nS-1,x\n".as_bytes());
        assert!(matches!(r, Err(ImportError::Rejected(rep)) if rep.to_string().contains("my_number")));
        let r = parse_enrolment(ImportFormat::Csv, csv_file(&[]).as_bytes());
        assert!(matches!(r, Err(ImportError::Rejected(rep)) if rep.to_string().contains("no rows")));
        let r = parse_enrolment(
            ImportFormat::Jsonl,
            "{\"local_id\":\"S-1\",\"extra\":1}\n".as_bytes(),
        );
        assert!(matches!(r, Err(ImportError::Rejected(_))));
    }
}
