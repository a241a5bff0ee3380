//! What the resident register does not record but the country's
//! institutions know: who works, owns a car, has registered a bank account,
//! is known to the tax agency, holds a disability certificate or receives
//! public assistance, and the income a municipality assessed.
//!
//! Everything is drawn from the caller's seeded generator, in a fixed order,
//! so one seed gives one country.

use time::Date;

/// Age in whole years on `today`; someone born on 29 February turns a year
/// older on 1 March in a common year.
pub fn age_on(birth: Date, today: Date) -> i32 {
    let mut a = today.year() - birth.year();
    if (u8::from(today.month()), today.day()) < (u8::from(birth.month()), birth.day()) {
        a -= 1;
    }
    a
}

/// A person's circumstances beyond the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Circumstances {
    /// Works for an employer: about 55% of those aged 20 to 64.
    pub employed: bool,
    /// Owns a car: about 30% of those aged 18 or more.
    pub car: bool,
    /// Has registered a public-fund bank account: about 60% of those aged
    /// 18 or more.
    pub account: bool,
    /// Known to the national tax agency: about 20% of those aged 20 to 74.
    pub taxpayer: bool,
    /// Holds a disability certificate: about 3%.
    pub disability: bool,
    /// Receives public assistance: about 1.5%.
    pub assistance: bool,
}

impl Circumstances {
    /// Draws the circumstances of someone aged `age`. Draws only what the
    /// age allows (no draw for a child's employment), in field order.
    pub fn draw(rng: &mut fastrand::Rng, age: i32) -> Self {
        Self {
            employed: (20..65).contains(&age) && rng.u8(..100) < 55,
            car: age >= 18 && rng.u8(..100) < 30,
            account: age >= 18 && rng.u8(..100) < 60,
            taxpayer: (20..75).contains(&age) && rng.u8(..100) < 20,
            disability: rng.u8(..100) < 3,
            assistance: rng.u16(..1000) < 15,
        }
    }
}

/// How the assessed income was earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomeKind {
    /// 給与: employment income.
    Salary,
    /// 公的年金等: public pensions.
    PublicPension,
    /// なし: no income.
    NoIncome,
}

impl IncomeKind {
    /// The kind as an assessment names it: `給与`, `公的年金等` or `なし`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Salary => "給与",
            Self::PublicPension => "公的年金等",
            Self::NoIncome => "なし",
        }
    }
}

/// The basic deduction (基礎控除) of the resident tax, in yen.
pub const BASIC_DEDUCTION: i64 = 430_000;

/// A municipality's resident-tax assessment of one person for one fiscal
/// year, in yen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentTax {
    pub taxable_income: i64,
    pub income_kind: IncomeKind,
    /// 6% of the income above the basic deduction.
    pub municipal_tax: i64,
    /// 4% of the income above the basic deduction.
    pub prefectural_tax: i64,
    /// Nothing above the basic deduction.
    pub tax_exempt: bool,
}

impl ResidentTax {
    /// Draws the income of someone aged `age` and assesses it: a salary of
    /// ¥2M to ¥9M if `employed`, else public pensions of ¥0.6M to ¥2.4M
    /// from 65, else nothing (no draw).
    pub fn draw(rng: &mut fastrand::Rng, employed: bool, age: i32) -> Self {
        let (taxable_income, income_kind) = if employed {
            (rng.i64(2_000..9_000) * 1000, IncomeKind::Salary)
        } else if age >= 65 {
            (rng.i64(600..2_400) * 1000, IncomeKind::PublicPension)
        } else {
            (0, IncomeKind::NoIncome)
        };
        Self::assess(taxable_income, income_kind)
    }

    /// The tax on `taxable_income`.
    pub fn assess(taxable_income: i64, income_kind: IncomeKind) -> Self {
        let base = (taxable_income - BASIC_DEDUCTION).max(0);
        Self {
            taxable_income,
            income_kind,
            municipal_tax: base * 6 / 100,
            prefectural_tax: base * 4 / 100,
            tax_exempt: base == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn age_counts_whole_years_and_leap_birthdays_from_march() {
        let born = date!(2000 - 02 - 29);
        assert_eq!(age_on(born, date!(2025 - 02 - 28)), 24);
        assert_eq!(age_on(born, date!(2025 - 03 - 01)), 25);
        assert_eq!(age_on(born, date!(2024 - 02 - 29)), 24);
        assert_eq!(age_on(date!(1990 - 06 - 02), date!(2025 - 06 - 01)), 34);
        assert_eq!(age_on(date!(1990 - 06 - 01), date!(2025 - 06 - 01)), 35);
    }

    #[test]
    fn circumstances_fit_the_age() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut employed = 0;
        for _ in 0..10_000 {
            let child = Circumstances::draw(&mut rng, 12);
            assert!(!child.employed && !child.car && !child.account && !child.taxpayer);
            let retired = Circumstances::draw(&mut rng, 80);
            assert!(!retired.employed && !retired.taxpayer);
            employed += u32::from(Circumstances::draw(&mut rng, 40).employed);
        }
        assert!(
            (5_000..6_000).contains(&employed),
            "{employed} of 10,000 employed"
        );
    }

    #[test]
    fn a_child_draws_nothing_for_what_its_age_rules_out() {
        // Only the disability and assistance draws happen for a child.
        let mut a = fastrand::Rng::with_seed(5);
        let mut b = fastrand::Rng::with_seed(5);
        Circumstances::draw(&mut a, 10);
        b.u8(..100);
        b.u16(..1000);
        assert_eq!(a.u64(..), b.u64(..));
    }

    #[test]
    fn resident_tax_is_ten_percent_above_the_basic_deduction() {
        let t = ResidentTax::assess(5_430_000, IncomeKind::Salary);
        assert_eq!(
            (t.municipal_tax, t.prefectural_tax, t.tax_exempt),
            (300_000, 200_000, false)
        );
        let t = ResidentTax::assess(430_000, IncomeKind::PublicPension);
        assert_eq!((t.municipal_tax, t.prefectural_tax, t.tax_exempt), (0, 0, true));
        let mut rng = fastrand::Rng::with_seed(8);
        for _ in 0..1000 {
            let salary = ResidentTax::draw(&mut rng, true, 30);
            assert_eq!(salary.income_kind, IncomeKind::Salary);
            assert!((2_000_000..9_000_000).contains(&salary.taxable_income));
            let pension = ResidentTax::draw(&mut rng, false, 70);
            assert_eq!(pension.income_kind, IncomeKind::PublicPension);
            assert!((600_000..2_400_000).contains(&pension.taxable_income));
            let none = ResidentTax::draw(&mut rng, false, 40);
            assert_eq!((none.income_kind, none.taxable_income), (IncomeKind::NoIncome, 0));
            assert!(none.tax_exempt);
        }
        assert_eq!(IncomeKind::PublicPension.label(), "公的年金等");
    }
}
