//! The resident registry as a service: code issuance and the four facts
//! on the mutual-TLS listener (it provides them like any institution, with
//! `renkei-provider`), resident registration and changes on the admin
//! listener, and the card PKI: issuance, status, resolution and the public
//! CRL and challenge endpoints.
//!
//! API boundary: [`start_registry`] and its settings, and [`certify_card`]
//! for the CLI; the wire types are in `renkei-api`.

mod card;
mod registry;

pub use card::{CardSettings, CertifyError, certify_card};
pub use registry::{MismatchLimit, RegistrySettings, RunningRegistry, start_registry};
