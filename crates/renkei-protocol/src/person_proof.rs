//! Person proofs: the hub's signed statement that a person was present
//! with their card.
//!
//! Some office works act for the person themselves — their own disclosure
//! on the portal, a relay to a private service they consented to. An
//! institution (the portal's) must not be able to run them for anyone it
//! likes: the request must carry a proof, rooted in the person's card, that
//! the person is there. The registry (the card CA) verifies the card's
//! signature over a fresh challenge; the hub's code service then issues the
//! proof, naming the institution, its code for the person, what it is for
//! (a session, or one consent), when the card signed and until when it
//! holds. It travels sealed to the institution (the registry relays it
//! unread: it names the institution's code), the institution's node checks
//! it before it sends, and the hub checks it again when it authorises.

use renkei_crypto::{CryptoError, Digest32, Signature, SigningKey, VerifyingKey, b64, unb64};
use renkei_ids::{CorporateNumber, InstitutionCode};

use crate::canon::{Canon, CanonReader};
use crate::{ConsentRef, UnixMillis};

/// What a person proof may be used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofPurpose {
    /// The person's own session on the portal (their own disclosure).
    Session,
    /// Relays under one consent the person confirmed with their card.
    Consent(ConsentRef),
}

impl ProofPurpose {
    fn label(&self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Consent(_) => "consent",
        }
    }

    /// The longest a proof for this purpose may hold: a session is hours,
    /// a periodic consent up to a year and a month.
    pub fn max_lifetime_ms(&self) -> i64 {
        match self {
            Self::Session => 12 * 3_600_000,
            Self::Consent(_) => 400 * 86_400_000,
        }
    }

    /// Whether a request relying on `consent` (or on none) may use a proof
    /// for this purpose.
    pub fn fits(&self, consent: Option<&ConsentRef>) -> bool {
        match (self, consent) {
            (Self::Session, None) => true,
            (Self::Consent(grant), Some(c)) => grant == c,
            _ => false,
        }
    }
}

/// The statement the hub signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonProof {
    /// The institution that may present it (the portal's).
    pub institution: CorporateNumber,
    /// That institution's code for the person.
    pub subject: InstitutionCode,
    pub purpose: ProofPurpose,
    /// Digest of the challenge text the card signed (for audit).
    pub card_challenge: Digest32,
    pub issued_at: UnixMillis,
    pub expires_at: UnixMillis,
}

const LABEL: &str = "renkei/person-proof/v1";
const SEAL_INFO: &[u8] = b"renkei/person-proof-delivery/v1";

fn seal_aad(institution: &CorporateNumber, acquisition: &renkei_ids::AcquisitionNumber) -> Vec<u8> {
    Canon::new("renkei/person-proof-aad/v1")
        .str(&institution.to_string())
        .str(&acquisition.to_string())
        .finish()
}

impl PersonProof {
    fn encode(&self) -> Vec<u8> {
        Canon::new(LABEL)
            .str(&self.institution.to_string())
            .str(&self.subject.to_string())
            .str(self.purpose.label())
            .str(match &self.purpose {
                ProofPurpose::Session => "",
                ProofPurpose::Consent(c) => c.as_str(),
            })
            .bytes(&self.card_challenge)
            .i64(self.issued_at.0)
            .i64(self.expires_at.0)
            .finish()
    }

    pub fn sign(self, hub_key: &SigningKey) -> SignedPersonProof {
        let signature = hub_key.sign(&self.encode());
        SignedPersonProof {
            proof: self,
            signature,
        }
    }
}

/// A person proof with the hub's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPersonProof {
    pub proof: PersonProof,
    pub signature: Signature,
}

/// Why a person proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the person proof is malformed: {0}")]
    Malformed(String),
    #[error("the person proof is not signed by the hub: {0}")]
    NotFromHub(CryptoError),
    #[error("the person proof was issued to {issued}, not to {presented}")]
    OtherInstitution {
        issued: CorporateNumber,
        presented: CorporateNumber,
    },
    #[error("the person proof is about another person")]
    OtherPerson,
    #[error("the person proof expired at {0}")]
    Expired(UnixMillis),
    #[error("the person proof is for a {proof}, not for this request's {request}")]
    WrongPurpose {
        proof: &'static str,
        request: &'static str,
    },
}

impl SignedPersonProof {
    /// Every check but "is this the same person", which needs the codes'
    /// keys (the hub) or the institution's own code (its node).
    pub fn verify(
        &self,
        hub_key: &VerifyingKey,
        presenter: &CorporateNumber,
        consent: Option<&ConsentRef>,
        now: UnixMillis,
    ) -> Result<(), ProofError> {
        hub_key
            .verify(&self.proof.encode(), &self.signature)
            .map_err(ProofError::NotFromHub)?;
        let p = &self.proof;
        if p.institution != *presenter {
            return Err(ProofError::OtherInstitution {
                issued: p.institution,
                presented: *presenter,
            });
        }
        if now.0 > p.expires_at.0 {
            return Err(ProofError::Expired(p.expires_at));
        }
        if !p.purpose.fits(consent) {
            return Err(ProofError::WrongPurpose {
                proof: p.purpose.label(),
                request: if consent.is_some() { "consent" } else { "session" },
            });
        }
        Ok(())
    }

    /// The text form: the canonical statement and the signature, base64url,
    /// joined by a dot. What the portal keeps and hands back.
    pub fn to_text(&self) -> String {
        let sig = Canon::new("renkei/person-proof-signature/v1")
            .signature(&self.signature)
            .finish();
        format!("{}.{}", b64(&self.proof.encode()), b64(&sig))
    }

    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let bad = |e: &dyn std::fmt::Display| ProofError::Malformed(e.to_string());
        if text.len() > 4096 {
            return Err(ProofError::Malformed("longer than 4096 characters".into()));
        }
        let (body, sig) = text
            .split_once('.')
            .ok_or_else(|| ProofError::Malformed("expected <statement>.<signature>".into()))?;
        let body = unb64("person proof", body).map_err(|e| bad(&e))?;
        let sig = unb64("person proof signature", sig).map_err(|e| bad(&e))?;
        let mut r = CanonReader::new(&body, LABEL).map_err(|e| bad(&e))?;
        let institution = CorporateNumber::parse(r.str().map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        let subject = InstitutionCode::parse(r.str().map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        let label = r.str().map_err(|e| bad(&e))?;
        let grant = r.str().map_err(|e| bad(&e))?;
        let purpose = match (label, grant) {
            ("session", "") => ProofPurpose::Session,
            ("consent", g) => ProofPurpose::Consent(
                ConsentRef::parse(g).ok_or_else(|| ProofError::Malformed("consent reference".into()))?,
            ),
            _ => return Err(ProofError::Malformed("unknown purpose".into())),
        };
        let card_challenge: Digest32 = r
            .bytes()
            .map_err(|e| bad(&e))?
            .try_into()
            .map_err(|_| ProofError::Malformed("challenge digest length".into()))?;
        let issued_at = UnixMillis(r.i64().map_err(|e| bad(&e))?);
        let expires_at = UnixMillis(r.i64().map_err(|e| bad(&e))?);
        r.finish().map_err(|e| bad(&e))?;
        let mut s = CanonReader::new(&sig, "renkei/person-proof-signature/v1").map_err(|e| bad(&e))?;
        let algorithm =
            renkei_crypto::SignatureAlgorithm::parse(s.str().map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        let key_id = renkei_crypto::KeyId::parse(s.str().map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
        let bytes = s.bytes().map_err(|e| bad(&e))?.to_vec();
        s.finish().map_err(|e| bad(&e))?;
        Ok(Self {
            proof: PersonProof {
                institution,
                subject,
                purpose,
                card_challenge,
                issued_at,
                expires_at,
            },
            signature: Signature {
                algorithm,
                key_id,
                bytes,
            },
        })
    }

    /// Seal the proof to the institution it is for (base mode, from the
    /// hub), bound to the acquisition number of the same delivery: the
    /// registry relays it and cannot read the institution's code in it.
    pub fn seal(
        &self,
        key: &renkei_crypto::SealingPublicKey,
        acquisition: &renkei_ids::AcquisitionNumber,
    ) -> Result<renkei_crypto::Envelope, CryptoError> {
        key.seal(
            SEAL_INFO,
            &seal_aad(&self.proof.institution, acquisition),
            self.to_text().as_bytes(),
        )
    }

    /// Open a proof sealed to `institution`'s key for `acquisition`.
    pub fn open(
        envelope: &renkei_crypto::Envelope,
        key: &renkei_crypto::SealingKeyPair,
        institution: &CorporateNumber,
        acquisition: &renkei_ids::AcquisitionNumber,
    ) -> Result<Self, ProofError> {
        let text = key
            .open(envelope, SEAL_INFO, &seal_aad(institution, acquisition))
            .map_err(|e| ProofError::Malformed(format!("the sealed proof does not open: {e}")))?;
        let text = std::str::from_utf8(&text).map_err(|_| ProofError::Malformed("not UTF-8".into()))?;
        Self::parse(text)
    }

    /// What a request commits to when it carries this proof.
    pub fn digest(&self) -> Digest32 {
        renkei_crypto::sha256(&[self.to_text().as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_crypto::{CodeKeyring, Suite};
    use renkei_ids::LinkId;

    fn proof(purpose: ProofPurpose) -> (SigningKey, SignedPersonProof) {
        let hub = SigningKey::generate(Suite::default().signature());
        let institution = CorporateNumber::from_base_number(99).unwrap();
        let p = PersonProof {
            institution,
            subject: CodeKeyring::generate().encode(&LinkId::random(), &institution),
            purpose,
            card_challenge: [7; 32],
            issued_at: UnixMillis(1_000),
            expires_at: UnixMillis(5_000),
        }
        .sign(&hub);
        (hub, p)
    }

    #[test]
    fn a_proof_round_trips_through_its_text_and_verifies() {
        for purpose in [
            ProofPurpose::Session,
            ProofPurpose::Consent(ConsentRef::parse("grant-1").unwrap()),
        ] {
            let (hub, p) = proof(purpose);
            let back = SignedPersonProof::parse(&p.to_text()).unwrap();
            assert_eq!(back, p);
            let consent = match &p.proof.purpose {
                ProofPurpose::Consent(c) => Some(c),
                ProofPurpose::Session => None,
            };
            back.verify(
                &hub.verifying_key(),
                &p.proof.institution,
                consent,
                UnixMillis(2_000),
            )
            .unwrap();
        }
    }

    #[test]
    fn a_proof_is_refused_when_it_does_not_fit() {
        let (hub, p) = proof(ProofPurpose::Session);
        let me = p.proof.institution;
        let key = hub.verifying_key();
        let at = UnixMillis(2_000);
        // Expired, another presenter, another purpose, another signer.
        assert!(matches!(
            p.verify(&key, &me, None, UnixMillis(5_001)),
            Err(ProofError::Expired(_))
        ));
        let other = CorporateNumber::from_base_number(98).unwrap();
        assert!(matches!(
            p.verify(&key, &other, None, at),
            Err(ProofError::OtherInstitution { .. })
        ));
        let grant = ConsentRef::parse("grant-1").unwrap();
        assert!(matches!(
            p.verify(&key, &me, Some(&grant), at),
            Err(ProofError::WrongPurpose { .. })
        ));
        let (_, c) = proof(ProofPurpose::Consent(grant.clone()));
        let stranger = SigningKey::generate(Suite::default().signature());
        assert!(matches!(
            c.verify(&stranger.verifying_key(), &c.proof.institution, Some(&grant), at),
            Err(ProofError::NotFromHub(_))
        ));
        let other_grant = ConsentRef::parse("grant-2").unwrap();
        let (hub2, c2) = proof(ProofPurpose::Consent(grant));
        assert!(matches!(
            c2.verify(
                &hub2.verifying_key(),
                &c2.proof.institution,
                Some(&other_grant),
                at
            ),
            Err(ProofError::WrongPurpose { .. })
        ));
        // A changed field breaks the hub's signature.
        let mut longer = p.clone();
        longer.proof.expires_at = UnixMillis(i64::MAX);
        assert!(matches!(
            longer.verify(&key, &me, None, at),
            Err(ProofError::NotFromHub(_))
        ));
        // Garbage is refused, not panicked on.
        for bad in ["", ".", "a.b", &"A".repeat(5000), &format!("{}.", p.to_text())] {
            assert!(SignedPersonProof::parse(bad).is_err(), "{bad:.40}");
        }
    }
}
