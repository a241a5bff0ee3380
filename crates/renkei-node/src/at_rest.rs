//! What an encrypted node store seals, and how (the stores do the SQL; both
//! backends seal alike through these functions).
//!
//! Item values are sealed under the item's key (local id, item, fiscal
//! year), and notice texts under the notice's id, person and field, so a
//! value copied into another row or column does not open. Local ids,
//! institution codes, item names, dates and the provision records stay in
//! clear: they are what the node looks up, pages and joins by, and none of
//! them is the person's data.

use renkei_catalog::ItemCode;
use renkei_crypto::{AtRestCipher, AtRestError, Place};
use renkei_ids::LocalPersonId;
use renkei_protocol::FiscalYear;
use zeroize::Zeroizing;

fn item_place(local_id: &LocalPersonId, item: &ItemCode, fiscal_year: Option<FiscalYear>) -> Place {
    Place::new("items.value")
        .with(local_id.as_str().as_bytes())
        .with(item.as_str().as_bytes())
        .with(&fiscal_year.map_or(0, FiscalYear::get).to_be_bytes())
}

/// Seal an item's value (JSON text) under the item's key.
pub fn seal_item_value(
    c: &AtRestCipher,
    local_id: &LocalPersonId,
    item: &ItemCode,
    fiscal_year: Option<FiscalYear>,
    value: &str,
) -> String {
    c.seal_text(&item_place(local_id, item, fiscal_year), value.as_bytes())
}

/// Open an item's value sealed by [`seal_item_value`].
pub fn open_item_value(
    c: &AtRestCipher,
    local_id: &LocalPersonId,
    item: &ItemCode,
    fiscal_year: Option<FiscalYear>,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
    c.open_text(&item_place(local_id, item, fiscal_year), sealed)
}

/// The notice texts that are sealed, by column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeField {
    TitleJa,
    BodyJa,
    TitleEn,
    BodyEn,
}

impl NoticeField {
    fn label(self) -> &'static str {
        match self {
            Self::TitleJa => "notices.title_ja",
            Self::BodyJa => "notices.body_ja",
            Self::TitleEn => "notices.title_en",
            Self::BodyEn => "notices.body_en",
        }
    }
}

fn notice_place(id: &str, local_id: &LocalPersonId, field: NoticeField) -> Place {
    Place::new(field.label())
        .with(id.as_bytes())
        .with(local_id.as_str().as_bytes())
}

/// Seal one text of a notice under the notice's id, person and field.
pub fn seal_notice_text(
    c: &AtRestCipher,
    id: &str,
    local_id: &LocalPersonId,
    field: NoticeField,
    text: &str,
) -> String {
    c.seal_text(&notice_place(id, local_id, field), text.as_bytes())
}

/// Open a notice text sealed by [`seal_notice_text`]; it must be UTF-8.
pub fn open_notice_text(
    c: &AtRestCipher,
    id: &str,
    local_id: &LocalPersonId,
    field: NoticeField,
    sealed: &str,
) -> Result<String, AtRestError> {
    let plain = c.open_text(&notice_place(id, local_id, field), sealed)?;
    String::from_utf8(plain.to_vec()).map_err(|_| AtRestError::Malformed("not UTF-8"))
}

/// Where a delivery's document is kept: the sender's outbox (by delivery
/// id) or the receiver's inbox (by sender and delivery id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentPlace<'a> {
    Outbox(&'a str),
    Inbox(&'a renkei_ids::CorporateNumber, &'a str),
    /// A filed report: its filing and line.
    Filing(&'a str, u32),
}

fn document_place(at: DocumentPlace<'_>) -> Place {
    match at {
        DocumentPlace::Outbox(id) => Place::new("outbox.document").with(id.as_bytes()),
        DocumentPlace::Inbox(sender, id) => Place::new("inbox.document")
            .with(sender.to_string().as_bytes())
            .with(id.as_bytes()),
        DocumentPlace::Filing(filing, line) => Place::new("filed_reports.report")
            .with(filing.as_bytes())
            .with(&line.to_be_bytes()),
    }
}

/// Seal a delivery's document (JSON text) under its place.
pub fn seal_document(c: &AtRestCipher, at: DocumentPlace<'_>, json: &str) -> String {
    c.seal_text(&document_place(at), json.as_bytes())
}

/// Open a document sealed by [`seal_document`].
pub fn open_document(
    c: &AtRestCipher,
    at: DocumentPlace<'_>,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
    c.open_text(&document_place(at), sealed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use renkei_crypto::DataKey;

    use super::*;

    #[test]
    fn values_open_only_for_their_own_item_and_notice() {
        let c = AtRestCipher::new(&DataKey::from_bytes([4; 32]));
        let (a, b) = (
            LocalPersonId::parse("A-1").unwrap(),
            LocalPersonId::parse("A-2").unwrap(),
        );
        let income = ItemCode::parse("resident_tax_income").unwrap();
        let fy = Some(FiscalYear::new(2025).unwrap());
        let v = seal_item_value(&c, &a, &income, fy, "{\"taxable_income\":3000000}");
        assert_eq!(
            &open_item_value(&c, &a, &income, fy, &v).unwrap()[..],
            b"{\"taxable_income\":3000000}"
        );
        assert!(open_item_value(&c, &b, &income, fy, &v).is_err());
        assert!(open_item_value(&c, &a, &income, None, &v).is_err());
        let t = seal_notice_text(&c, "n1", &a, NoticeField::TitleJa, "お知らせ");
        assert_eq!(
            open_notice_text(&c, "n1", &a, NoticeField::TitleJa, &t).unwrap(),
            "お知らせ"
        );
        assert!(open_notice_text(&c, "n1", &a, NoticeField::BodyJa, &t).is_err());
        assert!(open_notice_text(&c, "n2", &a, NoticeField::TitleJa, &t).is_err());
        assert!(open_notice_text(&c, "n1", &b, NoticeField::TitleJa, &t).is_err());
        let sender = renkei_ids::CorporateNumber::from_base_number(100_000_100_004).unwrap();
        let d = seal_document(&c, DocumentPlace::Inbox(&sender, "d1"), "{}");
        assert_eq!(
            &open_document(&c, DocumentPlace::Inbox(&sender, "d1"), &d).unwrap()[..],
            b"{}"
        );
        assert!(open_document(&c, DocumentPlace::Inbox(&sender, "d2"), &d).is_err());
        assert!(open_document(&c, DocumentPlace::Outbox("d1"), &d).is_err());
    }
}
