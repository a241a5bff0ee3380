//! Every committed corpus input and every input a fuzzer crashed on, fed
//! again through its target: a crash found once stays a test.

use std::path::Path;

#[test]
fn every_corpus_and_regression_input_is_handled() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut fed = 0usize;
    for (name, target) in renkei_fuzz::TARGETS {
        let mut seeds = 0usize;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a readable corpus directory").path();
                let data = std::fs::read(&path).expect("a readable corpus file");
                target(&data);
                seeds += 1;
            }
        }
        assert!(seeds > 0, "target {name} has no committed corpus");
        fed += seeds;
    }
    assert!(fed >= renkei_fuzz::TARGETS.len());
}

#[test]
fn every_target_has_a_fuzzer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for (name, _) in renkei_fuzz::TARGETS {
        let file = dir.join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("renkei_fuzz::{name}(")),
            "{} does not call renkei_fuzz::{name}",
            file.display()
        );
    }
}
