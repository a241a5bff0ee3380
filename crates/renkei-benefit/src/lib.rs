//! Benefit programmes as rules as code, as pure logic.
//!
//! A programme ([`Programme`]) is a versioned TOML file: its legal basis
//! and office work, the items it needs and where in each item's document
//! the value is ([`Input`]), parameters with the dates they hold from, an
//! eligibility rule and an amount formula in a small typed language
//! ([`lang`]), whether the person applies or is paid unless they decline,
//! and its own test cases ([`Programme::run_tests`]), which
//! `renkei benefit test FILE` runs. [`Programme::evaluate`] gives an
//! [`Evaluation`] holding every input and parameter it used, so that a
//! decision can be explained and replayed. [`zengin`] writes and reads
//! the bank transfer file a payout is paid with; [`payout`] sorts approved
//! payments into those files. No I/O.

pub mod lang;
pub mod payout;
mod programme;
pub mod zengin;

pub use programme::{
    Application, Evaluation, EvaluationError, Input, Parameter, Payee, Programme, ProgrammeError, TODAY,
    TestCase, TestOutcome,
};

/// The programmes shipped with renkei (`programmes/*.toml`), by file name.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "household_tax_exempt_payment.toml",
        include_str!("../programmes/household_tax_exempt_payment.toml"),
    ),
    (
        "child_allowance.toml",
        include_str!("../programmes/child_allowance.toml"),
    ),
    (
        "income_drop_emergency_payment.toml",
        include_str!("../programmes/income_drop_emergency_payment.toml"),
    ),
    (
        "birth_support_payment.toml",
        include_str!("../programmes/birth_support_payment.toml"),
    ),
];
