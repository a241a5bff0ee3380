//! `renkei tax …`: the draft income tax return computed from the figures of
//! a person's documents (the same computation as the portal's draft page).

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use renkei_tax::{TaxDraft, TaxInput};

/// Larger than any honest year of documents; read no further.
const INPUT_LIMIT: u64 = 16 * 1024 * 1024;

#[derive(Subcommand)]
pub(crate) enum TaxCommand {
    /// Compute the draft return of a salary-only resident from one JSON
    /// object of document figures (withholding_slip,
    /// life_insurance_certificates, earthquake_insurance_certificates,
    /// medical_expense_notices, self_medication,
    /// national_pension_certificate, donation_certificates,
    /// housing_loan_certificate; yen as integers) and print it.
    Draft {
        /// The tax year (2025, 令和7年分, is the one computed).
        #[arg(long)]
        year: u16,
        /// The JSON file of document figures (`-` reads standard input).
        #[arg(long)]
        input: PathBuf,
        /// Print the draft as one JSON object, with the trace of every
        /// figure, instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: TaxCommand) -> Result<()> {
    match cmd {
        TaxCommand::Draft { year, input, json } => {
            let draft = draft(year, &input)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&draft)?);
            } else {
                print!("{}", table(&draft));
            }
            Ok(())
        }
    }
}

fn draft(year: u16, input: &PathBuf) -> Result<TaxDraft> {
    let mut bytes = Vec::new();
    let name = input.display().to_string();
    if name == "-" {
        std::io::stdin()
            .take(INPUT_LIMIT + 1)
            .read_to_end(&mut bytes)
            .context("reading the document figures from standard input")?;
    } else {
        std::fs::File::open(input)
            .and_then(|f| f.take(INPUT_LIMIT + 1).read_to_end(&mut bytes))
            .with_context(|| format!("reading {name}"))?;
    }
    if bytes.len() as u64 > INPUT_LIMIT {
        bail!("{name}: larger than {} MiB", INPUT_LIMIT >> 20);
    }
    let figures: TaxInput = renkei_protocol::strict_json::from_slice_naming_field(&bytes)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    renkei_tax::draft(year, &figures).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

/// The draft as a person reads it: each figure, its name on the return,
/// and the documents it came from.
fn table(d: &TaxDraft) -> String {
    let figures = [
        ("employment_income", d.employment_income.to_string()),
        ("total_income", d.total_income.to_string()),
        (
            "deductions.social_insurance",
            d.deductions.social_insurance.to_string(),
        ),
        (
            "deductions.life_insurance",
            d.deductions.life_insurance.to_string(),
        ),
        (
            "deductions.earthquake_insurance",
            d.deductions.earthquake_insurance.to_string(),
        ),
        (
            "deductions.medical_expense",
            d.deductions.medical_expense.to_string(),
        ),
        (
            "deductions.self_medication",
            d.deductions.self_medication.to_string(),
        ),
        ("deductions.donation", d.deductions.donation.to_string()),
        ("deductions.basic", d.deductions.basic.to_string()),
        ("deductions.total", d.deductions.total.to_string()),
        ("taxable_income", d.taxable_income.to_string()),
        ("income_tax", d.income_tax.to_string()),
        ("housing_loan_credit", d.housing_loan_credit.to_string()),
        (
            "housing_loan_credit_applied",
            d.housing_loan_credit_applied.to_string(),
        ),
        ("base_income_tax", d.base_income_tax.to_string()),
        ("reconstruction_tax", d.reconstruction_tax.to_string()),
        ("total_tax", d.total_tax.to_string()),
        ("withholding_tax", d.withholding_tax.to_string()),
        ("tax_due", d.tax_due.to_string()),
    ];
    let mut out = format!("Draft income tax return, tax year {}\n", d.tax_year);
    for (figure, amount) in &figures {
        let line = d.trace_for(figure);
        let label = line.map_or("", |l| l.label_ja.as_str());
        out.push_str(&format!("{figure:<32} {amount:>14} yen  {label}\n"));
        if let Some(l) = line.filter(|l| !l.sources.is_empty()) {
            out.push_str(&format!("{:<32} from {}\n", "", l.sources.join(", ")));
        }
    }
    out.push_str(if d.tax_due < 0 {
        "A negative tax_due is a refund.\n"
    } else {
        "tax_due is the tax to pay.\n"
    });
    out
}
