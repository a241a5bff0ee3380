//! The public-fund receiving account (公金受取口座): one account in the
//! person's own name. The 2023 errors registered family members' accounts;
//! here the holder's kana must equal the person's registered reading, after
//! only the normalisations a bank's kana form allows (hiragana, half-width
//! katakana, spacing) — never a fuzzy match.

use std::fmt;

/// Banks the sample knows (code → name). A real deployment loads the
/// Zengin bank master; an unknown code is refused with its own message.
const BANKS: &[(&str, &str)] = &[
    ("0001", "みずほ銀行"),
    ("0005", "三菱ＵＦＪ銀行"),
    ("0009", "三井住友銀行"),
    ("0010", "りそな銀行"),
    ("0033", "PayPay銀行"),
    ("0036", "楽天銀行"),
    ("0310", "GMOあおぞらネット銀行"),
    ("9900", "ゆうちょ銀行"),
];

pub fn bank_name(code: &str) -> Option<&'static str> {
    BANKS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// 普通
    Ordinary,
    /// 当座
    Current,
    /// 貯蓄
    Savings,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordinary => "ordinary",
            Self::Current => "current",
            Self::Savings => "savings",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Ordinary => "普通",
            Self::Current => "当座",
            Self::Savings => "貯蓄",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ordinary" | "普通" => Some(Self::Ordinary),
            "current" | "当座" => Some(Self::Current),
            "savings" | "貯蓄" => Some(Self::Savings),
            _ => None,
        }
    }
}

/// An account as registered.
#[derive(Clone, PartialEq, Eq)]
pub struct FundAccount {
    pub bank_code: String,
    pub branch_code: String,
    pub kind: AccountKind,
    pub number: String,
    /// Normalised katakana.
    pub holder_kana: String,
}

impl fmt::Debug for FundAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FundAccount({} {} ****{})",
            self.bank_code,
            self.branch_code,
            self.last4()
        )
    }
}

/// One field that is wrong, by the form's field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountError {
    pub field: &'static str,
    pub problem: &'static str,
}

/// The holder's kana is not the registered reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the account holder's kana ({entered}) does not match the registered reading ({registered})")]
pub struct KanaMismatch {
    pub entered: String,
    pub registered: String,
}

fn digits(s: &str, n: usize) -> Option<String> {
    let s: String = s
        .trim()
        .chars()
        .map(|c| match c {
            // Full-width digits as typed on a Japanese keyboard.
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            c => c,
        })
        .collect();
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

impl FundAccount {
    /// Validate every field; all problems at once, by field.
    pub fn parse(
        bank_code: &str,
        branch_code: &str,
        kind: &str,
        number: &str,
        holder_kana: &str,
    ) -> Result<Self, Vec<AccountError>> {
        let mut errors = Vec::new();
        let mut err = |field, problem| errors.push(AccountError { field, problem });
        let bank = digits(bank_code, 4);
        match &bank {
            None => err("bank_code", "four_digits"),
            Some(b) if bank_name(b).is_none() => err("bank_code", "unknown_bank"),
            _ => {}
        }
        let branch = digits(branch_code, 3);
        if branch.is_none() {
            err("branch_code", "three_digits");
        }
        let kind = AccountKind::parse(kind);
        if kind.is_none() {
            err("kind", "unknown_kind");
        }
        let number = digits(number, 7);
        if number.is_none() {
            err("number", "seven_digits");
        }
        let kana = normalize_kana(holder_kana);
        if kana.is_empty()
            || !kana
                .chars()
                .all(|c| c == '　' || ('\u{30A1}'..='\u{30FC}').contains(&c))
        {
            err("holder_kana", "katakana");
        }
        match (bank, branch, kind, number) {
            (Some(bank_code), Some(branch_code), Some(kind), Some(number)) if errors.is_empty() => Ok(Self {
                bank_code,
                branch_code,
                kind,
                number,
                holder_kana: kana,
            }),
            _ => Err(errors),
        }
    }

    pub fn bank_name(&self) -> &'static str {
        bank_name(&self.bank_code).unwrap_or("")
    }

    pub fn last4(&self) -> &str {
        &self.number[self.number.len().saturating_sub(4)..]
    }

    /// The holder must be the person: the same reading as registered.
    pub fn check_holder(&self, registered_kana: &str) -> Result<(), KanaMismatch> {
        let registered = normalize_kana(registered_kana);
        if self.holder_kana == registered {
            Ok(())
        } else {
            Err(KanaMismatch {
                entered: self.holder_kana.clone(),
                registered,
            })
        }
    }
}

/// Half-width katakana and their full-width forms (without voicing).
const HALF: &str = "ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ";
const FULL: &str = "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";

/// Katakana as a bank form takes it: hiragana and half-width katakana
/// become full-width katakana (voicing marks combined), blanks of any
/// width and number become one full-width space, ends are trimmed.
/// Nothing else changes: ヅ is not ズ, ヲ is not オ.
pub fn normalize_kana(s: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    let mut blank = false;
    for c in s.trim_matches(|c: char| c.is_whitespace() || c == '　').chars() {
        if c.is_whitespace() || c == '　' {
            blank = true;
            continue;
        }
        if blank {
            out.push('　');
            blank = false;
        }
        let c = match c {
            // Hiragana to katakana.
            'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            'ﾞ' | 'ﾟ' => {
                // Combine with the previous full-width kana.
                if let Some(prev) = out.pop() {
                    out.push(voiced(prev, c == 'ﾟ').unwrap_or(prev));
                }
                continue;
            }
            c => HALF
                .chars()
                .position(|h| h == c)
                .and_then(|i| FULL.chars().nth(i))
                .unwrap_or(c),
        };
        out.push(c);
    }
    out.into_iter().collect()
}

fn voiced(base: char, semi: bool) -> Option<char> {
    let b = base as u32;
    if base == 'ウ' && !semi {
        return Some('ヴ');
    }
    let k_to_d = ('カ' as u32..='ド' as u32).contains(&b);
    let h_row = ('ハ' as u32..='ホ' as u32).contains(&b) && (b - 'ハ' as u32).is_multiple_of(3);
    if semi {
        return h_row.then(|| char::from_u32(b + 2)).flatten();
    }
    // In the カ..ド range the voiced form follows its base directly (カガ,
    // キギ, ... ツヅ, テデ, トド), except the small ッ.
    if k_to_d && base != 'ッ' {
        let v = char::from_u32(b + 1)?;
        return (v != 'ッ').then_some(v);
    }
    h_row.then(|| char::from_u32(b + 1)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_is_normalised_only_as_a_bank_form_allows() {
        assert_eq!(normalize_kana("さとう はなこ"), "サトウ　ハナコ");
        assert_eq!(normalize_kana("  ｻﾄｳ   ﾊﾅｺ "), "サトウ　ハナコ");
        assert_eq!(normalize_kana("ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ ﾊﾞ ｳﾞ ﾂﾞ"), "ガギグ　パピ　バ　ヴ　ヅ");
        assert_eq!(normalize_kana("ヤマダ　タロウ"), "ヤマダ　タロウ");
        assert_ne!(normalize_kana("スズキ"), normalize_kana("スヅキ"));
    }

    #[test]
    fn accounts_are_validated_field_by_field_and_the_holder_must_be_the_person() {
        let a = FundAccount::parse("0005", "１２３", "普通", "1234567", "さとう　はなこ").unwrap();
        assert_eq!(a.branch_code, "123");
        assert_eq!(a.bank_name(), "三菱ＵＦＪ銀行");
        assert_eq!(a.last4(), "4567");
        a.check_holder("サトウ　ハナコ").unwrap();
        // A family member's account: a clear mismatch naming both readings.
        let family = FundAccount::parse("0005", "123", "ordinary", "1234567", "サトウ　タロウ").unwrap();
        let e = family.check_holder("サトウ　ハナコ").unwrap_err();
        assert_eq!(e.registered, "サトウ　ハナコ");
        assert_eq!(e.entered, "サトウ　タロウ");
        let errs = FundAccount::parse("12", "12a", "checking", "123", "Sato").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| (e.field, e.problem)).collect();
        assert_eq!(
            fields,
            [
                ("bank_code", "four_digits"),
                ("branch_code", "three_digits"),
                ("kind", "unknown_kind"),
                ("number", "seven_digits"),
                ("holder_kana", "katakana")
            ]
        );
        let unknown = FundAccount::parse("4321", "123", "ordinary", "1234567", "サトウ").unwrap_err();
        assert_eq!(unknown[0].problem, "unknown_bank");
        assert!(!format!("{a:?}").contains("1234567"));
    }
}
