//! What an encrypted registry store seals, and how (the stores do the SQL;
//! both backends seal alike through these functions).
//!
//! A resident's personal fields — My Number, resident record code, the four
//! facts, the kana reading and the date of death — are sealed together
//! under the resident's link id and the row's two blind indexes (the
//! associated data), so a sealed resident copied onto another row does not
//! open, nor one whose index was changed to another person's. The store
//! looks residents up by keyed blind indexes of the My Number and the
//! resident record code, which also keep both unique. The link id, household number, own institution
//! code and registration time stay in clear: they are what the store joins,
//! pages and looks up by, and name no one outside the registry.
//!
//! Change events' details (a new address, a date of death) are sealed under
//! the event's person, kind and time, and card certificates (the signing
//! certificate carries the four facts) under their serial.

use renkei_card::CardSerial;
use renkei_crypto::{AtRestCipher, AtRestError, Place};
use renkei_ids::{
    Address, BirthDate, FourFacts, KanaName, LinkId, MyNumber, PersonName, ResidentRecordCode, Sex,
};
use renkei_protocol::UnixMillis;
use zeroize::Zeroizing;

use crate::model::{Resident, ResidentStatus};

/// Why a sealed value could not be read back. Never names a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedError {
    #[error(transparent)]
    Open(#[from] AtRestError),
    #[error("sealed resident: `{0}` is missing or invalid")]
    Field(&'static str),
}

/// A keyed blind index of a My Number: what an encrypted store keeps (and
/// looks up, and keeps unique) in place of the number.
pub fn my_number_index(c: &AtRestCipher, n: &MyNumber) -> String {
    let digits = Zeroizing::new(n.expose());
    c.blind_index("my-number", digits.as_bytes())
}

/// A keyed blind index of a resident record code (kept unique).
pub fn resident_code_index(c: &AtRestCipher, code: &ResidentRecordCode) -> String {
    let text = Zeroizing::new(code.as_string());
    c.blind_index("resident-code", text.as_bytes())
}

/// The personal fields of a resident, as sealed together at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentSecrets {
    pub my_number: MyNumber,
    pub resident_code: ResidentRecordCode,
    pub facts: FourFacts,
    pub kana: KanaName,
    pub status: ResidentStatus,
}

fn resident_place(link: LinkId, my_number_index: &str, resident_code_index: &str) -> Place {
    Place::new("residents.sealed")
        .with(link.as_bytes())
        .with(my_number_index.as_bytes())
        .with(resident_code_index.as_bytes())
}

/// What an encrypted store writes for a resident: the two blind indexes
/// (its `my_number` and `resident_code` columns) and the sealed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedResident {
    pub my_number_index: String,
    pub resident_code_index: String,
    pub sealed: Vec<u8>,
}

impl ResidentSecrets {
    pub fn of(r: &Resident) -> Self {
        Self {
            my_number: r.my_number.clone(),
            resident_code: r.resident_code.clone(),
            facts: r.facts.clone(),
            kana: r.kana.clone(),
            status: r.status.clone(),
        }
    }

    /// Seal for the resident `link`, with the row's blind indexes.
    pub fn seal(&self, c: &AtRestCipher, link: LinkId) -> SealedResident {
        let deceased = match &self.status {
            ResidentStatus::Living => serde_json::Value::Null,
            ResidentStatus::Deceased { date } => date.to_string().into(),
        };
        let json = Zeroizing::new(
            serde_json::json!({
                "my_number": *Zeroizing::new(self.my_number.expose()),
                "resident_code": self.resident_code.as_string(),
                "name": self.facts.name.as_str(),
                "kana": self.kana.as_str(),
                "address": self.facts.address.as_str(),
                "birth_date": self.facts.birth_date.to_string(),
                "sex": self.facts.sex.iso5218(),
                "deceased_on": deceased,
            })
            .to_string(),
        );
        let my_number_index = my_number_index(c, &self.my_number);
        let resident_code_index = resident_code_index(c, &self.resident_code);
        let sealed = c.seal(
            &resident_place(link, &my_number_index, &resident_code_index),
            json.as_bytes(),
        );
        SealedResident {
            my_number_index,
            resident_code_index,
            sealed,
        }
    }

    /// Open what [`ResidentSecrets::seal`] sealed for `link`, with the
    /// indexes stored beside it (a row whose index was changed does not
    /// open).
    pub fn open(
        c: &AtRestCipher,
        link: LinkId,
        my_number_index: &str,
        resident_code_index: &str,
        sealed: &[u8],
    ) -> Result<Self, SealedError> {
        let plain = c.open(
            &resident_place(link, my_number_index, resident_code_index),
            sealed,
        )?;
        let v: serde_json::Value =
            serde_json::from_slice(&plain).map_err(|_| SealedError::Field("the whole value"))?;
        let text = |k: &'static str| v[k].as_str().ok_or(SealedError::Field(k));
        let my_number = MyNumber::parse(text("my_number")?).map_err(|_| SealedError::Field("my_number"))?;
        let resident_code = ResidentRecordCode::parse(text("resident_code")?)
            .map_err(|_| SealedError::Field("resident_code"))?;
        let sex = v["sex"]
            .as_u64()
            .and_then(|s| u8::try_from(s).ok())
            .and_then(|s| Sex::from_iso5218(s).ok())
            .ok_or(SealedError::Field("sex"))?;
        let status = match &v["deceased_on"] {
            serde_json::Value::Null => ResidentStatus::Living,
            d => ResidentStatus::Deceased {
                date: d
                    .as_str()
                    .and_then(|d| BirthDate::parse(d).ok())
                    .ok_or(SealedError::Field("deceased_on"))?,
            },
        };
        Ok(Self {
            my_number,
            resident_code,
            facts: FourFacts {
                name: PersonName::parse(text("name")?).map_err(|_| SealedError::Field("name"))?,
                address: Address::parse(text("address")?).map_err(|_| SealedError::Field("address"))?,
                birth_date: BirthDate::parse(text("birth_date")?)
                    .map_err(|_| SealedError::Field("birth_date"))?,
                sex,
            },
            kana: KanaName::parse(text("kana")?).map_err(|_| SealedError::Field("kana"))?,
            status,
        })
    }
}

fn event_place(link: LinkId, kind: &str, at: UnixMillis) -> Place {
    Place::new("events.detail")
        .with(link.as_bytes())
        .with(kind.as_bytes())
        .with(&at.0.to_be_bytes())
}

/// Seal an event's detail (JSON text) under its person, kind and time.
pub fn seal_event_detail(c: &AtRestCipher, link: LinkId, kind: &str, at: UnixMillis, detail: &str) -> String {
    c.seal_text(&event_place(link, kind, at), detail.as_bytes())
}

/// Open an event's detail sealed by [`seal_event_detail`].
pub fn open_event_detail(
    c: &AtRestCipher,
    link: LinkId,
    kind: &str,
    at: UnixMillis,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, SealedError> {
    Ok(c.open_text(&event_place(link, kind, at), sealed)?)
}

fn cert_place(serial: CardSerial) -> Place {
    Place::new("card_certs.der").with(&serial.value().to_be_bytes())
}

/// Seal a card certificate (DER) under its serial.
pub fn seal_cert(c: &AtRestCipher, serial: CardSerial, der: &[u8]) -> Vec<u8> {
    c.seal(&cert_place(serial), der)
}

/// Open a card certificate sealed by [`seal_cert`].
pub fn open_cert(c: &AtRestCipher, serial: CardSerial, sealed: &[u8]) -> Result<Vec<u8>, SealedError> {
    Ok(c.open(&cert_place(serial), sealed)?.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use renkei_crypto::DataKey;

    use super::*;
    use crate::model::{HouseholdId, NewResident};

    fn resident() -> Resident {
        NewResident {
            facts: FourFacts {
                name: PersonName::parse("高橋 健一").unwrap(),
                address: Address::parse("東京都世田谷区太子堂四丁目1番1号").unwrap(),
                birth_date: BirthDate::parse("1975-10-10").unwrap(),
                sex: Sex::Male,
            },
            kana: KanaName::parse("タカハシ　ケンイチ").unwrap(),
            household: HouseholdId(1),
            address_since: None,
        }
        .register(UnixMillis(1))
    }

    #[test]
    fn a_resident_round_trips_and_opens_only_on_its_own_row() {
        let c = AtRestCipher::new(&DataKey::from_bytes([3; 32]));
        let mut r = resident();
        let s = ResidentSecrets::of(&r);
        let sealed = s.seal(&c, r.link_id);
        let (mi, ri) = (&sealed.my_number_index, &sealed.resident_code_index);
        assert_eq!(mi, &my_number_index(&c, &r.my_number));
        assert_eq!(ri, &resident_code_index(&c, &r.resident_code));
        assert_ne!(mi, ri);
        assert_eq!(
            ResidentSecrets::open(&c, r.link_id, mi, ri, &sealed.sealed).unwrap(),
            s
        );
        let refused = Err(SealedError::Open(AtRestError::OpenFailed));
        assert_eq!(
            ResidentSecrets::open(&c, LinkId::random(), mi, ri, &sealed.sealed),
            refused
        );
        // Another person's index on this row: the row does not open.
        let other = my_number_index(&c, &MyNumber::random());
        assert_eq!(
            ResidentSecrets::open(&c, r.link_id, &other, ri, &sealed.sealed),
            refused
        );
        assert_eq!(
            ResidentSecrets::open(&c, r.link_id, mi, &other, &sealed.sealed),
            refused
        );
        let name = "高橋".as_bytes();
        assert!(!sealed.sealed.windows(name.len()).any(|w| w == name));
        r.status = ResidentStatus::Deceased {
            date: BirthDate::parse("2026-01-02").unwrap(),
        };
        let s = ResidentSecrets::of(&r);
        let again = s.seal(&c, r.link_id);
        assert_eq!(
            ResidentSecrets::open(&c, r.link_id, mi, ri, &again.sealed).unwrap(),
            s
        );
    }

    #[test]
    fn event_details_and_certificates_are_bound_to_their_place() {
        let c = AtRestCipher::new(&DataKey::from_bytes([3; 32]));
        let link = LinkId::random();
        let sealed = seal_event_detail(&c, link, "died", UnixMillis(5), "{\"date\":\"2026-01-02\"}");
        assert_eq!(
            &open_event_detail(&c, link, "died", UnixMillis(5), &sealed).unwrap()[..],
            b"{\"date\":\"2026-01-02\"}"
        );
        assert!(open_event_detail(&c, link, "died", UnixMillis(6), &sealed).is_err());
        assert!(open_event_detail(&c, link, "address_changed", UnixMillis(5), &sealed).is_err());
        let (s1, s2) = (CardSerial::from_u64(1).unwrap(), CardSerial::from_u64(2).unwrap());
        let der = seal_cert(&c, s1, b"0\x82der");
        assert_eq!(open_cert(&c, s1, &der).unwrap(), b"0\x82der");
        assert!(open_cert(&c, s2, &der).is_err());
    }
}
