//! The `renkei` binary: reads configuration, opens storage, starts HTTP.
//! Everything else lives in the library crates; each command group has its
//! module here, and `main` only dispatches.

// A command-line program talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod audit;
mod bench;
mod benefit;
mod card;
mod client;
mod demo;
mod hub;
mod node;
mod person;
mod pki;
mod portal;
mod registry;
mod sender;
mod tax;
mod witness;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "renkei",
    version,
    about = "A national personal-data linkage network: hub, registry and institution nodes over mutual TLS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole small country on loopback and show every flow.
    Demo(demo::DemoArgs),
    /// The hub (情報提供ネットワークシステム).
    #[command(subcommand)]
    Hub(hub::HubCommand),
    /// An institution node (中間サーバー).
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// The resident registry (住基ネット / J-LIS).
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// The network CA: certificates and revocation.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// A witness that cosigns the hub's checkpoints (C2SP tlog-witness).
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
    /// Verify the transparency log of provision records.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// A person's own records in the log.
    #[command(subcommand)]
    Person(person::PersonCommand),
    /// The citizen portal (マイナポータル).
    #[command(subcommand)]
    Portal(portal::PortalCommand),
    /// A software card (the smartphone app): keys, issuance, approvals, signatures.
    #[command(subcommand)]
    Card(card::CardCommand),
    /// The self-information API's clients: applications and screening.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Private delivery's senders: applications and screening.
    #[command(subcommand)]
    Sender(sender::SenderCommand),
    /// Tax: the draft income tax return computed from a person's documents.
    #[command(subcommand)]
    Tax(tax::TaxCommand),
    /// Benefit programmes as rules as code: check a programme file and
    /// run its own test cases.
    #[command(subcommand)]
    Benefit(benefit::BenefitCommand),
    /// Benchmarks (results go to BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo(a) => demo::run(a).await,
        Command::Hub(c) => hub::run(c).await,
        Command::Node(c) => node::run(c).await,
        Command::Registry(c) => registry::run(c).await,
        Command::Pki(c) => pki::run(c),
        Command::Witness(c) => witness::run(c).await,
        Command::Audit(c) => audit::run(c).await,
        Command::Person(c) => person::run(c).await,
        Command::Portal(c) => portal::run(c).await,
        Command::Card(c) => card::run(c).await,
        Command::Client(c) => client::run(c).await,
        Command::Sender(c) => sender::run(c).await,
        Command::Tax(c) => tax::run(c),
        Command::Benefit(c) => benefit::run(c),
        Command::Bench(c) => bench::run(c).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every command says what it does and every argument what it takes:
    /// `--help` is the manual.
    fn undocumented(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
        let path = format!("{path} {}", cmd.get_name());
        if cmd.get_about().is_none() && cmd.get_long_about().is_none() {
            found.push(format!("{path}: the command has no help"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                found.push(format!("{path}: argument `{id}` has no help"));
            }
        }
        for sub in cmd.get_subcommands() {
            undocumented(sub, &path, found);
        }
    }

    #[test]
    fn every_command_and_argument_has_help() {
        let cli = super::Cli::command();
        cli.clone().debug_assert();
        let mut found = Vec::new();
        for sub in cli.get_subcommands() {
            undocumented(sub, "renkei", &mut found);
        }
        assert!(found.is_empty(), "{}", found.join("\n"));
    }

    /// Choices are enumerations: a value outside them is refused by the
    /// parser, never mapped to a default.
    #[test]
    fn choices_are_closed() {
        let cli = super::Cli::command();
        let err = cli
            .try_get_matches_from([
                "renkei", "pki", "issue", "--ca", "ca", "--role", "portl", "--name", "n", "--out", "o",
            ])
            .err()
            .map(|e| e.kind());
        assert_eq!(err, Some(clap::error::ErrorKind::InvalidValue));
    }
}
