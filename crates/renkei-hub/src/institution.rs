use std::fmt;

use renkei_catalog::KindCode;
use renkei_crypto::{Digest32, SealingPublicKey, VerifyingKey};
use renkei_ids::CorporateNumber;
use renkei_protocol::UnixMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstitutionStatus {
    Active,
    Suspended,
}

impl InstitutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// An `https://host:port` base URL where an institution's node answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

impl Endpoint {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let rest = s
            .strip_prefix("https://")
            .ok_or("endpoint must start with https:// (no plaintext between roles)")?;
        if rest.is_empty() || s.len() > 200 {
            return Err("endpoint must name a host and be at most 200 characters");
        }
        if rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#' || c == '@')
        {
            return Err("endpoint must be a plain https://host:port/path URL");
        }
        Ok(Self(s.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of the hub's institution registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institution {
    pub id: CorporateNumber,
    pub name: String,
    pub kind: KindCode,
    pub endpoint: Endpoint,
    /// SHA-256 of the DER of the institution's registered TLS certificate;
    /// a connection with any other certificate is refused, even one from
    /// the same CA naming the same institution.
    pub tls_certificate: Digest32,
    pub signing_key: VerifyingKey,
    pub sealing_key: SealingPublicKey,
    pub status: InstitutionStatus,
    pub updated_at: UnixMillis,
    /// The registered certificate (DER) whose fingerprint is
    /// `tls_certificate`; what the hub hands to an institution that pushes
    /// to this one. Empty for an entry registered before it was kept.
    pub certificate: Vec<u8>,
}
