use std::net::SocketAddr;
use std::path::PathBuf;

use renkei_ids::CorporateNumber;
use serde::{Deserialize, Serialize};

fn default_idle() -> u64 {
    15 * 60
}
fn default_max() -> u64 {
    4 * 3600
}
fn default_challenge() -> u64 {
    300
}
fn default_crl_poll() -> u64 {
    60
}
fn default_sweep() -> u64 {
    30
}
fn default_per_address() -> usize {
    30
}
fn default_total() -> usize {
    50_000
}

/// Configuration of `renkei portal serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    /// The pages and the card app's API. Plain HTTP only on a loopback
    /// address (browsers treat `http://localhost` as a secure context);
    /// anything else needs `tls`.
    pub listen: SocketAddr,
    /// The administrators' API (guardianships), bearer token.
    pub admin_listen: SocketAddr,
    /// The origin people use, e.g. `https://portal.example.jp` or
    /// `http://localhost:8080`; what cards sign and `Origin` headers must
    /// match. Derived from the bound address when absent.
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub tls: Option<renkei_transport::TlsFiles>,
    /// The Digital Agency node's local API, whose business system the
    /// portal is.
    pub node_url: String,
    pub node_token: PathBuf,
    /// The network CA: it signs the node's, the registry's and the hub's
    /// server certificates.
    pub network_ca: PathBuf,
    /// The registry's card listener (CA certificates and CRLs).
    pub card_url: String,
    /// The hub's public log, e.g. `https://hub:port/log`.
    pub log_url: String,
    pub catalog: PathBuf,
    pub admin_token: PathBuf,
    #[serde(default = "default_idle")]
    pub session_idle_secs: u64,
    #[serde(default = "default_max")]
    pub session_max_secs: u64,
    #[serde(default = "default_challenge")]
    pub challenge_secs: u64,
    #[serde(default = "default_crl_poll")]
    pub crl_poll_secs: u64,
    /// How often expired challenges, lapsed sessions and their cached
    /// keys are removed.
    #[serde(default = "default_sweep")]
    pub sweep_secs: u64,
    /// Login challenges (each anonymous `GET /login` stores one) that one
    /// address — an IPv6 client's /64 — may hold unexpired at once; more
    /// are refused with 429. Behind a carrier's NAT many people share an
    /// address: raise it there.
    #[serde(default = "default_per_address")]
    pub login_challenges_per_address: usize,
    /// Login challenges held unexpired at once from everyone: the most the
    /// store keeps.
    #[serde(default = "default_total")]
    pub login_challenges_total: usize,
    /// Deadlines and connection caps of every listener of this role.
    #[serde(default)]
    pub limits: renkei_transport::ListenerLimits,
    /// Names of the institutions, for people to read.
    #[serde(default)]
    pub institutions: Vec<InstitutionName>,
    /// What My Information shows and where it is asked for.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// The self-information API's authorization server: the portal's
    /// ES256 signing key (PKCS#8 DER, 0600). Without it the API is off.
    #[serde(default)]
    pub oauth_signing_key: Option<PathBuf>,
    /// The consent API's mutual-TLS endpoints (RFC 8705 aliases of PAR,
    /// token, grants and the resource API) for clients that authenticate
    /// with `tls_client_auth`. Needs `tls`.
    #[serde(default)]
    pub mtls_listen: Option<SocketAddr>,
    /// Their public origin; derived from the bound port when absent.
    #[serde(default)]
    pub mtls_url: Option<String>,
    /// Rate limits, alerts and automatic suspension of API clients.
    #[serde(default)]
    pub consent_monitor: renkei_consent::MonitorPolicy,
    /// Let API clients' `jwks_uri` point at a loopback address — for the
    /// demo and tests only; private and other non-public addresses are
    /// refused whatever this says.
    #[serde(default)]
    pub jwks_uri_allow_loopback: bool,
    /// Private delivery: the 32-byte secret (0600) from which each
    /// sender's pairwise handle for a person is derived. Without it people
    /// cannot link senders (deposits have no one to reach).
    #[serde(default)]
    pub delivery_handle_key: Option<PathBuf>,
    /// How often the node's inbox is read for public senders' documents
    /// (with a handle key only), in milliseconds.
    #[serde(default = "default_network_mail_poll")]
    pub network_mail_poll_ms: u64,
}

fn default_network_mail_poll() -> u64 {
    2_000
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionName {
    pub id: CorporateNumber,
    pub name_ja: String,
    pub name_en: String,
}

/// One item of My Information: asked of each provider (a national
/// deployment routes by the address on file instead of a list).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub item: String,
    pub providers: Vec<CorporateNumber>,
    /// For periodic items: the fiscal years to show.
    #[serde(default)]
    pub fiscal_years: Vec<u16>,
}
