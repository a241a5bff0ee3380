//! Documents public senders deliver through the network: the pension
//! service's and the health insurers' nodes push them to the portal's node
//! under a push row of the permission table, sealed and signed as every
//! push is. The pushed item is named as the document type
//! (`national_pension_premium_certificate`), and the document travels in
//! an envelope that says its version and what it corrects:
//!
//! ```json
//! {"type": "national_pension_premium_certificate.v1", "document": {...},
//!  "replaces": "an earlier delivery id (optional)"}
//! ```
//!
//! [`check_network_document`] is the one check of that envelope: the
//! sending node runs it before it keeps a delivery, the receiving node
//! before it accepts one, the portal before a document enters a mailbox.

use serde::Deserialize;
use serde_json::Value;

use crate::deposit::{CheckedDeposit, DepositRefusal, check_document_id, strict};
use crate::handle::DeliveryHandle;
use crate::sender::SenderKind;
use crate::types::{DocumentTypeId, DocumentTypes};

/// The item a receipt travels as: the portal tells a public sender that a
/// person first opened one of its documents.
pub const RECEIPT_ITEM: &str = "mailbox_receipt";

/// The office work under which public documents and their receipts travel.
pub const MAILBOX_OFFICE_WORK: &str = "mailbox_delivery";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(rename = "type")]
    doc_type: String,
    document: Value,
    #[serde(default)]
    replaces: Option<String>,
}

/// A public sender's document that passed every check its envelope allows.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkDocument {
    pub type_id: DocumentTypeId,
    pub replaces: Option<String>,
    pub document: Value,
    pub tax_year: u16,
}

/// Whether `item` is a document type public senders deliver (and so the
/// envelope of [`check_network_document`] is due).
pub fn is_network_document_item(item: &str) -> bool {
    SenderKind::public_issuer_of(item).is_some()
}

fn field(name: &str, reason: impl Into<String>) -> DepositRefusal {
    DepositRefusal::Field {
        field: name.to_owned(),
        reason: reason.into(),
    }
}

/// Check a pushed envelope of item `item` for `fiscal_year`: the type is
/// the item's, in a version that exists; the document passes its schema
/// and its year is the push's; `replaces` is a delivery id other than
/// `delivery_id`.
pub fn check_network_document(
    item: &str,
    fiscal_year: Option<u16>,
    delivery_id: &str,
    envelope: &Value,
    types: &DocumentTypes,
) -> Result<NetworkDocument, DepositRefusal> {
    if !is_network_document_item(item) {
        return Err(DepositRefusal::UnknownDocumentType(item.to_owned()));
    }
    let bytes = serde_json::to_vec(envelope).map_err(|e| DepositRefusal::Malformed(e.to_string()))?;
    let env: Envelope = strict(&bytes, "envelope")?;
    let def = types
        .lookup(&env.doc_type)
        .filter(|t| t.deposit)
        .ok_or_else(|| DepositRefusal::UnknownDocumentType(env.doc_type.clone()))?;
    if def.id.name != item {
        return Err(field(
            "type",
            format!("{} is not a document of item {item}", def.id),
        ));
    }
    if let Some(r) = &env.replaces {
        check_document_id(r).map_err(|why| field("replaces", why))?;
        if r == delivery_id {
            return Err(DepositRefusal::BadReplaces(
                "a document cannot replace itself".into(),
            ));
        }
    }
    def.check(&env.document).map_err(DepositRefusal::Document)?;
    let tax_year = def
        .tax_year(&env.document)
        .ok_or_else(|| field("document/tax_year", "is missing"))?;
    if fiscal_year != Some(tax_year) {
        return Err(field(
            "document/tax_year",
            format!(
                "is {tax_year}, but the delivery is for {}",
                fiscal_year.map_or_else(|| "no year".to_owned(), |y| y.to_string())
            ),
        ));
    }
    Ok(NetworkDocument {
        type_id: def.id.clone(),
        replaces: env.replaces,
        document: env.document,
        tax_year,
    })
}

impl NetworkDocument {
    /// As a deposit under `document_id` (the sender's delivery id) for the
    /// person `handle` stands for, so that [`crate::decide`] settles
    /// replays and corrections exactly as for a signed deposit.
    pub fn into_deposit(
        self,
        document_id: String,
        handle: DeliveryHandle,
        at: renkei_protocol::UnixMillis,
    ) -> Result<CheckedDeposit, DepositRefusal> {
        check_document_id(&document_id).map_err(|r| field("delivery_id", r))?;
        let canonical =
            serde_json::to_vec(&self.document).map_err(|e| DepositRefusal::Malformed(e.to_string()))?;
        let type_name = self.type_id.to_string();
        let digest = renkei_crypto::sha256(&[
            type_name.as_bytes(),
            handle.as_str().as_bytes(),
            self.replaces.as_deref().unwrap_or("").as_bytes(),
            &canonical,
        ]);
        Ok(CheckedDeposit {
            document_id,
            type_id: self.type_id,
            handle,
            issued_at: at,
            replaces: self.replaces,
            document: self.document,
            tax_year: self.tax_year,
            digest,
            jws: String::new(),
            kid: None,
        })
    }
}

/// What a receipt says: the person first opened `document_id` (the
/// sender's delivery id), version `version`, at `opened_at`.
pub fn receipt_document(document_id: &str, version: u32, opened_at: renkei_protocol::UnixMillis) -> Value {
    serde_json::json!({
        "document_id": document_id,
        "version": version,
        "opened_at": opened_at.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> DocumentTypes {
        DocumentTypes::builtin().unwrap()
    }

    fn envelope(doc: Value) -> Value {
        serde_json::json!({"type": "national_pension_premium_certificate.v1", "document": doc})
    }

    fn pension() -> Value {
        crate::example_document("national_pension_premium_certificate.v1").unwrap()
    }

    const ITEM: &str = "national_pension_premium_certificate";

    #[test]
    fn a_valid_envelope_passes_and_becomes_a_deposit() {
        let t = types();
        let d = check_network_document(ITEM, Some(2025), "np-1", &envelope(pension()), &t).unwrap();
        assert_eq!(d.type_id.to_string(), "national_pension_premium_certificate.v1");
        assert_eq!(d.tax_year, 2025);
        let h = crate::HandleKey::from_bytes([1; 32]).handle(&crate::SenderId::from_random([2; 16]), "p");
        let a = d
            .clone()
            .into_deposit("np-1".into(), h.clone(), renkei_protocol::UnixMillis(1))
            .unwrap();
        let b = d
            .into_deposit("np-1".into(), h, renkei_protocol::UnixMillis(2))
            .unwrap();
        // The same document delivered again is the same deposit (a replay).
        assert_eq!(a.digest, b.digest);
        assert!(a.jws.is_empty());
    }

    #[test]
    fn each_bad_envelope_is_refused_naming_what_is_wrong() {
        let t = types();
        let check = |item: &str, year: Option<u16>, env: Value| {
            check_network_document(item, year, "np-1", &env, &t).unwrap_err()
        };
        // Not a public document item.
        assert_eq!(
            check("withholding_slip", Some(2025), envelope(pension())).code(),
            "unknown_document_type"
        );
        // The item's type is another.
        let wrong = serde_json::json!({"type": "medical_expense_notice.v1", "document": pension()});
        let e = check(ITEM, Some(2025), wrong);
        assert!(e.to_string().starts_with("type:"), "{e}");
        // A version that does not exist.
        let v9 =
            serde_json::json!({"type": "national_pension_premium_certificate.v9", "document": pension()});
        assert_eq!(check(ITEM, Some(2025), v9).code(), "unknown_document_type");
        // An unknown envelope field, a missing document.
        let extra = serde_json::json!({"type": "national_pension_premium_certificate.v1", "document": pension(), "x": 1});
        assert!(check(ITEM, Some(2025), extra).to_string().contains("`x`"));
        let bare = serde_json::json!({"type": "national_pension_premium_certificate.v1"});
        assert!(check(ITEM, Some(2025), bare).to_string().contains("document"));
        // The schema names the field.
        let mut doc = pension();
        doc["paid"] = Value::from(-1);
        let e = check(ITEM, Some(2025), envelope(doc));
        assert_eq!(e.code(), "schema_violation");
        assert!(e.to_string().contains("/paid"), "{e}");
        // The year is the delivery's.
        let e = check(ITEM, Some(2024), envelope(pension()));
        assert!(e.to_string().contains("tax_year"), "{e}");
        // A correction names another delivery id, a well-formed one.
        let mut env = envelope(pension());
        env["replaces"] = "np-1".into();
        assert_eq!(check(ITEM, Some(2025), env.clone()).code(), "bad_replaces");
        env["replaces"] = "bad id".into();
        assert!(check(ITEM, Some(2025), env).to_string().starts_with("replaces:"));
    }
}
