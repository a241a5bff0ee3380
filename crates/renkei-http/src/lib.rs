//! HTTP for every role.
//!
//! Each role has a network surface (mutual TLS, role-to-role, JSON over
//! HTTP/2 or HTTP/1.1) and an operator surface (server-authenticated TLS and
//! a bearer credential: the hub's and registry's admin APIs, a node's local
//! API for its business systems). They listen on different sockets, so a
//! credential for one never opens the other (least privilege).
//!
//! Only this crate knows the JSON wire types ([`wire`]); handlers convert
//! them to domain types at the edge and hand them to the role crates'
//! logic, which decides. Errors leave through [`ApiError`], which logs the
//! internals and shows the caller a stable code and a safe message.

pub mod audit;
pub mod balancer;
pub mod certified;
pub mod client;
mod error;
pub mod hub;
pub mod hub_log;
mod listener;
mod metrics_util;
pub mod node;
pub mod node_card;
pub mod notices;
mod peer;
mod provider;
pub mod registry;
pub mod registry_card;
mod server;
mod settings;
pub mod wire;
pub mod witness;

pub use client::{ApiFailure, Expect, LocalClient, NetClient, PublicClient};
pub use error::{ApiError, JsonBody, SetupError};
pub use listener::ListenerLimits;
pub use metrics_util::{install_metrics, track};
pub use peer::Peer;
pub use server::{RunningServer, TrustState, serve_plain_limited, serve_tls, serve_tls_limited};
pub use settings::{
    AdminToken, MIN_TOKEN_BITS, TlsFiles, read_admin_token, read_token_file, require_token, token_weakness,
};
