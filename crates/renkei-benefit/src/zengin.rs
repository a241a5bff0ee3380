//! The 全銀協 general transfer file (総合振込): how a benefit office hands
//! its bank a batch of payments. Fixed records of 120 bytes, each ended by
//! CR LF: a header (データ区分 1), one data record per transfer (2), a
//! trailer with the count and the total (8) and an end record (9). Text is
//! JIS X 0201 in Shift_JIS: digits, upper-case Latin letters, a few
//! symbols and half-width katakana (names are written in half-width kana
//! from the account holder's reading, small kana as large ones).
//!
//! [`TransferFile::encode`] checks every field before a byte is written;
//! [`TransferFile::parse`] reads a file back (the bank's copy, or a file
//! to check) and checks its structure and trailer.

use time::Date;

/// Why a transfer file cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct ZenginError {
    /// `header.requester_name`, `transfer 3 payee_name`, `record 5`, …
    pub place: String,
    pub message: String,
}

fn error<T>(place: impl Into<String>, message: impl Into<String>) -> Result<T, ZenginError> {
    Err(ZenginError {
        place: place.into(),
        message: message.into(),
    })
}

/// 預金種目: the kind of deposit account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    /// 普通
    Ordinary,
    /// 当座
    Current,
    /// 貯蓄
    Savings,
}

impl AccountType {
    fn code(self) -> u8 {
        match self {
            Self::Ordinary => b'1',
            Self::Current => b'2',
            Self::Savings => b'4',
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            b'1' => Some(Self::Ordinary),
            b'2' => Some(Self::Current),
            b'4' => Some(Self::Savings),
            _ => None,
        }
    }
}

/// An account: bank and branch, with their names in half-width kana.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 4 digits.
    pub bank_code: String,
    pub bank_name: String,
    /// 3 digits.
    pub branch_code: String,
    pub branch_name: String,
    pub account_type: AccountType,
    /// 7 digits.
    pub number: String,
}

/// The header: who pays, from which account, on which day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 振込依頼人コード: 10 digits the bank gave the payer.
    pub requester_code: String,
    /// 振込依頼人名, in kana.
    pub requester_name: String,
    pub transfer_date: Date,
    pub account: Account,
}

/// One transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub to: Account,
    /// 受取人名: the account holder's name in kana.
    pub payee_name: String,
    /// Yen, 1 to 9,999,999,999.
    pub amount: u64,
    /// 顧客コード1: the payer's reference for the transfer (10 digits).
    pub reference: String,
}

/// A whole file: one paying account, its transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFile {
    pub header: Header,
    pub transfers: Vec<Transfer>,
}

const RECORD: usize = 120;

/// Full-width katakana with their half-width forms (voiced ones split).
const KANA: &[(&str, &str)] = &[
    (
        "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン",
        "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝ",
    ),
    // Small kana are written large on a transfer.
    ("ァィゥェォッャュョヮヵヶヰヱ", "ｱｲｳｴｵﾂﾔﾕﾖﾜｶｹｲｴ"),
];
const VOICED: (&str, &str) = (
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボヴ",
    "ｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎｳ",
);
const SEMI_VOICED: (&str, &str) = ("パピプペポ", "ﾊﾋﾌﾍﾎ");
const SMALL_HALF: (&str, &str) = ("ｧｨｩｪｫｯｬｭｮ", "ｱｲｳｴｵﾂﾔﾕﾖ");

fn nth(s: &str, c: char) -> Option<usize> {
    s.chars().position(|x| x == c)
}

/// A name as it may stand on a transfer: kana (full- or half-width,
/// hiragana too), Latin letters (upper-cased), digits, spaces and
/// `( ) - . / ,`, in half-width form; anything else is refused by name.
pub fn transfer_kana(name: &str) -> Result<String, String> {
    let mut out = String::new();
    for c in name.chars() {
        // Hiragana as katakana.
        let c = if ('\u{3041}'..='\u{3096}').contains(&c) {
            char::from_u32(c as u32 + 0x60).unwrap_or(c)
        } else {
            c
        };
        if let Some((full, half)) = KANA.iter().find(|(f, _)| f.contains(c))
            && let Some(i) = nth(full, c)
        {
            out.extend(half.chars().nth(i));
        } else if let Some(i) = nth(VOICED.0, c) {
            out.extend(VOICED.1.chars().nth(i));
            out.push('ﾞ');
        } else if let Some(i) = nth(SEMI_VOICED.0, c) {
            out.extend(SEMI_VOICED.1.chars().nth(i));
            out.push('ﾟ');
        } else if let Some(i) = nth(SMALL_HALF.0, c) {
            out.extend(SMALL_HALF.1.chars().nth(i));
        } else if ('ｦ'..='ﾟ').contains(&c) || matches!(c, '｢' | '｣') {
            out.push(c);
        } else if matches!(c, 'ー' | '－' | '‐' | '―') {
            out.push(if c == 'ー' { 'ｰ' } else { '-' });
        } else if matches!(c, '　' | ' ') {
            out.push(' ');
        } else if matches!(c, '・' | '．') {
            out.push('.');
        } else if c == '（' {
            out.push('(');
        } else if c == '）' {
            out.push(')');
        } else if ('Ａ'..='Ｚ').contains(&c) || ('ａ'..='ｚ').contains(&c) || ('０'..='９').contains(&c)
        {
            let ascii = char::from_u32(c as u32 - 0xFEE0).unwrap_or(c);
            out.push(ascii.to_ascii_uppercase());
        } else if c.is_ascii_alphanumeric() || matches!(c, '(' | ')' | '-' | '.' | '/' | ',') {
            out.push(c.to_ascii_uppercase());
        } else {
            return Err(format!("{c:?} cannot be written on a transfer"));
        }
    }
    let trimmed = out.trim().to_owned();
    if trimmed.is_empty() {
        return Err("is empty".into());
    }
    Ok(trimmed)
}

/// JIS X 0201 in Shift_JIS: ASCII as it is, half-width katakana
/// U+FF61–U+FF9F as 0xA1–0xDF.
fn sjis(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| match c as u32 {
            0x20..=0x7E => Some(c as u8),
            n @ 0xFF61..=0xFF9F => u8::try_from(n - 0xFF61 + 0xA1).ok(),
            _ => None,
        })
        .collect()
}

fn unsjis(bytes: &[u8]) -> Option<String> {
    bytes
        .iter()
        .map(|&b| match b {
            0x20..=0x7E => Some(b as char),
            0xA1..=0xDF => char::from_u32(u32::from(b) - 0xA1 + 0xFF61),
            _ => None,
        })
        .collect()
}

struct Record {
    bytes: Vec<u8>,
}

impl Record {
    fn new(kind: u8) -> Self {
        Self { bytes: vec![kind] }
    }

    /// Digits, right-aligned with zeros, exactly `width` of them at most.
    fn number(&mut self, place: &str, digits: &str, width: usize) -> Result<(), ZenginError> {
        if digits.is_empty() || digits.len() > width || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return error(
                place,
                format!("{digits:?} is not a number of at most {width} digits"),
            );
        }
        self.bytes.extend(std::iter::repeat_n(b'0', width - digits.len()));
        self.bytes.extend(digits.bytes());
        Ok(())
    }

    /// Exactly `width` digits.
    fn code(&mut self, place: &str, digits: &str, width: usize) -> Result<(), ZenginError> {
        if digits.len() != width || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return error(place, format!("{digits:?} is not {width} digits"));
        }
        self.bytes.extend(digits.bytes());
        Ok(())
    }

    /// Text, left-aligned with spaces.
    fn text(&mut self, place: &str, text: &str, width: usize) -> Result<(), ZenginError> {
        let kana = transfer_kana(text).map_err(|m| ZenginError {
            place: place.to_owned(),
            message: format!("{text:?}: {m}"),
        })?;
        let bytes = sjis(&kana).ok_or_else(|| ZenginError {
            place: place.to_owned(),
            message: format!("{text:?} is not JIS X 0201"),
        })?;
        if bytes.len() > width {
            return error(
                place,
                format!("{kana:?} is {} characters; at most {width} fit", bytes.len()),
            );
        }
        self.pad(&bytes, width);
        Ok(())
    }

    fn pad(&mut self, bytes: &[u8], width: usize) {
        self.bytes.extend_from_slice(bytes);
        self.bytes.extend(std::iter::repeat_n(b' ', width - bytes.len()));
    }

    fn blank(&mut self, width: usize) {
        self.bytes.extend(std::iter::repeat_n(b' ', width));
    }

    fn finish(self, out: &mut Vec<u8>) {
        debug_assert_eq!(self.bytes.len(), RECORD);
        out.extend_from_slice(&self.bytes);
        out.extend_from_slice(b"\r\n");
    }
}

/// Most yen one transfer carries (10 digits).
pub const MAX_AMOUNT: u64 = 9_999_999_999;
/// Most transfers one file carries (6 digits of count).
pub const MAX_TRANSFERS: usize = 999_999;

impl TransferFile {
    /// The file's bytes, every field checked first: nothing is written
    /// from a batch with a fault, and the fault names its place.
    pub fn encode(&self) -> Result<Vec<u8>, ZenginError> {
        let h = &self.header;
        if self.transfers.is_empty() || self.transfers.len() > MAX_TRANSFERS {
            return error("transfers", format!("give 1 to {MAX_TRANSFERS} transfers"));
        }
        let mut out = Vec::with_capacity((self.transfers.len() + 3) * (RECORD + 2));
        let mut r = Record::new(b'1');
        r.bytes.extend_from_slice(b"21"); // 総合振込
        r.bytes.push(b'0'); // JIS
        r.code("header.requester_code", &h.requester_code, 10)?;
        r.text("header.requester_name", &h.requester_name, 40)?;
        r.bytes.extend(
            format!(
                "{:02}{:02}",
                u8::from(h.transfer_date.month()),
                h.transfer_date.day()
            )
            .bytes(),
        );
        r.code("header.bank_code", &h.account.bank_code, 4)?;
        r.text("header.bank_name", &h.account.bank_name, 15)?;
        r.code("header.branch_code", &h.account.branch_code, 3)?;
        r.text("header.branch_name", &h.account.branch_name, 15)?;
        r.bytes.push(h.account.account_type.code());
        r.code("header.account_number", &h.account.number, 7)?;
        r.blank(17);
        r.finish(&mut out);
        let mut total: u64 = 0;
        for (i, t) in self.transfers.iter().enumerate() {
            let at = |f: &str| format!("transfer {} {f}", i + 1);
            if t.amount == 0 || t.amount > MAX_AMOUNT {
                return error(
                    at("amount"),
                    format!("{} is not between 1 and {MAX_AMOUNT} yen", t.amount),
                );
            }
            total += t.amount;
            let mut r = Record::new(b'2');
            r.code(&at("bank_code"), &t.to.bank_code, 4)?;
            r.text(&at("bank_name"), &t.to.bank_name, 15)?;
            r.code(&at("branch_code"), &t.to.branch_code, 3)?;
            r.text(&at("branch_name"), &t.to.branch_name, 15)?;
            r.bytes.extend_from_slice(b"0000"); // 手形交換所番号: unused, zeros
            r.bytes.push(t.to.account_type.code());
            r.code(&at("account_number"), &t.to.number, 7)?;
            r.text(&at("payee_name"), &t.payee_name, 30)?;
            r.number(&at("amount"), &t.amount.to_string(), 10)?;
            r.bytes.push(b'0'); // 新規コード
            r.number(&at("reference"), &t.reference, 10)?;
            r.blank(10); // 顧客コード2
            r.bytes.push(b'7'); // テレ振込
            r.blank(1); // 識別表示: no EDI
            r.blank(7);
            r.finish(&mut out);
        }
        if total > 999_999_999_999 {
            return error("transfers", "the total does not fit the trailer's 12 digits");
        }
        let mut r = Record::new(b'8');
        r.number("trailer.count", &self.transfers.len().to_string(), 6)?;
        r.number("trailer.total", &total.to_string(), 12)?;
        r.blank(101);
        r.finish(&mut out);
        let mut r = Record::new(b'9');
        r.blank(119);
        r.finish(&mut out);
        Ok(out)
    }

    /// Read a file: records of 120 bytes (CR LF between them or not), a
    /// header, data, a trailer whose count and total are the data's, an
    /// end record, nothing after it. The header gives the transfer day
    /// without its year: `year` completes it.
    pub fn parse(bytes: &[u8], year: i32) -> Result<Self, ZenginError> {
        let records = split_records(bytes)?;
        let text = |n: usize, r: &[u8], from: usize, len: usize| -> Result<String, ZenginError> {
            unsjis(&r[from..from + len])
                .map(|s| s.trim_end().to_owned())
                .ok_or_else(|| ZenginError {
                    place: format!("record {n}"),
                    message: format!("bytes {}–{} are not JIS X 0201", from + 1, from + len),
                })
        };
        let digits = |n: usize, r: &[u8], from: usize, len: usize| -> Result<String, ZenginError> {
            let d = &r[from..from + len];
            if d.iter().all(u8::is_ascii_digit) {
                Ok(String::from_utf8_lossy(d).into_owned())
            } else {
                error(
                    format!("record {n}"),
                    format!("bytes {}–{} are not digits", from + 1, from + len),
                )
            }
        };
        let account_type = |n: usize, c: u8| {
            AccountType::from_code(c).ok_or_else(|| ZenginError {
                place: format!("record {n}"),
                message: format!("{:?} is not an account type", c as char),
            })
        };
        let Some((first, rest)) = records.split_first() else {
            return error("file", "is empty");
        };
        if &first[..4] != b"1210" {
            return error("record 1", "is not the header of a general transfer (1, 21, 0)");
        }
        let month = digits(1, first, 54, 2)?.parse::<u8>().unwrap_or(0);
        let day = digits(1, first, 56, 2)?.parse::<u8>().unwrap_or(0);
        let transfer_date = time::Month::try_from(month)
            .ok()
            .and_then(|m| Date::from_calendar_date(year, m, day).ok())
            .ok_or_else(|| ZenginError {
                place: "record 1".into(),
                message: format!("{month:02}{day:02} is not a date"),
            })?;
        let header = Header {
            requester_code: digits(1, first, 4, 10)?,
            requester_name: text(1, first, 14, 40)?,
            transfer_date,
            account: Account {
                bank_code: digits(1, first, 58, 4)?,
                bank_name: text(1, first, 62, 15)?,
                branch_code: digits(1, first, 77, 3)?,
                branch_name: text(1, first, 80, 15)?,
                account_type: account_type(1, first[95])?,
                number: digits(1, first, 96, 7)?,
            },
        };
        let mut transfers = Vec::new();
        let mut iter = rest.iter().enumerate().map(|(i, r)| (i + 2, r));
        let mut trailer = None;
        for (n, r) in iter.by_ref() {
            match r[0] {
                b'2' => {
                    let amount: u64 = digits(n, r, 80, 10)?.parse().unwrap_or(0);
                    transfers.push(Transfer {
                        to: Account {
                            bank_code: digits(n, r, 1, 4)?,
                            bank_name: text(n, r, 5, 15)?,
                            branch_code: digits(n, r, 20, 3)?,
                            branch_name: text(n, r, 23, 15)?,
                            account_type: account_type(n, r[42])?,
                            number: digits(n, r, 43, 7)?,
                        },
                        payee_name: text(n, r, 50, 30)?,
                        amount,
                        reference: {
                            let d = digits(n, r, 91, 10)?;
                            let t = d.trim_start_matches('0');
                            if t.is_empty() {
                                "0".to_owned()
                            } else {
                                t.to_owned()
                            }
                        },
                    });
                }
                b'8' => {
                    trailer = Some((n, r));
                    break;
                }
                other => {
                    return error(
                        format!("record {n}"),
                        format!("data or trailer expected, found kind {:?}", other as char),
                    );
                }
            }
        }
        let Some((tn, t)) = trailer else {
            return error("file", "has no trailer");
        };
        let count: usize = digits(tn, t, 1, 6)?.parse().unwrap_or(0);
        let total: u64 = digits(tn, t, 7, 12)?.parse().unwrap_or(0);
        let sum: u64 = transfers.iter().map(|t| t.amount).sum();
        if count != transfers.len() || total != sum {
            return error(
                format!("record {tn}"),
                format!(
                    "the trailer says {count} transfers of {total} yen; the file has {} of {sum}",
                    transfers.len()
                ),
            );
        }
        match iter.next() {
            Some((_, r)) if r[0] == b'9' => {}
            Some((n, _)) => {
                return error(
                    format!("record {n}"),
                    "the end record (9) must follow the trailer",
                );
            }
            None => return error("file", "has no end record"),
        }
        if let Some((n, _)) = iter.next() {
            return error(format!("record {n}"), "nothing may follow the end record");
        }
        Ok(Self { header, transfers })
    }
}

fn split_records(bytes: &[u8]) -> Result<Vec<&[u8]>, ZenginError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < RECORD {
            return error(
                format!("record {}", out.len() + 1),
                format!("is {} bytes, not {RECORD}", rest.len()),
            );
        }
        let (r, tail) = rest.split_at(RECORD);
        out.push(r);
        rest = tail.strip_prefix(b"\r\n").unwrap_or(tail);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_half_width_kana() {
        assert_eq!(transfer_kana("ヤマダ　タロウ").unwrap(), "ﾔﾏﾀﾞ ﾀﾛｳ");
        assert_eq!(transfer_kana("やまだ たろう").unwrap(), "ﾔﾏﾀﾞ ﾀﾛｳ");
        assert_eq!(
            transfer_kana("ポッキー").unwrap(),
            "ﾎﾟﾂｷｰ",
            "small kana written large"
        );
        assert_eq!(transfer_kana("ｼﾞｮｰｼﾞ").unwrap(), "ｼﾞﾖｰｼﾞ");
        assert_eq!(transfer_kana("ヴァイオリン").unwrap(), "ｳﾞｱｲｵﾘﾝ");
        assert_eq!(transfer_kana("ｶ)ﾚﾝｹｲ").unwrap(), "ｶ)ﾚﾝｹｲ");
        assert_eq!(transfer_kana("Ｓｍｉｔｈ　Ｊｏｈｎ").unwrap(), "SMITH JOHN");
        assert_eq!(transfer_kana("セタガヤク（フクシカ）").unwrap(), "ｾﾀｶﾞﾔｸ(ﾌｸｼｶ)");
        for bad in ["山田", "", "   ", "ヤマダ♪"] {
            assert!(transfer_kana(bad).is_err(), "{bad}");
        }
    }
}
