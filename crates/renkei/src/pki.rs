//! `renkei pki …`: the network CA, role certificates and revocation.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use renkei_ids::CorporateNumber;
use renkei_pki::{NetworkCa, RevocationReason, Role};

use crate::args::SuiteArg;

#[derive(Subcommand)]
pub(crate) enum PkiCommand {
    /// Create the network CA in a directory.
    Init {
        /// The CA's directory (created; its key file is 0600).
        #[arg(long)]
        dir: PathBuf,
        /// The CA's name, as it appears in its certificate.
        #[arg(long, default_value = "renkei network CA")]
        name: String,
        /// The suite of the certificates this CA issues.
        #[arg(long, value_enum, default_value = "ed25519-x25519")]
        suite: SuiteArg,
    },
    /// Issue a certificate and keys for a role.
    Issue {
        /// The network CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// The role the certificate is for.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// For a hub: the origin (first line) of its log's checkpoints.
        #[arg(long, default_value = "renkei.example/provision-records")]
        log_origin: String,
        /// The institution's corporate number (registry and node).
        #[arg(long)]
        institution: Option<String>,
        /// The host name the certificate is for (also its common name).
        #[arg(long)]
        name: String,
        /// Directory for the certificate, keys and token.
        #[arg(long)]
        out: PathBuf,
        /// The suite of the role's keys (the CA's own suite for TLS).
        #[arg(long, value_enum, default_value = "ed25519-x25519")]
        suite: SuiteArg,
    },
    /// Revoke a certificate by serial and rewrite the CRL.
    Revoke {
        /// The network CA's directory.
        #[arg(long)]
        ca: PathBuf,
        /// The certificate's serial, in hex as `pki issue` printed it.
        #[arg(long)]
        serial: String,
    },
    /// Re-sign the CRL with a fresh validity (run daily).
    RefreshCrl {
        /// The network CA's directory.
        #[arg(long)]
        ca: PathBuf,
    },
}

/// The roles `pki issue` makes certificates for.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// The hub: TLS, signing keys and the log's note key.
    Hub,
    /// The resident registry (needs --institution).
    Registry,
    /// An institution node (needs --institution).
    Node,
    /// A witness: TLS and a cosignature key.
    Witness,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Hub => Role::Hub,
            RoleArg::Registry => Role::Registry,
            RoleArg::Node => Role::Node,
            RoleArg::Witness => Role::Witness,
        }
    }
}

pub(crate) fn run(cmd: PkiCommand) -> Result<()> {
    match cmd {
        PkiCommand::Init { dir, name, suite } => {
            let ca = NetworkCa::create(&dir, &name, renkei_pki::provision::tls_algorithm(suite.into()))?;
            println!(
                "network CA created in {} (CRL number {})",
                dir.display(),
                ca.crl_number()
            );
        }
        PkiCommand::Issue {
            ca,
            role,
            log_origin,
            institution,
            name,
            out,
            suite,
        } => {
            let ca = NetworkCa::load(&ca)?;
            let role = Role::from(role);
            if role == Role::Witness {
                let (cert, _, serial) =
                    renkei_pki::provision::issue_tls(&ca, &out, role, None, &name, suite.into())?;
                let key =
                    renkei_witness_service::new_witness_key(&name).map_err(|e| anyhow::anyhow!("{e}"))?;
                let key_file = out.join("witness.key");
                renkei_pki::write_private(&key_file, key.as_bytes(), renkei_pki::WriteMode::Replace)?;
                println!(
                    "issued witness certificate {} (serial {serial}); cosignature key: {}",
                    cert.display(),
                    renkei_pki::provision::note_verifier(&key_file, true)?
                );
                return Ok(());
            }
            let institution = institution
                .map(|s| CorporateNumber::parse(&s).with_context(|| format!("--institution {s}")))
                .transpose()?;
            if matches!(role, Role::Registry | Role::Node) && institution.is_none() {
                bail!("--institution is required for a {} certificate", role.as_str());
            }
            let files =
                renkei_pki::provision::provision_role(&ca, &out, role, institution, &name, suite.into())?;
            if role == Role::Hub {
                let (_, _, log_key) = renkei_pki::provision::provision_hub_secrets(&out, &log_origin)?;
                println!(
                    "log key: {}",
                    renkei_pki::provision::note_verifier(&log_key, false)?
                );
                renkei_hub_service::write_sample_catalog(&out)?;
            }
            println!(
                "issued {} certificate {} (serial {}) and keys into {}",
                role.as_str(),
                files.cert.display(),
                files.serial,
                out.display()
            );
            if let Some(key) = &files.data_key {
                println!(
                    "data key {} (mode 0600): set `data_key = \"{}\"` in the {} configuration to seal its store's personal data at rest; keep a copy, without it the store cannot be read",
                    key.display(),
                    key.display(),
                    role.as_str()
                );
            }
        }
        PkiCommand::Revoke { ca, serial } => {
            let mut ca = NetworkCa::load(&ca)?;
            ca.revoke(&serial, RevocationReason::Unspecified)?;
            println!(
                "revoked {serial}; CRL number {} written to {}",
                ca.crl_number(),
                ca.crl_path().display()
            );
        }
        PkiCommand::RefreshCrl { ca } => {
            let mut ca = NetworkCa::load(&ca)?;
            ca.refresh_crl()?;
            println!("CRL re-signed, number {}", ca.crl_number());
        }
    }
    Ok(())
}
