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
