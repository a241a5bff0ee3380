//! Consents (grants): what a person agreed a client may receive, as an
//! immutable signed artefact, and whether it still holds.

use renkei_ids::LocalPersonId;
use renkei_protocol::UnixMillis;
use serde_json::{Value, json};

use crate::client::ApiClient;
use crate::rar::{Frequency, SelfInformation};

/// One-time consents may be used for this long after they are given.
pub const ONE_TIME_VALIDITY_MS: i64 = 3_600_000;

crate::prefixed_id!(
    /// A grant id: `gr_` and 22 base64url characters.
    GrantId,
    "gr_",
    16
);

/// Who ended a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// The person, in the portal.
    Person,
    /// The client, through Grant Management.
    Client,
    /// The server: the client was suspended or revoked, or a code was
    /// replayed.
    Server,
}

impl RevokedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Client => "client",
            Self::Server => "server",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Person, Self::Client, Self::Server]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A consent as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub client: crate::ClientId,
    /// The person, by the portal's (Digital Agency node's) local id; never
    /// shown to the client, which sees a pairwise `sub`.
    pub person: LocalPersonId,
    pub details: SelfInformation,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub revoked: Option<(UnixMillis, RevokedBy)>,
    /// SHA-256 (base64url) of the exact values the preview showed.
    pub preview_digest: String,
    /// The compact JWS the portal signed when the person consented.
    pub artefact: String,
    /// The hub's person proof for this consent (its text form), from the
    /// card's confirmation: every relay under the consent carries it, so
    /// the hub can tell the grant is real and the person gave it.
    pub person_proof: Option<String>,
}

impl Grant {
    /// When a consent given at `now` ends.
    pub fn expiry(details: &SelfInformation, now: UnixMillis) -> UnixMillis {
        match (details.frequency, details.duration_days) {
            (Frequency::Periodic, Some(d)) => now.plus_ms(i64::from(d) * 86_400_000),
            _ => now.plus_ms(ONE_TIME_VALIDITY_MS),
        }
    }

    /// Whether data may be fetched under it at `now`.
    pub fn is_active(&self, now: UnixMillis) -> bool {
        self.revoked.is_none() && now < self.expires_at
    }

    pub fn status(&self, now: UnixMillis) -> &'static str {
        match self.revoked {
            Some(_) => "revoked",
            None if now >= self.expires_at => "expired",
            None => "active",
        }
    }
}

/// The claims of the signed artefact: everything the person agreed to,
/// who to, when, confirmed how, and the digest of what they saw.
#[allow(clippy::too_many_arguments)]
pub fn artefact_claims(
    issuer: &str,
    grant: &GrantId,
    client: &ApiClient,
    pairwise_sub: &str,
    details: &SelfInformation,
    created_at: UnixMillis,
    expires_at: UnixMillis,
    preview_digest: &str,
) -> Value {
    json!({
        "iss": issuer,
        "sub": pairwise_sub,
        "aud": client.id.as_str(),
        "grant_id": grant.as_str(),
        "client": {
            "client_id": client.id.as_str(),
            "corporate_number": client.app.corporate_number.to_string(),
            "name": client.app.name,
        },
        "authorization_details": details.to_json(),
        "iat": created_at.0 / 1000,
        "exp": expires_at.0 / 1000,
        "confirmed_with": "card",
        "preview_sha256": preview_digest,
    })
}
