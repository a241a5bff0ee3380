//! What the flow keeps between its steps. Secrets (request URIs, codes,
//! tokens) are kept only as their SHA-256, so a copy of the store cannot
//! be replayed.

use renkei_jose::sha256_b64;
use renkei_protocol::UnixMillis;

use crate::client::ClientId;
use crate::flow::AuthorizationRequest;
use crate::grant::GrantId;

/// SHA-256 (base64url) of a secret handed to a client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretDigest(pub String);

impl SecretDigest {
    pub fn of(secret: &str) -> Self {
        Self(sha256_b64(secret.as_bytes()))
    }
}

/// A pushed request, until the person decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub uri: SecretDigest,
    pub client: ClientId,
    pub request: AuthorizationRequest,
    pub expires_at: UnixMillis,
}

/// An authorization code: single use, 60 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub code: SecretDigest,
    pub grant: GrantId,
    pub client: ClientId,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub dpop_jkt: Option<String>,
    pub expires_at: UnixMillis,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First use: the code, now spent.
    Fresh(CodeRecord),
    /// Used before: whatever it issued must be revoked.
    Replayed(GrantId),
    Unknown,
}

/// What redeeming a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRedemption {
    Fresh(TokenRecord),
    Replayed(GrantId),
    /// Presented with another DPoP key: refused, and not spent (a thief
    /// without the key cannot burn the client's token).
    WrongKey,
    Unknown,
}

/// A DPoP-bound access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token: SecretDigest,
    pub grant: GrantId,
    pub client: ClientId,
    /// The thumbprint of the key every request must prove.
    pub jkt: String,
    pub expires_at: UnixMillis,
}

/// How a fetch went, for the person's view and the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    Delivered,
    Refused,
    Failed,
}

impl FetchOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Delivered, Self::Refused, Self::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One fetch by a client under a grant: what the person sees as
/// "Bank X received your 2025 income".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRecord {
    pub client: ClientId,
    pub grant: Option<GrantId>,
    pub at: UnixMillis,
    /// Items delivered (space-separated codes), empty when refused.
    pub items: String,
    pub outcome: FetchOutcome,
    /// The hub's record numbers of the linkages behind it.
    pub hub_records: Vec<u64>,
}

/// What claiming a one-time consent's delivery found
/// ([`crate::ConsentStore::claim_delivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// This caller holds the delivery: gather, then complete or release.
    Claimed,
    /// Another request holds it (and its lease has not run out).
    InProgress,
    /// Delivered already: never again.
    Delivered,
}

/// How long a claimed delivery may take before another request may claim
/// it again (the holder died). The holder gives up gathering before this
/// and can complete only while its claim is still the one stored, so a
/// one-time consent is delivered at most once even then.
pub const DELIVERY_LEASE_MS: i64 = 10 * 60_000;

/// An alert the monitor raised about a client, kept for administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAlert {
    pub client: ClientId,
    pub at: UnixMillis,
    /// [`crate::Alert::kind`].
    pub kind: String,
    pub detail: String,
}

/// Fetches by outcome since a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub delivered: u64,
    pub refused: u64,
    pub failed: u64,
}
