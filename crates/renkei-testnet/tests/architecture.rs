// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used)]

//! ARCHITECTURE.md's layer table, checked against `cargo metadata`: every
//! crate of the workspace sits in one layer, its dependencies point to its
//! own layer or below, a role's service never depends on another's, the
//! test network is only ever a dev-dependency, and nothing below the
//! stores knows HTTP, SQL or an async runtime.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The layers, lowest first (ARCHITECTURE.md, "Code map").
const LAYERS: &[(&str, &[&str])] = &[
    (
        "identifiers and crypto",
        &[
            "renkei-ids",
            "renkei-crypto",
            "renkei-jose",
            "renkei-log",
            "renkei-pki",
        ],
    ),
    (
        "domain",
        &[
            "renkei-catalog",
            "renkei-protocol",
            "renkei-hub",
            "renkei-node",
            "renkei-registry",
            "renkei-witness",
            "renkei-card",
            "renkei-portal",
            "renkei-consent",
            "renkei-population",
        ],
    ),
    (
        "stores",
        &[
            "renkei-store-sql",
            "renkei-store-sqlite",
            "renkei-store-postgres",
            "renkei-outbox",
        ],
    ),
    (
        "API and transport",
        &["renkei-api", "renkei-transport", "renkei-provider"],
    ),
    (
        "services",
        &[
            "renkei-hub-service",
            "renkei-node-service",
            "renkei-registry-service",
            "renkei-witness-service",
            "renkei-portal-web",
        ],
    ),
    (
        "demo, bench, test network and fuzzing",
        &["renkei-demo", "renkei-bench", "renkei-testnet", "renkei-fuzz"],
    ),
    ("binary", &["renkei"]),
];

const SERVICES: usize = 4;
const DOMAIN: usize = 1;

/// Libraries that mean HTTP, SQL or I/O on a runtime.
const IO_CRATES: &[&str] = &["axum", "axum-server", "reqwest", "sqlx", "tokio", "hyper"];

struct Dep {
    name: String,
    dev: bool,
}

/// The workspace's crates and each one's dependencies, from `cargo metadata`.
fn workspace() -> BTreeMap<String, Vec<Dep>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| Dep {
                    name: d["name"].as_str().unwrap().to_owned(),
                    dev: d["kind"].as_str() == Some("dev"),
                })
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, crates)| crates.contains(&name))
}

/// What the layering rules find wrong with `crates` (empty: all is well).
fn violations(crates: &BTreeMap<String, Vec<Dep>>) -> Vec<String> {
    let mut found = Vec::new();
    for (name, deps) in crates {
        let Some(layer) = layer_of(name) else {
            found.push(format!("{name} is in no layer of ARCHITECTURE.md's table"));
            continue;
        };
        for dep in deps {
            if dep.name == "renkei-testnet" && !dep.dev {
                found.push(format!(
                    "{name} depends on renkei-testnet, which is only a dev-dependency"
                ));
            }
            if layer <= DOMAIN && IO_CRATES.contains(&dep.name.as_str()) && !dep.dev {
                found.push(format!(
                    "{name} ({}) depends on {}: no HTTP, SQL or runtime below the stores",
                    LAYERS[layer].0, dep.name
                ));
            }
            let Some(dep_layer) = layer_of(&dep.name) else {
                continue; // not ours
            };
            if dep_layer > layer {
                found.push(format!(
                    "{name} ({}) depends upwards on {} ({})",
                    LAYERS[layer].0, dep.name, LAYERS[dep_layer].0
                ));
            }
            if layer == SERVICES && dep_layer == SERVICES {
                found.push(format!("service {name} depends on another service, {}", dep.name));
            }
        }
    }
    // A crate named twice in the table, or a table row no crate fills.
    let mut seen = BTreeSet::new();
    for (_, layer) in LAYERS {
        for c in *layer {
            if !seen.insert(*c) {
                found.push(format!("{c} is in two layers"));
            }
            if !crates.contains_key(*c) {
                found.push(format!("{c} is in the table but not in the workspace"));
            }
        }
    }
    found
}

#[test]
fn dependencies_point_down_the_layers_and_never_between_services() {
    let crates = workspace();
    assert!(crates.len() >= 25, "cargo metadata lists {} crates", crates.len());
    let found = violations(&crates);
    assert!(found.is_empty(), "layering violations:\n{}", found.join("\n"));
}

#[test]
fn the_check_catches_upward_sideways_and_unplaced_dependencies() {
    let mut crates = workspace();
    let add = |crates: &mut BTreeMap<String, Vec<Dep>>, from: &str, to: &str, dev: bool| {
        crates.get_mut(from).unwrap().push(Dep { name: to.into(), dev });
    };
    add(&mut crates, "renkei-hub", "renkei-api", false); // domain → API
    add(&mut crates, "renkei-node-service", "renkei-hub-service", true); // service → service
    add(&mut crates, "renkei-demo", "renkei-testnet", false); // ships the test network
    add(&mut crates, "renkei-protocol", "reqwest", false); // HTTP in the domain
    crates.insert("renkei-mailbox".into(), Vec::new()); // a crate in no layer
    let found = violations(&crates);
    for expected in [
        "renkei-hub (domain) depends upwards on renkei-api (API and transport)",
        "service renkei-node-service depends on another service, renkei-hub-service",
        "renkei-demo depends on renkei-testnet, which is only a dev-dependency",
        "renkei-protocol (domain) depends on reqwest",
        "renkei-mailbox is in no layer",
    ] {
        assert!(
            found.iter().any(|f| f.contains(expected)),
            "not caught: {expected}\nfound: {found:#?}"
        );
    }
    assert_eq!(found.len(), 5, "{found:#?}");
}
