//! Public senders' documents. The pension service's and the health
//! insurers' nodes push their certificates through the hub to the portal's
//! node (push rows of the permission table; sealed, signed, recorded and
//! logged as every push is). This task reads that node's inbox in order
//! and puts each document into the person's mailbox as a version of the
//! sender's document — replays and corrections settled by the same
//! [`renkei_delivery::decide`] as signed deposits — under a sender
//! registered from the network on its first delivery. It also sends each
//! first opening back to the public sender, as a `mailbox_receipt` push
//! from the portal's node (whose outbox retries until it is delivered).
//!
//! No link is asked of the person: a public body's certificate reaches
//! them as its notices do, on the legal basis of the push row; they may
//! delete it from the mailbox, and the sender keeps its own copy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use renkei_api::deliveries::{DeliveryRequest, DeliveryWire, InboxEntryWire};
use renkei_consent::{Actor, ClientStatus};
use renkei_delivery::{
    Decision, HandleKey, MAILBOX_OFFICE_WORK, MailboxDocument, NetworkCursor, RECEIPT_ITEM, Sender,
    SenderApplication, SenderEvent, SenderId, SenderKind, check_network_document, decide,
    is_network_document_item, receipt_document,
};
use renkei_ids::{CorporateNumber, LocalPersonId, QueryId};
use renkei_protocol::{StoreError, UnixMillis};

use crate::state::PortalState;

/// Inbox entries read at once.
const PAGE: u32 = 500;

/// Why a round stopped: it is tried again, from where it stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RoundError {
    #[error("the node: {0}")]
    Node(#[from] renkei_transport::ApiFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one inbox entry does not enter a mailbox: logged and counted, the
/// entry passed (the sender's node checked it before sending and the
/// portal's node before accepting, so this is a fault to investigate, not
/// a document waiting).
struct Skip(String);

/// Runs for the portal's lifetime: a round every `poll`, at once again
/// while rounds find a full page.
pub(crate) async fn run<S: crate::Store>(st: Arc<PortalState<S>>) {
    let Some(key) = st.handle_key.as_ref() else {
        return;
    };
    let poll = Duration::from_millis(st.settings.network_mail_poll_ms.max(10));
    loop {
        let busy = match round(&st, key).await {
            Ok(n) => n >= PAGE as usize,
            Err(e) => {
                metrics::counter!("renkei_portal_network_mail_failures_total").increment(1);
                tracing::warn!(error = %e, "public senders' documents: round failed; trying again");
                false
            }
        };
        if !busy {
            tokio::time::sleep(poll).await;
        }
    }
}

/// One round: import what the inbox holds past the cursor, then send the
/// receipts of first openings since the last round. How many inbox
/// entries it read.
pub(crate) async fn round<S: crate::Store>(
    st: &PortalState<S>,
    key: &HandleKey,
) -> Result<usize, RoundError> {
    let read = import(st, key).await?;
    send_receipts(st).await?;
    Ok(read)
}

async fn import<S: crate::Store>(st: &PortalState<S>, key: &HandleKey) -> Result<usize, RoundError> {
    let after = st.store.network_cursor(NetworkCursor::Inbox).await?;
    let entries: Vec<InboxEntryWire> = st
        .backend
        .node
        .get(&format!("/local/v1/inbox?after={after}&limit={PAGE}"))
        .await?;
    let mut senders = public_senders(st).await?;
    for e in &entries {
        if is_network_document_item(&e.item) {
            match import_entry(st, key, &mut senders, e).await? {
                Ok(outcome) => {
                    metrics::counter!("renkei_portal_network_documents_total", "outcome" => outcome)
                        .increment(1);
                }
                Err(Skip(reason)) => {
                    metrics::counter!("renkei_portal_network_documents_total", "outcome" => "refused")
                        .increment(1);
                    tracing::error!(
                        seq = e.seq,
                        sender = %e.sender,
                        delivery_id = %e.delivery_id,
                        item = %e.item,
                        reason = %renkei_transport::scrub(&reason),
                        "a public sender's document was not put in the mailbox"
                    );
                }
            }
        }
        st.store.set_network_cursor(NetworkCursor::Inbox, e.seq).await?;
    }
    Ok(entries.len())
}

/// The public senders registered so far, by institution.
async fn public_senders<S: crate::Store>(
    st: &PortalState<S>,
) -> Result<HashMap<CorporateNumber, Sender>, StoreError> {
    Ok(st
        .store
        .senders()
        .await?
        .into_iter()
        .filter(|s| s.app.kind.is_public())
        .map(|s| (s.app.corporate_number, s))
        .collect())
}

async fn import_entry<S: crate::Store>(
    st: &PortalState<S>,
    key: &HandleKey,
    senders: &mut HashMap<CorporateNumber, Sender>,
    e: &InboxEntryWire,
) -> Result<Result<&'static str, Skip>, StoreError> {
    let skip = |why: String| Ok(Err(Skip(why)));
    let (Ok(institution), Ok(person), Ok(record)) = (
        CorporateNumber::parse(&e.sender),
        LocalPersonId::parse(&e.local_id),
        QueryId::parse(&e.query_id),
    ) else {
        return skip("the inbox entry names no institution, person or record".into());
    };
    let checked = match check_network_document(
        &e.item,
        e.fiscal_year,
        &e.delivery_id,
        &e.document,
        &st.document_types,
    ) {
        Ok(c) => c,
        Err(r) => return skip(r.to_string()),
    };
    let Some(kind) = SenderKind::public_issuer_of(&e.item) else {
        return skip(format!("no public sender issues {}", e.item));
    };
    let sender = match senders.get(&institution) {
        Some(s) if s.app.kind != kind => {
            return skip(format!(
                "{institution} is registered as a {}, not a {}",
                s.app.kind.as_str(),
                kind.as_str()
            ));
        }
        Some(s) => s.clone(),
        None => {
            let s = register(st, institution, kind, &checked.type_id, e).await?;
            senders.insert(institution, s.clone());
            s
        }
    };
    if !sender.is_active() {
        return skip(format!("the sender is {}", sender.status.as_str()));
    }
    let handle = key.handle(&sender.id, &e.local_id);
    let deposit = match checked.into_deposit(e.delivery_id.clone(), handle, UnixMillis(e.received_at)) {
        Ok(d) => d,
        Err(r) => return skip(r.to_string()),
    };
    let same = st.store.document(&sender.id, &deposit.document_id).await?;
    let replaced = match &deposit.replaces {
        Some(r) => st.store.document(&sender.id, r).await?,
        None => None,
    };
    if let Some(old) = &replaced
        && old.person != person
    {
        return skip(format!(
            "replaces: {:?} was delivered for another person",
            old.document_id
        ));
    }
    let decision = decide(
        &deposit,
        same.as_ref().map(MailboxDocument::stored_version).as_ref(),
        replaced.as_ref().map(MailboxDocument::stored_version).as_ref(),
        true,
    );
    match decision {
        Ok(Decision::Replay { .. }) => Ok(Ok("replayed")),
        Ok(Decision::Store { version }) => {
            let doc = MailboxDocument {
                sender: sender.id.clone(),
                document_id: deposit.document_id,
                version,
                replaces: deposit.replaces,
                type_id: deposit.type_id,
                handle: deposit.handle,
                person,
                tax_year: deposit.tax_year,
                document: deposit.document,
                digest: deposit.digest,
                jws: String::new(),
                network_record: Some(record),
                deposited_at: UnixMillis(e.received_at),
                superseded_by: None,
                voided: None,
                opened_at: None,
                deleted_at: None,
            };
            if st.store.store_document(&doc).await? {
                tracing::info!(sender = %sender.id, delivery_id = %e.delivery_id, version, "public document in the mailbox");
                Ok(Ok(if version == 1 { "stored" } else { "corrected" }))
            } else {
                // Only this task stores a public sender's documents.
                skip("the document changed while it was stored".into())
            }
        }
        Err(r) => skip(r.to_string()),
    }
}

/// A public sender is registered, approved, on its first delivery: its
/// standing is the network's (its certificate and the push row), not an
/// application screened here.
async fn register<S: crate::Store>(
    st: &PortalState<S>,
    institution: CorporateNumber,
    kind: SenderKind,
    type_id: &renkei_delivery::DocumentTypeId,
    e: &InboxEntryWire,
) -> Result<Sender, StoreError> {
    let (name, name_en) = st.names.get(&institution).map_or_else(
        || (institution.to_string(), None),
        |(ja, en)| (ja.clone(), Some(en.clone())),
    );
    let now = UnixMillis::now();
    let mut sender = Sender::new(
        SenderId::from_random(renkei_ids::random_bytes()),
        SenderApplication {
            corporate_number: institution,
            name,
            name_en,
            kind,
            jwks: None,
            document_types: vec![type_id.clone()],
            contact: format!("network: institution {institution}"),
        },
        now,
    );
    sender.status = ClientStatus::Approved;
    let event = SenderEvent {
        subject: sender.id.clone(),
        at: now,
        actor: Actor::Administrator("network".into()),
        action: "registered_from_network".into(),
        from: None,
        to: ClientStatus::Approved,
        reason: Some(format!(
            "first delivery {} of {} through the hub (record {})",
            e.delivery_id, e.item, e.query_id
        )),
        previous_corporate_number: None,
    };
    st.store.insert_sender(&sender, &event).await?;
    tracing::info!(sender = %sender.id, %institution, kind = kind.as_str(), "public sender registered from the network");
    Ok(sender)
}

/// The delivery id of the receipt of `document_id`, version `version`, of
/// `institution`: the same each time, so that sending it again is a
/// replay at the portal's node, not a second receipt.
fn receipt_id(institution: CorporateNumber, document_id: &str, version: u32) -> String {
    let digest = renkei_crypto::sha256(&[
        institution.to_string().as_bytes(),
        document_id.as_bytes(),
        &version.to_be_bytes(),
    ]);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("rcpt:{hex}")
}

/// Hand the portal's node a receipt for every first opening of a public
/// sender's document since the cursor (which repeats its boundary: a
/// receipt handed again is answered as it stands).
async fn send_receipts<S: crate::Store>(st: &PortalState<S>) -> Result<(), RoundError> {
    let since = st.store.network_cursor(NetworkCursor::Receipts).await?;
    let since = UnixMillis(i64::try_from(since).unwrap_or(i64::MAX));
    let mut next: Option<i64> = None;
    let mut capped: Option<i64> = None;
    for sender in public_senders(st).await?.into_values() {
        let receipts = st.store.receipts(&sender.id, since, PAGE).await?;
        for r in &receipts {
            let Some(doc) = st.store.document(&sender.id, &r.document_id).await? else {
                continue;
            };
            let request = DeliveryRequest {
                delivery_id: receipt_id(sender.app.corporate_number, &r.document_id, r.version),
                local_id: doc.person.to_string(),
                recipient: sender.app.corporate_number.to_string(),
                office_work: MAILBOX_OFFICE_WORK.into(),
                item: RECEIPT_ITEM.into(),
                fiscal_year: None,
                document: receipt_document(&r.document_id, r.version, r.opened_at),
            };
            let _: DeliveryWire = st.backend.node.post("/local/v1/deliveries", &request).await?;
            metrics::counter!("renkei_portal_network_receipts_total").increment(1);
            next = Some(next.map_or(r.opened_at.0, |n| n.max(r.opened_at.0)));
        }
        // A full page may have more at its last time: go on from there.
        if receipts.len() >= PAGE as usize
            && let Some(last) = receipts.last()
        {
            capped = Some(capped.map_or(last.opened_at.0, |c| c.min(last.opened_at.0)));
        }
    }
    if let Some(n) = next {
        let to = capped.map_or(n, |c| c.min(n));
        st.store
            .set_network_cursor(NetworkCursor::Receipts, u64::try_from(to).unwrap_or(0))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_id_is_stable_fits_a_delivery_id_and_differs_per_document_and_sender() {
        let a = CorporateNumber::parse("3011105004155").unwrap();
        let id = receipt_id(a, "np-2025-0001", 1);
        assert_eq!(id, receipt_id(a, "np-2025-0001", 1));
        assert_ne!(id, receipt_id(a, "np-2025-0001", 2));
        assert_ne!(id, receipt_id(a, "np-2025-0002", 1));
        assert!(id.len() <= 64 && id.starts_with("rcpt:"), "{id}");
        assert!(renkei_delivery::check_document_id(&id).is_ok());
    }
}
