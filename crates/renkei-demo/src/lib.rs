//! `renkei demo`: a whole small country on loopback.
//!
//! [`network::Network`] provisions and starts the registry, the hub and
//! seven institution nodes as real mutual-TLS servers with their own stores
//! (SQLite files, or schemas of one PostgreSQL database); [`country`] fills
//! them with a synthetic population (`renkei_population`) through the real
//! APIs; [`scenarios`] runs the network's linkages and checks each behaved
//! as it must. The whole-network tests (`renkei-testnet`) and the
//! benchmarks start the same network.

pub mod cards;
pub mod country;
pub mod delivery;
pub mod demo;
pub mod examples;
pub mod filing;
pub mod institutions;
pub mod load;
pub mod network;
pub mod processes;
pub mod public_mail;
pub mod resident;
pub mod scenarios;
