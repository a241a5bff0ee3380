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
            "renkei-tax",
            "renkei-delivery",
            "renkei-benefit",
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

// ------------------------------------------------------------ openapi/

/// Every HTTP surface: its description in `openapi/` and the routers, by
/// file (below `crates/`) and block (`let NAME = Router::new()` or the
/// router a `fn NAME` builds), that serve it. Routers they `.merge()` are
/// followed.
const SURFACES: &[(&str, &str, &str)] = &[
    ("hub-network", "renkei-hub-service/src/hub.rs", "let network"),
    ("hub-admin", "renkei-hub-service/src/hub.rs", "let admin"),
    ("hub-log", "renkei-hub-service/src/log.rs", "fn router"),
    ("node-network", "renkei-node-service/src/node.rs", "let network"),
    ("node-local", "renkei-node-service/src/node.rs", "let local"),
    (
        "registry-network",
        "renkei-registry-service/src/registry.rs",
        "let network",
    ),
    (
        "registry-admin",
        "renkei-registry-service/src/registry.rs",
        "let admin",
    ),
    (
        "registry-cards",
        "renkei-registry-service/src/card.rs",
        "fn public_router",
    ),
    ("witness", "renkei-witness-service/src/lib.rs", "let app"),
    ("portal-web", "renkei-portal-web/src/routes.rs", "fn web_router"),
    ("portal-mtls", "renkei-portal-web/src/oauth.rs", "fn mtls_router"),
    ("portal-admin", "renkei-portal-web/src/admin.rs", "fn router"),
];

/// The crates whose routers are described.
const SERVICE_CRATES: &[&str] = &[
    "renkei-hub-service",
    "renkei-node-service",
    "renkei-registry-service",
    "renkei-witness-service",
    "renkei-portal-web",
];

const METHODS: &[&str] = &["get", "post", "put", "delete", "patch", "head", "options"];

type Routes = BTreeSet<(String, String)>;

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Source without comments and without its `#[cfg(test)]` tail (where
/// routers of tests live).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| if l.trim_start().starts_with("//") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the expression `code` starts ends: at the first `;` or unmatched
/// closing bracket outside brackets and strings.
fn chain_end(code: &[u8]) -> usize {
    let (mut depth, mut i, mut in_str) = (0i32, 0, false);
    while i < code.len() {
        let c = code[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth -= 1;
                    if depth < 0 {
                        return i;
                    }
                }
                b';' if depth == 0 => return i,
                _ => {}
            }
        }
        i += 1;
    }
    i
}

/// The calls `.name(args)` at the top level of a method chain: (name, args).
fn top_calls(chain: &str) -> Vec<(String, String)> {
    let b = chain.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' {
            let name_end = (i + 1..b.len())
                .find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_'))
                .unwrap_or(b.len());
            let name = &chain[i + 1..name_end];
            let rest = chain[name_end..].trim_start();
            if !name.is_empty() && rest.starts_with('(') {
                let open = chain.len() - rest.len();
                let close = open + 1 + chain_end(&b[open + 1..]);
                out.push((name.to_owned(), chain[open + 1..close].to_owned()));
                i = close + 1;
                continue;
            }
            i = name_end;
            continue;
        }
        if b[i] == b'(' || b[i] == b'[' || b[i] == b'{' {
            i += 1 + chain_end(&b[i + 1..]);
        }
        i += 1;
    }
    out
}

/// The routers read: (file, block).
type Blocks = BTreeSet<(String, String)>;

/// The routes one router block registers, following `.merge()`s into
/// routers of the same crate (each router read is added to `seen`). `file`
/// is below `crates/`.
fn routes_in(file: &str, block: &str, seen: &mut Blocks) -> Result<Routes, String> {
    let text =
        std::fs::read_to_string(repo().join("crates").join(file)).map_err(|e| format!("{file}: {e}"))?;
    routes_in_code(&code_of(&text), file, block, seen)
}

fn routes_in_code(code: &str, file: &str, block: &str, seen: &mut Blocks) -> Result<Routes, String> {
    seen.insert((file.to_owned(), block.to_owned()));
    let at = match block.strip_prefix("let ") {
        Some(name) => code.find(&format!("let {name} = Router::new()")),
        None => code
            .find(&format!("{block}<"))
            .or_else(|| code.find(&format!("{block}(")))
            .and_then(|f| code[f..].find("Router::new()").map(|r| f + r)),
    }
    .ok_or_else(|| format!("{file}: no router `{block}`"))?;
    let start = code[at..]
        .find("Router::new()")
        .map(|r| at + r + "Router::new()".len())
        .unwrap_or(at);
    let end = start + chain_end(&code.as_bytes()[start..]);
    let mut routes = Routes::new();
    for (name, args) in top_calls(&code[start..end]) {
        match name.as_str() {
            "route" => {
                let args = args.trim();
                let path = args
                    .strip_prefix('"')
                    .and_then(|a| a.split_once('"'))
                    .map(|(p, _)| p)
                    .ok_or_else(|| {
                        format!("{file} `{block}`: a route whose path is not a literal: {args}")
                    })?;
                let handler = args[path.len() + 2..].trim_start().trim_start_matches(',');
                let handler = format!(".{}", handler.trim());
                let methods: Vec<String> = top_calls(&handler)
                    .into_iter()
                    .map(|(m, _)| m)
                    .filter(|m| METHODS.contains(&m.as_str()))
                    .collect();
                if methods.is_empty() {
                    return Err(format!("{file} `{block}`: route {path} has no method"));
                }
                for m in methods {
                    routes.insert((m, path.replace("{*", "{")));
                }
            }
            "merge" => {
                // `crate::module::function::<S>()` in the same crate.
                let target = args
                    .trim()
                    .split("::<")
                    .next()
                    .unwrap_or("")
                    .trim_end_matches("()");
                let segments: Vec<&str> = target.split("::").collect();
                let [.., module, function] = segments.as_slice() else {
                    return Err(format!("{file} `{block}`: cannot follow merge({args})"));
                };
                let krate = file.split('/').next().unwrap_or("");
                routes.extend(routes_in(
                    &format!("{krate}/src/{module}.rs"),
                    &format!("fn {function}"),
                    seen,
                )?);
            }
            // Routes this reader cannot follow: better a failure than a
            // route silently left out of the comparison.
            "nest" | "nest_service" | "route_service" => {
                return Err(format!(
                    "{file} `{block}`: .{name}() is not read; extend routes_in_code"
                ));
            }
            _ => {}
        }
    }
    Ok(routes)
}

/// The operations an OpenAPI description declares.
fn described(spec: &Value) -> Routes {
    spec["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .flat_map(|(path, item)| {
                    item.as_object()
                        .into_iter()
                        .flat_map(|ops| ops.keys())
                        .filter(|m| METHODS.contains(&m.as_str()))
                        .map(move |m| (m.clone(), path.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What differs between a surface's routers and its description.
fn mismatches(surface: &str, served: &Routes, spec: &Value) -> Vec<String> {
    let declared = described(spec);
    let mut found = Vec::new();
    for (m, p) in served.difference(&declared) {
        found.push(format!(
            "openapi/{surface}.json does not describe {} {p}",
            m.to_uppercase()
        ));
    }
    for (m, p) in declared.difference(served) {
        found.push(format!(
            "openapi/{surface}.json describes {} {p}, which no router serves",
            m.to_uppercase()
        ));
    }
    if spec["openapi"].as_str().is_none_or(|v| !v.starts_with("3.")) {
        found.push(format!("openapi/{surface}.json is not an OpenAPI 3 description"));
    }
    let mut ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (m, op) in item.as_object().into_iter().flatten() {
            if !METHODS.contains(&m.as_str()) {
                continue;
            }
            if op["responses"].as_object().is_none_or(|r| r.is_empty()) {
                found.push(format!("openapi/{surface}.json: {m} {path} has no responses"));
            }
            match op["operationId"].as_str() {
                Some(id) if ids.insert(id.to_owned()) => {}
                _ => found.push(format!(
                    "openapi/{surface}.json: {m} {path} has no unique operationId"
                )),
            }
        }
    }
    found
}

fn spec(surface: &str) -> Value {
    let path = repo().join("openapi").join(format!("{surface}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_route_is_described_in_openapi_and_every_description_is_served() {
    let mut found = Vec::new();
    let mut total = 0;
    let mut reached = Blocks::new();
    for (surface, file, block) in SURFACES {
        let served = routes_in(file, block, &mut reached).unwrap();
        assert!(served.len() >= 2, "{surface}: only {served:?} found in {file}");
        total += served.len();
        found.extend(mismatches(surface, &served, &spec(surface)));
    }
    assert!(
        found.is_empty(),
        "the API descriptions are out of date:\n{}",
        found.join("\n")
    );
    assert!(total >= 100, "only {total} operations found");

    // No description without a surface.
    for entry in std::fs::read_dir(repo().join("openapi")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(surface) = name.strip_suffix(".json") {
            assert!(
                SURFACES.iter().any(|(s, ..)| *s == surface),
                "openapi/{name} is in no row of SURFACES"
            );
        }
    }

    // No router without a description: each `Router::new()` of the
    // services is one of SURFACES or merged into one.
    for krate in SERVICE_CRATES {
        for entry in std::fs::read_dir(repo().join("crates").join(krate).join("src")).unwrap() {
            let path = entry.unwrap().path();
            let code = code_of(&std::fs::read_to_string(&path).unwrap());
            let file = format!("{krate}/src/{}", path.file_name().unwrap().to_string_lossy());
            for (at, _) in code.match_indices("Router::new()") {
                let line_start = code[..at].rfind('\n').map_or(0, |n| n + 1);
                let line = code[line_start..at].trim();
                let block = match line.strip_prefix("let ").and_then(|l| l.split_once(" =")) {
                    Some((name, _)) => format!("let {name}"),
                    None => {
                        let f = code[..at].rfind("fn ").unwrap();
                        let name: String = code[f + 3..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        format!("fn {name}")
                    }
                };
                assert!(
                    reached.contains(&(file.clone(), block.clone())),
                    "{file}: router `{block}` has no description in openapi/ (add a row to SURFACES)"
                );
            }
        }
    }
}

#[test]
fn the_openapi_check_catches_a_missing_or_stale_route() {
    let served = routes_in("renkei-hub-service/src/hub.rs", "let admin", &mut Blocks::new()).unwrap();
    assert!(served.contains(&("post".into(), "/admin/v1/code-keys/rotate".into())));
    let mut stale = spec("hub-admin");
    let paths = stale["paths"].as_object_mut().unwrap();
    paths.remove("/admin/v1/code-keys/rotate").unwrap();
    paths.insert(
        "/admin/v1/gone".into(),
        serde_json::json!({"get": {"operationId": "gone", "responses": {"200": {"description": "x"}}}}),
    );
    let found = mismatches("hub-admin", &served, &stale);
    assert_eq!(
        found,
        [
            "openapi/hub-admin.json does not describe POST /admin/v1/code-keys/rotate",
            "openapi/hub-admin.json describes GET /admin/v1/gone, which no router serves",
        ],
        "{found:#?}"
    );

    // A method added to a served path, a merge and a multi-line route are
    // read from the source as the routers register them.
    let code = r#"
        fn make() {
            let api = Router::new()
                .route(
                    "/a/{id}",
                    get(show::<S>).delete(drop::<S>).layer(DefaultBodyLimit::max(9)),
                )
                .route("/b/{*rest}", post(|| async { "ok" }))
                .layer(middleware::from_fn(f))
                .route("/health", get(health))
                .with_state(st);
        }
    "#;
    let routes = routes_in_code(code, "x/src/y.rs", "let api", &mut Blocks::new()).unwrap();
    let want: Routes = [
        ("get", "/a/{id}"),
        ("delete", "/a/{id}"),
        ("post", "/b/{rest}"),
        ("get", "/health"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(routes, want);
    // A nested router is not read: the check fails instead of missing it.
    let nested = "fn make() { let api = Router::new().nest(\"/v2\", v2()).with_state(st); }";
    let err = routes_in_code(nested, "x/src/y.rs", "let api", &mut Blocks::new()).unwrap_err();
    assert!(err.contains(".nest() is not read"), "{err}");
}

/// The crates that speak HTTP: where outside JSON arrives.
fn http_crates() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repo().join("crates")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with("-service") || name == "renkei-transport" || name == "renkei-portal-web" {
            out.push(e.path().join("src"));
        }
    }
    out.sort();
    out
}

/// Where `code` decodes JSON other than through `strict_json`: serde_json's
/// own decoders, and axum's `Json` used as an extractor.
fn lax_json_decoding(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let lax = [
            "serde_json::from_slice",
            "serde_json::from_str",
            "serde_json::from_reader",
            "serde_json::from_value",
        ]
        .iter()
        .any(|f| line.contains(f))
            || line.contains("): Json<")
            || line.contains("): axum::Json<");
        if lax {
            found.push(format!("line {}: {}", i + 1, line.trim()));
        }
    }
    found
}

#[test]
fn outside_json_is_decoded_strictly_in_every_http_crate() {
    let mut found = Vec::new();
    let mut files = 0;
    for dir in http_crates() {
        for f in renkei_testnet::files_under(&dir) {
            if f.extension().is_some_and(|e| e == "rs") {
                files += 1;
                let code = code_of(&std::fs::read_to_string(&f).unwrap());
                for hit in lax_json_decoding(&code) {
                    found.push(format!("{}: {hit}", f.display()));
                }
            }
        }
    }
    assert!(files >= 20, "only {files} source files read");
    assert!(
        found.is_empty(),
        "JSON decoded without renkei_protocol::strict_json (a struct would also be read from an array):\n{}",
        found.join("\n")
    );
    // The check is not vacuous: it sees both forms.
    let bad = "async fn h(Json(body): Json<Wire>) {}\nlet v: Wire = serde_json::from_slice(&b)?;";
    assert_eq!(lax_json_decoding(bad).len(), 2);
    assert!(lax_json_decoding("let v: Wire = renkei_protocol::strict_json::from_slice(&b)?;").is_empty());
}
