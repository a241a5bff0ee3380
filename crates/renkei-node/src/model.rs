use renkei_catalog::ItemCode;
use renkei_ids::{InstitutionCode, LocalPersonId};
use renkei_protocol::{FiscalYear, UnixMillis};

/// One item of one person, as this institution holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemValue {
    pub local_id: LocalPersonId,
    pub item: ItemCode,
    pub fiscal_year: Option<FiscalYear>,
    /// A JSON object; its shape is the item's, the node does not interpret it.
    pub value: serde_json::Map<String, serde_json::Value>,
    pub updated_at: UnixMillis,
}

/// A person enrolled at this node: the institution's id and its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledPerson {
    pub local_id: LocalPersonId,
    pub code: InstitutionCode,
    pub enrolled_at: UnixMillis,
}

/// A notice (お知らせ) an institution sent to a person, as the recipient
/// node (the portal's) keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Random, assigned by the hub.
    pub id: String,
    pub sender: renkei_ids::CorporateNumber,
    pub sender_name: String,
    pub title_ja: String,
    pub body_ja: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub sent_at: UnixMillis,
    pub read_at: Option<UnixMillis>,
}

/// Why a notice's text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct NoticeTextError {
    pub field: &'static str,
    pub problem: &'static str,
}

/// Titles up to 120 characters, bodies up to 4,000; no control characters
/// but line breaks in bodies.
pub fn check_notice_text(field: &'static str, text: &str, body: bool) -> Result<(), NoticeTextError> {
    let max = if body { 4000 } else { 120 };
    let n = text.chars().count();
    if text.trim().is_empty() {
        return Err(NoticeTextError {
            field,
            problem: "must not be empty",
        });
    }
    if n > max {
        return Err(NoticeTextError {
            field,
            problem: if body {
                "longer than 4000 characters"
            } else {
                "longer than 120 characters"
            },
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(body && (c == '\n' || c == '\r')))
    {
        return Err(NoticeTextError {
            field,
            problem: "contains control characters",
        });
    }
    Ok(())
}
