//! A card certification authority: one per (profile, purpose), as JPKI
//! runs one CA for authentication certificates and one for signing
//! certificates per generation. The CA signs; the registry's store keeps
//! what was issued and revoked and asks for a fresh CRL when it changes.

use pkcs8::der::pem::LineEnding;
use renkei_ids::FourFacts;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

use crate::der::{
    self, Extension, GeneralName, KeyUsage, NameAttr, OID_AUTHORITY_KEY_ID, OID_BASIC_CONSTRAINTS,
    OID_CRL_DISTRIBUTION_POINTS, OID_CRL_NUMBER, OID_KEY_USAGE, OID_REASON_CODE, OID_SUBJECT_ALT_NAME,
    OID_SUBJECT_KEY_ID,
};
use crate::{CardCaCertificate, CardError, CardKey, CardProfile, CardSerial, CertPurpose, facts};

/// Ten years, as the JPKI CAs.
pub const CA_VALIDITY_YEARS: i64 = 10;

/// Who runs the CA, as it appears in the CA's names.
#[derive(Debug, Clone)]
pub struct CaOperator {
    /// e.g. "Japan Agency for Local Authority Information Systems".
    pub name: String,
    /// e.g. "地方公共団体情報システム機構".
    pub name_ja: String,
}

/// Why a certificate left the CRL's good standing (RFC 5280 reason codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// The card was reported lost or stolen: keyCompromise.
    Lost,
    /// One of the four facts changed (signing certificate): affiliationChanged.
    FactsChanged,
    /// A new card replaced this one: superseded.
    Reissued,
    /// The holder died or returned the card: cessationOfOperation.
    Ceased,
    /// Temporarily suspended: certificateHold (removed again on resumption).
    Suspended,
}

impl RevocationReason {
    pub fn code(self) -> u8 {
        match self {
            Self::Lost => 1,
            Self::FactsChanged => 3,
            Self::Reissued => 4,
            Self::Ceased => 5,
            Self::Suspended => 6,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Lost,
            3 => Self::FactsChanged,
            4 => Self::Reissued,
            5 => Self::Ceased,
            6 => Self::Suspended,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lost => "lost",
            Self::FactsChanged => "facts_changed",
            Self::Reissued => "reissued",
            Self::Ceased => "ceased",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Lost,
            Self::FactsChanged,
            Self::Reissued,
            Self::Ceased,
            Self::Suspended,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCard {
    pub serial: CardSerial,
    pub at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// What to certify.
#[derive(Debug, Clone)]
pub struct CardCertRequest<'a> {
    /// The card key's DER SubjectPublicKeyInfo.
    pub spki_der: &'a [u8],
    pub serial: CardSerial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The four facts; required for a signing certificate, refused for an
    /// authentication certificate.
    pub facts: Option<&'a FourFacts>,
    /// Where the CRL can be fetched over HTTP, in addition to the CA's
    /// directory name.
    pub crl_url: Option<&'a str>,
}

/// A card CA with its key.
pub struct CardCa {
    cert: CardCaCertificate,
    key: CardKey,
}

impl std::fmt::Debug for CardCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardCa")
            .field("profile", &self.cert.profile())
            .field("purpose", &self.cert.purpose())
            .finish_non_exhaustive()
    }
}

fn key_id(spki_der: &[u8]) -> Result<Vec<u8>, CardError> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| CardError::Malformed(format!("public key: {e}")))?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki.subject_public_key.data);
    Ok(digest.as_ref()[..20].to_vec())
}

fn sign_tbs(key: &CardKey, tbs: &[u8]) -> Result<Vec<u8>, CardError> {
    let sig = key.sign(tbs).map_err(CardError::Key)?;
    Ok(der::signed(tbs, key.profile().signature_oid(), &sig))
}

impl CardCa {
    /// A new self-signed CA valid from `now` for ten years.
    pub fn create(
        profile: CardProfile,
        purpose: CertPurpose,
        operator: &CaOperator,
        now: OffsetDateTime,
    ) -> Result<Self, CardError> {
        let key = CardKey::generate(profile).map_err(CardError::Key)?;
        // The JPKI subject, with a common name telling generations apart
        // (the real CAs of different generations share one name).
        let subject = der::name_der(&[
            NameAttr::Country("JP"),
            NameAttr::Organization("JPKI".to_owned()),
            NameAttr::Unit(purpose.ca_unit().to_owned()),
            NameAttr::Unit(operator.name.clone()),
            NameAttr::CommonName(format!("renkei card CA {} {}", profile.label(), now.year())),
        ]);
        let alt_name = der::name_der(&[
            NameAttr::Country("JP"),
            NameAttr::Organization("公的個人認証サービス".to_owned()),
            NameAttr::Unit(purpose.ca_unit_ja().to_owned()),
            NameAttr::Unit(operator.name_ja.clone()),
        ]);
        let spki = key.spki_der();
        let kid = key_id(&spki)?;
        let not_before = now - Duration::minutes(5);
        let not_after = not_before + Duration::days(365 * CA_VALIDITY_YEARS);
        let serial = CardSerial::random();
        let exts = [
            Extension {
                oid: OID_KEY_USAGE,
                critical: true,
                value: der::key_usage(KeyUsage::Ca),
            },
            Extension {
                oid: OID_SUBJECT_ALT_NAME,
                critical: false,
                value: der::general_names(&[GeneralName::Directory(&alt_name)]),
            },
            Extension {
                oid: OID_BASIC_CONSTRAINTS,
                critical: true,
                value: der::basic_constraints(true),
            },
            Extension {
                oid: OID_CRL_DISTRIBUTION_POINTS,
                critical: false,
                value: der::crl_distribution_points(&[GeneralName::Directory(&subject)]),
            },
            Extension {
                oid: OID_SUBJECT_KEY_ID,
                critical: false,
                value: der::subject_key_id(&kid),
            },
        ];
        let tbs = tbs_certificate(
            profile, serial, &subject, not_before, not_after, &subject, &spki, &exts,
        );
        let der = sign_tbs(&key, &tbs)?;
        let cert = CardCaCertificate::parse(&der)?;
        Ok(Self { cert, key })
    }

    /// A CA from its certificate and its unencrypted PKCS#8 key (both PEM).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CardError> {
        let cert = CardCaCertificate::from_pem(cert_pem)?;
        let (label, doc) = pkcs8::der::SecretDocument::from_pem(key_pem)
            .map_err(|e| CardError::Malformed(format!("CA key: {e}")))?;
        if label != "PRIVATE KEY" {
            return Err(CardError::Malformed(format!("CA key: PEM label is {label:?}")));
        }
        let key = CardKey::from_pkcs8(cert.profile(), doc.as_bytes()).map_err(CardError::Key)?;
        if key.spki_der() != cert.spki_der() {
            return Err(CardError::Malformed(
                "the CA key does not belong to the CA certificate".to_owned(),
            ));
        }
        Ok(Self { cert, key })
    }

    pub fn certificate(&self) -> &CardCaCertificate {
        &self.cert
    }

    pub fn profile(&self) -> CardProfile {
        self.cert.profile()
    }

    pub fn purpose(&self) -> CertPurpose {
        self.cert.purpose()
    }

    pub fn cert_pem(&self) -> String {
        self.cert.to_pem()
    }

    /// The CA key as unencrypted PKCS#8 PEM, for a 0600 file.
    pub fn key_pem(&self) -> Zeroizing<String> {
        let der = self.key.pkcs8_der();
        Zeroizing::new(
            pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &der)
                .expect("PKCS#8 encodes as PEM"),
        )
    }

    /// Certify a card key.
    pub fn issue(&self, req: &CardCertRequest<'_>) -> Result<Vec<u8>, CardError> {
        let profile = self.profile();
        // The card key must be of this CA's generation.
        let (_, spki) = SubjectPublicKeyInfo::from_der(req.spki_der)
            .map_err(|e| CardError::Malformed(format!("card public key: {e}")))?;
        let key_profile = crate::verify::profile_of_spki(&spki)?;
        if key_profile != profile {
            return Err(CardError::WrongProfile {
                expected: profile,
                found: key_profile,
            });
        }
        if req.not_after <= req.not_before {
            return Err(CardError::Malformed("validity ends before it starts".to_owned()));
        }
        let facts_pairs = match (self.purpose(), req.facts) {
            (CertPurpose::Signing, Some(f)) => facts::encode(f),
            (CertPurpose::Signing, None) => {
                return Err(CardError::Malformed(
                    "a signing certificate carries the four facts".to_owned(),
                ));
            }
            (CertPurpose::Authentication, Some(_)) => {
                return Err(CardError::Malformed(
                    "an authentication certificate carries no personal facts".to_owned(),
                ));
            }
            (CertPurpose::Authentication, None) => Vec::new(),
        };
        // No personal facts in the subject either: the serial names the card.
        let subject = der::name_der(&[
            NameAttr::Country("JP"),
            NameAttr::CommonName(format!("{}-{}", self.purpose().as_str(), req.serial)),
        ]);
        let issuer = self.cert.subject_der();
        let mut dp_names = vec![GeneralName::Directory(issuer)];
        if let Some(url) = req.crl_url {
            dp_names.push(GeneralName::Uri(url));
        }
        let mut exts = vec![
            Extension {
                oid: OID_KEY_USAGE,
                critical: true,
                value: der::key_usage(match self.purpose() {
                    CertPurpose::Authentication => KeyUsage::DigitalSignature,
                    CertPurpose::Signing => KeyUsage::NonRepudiation,
                }),
            },
            Extension {
                oid: OID_BASIC_CONSTRAINTS,
                critical: true,
                value: der::basic_constraints(false),
            },
            Extension {
                oid: OID_CRL_DISTRIBUTION_POINTS,
                critical: false,
                value: der::crl_distribution_points(&dp_names),
            },
            Extension {
                oid: OID_AUTHORITY_KEY_ID,
                critical: false,
                value: der::authority_key_id(self.cert.key_id()),
            },
            Extension {
                oid: OID_SUBJECT_KEY_ID,
                critical: false,
                value: der::subject_key_id(&key_id(req.spki_der)?),
            },
        ];
        if !facts_pairs.is_empty() {
            let names: Vec<GeneralName<'_>> = facts_pairs
                .iter()
                .map(|(oid, v)| GeneralName::Other(oid, v.as_str()))
                .collect();
            exts.push(Extension {
                oid: OID_SUBJECT_ALT_NAME,
                critical: false,
                value: der::general_names(&names),
            });
        }
        let tbs = tbs_certificate(
            profile,
            req.serial,
            issuer,
            req.not_before,
            req.not_after,
            &subject,
            req.spki_der,
            &exts,
        );
        sign_tbs(&self.key, &tbs)
    }

    /// A CRL listing `revoked` (suspended cards with certificateHold).
    pub fn crl(
        &self,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        revoked: &[RevokedCard],
    ) -> Result<Vec<u8>, CardError> {
        let alg = self.profile().signature_oid();
        let exts = [
            Extension {
                oid: OID_AUTHORITY_KEY_ID,
                critical: false,
                value: der::authority_key_id(self.cert.key_id()),
            },
            Extension {
                oid: OID_CRL_NUMBER,
                critical: false,
                value: der::crl_number(number),
            },
        ];
        let tbs = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_u8(1);
                der::write_algorithm(w.next(), alg);
                w.next().write_der(self.cert.subject_der());
                der::write_time(w.next(), this_update);
                der::write_time(w.next(), next_update);
                if !revoked.is_empty() {
                    w.next().write_sequence_of(|w| {
                        for r in revoked {
                            w.next().write_sequence(|w| {
                                der::write_serial(w.next(), &r.serial.to_be_bytes());
                                der::write_time(w.next(), r.at);
                                der::write_extensions(
                                    w.next(),
                                    &[Extension {
                                        oid: OID_REASON_CODE,
                                        critical: false,
                                        value: der::reason_code(r.reason.code()),
                                    }],
                                );
                            });
                        }
                    });
                }
                w.next()
                    .write_tagged(yasna::Tag::context(0), |w| der::write_extensions(w, &exts));
            })
        });
        sign_tbs(&self.key, &tbs)
    }
}

#[allow(clippy::too_many_arguments)]
fn tbs_certificate(
    profile: CardProfile,
    serial: CardSerial,
    issuer: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    subject: &[u8],
    spki: &[u8],
    exts: &[Extension],
) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_tagged(yasna::Tag::context(0), |w| w.write_u8(2));
            der::write_serial(w.next(), &serial.to_be_bytes());
            der::write_algorithm(w.next(), profile.signature_oid());
            w.next().write_der(issuer);
            w.next().write_sequence(|w| {
                der::write_time(w.next(), not_before);
                der::write_time(w.next(), not_after);
            });
            w.next().write_der(subject);
            w.next().write_der(spki);
            w.next()
                .write_tagged(yasna::Tag::context(3), |w| der::write_extensions(w, exts));
        })
    })
}

/// Parse a certificate's DER far enough to check it is one certificate.
pub(crate) fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, CardError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| CardError::Malformed(format!("certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(CardError::Malformed(format!(
            "certificate: {} bytes of trailing data",
            rest.len()
        )));
    }
    Ok(cert)
}
