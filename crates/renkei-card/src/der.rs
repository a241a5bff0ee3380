//! DER encoding of the certificate and CRL structures (RFC 5280) the card
//! CA needs, with yasna.
//!
//! Why not rcgen: the JPKI profile has two organisational units in one
//! name, a directoryName in the subjectAltName and in the CRL distribution
//! point, and facts as otherNames; rcgen's `DistinguishedName` holds one
//! value per attribute type and its SAN and CRL DP types have no
//! directoryName. The structures are small and fixed, so they are written
//! here, and every test cross-checks them with x509-parser and OpenSSL.

use time::OffsetDateTime;
use yasna::models::{GeneralizedTime, ObjectIdentifier, UTCTime};
use yasna::{DERWriter, Tag};

pub(crate) const OID_SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
pub(crate) const OID_ECDSA_WITH_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];

const OID_COUNTRY: &[u64] = &[2, 5, 4, 6];
const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const OID_UNIT: &[u64] = &[2, 5, 4, 11];
const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];

pub(crate) const OID_SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];
pub(crate) const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
pub(crate) const OID_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
pub(crate) const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
pub(crate) const OID_CRL_NUMBER: &[u64] = &[2, 5, 29, 20];
pub(crate) const OID_REASON_CODE: &[u64] = &[2, 5, 29, 21];
pub(crate) const OID_CRL_DISTRIBUTION_POINTS: &[u64] = &[2, 5, 29, 31];
pub(crate) const OID_AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];

pub(crate) fn oid(arcs: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(arcs)
}

/// One attribute of a distinguished name, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameAttr {
    Country(&'static str),
    Organization(String),
    Unit(String),
    CommonName(String),
}

pub(crate) fn write_name(w: DERWriter<'_>, attrs: &[NameAttr]) {
    w.write_sequence_of(|w| {
        for a in attrs {
            w.next().write_set_of(|w| {
                w.next().write_sequence(|w| {
                    let (arcs, value, printable) = match a {
                        NameAttr::Country(c) => (OID_COUNTRY, *c, true),
                        NameAttr::Organization(s) => (OID_ORGANIZATION, s.as_str(), false),
                        NameAttr::Unit(s) => (OID_UNIT, s.as_str(), false),
                        NameAttr::CommonName(s) => (OID_COMMON_NAME, s.as_str(), false),
                    };
                    w.next().write_oid(&oid(arcs));
                    if printable {
                        w.next().write_printable_string(value);
                    } else {
                        w.next().write_utf8_string(value);
                    }
                });
            });
        }
    });
}

pub(crate) fn name_der(attrs: &[NameAttr]) -> Vec<u8> {
    yasna::construct_der(|w| write_name(w, attrs))
}

pub(crate) fn write_algorithm(w: DERWriter<'_>, arcs: &[u64]) {
    w.write_sequence(|w| {
        w.next().write_oid(&oid(arcs));
        // RSA signature algorithms carry an explicit NULL; ECDSA ones none.
        if arcs == OID_SHA256_WITH_RSA {
            w.next().write_null();
        }
    });
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
pub(crate) fn write_time(w: DERWriter<'_>, t: OffsetDateTime) {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    if t.year() < 2050 {
        w.write_utctime(&UTCTime::from_datetime(t));
    } else {
        w.write_generalized_time(&GeneralizedTime::from_datetime(t));
    }
}

/// An extension: OID, criticality, and the DER of its value.
pub(crate) struct Extension {
    pub(crate) oid: &'static [u64],
    pub(crate) critical: bool,
    pub(crate) value: Vec<u8>,
}

pub(crate) fn write_extensions(w: DERWriter<'_>, exts: &[Extension]) {
    w.write_sequence_of(|w| {
        for e in exts {
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(e.oid));
                if e.critical {
                    w.next().write_bool(true);
                }
                w.next().write_bytes(&e.value);
            });
        }
    });
}

/// keyUsage bits, RFC 5280 §4.2.1.3.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyUsage {
    /// keyCertSign + cRLSign.
    Ca,
    /// digitalSignature (authentication certificates).
    DigitalSignature,
    /// digitalSignature + nonRepudiation (signing certificates).
    NonRepudiation,
}

pub(crate) fn key_usage(ku: KeyUsage) -> Vec<u8> {
    // Named bit strings drop their trailing zero bits in DER.
    let (byte, bits) = match ku {
        KeyUsage::Ca => (0b0000_0110, 7),
        KeyUsage::DigitalSignature => (0b1000_0000, 1),
        KeyUsage::NonRepudiation => (0b1100_0000, 2),
    };
    yasna::construct_der(|w| w.write_bitvec_bytes(&[byte], bits))
}

pub(crate) fn basic_constraints(ca: bool) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            if ca {
                w.next().write_bool(true);
                // pathLenConstraint 0: a card CA signs only end entities.
                w.next().write_u8(0);
            }
        })
    })
}

pub(crate) fn subject_key_id(key_id: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| w.write_bytes(key_id))
}

pub(crate) fn authority_key_id(key_id: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(key_id));
        })
    })
}

/// A GeneralName of the kinds the card profile uses.
pub(crate) enum GeneralName<'a> {
    /// `[4] Name` (explicit: Name is a CHOICE), from the Name's DER.
    Directory(&'a [u8]),
    /// `[6] IA5String`.
    Uri(&'a str),
    /// `[0] { type-id, [0] EXPLICIT UTF8String }`.
    Other(&'static [u64], &'a str),
}

fn write_general_name(w: DERWriter<'_>, name: &GeneralName<'_>) {
    match name {
        GeneralName::Directory(name) => w.write_tagged(Tag::context(4), |w| w.write_der(name)),
        GeneralName::Uri(u) => w.write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(u)),
        GeneralName::Other(type_id, value) => w.write_tagged_implicit(Tag::context(0), |w| {
            w.write_sequence(|w| {
                w.next().write_oid(&oid(type_id));
                w.next()
                    .write_tagged(Tag::context(0), |w| w.write_utf8_string(value));
            })
        }),
    }
}

pub(crate) fn general_names(names: &[GeneralName<'_>]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence_of(|w| {
            for n in names {
                write_general_name(w.next(), n);
            }
        })
    })
}

/// One distribution point whose full name lists `names`.
pub(crate) fn crl_distribution_points(names: &[GeneralName<'_>]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence_of(|w| {
            w.next().write_sequence(|w| {
                // distributionPoint [0] DistributionPointName (a CHOICE, so
                // the tag is constructed), fullName [0] IMPLICIT GeneralNames.
                w.next().write_tagged(Tag::context(0), |w| {
                    w.write_tagged_implicit(Tag::context(0), |w| {
                        w.write_sequence_of(|w| {
                            for n in names {
                                write_general_name(w.next(), n);
                            }
                        })
                    })
                });
            })
        })
    })
}

pub(crate) fn crl_number(n: u64) -> Vec<u8> {
    yasna::construct_der(|w| w.write_u64(n))
}

pub(crate) fn reason_code(code: u8) -> Vec<u8> {
    yasna::construct_der(|w| w.write_enum(i64::from(code)))
}

/// A positive INTEGER from big-endian bytes.
pub(crate) fn write_serial(w: DERWriter<'_>, serial: &[u8]) {
    w.write_bigint_bytes(serial, true);
}

/// `SEQUENCE { tbs, algorithm, BIT STRING signature }`.
pub(crate) fn signed(tbs: &[u8], alg: &[u64], signature: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(tbs);
            write_algorithm(w.next(), alg);
            w.next().write_bitvec_bytes(signature, signature.len() * 8);
        })
    })
}
