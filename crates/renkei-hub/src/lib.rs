//! The hub (情報提供ネットワークシステム) as pure logic.
//!
//! [`HubCore`] decides; it does no I/O. The HTTP layer pushes inputs in
//! (the peer certificate, the parsed request, directory entries, the clock)
//! and carries the decisions out (forwarding, storing through [`HubStore`],
//! answering). This keeps every security decision testable without sockets
//! and keeps the order of the steps — authenticate, authorise, translate,
//! forward, record, answer — in one readable place: `renkei-http`'s hub
//! handler.

mod core;
mod institution;
pub mod log;
pub mod person;
mod record;
mod replay;
mod store;

pub use crate::core::{Authorized, HubCore, HubPolicy, PeerInstitution, Rejected};
pub use institution::{Endpoint, Institution, InstitutionStatus};
pub use record::{LeafError, LogLeaf, Outcome, ProvisionRecord, RecordFilter, SecurityEvent, SubjectTag};
pub use replay::ReplayGuard;
pub use store::HubStore;

#[cfg(test)]
mod tests_core;
