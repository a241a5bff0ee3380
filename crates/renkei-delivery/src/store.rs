//! What private delivery keeps, in the portal's store: senders and their
//! events, links (person ↔ sender, by handle), and the deposited
//! documents with their versions.

use std::future::Future;

use renkei_consent::ClientStatus;
use renkei_ids::{LocalPersonId, QueryId};
use renkei_protocol::{StoreError, UnixMillis};
use serde_json::Value;

use crate::deposit::StoredVersion;
use crate::handle::DeliveryHandle;
use crate::sender::{Sender, SenderEvent, SenderId};
use crate::types::DocumentTypeId;

/// A deposited document, one version of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MailboxDocument {
    pub sender: SenderId,
    pub document_id: String,
    pub version: u32,
    /// The sender's document id this one corrects.
    pub replaces: Option<String>,
    pub type_id: DocumentTypeId,
    pub handle: DeliveryHandle,
    pub person: LocalPersonId,
    pub tax_year: u16,
    pub document: Value,
    pub digest: [u8; 32],
    /// The sender's signed deposit, kept as evidence; empty for a public
    /// sender's document (and once the person deleted the document).
    pub jws: String,
    /// A public sender's document: the hub's record of the push that
    /// carried it (its query id), whose log leaf shows which node sent it.
    pub network_record: Option<QueryId>,
    pub deposited_at: UnixMillis,
    /// The document id of the correction that replaced this one.
    pub superseded_by: Option<String>,
    pub voided: Option<(UnixMillis, String)>,
    /// When the person first opened it: the delivery receipt.
    pub opened_at: Option<UnixMillis>,
    /// When the person deleted it from their mailbox: the content is gone,
    /// what makes the sender's document id taken stays.
    pub deleted_at: Option<UnixMillis>,
}

impl MailboxDocument {
    /// As [`crate::decide`] sees it.
    pub fn stored_version(&self) -> StoredVersion {
        StoredVersion {
            document_id: self.document_id.clone(),
            type_id: self.type_id.clone(),
            handle: self.handle.clone(),
            version: self.version,
            digest: self.digest,
            superseded: self.superseded_by.is_some(),
            voided: self.voided.is_some(),
        }
    }

    /// The latest version, not voided: what the draft return reads.
    pub fn is_current(&self) -> bool {
        self.superseded_by.is_none() && self.voided.is_none()
    }
}

/// A person's link to a sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub sender: SenderId,
    pub person: LocalPersonId,
    pub handle: DeliveryHandle,
    /// What the sender knows the person by (employee or customer number),
    /// as the person gave it when linking.
    pub reference: Option<String>,
    pub linked_at: UnixMillis,
    pub unlinked_at: Option<UnixMillis>,
}

/// A delivery receipt: the person opened a document for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub document_id: String,
    pub version: u32,
    pub handle: DeliveryHandle,
    pub opened_at: UnixMillis,
}

/// The portal's two places in what public senders deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkCursor {
    /// The last sequence number of its node's inbox it imported.
    Inbox,
    /// The first opening (milliseconds) up to which it sent receipts back.
    Receipts,
}

impl NetworkCursor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbox => "inbox",
            Self::Receipts => "receipts",
        }
    }
}

/// Implementations: the portal's store, on both backends.
pub trait DeliveryStore: Send + Sync + 'static {
    /// A new application and its `applied` event, together.
    fn insert_sender(
        &self,
        s: &Sender,
        event: &SenderEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn sender(&self, id: &SenderId) -> impl Future<Output = Result<Option<Sender>, StoreError>> + Send;

    fn senders(&self) -> impl Future<Output = Result<Vec<Sender>, StoreError>> + Send;

    /// Store `next` and its event only if the sender is still `expected`.
    fn update_sender(
        &self,
        next: &Sender,
        expected: ClientStatus,
        event: &SenderEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every change of a sender, oldest first.
    fn sender_events(
        &self,
        id: &SenderId,
    ) -> impl Future<Output = Result<Vec<SenderEvent>, StoreError>> + Send;

    /// Link `person` to `sender` under `handle` (again, if they unlinked),
    /// with the reference the sender knows them by.
    fn link(
        &self,
        sender: &SenderId,
        person: &LocalPersonId,
        handle: &DeliveryHandle,
        reference: Option<&str>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// End a link; `false` if there was none in force.
    fn unlink(
        &self,
        sender: &SenderId,
        person: &LocalPersonId,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The person `handle` stands for at `sender`, if the link is in force.
    fn linked_person(
        &self,
        sender: &SenderId,
        handle: &DeliveryHandle,
    ) -> impl Future<Output = Result<Option<LocalPersonId>, StoreError>> + Send;

    /// A person's links, in force or ended.
    fn links(&self, person: &LocalPersonId) -> impl Future<Output = Result<Vec<Link>, StoreError>> + Send;

    /// A sender's links made or ended at or after `since`, oldest change
    /// first, at most `limit`.
    fn sender_links(
        &self,
        sender: &SenderId,
        since: UnixMillis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Link>, StoreError>> + Send;

    /// A sender's documents first opened at or after `since`, oldest
    /// first, at most `limit`.
    fn receipts(
        &self,
        sender: &SenderId,
        since: UnixMillis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Receipt>, StoreError>> + Send;

    /// The sender's document with this id.
    fn document(
        &self,
        sender: &SenderId,
        document_id: &str,
    ) -> impl Future<Output = Result<Option<MailboxDocument>, StoreError>> + Send;

    /// Store a decided deposit; when it replaces a document, mark that one
    /// superseded — together, and only if the id is still free and the
    /// replaced document still the latest and not voided (`false`
    /// otherwise: decide again).
    fn store_document(&self, doc: &MailboxDocument) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Store many decided deposits in one transaction, each as
    /// [`store_document`](Self::store_document) would: all of them, or
    /// (`false`) none.
    fn store_documents(
        &self,
        docs: &[MailboxDocument],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The sender withdraws its document; `false` if there is none or it
    /// was voided already.
    fn void_document(
        &self,
        sender: &SenderId,
        document_id: &str,
        reason: &str,
        at: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every version in a person's mailbox they have not deleted, newest
    /// tax year first, then in the order deposited.
    fn mailbox(
        &self,
        person: &LocalPersonId,
    ) -> impl Future<Output = Result<Vec<MailboxDocument>, StoreError>> + Send;

    /// The person opens one of their documents: the first opening is
    /// recorded (the delivery receipt the sender sees).
    fn open_document(
        &self,
        person: &LocalPersonId,
        sender: &SenderId,
        document_id: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<MailboxDocument>, StoreError>> + Send;

    /// How far the portal has gone through what public senders deliver
    /// (0 before anything).
    fn network_cursor(&self, cursor: NetworkCursor) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn set_network_cursor(
        &self,
        cursor: NetworkCursor,
        after: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The person deletes a version of a document from their mailbox: its
    /// content and the signed deposit are erased, the sender keeps its own
    /// copy. `false` if there was nothing of theirs left to delete.
    fn delete_document(
        &self,
        person: &LocalPersonId,
        sender: &SenderId,
        document_id: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
