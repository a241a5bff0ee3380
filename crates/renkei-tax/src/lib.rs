//! Draft of the Japanese income tax return for tax year 2025 (令和7年分).
//!
//! The crate is pure: it takes the figures printed on the documents a
//! salaried resident holds (源泉徴収票, insurance certificates, medical expense
//! notices, donation receipts, the housing-loan certificate) as a [`TaxInput`]
//! and computes every line of the return up to the tax due or the refund, as a
//! [`TaxDraft`]. It does no I/O and parses nothing itself.
//!
//! What it computes: employment income with the 2025 employment-income
//! deduction (給与所得控除, minimum 650,000 yen) and the 2025 basic deduction
//! (基礎控除, up to 950,000 yen) of the 令和7年度 reform; the social insurance,
//! life insurance, earthquake insurance, medical expense (or self-medication),
//! donation and basic deductions; the income tax, the housing-loan credit, the
//! reconstruction surtax, and the balance against the tax withheld.
//!
//! What it leaves out: the income-amount adjustment deduction
//! (所得金額調整控除, which needs dependants or pension income), dependants,
//! spouse and every other personal deduction, income other than salary, and
//! resident tax (住民税) — including the part of the housing-loan credit that
//! spills over to it.
//!
//! All amounts are whole yen held in integers; every percentage is integer
//! arithmetic with the rounding the NTA prescribes. Every rule cites its NTA
//! source (the タックスアンサー number) in a comment and in the draft's
//! [`TraceLine`]s, so that each figure can be shown with the documents it
//! came from.

mod draft;
mod error;
mod input;
mod rules;

pub use draft::{Deductions, LifeInsuranceByCategory, TaxDraft, TraceLine, draft};
pub use error::InputError;
pub use input::{
    DonationCertificate, EarthquakeInsuranceCertificate, EarthquakeInsuranceKind, HousingAcquisition,
    HousingLoanCertificate, HousingPerformance, InsuranceContract, LifeInsuranceCategory,
    LifeInsuranceCertificate, MedicalExpenseNotice, NationalPensionCertificate, SelfMedication, TaxInput,
    WithholdingSlip,
};
pub use rules::{MAX_YEN, TAX_YEAR};

#[cfg(test)]
mod tests;
