//! Private delivery as pure logic: the document types senders deposit
//! (versioned JSON Schemas, checked by [`schema`]), senders and their
//! screening, the pairwise delivery handles that stand for a person at one
//! sender, and the checks a signed deposit passes before it is stored.
//! No I/O: the portal's service stores and serves what this crate decides.

mod deposit;
mod filing;
mod handle;
mod network;
pub mod schema;
mod sender;
mod store;
mod tax_input;
mod types;

pub use deposit::{
    CheckedDeposit, CheckedVoid, DEPOSIT_TYP, Decision, DepositRefusal, FEED_MAX_AGE_MS, FUTURE_SKEW_MS,
    MAX_DEPOSIT_BYTES, SenderRequest, StoredVersion, check_deposit, check_document_id, check_reference,
    decide,
};
pub use filing::{
    EARNINGS_FILING_TYPE, FILING_TYPE, FILING_TYPES, FiledReport, FilingError, MAX_FILING_LINES,
    parse_filing, parse_filing_of, split_record, split_report,
};
pub use handle::{DeliveryHandle, HandleKey};
pub use network::{
    MAILBOX_OFFICE_WORK, NetworkDocument, RECEIPT_ITEM, check_network_document, is_network_document_item,
    receipt_document,
};
pub use schema::{Schema, SchemaDefinitionError, SchemaViolation};
pub use sender::{Sender, SenderApplication, SenderEvent, SenderForm, SenderId, SenderKind};
pub use store::{DeliveryStore, Link, MailboxDocument, NetworkCursor, Receipt};
pub use tax_input::{DraftInput, DraftSource, draft_input};
pub use types::{DocumentType, DocumentTypeId, DocumentTypes, TypeDefinitionError, example_document};
