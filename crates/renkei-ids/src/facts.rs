//! The four basic facts (基本4情報): name, address, date of birth, sex.
//!
//! Matching on them is *exact* (the 2023 mis-links in the real system came from
//! fuzzy matching without the address). The types therefore refuse text that
//! could compare unequal for invisible reasons — control characters, leading
//! or trailing blanks, runs of blanks — instead of normalising it silently.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;
use time::macros::format_description;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactError {
    #[error("{fact} is empty")]
    Empty { fact: BasicFact },
    #[error("{fact} is longer than {max} characters")]
    TooLong { fact: BasicFact, max: usize },
    #[error("{fact} has a control character")]
    Control { fact: BasicFact },
    #[error("{fact} starts or ends with a blank, or has two blanks in a row")]
    Blanks { fact: BasicFact },
    #[error("kana reading must be full-width katakana (with single blanks between words)")]
    NotKatakana,
    #[error("date of birth must be YYYY-MM-DD")]
    BadDate,
    #[error("sex must be an ISO 5218 code: 0, 1, 2 or 9")]
    BadSex,
}

/// One of the four facts; errors and mismatch reports name facts, not values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BasicFact {
    Name,
    KanaName,
    Address,
    BirthDate,
    Sex,
}

impl fmt::Display for BasicFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Name => "name",
            Self::KanaName => "kana reading",
            Self::Address => "address",
            Self::BirthDate => "date of birth",
            Self::Sex => "sex",
        })
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\u{3000}'
}

fn check_text(fact: BasicFact, s: &str, max: usize) -> Result<(), FactError> {
    if s.is_empty() {
        return Err(FactError::Empty { fact });
    }
    if s.chars().count() > max {
        return Err(FactError::TooLong { fact, max });
    }
    if s.chars().any(char::is_control) {
        return Err(FactError::Control { fact });
    }
    let starts = s.chars().next().is_some_and(is_blank);
    let ends = s.chars().next_back().is_some_and(is_blank);
    let doubled = s
        .chars()
        .zip(s.chars().skip(1))
        .any(|(a, b)| is_blank(a) && is_blank(b));
    if starts || ends || doubled || s.chars().any(|c| c.is_whitespace() && !is_blank(c)) {
        return Err(FactError::Blanks { fact });
    }
    Ok(())
}

macro_rules! text_fact {
    ($(#[$doc:meta])* $name:ident, $fact:expr, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_fact!(
    /// A name as written in the resident register (e.g. `山田 太郎`).
    PersonName, BasicFact::Name, 64
);
text_fact!(
    /// An address as written in the resident register.
    Address, BasicFact::Address, 200
);
text_fact!(
    /// The katakana reading of a name (e.g. `ヤマダ タロウ`).
    KanaName, BasicFact::KanaName, 64
);

impl PersonName {
    pub fn parse(s: &str) -> Result<Self, FactError> {
        check_text(BasicFact::Name, s, 64)?;
        Ok(Self(s.to_owned()))
    }
}

impl Address {
    pub fn parse(s: &str) -> Result<Self, FactError> {
        check_text(BasicFact::Address, s, 200)?;
        Ok(Self(s.to_owned()))
    }
}

impl KanaName {
    pub fn parse(s: &str) -> Result<Self, FactError> {
        check_text(BasicFact::KanaName, s, 64)?;
        // Full-width katakana block, the prolonged sound mark and the middle
        // dot; blanks between words were checked above.
        if !s
            .chars()
            .all(|c| is_blank(c) || ('\u{30A1}'..='\u{30FC}').contains(&c))
        {
            return Err(FactError::NotKatakana);
        }
        Ok(Self(s.to_owned()))
    }
}

/// A date of birth (proleptic Gregorian, `YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BirthDate(Date);

impl BirthDate {
    pub fn parse(s: &str) -> Result<Self, FactError> {
        let fmt = format_description!("[year]-[month]-[day]");
        if s.len() != 10 {
            return Err(FactError::BadDate);
        }
        Date::parse(s, fmt).map(Self).map_err(|_| FactError::BadDate)
    }

    pub fn from_date(d: Date) -> Self {
        Self(d)
    }

    pub fn date(&self) -> Date {
        self.0
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

impl Serialize for BirthDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BirthDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Sex as an ISO 5218 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    NotKnown,
    Male,
    Female,
    NotApplicable,
}

impl Sex {
    pub fn iso5218(self) -> u8 {
        match self {
            Self::NotKnown => 0,
            Self::Male => 1,
            Self::Female => 2,
            Self::NotApplicable => 9,
        }
    }

    pub fn from_iso5218(code: u8) -> Result<Self, FactError> {
        match code {
            0 => Ok(Self::NotKnown),
            1 => Ok(Self::Male),
            2 => Ok(Self::Female),
            9 => Ok(Self::NotApplicable),
            _ => Err(FactError::BadSex),
        }
    }

    pub fn parse(s: &str) -> Result<Self, FactError> {
        match s {
            "0" | "1" | "2" | "9" => Self::from_iso5218(s.as_bytes()[0] - b'0'),
            _ => Err(FactError::BadSex),
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.iso5218())
    }
}

impl Serialize for Sex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.iso5218())
    }
}

impl<'de> Deserialize<'de> for Sex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u8::deserialize(d)?;
        Self::from_iso5218(v).map_err(serde::de::Error::custom)
    }
}

/// The four basic facts as a caller has them on file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FourFacts {
    pub name: PersonName,
    pub address: Address,
    pub birth_date: BirthDate,
    pub sex: Sex,
}

/// The facts that differ between what a caller has on file and the register.
/// It names the facts only, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the four basic facts do not match the resident register: {} differ{}", list(.differing), if .differing.len() == 1 { "s" } else { "" })]
pub struct FourFactsMismatch {
    pub differing: Vec<BasicFact>,
}

fn list(f: &[BasicFact]) -> String {
    f.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl FourFacts {
    /// Exact comparison, every fact, address included; no normalisation.
    pub fn check_exact(&self, on_file: &FourFacts) -> Result<(), FourFactsMismatch> {
        let mut differing = Vec::new();
        if self.name != on_file.name {
            differing.push(BasicFact::Name);
        }
        if self.address != on_file.address {
            differing.push(BasicFact::Address);
        }
        if self.birth_date != on_file.birth_date {
            differing.push(BasicFact::BirthDate);
        }
        if self.sex != on_file.sex {
            differing.push(BasicFact::Sex);
        }
        if differing.is_empty() {
            Ok(())
        } else {
            Err(FourFactsMismatch { differing })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(address: &str) -> FourFacts {
        FourFacts {
            name: PersonName::parse("山田 太郎").unwrap(),
            address: Address::parse(address).unwrap(),
            birth_date: BirthDate::parse("1980-04-01").unwrap(),
            sex: Sex::Male,
        }
    }

    #[test]
    fn exact_check_names_the_differing_fact_only() {
        let registered = facts("東京都世田谷区太子堂四丁目1番1号");
        assert!(registered.check_exact(&registered.clone()).is_ok());
        let moved = facts("神奈川県横浜市中区日本大通1番地");
        let err = moved.check_exact(&registered).unwrap_err();
        assert_eq!(err.differing, vec![BasicFact::Address]);
        let text = err.to_string();
        assert!(text.contains("address differs"), "{text}");
        assert!(!text.contains("横浜"), "values must not leak: {text}");
    }

    #[test]
    fn near_misses_are_not_equal() {
        // A full-width digit is a different address: no silent normalisation.
        let a = facts("東京都世田谷区太子堂四丁目1番1号");
        let b = facts("東京都世田谷区太子堂四丁目１番１号");
        assert!(b.check_exact(&a).is_err());
    }

    #[test]
    fn bad_text_is_rejected_with_the_fact_named() {
        assert_eq!(
            PersonName::parse(" 山田"),
            Err(FactError::Blanks {
                fact: BasicFact::Name
            })
        );
        assert_eq!(
            Address::parse("東京都\n世田谷区"),
            Err(FactError::Control {
                fact: BasicFact::Address
            })
        );
        assert_eq!(KanaName::parse("やまだ"), Err(FactError::NotKatakana));
        assert!(KanaName::parse("ヤマダ　タロウ").is_ok());
        assert_eq!(BirthDate::parse("1980-02-30"), Err(FactError::BadDate));
        assert_eq!(BirthDate::parse("1980-2-3"), Err(FactError::BadDate));
        assert_eq!(Sex::parse("3"), Err(FactError::BadSex));
        assert_eq!(
            PersonName::parse(""),
            Err(FactError::Empty {
                fact: BasicFact::Name
            })
        );
    }
}
