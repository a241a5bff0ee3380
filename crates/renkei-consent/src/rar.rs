//! Rich Authorization Requests (RFC 9396), type `self_information`: what a
//! client asks for, checked against what it was approved for.

use renkei_catalog::{Catalog, ItemCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::ApiClient;

pub const SELF_INFORMATION: &str = "self_information";

/// Longest a periodic consent may last.
pub const MAX_PERIODIC_DAYS: u32 = 366;

/// One-time or periodic access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Fetch once, soon after consent.
    OneTime,
    /// Fetch again (e.g. monthly) until the consent's end.
    Periodic,
}

/// A checked `self_information` authorization detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfInformation {
    pub items: Vec<ItemCode>,
    /// For items that are per fiscal year (income, tax): one year…
    pub tax_year: Option<u16>,
    /// …or a range of fiscal years, both ends included (checkup trends).
    pub period: Option<(u16, u16)>,
    pub purpose: String,
    /// How long the client may keep what it receives, in days.
    pub data_life_days: u32,
    pub frequency: Frequency,
    /// For periodic access: how long the consent lasts, in days.
    pub duration_days: Option<u32>,
}

/// Why an authorization detail is refused; the message names the member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("authorization_details: {0}")]
pub struct RarError(pub String);

fn err(s: impl Into<String>) -> RarError {
    RarError(s.into())
}

/// `P<n>D`, `P<n>M` (30 days) or `P<n>Y` (365 days).
pub fn parse_days(s: &str) -> Option<u32> {
    let body = s.strip_prefix('P')?;
    // The unit is the last character, which need not be one byte (a
    // fuzzer found `P9ayп` panicking the split).
    let unit = body.chars().next_back()?;
    let n = &body[..body.len() - unit.len_utf8()];
    let unit = unit.to_string();
    let unit = unit.as_str();
    if n.is_empty() || n.len() > 5 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = n.parse().ok()?;
    let days = match unit {
        "D" => n,
        "M" => n.checked_mul(30)?,
        "Y" => n.checked_mul(365)?,
        _ => return None,
    };
    (days > 0).then_some(days)
}

/// The wire form, kept for the token response and the consent record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Detail {
    #[serde(rename = "type")]
    kind: String,
    items: Vec<String>,
    #[serde(default)]
    tax_year: Option<u16>,
    #[serde(default)]
    period: Option<Period>,
    purpose: String,
    data_life: String,
    frequency: Frequency,
    #[serde(default)]
    duration: Option<String>,
}

/// Fiscal years `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Period {
    from: u16,
    to: u16,
}

/// At most this many fiscal years in one request.
pub const MAX_PERIOD_YEARS: u16 = 10;

impl SelfInformation {
    /// The fiscal years to fetch per-year items for (`None`: items that
    /// are not per year).
    pub fn fiscal_years(&self) -> Vec<u16> {
        match (self.tax_year, self.period) {
            (Some(y), _) => vec![y],
            (None, Some((from, to))) => (from..=to).collect(),
            (None, None) => Vec::new(),
        }
    }

    /// Parse `authorization_details` (a JSON array with exactly one
    /// `self_information` object) and check it against the client.
    pub fn parse(json: &str, client: &ApiClient, catalog: &Catalog) -> Result<Self, RarError> {
        let v: Value = serde_json::from_str(json).map_err(|e| err(format!("not JSON: {e}")))?;
        let Value::Array(list) = v else {
            return Err(err("must be a JSON array"));
        };
        let [one] = &list[..] else {
            return Err(err(format!(
                "give exactly one object of type {SELF_INFORMATION} (got {})",
                list.len()
            )));
        };
        if one.get("type").and_then(Value::as_str) != Some(SELF_INFORMATION) {
            return Err(err(format!("type must be {SELF_INFORMATION:?}")));
        }
        let d: Detail = serde_json::from_value(one.clone()).map_err(|e| err(e.to_string()))?;
        if d.items.is_empty() {
            return Err(err("items is empty"));
        }
        let mut items = Vec::new();
        let mut needs_year = false;
        for i in &d.items {
            let code = ItemCode::parse(i).map_err(|e| err(format!("items: {e}")))?;
            let item = catalog
                .item(&code)
                .ok_or_else(|| err(format!("items: {i:?} is not an item")))?;
            if !client.app.items.contains(&code) {
                return Err(err(format!("items: this client is not approved for {i:?}")));
            }
            needs_year |= item.periodic;
            if !items.contains(&code) {
                items.push(code);
            }
        }
        let period = match (d.tax_year, d.period) {
            (Some(_), Some(_)) => return Err(err("give tax_year or period, not both")),
            (None, None) if needs_year => {
                return Err(err("tax_year (or a period of years) is required for these items"));
            }
            (Some(y), None) if !(2000..=2100).contains(&y) => return Err(err("tax_year is out of range")),
            (None, Some(p)) => {
                if !(2000..=2100).contains(&p.from) || !(2000..=2100).contains(&p.to) || p.from > p.to {
                    return Err(err("period: from and to are fiscal years, from ≤ to"));
                }
                if p.to - p.from >= MAX_PERIOD_YEARS {
                    return Err(err(format!("period: at most {MAX_PERIOD_YEARS} years")));
                }
                Some((p.from, p.to))
            }
            _ => None,
        };
        let purpose = d.purpose.trim();
        if purpose.is_empty() || purpose.chars().count() > 200 {
            return Err(err("purpose must be 1 to 200 characters"));
        }
        let data_life_days = parse_days(&d.data_life)
            .ok_or_else(|| err("data_life must be an ISO 8601 duration like P90D, P6M or P1Y"))?;
        if data_life_days > client.app.max_data_life_days {
            return Err(err(format!(
                "data_life of {data_life_days} days exceeds the {} this client was approved for",
                client.app.max_data_life_days
            )));
        }
        let duration_days = match (d.frequency, d.duration.as_deref()) {
            (Frequency::OneTime, None) => None,
            (Frequency::OneTime, Some(_)) => return Err(err("duration is only for periodic access")),
            (Frequency::Periodic, None) => return Err(err("periodic access needs a duration")),
            (Frequency::Periodic, Some(s)) => {
                let days = parse_days(s).ok_or_else(|| err("duration must be like P180D or P1Y"))?;
                if days > MAX_PERIODIC_DAYS {
                    return Err(err(format!("duration is at most {MAX_PERIODIC_DAYS} days")));
                }
                Some(days)
            }
        };
        Ok(Self {
            items,
            tax_year: d.tax_year,
            period,
            purpose: purpose.to_owned(),
            data_life_days,
            frequency: d.frequency,
            duration_days,
        })
    }

    /// Read back the canonical form written by [`Self::to_json`] (from the
    /// store: it was checked when it was made).
    pub fn from_canonical(v: &Value) -> Option<Self> {
        let d: Detail = serde_json::from_value(v.as_array()?.first()?.clone()).ok()?;
        Some(Self {
            items: d
                .items
                .iter()
                .map(|i| ItemCode::parse(i).ok())
                .collect::<Option<Vec<_>>>()?,
            tax_year: d.tax_year,
            period: d.period.map(|p| (p.from, p.to)),
            purpose: d.purpose,
            data_life_days: parse_days(&d.data_life)?,
            frequency: d.frequency,
            duration_days: match d.duration {
                Some(s) => Some(parse_days(&s)?),
                None => None,
            },
        })
    }

    /// The canonical JSON array, as returned in the token response and kept
    /// in the consent.
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::json!({
            "type": SELF_INFORMATION,
            "items": self.items.iter().map(ItemCode::as_str).collect::<Vec<_>>(),
            "purpose": self.purpose,
            "data_life": format!("P{}D", self.data_life_days),
            "frequency": self.frequency,
        });
        if let Some(y) = self.tax_year {
            o["tax_year"] = y.into();
        }
        if let Some((from, to)) = self.period {
            o["period"] = serde_json::json!({"from": from, "to": to});
        }
        if let Some(d) = self.duration_days {
            o["duration"] = format!("P{d}D").into();
        }
        Value::Array(vec![o])
    }
}
