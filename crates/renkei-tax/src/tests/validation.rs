//! Refused input names its field by JSON path.

use super::salary;
use crate::*;

fn field_of(year: u16, input: &TaxInput) -> String {
    draft(year, input).unwrap_err().field
}

fn home(move_in_year: u16) -> HousingLoanCertificate {
    HousingLoanCertificate {
        year_end_balance: 10_000_000,
        acquisition_cost: None,
        move_in_year,
        acquisition: HousingAcquisition::New,
        performance: HousingPerformance::Certified,
        child_or_young_couple: false,
    }
}

#[test]
fn other_tax_years_are_refused() {
    let e = draft(2024, &TaxInput::default()).unwrap_err();
    assert_eq!(e.field, "year");
    assert_eq!(
        e.to_string(),
        "year: tax year 2024 is not supported; only 2025 (令和7年分) is"
    );
    assert_eq!(field_of(2026, &TaxInput::default()), "year");
}

#[test]
fn slip_inconsistencies_are_refused() {
    let e = draft(2025, &salary(1_000_000, 1_000_001, 0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "withholding_slip.social_insurance_amount: exceeds payment_amount"
    );
    let e = draft(2025, &salary(1_000_000, 0, 1_000_001)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "withholding_slip.withholding_tax: exceeds payment_amount"
    );
    // Equal is possible on paper and accepted.
    assert!(draft(2025, &salary(1_000_000, 1_000_000, 0)).is_ok());
}

#[test]
fn amounts_above_the_bound_are_refused_with_their_path() {
    let too_much = MAX_YEN + 1;
    assert_eq!(
        field_of(2025, &salary(too_much, 0, 0)),
        "withholding_slip.payment_amount"
    );
    let notices = vec![
        MedicalExpenseNotice {
            paid: 1,
            reimbursed: 0,
        },
        MedicalExpenseNotice {
            paid: 1,
            reimbursed: 0,
        },
        MedicalExpenseNotice {
            paid: 1,
            reimbursed: too_much,
        },
    ];
    let e = draft(
        2025,
        &TaxInput {
            medical_expense_notices: notices,
            ..TaxInput::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.field, "medical_expense_notices[2].reimbursed");
    assert_eq!(e.reason, "1000000000001 exceeds the limit of 1000000000000 yen");
    let input = TaxInput {
        donation_certificates: vec![
            DonationCertificate { amount: 10_000 },
            DonationCertificate { amount: too_much },
        ],
        ..TaxInput::default()
    };
    assert_eq!(field_of(2025, &input), "donation_certificates[1].amount");
    let input = TaxInput {
        earthquake_insurance_certificates: vec![EarthquakeInsuranceCertificate {
            kind: EarthquakeInsuranceKind::Earthquake,
            annual_premium: too_much,
        }],
        ..TaxInput::default()
    };
    assert_eq!(
        field_of(2025, &input),
        "earthquake_insurance_certificates[0].annual_premium"
    );
    let input = TaxInput {
        self_medication: Some(SelfMedication {
            chosen: true,
            otc_specified: too_much,
        }),
        ..TaxInput::default()
    };
    assert_eq!(field_of(2025, &input), "self_medication.otc_specified");
    let input = TaxInput {
        national_pension_certificate: Some(NationalPensionCertificate { paid: too_much }),
        ..TaxInput::default()
    };
    assert_eq!(field_of(2025, &input), "national_pension_certificate.paid");
    let mut h = home(2023);
    h.acquisition_cost = Some(too_much);
    let input = TaxInput {
        housing_loan_certificate: Some(h),
        ..TaxInput::default()
    };
    assert_eq!(
        field_of(2025, &input),
        "housing_loan_certificate.acquisition_cost"
    );
    // The bound itself is accepted.
    assert!(draft(2025, &salary(MAX_YEN, MAX_YEN, MAX_YEN)).is_ok());
}

#[test]
fn care_medical_old_contracts_are_refused() {
    let input = TaxInput {
        life_insurance_certificates: vec![
            LifeInsuranceCertificate {
                category: LifeInsuranceCategory::General,
                contract: InsuranceContract::Old,
                annual_premium: 10_000,
            },
            LifeInsuranceCertificate {
                category: LifeInsuranceCategory::CareMedical,
                contract: InsuranceContract::Old,
                annual_premium: 10_000,
            },
        ],
        ..TaxInput::default()
    };
    assert_eq!(field_of(2025, &input), "life_insurance_certificates[1].contract");
}

#[test]
fn move_in_after_the_tax_year_is_refused() {
    let input = TaxInput {
        housing_loan_certificate: Some(home(2026)),
        ..TaxInput::default()
    };
    let e = draft(2025, &input).unwrap_err();
    assert_eq!(
        e.to_string(),
        "housing_loan_certificate.move_in_year: 2026 is after the tax year 2025"
    );
}

#[test]
fn self_medication_together_with_medical_notices_is_accepted() {
    let input = TaxInput {
        medical_expense_notices: vec![MedicalExpenseNotice {
            paid: 500_000,
            reimbursed: 0,
        }],
        self_medication: Some(SelfMedication {
            chosen: true,
            otc_specified: 20_000,
        }),
        ..salary(4_000_000, 0, 0)
    };
    let d = draft(2025, &input).unwrap();
    // 20,000 - 12,000 = 8,000, used instead of the medical expense deduction.
    assert_eq!(d.deductions.self_medication, 8_000);
    assert_eq!(d.deductions.medical_expense, 0);
}

#[test]
fn a_reimbursement_larger_than_its_expense_is_accepted_and_offsets_nothing_else() {
    let input = TaxInput {
        medical_expense_notices: vec![
            MedicalExpenseNotice {
                paid: 10_000,
                reimbursed: 90_000,
            },
            MedicalExpenseNotice {
                paid: 250_000,
                reimbursed: 0,
            },
        ],
        ..salary(4_000_000, 0, 0)
    };
    let d = draft(2025, &input).unwrap();
    // 0 + 250,000 - 100,000 = 150,000 (not 250,000 - 80,000 - 100,000).
    assert_eq!(d.deductions.medical_expense, 150_000);
}

// --- the JSON shape -----------------------------------------------------------

#[test]
fn the_documented_json_shape_parses() {
    let json = r#"{
        "withholding_slip": {"payment_amount": 5000000, "social_insurance_amount": 750000, "withholding_tax": 120000},
        "life_insurance_certificates": [{"category": "care_medical", "contract": "new", "annual_premium": 30000}],
        "earthquake_insurance_certificates": [{"type": "old_long_term", "annual_premium": 12000}],
        "medical_expense_notices": [{"paid": 120000, "reimbursed": 10000}],
        "self_medication": {"chosen": false, "otc_specified": 0},
        "national_pension_certificate": {"paid": 200000},
        "donation_certificates": [{"amount": 30000}],
        "housing_loan_certificate": {"year_end_balance": 20000000, "move_in_year": 2022,
            "acquisition": "used", "performance": "energy_saving", "child_or_young_couple": false}
    }"#;
    let input: TaxInput = serde_json::from_str(json).unwrap();
    assert_eq!(
        input.earthquake_insurance_certificates[0].kind,
        EarthquakeInsuranceKind::OldLongTerm
    );
    let h = input.housing_loan_certificate.as_ref().unwrap();
    assert_eq!(h.acquisition_cost, None);
    assert_eq!(h.performance, HousingPerformance::EnergySaving);
    // Round trip: what we serialise is what we accept.
    let back: TaxInput = serde_json::from_str(&serde_json::to_string(&input).unwrap()).unwrap();
    assert_eq!(back, input);
    assert!(draft(2025, &input).is_ok());
}

#[test]
fn every_top_level_field_is_optional() {
    let input: TaxInput = serde_json::from_str("{}").unwrap();
    assert_eq!(input, TaxInput::default());
}

#[test]
fn unknown_fields_are_refused() {
    assert!(serde_json::from_str::<TaxInput>(r#"{"withholding_slips": null}"#).is_err());
    assert!(
        serde_json::from_str::<TaxInput>(
            r#"{"withholding_slip": {"payment_amount": 1, "social_insurance_amount": 0, "withholding_tax": 0, "source": "x"}}"#
        )
        .is_err()
    );
    assert!(
        serde_json::from_str::<TaxInput>(r#"{"donation_certificates": [{"amount": 1, "to": "city"}]}"#)
            .is_err()
    );
    // Negative yen and unknown enum values are type errors.
    assert!(serde_json::from_str::<TaxInput>(r#"{"donation_certificates": [{"amount": -1}]}"#).is_err());
    assert!(
        serde_json::from_str::<TaxInput>(
            r#"{"life_insurance_certificates": [{"category": "health", "contract": "new", "annual_premium": 1}]}"#
        )
        .is_err()
    );
}
