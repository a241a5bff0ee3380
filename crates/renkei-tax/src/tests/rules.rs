//! Each rule on its own: the NTA's published figures, then band edges worked
//! out by hand in the comments.

use super::salary;
use crate::input::{HousingAcquisition, HousingLoanCertificate, HousingPerformance};
use crate::rules::*;
use crate::{TAX_YEAR, draft};

// ---------------------------------------------------------------- No.1410 ---

#[test]
fn employment_income_matches_the_ntas_2025_table_rows() {
    // Rows of 「令和7年分の年末調整等のための給与所得控除後の給与等の金額の表」
    // (NTA, 令和7年分 年末調整のしかた), as printed: (payment, income).
    for (payment, expected) in [
        (650_999, 0), // 「651,000円未満 0」
        (651_000, 1_000),
        (1_899_999, 1_249_999), // 651,000-1,900,000: payment - 650,000
        (1_900_000, 1_250_000),
        (1_903_999, 1_250_000), // same row as 1,900,000
        (1_904_000, 1_252_800),
        (2_000_000, 1_320_000),
        (3_596_000, 2_437_200),
        (3_599_999, 2_437_200),
        (3_600_000, 2_440_000),
        (3_604_000, 2_443_200),
        (5_000_000, 3_560_000),
        (6_596_000, 4_836_800),
        (6_599_999, 4_836_800),
        (20_000_000, 18_050_000), // the table's closing line
    ] {
        assert_eq!(employment_income(payment), expected, "payment {payment}");
    }
}

#[test]
fn employment_income_band_edges_by_hand() {
    // 1,900,000: 1,900,000 - 650,000 = 1,250,000 (and the table gives the same).
    assert_eq!(employment_income(1_900_000), 1_250_000);
    // 1,900,001: A = 1,900,000; 1,900,000 x 0.7 - 80,000 = 1,330,000 - 80,000 = 1,250,000.
    assert_eq!(employment_income(1_900_001), 1_250_000);
    // 1,903,999: A = floor(1,903,999 / 4,000) x 4,000 = 475 x 4,000 = 1,900,000 -> 1,250,000.
    assert_eq!(employment_income(1_903_999), 1_250_000);
    // 3,599,999: A = 899 x 4,000 = 3,596,000; x 0.7 = 2,517,200; - 80,000 = 2,437,200.
    assert_eq!(employment_income(3_599_999), 2_437_200);
    // 3,600,000: A = 3,600,000; x 0.8 = 2,880,000; - 440,000 = 2,440,000.
    assert_eq!(employment_income(3_600_000), 2_440_000);
    // 6,599,999: A = 1,649 x 4,000 = 6,596,000; x 0.8 = 5,276,800; - 440,000 = 4,836,800.
    assert_eq!(employment_income(6_599_999), 4_836_800);
    // 6,600,000: x 0.9 = 5,940,000; - 1,100,000 = 4,840,000.
    assert_eq!(employment_income(6_600_000), 4_840_000);
    // 6,600,001: x 0.9 = 5,940,000.9 -> 5,940,000; - 1,100,000 = 4,840,000.
    assert_eq!(employment_income(6_600_001), 4_840_000);
    // 8,499,999: x 0.9 = 7,649,999.1 -> 7,649,999; - 1,100,000 = 6,549,999.
    assert_eq!(employment_income(8_499_999), 6_549_999);
    // 8,500,000: 8,500,000 - 1,950,000 = 6,550,000 (= 7,650,000 - 1,100,000 too).
    assert_eq!(employment_income(8_500_000), 6_550_000);
    // 8,500,001: 8,500,001 - 1,950,000 = 6,550,001.
    assert_eq!(employment_income(8_500_001), 6_550_001);
    // 650,000 / 650,999: the table's first line, 「651,000円未満 0」, so not 999.
    assert_eq!(employment_income(650_000), 0);
    assert_eq!(employment_income(650_999), 0);
    assert_eq!(employment_income(0), 0);
}

// ---------------------------------------------------------------- No.1199 ---

#[test]
fn basic_deduction_at_each_threshold_and_one_yen_above() {
    for (income, expected) in [
        (0, 950_000),
        (1_320_000, 950_000),
        (1_320_001, 880_000),
        (3_360_000, 880_000),
        (3_360_001, 680_000),
        (4_890_000, 680_000),
        (4_890_001, 630_000),
        (6_550_000, 630_000),
        (6_550_001, 580_000),
        (23_500_000, 580_000),
        (23_500_001, 480_000),
        (24_000_000, 480_000),
        (24_000_001, 320_000),
        (24_500_000, 320_000),
        (24_500_001, 160_000),
        (25_000_000, 160_000),
        (25_000_001, 0),
    ] {
        assert_eq!(basic_deduction(income), expected, "total income {income}");
    }
}

#[test]
fn basic_deduction_by_salary_as_the_nta_states_it() {
    // The NTA's 令和7年度 basic-deduction table gives, beside each income band,
    // the salary-only equivalent: 1,320,000 ↔ salary up to 2,003,999;
    // 3,360,000 ↔ 4,751,999; 4,890,000 ↔ 6,655,556; 6,550,000 ↔ 8,500,000;
    // 23,500,000 ↔ 25,450,000. Each edge and one yen past it:
    for (payment, expected) in [
        (2_003_999, 950_000),
        (2_004_000, 880_000), // 2,004,000 x 0.7 - 80,000 = 1,322,800
        (4_751_999, 880_000), // A 4,748,000 x 0.8 - 440,000 = 3,358,400
        (4_752_000, 680_000), // 4,752,000 x 0.8 - 440,000 = 3,361,600
        (6_655_556, 680_000), // floor(5,990,000.4) - 1,100,000 = 4,890,000
        (6_655_557, 630_000), // floor(5,990,001.3) - 1,100,000 = 4,890,001
        (8_500_000, 630_000),
        (8_500_001, 580_000),
        (25_450_000, 580_000),
        (25_450_001, 480_000),
    ] {
        let d = draft(TAX_YEAR, &salary(payment, 0, 0)).unwrap();
        assert_eq!(d.deductions.basic, expected, "salary {payment}");
    }
}

#[test]
fn salary_of_1_600_000_pays_no_income_tax() {
    // The reform's headline: 給与所得控除 650,000 + 基礎控除 950,000 = 1,600,000.
    // 1,600,000 - 650,000 = 950,000 income; - 950,000 basic = 0.
    let d = draft(TAX_YEAR, &salary(1_600_000, 0, 0)).unwrap();
    assert_eq!((d.taxable_income, d.income_tax), (0, 0));
    // 1,600,999: income 950,999 - 950,000 = 999 -> rounded down to 1,000s = 0.
    let d = draft(TAX_YEAR, &salary(1_600_999, 0, 0)).unwrap();
    assert_eq!((d.taxable_income, d.income_tax), (0, 0));
    // 1,601,000: 1,000 taxable x 5% = 50.
    let d = draft(TAX_YEAR, &salary(1_601_000, 0, 0)).unwrap();
    assert_eq!((d.taxable_income, d.income_tax), (1_000, 50));
}

// ---------------------------------------------------------------- No.2260 ---

#[test]
fn income_tax_nta_example() {
    // No.2260: 「課税される所得金額」が700万円の場合
    // 700万円 x 0.23 - 63万6千円 = 97万4千円.
    assert_eq!(income_tax(7_000_000), 974_000);
}

#[test]
fn income_tax_band_edges_by_hand() {
    for (taxable, expected) in [
        (0, 0),
        (1_000, 50),               // x 5%
        (1_949_000, 97_450),       // x 5%
        (1_950_000, 97_500),       // 195,000 - 97,500
        (3_299_000, 232_400),      // 329,900 - 97,500
        (3_300_000, 232_500),      // 660,000 - 427,500
        (6_949_000, 962_300),      // 1,389,800 - 427,500
        (6_950_000, 962_500),      // 1,598,500 - 636,000
        (8_999_000, 1_433_770),    // 2,069,770 - 636,000
        (9_000_000, 1_434_000),    // 2,970,000 - 1,536,000
        (17_999_000, 4_403_670),   // 5,939,670 - 1,536,000
        (18_000_000, 4_404_000),   // 7,200,000 - 2,796,000
        (39_999_000, 13_203_600),  // 15,999,600 - 2,796,000
        (40_000_000, 13_204_000),  // 18,000,000 - 4,796,000
        (100_000_000, 40_204_000), // 45,000,000 - 4,796,000
    ] {
        assert_eq!(income_tax(taxable), expected, "taxable {taxable}");
    }
}

#[test]
fn taxable_income_is_rounded_down_to_thousands_and_never_negative() {
    assert_eq!(taxable_income(3_414_999 + 1_785_001, 1_785_001), 3_414_000);
    assert_eq!(taxable_income(1_000_000, 1_000_001), 0);
    assert_eq!(taxable_income(1_000_999, 0), 1_000_000);
}

#[test]
fn reconstruction_tax_drops_fractions() {
    // 106,200 x 2.1% = 2,230.2 -> 2,230.
    assert_eq!(reconstruction_tax(106_200), 2_230);
    // 47 x 2.1% = 0.987 -> 0.
    assert_eq!(reconstruction_tax(47), 0);
    // 48 x 2.1% = 1.008 -> 1.
    assert_eq!(reconstruction_tax(48), 1);
}

#[test]
fn tax_due_rounds_payments_down_to_100_but_refunds_are_exact() {
    // 190,302 - 0 = 190,302 -> 190,300.
    assert_eq!(tax_due(190_302, 0), 190_300);
    // 1,190,302 - 1,000,000 = 190,302 -> 190,300.
    assert_eq!(tax_due(1_190_302, 1_000_000), 190_300);
    // 99 to pay rounds down to nothing.
    assert_eq!(tax_due(1_099, 1_000), 0);
    // 108,430 - 120,000 = -11,570, refunded to the yen.
    assert_eq!(tax_due(108_430, 120_000), -11_570);
    assert_eq!(tax_due(0, 1), -1);
    assert_eq!(tax_due(5, 5), 0);
}

// ---------------------------------------------------------------- No.1140 ---

#[test]
fn life_insurance_new_contract_edges() {
    // <= 20,000 in full; 20,001-40,000: P/2 + 10,000; 40,001-80,000: P/4 + 20,000;
    // above: 40,000. Fractions rounded up.
    assert_eq!(life_new(20_000), 20_000);
    assert_eq!(life_new(20_001), 20_001); // 10,000.5 -> 10,001; + 10,000
    assert_eq!(life_new(30_001), 25_001); // 15,000.5 -> 15,001; + 10,000
    assert_eq!(life_new(40_000), 30_000); // 20,000 + 10,000
    assert_eq!(life_new(40_001), 30_001); // 10,000.25 -> 10,001; + 20,000
    assert_eq!(life_new(80_000), 40_000); // 20,000 + 20,000
    assert_eq!(life_new(80_001), 40_000);
    assert_eq!(life_new(1_000_000), 40_000);
}

#[test]
fn life_insurance_old_contract_edges() {
    // <= 25,000 in full; 25,001-50,000: P/2 + 12,500; 50,001-100,000: P/4 + 25,000;
    // above: 50,000. Fractions rounded up.
    assert_eq!(life_old(25_000), 25_000);
    assert_eq!(life_old(25_001), 25_001); // 12,500.5 -> 12,501; + 12,500
    assert_eq!(life_old(50_000), 37_500); // 25,000 + 12,500
    assert_eq!(life_old(50_001), 37_501); // 12,500.25 -> 12,501; + 25,000
    assert_eq!(life_old(60_000), 40_000); // 15,000 + 25,000
    assert_eq!(life_old(100_000), 50_000); // 25,000 + 25,000
    assert_eq!(life_old(100_001), 50_000);
}

#[test]
fn life_insurance_new_and_old_in_one_category_takes_the_better_choice() {
    // new 100,000 -> 40,000; old 10,000 -> 10,000; both: min(50,000, 40,000) = 40,000;
    // old alone 10,000 -> 40,000.
    assert_eq!(life_category(100_000, 10_000), 40_000);
    // new 10,000 + old 10,000 = 20,000 (under the 40,000 cap) vs old alone 10,000.
    assert_eq!(life_category(10_000, 10_000), 20_000);
    // new 50,000 -> 12,500 + 20,000 = 32,500; old 120,000 -> 50,000;
    // both capped at 40,000 < old alone 50,000 -> 50,000.
    assert_eq!(life_category(50_000, 120_000), 50_000);
    // new 20,000 -> 20,000; old 60,000 -> 40,000; both min(60,000, 40,000) = 40,000;
    // old alone 40,000 -> 40,000.
    assert_eq!(life_category(20_000, 60_000), 40_000);
    // new 30,000 -> 25,000; old 64,000 -> 16,000 + 25,000 = 41,000 > 40,000 -> 41,000.
    assert_eq!(life_category(30_000, 64_000), 41_000);
    // Only one kind: its own formula.
    assert_eq!(life_category(30_000, 0), 25_000);
    assert_eq!(life_category(0, 30_000), 27_500); // 15,000 + 12,500
}

// ---------------------------------------------------------------- No.1145 ---

#[test]
fn earthquake_insurance_edges() {
    assert_eq!(earthquake(50_000, 0), 50_000);
    assert_eq!(earthquake(50_001, 0), 50_000);
    assert_eq!(earthquake(0, 10_000), 10_000);
    assert_eq!(earthquake(0, 10_001), 10_001); // 5,000.5 -> 5,001; + 5,000
    assert_eq!(earthquake(0, 20_000), 15_000); // 10,000 + 5,000
    assert_eq!(earthquake(0, 20_001), 15_000);
    // 30,000 + (15,000/2 + 5,000 = 12,500) = 42,500.
    assert_eq!(earthquake(30_000, 15_000), 42_500);
    // 40,000 + 15,000 = 55,000 -> capped at 50,000.
    assert_eq!(earthquake(40_000, 20_000), 50_000);
}

// ------------------------------------------------------- No.1120 / No.1129 ---

#[test]
fn medical_threshold_is_5_percent_below_2_million_income() {
    // 1,500,000 x 5% = 75,000 < 100,000.
    assert_eq!(medical_expense(175_000, 1_500_000), 100_000);
    // 2,000,000 x 5% = 100,000: the two thresholds meet.
    assert_eq!(medical_expense(150_000, 2_000_000), 50_000);
    // 1,999,999 x 5% = 99,999.95 -> 99,999 (rounded down, our choice).
    assert_eq!(medical_expense(100_000, 1_999_999), 1);
    // 5,000,000 x 5% = 250,000 -> 100,000 applies.
    assert_eq!(medical_expense(100_000, 5_000_000), 0);
    assert_eq!(medical_expense(100_001, 5_000_000), 1);
    // Cap: 3,000,000 - 100,000 = 2,900,000 -> 2,000,000.
    assert_eq!(medical_expense(3_000_000, 5_000_000), 2_000_000);
    // Zero income: threshold 0, the whole expense counts.
    assert_eq!(medical_expense(30_000, 0), 30_000);
}

#[test]
fn self_medication_edges() {
    assert_eq!(self_medication(12_000), 0);
    assert_eq!(self_medication(12_001), 1);
    assert_eq!(self_medication(99_999), 87_999);
    assert_eq!(self_medication(100_000), 88_000);
    assert_eq!(self_medication(100_001), 88_000);
}

// ---------------------------------------------------------------- No.1150 ---

#[test]
fn donation_edges() {
    assert_eq!(donation(2_000, 5_000_000), 0);
    assert_eq!(donation(2_001, 5_000_000), 1);
    // Income 100,000: limit 40,000; min(50,000, 40,000) - 2,000 = 38,000.
    assert_eq!(donation(50_000, 100_000), 38_000);
    // Income 100,003: 40,001.2 -> 40,001; - 2,000 = 38,001.
    assert_eq!(donation(50_000, 100_003), 38_001);
    // No income, no deduction.
    assert_eq!(donation(50_000, 0), 0);
}

// ------------------------------------------------------- No.1211-1 / 1213 ---

fn home(
    move_in_year: u16,
    acquisition: HousingAcquisition,
    performance: HousingPerformance,
    child_or_young_couple: bool,
    balance: u64,
) -> HousingLoanCertificate {
    HousingLoanCertificate {
        year_end_balance: balance,
        acquisition_cost: None,
        move_in_year,
        acquisition,
        performance,
        child_or_young_couple,
    }
}

#[test]
fn housing_caps_for_new_homes_moved_into_2022_to_2025() {
    use HousingAcquisition::New;
    use HousingPerformance::*;
    let big = 60_000_000;
    for (year, perf, child, expected) in [
        // 2022-2023: certified 50M, ZEH 45M, energy-saving 40M, other 30M; x 0.7%.
        (2022, Certified, false, 350_000), // 50,000,000 x 0.7%
        (2023, Zeh, false, 315_000),       // 45,000,000 x 0.7%
        (2023, EnergySaving, false, 280_000),
        (2022, Other, false, 210_000),
        // Child/young-couple status does not matter before 2024.
        (2023, Zeh, true, 315_000),
        // 2024-2025: certified 45M, ZEH 35M, energy-saving 30M ...
        (2024, Certified, false, 315_000),
        (2025, Zeh, false, 245_000),
        (2024, EnergySaving, false, 210_000),
        // ... raised to 50M / 45M / 40M for 子育て特例対象個人.
        (2024, Certified, true, 350_000),
        (2025, Zeh, true, 315_000),
        (2025, EnergySaving, true, 280_000),
        // Other new homes from 2024: 20M under the building-confirmation exception.
        (2024, Other, false, 140_000),
        (2025, Other, true, 140_000),
    ] {
        let c = housing_loan_credit(&home(year, New, perf, child, big), 5_000_000);
        assert_eq!(c.amount, expected, "{year} {perf:?} child={child}");
        assert_eq!(c.rule, "NTA Tax Answer No.1211-1");
    }
    let other = housing_loan_credit(&home(2025, New, Other, false, big), 5_000_000);
    assert!(other.note.contains("building confirmation"), "{}", other.note);
}

#[test]
fn housing_caps_for_used_homes_and_older_move_ins() {
    use HousingAcquisition::{New, Used};
    use HousingPerformance::*;
    let big = 60_000_000;
    for (year, acq, perf, expected, rule) in [
        // Used, 2022-2025: certified/ZEH/energy-saving 30M, other 20M; 0.7%; 10 years.
        (2022, Used, Zeh, 210_000, "NTA Tax Answer No.1211-3"),
        (2025, Used, Certified, 210_000, "NTA Tax Answer No.1211-3"),
        (2024, Used, Other, 140_000, "NTA Tax Answer No.1211-3"),
        // 2016-2021: 1%; new certified 50M, other new 40M.
        (2016, New, Certified, 500_000, "NTA Tax Answer No.1213"),
        (2016, New, Other, 400_000, "NTA Tax Answer No.1213"),
        (2021, New, Zeh, 400_000, "NTA Tax Answer No.1213"),
        // Used 2016-2021: 20M, certified 30M.
        (2018, Used, Other, 200_000, "NTA Tax Answer No.1214"),
        (2019, Used, Certified, 300_000, "NTA Tax Answer No.1214"),
    ] {
        let c = housing_loan_credit(&home(year, acq, perf, false, big), 5_000_000);
        assert_eq!(c.amount, expected, "{year} {acq:?} {perf:?}");
        assert_eq!(c.rule, rule);
    }
}

#[test]
fn housing_credit_period() {
    use HousingAcquisition::{New, Used};
    use HousingPerformance::Other;
    // 2016 move-in: 2025 is year 10 of 10 -> still credited (20M x 1% for used).
    assert_eq!(
        housing_loan_credit(&home(2016, Used, Other, false, 20_000_000), 0).amount,
        200_000
    );
    // 2015 move-in: 2025 would be year 11 -> period over.
    let c = housing_loan_credit(&home(2015, New, Other, false, 20_000_000), 0);
    assert_eq!(c.amount, 0);
    assert!(c.note.contains("credit period has ended"), "{}", c.note);
}

#[test]
fn housing_credit_uses_the_smallest_base_and_rounds_down_to_100() {
    use HousingAcquisition::New;
    use HousingPerformance::Other;
    // 12,345,678 x 0.7% = 86,419.746 -> 86,419 -> 86,400.
    let c = housing_loan_credit(&home(2023, New, Other, false, 12_345_678), 5_000_000);
    assert_eq!(c.amount, 86_400);
    // The balance counts only up to the acquisition cost:
    // min(25,000,000, 18,000,000, 30,000,000) = 18,000,000 x 0.7% = 126,000.
    let mut h = home(2023, New, Other, false, 25_000_000);
    h.acquisition_cost = Some(18_000_000);
    assert_eq!(housing_loan_credit(&h, 5_000_000).amount, 126_000);
}

#[test]
fn housing_credit_income_limit() {
    use HousingAcquisition::New;
    use HousingPerformance::Certified;
    let h = home(2023, New, Certified, false, 10_000_000);
    // From 2022 move-ins: 合計所得金額 20,000,000 or less.
    assert_eq!(housing_loan_credit(&h, 20_000_000).amount, 70_000);
    let c = housing_loan_credit(&h, 20_000_001);
    assert_eq!(c.amount, 0);
    assert!(c.note.contains("exceeds the limit"), "{}", c.note);
    // Move-ins up to 2021: 30,000,000 or less. 10,000,000 x 1% = 100,000.
    let old = home(2020, New, Certified, false, 10_000_000);
    assert_eq!(housing_loan_credit(&old, 25_000_000).amount, 100_000);
    assert_eq!(housing_loan_credit(&old, 30_000_001).amount, 0);
}

#[test]
fn yen_formatting() {
    assert_eq!(yen(0), "0");
    assert_eq!(yen(999), "999");
    assert_eq!(yen(1_000), "1,000");
    assert_eq!(yen(1_234_567), "1,234,567");
}
