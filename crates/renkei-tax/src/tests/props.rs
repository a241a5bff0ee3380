//! Properties that must hold for every input, not just the worked examples.

use proptest::prelude::*;

use super::salary;
use crate::rules::{basic_deduction, earthquake, employment_income, income_tax, life_category};
use crate::*;

fn category() -> impl Strategy<Value = LifeInsuranceCategory> {
    prop_oneof![
        Just(LifeInsuranceCategory::General),
        Just(LifeInsuranceCategory::CareMedical),
        Just(LifeInsuranceCategory::IndividualPension),
    ]
}

fn life_certificate() -> impl Strategy<Value = LifeInsuranceCertificate> {
    (category(), any::<bool>(), 0u64..300_000).prop_map(|(category, old, annual_premium)| {
        // Old care/medical contracts do not exist; make them new.
        let contract = if old && category != LifeInsuranceCategory::CareMedical {
            InsuranceContract::Old
        } else {
            InsuranceContract::New
        };
        LifeInsuranceCertificate {
            category,
            contract,
            annual_premium,
        }
    })
}

fn housing() -> impl Strategy<Value = Option<HousingLoanCertificate>> {
    let perf = prop_oneof![
        Just(HousingPerformance::Certified),
        Just(HousingPerformance::Zeh),
        Just(HousingPerformance::EnergySaving),
        Just(HousingPerformance::Other),
    ];
    let acq = prop_oneof![Just(HousingAcquisition::New), Just(HousingAcquisition::Used)];
    proptest::option::of(
        (
            0u64..80_000_000,
            proptest::option::of(0u64..80_000_000),
            2010u16..=2025,
            acq,
            perf,
            any::<bool>(),
        )
            .prop_map(
                |(year_end_balance, acquisition_cost, move_in_year, acquisition, performance, c)| {
                    HousingLoanCertificate {
                        year_end_balance,
                        acquisition_cost,
                        move_in_year,
                        acquisition,
                        performance,
                        child_or_young_couple: c,
                    }
                },
            ),
    )
}

prop_compose! {
    fn tax_input()(
        payment in 0u64..40_000_000,
        social_pct in 0u64..=30,
        life in proptest::collection::vec(life_certificate(), 0..5),
        quake in proptest::collection::vec((any::<bool>(), 0u64..80_000), 0..3),
        notices in proptest::collection::vec((0u64..3_000_000, 0u64..500_000), 0..4),
        self_med in proptest::option::of((any::<bool>(), 0u64..200_000)),
        pension in proptest::option::of(0u64..300_000),
        donations in proptest::collection::vec(0u64..2_000_000, 0..3),
        housing in housing(),
    ) -> TaxInput {
        TaxInput {
            withholding_slip: Some(WithholdingSlip {
                payment_amount: payment,
                social_insurance_amount: payment * social_pct / 100,
                withholding_tax: payment / 10,
            }),
            life_insurance_certificates: life,
            earthquake_insurance_certificates: quake
                .into_iter()
                .map(|(old, annual_premium)| EarthquakeInsuranceCertificate {
                    kind: if old {
                        EarthquakeInsuranceKind::OldLongTerm
                    } else {
                        EarthquakeInsuranceKind::Earthquake
                    },
                    annual_premium,
                })
                .collect(),
            medical_expense_notices: notices
                .into_iter()
                .map(|(paid, reimbursed)| MedicalExpenseNotice { paid, reimbursed })
                .collect(),
            self_medication: self_med
                .map(|(chosen, otc_specified)| SelfMedication { chosen, otc_specified }),
            national_pension_certificate: pension.map(|paid| NationalPensionCertificate { paid }),
            donation_certificates: donations
                .into_iter()
                .map(|amount| DonationCertificate { amount })
                .collect(),
            housing_loan_certificate: housing,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn more_salary_never_less_employment_income(a in 0u64..30_000_000, d in 0u64..5_000_000) {
        prop_assert!(employment_income(a) <= employment_income(a + d));
        prop_assert!(employment_income(a) <= a);
    }

    #[test]
    fn employment_income_never_jumps_more_than_4000_per_yen(p in 0u64..30_000_000) {
        let step = employment_income(p + 1) - employment_income(p);
        prop_assert!(step <= 4_000, "payment {p}: step {step}");
    }

    #[test]
    fn employment_income_has_no_jump_at_the_band_edges(
        edge in prop_oneof![Just(1_900_000u64), Just(3_600_000), Just(6_600_000), Just(8_500_000)],
        off in 0u64..8,
    ) {
        let p = edge - 4 + off;
        prop_assert!(employment_income(p + 1) - employment_income(p) <= 4_000);
    }

    #[test]
    fn basic_deduction_never_grows_with_income(a in 0u64..30_000_000, d in 0u64..5_000_000) {
        prop_assert!(basic_deduction(a + d) <= basic_deduction(a));
    }

    #[test]
    fn income_tax_is_monotone_and_below_45_percent(a in 0u64..100_000, d in 0u64..10_000) {
        let (t1, t2) = (a * 1_000, (a + d) * 1_000);
        prop_assert!(income_tax(t1) <= income_tax(t2));
        prop_assert!(income_tax(t1) * 100 <= t1 * 45);
    }

    #[test]
    fn more_premium_never_a_smaller_life_deduction(
        new in 0u64..300_000, old in 0u64..300_000, extra in 0u64..100_000,
    ) {
        let base = life_category(new, old);
        prop_assert!(base <= life_category(new + extra, old));
        prop_assert!(base <= life_category(new, old + extra));
        prop_assert!(base <= 50_000);
        prop_assert!(life_category(new, 0) <= 40_000);
    }

    #[test]
    fn more_premium_never_a_smaller_earthquake_deduction(
        eq in 0u64..100_000, lt in 0u64..100_000, extra in 0u64..50_000,
    ) {
        let base = earthquake(eq, lt);
        prop_assert!(base <= earthquake(eq + extra, lt));
        prop_assert!(base <= earthquake(eq, lt + extra));
        prop_assert!(base <= 50_000);
    }

    #[test]
    fn an_extra_certificate_never_lowers_the_life_deduction(
        input in tax_input(), extra in life_certificate(),
    ) {
        let before = draft(2025, &input).unwrap();
        let mut more = input.clone();
        more.life_insurance_certificates.push(extra);
        let after = draft(2025, &more).unwrap();
        prop_assert!(before.deductions.life_insurance <= after.deductions.life_insurance);
    }

    #[test]
    fn caps_are_never_exceeded(input in tax_input()) {
        let d = draft(2025, &input).unwrap();
        let by = d.deductions.life_insurance_by_category;
        prop_assert!(by.general <= 50_000);
        prop_assert!(by.care_medical <= 40_000);
        prop_assert!(by.individual_pension <= 50_000);
        prop_assert!(d.deductions.life_insurance <= 120_000);
        prop_assert!(d.deductions.earthquake_insurance <= 50_000);
        prop_assert!(d.deductions.medical_expense <= 2_000_000);
        prop_assert!(d.deductions.self_medication <= 88_000);
        // Alternatives: never both.
        prop_assert!(d.deductions.medical_expense == 0 || d.deductions.self_medication == 0);
        prop_assert!(d.deductions.donation * 10 <= d.total_income * 4);
        prop_assert!(d.taxable_income <= d.total_income);
        prop_assert_eq!(d.taxable_income % 1_000, 0);
        prop_assert!(d.housing_loan_credit_applied <= d.income_tax);
        prop_assert!(d.housing_loan_credit_applied <= d.housing_loan_credit);
        prop_assert_eq!(d.housing_loan_credit % 100, 0);
        // The largest cap: 50,000,000 x 1% (certified, moved in 2016-2021).
        prop_assert!(d.housing_loan_credit <= 500_000);
        prop_assert_eq!(d.total_tax, d.base_income_tax + d.reconstruction_tax);
    }

    #[test]
    fn tax_due_is_exact_for_refunds_and_rounded_down_to_100_for_payments(input in tax_input()) {
        let d = draft(2025, &input).unwrap();
        let diff = d.total_tax as i64 - d.withholding_tax as i64;
        if diff <= 0 {
            prop_assert_eq!(d.tax_due, diff);
        } else {
            prop_assert_eq!(d.tax_due % 100, 0);
            prop_assert!(d.tax_due <= diff && diff - d.tax_due < 100);
        }
    }

    #[test]
    fn a_bigger_withholding_never_a_larger_tax_due(
        payment in 0u64..30_000_000, w1 in 0u64..3_000_000, extra in 0u64..1_000_000,
    ) {
        let w1 = w1.min(payment);
        let w2 = (w1 + extra).min(payment);
        let d1 = draft(2025, &salary(payment, payment / 7, w1)).unwrap();
        let d2 = draft(2025, &salary(payment, payment / 7, w2)).unwrap();
        prop_assert!(d2.tax_due <= d1.tax_due);
    }

    #[test]
    fn every_trace_source_points_into_the_input(input in tax_input()) {
        let d = draft(2025, &input).unwrap();
        let json = serde_json::to_value(&input).unwrap();
        for line in &d.trace {
            for source in &line.sources {
                // Walk "a.b[2].c" through the input's JSON.
                let mut v = &json;
                for part in source.split('.') {
                    let (name, index) = match part.split_once('[') {
                        Some((n, i)) => (n, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
                        None => (part, None),
                    };
                    v = &v[name];
                    if let Some(i) = index {
                        v = &v[i];
                    }
                }
                prop_assert!(!v.is_null(), "{} cites missing {}", line.figure, source);
            }
        }
    }
}
