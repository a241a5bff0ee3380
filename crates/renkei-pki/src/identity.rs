//! The network identity carried in URI SANs.

use std::fmt;
use std::str::FromStr;

use renkei_ids::CorporateNumber;

use crate::PkiError;

/// Prefix of the role URI SAN.
pub const ROLE_URI_PREFIX: &str = "urn:renkei:role:";
/// Prefix of the institution URI SAN.
pub const INSTITUTION_URI_PREFIX: &str = "urn:renkei:institution:";
const RENKEI_URN_PREFIX: &str = "urn:renkei:";

/// What a certificate holder does in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Hub,
    Registry,
    Node,
    Portal,
    Witness,
    Operator,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Hub,
        Role::Registry,
        Role::Node,
        Role::Portal,
        Role::Witness,
        Role::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hub => "hub",
            Role::Registry => "registry",
            Role::Node => "node",
            Role::Portal => "portal",
            Role::Witness => "witness",
            Role::Operator => "operator",
        }
    }

    /// Whether a certificate for this role must name an institution. A node
    /// acts for exactly one institution, so a node cert without one would be
    /// an identity nobody can authorise.
    pub fn requires_institution(self) -> bool {
        matches!(self, Role::Node)
    }

    /// The role URI SAN, e.g. `urn:renkei:role:hub`.
    pub fn uri(self) -> String {
        format!("{ROLE_URI_PREFIX}{}", self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, PkiError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PkiError::UnknownRole { value: s.to_owned() })
    }
}

/// Who the holder of a certificate is: its role and, for institutions, the
/// corporate number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkIdentity {
    pub role: Role,
    pub institution: Option<CorporateNumber>,
}

impl NetworkIdentity {
    pub fn new(role: Role, institution: Option<CorporateNumber>) -> Self {
        NetworkIdentity { role, institution }
    }

    /// Check the role/institution combination.
    pub fn validate(&self) -> Result<(), PkiError> {
        if self.role.requires_institution() && self.institution.is_none() {
            return Err(PkiError::InstitutionRequired { role: self.role });
        }
        Ok(())
    }

    /// The URI SANs that encode this identity (role first).
    pub fn to_uris(&self) -> Vec<String> {
        let mut uris = vec![self.role.uri()];
        if let Some(cn) = &self.institution {
            uris.push(format!("{INSTITUTION_URI_PREFIX}{cn}"));
        }
        uris
    }

    /// Read the identity from a certificate's URI SANs. URIs outside
    /// `urn:renkei:` are ignored; inside it, anything unexpected is an error
    /// rather than silently skipped, so a typo never yields a weaker identity.
    pub fn from_uris<'a>(uris: impl IntoIterator<Item = &'a str>) -> Result<Self, PkiError> {
        let mut role: Option<(Role, &str)> = None;
        let mut institution: Option<CorporateNumber> = None;
        for uri in uris {
            if let Some(value) = uri.strip_prefix(ROLE_URI_PREFIX) {
                let parsed: Role = value.parse()?;
                if let Some((_, first)) = role {
                    return Err(PkiError::MultipleRoles {
                        first: first.to_owned(),
                        second: uri.to_owned(),
                    });
                }
                role = Some((parsed, uri));
            } else if let Some(value) = uri.strip_prefix(INSTITUTION_URI_PREFIX) {
                let cn = CorporateNumber::parse(value).map_err(|source| PkiError::MalformedInstitution {
                    uri: uri.to_owned(),
                    source,
                })?;
                if institution.is_some() {
                    return Err(PkiError::MultipleInstitutions);
                }
                institution = Some(cn);
            } else if crate::keys::is_key_uri(uri) {
                // Certified keys, read by `keys_from_uris`.
            } else if uri.starts_with(RENKEI_URN_PREFIX) {
                return Err(PkiError::UnknownRenkeiUri { uri: uri.to_owned() });
            }
        }
        let (role, _) = role.ok_or(PkiError::MissingRole)?;
        let identity = NetworkIdentity { role, institution };
        identity.validate()?;
        Ok(identity)
    }
}

impl fmt::Display for NetworkIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.institution {
            Some(cn) => write!(f, "{} ({cn})", self.role),
            None => write!(f, "{}", self.role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CN: &str = "4011001098993";

    #[test]
    fn role_round_trips_through_its_uri() {
        let inst_uri = format!("{INSTITUTION_URI_PREFIX}{CN}");
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
            let role_uri = role.uri();
            let id = NetworkIdentity::from_uris([role_uri.as_str(), inst_uri.as_str()]);
            assert_eq!(id.ok().map(|i| i.role), Some(role), "{role_uri}");
        }
    }

    #[test]
    fn node_with_institution_parses() {
        let uris = ["urn:renkei:role:node", "urn:renkei:institution:4011001098993"];
        let id = NetworkIdentity::from_uris(uris).ok();
        let expected = CorporateNumber::parse(CN).ok();
        assert_eq!(id.map(|i| (i.role, i.institution)), Some((Role::Node, expected)));
    }

    #[test]
    fn to_uris_and_back_is_identity() {
        let cn = CorporateNumber::parse(CN).ok();
        let id = NetworkIdentity::new(Role::Portal, cn);
        let uris = id.to_uris();
        assert_eq!(
            uris,
            vec![
                "urn:renkei:role:portal".to_owned(),
                format!("urn:renkei:institution:{CN}")
            ]
        );
        let back = NetworkIdentity::from_uris(uris.iter().map(String::as_str)).ok();
        assert_eq!(back, Some(id));
    }

    #[test]
    fn foreign_uris_are_ignored() {
        let uris = ["https://example.jp/", "urn:renkei:role:hub", "spiffe://x/y"];
        let id = NetworkIdentity::from_uris(uris).ok();
        assert_eq!(id, Some(NetworkIdentity::new(Role::Hub, None)));
    }

    #[test]
    fn missing_role_is_an_error() {
        let r = NetworkIdentity::from_uris(["urn:renkei:institution:4011001098993"]);
        assert!(matches!(r, Err(PkiError::MissingRole)), "{r:?}");
        let r = NetworkIdentity::from_uris([]);
        assert!(matches!(r, Err(PkiError::MissingRole)), "{r:?}");
    }

    #[test]
    fn two_roles_are_an_error_even_if_equal() {
        let r = NetworkIdentity::from_uris(["urn:renkei:role:hub", "urn:renkei:role:registry"]);
        assert!(matches!(r, Err(PkiError::MultipleRoles { .. })), "{r:?}");
        let r = NetworkIdentity::from_uris(["urn:renkei:role:hub", "urn:renkei:role:hub"]);
        assert!(matches!(r, Err(PkiError::MultipleRoles { .. })), "{r:?}");
    }

    #[test]
    fn unknown_role_is_an_error() {
        let r = NetworkIdentity::from_uris(["urn:renkei:role:admin"]);
        assert!(
            matches!(&r, Err(PkiError::UnknownRole { value }) if value == "admin"),
            "{r:?}"
        );
        // Role names are case-sensitive: we only ever issue lowercase.
        let r = NetworkIdentity::from_uris(["urn:renkei:role:Hub"]);
        assert!(matches!(r, Err(PkiError::UnknownRole { .. })), "{r:?}");
    }

    #[test]
    fn malformed_institution_is_an_error() {
        for bad in [
            "urn:renkei:institution:4011001098994", // wrong check digit
            "urn:renkei:institution:401100109899",  // 12 digits
            "urn:renkei:institution:",
            "urn:renkei:institution:40110010989a3",
        ] {
            let r = NetworkIdentity::from_uris(["urn:renkei:role:node", bad]);
            assert!(
                matches!(&r, Err(PkiError::MalformedInstitution { uri, .. }) if uri == bad),
                "{bad}: {r:?}"
            );
        }
    }

    #[test]
    fn two_institutions_are_an_error() {
        let other = CorporateNumber::from_base_number(123_456_789_012)
            .map(|c| format!("{INSTITUTION_URI_PREFIX}{c}"))
            .unwrap_or_default();
        let r = NetworkIdentity::from_uris([
            "urn:renkei:role:node",
            "urn:renkei:institution:4011001098993",
            other.as_str(),
        ]);
        assert!(matches!(r, Err(PkiError::MultipleInstitutions)), "{r:?}");
    }

    #[test]
    fn unknown_renkei_uri_is_an_error() {
        let r = NetworkIdentity::from_uris(["urn:renkei:role:hub", "urn:renkei:rank:admin"]);
        assert!(matches!(r, Err(PkiError::UnknownRenkeiUri { .. })), "{r:?}");
    }

    #[test]
    fn node_without_institution_is_an_error() {
        let r = NetworkIdentity::from_uris(["urn:renkei:role:node"]);
        assert!(
            matches!(r, Err(PkiError::InstitutionRequired { role: Role::Node })),
            "{r:?}"
        );
    }
}
