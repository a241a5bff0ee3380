//! `renkei witness serve`: a witness that cosigns the hub's checkpoints.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use renkei_witness_service::{WitnessSettings, start_witness};

use crate::args::{ServeArgs, init_tracing, read_config, wait_for_shutdown};

#[derive(Subcommand)]
pub(crate) enum WitnessCommand {
    /// Serve a witness.
    Serve(ServeArgs),
}

pub(crate) async fn run(cmd: WitnessCommand) -> Result<()> {
    let WitnessCommand::Serve(arg) = cmd;
    init_tracing("info");
    let settings: WitnessSettings = read_config(&arg.config.config)?;
    serve(
        &settings,
        arg.store_config("witness.sqlite").open_witness().await?,
    )
    .await
}

async fn serve<S: renkei_witness::WitnessStore>(settings: &WitnessSettings, store: S) -> Result<()> {
    let w = start_witness(settings, store).await?;
    eprintln!(
        "witness serving on {} (cosignature key {})",
        w.url(),
        w.cosignature_key
    );
    wait_for_shutdown().await;
    w.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
