#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! The card PKI end to end: CAs mirroring JPKI, issuance in both profiles,
//! verification and every refusal, CRLs, PIN-protected keys — cross-checked
//! with OpenSSL wherever a real card reader or library would meet them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use renkei_card::*;
use renkei_ids::{Address, BirthDate, FourFacts, PersonName, Sex};
use time::{Duration, OffsetDateTime};

fn operator() -> CaOperator {
    CaOperator {
        name: "renkei test registry".to_owned(),
        name_ja: "れんけい試験機構".to_owned(),
    }
}

fn facts() -> FourFacts {
    FourFacts {
        name: PersonName::parse("佐藤 花子").unwrap(),
        address: Address::parse("東京都世田谷区太子堂四丁目1番1号").unwrap(),
        birth_date: BirthDate::parse("1990-05-05").unwrap(),
        sex: Sex::Female,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (.ci/run installs it)")
}

fn escaped(s: &str) -> String {
    s.bytes().map(|b| format!("\\x{b:02X}")).collect()
}

struct Pki {
    auth: CardCa,
    sign: CardCa,
    trust: CardTrust,
}

fn pki(profile: CardProfile) -> Pki {
    let auth = CardCa::create(profile, CertPurpose::Authentication, &operator(), now()).unwrap();
    let sign = CardCa::create(profile, CertPurpose::Signing, &operator(), now()).unwrap();
    let mut trust = CardTrust::new(vec![auth.certificate().clone(), sign.certificate().clone()]);
    for ca in [&auth, &sign] {
        let crl = ca.crl(1, now(), now() + Duration::days(1), &[]).unwrap();
        trust
            .install_crl(CardCrl::parse(&crl, ca.certificate()).unwrap())
            .unwrap();
    }
    Pki { auth, sign, trust }
}

fn issue(ca: &CardCa, key: &CardKey, serial: CardSerial, facts: Option<&FourFacts>) -> Vec<u8> {
    ca.issue(&CardCertRequest {
        spki_der: &key.spki_der(),
        serial,
        not_before: now() - Duration::minutes(1),
        not_after: now() + Duration::days(365 * 5),
        facts,
        crl_url: Some("http://127.0.0.1:9/card/v1/crl/auth.crl"),
    })
    .unwrap()
}

#[test]
fn real_jpki_ca_certificates_are_read_as_card_cas() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let auth =
        CardCaCertificate::from_pem(&std::fs::read_to_string(dir.join("auth_ca_2023.pem")).unwrap()).unwrap();
    assert_eq!(auth.profile(), CardProfile::Rsa2048Sha256);
    assert_eq!(auth.purpose(), CertPurpose::Authentication);
    assert_eq!(auth.not_after().year(), 2033);
    let sign =
        CardCaCertificate::from_pem(&std::fs::read_to_string(dir.join("sign_ca_2023.pem")).unwrap()).unwrap();
    assert_eq!(sign.purpose(), CertPurpose::Signing);
    // A certificate issued by our own CA is not vouched for by the real one.
    let ours = pki(CardProfile::Rsa2048Sha256);
    let key = CardKey::generate(CardProfile::Rsa2048Sha256).unwrap();
    let cert = issue(&ours.auth, &key, CardSerial::random(), None);
    let real = CardTrust::new(vec![auth, sign]);
    assert_eq!(
        real.verify(&cert, CertPurpose::Authentication, now())
            .unwrap_err(),
        CardCertError::UnknownIssuer
    );
}

#[test]
fn our_ca_mirrors_the_jpki_profile_as_openssl_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CardCa::create(
        CardProfile::Rsa2048Sha256,
        CertPurpose::Authentication,
        &operator(),
        now(),
    )
    .unwrap();
    std::fs::write(tmp.path().join("ca.pem"), ca.cert_pem()).unwrap();
    let out = openssl(
        &["x509", "-in", "ca.pem", "-noout", "-text", "-nameopt", "utf8"],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Signature Algorithm: sha256WithRSAEncryption",
        "C=JP, O=JPKI, OU=JPKI for user authentication, OU=renkei test registry",
        "Public-Key: (2048 bit)",
        "X509v3 Key Usage: critical",
        "Certificate Sign, CRL Sign",
        "CA:TRUE",
        // OpenSSL prints the directoryName's UTF-8 escaped, as for the real CA.
        &format!("DirName:/C=JP/O={}", escaped("公的個人認証サービス")),
        "X509v3 CRL Distribution Points",
        "X509v3 Subject Key Identifier",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The directory name carries the Japanese unit too (OpenSSL shows only its start).
    let der = ca.certificate().der();
    let unit = "公的個人認証サービス利用者証明用".as_bytes();
    assert!(der.windows(unit.len()).any(|w| w == unit));
    // The key round-trips through its PEM files.
    let again = CardCa::from_pem(&ca.cert_pem(), &ca.key_pem()).unwrap();
    assert_eq!(again.certificate().der(), ca.certificate().der());
    let other = CardCa::create(
        CardProfile::Rsa2048Sha256,
        CertPurpose::Authentication,
        &operator(),
        now(),
    )
    .unwrap();
    assert!(CardCa::from_pem(&ca.cert_pem(), &other.key_pem()).is_err());
}

#[test]
fn both_profiles_issue_verify_and_carry_facts_only_in_the_signing_certificate() {
    for profile in CardProfile::ALL {
        let p = pki(profile);
        let auth_key = CardKey::generate(profile).unwrap();
        let sign_key = CardKey::generate(profile).unwrap();
        let serial = CardSerial::random();
        let auth = issue(&p.auth, &auth_key, serial, None);
        let sign = issue(&p.sign, &sign_key, CardSerial::random(), Some(&facts()));

        let a = p.trust.verify(&auth, CertPurpose::Authentication, now()).unwrap();
        assert_eq!((a.serial, a.profile, a.facts.clone()), (serial, profile, None));
        let s = p.trust.verify(&sign, CertPurpose::Signing, now()).unwrap();
        assert_eq!(s.facts.as_ref(), Some(&facts()));

        // What the card signs verifies with the certificate's key, and only that.
        let msg = b"renkei-portal-login\nchallenge";
        let sig = auth_key.sign(msg).unwrap();
        a.public_key.verify(msg, &sig).unwrap();
        assert!(a.public_key.verify(b"another message", &sig).is_err());
        assert!(s.public_key.verify(msg, &sig).is_err());

        // Purposes are not interchangeable.
        assert!(matches!(
            p.trust.verify(&auth, CertPurpose::Signing, now()),
            Err(CardCertError::WrongPurpose { .. })
        ));
        // The authentication CA refuses facts; the signing CA requires them.
        let auth_spki = auth_key.spki_der();
        let the_facts = facts();
        let req = |facts| CardCertRequest {
            spki_der: &auth_spki,
            serial: CardSerial::random(),
            not_before: now(),
            not_after: now() + Duration::days(1),
            facts,
            crl_url: None,
        };
        assert!(p.auth.issue(&req(Some(&the_facts))).is_err());
        assert!(p.sign.issue(&req(None)).is_err());
        // A key of the other generation is refused by the CA.
        let other = CardProfile::ALL.into_iter().find(|&q| q != profile).unwrap();
        let wrong = CardKey::generate(other).unwrap();
        let wrong_spki = wrong.spki_der();
        let e = p
            .auth
            .issue(&CardCertRequest {
                spki_der: &wrong_spki,
                ..req(None)
            })
            .unwrap_err();
        assert_eq!(
            e,
            CardError::WrongProfile {
                expected: profile,
                found: other
            }
        );
    }
}

#[test]
fn revoked_suspended_expired_foreign_and_tampered_certificates_are_refused() {
    let mut p = pki(CardProfile::EcdsaP384Sha384);
    let key = CardKey::generate(CardProfile::EcdsaP384Sha384).unwrap();
    let (s1, s2, s3) = (CardSerial::random(), CardSerial::random(), CardSerial::random());
    let c1 = issue(&p.auth, &key, s1, None);
    let c2 = issue(&p.auth, &key, s2, None);
    let c3 = issue(&p.auth, &key, s3, None);
    let crl = p
        .auth
        .crl(
            2,
            now(),
            now() + Duration::hours(1),
            &[
                RevokedCard {
                    serial: s1,
                    at: now(),
                    reason: RevocationReason::Lost,
                },
                RevokedCard {
                    serial: s2,
                    at: now(),
                    reason: RevocationReason::Suspended,
                },
            ],
        )
        .unwrap();
    let parsed = CardCrl::parse(&crl, p.auth.certificate()).unwrap();
    assert_eq!((parsed.number(), parsed.len()), (2, 2));
    p.trust.install_crl(parsed).unwrap();
    assert!(matches!(
        p.trust.verify(&c1, CertPurpose::Authentication, now()),
        Err(CardCertError::Revoked { reason: "lost", .. })
    ));
    assert!(matches!(
        p.trust.verify(&c2, CertPurpose::Authentication, now()),
        Err(CardCertError::Suspended(_))
    ));
    p.trust.verify(&c3, CertPurpose::Authentication, now()).unwrap();

    // An older CRL cannot be installed over a newer one (no un-revoking by replay).
    let old = p.auth.crl(1, now(), now() + Duration::hours(1), &[]).unwrap();
    assert!(
        p.trust
            .install_crl(CardCrl::parse(&old, p.auth.certificate()).unwrap())
            .is_err()
    );
    // A CRL signed by another CA is refused.
    let foreign = CardCa::create(
        CardProfile::EcdsaP384Sha384,
        CertPurpose::Authentication,
        &operator(),
        now(),
    )
    .unwrap();
    let forged = foreign.crl(9, now(), now() + Duration::hours(1), &[]).unwrap();
    assert!(CardCrl::parse(&forged, p.auth.certificate()).is_err());

    // Expired and not yet valid, judged at the given time.
    assert!(matches!(
        p.trust
            .verify(&c3, CertPurpose::Authentication, now() + Duration::days(365 * 6)),
        Err(CardCertError::Expired(_))
    ));
    assert!(matches!(
        p.trust
            .verify(&c3, CertPurpose::Authentication, now() - Duration::days(1)),
        Err(CardCertError::NotYetValid(_))
    ));
    // A stale CRL means the status is unknown: refused, not assumed good.
    assert!(matches!(
        p.trust
            .verify(&c3, CertPurpose::Authentication, now() + Duration::hours(2)),
        Err(CardCertError::RevocationUnknown(_))
    ));
    // No CRL at all: refused.
    let bare = CardTrust::new(p.trust.cas().to_vec());
    assert!(matches!(
        bare.verify(&c3, CertPurpose::Authentication, now()),
        Err(CardCertError::RevocationUnknown(_))
    ));
    // A certificate from a CA that is not trusted, even with the same name.
    let foreign_cert = issue(&foreign, &key, CardSerial::random(), None);
    assert_eq!(
        p.trust
            .verify(&foreign_cert, CertPurpose::Authentication, now())
            .unwrap_err(),
        CardCertError::UnknownIssuer
    );
    // One flipped byte in the signed part.
    let mut tampered = c3.clone();
    let i = tampered.len() / 2;
    tampered[i] ^= 0x01;
    assert!(
        p.trust
            .verify(&tampered, CertPurpose::Authentication, now())
            .is_err()
    );
    // Not a certificate at all.
    assert!(matches!(
        p.trust.verify(b"hello", CertPurpose::Authentication, now()),
        Err(CardCertError::Malformed(_))
    ));
    // The CA certificate itself is not a card.
    assert!(
        p.trust
            .verify(p.auth.certificate().der(), CertPurpose::Authentication, now())
            .is_err()
    );
}

#[test]
fn openssl_verifies_our_chain_and_crl_and_signs_with_the_card_key() {
    for profile in CardProfile::ALL {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let p = pki(profile);
        let card_dir = dir.join("card");
        let pin = CardSecret::auth_pin("1234").unwrap();
        let password = CardSecret::signing_password("ABC123").unwrap();
        let card = SoftwareCard::create(&card_dir, profile, &pin, &password).unwrap();
        let key_mode = std::fs::metadata(card.key_path(CertPurpose::Authentication))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let serial = CardSerial::random();
        let cert = p
            .auth
            .issue(&CardCertRequest {
                spki_der: &card.public_key(CertPurpose::Authentication).unwrap(),
                serial,
                not_before: now() - Duration::minutes(1),
                not_after: now() + Duration::days(30),
                facts: None,
                crl_url: Some("http://127.0.0.1:9/crl"),
            })
            .unwrap();
        card.install_certificate(CertPurpose::Authentication, &cert)
            .unwrap();
        // The signing key's certificate cannot be installed as the authentication one.
        let sign_cert = p
            .sign
            .issue(&CardCertRequest {
                spki_der: &card.public_key(CertPurpose::Signing).unwrap(),
                serial: CardSerial::random(),
                not_before: now() - Duration::minutes(1),
                not_after: now() + Duration::days(30),
                facts: Some(&facts()),
                crl_url: None,
            })
            .unwrap();
        assert!(matches!(
            card.install_certificate(CertPurpose::Authentication, &sign_cert),
            Err(SoftwareCardError::KeyMismatch(CertPurpose::Authentication))
        ));
        card.install_certificate(CertPurpose::Signing, &sign_cert)
            .unwrap();

        std::fs::write(dir.join("ca.pem"), p.auth.cert_pem()).unwrap();
        let crl = p.auth.crl(1, now(), now() + Duration::days(1), &[]).unwrap();
        std::fs::write(dir.join("crl.der"), &crl).unwrap();
        let out = openssl(
            &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
            dir,
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let cert_path = card.certificate_path(CertPurpose::Authentication);
        let cert_arg = cert_path.to_str().unwrap();
        let out = openssl(
            &[
                "verify",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                "crl.pem",
                "-crl_check",
                cert_arg,
            ],
            dir,
        );
        assert!(
            out.status.success(),
            "{profile}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Revoked: OpenSSL reads our CRL entry the same way.
        let revoked = p
            .auth
            .crl(
                2,
                now(),
                now() + Duration::days(1),
                &[RevokedCard {
                    serial,
                    at: now(),
                    reason: RevocationReason::Lost,
                }],
            )
            .unwrap();
        std::fs::write(dir.join("crl2.der"), &revoked).unwrap();
        openssl(
            &["crl", "-inform", "DER", "-in", "crl2.der", "-out", "crl2.pem"],
            dir,
        );
        let out = openssl(
            &[
                "verify",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                "crl2.pem",
                "-crl_check",
                cert_arg,
            ],
            dir,
        );
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("revoked")
                || String::from_utf8_lossy(&out.stderr).contains("revoked")
        );

        // The PIN-protected key file is standard: OpenSSL opens it with the
        // PIN and signs; the portal's verifier accepts what it signed.
        std::fs::write(dir.join("challenge.bin"), b"renkei-portal-login\nK7P-4QX2\n").unwrap();
        let digest = match profile {
            CardProfile::Rsa2048Sha256 => "-sha256",
            CardProfile::EcdsaP384Sha384 => "-sha384",
        };
        let key_arg = card.key_path(CertPurpose::Authentication);
        let out = openssl(
            &[
                "dgst",
                digest,
                "-sign",
                key_arg.to_str().unwrap(),
                "-passin",
                "pass:1234",
                "-out",
                "sig.bin",
                "challenge.bin",
            ],
            dir,
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let sig = std::fs::read(dir.join("sig.bin")).unwrap();
        let verified = p.trust.verify(&cert, CertPurpose::Authentication, now()).unwrap();
        verified
            .public_key
            .verify(b"renkei-portal-login\nK7P-4QX2\n", &sig)
            .unwrap();
        // The wrong PIN opens nothing, in OpenSSL or here.
        let out = openssl(
            &[
                "dgst",
                digest,
                "-sign",
                key_arg.to_str().unwrap(),
                "-passin",
                "pass:9999",
                "-out",
                "sig2.bin",
                "challenge.bin",
            ],
            dir,
        );
        assert!(!out.status.success());
        let wrong = CardSecret::auth_pin("9999").unwrap();
        assert!(matches!(
            card.sign(CertPurpose::Authentication, &wrong, b"x"),
            Err(SoftwareCardError::Key {
                source: KeyError::WrongPin,
                ..
            })
        ));
        // And OpenSSL verifies what the software card signs.
        let ours = card
            .sign(
                CertPurpose::Authentication,
                &pin,
                b"renkei-portal-login\nK7P-4QX2\n",
            )
            .unwrap();
        std::fs::write(dir.join("ours.bin"), ours).unwrap();
        let out = openssl(
            &["x509", "-in", cert_arg, "-pubkey", "-noout", "-out", "pub.pem"],
            dir,
        );
        assert!(out.status.success());
        let out = openssl(
            &[
                "dgst",
                digest,
                "-verify",
                "pub.pem",
                "-signature",
                "ours.bin",
                "challenge.bin",
            ],
            dir,
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        // The signing key needs the signing password, not the PIN.
        assert!(card.sign(CertPurpose::Signing, &pin, b"x").is_err());
        card.sign(CertPurpose::Signing, &password, b"x").unwrap();
    }
}

#[test]
fn pins_and_passwords_follow_the_card_rules() {
    assert!(CardSecret::auth_pin("1234").is_ok());
    assert!(CardSecret::auth_pin("1234\n").is_ok());
    for bad in ["123", "12345", "12a4", "", "１２３４"] {
        assert_eq!(
            CardSecret::auth_pin(bad).unwrap_err(),
            SecretError::AuthPin,
            "{bad}"
        );
    }
    assert!(CardSecret::signing_password("ABC123").is_ok());
    assert!(CardSecret::signing_password("A1B2C3D4E5F6G7H8").is_ok());
    for bad in ["ABC12", "abc123", "ABC-123", "A1B2C3D4E5F6G7H8I"] {
        assert_eq!(
            CardSecret::signing_password(bad).unwrap_err(),
            SecretError::SigningPassword,
            "{bad}"
        );
    }
    // Debug output never shows the secret.
    assert!(!format!("{:?}", CardSecret::auth_pin("4321").unwrap()).contains("4321"));
}

#[test]
fn a_card_directory_is_not_overwritten_and_rejects_damaged_files() {
    let tmp = tempfile::tempdir().unwrap();
    let pin = CardSecret::auth_pin("1234").unwrap();
    let pw = CardSecret::signing_password("ABC123").unwrap();
    SoftwareCard::create(tmp.path(), CardProfile::EcdsaP384Sha384, &pin, &pw).unwrap();
    assert!(SoftwareCard::create(tmp.path(), CardProfile::EcdsaP384Sha384, &pin, &pw).is_err());
    let card = SoftwareCard::open(tmp.path()).unwrap();
    assert!(matches!(
        card.certificate(CertPurpose::Authentication),
        Err(SoftwareCardError::NotIssued(CertPurpose::Authentication))
    ));
    // A key file that others can read is refused, not used quietly.
    let key = card.key_path(CertPurpose::Authentication);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        card.sign(CertPurpose::Authentication, &pin, b"x"),
        Err(SoftwareCardError::File(_))
    ));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(tmp.path().join(CARD_FILE), "profile = \"rsa1024\"\n").unwrap();
    assert!(matches!(
        SoftwareCard::open(tmp.path()),
        Err(SoftwareCardError::Invalid { .. })
    ));
}
