//! The employer's statutory filing: the number is checked, used once and
//! taken out of what is kept and forwarded; every bad line is named.

use renkei_delivery::{
    DocumentTypes, EARNINGS_FILING_TYPE, FilingError, example_document, parse_filing, parse_filing_of,
};
use serde_json::Value;

fn has_digits(v: &Value, digits: &str) -> bool {
    v.to_string().contains(digits)
}

#[test]
fn a_filing_is_split_into_the_number_and_the_report_without_it() {
    let types = DocumentTypes::builtin().unwrap();
    let good = example_document("withholding_report.v1").unwrap();
    let number = good["employee"]["my_number"].as_str().unwrap().to_owned();
    let mut second = good.clone();
    second["employee"]["my_number"] = "100000000005".into();
    let text = format!("{good}\n\n{second}\n");
    let filed = parse_filing(&types, &text).unwrap();
    assert_eq!(filed.len(), 2);
    let first = filed[0].as_ref().unwrap();
    assert_eq!(first.my_number.expose(), number);
    assert_eq!(first.payer.to_string(), "3010401187424");
    assert_eq!(first.tax_year, 2025);
    assert_eq!(
        first.address_on_january_1.as_deref(),
        Some("神奈川県横浜市青葉区美しが丘二丁目15番3号")
    );
    assert!(!has_digits(&first.report, &number), "the number is taken out");
    assert!(first.report["employee"].get("my_number").is_none());
    assert_eq!(first.report["payment_amount"], good["payment_amount"]);
    assert_eq!(filed[1].as_ref().unwrap().my_number.expose(), "100000000005");
}

#[test]
fn every_bad_line_is_named_without_repeating_a_number() {
    let types = DocumentTypes::builtin().unwrap();
    let good = example_document("withholding_report.v1").unwrap();
    let mut bad_digit = good.clone();
    bad_digit["employee"]["my_number"] = "123456789019".into();
    let mut no_number = good.clone();
    no_number["employee"].as_object_mut().unwrap().remove("my_number");
    let mut no_amount = good.clone();
    no_amount.as_object_mut().unwrap().remove("payment_amount");
    let lines = [
        good.to_string(),
        bad_digit.to_string(),
        no_number.to_string(),
        no_amount.to_string(),
        "not json".into(),
        "[1, 2]".into(),
    ];
    let filed = parse_filing(&types, &lines.join("\n")).unwrap();
    let errors: Vec<&FilingError> = filed.iter().filter_map(|r| r.as_ref().err()).collect();
    let named: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
    assert_eq!(
        named,
        [
            (2, "/employee/my_number"),
            (3, "/employee"),
            (4, ""),
            (5, "line"),
            (6, "line"),
        ],
        "{errors:?}"
    );
    assert!(errors[2].reason.contains("payment_amount"), "{}", errors[2]);
    for e in &errors {
        assert!(!e.to_string().contains("123456789019"), "{e}");
    }
    assert!(filed[0].is_ok());
    assert_eq!(parse_filing(&types, "\n \n").unwrap_err().field, "file");
}

#[test]
fn a_monthly_earnings_filing_is_split_alike_and_other_types_are_no_filing() {
    let types = DocumentTypes::builtin().unwrap();
    let good = example_document(EARNINGS_FILING_TYPE).unwrap();
    let number = good["employee"]["my_number"].as_str().unwrap().to_owned();
    let mut other_employer = good.clone();
    other_employer["employer"]["corporate_number"] = "8010401077777".into();
    let text = format!("{good}\n{other_employer}\n");
    let filed = parse_filing_of(&types, EARNINGS_FILING_TYPE, &text).unwrap();
    let first = filed[0].as_ref().unwrap();
    assert_eq!(first.my_number.expose(), number);
    // The payer is the employer.
    assert_eq!(first.payer.to_string(), "3010401187424");
    assert_eq!(filed[1].as_ref().unwrap().payer.to_string(), "8010401077777");
    assert_eq!(
        (first.tax_year, first.address_on_january_1.as_deref()),
        (2025, None)
    );
    assert!(!has_digits(&first.report, &number));
    assert_eq!(first.report["gross_pay"], good["gross_pay"]);
    // A withholding report is not a monthly one, nor the other way round.
    let withholding = example_document("withholding_report.v1").unwrap();
    let wrong = parse_filing_of(&types, EARNINGS_FILING_TYPE, &withholding.to_string()).unwrap();
    assert!(wrong[0].is_err());
    assert!(parse_filing(&types, &good.to_string()).unwrap()[0].is_err());
    // A deposit type is no filing type.
    let e = parse_filing_of(&types, "monthly_earnings_report.v1", &good.to_string()).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (0, "type"));
}
