//! Every document type against its examples: the valid one passes, and
//! every invalid one fails at the pointer its file names (the examples were
//! checked with Python's jsonschema, Draft202012Validator, when written).

use std::path::Path;

use renkei_delivery::DocumentTypes;
use serde_json::Value;

#[test]
fn every_type_accepts_its_example_and_refuses_each_defect_where_it_is() {
    let types = DocumentTypes::builtin().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples");
    let mut refused = 0;
    for t in types.iter() {
        let read = |kind: &str| -> Value {
            let path = dir.join(format!("{}.{kind}.json", t.id));
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
        };
        let valid = read("valid");
        assert_eq!(
            renkei_delivery::example_document(&t.id.to_string()).as_ref(),
            Some(&valid),
            "{}: the compiled-in example is the file",
            t.id
        );
        t.check(&valid)
            .unwrap_or_else(|e| panic!("{}: the valid example is refused: {e}", t.id));
        assert_eq!(t.tax_year(&valid), Some(2025), "{}", t.id);
        let invalid = read("invalid");
        let cases = invalid.as_array().unwrap();
        assert!(cases.len() >= 4, "{}: {} invalid examples", t.id, cases.len());
        for case in cases {
            let why = case["why"].as_str().unwrap();
            let e = t
                .check(&case["instance"])
                .expect_err(&format!("{}: accepted although {why}", t.id));
            assert_eq!(e.pointer, case["path"].as_str().unwrap(), "{}: {why}: {e}", t.id);
            refused += 1;
        }
    }
    assert!(refused >= 40, "{refused}");
}

/// What the schemas cannot say is checked too.
#[test]
fn dates_check_digits_and_contract_kinds_are_checked_beyond_the_schema() {
    let types = DocumentTypes::builtin().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples");
    let example = |id: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.valid.json"))).unwrap()).unwrap()
    };
    let life = types.get("life_insurance_certificate", 1).unwrap();
    let mut doc = example("life_insurance_certificate.v1");
    doc["category"] = "care_medical".into();
    doc["contract"] = "old".into();
    assert_eq!(life.check(&doc).unwrap_err().pointer, "/contract");
    doc["contract"] = "new".into();
    life.check(&doc).unwrap();

    let mut doc = example("life_insurance_certificate.v1");
    doc["certified_as_of"] = "2025-02-30".into();
    let e = life.check(&doc).unwrap_err();
    assert_eq!(e.pointer, "/certified_as_of", "{e}");
    assert!(e.to_string().contains("not a date of the calendar"), "{e}");

    let mut doc = example("life_insurance_certificate.v1");
    let cn = doc["issuer"]["corporate_number"].as_str().unwrap().to_owned();
    // Change one digit: the check digit no longer fits.
    let last = cn.as_bytes()[12];
    let other = if last == b'9' { '0' } else { (last + 1) as char };
    doc["issuer"]["corporate_number"] = format!("{}{other}", &cn[..12]).into();
    let e = life.check(&doc).unwrap_err();
    assert_eq!(e.pointer, "/issuer/corporate_number", "{e}");

    let filed = types.get("withholding_report", 1).unwrap();
    let mut doc = example("withholding_report.v1");
    doc["employee"]["my_number"] = "123456789012".into();
    let e = filed.check(&doc).unwrap_err();
    assert_eq!(e.pointer, "/employee/my_number", "{e}");
}
