use std::fmt;

use zeroize::Zeroize;

use crate::check_digit::{mod11_check, mod11_residue};
use crate::{IdError, digits, digits_to_string};

const KIND: &str = "My Number";

/// A My Number (個人番号): 11 base digits and a check digit.
///
/// It may exist only in the registry, in an institution's own business data
/// and in the institution → registry call at code issuance. To make leaks
/// hard, it has no `Display`, its `Debug` is redacted and it does not
/// implement `Serialize`: the few places that must send it call
/// [`MyNumber::expose`] explicitly.
///
/// # What the check digit cannot catch
///
/// The formula maps both residues r = 0 and r = 1 to check digit 0. So a
/// single mistyped base digit, or a swap of two adjacent base digits, goes
/// undetected exactly when it moves the residue between 0 and 1 (the weights
/// 2..7 are all invertible mod 11, so every other such error changes the
/// check digit). A swap of the last base digit with the check digit itself
/// is outside the formula's weights and goes undetected when the swapped-in
/// check digit happens to be right for the swapped base. The property tests
/// in this module enumerate both classes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MyNumber([u8; 12]);

impl MyNumber {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let d = digits::<12>(KIND, s)?;
        if mod11_check(&d[..11]) != d[11] {
            return Err(IdError::CheckDigit { kind: KIND });
        }
        Ok(Self(d))
    }

    /// Complete 11 base digits with their check digit.
    pub fn from_base(base: [u8; 11]) -> Result<Self, IdError> {
        if base.iter().any(|&d| d > 9) {
            return Err(IdError::Malformed {
                kind: KIND,
                reason: "a base digit is greater than 9",
            });
        }
        let mut d = [0u8; 12];
        d[..11].copy_from_slice(&base);
        d[11] = mod11_check(&base);
        Ok(Self(d))
    }

    /// A fresh random number, as the registry issues them.
    pub fn random() -> Self {
        let bytes = crate::random_bytes::<11>();
        let mut base = [0u8; 11];
        for (b, r) in base.iter_mut().zip(bytes) {
            *b = r % 10;
        }
        Self::from_base(base).expect("digits are below 10")
    }

    /// The twelve digits. Call only where the number may legally go.
    pub fn expose(&self) -> String {
        digits_to_string(&self.0)
    }

    /// Residue r of the base digits; exposed for the property tests.
    #[doc(hidden)]
    pub fn residue_of_base(base: &[u8]) -> u32 {
        mod11_residue(base)
    }
}

impl fmt::Debug for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MyNumber(<redacted>)")
    }
}

impl Drop for MyNumber {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn design_example_is_valid() {
        let n = MyNumber::parse("983205673214").unwrap();
        assert_eq!(n.expose(), "983205673214");
    }

    #[test]
    fn errors_name_the_fault_without_echoing_the_number() {
        let e = MyNumber::parse("98320567321").unwrap_err();
        assert_eq!(
            e,
            IdError::Length {
                kind: KIND,
                expected: 12,
                actual: 11
            }
        );
        let e = MyNumber::parse("98320567321x").unwrap_err();
        assert_eq!(
            e,
            IdError::NotADigit {
                kind: KIND,
                position: 12
            }
        );
        let e = MyNumber::parse("983205673215").unwrap_err();
        assert_eq!(e, IdError::CheckDigit { kind: KIND });
        assert!(!e.to_string().contains("98320567321"));
        assert_eq!(
            format!("{:?}", MyNumber::parse("983205673214").unwrap()),
            "MyNumber(<redacted>)"
        );
    }

    #[test]
    fn full_width_digits_are_rejected() {
        assert!(matches!(
            MyNumber::parse("９８３２０５６７３２１４"),
            Err(IdError::Length { .. }) | Err(IdError::NotADigit { .. })
        ));
    }

    fn base_digits() -> impl Strategy<Value = [u8; 11]> {
        proptest::array::uniform11(0u8..10)
    }

    fn parse_digits(d: &[u8; 12]) -> Result<MyNumber, IdError> {
        MyNumber::parse(&digits_to_string(d))
    }

    proptest! {
        #[test]
        fn generated_numbers_round_trip(base in base_digits()) {
            let n = MyNumber::from_base(base).unwrap();
            prop_assert_eq!(MyNumber::parse(&n.expose()).unwrap(), n);
        }

        /// Every single-digit change is caught, except the documented class:
        /// a base-digit change that moves the residue between 0 and 1.
        #[test]
        fn single_digit_changes(base in base_digits()) {
            let valid = MyNumber::from_base(base).unwrap();
            for pos in 0..12 {
                for v in 0..10u8 {
                    if v == valid.0[pos] { continue; }
                    let mut altered = valid.0;
                    altered[pos] = v;
                    if parse_digits(&altered).is_ok() {
                        prop_assert!(pos < 11, "a changed check digit must always be caught");
                        let r0 = MyNumber::residue_of_base(&valid.0[..11]);
                        let r1 = MyNumber::residue_of_base(&altered[..11]);
                        prop_assert!(r0 <= 1 && r1 <= 1 && r0 != r1,
                            "undetected change outside the documented class: r {r0} -> {r1}");
                    }
                }
            }
        }

        /// Every adjacent swap is caught, except the documented classes.
        #[test]
        fn adjacent_swaps(base in base_digits()) {
            let valid = MyNumber::from_base(base).unwrap();
            for pos in 0..11 {
                if valid.0[pos] == valid.0[pos + 1] { continue; }
                let mut altered = valid.0;
                altered.swap(pos, pos + 1);
                if parse_digits(&altered).is_ok() {
                    if pos + 1 == 11 {
                        // Swap across the check digit: undetected exactly when
                        // the swapped-in digit is the check of the swapped base.
                        prop_assert_eq!(mod11_check(&altered[..11]), altered[11]);
                    } else {
                        let r0 = MyNumber::residue_of_base(&valid.0[..11]);
                        let r1 = MyNumber::residue_of_base(&altered[..11]);
                        prop_assert!(r0 <= 1 && r1 <= 1 && r0 != r1,
                            "undetected swap outside the documented class: r {r0} -> {r1}");
                    }
                }
            }
        }
    }

    /// The documented undetectable classes are real (so the doc is not vacuous).
    #[test]
    fn undetectable_class_exists() {
        // Find a base with residue 0 and a single change giving residue 1.
        let mut found = false;
        'outer: for seed in 0u64..10_000 {
            let mut base = [0u8; 11];
            let mut x = seed;
            for b in base.iter_mut() {
                *b = (x % 10) as u8;
                x /= 10;
            }
            if mod11_residue(&base) != 0 {
                continue;
            }
            for pos in 0..11 {
                for v in 0..10u8 {
                    let mut alt = base;
                    alt[pos] = v;
                    if mod11_residue(&alt) == 1 {
                        let a = MyNumber::from_base(base).unwrap();
                        let mut altered = a.0;
                        altered[pos] = v;
                        assert!(parse_digits(&altered).is_ok());
                        found = true;
                        break 'outer;
                    }
                }
            }
        }
        assert!(found);
    }
}
