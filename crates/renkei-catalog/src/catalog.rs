use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::codes::{ItemCode, KindCode, OfficeWorkCode};

/// A problem in the catalog file, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not valid TOML: {0}")]
    Syntax(String),
    #[error("catalog line {line}, field `{field}`: {message}")]
    Field {
        line: usize,
        field: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstitutionKind {
    pub code: KindCode,
    pub name_ja: String,
    pub name_en: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub code: ItemCode,
    pub name_ja: String,
    pub name_en: String,
    /// The kinds of institution that hold (and answer for) this item.
    pub held_by: Vec<KindCode>,
    /// Whether a request must name a fiscal year (income, benefits).
    pub periodic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeWork {
    pub code: OfficeWorkCode,
    pub name_ja: String,
    pub name_en: String,
    /// The statute the office work is carried out under.
    pub statute: String,
    /// Exchanges for this office work carry the non-disclosure flag
    /// (不開示フラグ) in their provision records.
    pub non_disclosure: bool,
    /// Delayed disclosure: the person sees these exchanges only this many
    /// seconds after they happen (investigations, DV protection), with the
    /// reason.
    pub disclosure_delay: Option<(u64, String)>,
    /// Done for the person themselves (their own disclosure, a relay they
    /// consented to): every request must carry the hub's proof that the
    /// person was present with their card.
    pub person_proof: bool,
}

/// Kinds, items and office works of one network, with a version.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub version: String,
    kinds: BTreeMap<KindCode, InstitutionKind>,
    items: BTreeMap<ItemCode, Item>,
    office_works: BTreeMap<OfficeWorkCode, OfficeWork>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: Spanned<String>,
    #[serde(default)]
    kind: Vec<RawKind>,
    #[serde(default)]
    item: Vec<RawItem>,
    #[serde(default)]
    office_work: Vec<RawOfficeWork>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    code: Spanned<String>,
    name_ja: Spanned<String>,
    name_en: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    code: Spanned<String>,
    name_ja: Spanned<String>,
    name_en: Spanned<String>,
    held_by: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    periodic: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOfficeWork {
    code: Spanned<String>,
    name_ja: Spanned<String>,
    name_en: Spanned<String>,
    statute: Spanned<String>,
    #[serde(default)]
    non_disclosure: bool,
    #[serde(default)]
    disclosure_delay: Option<Spanned<String>>,
    #[serde(default)]
    disclosure_reason: Option<Spanned<String>>,
    #[serde(default)]
    person_proof: bool,
}

/// `"365d"`, `"12h"`, `"30m"`, `"90s"` → seconds.
fn parse_delay(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: u64 = num
        .parse()
        .ok()
        .filter(|_| !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&v| v > 0)
}

struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of<T>(&self, s: &Spanned<T>) -> usize {
        let start = s.span().start.min(self.0.len());
        self.0[..start].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn err<T>(&self, at: &Spanned<T>, field: &'static str, message: impl Into<String>) -> CatalogError {
        CatalogError::Field {
            line: self.of(at),
            field,
            message: message.into(),
        }
    }

    fn text(&self, s: &Spanned<String>, field: &'static str) -> Result<String, CatalogError> {
        let v = s.get_ref().trim();
        if v.is_empty() {
            return Err(self.err(s, field, "must not be empty"));
        }
        Ok(v.to_owned())
    }
}

impl Catalog {
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| CatalogError::Syntax(e.to_string()))?;
        let l = Lines(text);
        let version = l.text(&raw.version, "version")?;

        let mut kinds = BTreeMap::new();
        for k in &raw.kind {
            let code =
                KindCode::parse(k.code.get_ref()).map_err(|e| l.err(&k.code, "code", e.to_string()))?;
            let kind = InstitutionKind {
                code: code.clone(),
                name_ja: l.text(&k.name_ja, "name_ja")?,
                name_en: l.text(&k.name_en, "name_en")?,
            };
            if kinds.insert(code.clone(), kind).is_some() {
                return Err(l.err(&k.code, "code", format!("kind `{code}` is defined twice")));
            }
        }

        let mut items = BTreeMap::new();
        for i in &raw.item {
            let code =
                ItemCode::parse(i.code.get_ref()).map_err(|e| l.err(&i.code, "code", e.to_string()))?;
            if i.held_by.get_ref().is_empty() {
                return Err(l.err(&i.held_by, "held_by", "must name at least one kind"));
            }
            let mut held_by = Vec::new();
            for h in i.held_by.get_ref() {
                let k = KindCode::parse(h.get_ref()).map_err(|e| l.err(h, "held_by", e.to_string()))?;
                if !kinds.contains_key(&k) {
                    return Err(l.err(h, "held_by", format!("unknown kind `{k}`")));
                }
                held_by.push(k);
            }
            let item = Item {
                code: code.clone(),
                name_ja: l.text(&i.name_ja, "name_ja")?,
                name_en: l.text(&i.name_en, "name_en")?,
                held_by,
                periodic: i.periodic,
            };
            if items.insert(code.clone(), item).is_some() {
                return Err(l.err(&i.code, "code", format!("item `{code}` is defined twice")));
            }
        }

        let mut office_works = BTreeMap::new();
        for w in &raw.office_work {
            let code =
                OfficeWorkCode::parse(w.code.get_ref()).map_err(|e| l.err(&w.code, "code", e.to_string()))?;
            let disclosure_delay = match (&w.disclosure_delay, &w.disclosure_reason) {
                (None, None) => None,
                (Some(d), Some(r)) => Some((
                    parse_delay(d.get_ref()).ok_or_else(|| {
                        l.err(
                            d,
                            "disclosure_delay",
                            "must be a positive number with s, m, h or d, e.g. \"365d\"",
                        )
                    })?,
                    l.text(r, "disclosure_reason")?,
                )),
                (Some(d), None) => {
                    return Err(l.err(d, "disclosure_reason", "a delayed disclosure needs its reason"));
                }
                (None, Some(r)) => {
                    return Err(l.err(r, "disclosure_delay", "a disclosure reason needs a delay"));
                }
            };
            let work = OfficeWork {
                code: code.clone(),
                name_ja: l.text(&w.name_ja, "name_ja")?,
                name_en: l.text(&w.name_en, "name_en")?,
                statute: l.text(&w.statute, "statute")?,
                non_disclosure: w.non_disclosure,
                disclosure_delay,
                person_proof: w.person_proof,
            };
            if office_works.insert(code.clone(), work).is_some() {
                return Err(l.err(&w.code, "code", format!("office work `{code}` is defined twice")));
            }
        }

        Ok(Self {
            version,
            kinds,
            items,
            office_works,
        })
    }

    pub fn kind(&self, code: &KindCode) -> Option<&InstitutionKind> {
        self.kinds.get(code)
    }

    pub fn item(&self, code: &ItemCode) -> Option<&Item> {
        self.items.get(code)
    }

    pub fn office_work(&self, code: &OfficeWorkCode) -> Option<&OfficeWork> {
        self.office_works.get(code)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &InstitutionKind> {
        self.kinds.values()
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.values()
    }

    pub fn office_works(&self) -> impl Iterator<Item = &OfficeWork> {
        self.office_works.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_errors_name_line_and_field() {
        let text = "version = \"1\"\n\
                    [[kind]]\ncode = \"municipality\"\nname_ja = \"市区町村\"\nname_en = \"Municipality\"\n\
                    [[item]]\ncode = \"household\"\nname_ja = \"世帯\"\nname_en = \"Household\"\n\
                    held_by = [\"municipalty\"]\n";
        let e = Catalog::parse(text).unwrap_err();
        assert_eq!(
            e,
            CatalogError::Field {
                line: 10,
                field: "held_by",
                message: "unknown kind `municipalty`".into()
            }
        );
        let e = Catalog::parse("version = \"1\"\n[[kind]]\ncode = \"x\"\n").unwrap_err();
        assert!(
            matches!(e, CatalogError::Syntax(ref m) if m.contains("name_ja")),
            "{e}"
        );
        let e = Catalog::parse("version = \"1\"\n[[office_work]]\ncode = \"x\"\nname_ja = \"x\"\nname_en = \"x\"\nstatute = \"x\"\ndisclosure_delay = \"10y\"\ndisclosure_reason = \"r\"\n").unwrap_err();
        assert!(
            matches!(
                e,
                CatalogError::Field {
                    line: 7,
                    field: "disclosure_delay",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(parse_delay("365d"), Some(365 * 86_400));
        assert_eq!(parse_delay("0s"), None);
        assert_eq!(parse_delay("d"), None);
        let e = Catalog::parse("version = \"1\"\nbogus = 1\n").unwrap_err();
        assert!(
            matches!(e, CatalogError::Syntax(ref m) if m.contains("bogus")),
            "{e}"
        );
    }
}
