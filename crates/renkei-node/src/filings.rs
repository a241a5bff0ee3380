//! Statutory filings kept at the tax agency's node: an employer's annual
//! withholding reports, each kept under the node's own person id (the My
//! Number they were filed with served once, to enrol the employee through
//! the registry, and is not kept), and each routed to the municipality of
//! the employee's residence on 1 January after the tax year as a delivery
//! (the salary-payment report, 給与支払報告書).

use std::fmt;

use renkei_ids::{CorporateNumber, LocalPersonId};
use renkei_protocol::UnixMillis;

use crate::deliveries::DeliveryId;

/// A filing's id: 1 to 48 characters of `A-Z a-z 0-9 _ -` (room for the
/// delivery ids of its reports, see [`report_delivery_id`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilingId(String);

impl FilingId {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() || s.len() > 48 {
            return Err("must be 1 to 48 characters");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        {
            return Err("may hold only A-Z a-z 0-9 _ -");
        }
        Ok(Self(s.to_owned()))
    }

    /// The id a filing gets when the filer names none: the payer, the
    /// year and the start of the file's digest, so the same file sent
    /// twice is one filing.
    pub fn derived(payer: &CorporateNumber, tax_year: u16, digest_hex: &str) -> Self {
        Self(format!(
            "{payer}-{tax_year}-{}",
            &digest_hex[..digest_hex.len().min(16)]
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FilingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a filing holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilingType {
    /// `withholding_report.v1`: the annual reports, each routed on to the
    /// municipality of 1 January.
    WithholdingReports,
    /// `monthly_earnings_filing.v1`: reports of each payment of pay, kept
    /// by the tax agency.
    MonthlyEarnings,
}

impl FilingType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "withholding_report.v1" => Some(Self::WithholdingReports),
            "monthly_earnings_filing.v1" => Some(Self::MonthlyEarnings),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WithholdingReports => "withholding_report.v1",
            Self::MonthlyEarnings => "monthly_earnings_filing.v1",
        }
    }

    /// Where a report of this filing starts: routing, or kept.
    pub fn first_route(self) -> ReportRoute {
        match self {
            Self::WithholdingReports => ReportRoute::Pending,
            Self::MonthlyEarnings => ReportRoute::Kept,
        }
    }
}

/// One employer's filing for one tax year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing {
    pub id: FilingId,
    pub filing_type: FilingType,
    pub payer: CorporateNumber,
    pub tax_year: u16,
    /// SHA-256 of the file as received (hex): the same id with another
    /// file is a conflict.
    pub digest: String,
    pub reports: u32,
    pub received_at: UnixMillis,
}

/// Where a filed report stands on its way to the municipality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRoute {
    /// Its residence on 1 January is still to be asked of the registry.
    Pending,
    /// Handed to the outbox for the municipality, as `delivery_id`.
    Routed {
        recipient: CorporateNumber,
        delivery_id: DeliveryId,
    },
    /// No municipality can be found (the reason says why); the report
    /// stays kept here and is not delivered.
    Unroutable { reason: String },
    /// Kept here, not forwarded (a monthly earnings report).
    Kept,
}

impl ReportRoute {
    /// (recipient, delivery id, reason), each as far as the route has one.
    pub fn parts(&self) -> (Option<String>, Option<String>, Option<String>) {
        match self {
            Self::Pending | Self::Kept => (None, None, None),
            Self::Routed {
                recipient,
                delivery_id,
            } => (Some(recipient.to_string()), Some(delivery_id.to_string()), None),
            Self::Unroutable { reason } => (None, None, Some(reason.clone())),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Routed { .. } => "routed",
            Self::Unroutable { .. } => "unroutable",
            Self::Kept => "kept",
        }
    }
}

/// One report of a filing, as kept: the record with the number taken out.
#[derive(Debug, Clone, PartialEq)]
pub struct FiledReport {
    pub filing: FilingId,
    /// The line of the file it came from (from 1).
    pub line: u32,
    pub local_id: LocalPersonId,
    pub report: serde_json::Value,
    pub route: ReportRoute,
}

/// Reports of a filing by route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilingCounts {
    pub pending: u64,
    pub routed: u64,
    pub unroutable: u64,
    pub kept: u64,
}

/// What keeping a filing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilingInsert {
    New,
    /// A filing with this id was kept before; it is returned as it stands
    /// (the caller compares the digest).
    Existing(Filing),
}

/// The delivery a report travels as: fixed by the filing and the line, so
/// routing the report again (after a crash) enqueues the same delivery.
pub fn report_delivery_id(filing: &FilingId, line: u32) -> DeliveryId {
    DeliveryId::parse(&format!("wr:{filing}:{line}")).expect("a filing id leaves room for the line")
}

/// The municipality of residence on 1 January after `tax_year`, from the
/// registry's `residence_on_january_1` value.
pub fn january_municipality(value: &serde_json::Value, tax_year: u16) -> Option<CorporateNumber> {
    let day = format!("{}-01-01", u32::from(tax_year) + 1);
    value["residences"]
        .as_array()?
        .iter()
        .find(|r| r["date"].as_str() == Some(day.as_str()))
        .and_then(|r| r["municipality"].as_str())
        .and_then(|m| CorporateNumber::parse(m).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filing_ids_are_checked_and_leave_room_for_report_delivery_ids() {
        assert!(FilingId::parse("").is_err());
        assert!(FilingId::parse(&"a".repeat(49)).is_err());
        assert!(FilingId::parse("a b").is_err());
        let longest = FilingId::parse(&"a".repeat(48)).unwrap();
        assert_eq!(
            report_delivery_id(&longest, 200_000).as_str().len(),
            3 + 48 + 1 + 6
        );
        let payer = CorporateNumber::parse("3010401187424").unwrap();
        let id = FilingId::derived(&payer, 2025, &"ab".repeat(32));
        assert_eq!(id.as_str(), "3010401187424-2025-abababababababab");
        assert!(FilingId::parse(id.as_str()).is_ok());
    }

    #[test]
    fn the_municipality_is_the_one_of_1_january_after_the_tax_year() {
        let v = serde_json::json!({"residences": [
            {"date": "2026-01-01", "municipality": "3000020141003", "municipality_name": "横浜市"},
            {"date": "2025-01-01", "municipality": "1000020131121", "municipality_name": "世田谷区"},
        ]});
        assert_eq!(
            january_municipality(&v, 2025).unwrap().to_string(),
            "3000020141003"
        );
        assert_eq!(
            january_municipality(&v, 2024).unwrap().to_string(),
            "1000020131121"
        );
        assert_eq!(january_municipality(&v, 2023), None);
        assert_eq!(january_municipality(&serde_json::json!({}), 2025), None);
    }
}
