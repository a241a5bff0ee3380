//! The wire types and constants two roles share: what crosses a socket,
//! in JSON. Binary values are unpadded base64url; identifiers are their
//! text forms; every conversion to a domain type names the field at fault.
//!
//! A service converts these to domain types at its edge and hands them to
//! its role's logic; a client (another role, the portal, the CLI, the
//! demo) builds them without linking any server.
//!
//! - [`net`]: the role-to-role envelopes (signed requests, forwards and
//!   answers, code issuance, proofs).
//! - [`hub`]: the hub's admin API.
//! - [`log`]: the public provision log and a person's view of it, with
//!   the checks a person's client makes of its proofs.
//! - [`node`]: a node's local API for business systems and the portal.
//! - [`registry`] and [`card`]: the registry's admin API and card PKI.
//! - [`notices`] and [`witness`].
//! - [`deliveries`]: a node's outbox and inbox of pushed documents.
//! - [`filings`]: statutory filings at the tax agency's node.

pub mod card;
pub mod deliveries;
pub mod filings;
pub mod hub;
pub mod log;
pub mod net;
pub mod node;
pub mod notices;
pub mod registry;
pub mod witness;
