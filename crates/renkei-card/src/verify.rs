//! Verifying card certificates and the signatures made with them: chain to
//! a trusted card CA, purpose, validity period, revocation by a CRL whose
//! signature and freshness are checked, and the profile's algorithms only.

use std::collections::HashMap;

use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use pkcs8::der::pem::LineEnding;
use renkei_ids::FourFacts;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::ca::parse_x509;
use crate::{CardCertError, CardError, CardProfile, CardSerial, CertPurpose, RevocationReason, facts};

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_CURVE_P384: &str = "1.3.132.0.34";

fn dotted(arcs: &[u64]) -> String {
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// The profile a public key belongs to: RSA-2048 or EC P-384, nothing else.
pub(crate) fn profile_of_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<CardProfile, CardError> {
    let alg = spki.algorithm.algorithm.to_id_string();
    match (alg.as_str(), spki.parsed()) {
        (OID_RSA_ENCRYPTION, Ok(PublicKey::RSA(k))) if k.key_size() == 2048 => Ok(CardProfile::Rsa2048Sha256),
        (OID_RSA_ENCRYPTION, Ok(PublicKey::RSA(k))) => Err(CardError::UnsupportedAlgorithm(format!(
            "RSA-{} (card keys are RSA-2048 or ECDSA P-384)",
            k.key_size()
        ))),
        (OID_EC_PUBLIC_KEY, Ok(PublicKey::EC(_))) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            if curve.as_deref() == Some(OID_CURVE_P384) {
                Ok(CardProfile::EcdsaP384Sha384)
            } else {
                Err(CardError::UnsupportedAlgorithm(format!(
                    "EC curve {} (card keys are RSA-2048 or ECDSA P-384)",
                    curve.unwrap_or_else(|| "unnamed".to_owned())
                )))
            }
        }
        (other, _) => Err(CardError::UnsupportedAlgorithm(format!(
            "public key algorithm {other}"
        ))),
    }
}

/// A signature algorithm must be the profile's own: no SHA-1, no mixing.
fn check_signature_alg(profile: CardProfile, alg_oid: &str) -> Result<(), String> {
    let expected = dotted(profile.signature_oid());
    if alg_oid == expected {
        Ok(())
    } else {
        Err(format!(
            "signature algorithm {alg_oid} is not the {} profile's {expected}",
            profile
        ))
    }
}

fn key_identifiers(cert: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (mut ski, mut aki) = (None, None);
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            _ => {}
        }
    }
    (ski, aki)
}

/// DER as one PEM block.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    pkcs8::der::pem::encode_string(label, LineEnding::LF, der).expect("DER encodes as PEM")
}

/// Read one PEM block of `label`, or accept DER as it is.
pub fn pem_or_der(input: &[u8], label: &str) -> Result<Vec<u8>, String> {
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let (found, der) = pkcs8::der::pem::decode_vec(trimmed).map_err(|e| format!("PEM: {e}"))?;
        if found != label {
            return Err(format!("PEM label is {found:?}, expected {label:?}"));
        }
        Ok(der)
    } else {
        Ok(input.to_vec())
    }
}

/// A card CA certificate: a trust anchor for one (profile, purpose). It
/// reads the real JPKI CA certificates as well as renkei's own.
#[derive(Debug, Clone)]
pub struct CardCaCertificate {
    der: Vec<u8>,
    subject: Vec<u8>,
    spki: Vec<u8>,
    key_id: Vec<u8>,
    profile: CardProfile,
    purpose: CertPurpose,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl CardCaCertificate {
    pub fn from_pem(pem: &str) -> Result<Self, CardError> {
        let der = pem_or_der(pem.as_bytes(), "CERTIFICATE").map_err(CardError::Malformed)?;
        Self::parse(&der)
    }

    /// Check that `der` is a self-signed card CA certificate and learn its
    /// profile and purpose (from its organisational unit, as JPKI names
    /// them).
    pub fn parse(der: &[u8]) -> Result<Self, CardError> {
        let cert = parse_x509(der)?;
        let bc = cert
            .basic_constraints()
            .map_err(|e| CardError::Malformed(e.to_string()))?
            .map(|b| b.value.ca);
        if bc != Some(true) {
            return Err(CardError::NotCa("basicConstraints CA is not set".to_owned()));
        }
        let ku = cert
            .key_usage()
            .map_err(|e| CardError::Malformed(e.to_string()))?;
        if !ku.is_some_and(|k| k.value.key_cert_sign() && k.value.crl_sign()) {
            return Err(CardError::NotCa(
                "keyUsage lacks keyCertSign and cRLSign".to_owned(),
            ));
        }
        let profile = profile_of_spki(cert.public_key())?;
        check_signature_alg(profile, &cert.signature_algorithm.algorithm.to_id_string())
            .map_err(CardError::UnsupportedAlgorithm)?;
        if cert.subject().as_raw() != cert.issuer().as_raw() {
            return Err(CardError::NotCa("not self-signed".to_owned()));
        }
        cert.verify_signature(None)
            .map_err(|e| CardError::NotCa(format!("self-signature does not verify: {e}")))?;
        let units: Vec<&str> = cert
            .subject()
            .iter_organizational_unit()
            .filter_map(|a| a.as_str().ok())
            .collect();
        let purpose = if units.contains(&"JPKI for user authentication") {
            CertPurpose::Authentication
        } else if units.contains(&"JPKI for digital signature") {
            CertPurpose::Signing
        } else {
            return Err(CardError::NotCa(
                "subject names neither JPKI for user authentication nor JPKI for digital signature"
                    .to_owned(),
            ));
        };
        let (ski, _) = key_identifiers(&cert);
        let key_id = match ski {
            Some(k) => k,
            None => return Err(CardError::NotCa("no subject key identifier".to_owned())),
        };
        Ok(Self {
            der: der.to_vec(),
            subject: cert.subject().as_raw().to_vec(),
            spki: cert.public_key().raw.to_vec(),
            key_id,
            profile,
            purpose,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.der)
    }

    pub fn profile(&self) -> CardProfile {
        self.profile
    }

    pub fn purpose(&self) -> CertPurpose {
        self.purpose
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    pub(crate) fn key_id(&self) -> &[u8] {
        &self.key_id
    }
}

/// A CRL of one card CA, signature checked.
#[derive(Debug, Clone)]
pub struct CardCrl {
    der: Vec<u8>,
    issuer: Vec<u8>,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    entries: HashMap<CardSerial, (OffsetDateTime, Option<RevocationReason>)>,
}

impl CardCrl {
    /// Parse a DER (or PEM) CRL and verify that `ca` signed it.
    pub fn parse(input: &[u8], ca: &CardCaCertificate) -> Result<Self, CardError> {
        let der = pem_or_der(input, "X509 CRL").map_err(CardError::Malformed)?;
        let (rest, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| CardError::Malformed(format!("CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(CardError::Malformed("CRL: trailing data".to_owned()));
        }
        if crl.issuer().as_raw() != ca.subject_der() {
            return Err(CardError::Malformed(
                "the CRL was issued by another CA".to_owned(),
            ));
        }
        check_signature_alg(ca.profile(), &crl.signature_algorithm.algorithm.to_id_string())
            .map_err(CardError::UnsupportedAlgorithm)?;
        let (_, ca_cert) =
            X509Certificate::from_der(ca.der()).map_err(|e| CardError::Malformed(e.to_string()))?;
        crl.verify_signature(ca_cert.public_key())
            .map_err(|_| CardError::Malformed("the CRL signature does not verify".to_owned()))?;
        let number = crl
            .crl_number()
            .map(|n| {
                let b = n.to_bytes_be();
                b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
            })
            .ok_or_else(|| CardError::Malformed("CRL without a CRL number".to_owned()))?;
        let next_update = crl
            .next_update()
            .map(|t| t.to_datetime())
            .ok_or_else(|| CardError::Malformed("CRL without nextUpdate".to_owned()))?;
        let mut entries = HashMap::new();
        for r in crl.iter_revoked_certificates() {
            // Entries of certificates renkei could not have issued (serials
            // over 63 bits) cannot match a card and are skipped.
            if let Some(serial) = CardSerial::from_der_bytes(r.raw_serial()) {
                let reason = r
                    .reason_code()
                    .and_then(|(_, c)| RevocationReason::from_code(c.0));
                entries.insert(serial, (r.revocation_date.to_datetime(), reason));
            }
        }
        Ok(Self {
            der: der.clone(),
            issuer: crl.issuer().as_raw().to_vec(),
            number,
            this_update: crl.last_update().to_datetime(),
            next_update,
            entries,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        to_pem("X509 CRL", &self.der)
    }

    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }

    pub fn next_update(&self) -> OffsetDateTime {
        self.next_update
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `serial`, if listed.
    pub fn entry(&self, serial: CardSerial) -> Option<(OffsetDateTime, Option<RevocationReason>)> {
        self.entries.get(&serial).copied()
    }
}

/// A card's public key, for verifying what the card signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPublicKey {
    profile: CardProfile,
    /// PKCS#1 RSAPublicKey (RSA) or the uncompressed point (EC).
    key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not verify with the card's key")]
pub struct BadCardSignature;

impl CardPublicKey {
    pub fn profile(&self) -> CardProfile {
        self.profile
    }

    /// Verify a signature over `message`: RSASSA-PKCS1-v1_5 SHA-256 or
    /// ECDSA P-384 SHA-384 (DER), what a card and `openssl dgst -sign`
    /// produce.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BadCardSignature> {
        let result = match self.profile {
            CardProfile::Rsa2048Sha256 => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.key).verify(message, signature)
            }
            CardProfile::EcdsaP384Sha384 => {
                UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &self.key).verify(message, signature)
            }
        };
        result.map_err(|_| BadCardSignature)
    }
}

/// A card certificate that chained to a trusted CA, was within its
/// validity and not revoked at the time of the check.
#[derive(Debug, Clone)]
pub struct CardCertificate {
    pub serial: CardSerial,
    pub profile: CardProfile,
    pub purpose: CertPurpose,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub public_key: CardPublicKey,
    /// The four facts, on a signing certificate only.
    pub facts: Option<FourFacts>,
    pub der: Vec<u8>,
}

/// The card CAs (and their current CRLs) a service trusts.
#[derive(Debug, Clone, Default)]
pub struct CardTrust {
    cas: Vec<CardCaCertificate>,
    crls: HashMap<Vec<u8>, CardCrl>,
}

impl CardTrust {
    pub fn new(cas: Vec<CardCaCertificate>) -> Self {
        Self {
            cas,
            crls: HashMap::new(),
        }
    }

    pub fn cas(&self) -> &[CardCaCertificate] {
        &self.cas
    }

    /// Install a CRL for one of the trusted CAs. An older CRL (lower
    /// number) than the one held is refused, so a replayed CRL cannot
    /// un-revoke a card.
    pub fn install_crl(&mut self, crl: CardCrl) -> Result<(), CardError> {
        if !self.cas.iter().any(|c| c.subject_der() == crl.issuer) {
            return Err(CardError::Malformed("CRL of a CA that is not trusted".to_owned()));
        }
        if let Some(held) = self.crls.get(&crl.issuer)
            && held.number > crl.number
        {
            return Err(CardError::Malformed(format!(
                "CRL number {} is older than the held {}",
                crl.number, held.number
            )));
        }
        self.crls.insert(crl.issuer.clone(), crl);
        Ok(())
    }

    pub fn crl_for(&self, ca: &CardCaCertificate) -> Option<&CardCrl> {
        self.crls.get(ca.subject_der())
    }

    /// Verify a card certificate for `purpose` at `now`.
    pub fn verify(
        &self,
        der: &[u8],
        purpose: CertPurpose,
        now: OffsetDateTime,
    ) -> Result<CardCertificate, CardCertError> {
        let cert = parse_x509(der).map_err(|e| CardCertError::Malformed(e.to_string()))?;
        let (_, aki) = key_identifiers(&cert);
        let ca = self
            .cas
            .iter()
            .find(|c| {
                c.subject_der() == cert.issuer().as_raw() && aki.as_deref().is_none_or(|k| k == c.key_id())
            })
            .ok_or(CardCertError::UnknownIssuer)?;
        check_signature_alg(ca.profile(), &cert.signature_algorithm.algorithm.to_id_string())
            .map_err(CardCertError::UnsupportedAlgorithm)?;
        let (_, ca_x509) =
            X509Certificate::from_der(ca.der()).map_err(|e| CardCertError::Malformed(e.to_string()))?;
        cert.verify_signature(Some(ca_x509.public_key()))
            .map_err(|_| CardCertError::BadSignature)?;
        if ca.purpose() != purpose {
            return Err(CardCertError::WrongPurpose {
                expected: purpose,
                found: ca.purpose(),
            });
        }
        if cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|b| b.value.ca)
        {
            return Err(CardCertError::Malformed(
                "a CA certificate is not a card certificate".to_owned(),
            ));
        }
        let profile = profile_of_spki(cert.public_key())
            .map_err(|e| CardCertError::UnsupportedAlgorithm(e.to_string()))?;
        if profile != ca.profile() {
            return Err(CardCertError::UnsupportedAlgorithm(format!(
                "a {profile} key under a {} CA",
                ca.profile()
            )));
        }
        let serial = CardSerial::from_der_bytes(cert.raw_serial())
            .ok_or_else(|| CardCertError::Malformed("serial number out of range".to_owned()))?;
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        if now < not_before {
            return Err(CardCertError::NotYetValid(not_before));
        }
        if now > not_after {
            return Err(CardCertError::Expired(not_after));
        }
        let crl = self
            .crl_for(ca)
            .ok_or_else(|| CardCertError::RevocationUnknown("no CRL of the issuing CA is held".to_owned()))?;
        if now > crl.next_update() {
            return Err(CardCertError::RevocationUnknown(format!(
                "the held CRL expired at {}",
                crl.next_update()
            )));
        }
        match crl.entry(serial) {
            None => {}
            Some((at, Some(RevocationReason::Suspended))) => return Err(CardCertError::Suspended(at)),
            Some((at, reason)) => {
                return Err(CardCertError::Revoked {
                    at,
                    reason: reason.map_or("unspecified", RevocationReason::as_str),
                });
            }
        }
        let facts = read_facts(&cert).map_err(CardCertError::Malformed)?;
        match (purpose, &facts) {
            (CertPurpose::Signing, None) => {
                return Err(CardCertError::Malformed(
                    "a signing certificate without the four facts".to_owned(),
                ));
            }
            (CertPurpose::Authentication, Some(_)) => {
                return Err(CardCertError::Malformed(
                    "an authentication certificate must not carry personal facts".to_owned(),
                ));
            }
            _ => {}
        }
        let key = match cert.public_key().parsed() {
            Ok(PublicKey::RSA(_)) | Ok(PublicKey::EC(_)) => {
                cert.public_key().subject_public_key.data.to_vec()
            }
            _ => return Err(CardCertError::UnsupportedAlgorithm("public key".to_owned())),
        };
        Ok(CardCertificate {
            serial,
            profile,
            purpose,
            not_before,
            not_after,
            public_key: CardPublicKey { profile, key },
            facts,
            der: der.to_vec(),
        })
    }
}

fn read_facts(cert: &X509Certificate<'_>) -> Result<Option<FourFacts>, String> {
    let Some(san) = cert.subject_alternative_name().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut pairs = Vec::new();
    for name in &san.value.general_names {
        if let GeneralName::OtherName(oid, value) = name {
            let text = yasna::parse_der(value, |r| {
                r.read_tagged(yasna::Tag::context(0), |r| r.read_utf8string())
            })
            .map_err(|e| format!("otherName {oid}: {e}"))?;
            pairs.push((oid.to_id_string(), text));
        }
    }
    facts::decode(pairs.iter().map(|(o, t)| (o.clone(), t.as_str())))
}

/// The public key of a certificate the caller already trusts — the card
/// CA's own issued certificate, say, found by its exact DER — without the
/// chain and CRL checks of [`CardTrust::verify`].
pub fn public_key_of(der: &[u8]) -> Result<CardPublicKey, CardCertError> {
    let cert = parse_x509(der).map_err(|e| CardCertError::Malformed(e.to_string()))?;
    let profile =
        profile_of_spki(cert.public_key()).map_err(|e| CardCertError::UnsupportedAlgorithm(e.to_string()))?;
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(_)) | Ok(PublicKey::EC(_)) => Ok(CardPublicKey {
            profile,
            key: cert.public_key().subject_public_key.data.to_vec(),
        }),
        _ => Err(CardCertError::UnsupportedAlgorithm("public key".to_owned())),
    }
}

/// The serial of a certificate, without verifying anything (for logs and
/// for looking a card up).
pub fn serial_of(der: &[u8]) -> Result<CardSerial, CardCertError> {
    let cert = parse_x509(der).map_err(|e| CardCertError::Malformed(e.to_string()))?;
    CardSerial::from_der_bytes(cert.raw_serial())
        .ok_or_else(|| CardCertError::Malformed("serial number out of range".to_owned()))
}
