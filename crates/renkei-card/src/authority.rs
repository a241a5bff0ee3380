//! The registry's set of card CAs in one directory: one CA per (profile,
//! purpose), `<profile>/<purpose>.crt.pem` and `<profile>/<purpose>.key.pem`
//! (0600, refused if group or others can read it).

use std::collections::BTreeMap;
use std::path::Path;

use renkei_pki::{PkiError, WriteMode, read_private, read_public, write_private, write_public};
use time::OffsetDateTime;

use crate::{CaOperator, CardCa, CardError, CardProfile, CardTrust, CertPurpose};

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error(transparent)]
    File(#[from] PkiError),
    #[error("{path}: {source}")]
    Ca {
        path: String,
        #[source]
        source: CardError,
    },
    #[error("{path}: the CA there is for {found_profile}/{found_purpose}, not {profile}/{purpose}")]
    Misplaced {
        path: String,
        profile: CardProfile,
        purpose: CertPurpose,
        found_profile: CardProfile,
        found_purpose: CertPurpose,
    },
}

/// All card CAs of a registry.
#[derive(Debug)]
pub struct CardAuthorities {
    cas: BTreeMap<(CardProfile, CertPurpose), CardCa>,
}

fn paths(dir: &Path, profile: CardProfile, purpose: CertPurpose) -> (std::path::PathBuf, std::path::PathBuf) {
    let d = dir.join(profile.as_str());
    (
        d.join(format!("{}.crt.pem", purpose.as_str())),
        d.join(format!("{}.key.pem", purpose.as_str())),
    )
}

impl CardAuthorities {
    /// Create the four CAs in `dir`; existing files are never overwritten.
    pub fn create(dir: &Path, operator: &CaOperator, now: OffsetDateTime) -> Result<Self, AuthorityError> {
        let mut cas = BTreeMap::new();
        for profile in CardProfile::ALL {
            let d = dir.join(profile.as_str());
            std::fs::create_dir_all(&d).map_err(|e| PkiError::io("create directory", &d, e))?;
            for purpose in CertPurpose::ALL {
                let (crt, key) = paths(dir, profile, purpose);
                let ca =
                    CardCa::create(profile, purpose, operator, now).map_err(|source| AuthorityError::Ca {
                        path: crt.display().to_string(),
                        source,
                    })?;
                write_private(&key, ca.key_pem().as_bytes(), WriteMode::CreateNew)?;
                write_public(&crt, ca.cert_pem().as_bytes(), WriteMode::CreateNew)?;
                cas.insert((profile, purpose), ca);
            }
        }
        Ok(Self { cas })
    }

    pub fn load(dir: &Path) -> Result<Self, AuthorityError> {
        let mut cas = BTreeMap::new();
        for profile in CardProfile::ALL {
            for purpose in CertPurpose::ALL {
                let (crt, key) = paths(dir, profile, purpose);
                let cert = read_public(&crt)?;
                let key_pem = read_private(&key)?;
                let text = |b: &[u8], p: &Path| {
                    std::str::from_utf8(b)
                        .map(str::to_owned)
                        .map_err(|e| AuthorityError::Ca {
                            path: p.display().to_string(),
                            source: CardError::Malformed(e.to_string()),
                        })
                };
                let ca = CardCa::from_pem(&text(&cert, &crt)?, &text(&key_pem, &key)?).map_err(|source| {
                    AuthorityError::Ca {
                        path: crt.display().to_string(),
                        source,
                    }
                })?;
                if (ca.profile(), ca.purpose()) != (profile, purpose) {
                    return Err(AuthorityError::Misplaced {
                        path: crt.display().to_string(),
                        profile,
                        purpose,
                        found_profile: ca.profile(),
                        found_purpose: ca.purpose(),
                    });
                }
                cas.insert((profile, purpose), ca);
            }
        }
        Ok(Self { cas })
    }

    pub fn get(&self, profile: CardProfile, purpose: CertPurpose) -> &CardCa {
        self.cas
            .get(&(profile, purpose))
            .expect("every (profile, purpose) has a CA once loaded")
    }

    pub fn iter(&self) -> impl Iterator<Item = &CardCa> {
        self.cas.values()
    }

    /// The CA certificates as a verifier's trust (without CRLs yet).
    pub fn trust(&self) -> CardTrust {
        CardTrust::new(self.cas.values().map(|c| c.certificate().clone()).collect())
    }
}
