//! `renkei registry …`: serve the registry, create the card CAs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use renkei_card::{CaOperator, CardAuthorities};
use renkei_registry_service::{RegistrySettings, start_registry};

use crate::args::{ServeArgs, data_key, init_tracing, read_config, wait_for_shutdown};

#[derive(Subcommand)]
pub(crate) enum RegistryCommand {
    /// Serve the registry.
    Serve(ServeArgs),
    /// The card CA (JPKI role).
    #[command(subcommand)]
    CardCa(CardCaCommand),
}

#[derive(Subcommand)]
pub(crate) enum CardCaCommand {
    /// Create the card CAs (both profiles, both purposes) in a directory.
    Init {
        /// The directory for the CAs' certificates and keys (created).
        #[arg(long)]
        dir: PathBuf,
        /// Who runs the CA, as it appears in the CA names.
        #[arg(long, default_value = "renkei card authority")]
        operator: String,
        /// The operator's name in Japanese, as it appears in the CA names.
        #[arg(long, default_value = "れんけい公的個人認証")]
        operator_ja: String,
    },
}

pub(crate) async fn run(cmd: RegistryCommand) -> Result<()> {
    match cmd {
        RegistryCommand::Serve(arg) => {
            init_tracing("info");
            let settings: RegistrySettings = read_config(&arg.config.config)?;
            let key = data_key(settings.data_key.as_deref())?;
            let store = arg
                .store_config("registry.sqlite")
                .open_registry(key.as_ref())
                .await?;
            serve(&settings, store).await
        }
        RegistryCommand::CardCa(CardCaCommand::Init {
            dir,
            operator,
            operator_ja,
        }) => init_card_ca(&dir, &operator, &operator_ja),
    }
}

async fn serve<S: renkei_registry::RegistryStore + Clone>(
    settings: &RegistrySettings,
    store: S,
) -> Result<()> {
    let reg = start_registry(settings, store).await?;
    eprintln!(
        "registry serving on {} (admin {})",
        reg.network.url(),
        reg.admin.url()
    );
    wait_for_shutdown().await;
    reg.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// `renkei registry card-ca init`: the four card CAs.
fn init_card_ca(dir: &Path, operator: &str, operator_ja: &str) -> Result<()> {
    CardAuthorities::create(
        dir,
        &CaOperator {
            name: operator.to_owned(),
            name_ja: operator_ja.to_owned(),
        },
        time::OffsetDateTime::now_utc(),
    )?;
    println!(
        "card CAs created in {} (RSA-2048 and P-384, authentication and signing)",
        dir.display()
    );
    Ok(())
}
