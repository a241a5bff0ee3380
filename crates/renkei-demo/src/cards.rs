//! Software cards for the demo's residents: keys generated in a card
//! directory, certificates issued by the registry's card CA through its
//! admin API (as the municipal window does with a card in hand).

use std::path::Path;

use anyhow::{Context, Result};
use renkei_card::{CardProfile, CardSecret, SoftwareCard};
use renkei_http::LocalClient;
use renkei_http::registry_card::IssuedCard;

/// The PIN and password of every demo card (printed by `renkei demo`).
pub const DEMO_PIN: &str = "1234";
pub const DEMO_PASSWORD: &str = "RENKEI2026";

/// Create a software card in `dir` and have the registry certify it for
/// the resident with `my_number`.
pub async fn issue_card(
    registry_admin: &LocalClient,
    my_number: &str,
    dir: &Path,
    profile: CardProfile,
    pin: &CardSecret,
    password: &CardSecret,
) -> Result<(SoftwareCard, IssuedCard)> {
    let (dir_owned, pin, password) = (dir.to_owned(), pin.clone(), password.clone());
    // Key generation and PIN encryption are seconds of CPU: off the runtime.
    let card =
        tokio::task::spawn_blocking(move || SoftwareCard::create(&dir_owned, profile, &pin, &password))
            .await
            .context("card key generation")?
            .with_context(|| format!("creating the card in {}", dir.display()))?;
    let issued = certify(registry_admin, my_number, &card).await?;
    Ok((card, issued))
}

/// Have the registry issue certificates for an existing software card.
pub async fn certify(
    registry_admin: &LocalClient,
    my_number: &str,
    card: &SoftwareCard,
) -> Result<IssuedCard> {
    renkei_http::registry_card::certify_card(registry_admin, my_number, card)
        .await
        .map_err(|e| match e {
            // Keep the registry's refusal reachable for callers that match on it.
            renkei_http::registry_card::CertifyError::Registry(f) => anyhow::Error::new(f),
            other => anyhow::Error::new(other),
        })
        .context("issuing the card's certificates")
}
