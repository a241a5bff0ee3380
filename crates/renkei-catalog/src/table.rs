use std::collections::{HashMap, HashSet};
use std::fmt;

use renkei_ids::CorporateNumber;
use time::Date;
use time::macros::format_description;

use crate::catalog::Catalog;
use crate::codes::{ItemCode, KindCode, OfficeWorkCode, RowId};

const HEADER: [&str; 9] = [
    "row_id",
    "direction",
    "requester",
    "office_work",
    "provider_kind",
    "item",
    "legal_basis",
    "effective_from",
    "effective_to",
];

/// A problem in the permission table file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("permission table: the first lines must include `# version: <version>`")]
    MissingVersion,
    #[error("permission table line {line}: the header must be `{}`", HEADER.join(","))]
    Header { line: usize },
    #[error("permission table line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("permission table line {line}, field `{field}`: {message}")]
    Field {
        line: usize,
        field: &'static str,
        message: String,
    },
    #[error("permission table has no rows")]
    Empty,
}

/// Who a row permits to ask: every institution of a kind, or one
/// institution by corporate number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requester {
    Kind(KindCode),
    Institution(CorporateNumber),
}

impl fmt::Display for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kind(k) => write!(f, "kind:{k}"),
            Self::Institution(c) => write!(f, "institution:{c}"),
        }
    }
}

/// Which way a row lets the item go. A query row lets the requester ask
/// the provider for the item; a push row lets the requester (the sender)
/// deliver the item to the provider (the receiver) unasked. A linkage
/// request carrying a sealed payload is a push, one without is a query,
/// and each is allowed only by a row of its own direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Query,
    Push,
}

impl Direction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(Self::Query),
            "push" => Some(Self::Push),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lawful provision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRow {
    pub row_id: RowId,
    pub direction: Direction,
    pub requester: Requester,
    pub office_work: OfficeWorkCode,
    pub provider_kind: KindCode,
    pub item: ItemCode,
    pub legal_basis: String,
    pub effective_from: Date,
    /// Last day the row is in force; `None` while it has no end.
    pub effective_to: Option<Date>,
    /// Line in the file, for operators reading a denial.
    pub line: usize,
}

/// Which row of which table version authorised an exchange; provision
/// records carry it so that each one names its legal basis.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRowRef {
    pub table_version: String,
    pub row_id: RowId,
}

impl fmt::Display for TableRowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.table_version, self.row_id)
    }
}

/// Why the table refuses an exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPermitted {
    #[error(
        "no {direction} row of permission table {table_version} lets a {requester_kind} {} `{item}` {} a {provider_kind} for office work `{office_work}`",
        if *direction == Direction::Push { "deliver" } else { "obtain" },
        if *direction == Direction::Push { "to" } else { "from" }
    )]
    NoRow {
        direction: Direction,
        table_version: String,
        requester_kind: KindCode,
        office_work: OfficeWorkCode,
        provider_kind: KindCode,
        item: ItemCode,
    },
    #[error(
        "permission table row {row} permits a {row_direction} of `{item}`, not a {asked}: a {asked} needs a {asked} row"
    )]
    WrongDirection {
        row: RowId,
        row_direction: Direction,
        asked: Direction,
        item: ItemCode,
    },
    #[error("permission table row {row} is in force only from {from}")]
    NotYetInForce { row: RowId, from: Date },
    #[error("permission table row {row} ended on {to}")]
    NoLongerInForce { row: RowId, to: Date },
}

#[derive(Debug, Clone)]
pub struct PermissionTable {
    pub version: String,
    rows: Vec<PermissionRow>,
    index: HashMap<(OfficeWorkCode, ItemCode, KindCode), Vec<usize>>,
}

fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 10 {
        return None;
    }
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

impl PermissionTable {
    /// Parse and validate against `catalog`. Every reference must resolve
    /// and every row must be satisfiable (the provider kind holds the item).
    pub fn parse(text: &str, catalog: &Catalog) -> Result<Self, TableError> {
        let version = text
            .lines()
            .take_while(|l| l.starts_with('#') || l.trim().is_empty())
            .find_map(|l| l.strip_prefix("# version:"))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or(TableError::MissingVersion)?;

        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());

        let mut rows = Vec::new();
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        let mut saw_header = false;
        for rec in reader.records() {
            let rec = rec.map_err(|e| TableError::Syntax {
                line: e.position().map_or(0, |p| p.line() as usize),
                message: e.to_string(),
            })?;
            let line = rec.position().map_or(0, |p| p.line() as usize);
            if !saw_header {
                if rec.iter().map(str::trim).ne(HEADER.iter().copied()) {
                    return Err(TableError::Header { line });
                }
                saw_header = true;
                continue;
            }
            if rec.len() != HEADER.len() {
                return Err(TableError::Syntax {
                    line,
                    message: format!("expected {} fields, found {}", HEADER.len(), rec.len()),
                });
            }
            let f = |i: usize| rec[i].trim();
            let err = |field: &'static str, message: String| TableError::Field { line, field, message };

            let row_id = RowId::parse(f(0)).map_err(|e| err("row_id", e.to_string()))?;
            if !ids.insert(row_id.clone()) {
                return Err(err("row_id", format!("row id {row_id} is used twice")));
            }
            let direction =
                Direction::parse(f(1)).ok_or_else(|| err("direction", "must be `query` or `push`".into()))?;
            let requester = match f(2).split_once(':') {
                Some(("kind", k)) => {
                    let k = KindCode::parse(k).map_err(|e| err("requester", e.to_string()))?;
                    if catalog.kind(&k).is_none() {
                        return Err(err("requester", format!("unknown kind `{k}`")));
                    }
                    Requester::Kind(k)
                }
                Some(("institution", c)) => Requester::Institution(
                    CorporateNumber::parse(c).map_err(|e| err("requester", e.to_string()))?,
                ),
                _ => {
                    return Err(err(
                        "requester",
                        "must be kind:<kind> or institution:<corporate number>".into(),
                    ));
                }
            };
            let office_work = OfficeWorkCode::parse(f(3)).map_err(|e| err("office_work", e.to_string()))?;
            if catalog.office_work(&office_work).is_none() {
                return Err(err("office_work", format!("unknown office work `{office_work}`")));
            }
            let provider_kind = KindCode::parse(f(4)).map_err(|e| err("provider_kind", e.to_string()))?;
            if catalog.kind(&provider_kind).is_none() {
                return Err(err("provider_kind", format!("unknown kind `{provider_kind}`")));
            }
            let item = ItemCode::parse(f(5)).map_err(|e| err("item", e.to_string()))?;
            let Some(item_def) = catalog.item(&item) else {
                return Err(err("item", format!("unknown item `{item}`")));
            };
            if !item_def.held_by.contains(&provider_kind) {
                return Err(err(
                    "item",
                    format!("a {provider_kind} does not hold `{item}` according to the catalog"),
                ));
            }
            let legal_basis = f(6).to_owned();
            if legal_basis.is_empty() {
                return Err(err("legal_basis", "must not be empty".into()));
            }
            let effective_from =
                parse_date(f(7)).ok_or_else(|| err("effective_from", "must be a date YYYY-MM-DD".into()))?;
            let effective_to = match f(8) {
                "" => None,
                s => Some(
                    parse_date(s)
                        .ok_or_else(|| err("effective_to", "must be empty or a date YYYY-MM-DD".into()))?,
                ),
            };
            if effective_to.is_some_and(|to| to < effective_from) {
                return Err(err("effective_to", "is before effective_from".into()));
            }
            let key = (
                direction,
                requester.clone(),
                office_work.clone(),
                provider_kind.clone(),
                item.clone(),
                effective_from,
            );
            if !keys.insert(key) {
                return Err(err(
                    "row_id",
                    "duplicates an earlier row (same direction, requester, office work, provider kind, item and start date)".into(),
                ));
            }
            rows.push(PermissionRow {
                row_id,
                direction,
                requester,
                office_work,
                provider_kind,
                item,
                legal_basis,
                effective_from,
                effective_to,
                line,
            });
        }
        if !saw_header {
            return Err(TableError::Header { line: 1 });
        }
        if rows.is_empty() {
            return Err(TableError::Empty);
        }
        let mut index: HashMap<_, Vec<usize>> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            index
                .entry((r.office_work.clone(), r.item.clone(), r.provider_kind.clone()))
                .or_default()
                .push(i);
        }
        Ok(Self { version, rows, index })
    }

    pub fn rows(&self) -> &[PermissionRow] {
        &self.rows
    }

    /// The row that permits this exchange (a query or a push, `direction`)
    /// on `date`, if any. A row naming the requester institution is
    /// preferred to a row naming its kind. A row of the other direction
    /// permits nothing: it only makes the refusal say so.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        direction: Direction,
        requester: &CorporateNumber,
        requester_kind: &KindCode,
        office_work: &OfficeWorkCode,
        provider_kind: &KindCode,
        item: &ItemCode,
        date: Date,
    ) -> Result<&PermissionRow, NotPermitted> {
        let candidates: Vec<&PermissionRow> = self
            .index
            .get(&(office_work.clone(), item.clone(), provider_kind.clone()))
            .into_iter()
            .flatten()
            .map(|&i| &self.rows[i])
            .filter(|r| match &r.requester {
                Requester::Institution(c) => c == requester,
                Requester::Kind(k) => k == requester_kind,
            })
            .collect();
        let (candidates, other_way): (Vec<&PermissionRow>, Vec<&PermissionRow>) =
            candidates.into_iter().partition(|r| r.direction == direction);
        let in_force =
            |r: &PermissionRow| r.effective_from <= date && r.effective_to.is_none_or(|to| date <= to);
        if let Some(r) = candidates
            .iter()
            .filter(|r| in_force(r))
            .min_by_key(|r| matches!(r.requester, Requester::Kind(_)))
        {
            return Ok(r);
        }
        match candidates.first() {
            None if !other_way.is_empty() => Err(NotPermitted::WrongDirection {
                row: other_way[0].row_id.clone(),
                row_direction: other_way[0].direction,
                asked: direction,
                item: item.clone(),
            }),
            None => Err(NotPermitted::NoRow {
                direction,
                table_version: self.version.clone(),
                requester_kind: requester_kind.clone(),
                office_work: office_work.clone(),
                provider_kind: provider_kind.clone(),
                item: item.clone(),
            }),
            Some(r) if date < r.effective_from => Err(NotPermitted::NotYetInForce {
                row: r.row_id.clone(),
                from: r.effective_from,
            }),
            Some(r) => Err(NotPermitted::NoLongerInForce {
                row: r.row_id.clone(),
                to: r.effective_to.unwrap_or(r.effective_from),
            }),
        }
    }

    pub fn row_ref(&self, row: &PermissionRow) -> TableRowRef {
        TableRowRef {
            table_version: self.version.clone(),
            row_id: row.row_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const CATALOG: &str = r#"
version = "t1"
[[kind]]
code = "municipality"
name_ja = "市区町村"
name_en = "Municipality"
[[kind]]
code = "pension_service"
name_ja = "年金機構"
name_en = "Pension service"
[[item]]
code = "resident_tax_income"
name_ja = "地方税関係情報"
name_en = "Resident-tax income"
held_by = ["municipality"]
periodic = true
[[office_work]]
code = "child_allowance"
name_ja = "児童手当"
name_en = "Child allowance"
statute = "児童手当法"
"#;

    fn catalog() -> Catalog {
        Catalog::parse(CATALOG).unwrap()
    }

    fn table(rows: &str) -> Result<PermissionTable, TableError> {
        let text = format!(
            "# renkei permission table\n# version: 2026.1\n{}\n{rows}",
            HEADER.join(",")
        );
        PermissionTable::parse(&text, &catalog())
    }

    #[test]
    fn a_bad_row_names_line_and_field() {
        let e = table(
            "R1,query,kind:municipality,child_allowance,municipality,resident_tax_incom,basis,2016-01-01,",
        )
        .unwrap_err();
        assert_eq!(
            e,
            TableError::Field {
                line: 4,
                field: "item",
                message: "unknown item `resident_tax_incom`".into()
            }
        );
        let e = table(
            "R1,query,kind:municipality,child_allowance,pension_service,resident_tax_income,basis,2016-01-01,",
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                TableError::Field {
                    field: "item",
                    line: 4,
                    ..
                }
            ),
            "{e}"
        );
        let e = table(
            "R1,query,kind:municipality,child_allowance,municipality,resident_tax_income,basis,2016-13-01,",
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                TableError::Field {
                    field: "effective_from",
                    ..
                }
            ),
            "{e}"
        );
        let e =
            table("R1,query,municipality,child_allowance,municipality,resident_tax_income,basis,2016-01-01,")
                .unwrap_err();
        assert!(
            matches!(
                e,
                TableError::Field {
                    field: "requester",
                    ..
                }
            ),
            "{e}"
        );
        let e = table("R1,query,kind:municipality,child_allowance,municipality,resident_tax_income,basis,2016-01-01,\nR1,query,kind:pension_service,child_allowance,municipality,resident_tax_income,basis,2016-01-01,").unwrap_err();
        assert!(
            matches!(
                e,
                TableError::Field {
                    field: "row_id",
                    line: 5,
                    ..
                }
            ),
            "{e}"
        );
        let e = table("R1,query,kind:municipality").unwrap_err();
        assert!(matches!(e, TableError::Syntax { line: 4, .. }), "{e}");
        assert_eq!(table("").unwrap_err(), TableError::Empty);
        assert_eq!(
            PermissionTable::parse("row_id\n", &catalog()).unwrap_err(),
            TableError::MissingVersion
        );
    }

    #[test]
    fn check_honours_kind_institution_and_dates() {
        let t = table(
            "R1,query,kind:municipality,child_allowance,municipality,resident_tax_income,basis,2016-01-01,2030-03-31",
        )
        .unwrap();
        let city = CorporateNumber::parse("4011001098993").unwrap();
        let m = KindCode::parse("municipality").unwrap();
        let p = KindCode::parse("pension_service").unwrap();
        let w = OfficeWorkCode::parse("child_allowance").unwrap();
        let i = ItemCode::parse("resident_tax_income").unwrap();
        let row = t
            .check(Direction::Query, &city, &m, &w, &m, &i, date!(2026 - 11 - 27))
            .unwrap();
        assert_eq!(row.row_id.as_str(), "R1");
        assert_eq!(t.row_ref(row).to_string(), "2026.1#R1");
        assert!(matches!(
            t.check(Direction::Query, &city, &p, &w, &m, &i, date!(2026 - 11 - 27)),
            Err(NotPermitted::NoRow { .. })
        ));
        assert!(matches!(
            t.check(Direction::Query, &city, &m, &w, &m, &i, date!(2015 - 12 - 31)),
            Err(NotPermitted::NotYetInForce { .. })
        ));
        assert!(matches!(
            t.check(Direction::Query, &city, &m, &w, &m, &i, date!(2030 - 04 - 01)),
            Err(NotPermitted::NoLongerInForce { .. })
        ));
    }

    #[test]
    fn a_query_needs_a_query_row_and_a_push_a_push_row() {
        let t = table(
            "R1,query,kind:municipality,child_allowance,municipality,resident_tax_income,basis,2016-01-01,\n\
             R2,push,kind:pension_service,child_allowance,municipality,resident_tax_income,basis,2016-01-01,",
        )
        .unwrap();
        let city = CorporateNumber::parse("4011001098993").unwrap();
        let m = KindCode::parse("municipality").unwrap();
        let p = KindCode::parse("pension_service").unwrap();
        let w = OfficeWorkCode::parse("child_allowance").unwrap();
        let i = ItemCode::parse("resident_tax_income").unwrap();
        let day = date!(2026 - 11 - 27);
        assert_eq!(t.rows()[1].direction, Direction::Push);
        assert_eq!(
            t.check(Direction::Query, &city, &m, &w, &m, &i, day)
                .unwrap()
                .row_id
                .as_str(),
            "R1"
        );
        assert_eq!(
            t.check(Direction::Push, &city, &p, &w, &m, &i, day)
                .unwrap()
                .row_id
                .as_str(),
            "R2"
        );
        // A push cannot use the query row, nor a query the push row; the
        // refusal names the row of the other direction.
        let e = t.check(Direction::Push, &city, &m, &w, &m, &i, day).unwrap_err();
        assert!(
            matches!(&e, NotPermitted::WrongDirection { row, row_direction: Direction::Query, asked: Direction::Push, .. } if row.as_str() == "R1"),
            "{e:?}"
        );
        assert!(e.to_string().contains("not a push"), "{e}");
        let e = t.check(Direction::Query, &city, &p, &w, &m, &i, day).unwrap_err();
        assert!(
            matches!(&e, NotPermitted::WrongDirection { row, asked: Direction::Query, .. } if row.as_str() == "R2"),
            "{e:?}"
        );
        // The same key in both directions is two rows, not a duplicate.
        assert!(
            table(
                "R1,query,kind:municipality,child_allowance,municipality,resident_tax_income,basis,2016-01-01,\n\
                 R2,push,kind:municipality,child_allowance,municipality,resident_tax_income,basis,2016-01-01,"
            )
            .is_ok()
        );
        let e = table(
            "R1,both,kind:municipality,child_allowance,municipality,resident_tax_income,basis,2016-01-01,",
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                TableError::Field {
                    field: "direction",
                    line: 4,
                    ..
                }
            ),
            "{e}"
        );
    }
}
