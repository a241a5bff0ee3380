//! The check-digit formulas of My Numbers and corporate numbers.

/// My Number / resident record code check digit over the base digits
/// (most significant first). Pn is the n-th digit from the right,
/// Qn = n + 1 for n ≤ 6 and n − 5 for n ≥ 7; r = Σ Pn·Qn mod 11;
/// the check digit is 0 when r ≤ 1, otherwise 11 − r.
pub(crate) fn mod11_residue(base: &[u8]) -> u32 {
    let sum: u32 = base
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &p)| {
            let n = i as u32 + 1;
            let q = if n <= 6 { n + 1 } else { n - 5 };
            u32::from(p) * q
        })
        .sum();
    sum % 11
}

pub(crate) fn mod11_check(base: &[u8]) -> u8 {
    let r = mod11_residue(base);
    if r <= 1 { 0 } else { (11 - r) as u8 }
}

/// Corporate number check digit: 9 − (Σ Pn·Qn mod 9) over the 12 base
/// digits, Pn the n-th from the right, Qn = 1 for odd n and 2 for even n.
pub(crate) fn corporate_check(base: &[u8]) -> u8 {
    let sum: u32 = base
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &p)| {
            let q = if (i + 1) % 2 == 1 { 1 } else { 2 };
            u32::from(p) * q
        })
        .sum();
    (9 - sum % 9) as u8
}

/// Luhn check digit for the acquisition number (catches every single-digit
/// error and most transpositions, and is what people know from card numbers).
pub(crate) fn luhn_check(base: &[u8]) -> u8 {
    let sum: u32 = base
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}
