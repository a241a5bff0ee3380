//! Software cards for the demo's residents: keys generated in a card
//! directory, certificates issued by the registry's card CA through its
//! admin API (as the municipal window does with a card in hand).

use std::path::Path;

use anyhow::{Context, Result};
use renkei_card::{CardProfile, CardSecret, CertPurpose, SoftwareCard, pem_or_der, to_pem};
use renkei_http::LocalClient;
use renkei_http::registry_card::{IssueCardRequest, IssuedCard};

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
    let pem = |purpose| -> Result<String> {
        let der = card.public_key(purpose)?;
        Ok(to_pem("PUBLIC KEY", &der))
    };
    let issued: IssuedCard = registry_admin
        .post(
            "/admin/v1/cards",
            &IssueCardRequest {
                my_number: my_number.to_owned(),
                profile: card.profile().as_str().to_owned(),
                auth_public_key: pem(CertPurpose::Authentication)?,
                sign_public_key: pem(CertPurpose::Signing)?,
            },
        )
        .await
        .context("issuing the card's certificates")?;
    for (purpose, text) in [
        (CertPurpose::Authentication, &issued.auth_certificate),
        (CertPurpose::Signing, &issued.sign_certificate),
    ] {
        let der = pem_or_der(text.as_bytes(), "CERTIFICATE").map_err(anyhow::Error::msg)?;
        card.install_certificate(purpose, &der)?;
    }
    Ok(issued)
}
