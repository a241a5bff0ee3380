#![allow(clippy::unwrap_used)]
//! The shipped programmes pass their own test cases; every fault in a
//! programme file is reported with its line, column and field; evaluation
//! refuses what it cannot decide; inputs are read from items' documents.

use std::collections::HashMap;

use renkei_benefit::lang::{Scalar, Type, Value, parse_date};
use renkei_benefit::{Application, EvaluationError, Payee, Programme, SHIPPED};
use serde_json::json;

fn shipped(name: &str) -> Programme {
    let (_, text) = SHIPPED.iter().find(|(f, _)| f.starts_with(name)).unwrap();
    Programme::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_shipped_programme_loads_and_passes_its_own_tests() {
    assert_eq!(SHIPPED.len(), 4);
    let mut cases = 0;
    for (file, text) in SHIPPED {
        let p = Programme::parse(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(format!("{}.toml", p.id), *file);
        assert!(p.tests.len() >= 5, "{file} has too few test cases");
        for outcome in p.run_tests() {
            assert_eq!(outcome.failure, None, "{file}: {}", outcome.name);
            cases += 1;
        }
    }
    assert!(cases >= 25, "{cases}");
    let c = shipped("child_allowance");
    assert_eq!(c.application, Application::Required { window_days: 15 });
    assert_eq!(c.payee, Payee::Person);
    let h = shipped("household_tax_exempt_payment");
    assert_eq!(h.application, Application::Automatic { decline_days: 14 });
    assert_eq!(h.payee, Payee::Household);
}

/// Each shipped programme's office work and items are in the catalog, each
/// periodic item is asked for a fiscal year, and the permission table lets
/// a municipality's benefit office ask for every item under the
/// programme's office work.
#[test]
fn every_shipped_programme_is_allowed_by_the_catalog_and_the_table() {
    let (catalog, table) = renkei_catalog::sample();
    for (file, text) in SHIPPED {
        let p = Programme::parse(text).unwrap();
        let work = renkei_catalog::OfficeWorkCode::parse(&p.office_work).unwrap();
        assert!(catalog.office_work(&work).is_some(), "{file}: {}", p.office_work);
        for i in &p.inputs {
            let code = renkei_catalog::ItemCode::parse(&i.item).unwrap();
            let item = catalog
                .item(&code)
                .unwrap_or_else(|| panic!("{file}: item {}", i.item));
            assert_eq!(
                item.periodic,
                i.fiscal_year_offset.is_some(),
                "{file}: {}",
                i.name
            );
            let allowed = table.rows().iter().any(|r| {
                r.direction == renkei_catalog::Direction::Query
                    && r.requester.to_string() == "kind:municipality"
                    && r.office_work == work
                    && r.item == code
                    && item.held_by.contains(&r.provider_kind)
            });
            assert!(
                allowed,
                "{file}: no row lets a municipality ask {} for {}",
                i.item, p.office_work
            );
        }
    }
}

#[test]
fn parameters_hold_from_their_dates_and_an_evaluation_keeps_what_it_used() {
    let c = shipped("child_allowance");
    let d = |s| parse_date(s).unwrap();
    let before = c.parameters_on(d("2024-09-30")).unwrap();
    let after = c.parameters_on(d("2024-10-01")).unwrap();
    assert_eq!(before["third_child"], Value::Int(15_000));
    assert_eq!(after["third_child"], Value::Int(30_000));
    assert_eq!(before["income_limits_apply"], Value::Bool(true));
    assert_eq!(after["income_limits_apply"], Value::Bool(false));
    let inputs: HashMap<String, Value> = [
        (
            "children",
            Value::List(Scalar::Date, vec![Value::Date(d("2015-05-05"))]),
        ),
        ("income", Value::Int(7_500_000)),
        ("dependants", Value::Int(1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // The same person the day before and the day of the reform.
    let old = c.evaluate(d("2024-09-30"), &inputs).unwrap();
    let new = c.evaluate(d("2024-10-01"), &inputs).unwrap();
    assert_eq!(
        (old.eligible, old.amount),
        (true, 5_000),
        "special allowance above the limit"
    );
    assert_eq!((new.eligible, new.amount), (true, 10_000));
    assert_eq!(new.programme, "child_allowance");
    assert_eq!(new.version, 2);
    assert_eq!(new.inputs["income"], Value::Int(7_500_000));
    assert_eq!(new.parameters["standard"], Value::Int(10_000));
    // Replayed from what it kept, it decides the same.
    let kept: HashMap<String, Value> = new.inputs.clone().into_iter().collect();
    assert_eq!(c.evaluate(new.on, &kept).unwrap(), new);
}

#[test]
fn evaluation_refuses_what_it_cannot_decide() {
    let b = shipped("birth_support_payment");
    let d = |s| parse_date(s).unwrap();
    let mut inputs: HashMap<String, Value> = HashMap::new();
    assert_eq!(
        b.evaluate(d("2025-05-01"), &inputs),
        Err(EvaluationError::MissingInput("children".into()))
    );
    inputs.insert("children".into(), Value::Int(1));
    inputs.insert("household_number".into(), Value::Text("00000042".into()));
    assert!(matches!(
        b.evaluate(d("2025-05-01"), &inputs),
        Err(EvaluationError::WrongInput { .. })
    ));
    inputs.insert("children".into(), Value::List(Scalar::Date, vec![]));
    assert!(matches!(
        b.evaluate(d("2022-12-31"), &inputs),
        Err(EvaluationError::OutOfDates { .. })
    ));
    let e = shipped("income_drop_emergency_payment");
    let mut i: HashMap<String, Value> = HashMap::new();
    i.insert("earnings".into(), Value::List(Scalar::Int, vec![]));
    i.insert("assistance_status".into(), Value::Text(String::new()));
    // An empty history is simply not eligible: `&&` stops before `last`.
    assert!(!e.evaluate(d("2025-07-01"), &i).unwrap().eligible);
}

#[test]
fn inputs_are_read_from_item_documents_with_defaults() {
    let c = shipped("child_allowance");
    let input = |n: &str| c.inputs.iter().find(|i| i.name == n).unwrap().clone();
    let doc =
        json!({"children": [{"birth_date": "2015-05-05"}, {"birth_date": "2020-01-02"}], "dependants": 3});
    assert_eq!(
        input("children").extract(Some(&doc)).unwrap(),
        Value::List(
            Scalar::Date,
            vec![
                Value::Date(parse_date("2015-05-05").unwrap()),
                Value::Date(parse_date("2020-01-02").unwrap())
            ]
        )
    );
    assert_eq!(input("dependants").extract(Some(&doc)).unwrap(), Value::Int(3));
    // No resident-tax record: no income assessed.
    assert_eq!(input("income").extract(None).unwrap(), Value::Int(0));
    assert!(
        input("dependants")
            .extract(None)
            .unwrap_err()
            .contains("no default")
    );
    let bad = json!({"children": [{"birth_date": "2015-02-30"}], "dependants": "three"});
    assert!(
        input("children")
            .extract(Some(&bad))
            .unwrap_err()
            .contains("not a date")
    );
    assert!(
        input("dependants")
            .extract(Some(&bad))
            .unwrap_err()
            .contains("not a int")
    );
    assert!(
        input("children")
            .extract(Some(&json!({})))
            .unwrap_err()
            .contains("no list")
    );
    assert_eq!(input("children").ty, Type::List(Scalar::Date));
}

/// A valid small programme, to break one line at a time.
const GOOD: &str = r#"programme = "test_payment"
version = 1
name_ja = "テスト給付金"
name_en = "Test payment"
legal_basis = "テスト条例第1条"
office_work = "test_work"
application = "required"
window_days = 10
payee = "person"
from = "2024-01-01"

[inputs.income]
item = "resident_tax_income"
path = "/taxable_income"
type = "int"

[parameters.limit]
type = "int"
values = [{ from = "2024-01-01", value = 1_000_000 }]

[rules]
eligible = '''income <= limit'''
amount = '''10_000'''

[[tests]]
name = "low income"
on = "2024-06-01"
inputs = { income = 500_000 }
eligible = true
amount = 10_000
"#;

#[test]
fn a_good_programme_loads() {
    let p = Programme::parse(GOOD).unwrap();
    assert_eq!(p.run_tests()[0].failure, None);
}

#[test]
fn each_fault_names_its_line_column_and_field() {
    for (from, to, line, column, field, says) in [
        ("version = 1", "version = 0", 2, 11, "version", "positive"),
        (
            "version = 1",
            "version = \"one\"",
            2,
            11,
            "version",
            "invalid type",
        ),
        (
            "payee = \"person\"",
            "payee = \"everyone\"",
            9,
            9,
            "payee",
            "person or household",
        ),
        (
            "payee = \"person\"",
            "payee = \"person\"\ncolour = \"red\"",
            10,
            1,
            "colour",
            "unknown field",
        ),
        (
            "window_days = 10",
            "decline_days = 10",
            7,
            15,
            "application",
            "window_days",
        ),
        (
            "from = \"2024-01-01\"",
            "from = \"2024-02-30\"",
            10,
            8,
            "from",
            "not a date",
        ),
        (
            "type = \"int\"\n\n[parameters",
            "type = \"integer\"\n\n[parameters",
            12,
            1,
            "inputs.income.type",
            "not int",
        ),
        (
            "path = \"/taxable_income\"",
            "path = \"taxable_income\"",
            12,
            1,
            "inputs.income.path",
            "JSON pointer",
        ),
        (
            "values = [{ from = \"2024-01-01\", value = 1_000_000 }]",
            "values = [{ from = \"2024-01-01\", value = 1 }, { from = \"2023-01-01\", value = 2 }]",
            19,
            47,
            "parameters.limit.values[1].from",
            "date order",
        ),
        (
            "value = 1_000_000",
            "value = \"a million\"",
            19,
            11,
            "parameters.limit.values[0].value",
            "not a int",
        ),
        (
            "income <= limit",
            "income <= limt",
            22,
            25,
            "rules.eligible",
            "unknown name `limt`",
        ),
        (
            "income <= limit",
            "income + limit",
            22,
            15,
            "rules.eligible",
            "must give a bool",
        ),
        (
            "'''10_000'''",
            "'''10_000 +'''",
            23,
            21,
            "rules.amount",
            "expected a value",
        ),
        (
            "inputs = { income = 500_000 }",
            "inputs = { incomes = 500_000 }",
            25,
            1,
            "tests[0].inputs.incomes",
            "not an input",
        ),
        (
            "inputs = { income = 500_000 }",
            "inputs = { income = \"x\" }",
            25,
            1,
            "tests[0].inputs.income",
            "not a int",
        ),
        (
            "amount = 10_000\n",
            "\n",
            25,
            1,
            "tests[0].amount",
            "states its amount",
        ),
        (
            "programme = \"test_payment\"",
            "programme = \"Test Payment\"",
            1,
            13,
            "programme",
            "lower-case",
        ),
        ("[rules]", "[rulez]", 21, 2, "rulez", "unknown field"),
    ] {
        let text = GOOD.replacen(from, to, 1);
        assert_ne!(text, GOOD, "{from} not found");
        let e = Programme::parse(&text).expect_err(to);
        assert_eq!(e.field, field, "{to}: {e}");
        assert!(e.message.contains(says), "{to}: {e}");
        assert_eq!((e.line, e.column), (line, column), "{to}: {e}");
    }
}

#[test]
fn a_failing_case_says_what_was_expected_and_what_came_out() {
    let text = GOOD.replacen("amount = 10_000\n", "amount = 12_000\n", 1);
    let p = Programme::parse(&text).unwrap();
    let out = p.run_tests();
    assert_eq!(
        out[0].failure.as_deref(),
        Some("expected amount 12000, got 10000")
    );
    let text = GOOD.replacen(
        "inputs = { income = 500_000 }",
        "inputs = { income = 5_000_000 }",
        1,
    );
    let out = Programme::parse(&text).unwrap().run_tests();
    assert_eq!(
        out[0].failure.as_deref(),
        Some("expected eligible, got not eligible")
    );
    let text = GOOD.replacen("on = \"2024-06-01\"", "on = \"2023-06-01\"", 1);
    let out = Programme::parse(&text).unwrap().run_tests();
    assert!(
        out[0]
            .failure
            .as_deref()
            .unwrap()
            .contains("outside the programme's dates")
    );
}

mod zengin {
    use renkei_benefit::lang::parse_date;
    use renkei_benefit::zengin::{Account, AccountType, Header, Transfer, TransferFile, ZenginError};

    fn account(bank: &str, branch: &str, number: &str) -> Account {
        Account {
            bank_code: bank.into(),
            bank_name: "ﾐﾄﾞﾘ".into(),
            branch_code: branch.into(),
            branch_name: "ｾﾀｶﾞﾔ".into(),
            account_type: AccountType::Ordinary,
            number: number.into(),
        }
    }

    fn file() -> TransferFile {
        TransferFile {
            header: Header {
                requester_code: "1234567890".into(),
                requester_name: "セタガヤク".into(),
                transfer_date: parse_date("2025-03-25").unwrap(),
                account: account("0005", "123", "7654321"),
            },
            transfers: vec![
                Transfer {
                    to: account("0009", "456", "1111111"),
                    payee_name: "ヤマダ　タロウ".into(),
                    amount: 100_000,
                    reference: "42".into(),
                },
                Transfer {
                    to: account("0001", "001", "0000001"),
                    payee_name: "サトウ　ハナコ".into(),
                    amount: 70_000,
                    reference: "43".into(),
                },
            ],
        }
    }

    #[test]
    fn a_file_is_fixed_records_that_a_third_partys_shift_jis_reads_back() {
        let bytes = file().encode().unwrap();
        assert_eq!(bytes.len(), 5 * 122, "five records of 120 bytes and CR LF");
        let (text, _, malformed) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!malformed);
        let records: Vec<&str> = text.split("\r\n").filter(|r| !r.is_empty()).collect();
        assert_eq!(records.len(), 5);
        for r in &records {
            // Every character is one byte: ASCII or half-width kana.
            assert_eq!(r.chars().count(), 120, "{r}");
        }
        let header = format!(
            "1210{}{:<40}0325{}{:<15}{}{:<15}1{}{}",
            "1234567890",
            "ｾﾀｶﾞﾔｸ",
            "0005",
            "ﾐﾄﾞﾘ",
            "123",
            "ｾﾀｶﾞﾔ",
            "7654321",
            " ".repeat(17)
        );
        assert_eq!(records[0], header);
        let data = format!(
            "2{}{:<15}{}{:<15}00001{}{:<30}{}0{}{}7 {}",
            "0009",
            "ﾐﾄﾞﾘ",
            "456",
            "ｾﾀｶﾞﾔ",
            "1111111",
            "ﾔﾏﾀﾞ ﾀﾛｳ",
            "0000100000",
            "0000000042",
            " ".repeat(10),
            " ".repeat(7)
        );
        assert_eq!(records[1], data);
        // Columns (from 1) as the published layout of 全銀協制定ファイル
        // フォーマット【総合振込】 places them.
        let cols = |r: &str, from: usize, to: usize| {
            r.chars().skip(from - 1).take(to - from + 1).collect::<String>()
        };
        assert_eq!(cols(records[0], 55, 58), "0325", "振込指定日");
        assert_eq!(cols(records[0], 97, 103), "7654321", "依頼人口座番号");
        assert_eq!(cols(records[1], 39, 42), "0000", "手形交換所番号");
        assert_eq!(cols(records[1], 44, 50), "1111111", "口座番号");
        assert_eq!(cols(records[1], 81, 90), "0000100000", "振込金額");
        assert_eq!(cols(records[1], 92, 101), "0000000042", "顧客コード1");
        assert_eq!(cols(records[1], 112, 112), "7", "振込指定区分");
        assert_eq!(records[3], format!("8000002000000170000{}", " ".repeat(101)));
        assert_eq!(records[4], format!("9{}", " ".repeat(119)));
        // Read back: the same batch, the names as written.
        let back = TransferFile::parse(&bytes, 2025).unwrap();
        assert_eq!(back.header.transfer_date, parse_date("2025-03-25").unwrap());
        assert_eq!(back.header.requester_name, "ｾﾀｶﾞﾔｸ");
        assert_eq!(back.transfers.len(), 2);
        assert_eq!(back.transfers[0].payee_name, "ﾔﾏﾀﾞ ﾀﾛｳ");
        assert_eq!(back.transfers[1].to, file().transfers[1].to);
        assert_eq!(back.transfers[1].amount, 70_000);
        assert_eq!(back.transfers[1].reference, "43");
        // Without CR LF it reads the same.
        let bare: Vec<u8> = bytes.chunks(122).flat_map(|r| r[..120].to_vec()).collect();
        assert_eq!(TransferFile::parse(&bare, 2025).unwrap(), back);
    }

    #[test]
    fn nothing_is_written_from_a_batch_with_a_fault_and_the_fault_is_named() {
        let place = |f: TransferFile| -> ZenginError { f.encode().unwrap_err() };
        let mut f = file();
        f.transfers[1].amount = 0;
        assert_eq!(place(f).place, "transfer 2 amount");
        let mut f = file();
        f.transfers[0].payee_name = "山田太郎".into();
        let e = place(f);
        assert_eq!(e.place, "transfer 1 payee_name");
        assert!(e.message.contains("cannot be written"), "{e}");
        let mut f = file();
        f.transfers[0].payee_name = "ア".repeat(31);
        assert!(place(f).message.contains("at most 30 fit"));
        let mut f = file();
        f.transfers[0].to.bank_code = "123".into();
        assert_eq!(place(f).place, "transfer 1 bank_code");
        let mut f = file();
        f.header.account.number = "12345678".into();
        assert_eq!(place(f).place, "header.account_number");
        let mut f = file();
        f.transfers[0].reference = "12345678901".into();
        assert_eq!(place(f).place, "transfer 1 reference");
        let mut f = file();
        f.transfers.clear();
        assert_eq!(place(f).place, "transfers");
    }

    #[test]
    fn a_file_that_does_not_add_up_is_refused_on_reading() {
        let good = file().encode().unwrap();
        let read = |b: &[u8]| TransferFile::parse(b, 2025).unwrap_err().to_string();
        // The trailer's total changed by one yen.
        let mut b = good.clone();
        let trailer = 3 * 122;
        b[trailer + 18] = b'1';
        assert!(
            read(&b).contains("the trailer says 2 transfers of 170001 yen"),
            "{}",
            read(&b)
        );
        // A record cut short, the end record gone, something after it.
        assert!(read(&good[..good.len() - 5]).contains("not 120"));
        assert!(read(&good[..4 * 122]).contains("no end record"));
        let mut longer = good.clone();
        longer.extend_from_slice(&good[4 * 122..]);
        assert!(read(&longer).contains("nothing may follow"));
        // A byte that is not JIS X 0201 in a name.
        let mut b = good.clone();
        b[122 + 50] = 0x81;
        assert!(read(&b).contains("not JIS X 0201"), "{}", read(&b));
        // Not a general transfer.
        let mut b = good;
        b[1] = b'1';
        assert!(read(&b).contains("not the header"));
    }
}
