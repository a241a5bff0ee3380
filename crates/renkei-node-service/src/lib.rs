//! An institution node as a service: `/v1/provide` for the hub on the
//! mutual-TLS listener (the provider's half of a linkage, from
//! `renkei-provider`), and on its own listener the local API for the
//! institution's business systems: enrolment, queries (the requester's
//! half), item imports, cards, notices, deliveries (pushes through a
//! durable outbox, and the inbox of what others delivered), and — at the
//! tax agency's node — statutory filings routed to the municipalities.
//!
//! API boundary: [`start_node`] and its settings; the wire types are in
//! `renkei-api`.

mod card;
mod deliveries;
mod filings;
mod node;
mod notices;

pub use deliveries::DeliverySettings;
pub use filings::FilingSettings;
pub use node::{NodeSettings, RunningNode, start_node};
