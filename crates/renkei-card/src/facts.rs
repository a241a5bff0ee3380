//! The four basic facts as the signing certificate carries them.
//!
//! The real card puts them in the subjectAltName as otherNames under the
//! JPKI arc 1.2.392.200149.8.5.5; renkei uses the same arc with one OID per
//! fact (UTF8String values): .1 name, .3 date of birth (YYYY-MM-DD), .4 sex
//! (ISO 5218 digit), .5 address. The authentication certificate carries
//! none of them.

use renkei_ids::{Address, BirthDate, FourFacts, PersonName, Sex};

pub(crate) const OID_FACT_NAME: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 1];
pub(crate) const OID_FACT_BIRTH_DATE: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 3];
pub(crate) const OID_FACT_SEX: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 4];
pub(crate) const OID_FACT_ADDRESS: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 5];

/// The facts as (OID, text) pairs, in certificate order.
pub(crate) fn encode(f: &FourFacts) -> Vec<(&'static [u64], String)> {
    vec![
        (OID_FACT_NAME, f.name.as_str().to_owned()),
        (OID_FACT_BIRTH_DATE, f.birth_date.to_string()),
        (OID_FACT_SEX, f.sex.iso5218().to_string()),
        (OID_FACT_ADDRESS, f.address.as_str().to_owned()),
    ]
}

/// Rebuild the facts from (OID, text) pairs; `None` unless all four are
/// present and valid.
pub(crate) fn decode<'a>(
    pairs: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<Option<FourFacts>, String> {
    let (mut name, mut birth, mut sex, mut address) = (None, None, None, None);
    let dotted = |arcs: &[u64]| arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    let (n, b, s, a) = (
        dotted(OID_FACT_NAME),
        dotted(OID_FACT_BIRTH_DATE),
        dotted(OID_FACT_SEX),
        dotted(OID_FACT_ADDRESS),
    );
    for (oid, value) in pairs {
        if oid == n {
            name = Some(PersonName::parse(value).map_err(|e| format!("name: {e}"))?);
        } else if oid == b {
            birth = Some(BirthDate::parse(value).map_err(|e| format!("date of birth: {e}"))?);
        } else if oid == s {
            sex = Some(Sex::parse(value).map_err(|e| format!("sex: {e}"))?);
        } else if oid == a {
            address = Some(Address::parse(value).map_err(|e| format!("address: {e}"))?);
        }
    }
    match (name, birth, sex, address) {
        (None, None, None, None) => Ok(None),
        (Some(name), Some(birth_date), Some(sex), Some(address)) => Ok(Some(FourFacts {
            name,
            address,
            birth_date,
            sex,
        })),
        _ => Err("the certificate carries some of the four facts but not all".to_owned()),
    }
}
