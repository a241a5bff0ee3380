//! The example relying parties of `examples/`, registered and approved
//! through the portal's admin API as a screening officer would, each with
//! its keys in `DIR/clients/<name>/` so that any standard client can run
//! the flow against the demo network.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use renkei_jose::{Alg, DecryptionKey, Jwks, SigningKey};
use renkei_pki::WriteMode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::network::Network;

/// One example client as `demo.json` describes it.
#[derive(Debug, Clone, Serialize)]
pub struct ExampleClient {
    pub name: &'static str,
    pub client_id: String,
    pub redirect_uri: String,
    /// The client's private signing key (PKCS#8 DER, 0600) and its `kid`.
    pub key: PathBuf,
    pub kid: String,
    /// The client's decryption key when it asked for encrypted responses.
    pub encryption_key: Option<PathBuf>,
    /// A ready `authorization_details` for its use case.
    pub authorization_details: Value,
}

struct Spec {
    name: &'static str,
    corporate_number: &'static str,
    name_ja: &'static str,
    name_en: &'static str,
    purpose: &'static str,
    items: &'static [&'static str],
    max_days: u32,
    encrypted: bool,
    details: fn() -> Value,
}

const SPECS: [Spec; 3] = [
    Spec {
        name: "bank",
        corporate_number: "4010001234567",
        name_ja: "れんけい銀行",
        name_en: "Renkei Bank",
        purpose: "住宅ローンの審査のため、前年の所得と世帯を確認します。",
        items: &["resident_tax_income", "household"],
        max_days: 365,
        encrypted: false,
        details: || {
            json!([{"type": "self_information", "items": ["resident_tax_income"], "tax_year": 2025,
                    "purpose": "住宅ローン審査", "data_life": "P90D", "frequency": "one_time"}])
        },
    },
    Spec {
        name: "disability-card",
        corporate_number: "9011101098765",
        name_ja: "ミライロ風 障害者手帳アプリ",
        name_en: "Disability card app",
        purpose: "障害者手帳の情報をスマートフォンに表示し、割引の確認に使います。",
        items: &["disability_certificate"],
        max_days: 366,
        encrypted: false,
        details: || {
            json!([{"type": "self_information", "items": ["disability_certificate"],
                    "purpose": "障害者手帳のデジタル表示", "data_life": "P1Y", "frequency": "periodic",
                    "duration": "P1Y"}])
        },
    },
    Spec {
        name: "phr",
        corporate_number: "4010401055555",
        name_ja: "けんこう記録アプリ",
        name_en: "Health record app",
        purpose: "特定健診の結果を年ごとに並べ、推移を表示します。",
        items: &["health_checkup"],
        max_days: 3650,
        encrypted: true,
        details: || {
            json!([{"type": "self_information", "items": ["health_checkup"],
                    "period": {"from": 2021, "to": 2025},
                    "purpose": "健診結果の推移の表示", "data_life": "P5Y", "frequency": "one_time"}])
        },
    },
];

/// Register and approve the example clients. `redirect_uri(name)` gives
/// each its loopback callback (the examples listen there).
pub async fn register(
    net: &Network,
    dir: &Path,
    redirect_uri: impl Fn(&str) -> String,
) -> Result<Vec<ExampleClient>> {
    let admin = reqwest::Client::builder().no_proxy().build()?;
    let base = net.portal_admin_url();
    let mut out = Vec::new();
    for spec in &SPECS {
        let client_dir = dir.join("clients").join(spec.name);
        renkei_pki::provision::private_dir(&client_dir)?;
        let key = SigningKey::generate(Alg::Es256)?;
        let key_path = client_dir.join("client.key");
        renkei_pki::write_private(&key_path, key.pkcs8(), WriteMode::Replace)?;
        let mut jwks = Jwks {
            keys: vec![key.public_jwk().clone()],
        };
        let mut encryption_key = None;
        if spec.encrypted {
            let enc = DecryptionKey::generate()?;
            let p = client_dir.join("encryption.key");
            renkei_pki::write_private(&p, &enc.to_der()?, WriteMode::Replace)?;
            jwks.keys.push(enc.public_jwk().clone());
            encryption_key = Some(p);
        }
        let jwks_json: Value = serde_json::from_str(&jwks.to_json())?;
        std::fs::write(
            client_dir.join("jwks.json"),
            serde_json::to_string_pretty(&jwks_json)?,
        )?;
        let redirect = redirect_uri(spec.name);
        let application = json!({
            "corporate_number": spec.corporate_number,
            "name": spec.name_ja,
            "name_en": spec.name_en,
            "purpose": spec.purpose,
            "redirect_uris": [redirect],
            "jwks": jwks_json,
            "items": spec.items,
            "max_data_life_days": spec.max_days,
            "contact": format!("api@{}.example", spec.name),
        });
        let resp = admin
            .post(format!("{base}/admin/v1/clients"))
            .bearer_auth(&net.portal_admin_token)
            .json(&application)
            .send()
            .await?;
        if resp.status().as_u16() != 201 {
            bail!("registering the {} example: {}", spec.name, resp.text().await?);
        }
        let created: Value = resp.json().await?;
        let client_id = created["client_id"]
            .as_str()
            .context("the portal returned no client_id")?
            .to_owned();
        let resp = admin
            .post(format!("{base}/admin/v1/clients/{client_id}/approve"))
            .bearer_auth(&net.portal_admin_token)
            .json(&json!({"by": "renkei demo"}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("approving the {} example: {}", spec.name, resp.text().await?);
        }
        let example = ExampleClient {
            name: spec.name,
            client_id,
            redirect_uri: redirect,
            key: key_path,
            kid: key.kid().to_owned(),
            encryption_key,
            authorization_details: (spec.details)(),
        };
        std::fs::write(
            client_dir.join("client.json"),
            serde_json::to_string_pretty(&json!({
                "issuer": net.portal.url,
                "client_id": example.client_id,
                "redirect_uri": example.redirect_uri,
                "key": example.key,
                "kid": example.kid,
                "encryption_key": example.encryption_key,
                "authorization_details": example.authorization_details,
            }))?,
        )?;
        out.push(example);
    }
    Ok(out)
}

/// The loopback callbacks `renkei demo` registers (the examples' defaults).
pub fn demo_redirect_uri(name: &str) -> String {
    let port = match name {
        "bank" => 47001,
        "disability-card" => 47002,
        _ => 47003,
    };
    format!("http://127.0.0.1:{port}/callback")
}
