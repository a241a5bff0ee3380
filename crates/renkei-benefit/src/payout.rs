//! A payout's transfer files: the payments a benefit office approved,
//! sorted into one general transfer file per paying account. A payment
//! leaves from the office's account at the payee's bank when it has one
//! (a transfer within a bank costs less and settles sooner), from its
//! first account otherwise; a file holds at most
//! [`crate::zengin::MAX_TRANSFERS`] transfers and is split beyond that.
//! One reference is one payment: a plan that names a reference twice is
//! refused, so no one is paid twice from one batch.

use std::collections::HashSet;

use time::Date;

use crate::zengin::{Account, Header, MAX_TRANSFERS, Transfer, TransferFile, transfer_kana};

/// An account the office pays from, with what its bank knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayingAccount {
    /// 振込依頼人コード: 10 digits.
    pub requester_code: String,
    /// The office's name in kana.
    pub requester_name: String,
    pub account: Account,
}

/// One approved payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The office's number for the payment (its case): 1 to 10 digits,
    /// carried as the transfer's 顧客コード1 and read back from the result.
    pub reference: u64,
    /// The account holder's name in kana, as the account was registered.
    pub payee_kana: String,
    pub to: Account,
    pub amount: u64,
}

/// Why a payout cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    #[error("no account to pay from")]
    NoPayingAccount,
    #[error("payment {0}: the reference is given twice")]
    Duplicate(u64),
    #[error("payment {reference}: {message}")]
    Payment { reference: u64, message: String },
    #[error("{0}")]
    File(#[from] crate::zengin::ZenginError),
}

/// A planned file: which paying account, its transfers, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Index into the paying accounts given.
    pub paying: usize,
    pub file: TransferFile,
    pub bytes: Vec<u8>,
}

/// Sort `payments` into transfer files dated `on`, every file encoded (so
/// every field checked) before any is returned.
pub fn plan(
    payments: &[Payment],
    paying: &[PayingAccount],
    on: Date,
) -> Result<Vec<PlannedFile>, PayoutError> {
    if paying.is_empty() {
        return Err(PayoutError::NoPayingAccount);
    }
    let mut seen = HashSet::new();
    let mut per_account: Vec<Vec<Transfer>> = vec![Vec::new(); paying.len()];
    for p in payments {
        if !seen.insert(p.reference) {
            return Err(PayoutError::Duplicate(p.reference));
        }
        let bad = |message: String| PayoutError::Payment {
            reference: p.reference,
            message,
        };
        if p.reference == 0 || p.reference > 9_999_999_999 {
            return Err(bad("the reference must have 1 to 10 digits".into()));
        }
        let payee_name = transfer_kana(&p.payee_kana).map_err(|m| bad(format!("payee name: {m}")))?;
        let from = paying
            .iter()
            .position(|a| a.account.bank_code == p.to.bank_code)
            .unwrap_or(0);
        per_account[from].push(Transfer {
            to: p.to.clone(),
            payee_name,
            amount: p.amount,
            reference: p.reference.to_string(),
        });
    }
    let mut out = Vec::new();
    for (i, transfers) in per_account.into_iter().enumerate() {
        for chunk in transfers.chunks(MAX_TRANSFERS) {
            let file = TransferFile {
                header: Header {
                    requester_code: paying[i].requester_code.clone(),
                    requester_name: paying[i].requester_name.clone(),
                    transfer_date: on,
                    account: paying[i].account.clone(),
                },
                transfers: chunk.to_vec(),
            };
            let bytes = file.encode().map_err(|e| {
                // Name the payment, not the line in a file the caller never saw.
                match e.place.strip_prefix("transfer ").and_then(|r| r.split_once(' ')) {
                    Some((n, field)) => {
                        let reference = n
                            .parse::<usize>()
                            .ok()
                            .and_then(|n| chunk.get(n - 1))
                            .and_then(|t| t.reference.parse().ok())
                            .unwrap_or(0);
                        PayoutError::Payment {
                            reference,
                            message: format!("{field}: {}", e.message),
                        }
                    }
                    None => PayoutError::File(e),
                }
            })?;
            out.push(PlannedFile {
                paying: i,
                file,
                bytes,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zengin::AccountType;

    fn account(bank: &str, number: &str) -> Account {
        Account {
            bank_code: bank.into(),
            bank_name: "ｷﾞﾝｺｳ".into(),
            branch_code: "001".into(),
            branch_name: "ﾎﾝﾃﾝ".into(),
            account_type: AccountType::Ordinary,
            number: number.into(),
        }
    }

    fn paying() -> Vec<PayingAccount> {
        ["0001", "0005"]
            .iter()
            .map(|b| PayingAccount {
                requester_code: "1000000001".into(),
                requester_name: "ｾﾀｶﾞﾔｸ".into(),
                account: account(b, "0000001"),
            })
            .collect()
    }

    fn payment(reference: u64, bank: &str, amount: u64) -> Payment {
        Payment {
            reference,
            payee_kana: "ヤマダ　ハナコ".into(),
            to: account(bank, "1234567"),
            amount,
        }
    }

    fn on() -> Date {
        crate::lang::parse_date("2025-04-10").unwrap_or(Date::MIN)
    }

    #[test]
    fn payments_leave_from_the_payees_bank_when_the_office_has_an_account_there() {
        let files = plan(
            &[
                payment(1, "0005", 100),
                payment(2, "0009", 200),
                payment(3, "0001", 300),
            ],
            &paying(),
            on(),
        )
        .unwrap_or_default();
        assert_eq!(files.len(), 2);
        let refs = |f: &PlannedFile| {
            f.file
                .transfers
                .iter()
                .map(|t| t.reference.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (files[0].paying, refs(&files[0])),
            (0, vec!["2".to_owned(), "3".to_owned()])
        );
        assert_eq!((files[1].paying, refs(&files[1])), (1, vec!["1".to_owned()]));
        assert_eq!(files[0].file.transfers[0].payee_name, "ﾔﾏﾀﾞ ﾊﾅｺ");
        assert_eq!(
            TransferFile::parse(&files[0].bytes, 2025).map(|f| f.transfers.len()),
            Ok(2)
        );
    }

    #[test]
    fn a_plan_with_a_fault_is_refused_naming_the_payment() {
        assert_eq!(
            plan(
                &[payment(1, "0005", 100), payment(1, "0005", 100)],
                &paying(),
                on()
            ),
            Err(PayoutError::Duplicate(1))
        );
        assert_eq!(
            plan(&[payment(1, "0005", 1)], &[], on()),
            Err(PayoutError::NoPayingAccount)
        );
        let mut p = payment(7, "0005", 100);
        p.payee_kana = "山田花子".into();
        assert!(matches!(
            plan(&[p], &paying(), on()),
            Err(PayoutError::Payment { reference: 7, .. })
        ));
        let e = plan(&[payment(8, "0005", 0)], &paying(), on());
        assert!(
            matches!(&e, Err(PayoutError::Payment { reference: 8, message }) if message.starts_with("amount:")),
            "{e:?}"
        );
        assert!(matches!(
            plan(&[payment(0, "0005", 1)], &paying(), on()),
            Err(PayoutError::Payment { reference: 0, .. })
        ));
    }
}
