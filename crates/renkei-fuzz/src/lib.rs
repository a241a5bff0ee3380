//! What the fuzzers feed: one function per family of parsers that take
//! input from outside (the network, files, the browser, a card). Each
//! takes arbitrary bytes and must return without panicking, whatever they
//! are; what a parser accepts must also survive the round trip it claims.
//!
//! The same functions serve the coverage-guided fuzzers (`fuzz/`, run with
//! cargo-fuzz for a bounded time in CI) and this crate's test, which
//! replays every committed corpus file and every input a fuzzer ever
//! crashed on (`fuzz/regressions/`), so a crash found once stays a test.

use std::io::Cursor;
use std::sync::OnceLock;

use renkei_api::net::{HubReplyWire, SignedAnswerWire, SignedForwardWire, SignedRequestWire};

/// A fuzz target: any bytes in, no panic out.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/fuzz_targets/<name>.rs` and the corpus
/// directories call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("wire_envelopes", wire_envelopes),
    ("identifiers", identifiers),
    ("imports", imports),
    ("notes_and_tiles", notes_and_tiles),
    ("jose", jose),
    ("certificates", certificates),
    ("catalog_and_table", catalog_and_table),
    ("card_challenge", card_challenge),
    ("authorization_details", authorization_details),
];

/// The sample catalog and table, parsed once (not per input).
fn sample() -> &'static (renkei_catalog::Catalog, renkei_catalog::PermissionTable) {
    static SAMPLE: OnceLock<(renkei_catalog::Catalog, renkei_catalog::PermissionTable)> = OnceLock::new();
    SAMPLE.get_or_init(renkei_catalog::sample)
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The role-to-role JSON envelopes, decoded and converted to the signed
/// domain messages as a server does with a request body.
pub fn wire_envelopes(data: &[u8]) {
    if let Ok(w) = serde_json::from_slice::<SignedRequestWire>(data) {
        let _ = renkei_protocol::SignedRequest::try_from(&w);
    }
    if let Ok(w) = serde_json::from_slice::<SignedForwardWire>(data) {
        let _ = renkei_protocol::SignedForward::try_from(&w);
    }
    if let Ok(w) = serde_json::from_slice::<SignedAnswerWire>(data) {
        let _ = renkei_protocol::SignedAnswer::try_from(&w);
    }
    if let Ok(w) = serde_json::from_slice::<HubReplyWire>(data) {
        let _ = renkei_protocol::SignedAnswer::try_from(&w.answer);
        let _ = renkei_protocol::SignedReceipt::try_from(&w.receipt);
    }
}

/// Institution codes, My Numbers, corporate numbers, acquisition numbers:
/// what parses prints back as itself.
pub fn identifiers(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(code) = renkei_ids::InstitutionCode::parse(s) {
        assert_eq!(
            renkei_ids::InstitutionCode::parse(&code.to_string()).ok(),
            Some(code),
            "an institution code survives printing"
        );
    }
    if let Ok(n) = renkei_ids::CorporateNumber::parse(s) {
        assert_eq!(n.to_string(), s, "a corporate number prints as given");
    }
    let _ = renkei_ids::MyNumber::parse(s);
    let _ = renkei_ids::AcquisitionNumber::parse(s);
}

/// A node's item imports and enrolment files, CSV and JSON Lines.
pub fn imports(data: &[u8]) {
    let (catalog, _) = sample();
    let kind = renkei_catalog::KindCode::parse("municipality").expect("a kind of the sample catalog");
    for format in [renkei_node::ImportFormat::Csv, renkei_node::ImportFormat::Jsonl] {
        let _ = renkei_node::parse_import(
            format,
            Cursor::new(data),
            catalog,
            &kind,
            renkei_protocol::UnixMillis(1_800_000_000_000),
        );
        let _ = renkei_node::parse_enrolment(format, Cursor::new(data));
    }
}

/// Signed notes, checkpoints, note keys, tile paths and entry bundles: what
/// a witness, an auditor or a log client reads from a log.
pub fn notes_and_tiles(data: &[u8]) {
    let _ = renkei_log::tiles::decode_bundle(data);
    let Some(s) = text(data) else { return };
    if let Ok(note) = renkei_log::Note::parse(s) {
        assert_eq!(
            renkei_log::Note::parse(&note.to_text()).ok().as_ref(),
            Some(&note),
            "a note survives printing"
        );
        let _ = renkei_log::Checkpoint::parse(&note.text);
    }
    let _ = renkei_log::Checkpoint::parse(s);
    let _ = renkei_log::NoteVerifier::parse(s);
    let _ = renkei_log::NoteSigner::parse_private(s);
    let _ = renkei_log::tiles::parse_path(s);
}

/// Compact JWS (request objects, client assertions, DPoP proofs) and JWKs.
pub fn jose(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let _ = renkei_jose::decode_unverified(s);
    let _ = renkei_jose::Jwk::parse(s);
    let _ = renkei_jose::Jwks::parse(s);
}

/// Network certificates as a TLS peer or a message presents them, and
/// card certificates and CRLs as the portal and the card app read them.
pub fn certificates(data: &[u8]) {
    let _ = renkei_pki::PeerCertificate::parse(data);
    let _ = renkei_card::CardCaCertificate::parse(data);
    if let Some(s) = text(data) {
        let _ = renkei_card::CardCaCertificate::from_pem(s);
    }
}

/// The catalog and the permission table, as a hub loads them.
pub fn catalog_and_table(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let _ = renkei_catalog::Catalog::parse(s);
    let _ = renkei_catalog::PermissionTable::parse(s, &sample().0);
}

/// The text a card signs at login, as the card app reads it before
/// showing the person what they approve.
pub fn card_challenge(data: &[u8]) {
    let _ = renkei_card::ChallengeHeader::parse(data);
}

/// A relying party the consent API's checks run against: approved for
/// three items and 365 days.
fn relying_party() -> &'static renkei_consent::ApiClient {
    static CLIENT: OnceLock<renkei_consent::ApiClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let item = |c: &str| renkei_catalog::ItemCode::parse(c).expect("an item of the sample catalog");
        let mut client = renkei_consent::ApiClient::new(
            renkei_consent::ClientId::from_random([7; 16]),
            renkei_consent::ClientApplication {
                corporate_number: renkei_ids::CorporateNumber::parse("4011001098993")
                    .expect("a valid number"),
                name: "fuzz relying party".into(),
                name_en: None,
                purpose: "fuzzing".into(),
                redirect_uris: vec!["https://rp.example/callback".into()],
                keys: renkei_consent::ClientKeys::JwksUri("https://rp.example/jwks".into()),
                auth: renkei_consent::ClientAuth::PrivateKeyJwt,
                items: vec![
                    item("resident_tax_income"),
                    item("public_fund_account"),
                    item("four_facts"),
                ],
                max_data_life_days: 365,
                contact: "security@rp.example".into(),
            },
            renkei_protocol::UnixMillis(0),
        );
        client.status = renkei_consent::ClientStatus::Approved;
        client
    })
}

/// Rich authorization requests (`authorization_details`), as a relying
/// party pushes them, checked against its approval.
pub fn authorization_details(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let _ = renkei_consent::SelfInformation::parse(s, relying_party(), &sample().0);
}
