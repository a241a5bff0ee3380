//! The rules of the 2025 return, one function each, in yen.
//!
//! Each function cites the NTA Tax Answer (タックスアンサー) it implements.
//! Arguments are bounded by validation ([`MAX_YEN`] per amount), so products
//! like `amount * 45` stay far below `u64::MAX`.

use crate::input::{HousingAcquisition, HousingLoanCertificate, HousingPerformance};

/// The only tax year this crate computes: 令和7年分.
pub const TAX_YEAR: u16 = 2025;

/// Largest amount accepted for any single input field (one trillion yen).
pub const MAX_YEN: u64 = 1_000_000_000_000;

/// 1,234,567 → "1,234,567", for trace notes a person reads.
pub(crate) fn yen(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// NTA Tax Answer No.1410 (令和7年分以降) and 所得税法別表第五 as printed in the
// NTA's 令和7年分 年末調整のしかた, which governs payments below 6,600,000:
// below 651,000 the income is 0 (so 650,001-650,999 give 0, not 1-999);
// up to 1,900,000 the deduction is a flat 650,000; from 1,900,000 the rows
// are 4,000 yen wide, i.e. the formula is applied to the payment rounded down
// to a multiple of 4,000. From 6,600,000 the formula applies with fractions
// below 1 yen dropped.
// The 所得金額調整控除 is not applied: it needs dependants or pension income.
/// 給与所得の金額 for a 2025 salary `payment` (源泉徴収票の支払金額).
pub(crate) fn employment_income(payment: u64) -> u64 {
    if payment < 651_000 {
        0
    } else if payment < 1_900_000 {
        payment - 650_000
    } else if payment < 6_600_000 {
        let a = payment / 4_000 * 4_000;
        if payment < 3_600_000 {
            // deduction 30% + 80,000
            a * 7 / 10 - 80_000
        } else {
            // deduction 20% + 440,000
            a * 8 / 10 - 440_000
        }
    } else if payment < 8_500_000 {
        // deduction 10% + 1,100,000
        payment * 9 / 10 - 1_100_000
    } else {
        payment - 1_950_000
    }
}

// NTA Tax Answer No.1199 (令和7年分): the 令和7年度 reform raised the basic
// deduction to 580,000 and added a special amount for 合計所得金額 up to
// 6,550,000 (95万 / 88万 / 68万 / 63万); the taper above 23.5M is unchanged.
/// 基礎控除 for a given 合計所得金額.
pub(crate) fn basic_deduction(total_income: u64) -> u64 {
    match total_income {
        0..=1_320_000 => 950_000,
        1_320_001..=3_360_000 => 880_000,
        3_360_001..=4_890_000 => 680_000,
        4_890_001..=6_550_000 => 630_000,
        6_550_001..=23_500_000 => 580_000,
        23_500_001..=24_000_000 => 480_000,
        24_000_001..=24_500_000 => 320_000,
        24_500_001..=25_000_000 => 160_000,
        _ => 0,
    }
}

// NTA Tax Answer No.1140: new-contract formula (契約 2012-01-01 以後), each
// category at most 40,000; fractions below 1 yen are rounded up (切上げ).
pub(crate) fn life_new(premium: u64) -> u64 {
    match premium {
        0..=20_000 => premium,
        20_001..=40_000 => premium.div_ceil(2) + 10_000,
        40_001..=80_000 => premium.div_ceil(4) + 20_000,
        _ => 40_000,
    }
}

// NTA Tax Answer No.1140: old-contract formula (契約 2011-12-31 以前), at most
// 50,000; fractions rounded up as for new contracts.
pub(crate) fn life_old(premium: u64) -> u64 {
    match premium {
        0..=25_000 => premium,
        25_001..=50_000 => premium.div_ceil(2) + 12_500,
        50_001..=100_000 => premium.div_ceil(4) + 25_000,
        _ => 50_000,
    }
}

// NTA Tax Answer No.1140: with both new and old contracts in one category the
// taxpayer may use the old ones alone (up to 50,000) or add both results
// (capped at 40,000); the larger is taken. With only one kind this reduces
// to that kind's own formula.
pub(crate) fn life_category(new_premium: u64, old_premium: u64) -> u64 {
    let old = life_old(old_premium);
    old.max((life_new(new_premium) + old).min(40_000))
}

// NTA Tax Answer No.1140: the three categories together at most 120,000.
pub(crate) const LIFE_TOTAL_CAP: u64 = 120_000;

// NTA Tax Answer No.1145: earthquake premiums in full up to 50,000; old
// long-term premiums by formula up to 15,000 (fractions rounded up, as on the
// NTA's 保険料控除申告書); the two together at most 50,000.
pub(crate) fn earthquake(earthquake_premium: u64, old_long_term_premium: u64) -> u64 {
    let eq = earthquake_premium.min(50_000);
    let lt = match old_long_term_premium {
        0..=10_000 => old_long_term_premium,
        10_001..=20_000 => old_long_term_premium.div_ceil(2) + 5_000,
        _ => 15_000,
    };
    (eq + lt).min(50_000)
}

// NTA Tax Answer No.1120: the threshold is 100,000 or, when 総所得金額等 is
// below 2,000,000, 5% of it (here rounded down to the yen); the deduction is
// at most 2,000,000.
/// The part of the medical expense deduction's threshold, for the trace.
pub(crate) fn medical_threshold(total_income: u64) -> u64 {
    (total_income * 5 / 100).min(100_000)
}

/// 医療費控除 from expenses already net of their own reimbursements.
pub(crate) fn medical_expense(net_expenses: u64, total_income: u64) -> u64 {
    net_expenses
        .saturating_sub(medical_threshold(total_income))
        .min(2_000_000)
}

// NTA Tax Answer No.1129: specified OTC purchases minus 12,000, at most
// 88,000; an alternative to the medical expense deduction, never both.
pub(crate) fn self_medication(otc_specified: u64) -> u64 {
    otc_specified.saturating_sub(12_000).min(88_000)
}

// NTA Tax Answer No.1150: donations count up to 40% of 総所得金額等 (rounded
// down to the yen here), minus 2,000.
pub(crate) fn donation_limit(total_income: u64) -> u64 {
    total_income * 40 / 100
}

pub(crate) fn donation(total_donated: u64, total_income: u64) -> u64 {
    total_donated
        .min(donation_limit(total_income))
        .saturating_sub(2_000)
}

// NTA Tax Answer No.2260: 課税される所得金額 is rounded down to 1,000 yen
// before the rate table applies.
pub(crate) fn taxable_income(total_income: u64, total_deductions: u64) -> u64 {
    total_income.saturating_sub(total_deductions) / 1_000 * 1_000
}

// NTA Tax Answer No.2260, 所得税の速算表. Rows are (upper bound inclusive,
// rate %, subtraction). `taxable` is a multiple of 1,000, so the percentages
// are exact.
const RATE_TABLE: [(u64, u64, u64); 7] = [
    (1_949_000, 5, 0),
    (3_299_000, 10, 97_500),
    (6_949_000, 20, 427_500),
    (8_999_000, 23, 636_000),
    (17_999_000, 33, 1_536_000),
    (39_999_000, 40, 2_796_000),
    (u64::MAX, 45, 4_796_000),
];

/// (rate %, subtraction) of the band `taxable` falls in.
pub(crate) fn rate_band(taxable: u64) -> (u64, u64) {
    let mut band = (45, 4_796_000);
    for (upper, rate, minus) in RATE_TABLE {
        if taxable <= upper {
            band = (rate, minus);
            break;
        }
    }
    band
}

pub(crate) fn income_tax(taxable: u64) -> u64 {
    let (rate, minus) = rate_band(taxable);
    // Each band starts where the previous one ends at the same tax, so the
    // subtraction never exceeds the product; saturate anyway.
    (taxable * rate / 100).saturating_sub(minus)
}

// NTA Tax Answer No.2260 (復興特別所得税): 2.1% of 基準所得税額, fractions
// below 1 yen dropped.
pub(crate) fn reconstruction_tax(base_income_tax: u64) -> u64 {
    base_income_tax * 21 / 1_000
}

// 国税通則法 art.119: a 申告納税額 is rounded down to 100 yen; a refund
// (還付される税金) is paid to the yen.
pub(crate) fn tax_due(total_tax: u64, withholding: u64) -> i64 {
    // Both are bounded by MAX_YEN-scale values, far inside i64.
    let diff = i64::try_from(total_tax).unwrap_or(i64::MAX) - i64::try_from(withholding).unwrap_or(i64::MAX);
    if diff > 0 { diff / 100 * 100 } else { diff }
}

/// Result of the housing-loan credit rule, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HousingCredit {
    pub(crate) amount: u64,
    pub(crate) rule: &'static str,
    pub(crate) note: String,
}

const NO_1211_1: &str = "NTA Tax Answer No.1211-1";
const NO_1211_3: &str = "NTA Tax Answer No.1211-3";
const NO_1213: &str = "NTA Tax Answer No.1213";
const NO_1214: &str = "NTA Tax Answer No.1214";

fn performance_name(p: HousingPerformance) -> &'static str {
    match p {
        HousingPerformance::Certified => "certified",
        HousingPerformance::Zeh => "ZEH-level",
        HousingPerformance::EnergySaving => "energy-saving",
        HousingPerformance::Other => "other",
    }
}

/// Loan cap, credit years, rate in per mille, income limit, extra note.
struct HousingTerms {
    rule: &'static str,
    cap: u64,
    years: u16,
    rate_per_mille: u64,
    income_limit: u64,
    assumption: Option<&'static str>,
}

fn housing_terms(h: &HousingLoanCertificate) -> HousingTerms {
    use HousingAcquisition::{New, Used};
    use HousingPerformance::{Certified, EnergySaving, Other, Zeh};
    const M: u64 = 1_000_000;
    let y = h.move_in_year;
    if y >= 2022 {
        // 令和4年以降入居: 0.7%, 合計所得金額 20,000,000 以下.
        let (rule, cap, years, assumption) = match (h.acquisition, h.performance) {
            // NTA Tax Answer No.1211-1, new homes moved into in 2022-2023.
            (New, Certified) if y <= 2023 => (NO_1211_1, 50 * M, 13, None),
            (New, Zeh) if y <= 2023 => (NO_1211_1, 45 * M, 13, None),
            (New, EnergySaving) if y <= 2023 => (NO_1211_1, 40 * M, 13, None),
            (New, Other) if y <= 2023 => (NO_1211_1, 30 * M, 13, None),
            // No.1211-1, 2024-2025: lower caps, raised back for 子育て特例対象個人.
            (New, Certified) => {
                let cap = if h.child_or_young_couple { 50 * M } else { 45 * M };
                (NO_1211_1, cap, 13, None)
            }
            (New, Zeh) => {
                let cap = if h.child_or_young_couple { 45 * M } else { 35 * M };
                (NO_1211_1, cap, 13, None)
            }
            (New, EnergySaving) => {
                let cap = if h.child_or_young_couple { 40 * M } else { 30 * M };
                (NO_1211_1, cap, 13, None)
            }
            // No.1211-1: other new homes moved into from 2024 get nothing
            // unless building confirmation was by 2023-12-31 (or the home was
            // built by 2024-06-30); then 20,000,000 for 10 years. The input
            // cannot say which; a certificate for such a home implies the
            // exception, so it is assumed and said so in the trace.
            (New, Other) => (
                NO_1211_1,
                20 * M,
                10,
                Some(
                    "assumes building confirmation by 2023-12-31 (or construction by \
                     2024-06-30); otherwise an 'other' new home moved into from 2024 gets no credit",
                ),
            ),
            // NTA Tax Answer No.1211-3, used homes: 10 years.
            (Used, Other) => (NO_1211_3, 20 * M, 10, None),
            (Used, _) => (NO_1211_3, 30 * M, 10, None),
        };
        HousingTerms {
            rule,
            cap,
            years,
            rate_per_mille: 7,
            income_limit: 20 * M,
            assumption,
        }
    } else {
        // 平成28年-令和3年入居 (consumption tax 8%/10%): 1%, 10 years (the
        // 13-year extension for some 2019-2021 move-ins only matters from year
        // 11, which no such home reaches in 2025), 合計所得金額 30,000,000 以下.
        let (rule, cap) = match (h.acquisition, h.performance) {
            // NTA Tax Answer No.1213: 認定住宅 50M, other new homes 40M.
            (New, Certified) => (NO_1213, 50 * M),
            (New, _) => (NO_1213, 40 * M),
            // NTA Tax Answer No.1214: used homes bought from individuals
            // (no consumption tax) 20M, certified 30M.
            (Used, Certified) => (NO_1214, 30 * M),
            (Used, _) => (NO_1214, 20 * M),
        };
        HousingTerms {
            rule,
            cap,
            years: 10,
            rate_per_mille: 10,
            income_limit: 30 * M,
            assumption: None,
        }
    }
}

/// 住宅借入金等特別控除額 for 2025, before it is set against the income tax.
pub(crate) fn housing_loan_credit(h: &HousingLoanCertificate, total_income: u64) -> HousingCredit {
    let kind = match h.acquisition {
        HousingAcquisition::New => "new",
        HousingAcquisition::Used => "used",
    };
    let what = format!(
        "{kind} {} home moved into in {}",
        performance_name(h.performance),
        h.move_in_year
    );
    if h.move_in_year < 2016 {
        return HousingCredit {
            amount: 0,
            rule: if h.acquisition == HousingAcquisition::New {
                NO_1213
            } else {
                NO_1214
            },
            note: format!(
                "{what}: the credit period has ended (10 years from the move-in year), so the credit is 0"
            ),
        };
    }
    let t = housing_terms(h);
    let year_of_credit = TAX_YEAR.saturating_sub(h.move_in_year) + 1;
    if year_of_credit > t.years {
        return HousingCredit {
            amount: 0,
            rule: t.rule,
            note: format!(
                "{what}: {TAX_YEAR} would be year {year_of_credit} of {}; the credit period has ended, so the credit is 0",
                t.years
            ),
        };
    }
    if total_income > t.income_limit {
        return HousingCredit {
            amount: 0,
            rule: t.rule,
            note: format!(
                "{what}: total income {} exceeds the limit of {}, so the credit is 0",
                yen(total_income),
                yen(t.income_limit)
            ),
        };
    }
    let cost = h.acquisition_cost.unwrap_or(h.year_end_balance);
    let base = h.year_end_balance.min(cost).min(t.cap);
    let raw = base * t.rate_per_mille / 1_000;
    // Credit amounts are rounded down to 100 yen (NTA 住宅税制一覧表, 措法41).
    let amount = raw / 100 * 100;
    let cost_text = match h.acquisition_cost {
        Some(c) => format!(", acquisition cost {}", yen(c)),
        None => String::new(),
    };
    let rate_text = if t.rate_per_mille == 7 { "0.7%" } else { "1%" };
    let mut note = format!(
        "{what} (year {year_of_credit} of {}): min(year-end balance {}{cost_text}, cap {}) = {} x {rate_text} = {}, rounded down to 100 yen = {}",
        t.years,
        yen(h.year_end_balance),
        yen(t.cap),
        yen(base),
        yen(raw),
        yen(amount),
    );
    if let Some(a) = t.assumption {
        note.push_str("; ");
        note.push_str(a);
    }
    HousingCredit {
        amount,
        rule: t.rule,
        note,
    }
}
