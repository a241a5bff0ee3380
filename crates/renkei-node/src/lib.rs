//! An institution node (中間サーバー) as pure logic.
//!
//! A node holds copies of the items its institution offers, keyed by the
//! institution's own person id, and the institution code of each enrolled
//! person. It never stores a My Number: the business system passes one
//! through at enrolment, the node forwards it to the registry and keeps only
//! the code that comes back.

pub mod at_rest;
mod deliveries;
mod enrolment;
mod filings;
mod identity;
mod import;
mod linkage;
mod model;
mod store;

pub use deliveries::{
    AttemptOutcome, DeliveryContent, DeliveryId, DeliveryStatus, Enqueued, IncomingDelivery,
    MAX_DOCUMENT_BYTES, OutgoingDelivery, backoff_ms, check_document,
};
pub use enrolment::{ENROLMENT_FIELDS, EnrolmentRow, parse_enrolment};
pub use filings::{
    FiledReport, Filing, FilingCounts, FilingId, FilingInsert, FilingType, ReportRoute, january_municipality,
    report_delivery_id,
};
pub use identity::NodeIdentity;
pub use import::{ImportError, ImportFormat, ImportReport, ParsedImport, RowError, parse_import};
pub use linkage::{
    Ask, ProvideError, answer_forward, build_request, check_forward, payload_of, provider_record,
    refused_forward_record,
};
pub use model::{EnrolledPerson, ItemValue, Notice, NoticeTextError, check_notice_text};
pub use renkei_protocol::{NodeRecord, NodeRole, RecordOutcome};
pub use store::{NodeCounts, NodeStore};
