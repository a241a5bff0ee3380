//! The linkage protocol, independent of any transport.
//!
//! A linkage is four signed messages:
//!
//! ```text
//! requester ──SignedRequest──▶ hub ──SignedForward──▶ provider
//! requester ◀──HubReply(SignedAnswer + SignedReceipt)── hub ◀──SignedAnswer── provider
//! ```
//!
//! Each message has one canonical byte encoding ([`canon`]) that is what
//! gets signed, so the JSON the HTTP layer uses is never itself signed and
//! can change without breaking signatures.
//!
//! The hub is trusted to translate codes and to check the permission table,
//! and for nothing else: the provider receives the requester's own signed
//! request (without the requester's code for the person, which only the hub
//! reads) and the requester's certificate, and seals its answer in HPKE auth
//! mode to the sealing key that certificate certifies; the requester checks
//! the provider's signature and opens the envelope with the provider's
//! certified key. Keys come from certificates the network CA issued
//! ([`CertifiedParty`]), never from the hub, so a hub that substitutes keys,
//! invents a request or forges an answer is refused at the node.

pub mod canon;
mod denial;
mod messages;
mod own_record;
mod person_proof;
mod time_util;

pub use denial::{Denial, DenialCode, FINAL_PROVIDER_REFUSALS};
pub use messages::{
    AnswerPayload, CertifiedParty, ConsentRef, FiscalYear, ForwardedQuery, HubReceipt, LinkageAnswer,
    LinkageRequest, ReplyError, RequestCore, RequestView, SignedAnswer, SignedForward, SignedReceipt,
    SignedRequest, VerifiedAnswer,
};
pub use own_record::{NodeRecord, NodeRole, RecordOutcome};
pub use person_proof::{PersonProof, ProofError, ProofPurpose, SignedPersonProof};
pub use time_util::{UnixMillis, date_of};
mod code_delivery;
mod store_error;
pub mod strict_json;

pub use code_delivery::{CodeDelivery, DeliveredCode};
pub use store_error::StoreError;
