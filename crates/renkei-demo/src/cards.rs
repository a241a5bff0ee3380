//! Software cards for the demo's residents: keys generated in a card
//! directory, certificates issued by the registry's card CA through its
//! admin API (as the municipal window does with a card in hand).

use std::path::Path;

use anyhow::{Context, Result};
use renkei_api::card::IssuedCard;
use renkei_card::{CardProfile, CardSecret, SoftwareCard};
use renkei_transport::LocalClient;

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
    renkei_registry_service::certify_card(registry_admin, my_number, card)
        .await
        .map_err(|e| match e {
            // Keep the registry's refusal reachable for callers that match on it.
            renkei_registry_service::CertifyError::Registry(f) => anyhow::Error::new(f),
            other => anyhow::Error::new(other),
        })
        .context("issuing the card's certificates")
}

/// Resolve a card at the Digital Agency's node as a login does — the card
/// signs a fresh login challenge (built as the portal builds it) and the
/// registry checks that signature — asking for `proof` (a session proof, or
/// a consent proof for `grant`). For benchmarks and tests that act for a
/// person without a browser.
pub async fn resolve_with_card(
    node_local: &LocalClient,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
    certificate: &[u8],
    grant: Option<&str>,
) -> Result<renkei_api::node::CardHolder> {
    use base64::Engine as _;
    let now = renkei_protocol::UnixMillis::now();
    let purpose = match grant {
        None => renkei_portal::ChallengePurpose::Login,
        Some(g) => renkei_portal::ChallengePurpose::Confirm {
            action: "同意".into(),
            grant: Some(g.to_owned()),
        },
    };
    let challenge = renkei_portal::Challenge::new(
        purpose,
        &renkei_portal::Secret::random(),
        std::net::IpAddr::from([127, 0, 0, 1]),
        now,
        300_000,
    );
    let text = challenge.to_be_signed("https://portal.invalid", challenge.match_value);
    let signature = sign(&text)?;
    let proof = renkei_api::net::ProofIssueWire {
        purpose: if grant.is_some() { "consent" } else { "session" }.into(),
        grant: grant.map(str::to_owned),
        until: now.plus_ms(3_600_000).0,
        card_challenge: String::new(),
    };
    Ok(node_local
        .post(
            "/local/v1/cards/resolve",
            &renkei_api::card::ResolveCardRequest {
                certificate: renkei_crypto::b64(certificate),
                challenge: String::from_utf8(text).context("challenge text")?,
                signature: base64::engine::general_purpose::STANDARD.encode(&signature),
                proof: Some(proof),
            },
        )
        .await?)
}

/// A card for the resident the Digital Agency knows as `digital_id`, issued
/// into `dir`, and the session proof its signature over a login challenge
/// yields: what a person's own login gives the portal.
pub async fn login_proof(
    net: &crate::network::Network,
    country: &crate::country::Country,
    digital_id: &str,
    dir: &Path,
) -> Result<String> {
    let who = country
        .inhabitant(crate::institutions::DIGITAL.key, digital_id)
        .context("no such resident at the Digital Agency")?;
    let pin = CardSecret::auth_pin(DEMO_PIN)?;
    let password = CardSecret::signing_password(DEMO_PASSWORD)?;
    let (card, _) = issue_card(
        &net.registry_admin,
        &who.my_number,
        dir,
        CardProfile::EcdsaP384Sha384,
        &pin,
        &password,
    )
    .await?;
    let cert = card.certificate(renkei_card::CertPurpose::Authentication)?;
    let holder = resolve_with_card(
        &net.node(crate::institutions::DIGITAL.key).local,
        |t| Ok(card.sign(renkei_card::CertPurpose::Authentication, &pin, t)?),
        &cert,
        None,
    )
    .await?;
    holder
        .person_proof
        .context("the registry returned no person proof")
}
