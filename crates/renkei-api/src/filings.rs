//! Statutory filings at the tax agency's node: what its intake system
//! posts (an employer's withholding reports, one JSON object per line) and
//! how it follows the filing's way to the municipalities.

use serde::{Deserialize, Serialize};

/// A filing as the node keeps it, with its reports counted by route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingWire {
    pub filing_id: String,
    /// `withholding_report.v1` or `monthly_earnings_filing.v1`.
    pub filing_type: String,
    /// The employer's corporate number.
    pub payer: String,
    pub tax_year: u16,
    /// SHA-256 of the file as received (hex).
    pub digest: String,
    pub reports: u32,
    pub received_at: i64,
    /// Reports whose residence on 1 January is still to be found.
    pub pending: u64,
    /// Reports handed to the outbox for their municipality.
    pub routed: u64,
    /// Reports no municipality could be found for (kept here).
    pub unroutable: u64,
    /// Reports kept here and not forwarded (monthly earnings reports).
    pub kept: u64,
}

/// One kept report: the record as filed, without the individual number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiledReportWire {
    pub line: u32,
    /// The employee under this node's own person id.
    pub local_id: String,
    /// `pending`, `routed`, `unroutable` or `kept`.
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub report: serde_json::Value,
}
