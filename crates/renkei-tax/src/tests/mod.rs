#![allow(clippy::unwrap_used)]

mod props;
mod rules;
mod scenarios;
mod validation;

use crate::{TaxInput, WithholdingSlip};

/// An input holding only a withholding slip.
fn salary(payment: u64, social: u64, withheld: u64) -> TaxInput {
    TaxInput {
        withholding_slip: Some(WithholdingSlip {
            payment_amount: payment,
            social_insurance_amount: social,
            withholding_tax: withheld,
        }),
        ..TaxInput::default()
    }
}
