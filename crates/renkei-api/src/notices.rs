//! Notices: what a business system asks its node to send and what the
//! portal reads.

use serde::{Deserialize, Serialize};

/// The item a notice is pushed as, and the office work it is sent under.
pub const NOTICE_ITEM: &str = "notice";

pub const NOTICE_OFFICE_WORK: &str = "notice_delivery";

/// The text of a notice, Japanese required, English optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeText {
    pub title_ja: String,
    pub body_ja: String,
    #[serde(default)]
    pub title_en: Option<String>,
    #[serde(default)]
    pub body_en: Option<String>,
}

/// A business system asks its node to send a notice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendNoticeRequest {
    pub local_id: String,
    pub notice: NoticeText,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeSent {
    pub notice_id: String,
}

/// An institution's registered certificate, as the hub's directory holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredCertificateWire {
    pub institution: String,
    /// DER, base64url.
    pub certificate: String,
}

/// A notice as the portal reads it from its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeWire {
    pub id: String,
    pub sender: String,
    pub sender_name: String,
    pub title_ja: String,
    pub body_ja: String,
    pub title_en: Option<String>,
    pub body_en: Option<String>,
    pub sent_at: i64,
    pub read_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkedRead {
    pub read: bool,
}
