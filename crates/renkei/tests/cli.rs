// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used)]

//! The `renkei` binary as a user runs it.

use std::path::Path;
use std::process::Command;

fn renkei(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .env_remove("RENKEI_DATABASE_URL")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the renkei binary runs")
}

fn renkei_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .env_remove("RENKEI_DATABASE_URL")
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the renkei binary runs")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn demo_exits_zero_writes_demo_json_and_configs_that_validate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("net");
    let out = renkei(&[
        "demo",
        "--residents",
        "200",
        "--exit",
        "--durability",
        "normal",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("14 of 14 scenarios behaved as expected"),
        "{stdout}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo.json")).unwrap()).unwrap();
    assert!(
        json["hub"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    assert!(
        json["ca"]["certificate_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert_eq!(json["institutions"].as_array().unwrap().len(), 7);
    // The portal, and cards ready to log in with.
    assert!(
        json["portal"]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:")
    );
    let cards = json["portal"]["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 3, "{cards:?}");
    for c in cards {
        let dir = Path::new(c["dir"].as_str().unwrap());
        assert!(dir.join("auth.crt.pem").exists());
        assert_eq!(mode(&dir.join("auth.key.pem")), 0o600);
        assert_eq!(c["pin"], "1234");
    }
    assert!(stdout.contains("have a card ready (PIN 1234)"), "{stdout}");
    // The consent API and its example clients, registered and approved.
    let api = &json["consent_api"];
    assert_eq!(api["issuer"], json["portal"]["url"]);
    let clients = api["clients"].as_array().unwrap();
    let names: Vec<&str> = clients.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bank", "disability-card", "phr"]);
    for c in clients {
        assert!(c["client_id"].as_str().unwrap().starts_with("rc_"));
        assert!(
            c["redirect_uri"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        assert_eq!(mode(Path::new(c["key"].as_str().unwrap())), 0o600);
    }
    assert_eq!(
        mode(Path::new(clients[2]["encryption_key"].as_str().unwrap())),
        0o600
    );
    assert!(
        stdout.contains("example clients registered and approved"),
        "{stdout}"
    );
    // Private delivery: four senders linked by the card holders, depositing.
    assert!(
        stdout.contains("5 of 5 delivery scenarios behaved as expected"),
        "{stdout}"
    );
    let delivery = &json["delivery"];
    assert!(
        delivery["deposit_api"]
            .as_str()
            .unwrap()
            .ends_with("/delivery/v1")
    );
    let senders = delivery["senders"].as_array().unwrap();
    let names: Vec<&str> = senders.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["employer", "life-insurer", "bank", "donation-platform"]);
    for s in senders {
        assert!(s["sender_id"].as_str().unwrap().starts_with("rs_"));
        assert_eq!(mode(Path::new(s["key"].as_str().unwrap())), 0o600);
    }
    assert!(
        json["institutions"][0]["local_api"]["token"]
            .as_str()
            .unwrap()
            .len()
            >= 40
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("demo.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "demo.json holds tokens");
    for key in [
        "hub/signing.key",
        "hub/code-keys",
        "hub/record.key",
        "nodes/setagaya/tls.key",
        "pki/ca/ca.key",
    ] {
        let mode = std::fs::metadata(data.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    // Stores live in directories named after the role and institution.
    for store in [
        "hub/hub.sqlite",
        "registry/registry.sqlite",
        "nodes/setagaya/node.sqlite",
        "nodes/vehicle/node.sqlite",
    ] {
        assert!(data.join(store).exists(), "{store}");
        // The owner's alone, in directories that are too.
        assert_eq!(crate::mode(&data.join(store)), 0o600, "{store}");
        assert_eq!(crate::mode(data.join(store).parent().unwrap()), 0o700, "{store}");
    }
    assert_eq!(crate::mode(&data.join("portal")), 0o700);
    assert_eq!(crate::mode(&data.join("witness")), 0o700);
    // The business systems' import files hold personal data.
    assert_eq!(crate::mode(&data.join("import")), 0o700);
    let imports = walk(&data.join("import"));
    assert!(!imports.is_empty());
    for f in imports {
        assert_eq!(crate::mode(&f), 0o600, "{}", f.display());
    }
    // The registry and the nodes seal their stores under their data keys.
    for key in ["registry/data.key", "nodes/setagaya/data.key"] {
        assert_eq!(crate::mode(&data.join(key)), 0o600, "{key}");
    }
    let reg_toml = data.join("registry/registry.toml");
    let config = std::fs::read_to_string(&reg_toml).unwrap();
    assert!(config.contains("data_key = "), "{config}");
    // A store others can read is refused, naming the file, its mode and
    // the fix...
    let reg_store = data.join("registry/registry.sqlite");
    std::fs::set_permissions(&reg_store, std::fs::Permissions::from_mode(0o644)).unwrap();
    let serve = renkei(&["registry", "serve", "--config", reg_toml.to_str().unwrap()]);
    assert!(!serve.status.success());
    let msg = text(&serve);
    assert!(
        msg.contains(&format!("{} has mode 0644", reg_store.display()))
            && msg.contains(&format!("chmod 600 {}", reg_store.display())),
        "{msg}"
    );
    std::fs::set_permissions(&reg_store, std::fs::Permissions::from_mode(0o600)).unwrap();
    // ...and so is the sealed store without its key.
    let keyless = data.join("registry/keyless.toml");
    let without: String = config
        .lines()
        .filter(|l| !l.starts_with("data_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&keyless, without).unwrap();
    let serve = renkei(&[
        "registry",
        "serve",
        "--config",
        keyless.to_str().unwrap(),
        "--store",
        reg_store.to_str().unwrap(),
    ]);
    assert!(!serve.status.success());
    assert!(
        text(&serve).contains("encrypted at rest and no data key was given"),
        "{}",
        text(&serve)
    );

    let hub_toml = data.join("hub/hub.toml");
    let ok = renkei(&["hub", "check", "--config", hub_toml.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("valid"));

    // A broken permission table stops the hub with the line and field.
    let table = data.join("hub/permissions.csv");
    let good = std::fs::read_to_string(&table).unwrap();
    let broken = good.replacen("resident_tax_income,番号法", "resident_tax_incom,番号法", 1);
    std::fs::write(&table, &broken).unwrap();
    let bad = renkei(&["hub", "check", "--config", hub_toml.to_str().unwrap()]);
    assert!(!bad.status.success());
    let msg = text(&bad);
    assert!(
        msg.contains("line 8, field `item`: unknown item `resident_tax_incom`"),
        "{msg}"
    );
    let serve = renkei(&["hub", "serve", "--config", hub_toml.to_str().unwrap()]);
    assert!(!serve.status.success(), "serve refuses a bad table");
    assert!(text(&serve).contains("field `item`"), "{}", text(&serve));
}

#[test]
fn demo_runs_every_role_on_postgres() {
    let Ok(url) = std::env::var("RENKEI_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "RENKEI_TEST_DATABASE_URL is not set under CI=true"
        );
        eprintln!("RENKEI_TEST_DATABASE_URL is not set; the demo is not run on PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("net");
    let out = renkei(&[
        "demo",
        "--residents",
        "200",
        "--exit",
        "--data-dir",
        data.to_str().unwrap(),
        "--database-url",
        &url,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stores: PostgreSQL"), "{stdout}");
    assert!(
        stdout.contains("14 of 14 scenarios behaved as expected"),
        "{stdout}"
    );
    // No role kept a SQLite file: everything is in the database.
    let sqlite: Vec<_> = walk(&data)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sqlite"))
        .collect();
    assert!(sqlite.is_empty(), "{sqlite:?}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo.json")).unwrap()).unwrap();
    let store = json["institutions"][0]["store"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(store.contains("search_path"), "{json}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn demo_refuses_a_non_empty_directory_and_too_few_residents() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x"), "keep me").unwrap();
    let out = renkei(&["demo", "--exit", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not empty"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("x")).unwrap(), "keep me");
    let out = renkei(&["demo", "--exit", "--residents", "10"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("at least 200"), "{}", text(&out));
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn pki_commands_issue_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let out = renkei(&[
        "pki",
        "init",
        "--dir",
        ca.to_str().unwrap(),
        "--suite",
        "nist-p256",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let node = dir.path().join("node");
    let out = renkei(&[
        "pki",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        "node",
        "--institution",
        "4011001098993",
        "--name",
        "test node",
        "--out",
        node.to_str().unwrap(),
        "--suite",
        "nist-p256",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&node.join("tls.key")), 0o600);
    assert_eq!(mode(&node.join("signing.key")), 0o600);
    // The node's directory is its owner's alone, with a data key for its store.
    assert_eq!(mode(&node), 0o700);
    assert_eq!(mode(&node.join("data.key")), 0o600);
    assert!(text(&out).contains("data_key = "), "{}", text(&out));
    let serial = text(&out)
        .split("serial ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    let out = renkei(&["pki", "revoke", "--ca", ca.to_str().unwrap(), "--serial", &serial]);
    assert!(out.status.success(), "{}", text(&out));
    let out = renkei(&["pki", "revoke", "--ca", ca.to_str().unwrap(), "--serial", "00ff"]);
    assert!(!out.status.success(), "an unknown serial is an error");
    // `refresh-crl` re-signs the CRL with the next number and keeps every
    // revocation, as OpenSSL reads it.
    let crl_text = || {
        let out = std::process::Command::new("openssl")
            .args(["crl", "-noout", "-text", "-in"])
            .arg(ca.join("ca.crl"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let crl_number = |t: &str| -> u64 {
        let after = t.split("X509v3 CRL Number:").nth(1).unwrap();
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    let before = crl_text();
    let out = renkei(&["pki", "refresh-crl", "--ca", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let after = crl_text();
    assert_eq!(crl_number(&after), crl_number(&before) + 1, "{after}");
    assert!(
        after.to_uppercase().contains(&serial.to_uppercase()),
        "the revoked serial {serial} is still listed: {after}"
    );
    let out = renkei(&[
        "pki",
        "refresh-crl",
        "--ca",
        dir.path().join("no-ca").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "refreshing a missing CA is an error");
    // A node certificate needs an institution, and a valid one.
    let out = renkei(&[
        "pki",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        "node",
        "--name",
        "x",
        "--out",
        dir.path().join("y").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--institution is required"));
    let out = renkei(&[
        "pki",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        "node",
        "--institution",
        "4011001098994",
        "--name",
        "x",
        "--out",
        dir.path().join("z").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("check digit"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn person_and_audit_commands_against_a_running_network() {
    use renkei_demo::country::{CountryOptions, populate};
    use renkei_demo::network::{Network, NetworkOptions};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("net");
    let mut o = NetworkOptions::new(&data);
    o.checkpoint_interval_ms = 100;
    let net = Network::start(o).await.unwrap();
    let country = populate(
        &net,
        &CountryOptions {
            residents: 220,
            seed: 9,
            today: renkei_protocol::UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await
    .unwrap();
    let results = renkei_demo::scenarios::run(&net, &country).await.unwrap();
    assert!(results.iter().all(|r| r.passed));
    let (_, digital_id) = &country.cast.account_holder;
    let key_file = dir.path().join("person.key");
    let digital_toml = data.join("nodes/digital/node.toml");
    let run = |args: Vec<String>| {
        let args: Vec<String> = args;
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            renkei(&refs)
        })
    };
    // The person's own card is what obtains their key: without it, nothing.
    let who = country
        .inhabitant(renkei_demo::institutions::DIGITAL.key, digital_id)
        .unwrap()
        .clone();
    let card_dir = dir.path().join("card");
    renkei_demo::cards::issue_card(
        &net.registry_admin,
        &who.my_number,
        &card_dir,
        renkei_card::CardProfile::EcdsaP384Sha384,
        &renkei_card::CardSecret::auth_pin(renkei_demo::cards::DEMO_PIN).unwrap(),
        &renkei_card::CardSecret::signing_password(renkei_demo::cards::DEMO_PASSWORD).unwrap(),
    )
    .await
    .unwrap();
    let key_args = |pin: &'static str| {
        let args: Vec<String> = vec![
            "person".into(),
            "key".into(),
            "--config".into(),
            digital_toml.display().to_string(),
            "--card".into(),
            card_dir.display().to_string(),
            "--out".into(),
            key_file.display().to_string(),
        ];
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            renkei_env(&refs, &[("RENKEI_CARD_PIN", pin)])
        })
    };
    let wrong = key_args("9999").await.unwrap();
    assert!(!wrong.status.success());
    assert!(!key_file.exists(), "nothing written with a wrong PIN");
    let out = key_args(renkei_demo::cards::DEMO_PIN).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&key_file), 0o600);
    // The scenarios' public-fund lookup is about this person: it shows, proven.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let ca = data.join("pki/ca/ca.crt").display().to_string();
    let out = run(vec![
        "person".into(),
        "records".into(),
        "--key".into(),
        key_file.display().to_string(),
        "--log".into(),
        net.hub.log_url(),
        "--ca".into(),
        ca.clone(),
    ])
    .await
    .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("benefit_payment_account") && t.contains("✔ in log"),
        "{t}"
    );
    // The same key file again is refused (never overwritten).
    let out = run(vec![
        "person".into(),
        "key".into(),
        "--config".into(),
        digital_toml.display().to_string(),
        "--local-id".into(),
        digital_id.clone(),
        "--out".into(),
        key_file.display().to_string(),
    ])
    .await
    .unwrap();
    assert!(!out.status.success());

    // Audit over HTTPS, with the witness's cosignature required.
    let out = run(vec![
        "audit".into(),
        "verify".into(),
        "--log".into(),
        net.hub.log_url(),
        "--ca".into(),
        ca.clone(),
        "--key".into(),
        net.hub.log_verifier.clone(),
        "--witness".into(),
        net.witness.cosignature_key.clone(),
    ])
    .await
    .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("log verified") && t.contains("cosigned by witness.renkei.demo"),
        "{t}"
    );
    // A wrong key fails loudly.
    let wrong = renkei_log::NoteSigner::generate(renkei_demo::network::LOG_ORIGIN)
        .unwrap()
        .verifier()
        .to_string();
    let out = run(vec![
        "audit".into(),
        "verify".into(),
        "--log".into(),
        net.hub.log_url(),
        "--ca".into(),
        ca,
        "--key".into(),
        wrong,
    ])
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("FAILED"), "{}", text(&out));
    net.shutdown().await;

    // From the data directory once the network is down.
    let key = std::fs::read_to_string(data.join("hub/log.key")).unwrap();
    let verifier = renkei_log::NoteSigner::parse_private(&key)
        .unwrap()
        .verifier()
        .to_string();
    let out = run(vec![
        "audit".into(),
        "verify".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--key".into(),
        verifier,
    ])
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn card_commands_create_issue_approve_sign_and_show() {
    use renkei_demo::country::{CountryOptions, populate};
    use renkei_demo::network::{Network, NetworkOptions};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("net");
    let mut o = NetworkOptions::new(&data);
    o.durability = renkei_store_sqlite::Durability::Normal;
    let net = Network::start(o).await.unwrap();
    let country = populate(
        &net,
        &CountryOptions {
            residents: 220,
            seed: 5,
            today: renkei_protocol::UnixMillis::now().to_datetime().date(),
            progress: false,
        },
    )
    .await
    .unwrap();
    let who = country.people.iter().find(|p| p.age >= 20).unwrap().clone();
    let run = |args: Vec<String>, env: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            renkei_env(&refs, &envs)
        })
    };
    let s = |v: &str| v.to_owned();
    let card = dir.path().join("card");
    let card_s = card.display().to_string();
    let secrets = || {
        vec![
            ("RENKEI_CARD_PIN", s("1234")),
            ("RENKEI_CARD_PASSWORD", s("CARD2026")),
        ]
    };

    // A bad PIN is refused before anything is written.
    let out = run(
        vec![s("card"), s("create"), s("--card"), card_s.clone()],
        vec![
            ("RENKEI_CARD_PIN", s("12")),
            ("RENKEI_CARD_PASSWORD", s("CARD2026")),
        ],
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("4 digits"), "{}", text(&out));
    assert!(!card.exists());
    let out = run(
        vec![
            s("card"),
            s("create"),
            s("--card"),
            card_s.clone(),
            s("--profile"),
            s("rsa2048-sha256"),
        ],
        secrets(),
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&card.join("auth.key.pem")), 0o600);
    assert_eq!(mode(&card.join("sign.key.pem")), 0o600);

    let ca = data.join("pki/ca/ca.crt").display().to_string();
    let out = run(
        vec![
            s("card"),
            s("issue"),
            s("--card"),
            card_s.clone(),
            s("--registry-admin"),
            net.registry.admin.url(),
            s("--token"),
            net.registry_files.token.display().to_string(),
            s("--ca"),
            ca.clone(),
        ],
        vec![("RENKEI_MY_NUMBER", who.my_number.clone())],
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains(&who.my_number),
        "the My Number is not echoed"
    );
    let out = run(vec![s("card"), s("show"), s("--card"), card_s.clone()], vec![])
        .await
        .unwrap();
    assert!(
        text(&out).contains("auth  serial") && text(&out).contains("RSA-2048"),
        "{}",
        text(&out)
    );

    // Approve the code the login page shows.
    let page = reqwest::get(format!("{}/login", net.portal.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let code: String = page
        .split("id=\"login-code\">")
        .nth(1)
        .unwrap()
        .chars()
        .take(9)
        .collect();
    let shown: String = page
        .split("id=\"login-match\">")
        .nth(1)
        .unwrap()
        .chars()
        .take(2)
        .collect();
    let approve = |pin: &str| {
        run(
            vec![
                s("card"),
                s("approve"),
                code.clone(),
                s("--match"),
                shown.clone(),
                s("--portal"),
                net.portal.url.clone(),
                s("--card"),
                card_s.clone(),
            ],
            vec![("RENKEI_CARD_PIN", pin.to_owned())],
        )
    };
    let out = approve("9999").await.unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("PIN"), "{}", text(&out));
    let out = approve("1234").await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("log in") && text(&out).contains("approved"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("asked by a browser at 127.0.0.1"),
        "the card app shows where the login was asked: {}",
        text(&out)
    );
    // The same code again: spent.
    let out = approve("1234").await.unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("challenge_used"), "{}", text(&out));

    // Sign a document with the signing key; OpenSSL verifies it with the
    // signing certificate's key.
    let doc = dir.path().join("consent.txt");
    std::fs::write(&doc, "I agree.").unwrap();
    let sig = dir.path().join("consent.sig");
    let out = run(
        vec![
            s("card"),
            s("sign"),
            s("--card"),
            card_s.clone(),
            s("--in"),
            doc.display().to_string(),
            s("--out"),
            sig.display().to_string(),
        ],
        secrets(),
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let pubkey = dir.path().join("sign.pub.pem");
    let o = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(card.join("sign.crt.pem"))
        .args(["-out"])
        .arg(&pubkey)
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&pubkey)
        .arg("-signature")
        .arg(&sig)
        .arg(&doc)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // The card CA of a new registry, never overwritten.
    let ca_dir = dir.path().join("card-ca");
    let out = run(
        vec![
            s("registry"),
            s("card-ca"),
            s("init"),
            s("--dir"),
            ca_dir.display().to_string(),
        ],
        vec![],
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&ca_dir.join("p384-sha384/auth.key.pem")), 0o600);
    let out = run(
        vec![
            s("registry"),
            s("card-ca"),
            s("init"),
            s("--dir"),
            ca_dir.display().to_string(),
        ],
        vec![],
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_apply_screen_and_show() {
    use renkei_demo::network::{Network, NetworkOptions};

    let dir = tempfile::tempdir().unwrap();
    let mut o = NetworkOptions::new(dir.path().join("net"));
    o.durability = renkei_store_sqlite::Durability::Normal;
    let net = Network::start(o).await.unwrap();
    let token = dir.path().join("net/portal/admin.token");
    let admin = net.portal_admin_url();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            renkei(&refs)
        })
    };
    let base = |cmd: &str| {
        vec![
            "client".to_owned(),
            cmd.to_owned(),
            "--admin".to_owned(),
            admin.clone(),
            "--token".to_owned(),
            token.display().to_string(),
        ]
    };
    let key = renkei_jose::SigningKey::generate(renkei_jose::Alg::EdDsa).unwrap();
    let app = serde_json::json!({
        "corporate_number": "4010001234567",
        "name": "れんけい銀行",
        "purpose": "住宅ローンの審査",
        "redirect_uris": ["https://bank.example/callback"],
        "jwks": {"keys": [key.public_jwk()]},
        "items": ["resident_tax_income"],
        "max_data_life_days": 90,
        "contact": "api@bank.example"
    });
    let file = dir.path().join("application.json");
    std::fs::write(&file, app.to_string()).unwrap();
    let mut apply = base("apply");
    apply.push(file.display().to_string());
    let out = run(apply).await.unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let id = t
        .split_whitespace()
        .find(|w| w.starts_with("rc_"))
        .unwrap()
        .to_owned();
    assert!(t.contains("applied"), "{t}");

    // A bad application names the field; the list stays as it was.
    std::fs::write(&file, serde_json::json!({"name": "x"}).to_string()).unwrap();
    let mut bad = base("apply");
    bad.push(file.display().to_string());
    let out = run(bad).await.unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("corporate_number"), "{}", text(&out));

    let mut approve = base("change");
    approve.extend([id.clone(), "approve".into(), "--by".into(), "officer".into()]);
    let out = run(approve).await.unwrap();
    assert!(
        out.status.success() && text(&out).contains("approved"),
        "{}",
        text(&out)
    );
    let mut reject = base("change");
    reject.extend([
        id.clone(),
        "reject".into(),
        "--by".into(),
        "officer".into(),
        "--reason".into(),
        "late".into(),
    ]);
    let out = run(reject).await.unwrap();
    assert!(!out.status.success(), "an approved client cannot be rejected");
    assert!(
        text(&out).contains("cannot reject a client that is approved"),
        "{}",
        text(&out)
    );

    let out = run(base("list")).await.unwrap();
    let t = text(&out);
    assert!(
        out.status.success() && t.lines().filter(|l| l.starts_with("rc_")).count() == 1,
        "{t}"
    );
    let mut usage = base("usage");
    usage.push(id.clone());
    let out = run(usage).await.unwrap();
    assert!(
        out.status.success() && text(&out).contains("approved: last 24 h delivered 0"),
        "{}",
        text(&out)
    );
    let out = run(base("alerts")).await.unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "no alerts yet: {}",
        text(&out)
    );
    let mut show = base("show");
    show.push(id);
    let out = run(show).await.unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["events"].as_array().unwrap().len(), 2);

    // Plain HTTP to a non-loopback host is refused before any token is sent.
    let out = run(vec![
        "client".into(),
        "list".into(),
        "--admin".into(),
        "http://portal.example:8080".into(),
        "--token".into(),
        token.display().to_string(),
    ])
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("loopback"), "{}", text(&out));

    // Senders are screened the same way (`renkei sender`).
    let sender = |cmd: &str| {
        let mut v = base(cmd);
        v[0] = "sender".into();
        v
    };
    let app = serde_json::json!({
        "corporate_number": "4020001095513",
        "name": "あおば生命保険株式会社",
        "kind": "life_insurer",
        "jwks": {"keys": [key.public_jwk()]},
        "document_types": ["life_insurance_certificate.v1"],
        "contact": "delivery@aoba-life.example"
    });
    std::fs::write(&file, app.to_string()).unwrap();
    let mut apply = sender("apply");
    apply.push(file.display().to_string());
    let out = run(apply).await.unwrap();
    let t = text(&out);
    assert!(out.status.success() && t.contains("applied"), "{t}");
    let sid = t
        .split_whitespace()
        .find(|w| w.starts_with("rs_"))
        .unwrap()
        .to_owned();
    let mut bad_types = app.clone();
    bad_types["document_types"] = serde_json::json!(["donation_receipt.v1"]);
    std::fs::write(&file, bad_types.to_string()).unwrap();
    let mut bad = sender("apply");
    bad.push(file.display().to_string());
    let out = run(bad).await.unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("does not issue"), "{}", text(&out));
    let mut approve = sender("change");
    approve.extend([sid.clone(), "approve".into(), "--by".into(), "officer".into()]);
    let out = run(approve).await.unwrap();
    assert!(
        out.status.success() && text(&out).contains("approved"),
        "{}",
        text(&out)
    );
    let out = run(sender("list")).await.unwrap();
    let t = text(&out);
    assert!(
        out.status.success() && t.lines().filter(|l| l.starts_with("rs_")).count() == 1,
        "{t}"
    );
    let mut show = sender("show");
    show.push(sid.clone());
    let out = run(show).await.unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["events"].as_array().unwrap().len(), 2);
    assert_eq!(shown["sender"]["status"], "approved");

    // As the sender: deposits signed with its key, each line reported.
    let key_file = dir.path().join("sender.key");
    renkei_pki::write_private(&key_file, key.pkcs8(), renkei_pki::WriteMode::Replace).unwrap();
    let as_sender = |cmd: &str| {
        vec![
            "sender".to_owned(),
            cmd.to_owned(),
            "--portal".to_owned(),
            net.portal.url.clone(),
            "--sender".to_owned(),
            sid.clone(),
            "--key".to_owned(),
            key_file.display().to_string(),
        ]
    };
    let handle = renkei_delivery::HandleKey::from_bytes([4; 32])
        .handle(&renkei_delivery::SenderId::parse(&sid).unwrap(), "nobody");
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../renkei-delivery/schemas/examples/life_insurance_certificate.v1.valid.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let line = serde_json::json!({"document_id": "LI-1", "type": "life_insurance_certificate.v1", "handle": handle.as_str(), "document": doc});
    let jsonl = dir.path().join("deposits.jsonl");
    std::fs::write(&jsonl, format!("{line}\n\nnot json\n")).unwrap();
    let mut deposit = as_sender("deposit");
    deposit.push(jsonl.display().to_string());
    let out = run(deposit).await.unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "refused lines fail the run: {t}");
    assert!(t.contains("refused 2"), "{t}");
    let report = std::fs::read_to_string(dir.path().join("deposits.jsonl.report.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = report.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{report}");
    assert_eq!(
        (lines[0]["line"].as_u64(), lines[0]["code"].as_str()),
        (Some(1), Some("not_linked")),
        "{report}"
    );
    assert_eq!(
        (lines[1]["line"].as_u64(), lines[1]["code"].as_str()),
        (Some(3), Some("malformed")),
        "{report}"
    );
    let out = run(as_sender("feed")).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let feed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(feed["links"], serde_json::json!([]));
    // A key the sender never registered is refused by the portal.
    let other = renkei_jose::SigningKey::generate(renkei_jose::Alg::Es256).unwrap();
    renkei_pki::write_private(&key_file, other.pkcs8(), renkei_pki::WriteMode::Replace).unwrap();
    let out = run(as_sender("feed")).await.unwrap();
    assert!(
        !out.status.success() && text(&out).contains("bad_signature"),
        "{}",
        text(&out)
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_url_serves_the_witness_on_postgres_and_bad_urls_are_clear_errors() {
    use renkei_demo::network::{Network, NetworkOptions};
    use std::io::{BufRead as _, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("net");
    let mut o = NetworkOptions::new(&data);
    o.durability = renkei_store_sqlite::Durability::Normal;
    let net = Network::start(o).await.unwrap();
    // Every role refuses a URL that is not PostgreSQL's, or a server that
    // is not there, by name, and starts nothing.
    for (role, config) in [
        ("hub", "hub/hub.toml"),
        ("registry", "registry/registry.toml"),
        ("portal", "portal/portal.toml"),
        ("witness", "witness/witness.toml"),
    ] {
        // (An unreachable server costs the 10 s connect timeout: one role.)
        let unreachable = (
            "postgres://postgres@127.0.0.1:1/none",
            "cannot connect to the database",
        );
        let urls = [("mysql://root@127.0.0.1/test", "not a PostgreSQL URL")];
        for (url, expected) in urls.into_iter().chain((role == "hub").then_some(unreachable)) {
            let config = data.join(config).display().to_string();
            let out = tokio::task::spawn_blocking(move || {
                renkei(&[role, "serve", "--config", &config, "--database-url", url])
            })
            .await
            .unwrap();
            assert!(!out.status.success(), "{role} {url}");
            assert!(text(&out).contains(expected), "{role} {url}: {}", text(&out));
        }
    }

    let Ok(url) = std::env::var("RENKEI_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "RENKEI_TEST_DATABASE_URL is not set under CI=true"
        );
        eprintln!("RENKEI_TEST_DATABASE_URL is not set; the witness is not started on PostgreSQL");
        net.shutdown().await;
        return;
    };
    // The witness on PostgreSQL, on a free port.
    let toml = std::fs::read_to_string(data.join("witness/witness.toml")).unwrap();
    let mut cfg: toml::Value = toml::from_str(&toml).unwrap();
    cfg["listen"] = toml::Value::String("127.0.0.1:0".into());
    let cfg_path = data.join("witness/witness-pg.toml");
    std::fs::write(&cfg_path, toml::to_string(&cfg).unwrap()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["witness", "serve", "--config"])
        .arg(&cfg_path)
        .env("RENKEI_DATABASE_URL", &url)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("witness serving on") || l.contains("Error"))
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line = line.unwrap_or_default();
    assert!(line.contains("witness serving on https://127.0.0.1:"), "{line}");
    net.shutdown().await;
}

#[test]
fn the_sqlite_cache_option_is_checked_by_name() {
    let serve = ["witness", "serve", "--config", "witness.toml"];
    for (extra, expected) in [
        (
            &["--sqlite-cache-mib", "0"][..],
            "'--sqlite-cache-mib <SQLITE_CACHE_MIB>': 0 is not in 1..=4096",
        ),
        (&["--sqlite-cache-mib", "lots"][..], "invalid digit"),
        (
            &["--sqlite-cache-mib", "8", "--database-url", "postgres://db/x"][..],
            "cannot be used with",
        ),
    ] {
        let args: Vec<&str> = serve.iter().chain(extra).copied().collect();
        let out = renkei(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
    let out = renkei_env(&serve, &[("RENKEI_SQLITE_CACHE_MIB", "5000")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("5000 is not in 1..=4096"), "{}", text(&out));
}

/// `renkei tax draft`: a salaried resident's year, every figure worked out
/// by hand below from the 2025 rules, and bad files refused naming the field.
#[test]
fn tax_draft_computes_the_return_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("documents.json");
    std::fs::write(
        &input,
        r#"{
          "withholding_slip": {"payment_amount": 5000000, "social_insurance_amount": 750000, "withholding_tax": 120000},
          "life_insurance_certificates": [
            {"category": "general", "contract": "new", "annual_premium": 100000},
            {"category": "care_medical", "contract": "new", "annual_premium": 30000},
            {"category": "individual_pension", "contract": "old", "annual_premium": 60000}
          ],
          "earthquake_insurance_certificates": [{"type": "earthquake", "annual_premium": 30000}],
          "medical_expense_notices": [{"paid": 250000, "reimbursed": 50000}],
          "donation_certificates": [{"amount": 30000}]
        }"#,
    )
    .unwrap();
    let path = input.to_str().unwrap();
    let out = renkei(&["tax", "draft", "--year", "2025", "--input", path, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 5,000,000 is a multiple of 4,000: x 80% - 440,000 (No.1410).
    assert_eq!(d["employment_income"], 3_560_000);
    assert_eq!(d["total_income"], 3_560_000);
    let ded = &d["deductions"];
    assert_eq!(ded["social_insurance"], 750_000);
    // general new 100,000 -> 40,000; care-medical new 30,000 -> 15,000 +
    // 10,000; pension old 60,000 -> 15,000 + 25,000 (No.1140).
    assert_eq!(ded["life_insurance_by_category"]["general"], 40_000);
    assert_eq!(ded["life_insurance_by_category"]["care_medical"], 25_000);
    assert_eq!(ded["life_insurance_by_category"]["individual_pension"], 40_000);
    assert_eq!(ded["life_insurance"], 105_000);
    assert_eq!(ded["earthquake_insurance"], 30_000);
    // 250,000 - 50,000 - min(100,000, 5% of 3,560,000) (No.1120).
    assert_eq!(ded["medical_expense"], 100_000);
    assert_eq!(ded["self_medication"], 0);
    assert_eq!(ded["donation"], 28_000);
    // 3,360,001..=4,890,000 -> 680,000 (No.1199, 2025).
    assert_eq!(ded["basic"], 680_000);
    assert_eq!(ded["total"], 1_693_000);
    // 3,560,000 - 1,693,000 = 1,867,000; 5% = 93,350; 2.1% = 1,960.35.
    assert_eq!(d["taxable_income"], 1_867_000);
    assert_eq!(d["income_tax"], 93_350);
    assert_eq!(d["housing_loan_credit"], 0);
    assert_eq!(d["base_income_tax"], 93_350);
    assert_eq!(d["reconstruction_tax"], 1_960);
    assert_eq!(d["total_tax"], 95_310);
    assert_eq!(d["withholding_tax"], 120_000);
    assert_eq!(d["tax_due"], -24_690);
    let life = d["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["figure"] == "deductions.life_insurance")
        .unwrap();
    assert_eq!(life["sources"].as_array().unwrap().len(), 3, "{life}");

    // The table names the figures and where they came from.
    let out = renkei(&["tax", "draft", "--year", "2025", "--input", path]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("生命保険料控除"), "{table}");
    assert!(table.contains("life_insurance_certificates[2]"), "{table}");
    assert!(table.contains("-24690"), "{table}");

    for (body, year, expected) in [
        (
            r#"{"withholding_slip": {"payment_amount": "5000000", "social_insurance_amount": 0, "withholding_tax": 0}}"#,
            "2025",
            "withholding_slip.payment_amount: invalid type: string",
        ),
        (
            r#"{"medical_expense_notices": [{"paid": 1, "reimbursed": 0}, {"paid": 1, "refund": 2}]}"#,
            "2025",
            "medical_expense_notices[1]",
        ),
        (
            r#"{"life_insurance_certificates": [{"category": "care_medical", "contract": "old", "annual_premium": 1}]}"#,
            "2025",
            "life_insurance_certificates[0].contract",
        ),
        (
            r#"{"withholding_slip": {"payment_amount": 100, "social_insurance_amount": 200, "withholding_tax": 0}}"#,
            "2025",
            "withholding_slip.social_insurance_amount",
        ),
        (
            r#"{"donation_certificates": [[5000]]}"#,
            "2025",
            "donation_certificates[0]",
        ),
        (r#"{}"#, "2024", "year: "),
        (r#"{} {}"#, "2025", "trailing characters"),
    ] {
        std::fs::write(&input, body).unwrap();
        let out = renkei(&["tax", "draft", "--year", year, "--input", path, "--json"]);
        assert!(!out.status.success(), "{body} was accepted");
        assert!(out.stdout.is_empty(), "{body}: printed a draft");
        assert!(text(&out).contains(expected), "{body}: {}", text(&out));
    }
    let out = renkei(&[
        "tax",
        "draft",
        "--year",
        "2025",
        "--input",
        "/nonexistent/documents.json",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("/nonexistent/documents.json"),
        "{}",
        text(&out)
    );
}

#[test]
fn bench_log_and_history_refuse_bad_options_and_honour_the_database_env() {
    for (args, expected) in [
        (
            &["bench", "history", "--records", "0"][..],
            "--records must be positive",
        ),
        (
            &["bench", "history", "--records", "100", "--person-records", "101"][..],
            "--person-records (101) cannot exceed --records (100)",
        ),
        (
            &["bench", "history", "--records", "100", "--person-records", "0"][..],
            "--person-records must be positive",
        ),
        (
            &[
                "bench",
                "history",
                "--records",
                "5000",
                "--database-url",
                "mysql://root@127.0.0.1/test",
            ][..],
            "not a PostgreSQL URL",
        ),
        (&["bench", "log", "--records", "0"][..], "must be positive"),
        (
            &[
                "bench",
                "log",
                "--records",
                "10",
                "--database-url",
                "sqlite:///tmp/x.sqlite",
            ][..],
            "not a PostgreSQL URL",
        ),
        (
            &["bench", "history", "--records", "ten"][..],
            "invalid value 'ten'",
        ),
    ] {
        let out = renkei(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
    // RENKEI_DATABASE_URL stands for --database-url here as in every
    // command: a bad one is refused like the flag, and nothing runs.
    let env = [("RENKEI_DATABASE_URL", "mysql://root@127.0.0.1/test")];
    for args in [
        &["bench", "log", "--records", "300", "--concurrency", "8"][..],
        &["bench", "history", "--records", "2000"][..],
    ] {
        let out = renkei_env(args, &env);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("not a PostgreSQL URL"),
            "{args:?}: {}",
            text(&out)
        );
    }
    // Without it, the history runs on SQLite.
    let out = renkei_env(
        &[
            "bench",
            "history",
            "--records",
            "2000",
            "--person-records",
            "10",
            "--repetitions",
            "3",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("History: one person's records as the log grows, SQLite"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the store's root equals the root recomputed"),
        "{stdout}"
    );
    assert!(stdout.contains("| 2000 |"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_enrol_sends_a_checked_file_in_batches_and_lists_refusals() {
    use renkei_api::node::PersonWire;
    use renkei_api::registry::{RegisterRequest, RegisterResult, ResidentWire};
    use renkei_demo::network::{Network, NetworkOptions};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("net");
    let mut o = NetworkOptions::new(&data);
    o.durability = renkei_store_sqlite::Durability::Normal;
    let net = Network::start(o).await.unwrap();
    let people: Vec<ResidentWire> = (0..5)
        .map(|i| ResidentWire {
            name: format!("試験 {}", ["一郎", "二郎", "三郎", "四郎", "五郎"][i]),
            kana: "シケン タロウ".into(),
            address: format!("東京都世田谷区世田谷4丁目{}番1号", i + 1),
            birth_date: format!("1980-04-0{}", i + 1),
            sex: 1,
            household: 90 + i as u64,
            address_since: None,
        })
        .collect();
    let registered: RegisterResult = net
        .registry_admin
        .post(
            "/admin/v1/residents",
            &RegisterRequest {
                residents: people.clone(),
            },
        )
        .await
        .unwrap();
    // Four registered people, and one whose facts differ from the register.
    let mut csv = "local_id,my_number,name,address,birth_date,sex\n".to_owned();
    for (i, (p, n)) in people.iter().zip(&registered.my_numbers).enumerate() {
        let address = if i == 4 {
            "東京都世田谷区1番"
        } else {
            p.address.as_str()
        };
        csv.push_str(&format!("T-{i},{n},{},{address},{},1\n", p.name, p.birth_date));
    }
    let file = dir.path().join("people.csv");
    std::fs::write(&file, &csv).unwrap();
    let tax = data.join("nodes/tax/node.toml").display().to_string();
    let (t, f) = (tax.clone(), file.display().to_string());
    let out =
        tokio::task::spawn_blocking(move || renkei(&["node", "enrol", "--config", &t, &f, "--batch", "2"]))
            .await
            .unwrap();
    assert!(
        !out.status.success(),
        "a refusal fails the command: {}",
        text(&out)
    );
    let t = text(&out);
    assert!(t.contains("enrolled 4 of 5 people"), "{t}");
    assert!(t.contains("refused T-4: facts_differ"), "{t}");
    assert!(
        !registered.my_numbers.iter().any(|n| t.contains(n.as_str())),
        "no My Number in the output: {t}"
    );
    let node = &net.node(renkei_demo::institutions::TAX.key).local;
    for i in 0..4 {
        let p: PersonWire = node.get(&format!("/local/v1/persons/T-{i}")).await.unwrap();
        assert!(!p.code.is_empty());
    }
    assert!(node.get::<PersonWire>("/local/v1/persons/T-4").await.is_err());

    // A file with a problem is refused whole, by line and field, and
    // nothing is sent.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "local_id,my_number,name,address,birth_date,sex\nT-9,{},試験 九郎,東京都世田谷区1番,1980-13-01,1\n",
            registered.my_numbers[0]
        ),
    )
    .unwrap();
    let (t, f) = (tax.clone(), bad.display().to_string());
    let out = tokio::task::spawn_blocking(move || renkei(&["node", "enrol", "--config", &t, &f]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("line 2, field `birth_date`") && text(&out).contains("nothing was sent"),
        "{}",
        text(&out)
    );
    assert!(node.get::<PersonWire>("/local/v1/persons/T-9").await.is_err());
    // A file that is neither CSV nor JSONL is refused by name.
    let (t, f) = (tax, dir.path().join("people.txt").display().to_string());
    let out = tokio::task::spawn_blocking(move || renkei(&["node", "enrol", "--config", &t, &f]))
        .await
        .unwrap();
    assert!(
        text(&out).contains("give a .jsonl or .csv file"),
        "{}",
        text(&out)
    );
    net.shutdown().await;
}

/// The subcommands a `--help` text lists under "Commands:" (without `help`).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// `--help` of every command, as a user walks them: each exits 0, shows its
/// usage, and every option it lists says what it is.
#[test]
fn help_walks_every_command_and_every_option_is_explained() {
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    let mut unexplained = Vec::new();
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = renkei(&args);
        assert!(out.status.success(), "renkei {}: {}", args.join(" "), text(&out));
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            help.contains("Usage: renkei"),
            "renkei {}: {help}",
            args.join(" ")
        );
        seen += 1;
        // In the long help an option's explanation stands on the lines
        // after it, indented further; an option followed directly by
        // another (or by the end) has none.
        let lines: Vec<&str> = help.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let is_option =
                t.starts_with("--") || (t.starts_with('-') && t.len() > 1 && !t.starts_with("- "));
            let is_positional = t.starts_with('<') || t.starts_with("[");
            // Entries stand at most six columns in; deeper lines are their
            // explanations, defaults and possible values.
            let indent = l.len() - t.len();
            if !(is_option || is_positional) || indent == 0 || indent > 6 {
                continue;
            }
            if t.starts_with("-h, --help") || t.starts_with("-V, --version") {
                continue;
            }
            // The short form puts the explanation on the same line, after
            // a gap of two or more spaces.
            let same_line = t.contains("  ") && !t.rsplit("  ").next().unwrap_or("").trim().is_empty();
            let next_line = lines
                .get(i + 1)
                .is_some_and(|n| !n.trim().is_empty() && n.len() - n.trim_start().len() > indent);
            let explained = same_line || next_line;
            if !explained {
                unexplained.push(format!("renkei {}: {t}", path.join(" ")));
            }
        }
        for c in listed_commands(&help) {
            let mut p = path.clone();
            p.push(c);
            pending.push(p);
        }
    }
    assert!(seen > 40, "walked only {seen} commands");
    assert!(
        unexplained.is_empty(),
        "options without help:\n{}",
        unexplained.join("\n")
    );
}

/// `renkei benefit test`: the shipped programme files pass their own
/// cases; a file with a fault names its line and field; a failing case
/// says what was expected; either makes the command fail.
#[test]
fn benefit_test_runs_programme_cases_and_names_what_is_wrong() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../renkei-benefit/programmes");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".toml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    let mut args = vec!["benefit", "test"];
    args.extend(files.iter().map(String::as_str));
    let out = renkei(&args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains("child_allowance v2 — 10 of 10 cases passed"),
        "{stdout}"
    );
    assert!(stdout.contains("4 programme(s):"), "{stdout}");
    assert!(stdout.contains(", 0 failed, 0 file(s) did not load"), "{stdout}");
    // Without files: the shipped programmes, the same.
    let shipped = renkei(&["benefit", "test"]);
    assert!(shipped.status.success(), "{}", text(&shipped));

    let tmp = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(dir.join("birth_support_payment.toml")).unwrap();
    let wrong_amount = tmp.path().join("wrong_amount.toml");
    let wrong = original.replacen("amount = 100_000", "amount = 150_000", 1);
    assert_ne!(wrong, original, "the amount to break is there");
    std::fs::write(&wrong_amount, wrong).unwrap();
    let typo = tmp.path().join("typo.toml");
    let typoed = original.replacen("\"\" && count", "\"\" && cuont", 1);
    assert_ne!(typoed, original, "the rule to break is there");
    std::fs::write(&typo, typoed).unwrap();
    let out = renkei(&[
        "benefit",
        "test",
        wrong_amount.to_str().unwrap(),
        typo.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains("FAILED twins: expected amount 150000, got 100000"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rules.eligible: unknown function `cuont`"),
        "{stdout}"
    );
    assert!(stdout.contains("typo.toml: line "), "{stdout}");
    assert!(
        text(&out).contains("1 case(s) failed and 1 file(s) did not load"),
        "{}",
        text(&out)
    );
    let missing = renkei(&["benefit", "test", "/nonexistent/programme.toml"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("/nonexistent/programme.toml"),
        "{}",
        text(&missing)
    );
}
