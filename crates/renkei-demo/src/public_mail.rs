//! Public senders in the demo: the pension service's node delivers each
//! card holder's national pension premium certificate, the health
//! insurer's node their medical expense notice, through the hub to the
//! portal's node (push rows R1701 and R1702); the portal puts them in the
//! mailboxes, and a card holder's first opening goes back to the sender as
//! a receipt (R1703).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use renkei_api::deliveries::{DeliveryRequest, DeliveryWire, InboxEntryWire};
use renkei_transport::ApiFailure;
use serde_json::{Value, json};

use crate::country::Inhabitant;
use crate::institutions::{DIGITAL, InstitutionSpec, KENPO, PENSION};
use crate::network::Network;

/// The tax year the certificates are for.
pub const TAX_YEAR: u16 = 2025;

/// The envelope a public sender's node delivers: the document's type and
/// version, the document, what it corrects.
pub fn envelope(type_id: &str, document: Value, replaces: Option<&str>) -> Value {
    let mut e = json!({"type": type_id, "document": document});
    if let Some(r) = replaces {
        e["replaces"] = r.into();
    }
    e
}

fn name_of(person: &Inhabitant) -> Value {
    let (family, given) = person
        .name
        .split_once(['　', ' '])
        .unwrap_or((person.name.as_str(), "-"));
    json!({"family_name": family, "given_name": given})
}

/// The compiled-in example of `type_id`, made out to `person`.
pub fn certificate_for(type_id: &str, person: &Inhabitant) -> Result<Value> {
    let mut doc =
        renkei_delivery::example_document(type_id).with_context(|| format!("no example of {type_id}"))?;
    doc["insured"] = name_of(person);
    if doc.get("insured_address").is_some() {
        doc["insured_address"] = person.address.clone().into();
    }
    Ok(doc)
}

/// What each public sender delivers: its node, the item and the type.
pub const SENDERS: [(InstitutionSpec, &str, &str); 2] = [
    (
        PENSION,
        "national_pension_premium_certificate",
        "national_pension_premium_certificate.v1",
    ),
    (KENPO, "medical_expense_notice", "medical_expense_notice.v1"),
];

/// Hand `envelope` to `sender`'s node for delivery to the portal's node.
pub async fn deliver(
    net: &Network,
    sender: InstitutionSpec,
    local_id: &str,
    delivery_id: &str,
    item: &str,
    envelope: &Value,
) -> Result<DeliveryWire, ApiFailure> {
    net.node(sender.key)
        .local
        .post(
            "/local/v1/deliveries",
            &DeliveryRequest {
                delivery_id: delivery_id.to_owned(),
                local_id: local_id.to_owned(),
                recipient: DIGITAL.id().to_string(),
                office_work: renkei_delivery::MAILBOX_OFFICE_WORK.into(),
                item: item.to_owned(),
                fiscal_year: Some(TAX_YEAR),
                document: envelope.clone(),
            },
        )
        .await
}

/// Each card holder's certificates from every public sender that knows
/// them, under delivery ids `<item>-2025-<n>`; what was handed over, as
/// (card index, sender, delivery id).
pub async fn deliver_all(
    net: &Network,
    holders: &[&Inhabitant],
) -> Result<Vec<(usize, InstitutionSpec, String)>> {
    let mut out = Vec::new();
    for (i, who) in holders.iter().enumerate() {
        for (spec, item, type_id) in SENDERS {
            let Some(local_id) = who.ids.get(spec.key) else {
                continue;
            };
            let id = format!("{item}-{TAX_YEAR}-{}", i + 1);
            let e = envelope(type_id, certificate_for(type_id, who)?, None);
            deliver(net, spec, local_id, &id, item, &e)
                .await
                .with_context(|| format!("{} delivers {id}", spec.key))?;
            out.push((i, spec, id));
        }
    }
    Ok(out)
}

/// Wait until `sender`'s node holds the receipt of `document_id`.
pub async fn receipt_at(
    net: &Network,
    sender: InstitutionSpec,
    document_id: &str,
    within: Duration,
) -> Result<Option<InboxEntryWire>> {
    let start = Instant::now();
    loop {
        let inbox: Vec<InboxEntryWire> = net
            .node(sender.key)
            .local
            .get("/local/v1/inbox?limit=1000")
            .await
            .context("reading the sender's inbox")?;
        if let Some(r) = inbox
            .into_iter()
            .find(|e| e.item == renkei_delivery::RECEIPT_ITEM && e.document["document_id"] == document_id)
        {
            return Ok(Some(r));
        }
        if start.elapsed() > within {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
