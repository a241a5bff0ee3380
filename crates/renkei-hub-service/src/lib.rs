//! The hub as a service: the linkage relay and code service on the
//! mutual-TLS listener, the institution directory and provision records on
//! the admin listener, and the public provision log (tiles, checkpoints
//! cosigned by witnesses, a person's records with their proofs, retention).
//! [`audit`] checks such a log from the outside, as anyone may.
//!
//! API boundary: [`start_hub`] and its settings; the wire types are in
//! `renkei-api`.

pub mod audit;
mod hub;
mod log;

pub use hub::{HubSettings, RunningHub, check_catalog, start_hub, write_sample_catalog};
pub use log::{LogSettings, WitnessPeer, prune_for_retention, prune_older_than};
