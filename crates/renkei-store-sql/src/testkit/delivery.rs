//! Private delivery's store (in the portal's store): senders and their
//! events, links, and documents with their versions, voids and receipts.

use renkei_consent::{Actor, ClientAction, ClientStatus, apply};
use renkei_delivery::{
    DeliveryHandle, DeliveryStore, DocumentTypeId, HandleKey, MailboxDocument, NetworkCursor, Sender,
    SenderApplication, SenderEvent, SenderId, SenderKind,
};
use renkei_ids::LocalPersonId;
use renkei_jose::{Alg, Jwks, SigningKey};
use renkei_protocol::UnixMillis;
use serde_json::json;

use super::{Backend, corp, place};

const T0: i64 = 1_767_000_000_000;

fn sender(n: u8) -> Sender {
    let key = SigningKey::generate(Alg::Es256).unwrap();
    Sender::new(
        SenderId::from_random([n; 16]),
        SenderApplication {
            corporate_number: corp(2_000_000 + u64::from(n)),
            name: "あおば生命保険株式会社".into(),
            name_en: Some("Aoba Life".into()),
            kind: SenderKind::LifeInsurer,
            jwks: Some(Jwks {
                keys: vec![key.public_jwk().clone()],
            }),
            document_types: vec![DocumentTypeId::new("life_insurance_certificate", 1)],
            contact: "delivery@aoba-life.example".into(),
        },
        UnixMillis(T0),
    )
}

fn person(s: &str) -> LocalPersonId {
    LocalPersonId::parse(s).unwrap()
}

fn document(s: &Sender, handle: &DeliveryHandle, who: &str, id: &str, version: u32) -> MailboxDocument {
    MailboxDocument {
        sender: s.id.clone(),
        document_id: id.into(),
        version,
        replaces: None,
        type_id: DocumentTypeId::new("life_insurance_certificate", 1),
        handle: handle.clone(),
        person: person(who),
        tax_year: 2025,
        document: json!({"tax_year": 2025, "annual_premium": 80_000 + version}),
        digest: [version as u8; 32],
        jws: format!("header.payload-{id}.signature"),
        network_record: None,
        deposited_at: UnixMillis(T0 + i64::from(version)),
        superseded_by: None,
        voided: None,
        opened_at: None,
        deleted_at: None,
    }
}

async fn delivery_store_behaves<S: DeliveryStore>(s: &S) {
    let admin = || Actor::Administrator("screening".into());
    // Senders and their screening, every change an event.
    let a = sender(1);
    s.insert_sender(&a, &SenderEvent::applied(&a)).await.unwrap();
    assert_eq!(s.sender(&a.id).await.unwrap().as_ref(), Some(&a));
    let (approved, event) = apply(&a, &ClientAction::Approve, admin(), UnixMillis(T0 + 1)).unwrap();
    assert!(
        s.update_sender(&approved, ClientStatus::Applied, &event)
            .await
            .unwrap()
    );
    // A second administrator acting on the stale status loses.
    assert!(
        !s.update_sender(&approved, ClientStatus::Applied, &event)
            .await
            .unwrap()
    );
    assert_eq!(s.sender(&a.id).await.unwrap().unwrap(), approved);
    let events = s.sender_events(&a.id).await.unwrap();
    assert_eq!(events, vec![SenderEvent::applied(&a), event]);
    let b = sender(2);
    s.insert_sender(&b, &SenderEvent::applied(&b)).await.unwrap();
    assert_eq!(s.senders().await.unwrap().len(), 2);
    assert!(s.sender(&SenderId::from_random([9; 16])).await.unwrap().is_none());

    // Links: by handle, ended and made again.
    let key = HandleKey::from_bytes([5; 32]);
    let alice = person("p-alice");
    let h = key.handle(&a.id, "p-alice");
    assert_eq!(s.linked_person(&a.id, &h).await.unwrap(), None);
    s.link(&a.id, &alice, &h, Some("EMP-0042"), UnixMillis(T0 + 2))
        .await
        .unwrap();
    assert_eq!(s.linked_person(&a.id, &h).await.unwrap(), Some(alice.clone()));
    // The same handle means nothing at another sender.
    assert_eq!(s.linked_person(&b.id, &h).await.unwrap(), None);
    assert!(s.unlink(&a.id, &alice, UnixMillis(T0 + 3)).await.unwrap());
    assert!(!s.unlink(&a.id, &alice, UnixMillis(T0 + 4)).await.unwrap());
    assert_eq!(s.linked_person(&a.id, &h).await.unwrap(), None);
    let links = s.links(&alice).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].unlinked_at, Some(UnixMillis(T0 + 3)));
    assert_eq!(links[0].reference.as_deref(), Some("EMP-0042"));
    // The sender's feed sees the link end, then made again.
    let feed = s.sender_links(&a.id, UnixMillis(T0 + 3), 10).await.unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].handle, h);
    assert_eq!(feed[0].unlinked_at, Some(UnixMillis(T0 + 3)));
    assert!(
        s.sender_links(&a.id, UnixMillis(T0 + 4), 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.link(&a.id, &alice, &h, None, UnixMillis(T0 + 5)).await.unwrap();
    assert_eq!(s.links(&alice).await.unwrap()[0].unlinked_at, None);
    let feed = s.sender_links(&a.id, UnixMillis(T0 + 4), 10).await.unwrap();
    assert_eq!(
        (feed[0].linked_at, feed[0].reference.clone()),
        (UnixMillis(T0 + 5), None)
    );
    assert!(s.sender_links(&b.id, UnixMillis(0), 10).await.unwrap().is_empty());
    assert_eq!(s.sender_links(&a.id, UnixMillis(0), 0).await.unwrap().len(), 0);

    // Documents: an id once per sender, corrections of the latest only.
    let first = document(&a, &h, "p-alice", "LI-1", 1);
    assert!(s.store_document(&first).await.unwrap());
    assert!(
        !s.store_document(&first).await.unwrap(),
        "a document id is taken once"
    );
    assert_eq!(s.document(&a.id, "LI-1").await.unwrap().as_ref(), Some(&first));
    let mut fix = document(&a, &h, "p-alice", "LI-2", 2);
    fix.replaces = Some("LI-1".into());
    assert!(s.store_document(&fix).await.unwrap());
    let old = s.document(&a.id, "LI-1").await.unwrap().unwrap();
    assert_eq!(old.superseded_by.as_deref(), Some("LI-2"));
    assert!(!old.is_current() && old.stored_version().superseded);
    // A second correction of the superseded version is refused, whole.
    let mut late = document(&a, &h, "p-alice", "LI-3", 2);
    late.replaces = Some("LI-1".into());
    assert!(!s.store_document(&late).await.unwrap());
    assert!(
        s.document(&a.id, "LI-3").await.unwrap().is_none(),
        "nothing half-stored"
    );
    // A batch is stored whole or not at all.
    let batch: Vec<MailboxDocument> = (10..13)
        .map(|n| document(&a, &h, "p-alice", &format!("LI-B{n}"), 1))
        .collect();
    let mut spoilt = batch.clone();
    spoilt.push(first.clone());
    assert!(!s.store_documents(&spoilt).await.unwrap());
    assert!(
        s.document(&a.id, "LI-B10").await.unwrap().is_none(),
        "all or nothing"
    );
    assert!(s.store_documents(&batch).await.unwrap());
    assert_eq!(
        s.document(&a.id, "LI-B12").await.unwrap().as_ref(),
        Some(&batch[2])
    );
    assert!(s.store_documents(&[]).await.unwrap());

    // A void, once; the mailbox shows every version; opening is recorded once.
    assert!(
        s.void_document(&a.id, "LI-2", "wrong policyholder", UnixMillis(T0 + 9))
            .await
            .unwrap()
    );
    assert!(
        !s.void_document(&a.id, "LI-2", "again", UnixMillis(T0 + 10))
            .await
            .unwrap()
    );
    let voided = s.document(&a.id, "LI-2").await.unwrap().unwrap();
    assert_eq!(
        voided.voided,
        Some((UnixMillis(T0 + 9), "wrong policyholder".into()))
    );
    let mut other_year = document(&a, &h, "p-alice", "LI-2024", 1);
    other_year.tax_year = 2024;
    assert!(s.store_document(&other_year).await.unwrap());
    let mailbox = s.mailbox(&alice).await.unwrap();
    let ids: Vec<&str> = mailbox.iter().map(|d| d.document_id.as_str()).collect();
    // Newest tax year first, then by deposit time (the batch came at T0 + 1).
    assert_eq!(ids, ["LI-1", "LI-B10", "LI-B11", "LI-B12", "LI-2", "LI-2024"]);
    assert!(s.mailbox(&person("p-bob")).await.unwrap().is_empty());

    let opened = s
        .open_document(&alice, &a.id, "LI-1", UnixMillis(T0 + 20))
        .await
        .unwrap();
    assert_eq!(opened.unwrap().opened_at, Some(UnixMillis(T0 + 20)));
    let again = s
        .open_document(&alice, &a.id, "LI-1", UnixMillis(T0 + 30))
        .await
        .unwrap();
    assert_eq!(
        again.unwrap().opened_at,
        Some(UnixMillis(T0 + 20)),
        "the first opening is the receipt"
    );
    // Another person cannot open it, and opening nothing records nothing.
    assert!(
        s.open_document(&person("p-bob"), &a.id, "LI-1", UnixMillis(T0 + 40))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.open_document(&alice, &a.id, "LI-none", UnixMillis(T0 + 40))
            .await
            .unwrap()
            .is_none()
    );
    // The sender sees the receipt.
    let receipts = s.receipts(&a.id, UnixMillis(T0 + 20), 10).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        (
            receipts[0].document_id.as_str(),
            receipts[0].version,
            receipts[0].opened_at
        ),
        ("LI-1", 1, UnixMillis(T0 + 20))
    );
    assert!(
        s.receipts(&a.id, UnixMillis(T0 + 21), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.receipts(&b.id, UnixMillis(0), 10).await.unwrap().is_empty());

    // Deleting erases the content from the mailbox; the id stays taken.
    assert!(
        !s.delete_document(&person("p-bob"), &a.id, "LI-B10", UnixMillis(T0 + 50))
            .await
            .unwrap()
    );
    assert!(
        s.delete_document(&alice, &a.id, "LI-B10", UnixMillis(T0 + 50))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_document(&alice, &a.id, "LI-B10", UnixMillis(T0 + 51))
            .await
            .unwrap()
    );
    let gone = s.document(&a.id, "LI-B10").await.unwrap().unwrap();
    assert_eq!(gone.deleted_at, Some(UnixMillis(T0 + 50)));
    assert_eq!(
        (gone.document.clone(), gone.jws.as_str()),
        (serde_json::Value::Null, "")
    );
    assert_eq!(gone.digest, batch[0].digest, "a replay is still known");
    assert!(!s.store_document(&batch[0]).await.unwrap());
    assert!(
        !s.mailbox(&alice)
            .await
            .unwrap()
            .iter()
            .any(|d| d.document_id == "LI-B10")
    );
    assert!(
        s.open_document(&alice, &a.id, "LI-B10", UnixMillis(T0 + 52))
            .await
            .unwrap()
            .is_none()
    );

    // A public sender: no keys of its own; its documents keep the hub's
    // record of the push that carried them, and the inbox cursor moves.
    let mut pension = sender(3);
    pension.app.kind = SenderKind::PensionService;
    pension.app.jwks = None;
    s.insert_sender(&pension, &SenderEvent::applied(&pension))
        .await
        .unwrap();
    assert_eq!(s.sender(&pension.id).await.unwrap().unwrap().app.jwks, None);
    let record = renkei_ids::QueryId::random();
    let mut np = document(
        &pension,
        &key.handle(&pension.id, "p-alice"),
        "p-alice",
        "np-2025",
        1,
    );
    np.jws = String::new();
    np.network_record = Some(record);
    assert!(s.store_document(&np).await.unwrap());
    assert_eq!(s.document(&pension.id, "np-2025").await.unwrap().unwrap(), np);
    assert_eq!(s.network_cursor(NetworkCursor::Inbox).await.unwrap(), 0);
    s.set_network_cursor(NetworkCursor::Inbox, 41).await.unwrap();
    s.set_network_cursor(NetworkCursor::Inbox, 42).await.unwrap();
    s.set_network_cursor(NetworkCursor::Receipts, T0 as u64)
        .await
        .unwrap();
    assert_eq!(s.network_cursor(NetworkCursor::Inbox).await.unwrap(), 42);
    assert_eq!(
        s.network_cursor(NetworkCursor::Receipts).await.unwrap(),
        T0 as u64
    );
}

/// The delivery suite; opening the store again keeps everything.
pub async fn behaves<B: Backend>() {
    let Some(place) = place::<B>("delivery").await else {
        return;
    };
    let s = place.portal().await.unwrap();
    delivery_store_behaves(&s).await;
    let again = place.portal().await.unwrap();
    assert_eq!(again.senders().await.unwrap().len(), 3);
    assert_eq!(
        again.mailbox(&person("p-alice")).await.unwrap().len(),
        6,
        "seven stored, one deleted"
    );
    assert_eq!(again.network_cursor(NetworkCursor::Inbox).await.unwrap(), 42);
}
