//! Where a resident lived on a given day, and which municipality that was:
//! what the registry answers for the statutory filing (the salary-payment
//! report goes to the municipality of residence on 1 January after the
//! tax year, 地方税法第317条の6).

use renkei_ids::{Address, BirthDate, CorporateNumber};
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::model::Resident;

/// An address as held from a day on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPeriod {
    pub address: Address,
    /// `None`: held since the person was registered.
    pub since: Option<BirthDate>,
}

/// The address on `day`: of the periods known (the current one and the
/// ones left, from the change events), the one that began last on or
/// before `day`. A period with no recorded start began on the day of
/// registration. `None` before the first period.
pub fn address_on<'a>(resident: &'a Resident, left: &'a [AddressPeriod], day: Date) -> Option<&'a Address> {
    let registered = BirthDate::from_date(renkei_protocol::date_of(resident.registered_at));
    let start = |since: Option<BirthDate>| since.unwrap_or(registered).date();
    std::iter::once((start(resident.address_since), &resident.facts.address))
        .chain(left.iter().map(|p| (start(p.since), &p.address)))
        .filter(|(from, _)| *from <= day)
        // The latest start wins; on a tie the current address (listed first).
        .fold(None::<(Date, &Address)>, |best, (from, a)| match best {
            Some((b, _)) if b >= from => best,
            _ => Some((from, a)),
        })
        .map(|(_, a)| a)
}

/// A municipality the registry maps addresses to: an address belongs to
/// the municipality with the longest matching prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Municipality {
    /// The municipality's institution (corporate number), the receiver of
    /// what is addressed to residents there.
    pub institution: CorporateNumber,
    pub name: String,
    /// How its addresses begin, prefecture included (`東京都世田谷区`).
    pub address_prefix: String,
}

/// The registry's municipalities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MunicipalityDirectory(Vec<Municipality>);

/// Why a directory is refused. Names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("municipality {0}: the address prefix is empty")]
    EmptyPrefix(String),
    #[error("address prefix {0:?} is listed twice")]
    DuplicatePrefix(String),
}

impl MunicipalityDirectory {
    pub fn new(entries: Vec<Municipality>) -> Result<Self, DirectoryError> {
        let mut seen = std::collections::HashSet::new();
        for m in &entries {
            if m.address_prefix.trim().is_empty() {
                return Err(DirectoryError::EmptyPrefix(m.name.clone()));
            }
            if !seen.insert(m.address_prefix.as_str()) {
                return Err(DirectoryError::DuplicatePrefix(m.address_prefix.clone()));
            }
        }
        Ok(Self(entries))
    }

    /// The municipality an address lies in (longest prefix).
    pub fn find(&self, address: &Address) -> Option<&Municipality> {
        self.0
            .iter()
            .filter(|m| address.as_str().starts_with(&m.address_prefix))
            .max_by_key(|m| m.address_prefix.len())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The item code the registry answers residences under.
pub const RESIDENCE_ITEM: &str = "residence_on_january_1";

/// How many 1 Januaries back the item reaches (a filing can be late or
/// corrected for up to five years, 国税通則法第70条).
pub const RESIDENCE_YEARS: i32 = 6;

/// The `residence_on_january_1` value: for each 1 January from this year's
/// back over [`RESIDENCE_YEARS`] years on which the person had an address
/// in a known municipality, that municipality — never the address itself.
/// `None` when there is none.
pub fn residence_value(
    resident: &Resident,
    left: &[AddressPeriod],
    directory: &MunicipalityDirectory,
    today: Date,
) -> Option<serde_json::Value> {
    let mut out = Vec::new();
    for year in (today.year() - RESIDENCE_YEARS + 1..=today.year()).rev() {
        let Ok(day) = Date::from_calendar_date(year, Month::January, 1) else {
            continue;
        };
        if let Some(m) = address_on(resident, left, day).and_then(|a| directory.find(a)) {
            out.push(serde_json::json!({
                "date": BirthDate::from_date(day).to_string(),
                "municipality": m.institution.to_string(),
                "municipality_name": m.name,
            }));
        }
    }
    (!out.is_empty()).then(|| serde_json::json!({ "residences": out }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HouseholdId, NewResident};
    use renkei_ids::{FourFacts, KanaName, PersonName, Sex};
    use renkei_protocol::UnixMillis;

    fn day(s: &str) -> BirthDate {
        BirthDate::parse(s).unwrap()
    }

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn resident(address: &str, since: Option<&str>) -> Resident {
        NewResident {
            facts: FourFacts {
                name: PersonName::parse("佐藤 花子").unwrap(),
                address: addr(address),
                birth_date: day("1990-05-05"),
                sex: Sex::Female,
            },
            kana: KanaName::parse("サトウ　ハナコ").unwrap(),
            household: HouseholdId(1),
            address_since: since.map(day),
        }
        // Registered on 2026-03-01 (JST).
        .register(UnixMillis(1_772_290_800_000))
    }

    fn directory() -> MunicipalityDirectory {
        let m = |n: &str, corp: &str, p: &str| Municipality {
            institution: CorporateNumber::parse(corp).unwrap(),
            name: n.into(),
            address_prefix: p.into(),
        };
        MunicipalityDirectory::new(vec![
            m("世田谷区", "1000020131121", "東京都世田谷区"),
            m("横浜市", "3000020141003", "神奈川県横浜市"),
            // A longer prefix wins over a shorter one.
            m("横浜市青葉区（試験）", "7000020141305", "神奈川県横浜市青葉区"),
        ])
        .unwrap()
    }

    #[test]
    fn the_address_on_a_day_is_the_period_that_began_last_before_it() {
        // Lived in Setagaya from 2019, moved to Yokohama on 2025-06-30.
        let mut r = resident("神奈川県横浜市中区山下町1番地", Some("2025-06-30"));
        let left = [AddressPeriod {
            address: addr("東京都世田谷区太子堂四丁目1番1号"),
            since: Some(day("2019-04-01")),
        }];
        let on = |d: &str| address_on(&r, &left, day(d).date()).map(|a| a.as_str().to_owned());
        assert_eq!(on("2019-03-31"), None);
        assert_eq!(on("2019-04-01").unwrap(), "東京都世田谷区太子堂四丁目1番1号");
        assert_eq!(on("2025-06-29").unwrap(), "東京都世田谷区太子堂四丁目1番1号");
        assert_eq!(on("2025-06-30").unwrap(), "神奈川県横浜市中区山下町1番地");
        // Without a recorded start, an address counts from registration.
        r.address_since = None;
        let on = |d: &str| address_on(&r, &[], day(d).date()).map(|a| a.as_str().to_owned());
        assert_eq!(on("2026-02-28"), None);
        assert_eq!(on("2026-03-01").unwrap(), "神奈川県横浜市中区山下町1番地");
    }

    #[test]
    fn the_residence_item_names_municipalities_not_addresses() {
        let r = resident("神奈川県横浜市中区山下町1番地", Some("2025-06-30"));
        let left = [AddressPeriod {
            address: addr("東京都世田谷区太子堂四丁目1番1号"),
            since: Some(day("2023-07-01")),
        }];
        let v = residence_value(&r, &left, &directory(), day("2026-12-07").date()).unwrap();
        let got: Vec<(String, String)> = v["residences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["date"].as_str().unwrap().to_owned(),
                    e["municipality_name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2026-01-01".to_owned(), "横浜市".to_owned()),
                ("2025-01-01".to_owned(), "世田谷区".to_owned()),
                ("2024-01-01".to_owned(), "世田谷区".to_owned()),
            ]
        );
        assert!(!v.to_string().contains("山下町"), "{v}");
        // The longest prefix: 青葉区 before 横浜市.
        let aoba = resident("神奈川県横浜市青葉区美しが丘二丁目15番3号", Some("2020-01-01"));
        let v = residence_value(&aoba, &[], &directory(), day("2026-12-07").date()).unwrap();
        assert_eq!(v["residences"][0]["municipality"], "7000020141305");
        // An address no municipality claims gives nothing.
        let far = resident("北海道札幌市中央区北1条西2丁目", Some("2020-01-01"));
        assert_eq!(
            residence_value(&far, &[], &directory(), day("2026-12-07").date()),
            None
        );
    }

    #[test]
    fn a_directory_with_an_empty_or_repeated_prefix_is_refused() {
        let m = |p: &str| Municipality {
            institution: CorporateNumber::parse("1000020131121").unwrap(),
            name: "世田谷区".into(),
            address_prefix: p.into(),
        };
        assert_eq!(
            MunicipalityDirectory::new(vec![m(" ")]),
            Err(DirectoryError::EmptyPrefix("世田谷区".into()))
        );
        assert!(matches!(
            MunicipalityDirectory::new(vec![m("東京都世田谷区"), m("東京都世田谷区")]),
            Err(DirectoryError::DuplicatePrefix(_))
        ));
    }
}
