//! The official JSON-Schema-Test-Suite (draft 2020-12; MIT, copied from
//! json-schema-org/JSON-Schema-Test-Suite at 44401e0c, 2026-08-22) for the
//! keywords the validator implements. A group whose schema uses anything
//! else must be refused when compiled — never validated loosely — and is
//! counted; every compiled group must give the suite's answer on every
//! case.

use std::path::Path;

use renkei_delivery::Schema;
use serde_json::Value;

/// Files whose every group uses only implemented keywords: none may be
/// refused.
const FULLY_SUPPORTED: &[&str] = &[
    "anyOf",
    "boolean_schema",
    "const",
    "enum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxItems",
    "maxLength",
    "maximum",
    "minItems",
    "minLength",
    "minimum",
    "oneOf",
    "pattern",
    "required",
    "type",
];

#[test]
fn the_validator_gives_the_suites_answers_and_refuses_what_it_does_not_implement() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/json-schema-test-suite");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let (mut cases, mut groups, mut refused) = (0, 0, Vec::new());
    let mut wrong = Vec::new();
    for path in &files {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let suite: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for group in &suite {
            let what = format!("{stem}: {}", group["description"].as_str().unwrap());
            let schema = match Schema::compile(&group["schema"]) {
                Ok(s) => s,
                Err(e) => {
                    assert!(
                        e.reason.contains("not supported"),
                        "{what}: refused for another reason: {e}"
                    );
                    assert!(
                        !FULLY_SUPPORTED.contains(&stem.as_str()),
                        "{what}: refused although its file is fully supported: {e}"
                    );
                    refused.push(what);
                    continue;
                }
            };
            groups += 1;
            for case in group["tests"].as_array().unwrap() {
                cases += 1;
                let expected = case["valid"].as_bool().unwrap();
                let got = schema.validate(&case["data"]);
                if got.is_ok() != expected {
                    wrong.push(format!(
                        "{what} / {}: expected valid={expected}, got {got:?}",
                        case["description"]
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The suite's size at that commit for the files copied: a shrinking
    // count would mean groups silently stopped being checked.
    assert!(groups >= 134, "only {groups} groups compiled");
    assert!(cases >= 1, "only {cases} cases run");
    eprintln!(
        "JSON-Schema-Test-Suite: {cases} cases in {groups} groups agree; {} groups refused as unsupported",
        refused.len()
    );
}
