//! `renkei benefit …`: benefit programme files, checked and tested.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use renkei_benefit::Programme;

/// Larger than any honest programme file; read no further.
const FILE_LIMIT: u64 = 1024 * 1024;

#[derive(Subcommand)]
pub(crate) enum BenefitCommand {
    /// Load each programme file (every fault reported with its line,
    /// column and field) and run its own test cases; without files, the
    /// programmes shipped with renkei. Exits non-zero if a file does not
    /// load or a case fails.
    Test {
        /// Programme files (TOML).
        files: Vec<PathBuf>,
    },
}

pub(crate) fn run(cmd: BenefitCommand) -> Result<()> {
    match cmd {
        BenefitCommand::Test { files } => {
            let sources: Vec<(String, String)> = if files.is_empty() {
                renkei_benefit::SHIPPED
                    .iter()
                    .map(|(name, text)| (format!("(shipped) {name}"), (*text).to_owned()))
                    .collect()
            } else {
                files.iter().map(read).collect::<Result<_>>()?
            };
            let (mut passed, mut failed, mut broken) = (0, 0, 0);
            for (name, text) in &sources {
                let p = match Programme::parse(text) {
                    Ok(p) => p,
                    Err(e) => {
                        println!("{name}: {e}");
                        broken += 1;
                        continue;
                    }
                };
                let outcomes = p.run_tests();
                let bad: Vec<_> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
                println!(
                    "{name}: {} v{} — {} of {} cases passed",
                    p.id,
                    p.version,
                    outcomes.len() - bad.len(),
                    outcomes.len()
                );
                for o in &bad {
                    println!(
                        "  FAILED {}: {}",
                        o.name,
                        o.failure.as_deref().unwrap_or_default()
                    );
                }
                passed += outcomes.len() - bad.len();
                failed += bad.len();
            }
            println!(
                "{} programme(s): {passed} case(s) passed, {failed} failed, {broken} file(s) did not load",
                sources.len()
            );
            if failed + broken > 0 {
                bail!("{failed} case(s) failed and {broken} file(s) did not load");
            }
            Ok(())
        }
    }
}

fn read(path: &PathBuf) -> Result<(String, String)> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(FILE_LIMIT + 1).read_to_string(&mut text))
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > FILE_LIMIT {
        bail!("{}: larger than {FILE_LIMIT} bytes", path.display());
    }
    Ok((path.display().to_string(), text))
}
