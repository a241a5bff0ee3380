use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::PkiError;

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0)
}

fn test_ca(dir: &Path, suite: Suite) -> NetworkCa {
    NetworkCa::create(&dir.join("ca"), "test CA", tls_algorithm(suite)).expect("create the CA")
}

#[test]
fn a_node_gets_keys_a_token_and_a_data_key_for_its_owner_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca(tmp.path(), Suite::NistP256);
    let dir = tmp.path().join("nodes/a");
    let id = CorporateNumber::from_base_number(100_000_131_121).expect("valid base");
    let files =
        provision_role(&ca, &dir, Role::Node, Some(id), "node a", Suite::NistP256).expect("provision a node");
    assert_eq!(mode_of(&dir), 0o700);
    for private in [&files.key, &files.signing_key, &files.sealing_key, &files.token] {
        assert_eq!(mode_of(private), 0o600, "{}", private.display());
    }
    for public in [&files.cert, &files.signing_pub, &files.sealing_pub] {
        assert_eq!(mode_of(public), 0o644, "{}", public.display());
    }
    assert_eq!(files.token, dir.join("local.token"));
    let data_key = files.data_key.expect("a node has a data key");
    assert_eq!(mode_of(&data_key), 0o600);
    let before = read_data_key(&data_key).expect("read the data key");
    // Provisioning again keeps the data key (the store it seals).
    let again =
        provision_role(&ca, &dir, Role::Node, Some(id), "node a", Suite::NistP256).expect("provision again");
    let after = read_data_key(&again.data_key.expect("still a data key")).expect("read it again");
    let check = |key: &DataKey| renkei_crypto::AtRestCipher::new(key).key_check();
    assert_eq!(check(&before), check(&after));
    assert_ne!(files.serial, again.serial);
}

#[test]
fn the_hub_has_an_admin_token_and_secrets_but_no_data_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca(tmp.path(), Suite::Ed25519X25519);
    let dir = tmp.path().join("hub");
    let files =
        provision_role(&ca, &dir, Role::Hub, None, "hub", Suite::Ed25519X25519).expect("provision the hub");
    assert_eq!(files.token, dir.join("admin.token"));
    assert!(files.data_key.is_none());
    let (codes, record, log) = provision_hub_secrets(&dir, "renkei.test/log").expect("hub secrets");
    for secret in [&codes, &record, &log] {
        assert_eq!(mode_of(secret), 0o600, "{}", secret.display());
    }
    let verifier = note_verifier(&log, false).expect("the log key's verifier");
    assert!(verifier.starts_with("renkei.test/log+"), "{verifier}");
}

#[test]
fn errors_name_the_file_and_the_step() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("registry");
    let path = provision_data_key(&dir).expect("a data key");
    // An existing data key is never replaced.
    let again = provision_data_key(&dir).expect_err("the key exists");
    assert!(
        matches!(
            &again,
            ProvisionError::Write {
                file: ProvisionedFile::DataKey,
                source: PkiError::AlreadyExists { .. },
                ..
            }
        ),
        "{again:?}"
    );
    assert!(again.to_string().contains(&path.display().to_string()), "{again}");

    let binary = tmp.path().join("binary.key");
    crate::write_private(&binary, &[0xff, 0xfe], WriteMode::CreateNew).expect("write");
    let e = read_data_key(&binary).expect_err("not text");
    assert!(matches!(e, ProvisionError::DataKeyNotText { .. }), "{e:?}");
    assert!(e.to_string().contains("binary.key"), "{e}");

    let wrong = tmp.path().join("wrong.key");
    crate::write_private(&wrong, b"renkei-data-key-v0\n", WriteMode::CreateNew).expect("write");
    let e = read_data_key(&wrong).expect_err("not a data key");
    assert!(matches!(e, ProvisionError::InvalidDataKey { .. }), "{e:?}");

    let missing = tmp.path().join("missing.key");
    let e = read_data_key(&missing).expect_err("no such file");
    assert!(matches!(e, ProvisionError::ReadDataKey { .. }), "{e:?}");
    let e = note_verifier(&wrong, false).expect_err("not a note key");
    assert!(matches!(e, ProvisionError::InvalidNoteKey { .. }), "{e:?}");
    assert!(e.to_string().contains("wrong.key"), "{e}");

    let ca = test_ca(tmp.path(), Suite::Ed25519X25519);
    let e = issue_tls(
        &ca,
        &tmp.path().join("x"),
        Role::Node,
        None,
        "nameless node",
        Suite::Ed25519X25519,
    )
    .expect_err("a node certificate needs an institution");
    assert!(
        matches!(&e, ProvisionError::Issue { role: Role::Node, common_name, .. } if common_name == "nameless node"),
        "{e:?}"
    );
}
