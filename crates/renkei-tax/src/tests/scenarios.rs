//! Whole returns, every intermediate figure derived by hand in the comments.

use super::salary;
use crate::*;

fn life(
    category: LifeInsuranceCategory,
    contract: InsuranceContract,
    annual_premium: u64,
) -> LifeInsuranceCertificate {
    LifeInsuranceCertificate {
        category,
        contract,
        annual_premium,
    }
}

#[test]
fn salary_5m_with_life_insurance_and_a_donation_gets_a_refund() {
    let input = TaxInput {
        life_insurance_certificates: vec![
            life(LifeInsuranceCategory::General, InsuranceContract::New, 100_000),
            life(LifeInsuranceCategory::CareMedical, InsuranceContract::New, 30_000),
        ],
        donation_certificates: vec![DonationCertificate { amount: 30_000 }],
        ..salary(5_000_000, 750_000, 120_000)
    };
    let d = draft(2025, &input).unwrap();
    // Salary 5,000,000 is in the table range: A = 5,000,000;
    // 5,000,000 x 0.8 - 440,000 = 3,560,000.
    assert_eq!(d.employment_income, 3_560_000);
    assert_eq!(d.total_income, 3_560_000);
    assert_eq!(d.deductions.social_insurance, 750_000);
    // General new 100,000 > 80,000 -> 40,000; care/medical new 30,000 ->
    // 15,000 + 10,000 = 25,000; total 65,000 (< 120,000).
    assert_eq!(
        d.deductions.life_insurance_by_category,
        LifeInsuranceByCategory {
            general: 40_000,
            care_medical: 25_000,
            individual_pension: 0
        }
    );
    assert_eq!(d.deductions.life_insurance, 65_000);
    // min(30,000, 40% of 3,560,000 = 1,424,000) - 2,000 = 28,000.
    assert_eq!(d.deductions.donation, 28_000);
    // 3,360,000 < 3,560,000 <= 4,890,000 -> 680,000.
    assert_eq!(d.deductions.basic, 680_000);
    // 750,000 + 65,000 + 28,000 + 680,000 = 1,523,000.
    assert_eq!(d.deductions.total, 1_523_000);
    // 3,560,000 - 1,523,000 = 2,037,000.
    assert_eq!(d.taxable_income, 2_037_000);
    // 10% band: 203,700 - 97,500 = 106,200.
    assert_eq!(d.income_tax, 106_200);
    assert_eq!(d.housing_loan_credit, 0);
    assert_eq!(d.base_income_tax, 106_200);
    // 106,200 x 2.1% = 2,230.2 -> 2,230.
    assert_eq!(d.reconstruction_tax, 2_230);
    assert_eq!(d.total_tax, 108_430);
    assert_eq!(d.withholding_tax, 120_000);
    // 108,430 - 120,000 = -11,570: a refund, to the yen.
    assert_eq!(d.tax_due, -11_570);

    let line = d.trace_for("deductions.life_insurance").unwrap();
    assert_eq!(
        line.sources,
        ["life_insurance_certificates[0]", "life_insurance_certificates[1]"]
    );
    assert_eq!(line.rule, "NTA Tax Answer No.1140");
    assert_eq!(line.label_ja, "生命保険料控除");
    let care = d
        .trace_for("deductions.life_insurance_by_category.care_medical")
        .unwrap();
    assert_eq!(care.sources, ["life_insurance_certificates[1]"]);
    let donation = d.trace_for("deductions.donation").unwrap();
    assert!(donation.sources.contains(&"donation_certificates[0]".to_string()));
    let due = d.trace_for("tax_due").unwrap();
    assert_eq!(due.label_ja, "還付される税金");
    assert!(due.note.contains("= -11,570"), "{}", due.note);
}

#[test]
fn salary_7m_with_old_contracts_earthquake_medical_and_a_housing_loan() {
    let input = TaxInput {
        life_insurance_certificates: vec![
            life(LifeInsuranceCategory::General, InsuranceContract::Old, 70_000),
            life(LifeInsuranceCategory::General, InsuranceContract::New, 30_000),
            life(
                LifeInsuranceCategory::IndividualPension,
                InsuranceContract::New,
                90_000,
            ),
        ],
        earthquake_insurance_certificates: vec![
            EarthquakeInsuranceCertificate {
                kind: EarthquakeInsuranceKind::Earthquake,
                annual_premium: 30_000,
            },
            EarthquakeInsuranceCertificate {
                kind: EarthquakeInsuranceKind::OldLongTerm,
                annual_premium: 15_001,
            },
        ],
        medical_expense_notices: vec![
            MedicalExpenseNotice {
                paid: 150_000,
                reimbursed: 20_000,
            },
            MedicalExpenseNotice {
                paid: 30_000,
                reimbursed: 50_000,
            },
        ],
        housing_loan_certificate: Some(HousingLoanCertificate {
            year_end_balance: 30_000_000,
            acquisition_cost: Some(40_000_000),
            move_in_year: 2023,
            acquisition: HousingAcquisition::New,
            performance: HousingPerformance::Certified,
            child_or_young_couple: false,
        }),
        ..salary(7_000_000, 1_000_000, 200_000)
    };
    let d = draft(2025, &input).unwrap();
    // 7,000,000 x 0.9 - 1,100,000 = 6,300,000 - 1,100,000 = 5,200,000.
    assert_eq!(d.employment_income, 5_200_000);
    // General: old 70,000 -> 17,500 + 25,000 = 42,500; new 30,000 -> 25,000;
    // both: min(67,500, 40,000) = 40,000; old alone 42,500 is larger -> 42,500.
    // Pension: new 90,000 -> 40,000. Total 82,500.
    assert_eq!(d.deductions.life_insurance_by_category.general, 42_500);
    assert_eq!(d.deductions.life_insurance_by_category.individual_pension, 40_000);
    assert_eq!(d.deductions.life_insurance, 82_500);
    // Earthquake 30,000 + old long-term 15,001 -> 7,500.5 -> 7,501 + 5,000 = 12,501;
    // 42,501 (< 50,000).
    assert_eq!(d.deductions.earthquake_insurance, 42_501);
    // Medical: 150,000 - 20,000 = 130,000; 30,000 - 50,000 -> 0 (the excess
    // 20,000 does not reduce the other expense). Threshold min(100,000,
    // 5% x 5,200,000 = 260,000) = 100,000. 130,000 - 100,000 = 30,000.
    assert_eq!(d.deductions.medical_expense, 30_000);
    assert_eq!(d.deductions.self_medication, 0);
    // 4,890,000 < 5,200,000 <= 6,550,000 -> 630,000.
    assert_eq!(d.deductions.basic, 630_000);
    // 1,000,000 + 82,500 + 42,501 + 30,000 + 630,000 = 1,785,001.
    assert_eq!(d.deductions.total, 1_785_001);
    // 5,200,000 - 1,785,001 = 3,414,999 -> 3,414,000.
    assert_eq!(d.taxable_income, 3_414_000);
    // 20% band: 682,800 - 427,500 = 255,300.
    assert_eq!(d.income_tax, 255_300);
    // New certified, moved in 2023 (year 3 of 13): min(30,000,000, 40,000,000,
    // 50,000,000) = 30,000,000 x 0.7% = 210,000.
    assert_eq!(d.housing_loan_credit, 210_000);
    assert_eq!(d.housing_loan_credit_applied, 210_000);
    // 255,300 - 210,000 = 45,300.
    assert_eq!(d.base_income_tax, 45_300);
    // 45,300 x 2.1% = 951.3 -> 951.
    assert_eq!(d.reconstruction_tax, 951);
    assert_eq!(d.total_tax, 46_251);
    // 46,251 - 200,000 = -153,749.
    assert_eq!(d.tax_due, -153_749);

    let general = d
        .trace_for("deductions.life_insurance_by_category.general")
        .unwrap();
    assert_eq!(
        general.sources,
        ["life_insurance_certificates[0]", "life_insurance_certificates[1]"]
    );
    let medical = d.trace_for("deductions.medical_expense").unwrap();
    assert_eq!(
        medical.sources,
        [
            "medical_expense_notices[0]",
            "medical_expense_notices[1]",
            "withholding_slip.payment_amount"
        ]
    );
    let housing = d.trace_for("housing_loan_credit").unwrap();
    assert_eq!(housing.sources, ["housing_loan_certificate"]);
    assert_eq!(housing.rule, "NTA Tax Answer No.1211-1");
}

#[test]
fn salary_12m_with_self_medication_instead_of_medical_expenses_pays_more() {
    let input = TaxInput {
        medical_expense_notices: vec![MedicalExpenseNotice {
            paid: 300_000,
            reimbursed: 0,
        }],
        self_medication: Some(SelfMedication {
            chosen: true,
            otc_specified: 50_000,
        }),
        donation_certificates: vec![DonationCertificate { amount: 100_000 }],
        ..salary(12_000_000, 1_500_000, 1_000_000)
    };
    let d = draft(2025, &input).unwrap();
    // 12,000,000 - 1,950,000 = 10,050,000.
    assert_eq!(d.employment_income, 10_050_000);
    // Self-medication chosen: 50,000 - 12,000 = 38,000, and no medical
    // expense deduction even though 300,000 - 100,000 = 200,000 was possible.
    assert_eq!(d.deductions.self_medication, 38_000);
    assert_eq!(d.deductions.medical_expense, 0);
    // min(100,000, 4,020,000) - 2,000 = 98,000.
    assert_eq!(d.deductions.donation, 98_000);
    assert_eq!(d.deductions.basic, 580_000);
    // 1,500,000 + 38,000 + 98,000 + 580,000 = 2,216,000.
    assert_eq!(d.deductions.total, 2_216_000);
    // 10,050,000 - 2,216,000 = 7,834,000.
    assert_eq!(d.taxable_income, 7_834_000);
    // 23% band: 1,801,820 - 636,000 = 1,165,820.
    assert_eq!(d.income_tax, 1_165_820);
    // 1,165,820 x 2.1% = 24,482.22 -> 24,482.
    assert_eq!(d.reconstruction_tax, 24_482);
    assert_eq!(d.total_tax, 1_190_302);
    // 1,190,302 - 1,000,000 = 190,302 -> rounded down to 190,300.
    assert_eq!(d.tax_due, 190_300);
    assert_eq!(d.trace_for("tax_due").unwrap().label_ja, "申告納税額");
    assert!(
        d.trace_for("deductions.medical_expense")
            .unwrap()
            .note
            .contains("alternatives")
    );
}

#[test]
fn housing_credit_larger_than_income_tax_leaves_a_remainder_for_resident_tax() {
    let input = TaxInput {
        housing_loan_certificate: housing_loan_credit_certificate_for_test(),
        ..salary(3_000_000, 450_000, 50_000)
    };
    let d = draft(2025, &input).unwrap();
    // Table: A = 3,000,000 x 0.7 - 80,000 = 2,020,000.
    assert_eq!(d.employment_income, 2_020_000);
    // 450,000 + basic 880,000 (1,320,000 < 2,020,000 <= 3,360,000) = 1,330,000.
    assert_eq!(d.deductions.total, 1_330_000);
    // 2,020,000 - 1,330,000 = 690,000 x 5% = 34,500.
    assert_eq!(d.income_tax, 34_500);
    // New ZEH, 2024, child: cap 45,000,000; 40,000,000 x 0.7% = 280,000.
    assert_eq!(d.housing_loan_credit, 280_000);
    assert_eq!(d.housing_loan_credit_applied, 34_500);
    assert_eq!(d.base_income_tax, 0);
    assert_eq!(d.reconstruction_tax, 0);
    assert_eq!(d.total_tax, 0);
    // Everything withheld comes back.
    assert_eq!(d.tax_due, -50_000);
    let note = &d.trace_for("housing_loan_credit_applied").unwrap().note;
    assert!(note.contains("245,500"), "{note}");
    assert!(note.contains("resident tax"), "{note}");
}

fn housing_loan_credit_certificate_for_test() -> Option<HousingLoanCertificate> {
    Some(HousingLoanCertificate {
        year_end_balance: 40_000_000,
        acquisition_cost: None,
        move_in_year: 2024,
        acquisition: HousingAcquisition::New,
        performance: HousingPerformance::Zeh,
        child_or_young_couple: true,
    })
}

#[test]
fn an_empty_input_owes_nothing_and_still_traces_every_figure() {
    let d = draft(2025, &TaxInput::default()).unwrap();
    assert_eq!(d.employment_income, 0);
    assert_eq!(d.deductions.basic, 950_000);
    assert_eq!(d.deductions.total, 950_000);
    assert_eq!((d.taxable_income, d.total_tax, d.tax_due), (0, 0, 0));
    assert!(d.trace_for("employment_income").unwrap().sources.is_empty());
}

#[test]
fn every_figure_has_exactly_one_trace_line_with_a_rule() {
    let d = draft(2025, &salary(4_000_000, 600_000, 80_000)).unwrap();
    let figures = [
        "employment_income",
        "total_income",
        "deductions.social_insurance",
        "deductions.life_insurance_by_category.general",
        "deductions.life_insurance_by_category.care_medical",
        "deductions.life_insurance_by_category.individual_pension",
        "deductions.life_insurance",
        "deductions.earthquake_insurance",
        "deductions.medical_expense",
        "deductions.self_medication",
        "deductions.donation",
        "deductions.basic",
        "deductions.total",
        "taxable_income",
        "income_tax",
        "housing_loan_credit",
        "housing_loan_credit_applied",
        "base_income_tax",
        "reconstruction_tax",
        "total_tax",
        "withholding_tax",
        "tax_due",
    ];
    assert_eq!(d.trace.len(), figures.len());
    for f in figures {
        let n = d.trace.iter().filter(|l| l.figure == f).count();
        assert_eq!(n, 1, "{f}");
        let line = d.trace_for(f).unwrap();
        assert!(!line.rule.is_empty() && !line.label_ja.is_empty() && !line.note.is_empty());
    }
}

#[test]
fn draft_serialises_with_the_agreed_field_names() {
    let d = draft(2025, &salary(5_000_000, 750_000, 120_000)).unwrap();
    let v = serde_json::to_value(&d).unwrap();
    for key in [
        "employment_income",
        "total_income",
        "deductions",
        "taxable_income",
        "income_tax",
        "housing_loan_credit",
        "housing_loan_credit_applied",
        "base_income_tax",
        "reconstruction_tax",
        "total_tax",
        "withholding_tax",
        "tax_due",
        "trace",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
    let deductions = &v["deductions"];
    for key in [
        "social_insurance",
        "life_insurance",
        "earthquake_insurance",
        "medical_expense",
        "self_medication",
        "donation",
        "basic",
        "total",
    ] {
        assert!(deductions.get(key).is_some(), "{key}");
    }
    for key in ["general", "care_medical", "individual_pension"] {
        assert!(
            deductions["life_insurance_by_category"].get(key).is_some(),
            "{key}"
        );
    }
    let line = &v["trace"][0];
    for key in ["figure", "label_ja", "sources", "rule", "note"] {
        assert!(line.get(key).is_some(), "{key}");
    }
    // 3,560,000 - (750,000 + 680,000) = 2,130,000; x 10% - 97,500 = 115,500;
    // + 115,500 x 2.1% = 2,425.5 -> 2,425; 117,925 - 120,000 = -2,075.
    assert_eq!(v["tax_due"], serde_json::json!(-2_075));
}
