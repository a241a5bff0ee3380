use renkei_ids::{
    AcquisitionNumber, Address, BasicFact, BirthDate, FourFacts, FourFactsMismatch, InstitutionCode,
    KanaName, LinkId, MyNumber, PersonName, ResidentRecordCode,
};

use crate::residence::AddressPeriod;
use renkei_protocol::UnixMillis;

/// A household number in the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HouseholdId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentStatus {
    Living,
    Deceased { date: BirthDate },
}

/// A person in the resident register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    pub link_id: LinkId,
    pub my_number: MyNumber,
    pub resident_code: ResidentRecordCode,
    pub facts: FourFacts,
    pub kana: KanaName,
    pub household: HouseholdId,
    pub status: ResidentStatus,
    /// The registry's own institution code for the person, with which the
    /// hub addresses it as a provider (four facts). Obtained from the code
    /// service after registration.
    pub own_code: Option<InstitutionCode>,
    pub registered_at: UnixMillis,
    /// The day the person took up the current address (住所を定めた日), as
    /// the municipality reported it; `None` for a resident registered
    /// before the register kept it (read as the day of registration).
    pub address_since: Option<BirthDate>,
}

/// What a municipality reports when registering a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResident {
    pub facts: FourFacts,
    pub kana: KanaName,
    pub household: HouseholdId,
    /// The day the person took up the address; `None` for today.
    pub address_since: Option<BirthDate>,
}

impl NewResident {
    /// Register: fresh link id, My Number and resident record code.
    pub fn register(self, now: UnixMillis) -> Resident {
        Resident {
            link_id: LinkId::random(),
            my_number: MyNumber::random(),
            resident_code: ResidentRecordCode::random(),
            facts: self.facts,
            kana: self.kana,
            household: self.household,
            status: ResidentStatus::Living,
            own_code: None,
            registered_at: now,
            address_since: self.address_since,
        }
    }
}

/// A change the registry records for later subscriptions (push services).
/// Events name the person by link id: they never leave the registry as
/// they are, the hub translates them per subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentEvent {
    AddressChanged {
        new_address: Address,
        /// The day of the move (異動日); `None` in events recorded before
        /// the register kept it.
        moved_on: Option<BirthDate>,
        /// The address left, and since when it was held; `None` in events
        /// recorded before the register kept it.
        previous: Option<AddressPeriod>,
    },
    Died {
        date: BirthDate,
    },
}

impl ResidentEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AddressChanged { .. } => "address_changed",
            Self::Died { .. } => "died",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub link_id: LinkId,
    pub event: ResidentEvent,
    pub at: UnixMillis,
}

/// One person in an institution's code request.
#[derive(Debug, Clone)]
pub struct CodeRequestEntry {
    pub acquisition_number: AcquisitionNumber,
    pub my_number: MyNumber,
    pub stated: StatedFacts,
}

/// What an institution states beside the number.
#[derive(Debug, Clone)]
pub enum StatedFacts {
    /// The four facts it has on file, checked exactly (the usual basis).
    FourFacts(FourFacts),
    /// A statutory filing's name and date of birth: the filed record
    /// carries no sex and its address is the one of 1 January, so the
    /// number is checked against these two. The name is compared without
    /// its blanks (a payroll file writes `佐藤　健一` or `佐藤 健一`).
    NameAndBirthDate { name: PersonName, birth_date: BirthDate },
}

/// Why no code is issued for an entry. Nothing here names a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuanceRefusal {
    #[error("no resident has this My Number")]
    UnknownMyNumber,
    #[error(transparent)]
    FactsDiffer(#[from] FourFactsMismatch),
    #[error("acquisition number was already used by this institution")]
    AcquisitionNumberReused,
}

impl IssuanceRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownMyNumber => "unknown_my_number",
            Self::FactsDiffer(_) => "facts_differ",
            Self::AcquisitionNumberReused => "acquisition_number_reused",
        }
    }
}

/// The identity check at code issuance: exact on the four facts, or on
/// name and date of birth for a statutory filing.
pub fn check_identity(
    entry: &CodeRequestEntry,
    resident: Option<&Resident>,
) -> Result<LinkId, IssuanceRefusal> {
    let r = resident.ok_or(IssuanceRefusal::UnknownMyNumber)?;
    match &entry.stated {
        StatedFacts::FourFacts(f) => f.check_exact(&r.facts)?,
        StatedFacts::NameAndBirthDate { name, birth_date } => {
            let unblank = |s: &str| {
                s.chars()
                    .filter(|c| !matches!(c, ' ' | '\u{3000}'))
                    .collect::<String>()
            };
            let mut differing = Vec::new();
            if unblank(name.as_str()) != unblank(r.facts.name.as_str()) {
                differing.push(BasicFact::Name);
            }
            if *birth_date != r.facts.birth_date {
                differing.push(BasicFact::BirthDate);
            }
            if !differing.is_empty() {
                return Err(FourFactsMismatch { differing }.into());
            }
        }
    }
    Ok(r.link_id)
}

/// The `four_facts` item as the registry answers it.
pub fn four_facts_value(r: &Resident) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), r.facts.name.as_str().into());
    m.insert("kana".into(), r.kana.as_str().into());
    m.insert("address".into(), r.facts.address.as_str().into());
    m.insert("birth_date".into(), r.facts.birth_date.to_string().into());
    m.insert("sex".into(), r.facts.sex.iso5218().into());
    if let ResidentStatus::Deceased { date } = &r.status {
        m.insert("deceased_on".into(), date.to_string().into());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_ids::Sex;

    fn facts(address: &str, birth: &str) -> FourFacts {
        FourFacts {
            name: PersonName::parse("佐藤 花子").unwrap(),
            address: Address::parse(address).unwrap(),
            birth_date: BirthDate::parse(birth).unwrap(),
            sex: Sex::Female,
        }
    }

    /// 佐藤 花子 of Setagaya, born 1990-05-05.
    fn registered() -> Resident {
        NewResident {
            facts: facts("東京都世田谷区太子堂四丁目1番1号", "1990-05-05"),
            kana: KanaName::parse("サトウ　ハナコ").unwrap(),
            household: HouseholdId(1),
            address_since: None,
        }
        .register(UnixMillis(0))
    }

    #[test]
    fn exact_check_names_every_differing_fact_and_issues_nothing() {
        let r = registered();
        let entry = |f| CodeRequestEntry {
            acquisition_number: AcquisitionNumber::random(),
            my_number: r.my_number.clone(),
            stated: StatedFacts::FourFacts(f),
        };
        assert_eq!(
            check_identity(&entry(r.facts.clone()), Some(&r)).unwrap(),
            r.link_id
        );
        // The 2023 mis-link pattern: name, birth date and sex match, address does not.
        let e = check_identity(
            &entry(facts("神奈川県横浜市中区山下町1番地", "1990-05-05")),
            Some(&r),
        )
        .unwrap_err();
        assert_eq!(
            e,
            IssuanceRefusal::FactsDiffer(FourFactsMismatch {
                differing: vec![BasicFact::Address]
            })
        );
        let e = check_identity(
            &entry(facts("神奈川県横浜市中区山下町1番地", "1990-05-06")),
            Some(&r),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the four basic facts do not match the resident register: address, date of birth differ"
        );
        assert_eq!(
            check_identity(&entry(r.facts.clone()), None),
            Err(IssuanceRefusal::UnknownMyNumber)
        );
    }

    #[test]
    fn a_statutory_filing_is_checked_on_name_and_birth_date_only() {
        let r = registered();
        let entry = |name: &str, birth: &str| CodeRequestEntry {
            acquisition_number: AcquisitionNumber::random(),
            my_number: r.my_number.clone(),
            stated: StatedFacts::NameAndBirthDate {
                name: PersonName::parse(name).unwrap(),
                birth_date: BirthDate::parse(birth).unwrap(),
            },
        };
        // Blanks of either width are not a difference.
        assert_eq!(
            check_identity(&entry("佐藤　花子", "1990-05-05"), Some(&r)),
            Ok(r.link_id)
        );
        assert_eq!(
            check_identity(&entry("佐藤花子", "1990-05-05"), Some(&r)),
            Ok(r.link_id)
        );
        assert_eq!(
            check_identity(&entry("佐藤 華子", "1990-05-06"), Some(&r)),
            Err(IssuanceRefusal::FactsDiffer(FourFactsMismatch {
                differing: vec![BasicFact::Name, BasicFact::BirthDate]
            }))
        );
        assert_eq!(
            check_identity(&entry("佐藤 花子", "1990-05-05"), None),
            Err(IssuanceRefusal::UnknownMyNumber)
        );
    }
}
