//! The linkage protocol, independent of any transport.
//!
//! A linkage is four signed messages (DESIGN.md §3.2):
//!
//! ```text
//! requester ──SignedRequest──▶ hub ──SignedForward──▶ provider
//! requester ◀──HubReply(SignedAnswer + SignedReceipt)── hub ◀──SignedAnswer── provider
//! ```
//!
//! Each message has one canonical byte encoding ([`canon`]) that is what
//! gets signed, so the JSON the HTTP layer uses is never itself signed and
//! can change without breaking signatures. The answer is an HPKE envelope to
//! the requester whose associated data carries the digest of the requester's
//! signed request: the hub can forward it but neither read it nor attach it
//! to another request.

pub mod canon;
mod denial;
mod messages;
mod own_record;
mod time_util;

pub use denial::{Denial, DenialCode};
pub use messages::{
    AnswerPayload, ConsentRef, FiscalYear, ForwardedQuery, HubReceipt, LinkageAnswer, LinkageRequest,
    SignedAnswer, SignedForward, SignedReceipt, SignedRequest, VerifiedAnswer,
};
pub use own_record::{NodeRecord, NodeRole, RecordOutcome};
pub use time_util::{UnixMillis, date_of};
mod code_delivery;
mod store_error;

pub use code_delivery::{CodeDelivery, DeliveredCode};
pub use store_error::StoreError;
