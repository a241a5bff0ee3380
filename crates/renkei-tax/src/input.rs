//! The documents a salaried resident brings to the return, field for field.
//!
//! The serde shape is the JSON the CLI and the portal accept; unknown fields
//! are refused so a misspelt key is an error, not a silently missing document.

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::rules::{MAX_YEN, TAX_YEAR};

/// Everything the draft is computed from. Every field may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxInput {
    /// 給与所得の源泉徴収票. Without it there is no salary.
    #[serde(default)]
    pub withholding_slip: Option<WithholdingSlip>,
    /// 生命保険料控除証明書, one per certificate.
    #[serde(default)]
    pub life_insurance_certificates: Vec<LifeInsuranceCertificate>,
    /// 地震保険料控除証明書, one per certificate.
    #[serde(default)]
    pub earthquake_insurance_certificates: Vec<EarthquakeInsuranceCertificate>,
    /// 医療費通知 and receipts, one per expense.
    #[serde(default)]
    pub medical_expense_notices: Vec<MedicalExpenseNotice>,
    /// Purchases of specified OTC medicines (セルフメディケーション税制).
    #[serde(default)]
    pub self_medication: Option<SelfMedication>,
    /// 社会保険料（国民年金保険料）控除証明書.
    #[serde(default)]
    pub national_pension_certificate: Option<NationalPensionCertificate>,
    /// 寄附金の受領証明書 (including ふるさと納税).
    #[serde(default)]
    pub donation_certificates: Vec<DonationCertificate>,
    /// 住宅借入金等特別控除証明書 / 年末残高等証明書.
    #[serde(default)]
    pub housing_loan_certificate: Option<HousingLoanCertificate>,
}

/// 給与所得の源泉徴収票.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithholdingSlip {
    /// 支払金額.
    pub payment_amount: u64,
    /// 社会保険料等の金額.
    pub social_insurance_amount: u64,
    /// 源泉徴収税額.
    pub withholding_tax: u64,
}

/// Which of the three life-insurance deductions a premium counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifeInsuranceCategory {
    /// 一般の生命保険料.
    General,
    /// 介護医療保険料 (only contracts from 2012 on exist).
    CareMedical,
    /// 個人年金保険料.
    IndividualPension,
}

/// Contracts concluded from 2012-01-01 on are "new" (新契約), earlier ones "old".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceContract {
    /// 新契約 (2012-01-01 and later).
    New,
    /// 旧契約 (2011-12-31 and earlier).
    Old,
}

/// 生命保険料控除証明書.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifeInsuranceCertificate {
    /// Deduction category.
    pub category: LifeInsuranceCategory,
    /// New or old contract.
    pub contract: InsuranceContract,
    /// Premium paid in the year (after dividends).
    pub annual_premium: u64,
}

/// 地震保険料 or 旧長期損害保険料.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EarthquakeInsuranceKind {
    /// 地震保険料.
    Earthquake,
    /// 旧長期損害保険料 (long-term contracts from before 2007).
    OldLongTerm,
}

/// 地震保険料控除証明書.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarthquakeInsuranceCertificate {
    /// Which premium the certificate shows.
    #[serde(rename = "type")]
    pub kind: EarthquakeInsuranceKind,
    /// Premium paid in the year.
    pub annual_premium: u64,
}

/// One medical expense and what insurance paid back for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedicalExpenseNotice {
    /// Amount paid.
    pub paid: u64,
    /// Amount reimbursed for this expense (保険金などで補塡される金額).
    pub reimbursed: u64,
}

/// The self-medication deduction (医療費控除の特例).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfMedication {
    /// Whether the taxpayer chooses it instead of the medical expense deduction.
    pub chosen: bool,
    /// 特定一般用医薬品等購入費, net of reimbursements.
    pub otc_specified: u64,
}

/// 社会保険料（国民年金保険料）控除証明書.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NationalPensionCertificate {
    /// Contributions paid in the year.
    pub paid: u64,
}

/// 寄附金の受領証明書 for a 特定寄附金.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DonationCertificate {
    /// Amount donated in the year.
    pub amount: u64,
}

/// Newly built (or bought unused) versus previously lived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HousingAcquisition {
    /// 新築住宅 / 買取再販住宅.
    New,
    /// 中古住宅.
    Used,
}

/// Energy / quality certification of the home.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HousingPerformance {
    /// 認定住宅 (認定長期優良住宅・認定低炭素住宅).
    Certified,
    /// ZEH水準省エネ住宅.
    Zeh,
    /// 省エネ基準適合住宅.
    EnergySaving,
    /// その他の住宅.
    Other,
}

/// 住宅借入金等特別控除証明書 together with the 年末残高等証明書.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousingLoanCertificate {
    /// 住宅借入金等の年末残高.
    pub year_end_balance: u64,
    /// 住宅の取得対価の額, when known; the balance counts only up to it.
    #[serde(default)]
    pub acquisition_cost: Option<u64>,
    /// 居住開始年.
    pub move_in_year: u16,
    /// New or used home.
    pub acquisition: HousingAcquisition,
    /// Certification of the home.
    pub performance: HousingPerformance,
    /// 子育て特例対象個人 (a child under 19, or either spouse under 40).
    pub child_or_young_couple: bool,
}

fn amount(field: impl FnOnce() -> String, value: u64) -> Result<(), InputError> {
    if value > MAX_YEN {
        return Err(InputError::new(
            field(),
            format!("{value} exceeds the limit of {MAX_YEN} yen"),
        ));
    }
    Ok(())
}

impl TaxInput {
    /// Refuses input no real document could carry. Every amount is bounded by
    /// [`MAX_YEN`], so no later sum or product can overflow.
    pub fn validate(&self) -> Result<(), InputError> {
        if let Some(slip) = &self.withholding_slip {
            amount(|| "withholding_slip.payment_amount".into(), slip.payment_amount)?;
            amount(
                || "withholding_slip.social_insurance_amount".into(),
                slip.social_insurance_amount,
            )?;
            amount(|| "withholding_slip.withholding_tax".into(), slip.withholding_tax)?;
            if slip.social_insurance_amount > slip.payment_amount {
                return Err(InputError::new(
                    "withholding_slip.social_insurance_amount",
                    "exceeds payment_amount",
                ));
            }
            if slip.withholding_tax > slip.payment_amount {
                return Err(InputError::new(
                    "withholding_slip.withholding_tax",
                    "exceeds payment_amount",
                ));
            }
        }
        for (i, c) in self.life_insurance_certificates.iter().enumerate() {
            amount(
                || format!("life_insurance_certificates[{i}].annual_premium"),
                c.annual_premium,
            )?;
            // NTA Tax Answer No.1140: 介護医療保険料控除 exists only for new contracts.
            if c.category == LifeInsuranceCategory::CareMedical && c.contract == InsuranceContract::Old {
                return Err(InputError::new(
                    format!("life_insurance_certificates[{i}].contract"),
                    "care_medical premiums exist only under new contracts (from 2012)",
                ));
            }
        }
        for (i, c) in self.earthquake_insurance_certificates.iter().enumerate() {
            amount(
                || format!("earthquake_insurance_certificates[{i}].annual_premium"),
                c.annual_premium,
            )?;
        }
        // A reimbursement larger than its expense is legitimate (No.1120: the
        // excess is simply not set against other expenses), so it is not refused.
        for (i, n) in self.medical_expense_notices.iter().enumerate() {
            amount(|| format!("medical_expense_notices[{i}].paid"), n.paid)?;
            amount(
                || format!("medical_expense_notices[{i}].reimbursed"),
                n.reimbursed,
            )?;
        }
        if let Some(s) = &self.self_medication {
            amount(|| "self_medication.otc_specified".into(), s.otc_specified)?;
        }
        if let Some(p) = &self.national_pension_certificate {
            amount(|| "national_pension_certificate.paid".into(), p.paid)?;
        }
        for (i, d) in self.donation_certificates.iter().enumerate() {
            amount(|| format!("donation_certificates[{i}].amount"), d.amount)?;
        }
        if let Some(h) = &self.housing_loan_certificate {
            amount(
                || "housing_loan_certificate.year_end_balance".into(),
                h.year_end_balance,
            )?;
            if let Some(cost) = h.acquisition_cost {
                amount(|| "housing_loan_certificate.acquisition_cost".into(), cost)?;
            }
            if h.move_in_year > TAX_YEAR {
                return Err(InputError::new(
                    "housing_loan_certificate.move_in_year",
                    format!("{} is after the tax year {TAX_YEAR}", h.move_in_year),
                ));
            }
        }
        Ok(())
    }
}
