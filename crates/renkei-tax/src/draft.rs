//! The return itself: every figure, and a trace line saying where it came from.

use serde::Serialize;

use crate::error::InputError;
use crate::input::{EarthquakeInsuranceKind, InsuranceContract, LifeInsuranceCategory, TaxInput};
use crate::rules::{self, TAX_YEAR, yen};

/// The three life-insurance deductions before their common cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LifeInsuranceByCategory {
    /// 一般の生命保険料控除.
    pub general: u64,
    /// 介護医療保険料控除.
    pub care_medical: u64,
    /// 個人年金保険料控除.
    pub individual_pension: u64,
}

/// 所得から差し引かれる金額.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Deductions {
    /// 社会保険料控除.
    pub social_insurance: u64,
    /// 生命保険料控除 (the three categories, capped at 120,000).
    pub life_insurance: u64,
    /// The categories that make up `life_insurance`.
    pub life_insurance_by_category: LifeInsuranceByCategory,
    /// 地震保険料控除.
    pub earthquake_insurance: u64,
    /// 医療費控除 (0 when self-medication is chosen).
    pub medical_expense: u64,
    /// 医療費控除の特例 (セルフメディケーション税制).
    pub self_medication: u64,
    /// 寄附金控除.
    pub donation: u64,
    /// 基礎控除.
    pub basic: u64,
    /// Sum of the above; may exceed total income, which then taxes nothing.
    pub total: u64,
}

/// How one figure of the draft was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    /// Path of the figure in the draft, e.g. `deductions.life_insurance`.
    pub figure: String,
    /// Its name on the Japanese return, e.g. 生命保険料控除.
    pub label_ja: String,
    /// JSON paths of the input documents it was computed from.
    pub sources: Vec<String>,
    /// The rule applied, e.g. `NTA Tax Answer No.1140`.
    pub rule: String,
    /// The computation with its numbers.
    pub note: String,
}

/// The draft 2025 return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxDraft {
    /// Always 2025.
    pub tax_year: u16,
    /// 給与所得の金額.
    pub employment_income: u64,
    /// 合計所得金額 (= 総所得金額等 with salary as the only income).
    pub total_income: u64,
    /// 所得から差し引かれる金額.
    pub deductions: Deductions,
    /// 課税される所得金額 (rounded down to 1,000 yen).
    pub taxable_income: u64,
    /// Tax on `taxable_income`, before credits.
    pub income_tax: u64,
    /// The housing-loan credit the certificate gives.
    pub housing_loan_credit: u64,
    /// The part of it used against `income_tax`.
    pub housing_loan_credit_applied: u64,
    /// 基準所得税額.
    pub base_income_tax: u64,
    /// 復興特別所得税額.
    pub reconstruction_tax: u64,
    /// 所得税及び復興特別所得税の額.
    pub total_tax: u64,
    /// 源泉徴収税額.
    pub withholding_tax: u64,
    /// Positive: to pay (rounded down to 100 yen). Negative: refund, to the yen.
    pub tax_due: i64,
    /// One line per figure above.
    pub trace: Vec<TraceLine>,
}

impl TaxDraft {
    /// The trace line of `figure`, e.g. `"deductions.basic"`.
    pub fn trace_for(&self, figure: &str) -> Option<&TraceLine> {
        self.trace.iter().find(|l| l.figure == figure)
    }
}

#[derive(Default)]
struct Trace(Vec<TraceLine>);

impl Trace {
    fn line(&mut self, figure: &str, label_ja: &str, sources: Vec<String>, rule: &str, note: String) {
        self.0.push(TraceLine {
            figure: figure.into(),
            label_ja: label_ja.into(),
            sources,
            rule: rule.into(),
            note,
        });
    }
}

fn employment_note(payment: u64, income: u64) -> String {
    let p = yen(payment);
    let r = yen(income);
    if payment < 651_000 {
        format!("payment {p} is below 651,000, where the 別表第五 table gives 0")
    } else if payment < 1_900_000 {
        format!("payment {p} - 650,000 = {r}")
    } else if payment < 6_600_000 {
        let a = yen(payment / 4_000 * 4_000);
        let formula = if payment < 3_600_000 {
            "x 70% - 80,000"
        } else {
            "x 80% - 440,000"
        };
        format!(
            "payment {p} is below 6,600,000, so the 別表第五 table applies: rounded down to a multiple of 4,000 = {a}; {a} {formula} = {r}"
        )
    } else if payment < 8_500_000 {
        format!("payment {p} x 90% - 1,100,000 (fractions dropped) = {r}")
    } else {
        format!("payment {p} - 1,950,000 = {r}")
    }
}

fn indexed(prefix: &str, indices: impl IntoIterator<Item = usize>) -> Vec<String> {
    indices.into_iter().map(|i| format!("{prefix}[{i}]")).collect()
}

/// Computes the 2025 return from `input`.
///
/// Refuses any `year` other than 2025 (field `year`) and any input
/// [`TaxInput::validate`] refuses.
pub fn draft(year: u16, input: &TaxInput) -> Result<TaxDraft, InputError> {
    if year != TAX_YEAR {
        return Err(InputError::new(
            "year",
            format!("tax year {year} is not supported; only {TAX_YEAR} (令和7年分) is"),
        ));
    }
    input.validate()?;
    let mut trace = Trace::default();
    let slip_field = |name: &str| -> Vec<String> {
        if input.withholding_slip.is_some() {
            vec![format!("withholding_slip.{name}")]
        } else {
            Vec::new()
        }
    };

    // --- income -----------------------------------------------------------
    let payment = input.withholding_slip.as_ref().map_or(0, |s| s.payment_amount);
    let employment_income = rules::employment_income(payment);
    trace.line(
        "employment_income",
        "給与所得の金額",
        slip_field("payment_amount"),
        "NTA Tax Answer No.1410",
        if input.withholding_slip.is_some() {
            employment_note(payment, employment_income)
        } else {
            "no withholding slip, so no salary: 0".into()
        },
    );
    // Salary is the only income, so 合計所得金額 and 総所得金額等 coincide.
    let total_income = employment_income;
    trace.line(
        "total_income",
        "合計所得金額",
        slip_field("payment_amount"),
        "NTA Tax Answer No.1410",
        format!(
            "employment income is the only income: {} (所得金額調整控除 not applied: it needs dependants or pension income)",
            yen(total_income)
        ),
    );

    // --- deductions ---------------------------------------------------------
    // NTA Tax Answer No.1130: social insurance premiums paid count in full.
    let slip_social = input
        .withholding_slip
        .as_ref()
        .map_or(0, |s| s.social_insurance_amount);
    let pension = input.national_pension_certificate.as_ref().map_or(0, |p| p.paid);
    let social_insurance = slip_social + pension;
    let mut sources = slip_field("social_insurance_amount");
    if input.national_pension_certificate.is_some() {
        sources.push("national_pension_certificate.paid".into());
    }
    trace.line(
        "deductions.social_insurance",
        "社会保険料控除",
        sources,
        "NTA Tax Answer No.1130",
        format!(
            "premiums count in full: slip {} + national pension {} = {}",
            yen(slip_social),
            yen(pension),
            yen(social_insurance)
        ),
    );

    // NTA Tax Answer No.1140: premiums of one category and contract kind are
    // summed before the formula is applied.
    let life = &input.life_insurance_certificates;
    let premium = |cat: LifeInsuranceCategory, kind: InsuranceContract| -> u64 {
        life.iter()
            .filter(|c| c.category == cat && c.contract == kind)
            .fold(0u64, |acc, c| acc.saturating_add(c.annual_premium))
    };
    let category_indices = |cat: LifeInsuranceCategory| -> Vec<usize> {
        life.iter()
            .enumerate()
            .filter(|(_, c)| c.category == cat)
            .map(|(i, _)| i)
            .collect()
    };
    let mut by_category = LifeInsuranceByCategory::default();
    for (cat, figure, label) in [
        (
            LifeInsuranceCategory::General,
            "deductions.life_insurance_by_category.general",
            "一般の生命保険料控除",
        ),
        (
            LifeInsuranceCategory::CareMedical,
            "deductions.life_insurance_by_category.care_medical",
            "介護医療保険料控除",
        ),
        (
            LifeInsuranceCategory::IndividualPension,
            "deductions.life_insurance_by_category.individual_pension",
            "個人年金保険料控除",
        ),
    ] {
        let new_p = premium(cat, InsuranceContract::New);
        let old_p = premium(cat, InsuranceContract::Old);
        let amount = rules::life_category(new_p, old_p);
        let new_d = rules::life_new(new_p);
        let old_d = rules::life_old(old_p);
        let note = match (new_p > 0, old_p > 0) {
            (false, false) => "no premiums: 0".to_string(),
            (true, false) => format!(
                "new-contract premiums {} -> {} (formula, fractions rounded up, max 40,000)",
                yen(new_p),
                yen(amount)
            ),
            (false, true) => format!(
                "old-contract premiums {} -> {} (formula, fractions rounded up, max 50,000)",
                yen(old_p),
                yen(amount)
            ),
            (true, true) => format!(
                "new premiums {} -> {}, old premiums {} -> {}; the larger of old alone ({}) and new + old capped at 40,000 ({}) = {}",
                yen(new_p),
                yen(new_d),
                yen(old_p),
                yen(old_d),
                yen(old_d),
                yen((new_d + old_d).min(40_000)),
                yen(amount)
            ),
        };
        match cat {
            LifeInsuranceCategory::General => by_category.general = amount,
            LifeInsuranceCategory::CareMedical => by_category.care_medical = amount,
            LifeInsuranceCategory::IndividualPension => by_category.individual_pension = amount,
        }
        trace.line(
            figure,
            label,
            indexed("life_insurance_certificates", category_indices(cat)),
            "NTA Tax Answer No.1140",
            note,
        );
    }
    let life_sum = by_category.general + by_category.care_medical + by_category.individual_pension;
    let life_insurance = life_sum.min(rules::LIFE_TOTAL_CAP);
    trace.line(
        "deductions.life_insurance",
        "生命保険料控除",
        indexed("life_insurance_certificates", 0..life.len()),
        "NTA Tax Answer No.1140",
        format!(
            "general {} + care/medical {} + individual pension {} = {}, capped at 120,000 = {}",
            yen(by_category.general),
            yen(by_category.care_medical),
            yen(by_category.individual_pension),
            yen(life_sum),
            yen(life_insurance)
        ),
    );

    let quake = &input.earthquake_insurance_certificates;
    let quake_premium = |kind: EarthquakeInsuranceKind| -> u64 {
        quake
            .iter()
            .filter(|c| c.kind == kind)
            .fold(0u64, |acc, c| acc.saturating_add(c.annual_premium))
    };
    let eq_p = quake_premium(EarthquakeInsuranceKind::Earthquake);
    let lt_p = quake_premium(EarthquakeInsuranceKind::OldLongTerm);
    let earthquake_insurance = rules::earthquake(eq_p, lt_p);
    trace.line(
        "deductions.earthquake_insurance",
        "地震保険料控除",
        indexed("earthquake_insurance_certificates", 0..quake.len()),
        "NTA Tax Answer No.1145",
        format!(
            "earthquake premiums {} (in full, max 50,000) + old long-term premiums {} (formula, max 15,000), together capped at 50,000 = {}",
            yen(eq_p),
            yen(lt_p),
            yen(earthquake_insurance)
        ),
    );

    // NTA Tax Answer No.1120 / No.1129: the two are alternatives.
    let notices = &input.medical_expense_notices;
    let self_med_chosen = input.self_medication.as_ref().is_some_and(|s| s.chosen);
    let net_medical = notices.iter().fold(0u64, |acc, n| {
        // A reimbursement offsets only its own expense (No.1120).
        acc.saturating_add(n.paid.saturating_sub(n.reimbursed))
    });
    let threshold = rules::medical_threshold(total_income);
    let (medical_expense, medical_note) = if self_med_chosen {
        (
            0,
            "self-medication deduction chosen instead (No.1129: the two are alternatives): 0".to_string(),
        )
    } else {
        let d = rules::medical_expense(net_medical, total_income);
        (
            d,
            format!(
                "expenses net of their own reimbursements {}; minus min(100,000, 5% of total income {}) = {}; floor 0, max 2,000,000 = {}",
                yen(net_medical),
                yen(total_income),
                yen(threshold),
                yen(d)
            ),
        )
    };
    let mut sources = indexed("medical_expense_notices", 0..notices.len());
    if !notices.is_empty() {
        sources.extend(slip_field("payment_amount"));
    }
    trace.line(
        "deductions.medical_expense",
        "医療費控除",
        sources,
        "NTA Tax Answer No.1120",
        medical_note,
    );
    let otc = input.self_medication.as_ref().map_or(0, |s| s.otc_specified);
    let self_medication = if self_med_chosen {
        rules::self_medication(otc)
    } else {
        0
    };
    trace.line(
        "deductions.self_medication",
        "医療費控除の特例（セルフメディケーション税制）",
        if input.self_medication.is_some() {
            vec!["self_medication".into()]
        } else {
            Vec::new()
        },
        "NTA Tax Answer No.1129",
        if self_med_chosen {
            format!(
                "specified OTC purchases {} - 12,000, floor 0, max 88,000 = {}",
                yen(otc),
                yen(self_medication)
            )
        } else {
            "not chosen: 0 (the medical expense deduction applies instead)".into()
        },
    );

    let donations = &input.donation_certificates;
    let donated = donations.iter().fold(0u64, |acc, d| acc.saturating_add(d.amount));
    let donation = rules::donation(donated, total_income);
    let mut sources = indexed("donation_certificates", 0..donations.len());
    if !donations.is_empty() {
        sources.extend(slip_field("payment_amount"));
    }
    trace.line(
        "deductions.donation",
        "寄附金控除",
        sources,
        "NTA Tax Answer No.1150",
        format!(
            "min(donations {}, 40% of total income = {}) - 2,000, floor 0 = {}",
            yen(donated),
            yen(rules::donation_limit(total_income)),
            yen(donation)
        ),
    );

    let basic = rules::basic_deduction(total_income);
    trace.line(
        "deductions.basic",
        "基礎控除",
        slip_field("payment_amount"),
        "NTA Tax Answer No.1199",
        format!(
            "2025 table (令和7年度 reform) for total income {}: {}",
            yen(total_income),
            yen(basic)
        ),
    );

    let total = social_insurance
        + life_insurance
        + earthquake_insurance
        + medical_expense
        + self_medication
        + donation
        + basic;
    let deductions = Deductions {
        social_insurance,
        life_insurance,
        life_insurance_by_category: by_category,
        earthquake_insurance,
        medical_expense,
        self_medication,
        donation,
        basic,
        total,
    };
    trace.line(
        "deductions.total",
        "所得から差し引かれる金額の合計",
        Vec::new(),
        "NTA Tax Answer No.1100",
        format!(
            "social {} + life {} + earthquake {} + medical {} + self-medication {} + donation {} + basic {} = {}",
            yen(social_insurance),
            yen(life_insurance),
            yen(earthquake_insurance),
            yen(medical_expense),
            yen(self_medication),
            yen(donation),
            yen(basic),
            yen(total)
        ),
    );

    // --- tax ----------------------------------------------------------------
    let taxable_income = rules::taxable_income(total_income, total);
    trace.line(
        "taxable_income",
        "課税される所得金額",
        Vec::new(),
        "NTA Tax Answer No.2260",
        format!(
            "total income {} - deductions {} (floor 0) = {}, rounded down to 1,000 = {}",
            yen(total_income),
            yen(total),
            yen(total_income.saturating_sub(total)),
            yen(taxable_income)
        ),
    );
    let income_tax = rules::income_tax(taxable_income);
    let (rate, minus) = rules::rate_band(taxable_income);
    trace.line(
        "income_tax",
        "課税される所得金額に対する税額",
        Vec::new(),
        "NTA Tax Answer No.2260",
        format!(
            "{} x {rate}% - {} = {}",
            yen(taxable_income),
            yen(minus),
            yen(income_tax)
        ),
    );

    let (housing_loan_credit, housing_rule, housing_note, housing_sources) =
        match &input.housing_loan_certificate {
            Some(h) => {
                let c = rules::housing_loan_credit(h, total_income);
                (
                    c.amount,
                    c.rule,
                    c.note,
                    vec!["housing_loan_certificate".to_string()],
                )
            }
            None => (
                0,
                "NTA Tax Answer No.1211-1",
                "no housing-loan certificate: 0".to_string(),
                Vec::new(),
            ),
        };
    trace.line(
        "housing_loan_credit",
        "住宅借入金等特別控除額",
        housing_sources.clone(),
        housing_rule,
        housing_note,
    );
    let housing_loan_credit_applied = housing_loan_credit.min(income_tax);
    let remainder = housing_loan_credit - housing_loan_credit_applied;
    trace.line(
        "housing_loan_credit_applied",
        "住宅借入金等特別控除（所得税から差し引く額）",
        housing_sources,
        housing_rule,
        if remainder > 0 {
            format!(
                "min(credit {}, income tax {}) = {}; the remaining {} may reduce resident tax (住民税), which is not computed here",
                yen(housing_loan_credit),
                yen(income_tax),
                yen(housing_loan_credit_applied),
                yen(remainder)
            )
        } else {
            format!(
                "min(credit {}, income tax {}) = {}",
                yen(housing_loan_credit),
                yen(income_tax),
                yen(housing_loan_credit_applied)
            )
        },
    );
    let base_income_tax = income_tax - housing_loan_credit_applied;
    trace.line(
        "base_income_tax",
        "基準所得税額",
        Vec::new(),
        "NTA Tax Answer No.2260",
        format!(
            "income tax {} - housing-loan credit {} = {}",
            yen(income_tax),
            yen(housing_loan_credit_applied),
            yen(base_income_tax)
        ),
    );
    let reconstruction_tax = rules::reconstruction_tax(base_income_tax);
    trace.line(
        "reconstruction_tax",
        "復興特別所得税額",
        Vec::new(),
        "NTA Tax Answer No.2260",
        format!(
            "{} x 2.1%, fractions below 1 yen dropped = {}",
            yen(base_income_tax),
            yen(reconstruction_tax)
        ),
    );
    let total_tax = base_income_tax + reconstruction_tax;
    trace.line(
        "total_tax",
        "所得税及び復興特別所得税の額",
        Vec::new(),
        "NTA Tax Answer No.2260",
        format!(
            "{} + {} = {}",
            yen(base_income_tax),
            yen(reconstruction_tax),
            yen(total_tax)
        ),
    );
    let withholding_tax = input.withholding_slip.as_ref().map_or(0, |s| s.withholding_tax);
    trace.line(
        "withholding_tax",
        "源泉徴収税額",
        slip_field("withholding_tax"),
        "給与所得の源泉徴収票 (withholding slip)",
        format!("as printed on the slip: {}", yen(withholding_tax)),
    );
    let tax_due = rules::tax_due(total_tax, withholding_tax);
    trace.line(
        "tax_due",
        if tax_due < 0 {
            "還付される税金"
        } else {
            "申告納税額"
        },
        slip_field("withholding_tax"),
        "国税通則法第119条 (申告納税額 100円未満切捨て)",
        if tax_due < 0 {
            format!(
                "{} - withheld {} = -{}: a refund, paid to the yen",
                yen(total_tax),
                yen(withholding_tax),
                yen(tax_due.unsigned_abs())
            )
        } else {
            format!(
                "{} - withheld {}, rounded down to 100 yen = {}",
                yen(total_tax),
                yen(withholding_tax),
                yen(tax_due.unsigned_abs())
            )
        },
    );

    Ok(TaxDraft {
        tax_year: TAX_YEAR,
        employment_income,
        total_income,
        deductions,
        taxable_income,
        income_tax,
        housing_loan_credit,
        housing_loan_credit_applied,
        base_income_tax,
        reconstruction_tax,
        total_tax,
        withholding_tax,
        tax_due,
        trace: trace.0,
    })
}
