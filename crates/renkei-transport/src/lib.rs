//! How roles talk to each other and to their operators.
//!
//! Each role has a network surface (mutual TLS, role-to-role, JSON over
//! HTTP/2 or HTTP/1.1) and an operator surface (server-authenticated TLS and
//! a bearer credential: the hub's and registry's admin APIs, a node's local
//! API for its business systems). They listen on different sockets, so a
//! credential for one never opens the other (least privilege).
//!
//! This crate holds what every role's service shares: the servers and their
//! listener limits, the peer's certified identity, the clients, settings and
//! token files, and [`ApiError`], which logs the internals and shows the
//! caller a stable code and a safe message. It knows no role: the services
//! (`renkei-*-service`) build on it.

pub mod balancer;
pub mod certified;
mod client;
mod error;
mod listener;
mod metrics_util;
mod peer;
mod server;
mod settings;

pub use client::{ApiFailure, Expect, LocalClient, NetClient, PublicClient};
pub use error::{ApiError, JsonBody, QueryParams, SetupError, scrub};
pub use listener::ListenerLimits;
pub use metrics_util::{install_metrics, render_metrics, track};
pub use peer::{Peer, require_peer};
pub use server::{
    RoleListeners, RunningServer, TrustState, serve_plain_limited, serve_role, serve_tls, serve_tls_limited,
};
pub use settings::{
    AdminToken, MIN_TOKEN_BITS, TlsFiles, default_crl_poll_secs, default_skew_secs, default_timeout_ms,
    load_sealing_key, load_sealing_public, load_signing_key, load_verifying_key, read_admin_token, read_text,
    read_token_file, require_token, token_weakness,
};
