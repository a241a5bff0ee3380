//! The sender's side of private delivery (`renkei sender deposit|feed`,
//! the demo's senders, the benchmarks): sign each document with the
//! sender's key and send them to the portal, a batch at a time.

use std::time::Duration;

use renkei_jose::{Alg, SigningKey};
use renkei_protocol::UnixMillis;
use serde_json::{Map, Value, json};

use crate::deposits::{BatchReport, DepositAnswer, Feed, LineReport, MAX_BATCH_LINES};

#[derive(Debug, thiserror::Error)]
pub enum SenderClientError {
    #[error("the portal cannot be reached: {0}")]
    Http(String),
    #[error("the portal refused ({status}): {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the key file is not a PKCS#8 ES256, EdDSA or PS256 key")]
    Key,
    #[error("{0}")]
    Malformed(String),
}

/// One sender, at one portal, with its signing key.
pub struct SenderClient {
    http: reqwest::Client,
    base: String,
    sender: String,
    key: SigningKey,
}

impl std::fmt::Debug for SenderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderClient")
            .field("base", &self.base)
            .field("sender", &self.sender)
            .field("kid", &self.key.kid())
            .finish_non_exhaustive()
    }
}

/// Load a sender's PKCS#8 key of whichever algorithm it is.
pub fn load_signing_key(der: &[u8]) -> Result<SigningKey, SenderClientError> {
    [Alg::Es256, Alg::EdDsa, Alg::Ps256]
        .into_iter()
        .find_map(|alg| SigningKey::from_pkcs8(alg, der).ok())
        .ok_or(SenderClientError::Key)
}

fn sign(key: &SigningKey, claims: &Value) -> Result<String, SenderClientError> {
    let mut h = Map::new();
    h.insert("typ".into(), renkei_delivery::DEPOSIT_TYP.into());
    key.sign(h, claims)
        .map_err(|e| SenderClientError::Malformed(e.to_string()))
}

/// One line of a sender's file: a deposit of `document` of type `type_id`
/// (`name.vN`) for `handle`, correcting `replaces` if given.
pub fn deposit_line(
    document_id: &str,
    type_id: &str,
    handle: &str,
    document: &Value,
    replaces: Option<&str>,
) -> String {
    let mut line =
        json!({"document_id": document_id, "type": type_id, "handle": handle, "document": document});
    if let Some(r) = replaces {
        line["replaces"] = r.into();
    }
    line.to_string()
}

/// Turn one line of a sender's file into a signed request: a compact JWS
/// as it is, or a JSON object — a deposit `{document_id, type, handle,
/// document, replaces?}` or a void `{kind: "void", document_id, reason}`
/// — signed now.
pub fn sign_line(key: &SigningKey, line: &str, now: UnixMillis) -> Result<String, String> {
    let line = line.trim();
    if line.starts_with("ey") && !line.contains(char::is_whitespace) {
        return Ok(line.to_owned());
    }
    let mut claims: Map<String, Value> = match renkei_protocol::strict_json::from_str(line) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("a line is a JSON object or a compact JWS".into()),
        Err(e) => return Err(format!("not JSON: {e}")),
    };
    claims.entry("kind").or_insert_with(|| "deposit".into());
    claims.entry("issued_at").or_insert_with(|| (now.0 / 1000).into());
    sign(key, &Value::Object(claims)).map_err(|e| e.to_string())
}

impl SenderClient {
    pub fn new(base: &str, sender: &str, key: SigningKey) -> Result<Self, SenderClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .map_err(|e| SenderClientError::Http(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            sender: sender.to_owned(),
            key,
        })
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> Result<(u16, Vec<u8>), SenderClientError> {
        let resp = self
            .http
            .post(format!(
                "{}/delivery/v1/senders/{}/{path}",
                self.base, self.sender
            ))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| SenderClientError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| SenderClientError::Http(e.to_string()))?;
        Ok((status, body.to_vec()))
    }

    fn refused(status: u16, body: &[u8]) -> SenderClientError {
        let body: Value = renkei_protocol::strict_json::from_slice(body).unwrap_or_default();
        SenderClientError::Refused {
            status,
            code: body["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
            message: body["error"]["message"].as_str().unwrap_or("").to_owned(),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SenderClientError> {
        renkei_protocol::strict_json::from_slice(body)
            .map_err(|e| SenderClientError::Malformed(e.to_string()))
    }

    /// Deposit (or void) one document given as a line (see [`sign_line`]).
    pub async fn deposit(&self, line: &str) -> Result<DepositAnswer, SenderClientError> {
        let jws = sign_line(&self.key, line, UnixMillis::now()).map_err(SenderClientError::Malformed)?;
        let (status, body) = self.post("deposits", "application/jose", jws).await?;
        if !(200..300).contains(&status) {
            return Err(Self::refused(status, &body));
        }
        Self::decode(&body)
    }

    /// Send up to [`MAX_BATCH_LINES`] already signed requests in one batch.
    pub async fn batch(&self, signed: &[String], atomic: bool) -> Result<BatchReport, SenderClientError> {
        if signed.len() > MAX_BATCH_LINES {
            return Err(SenderClientError::Malformed(format!(
                "at most {MAX_BATCH_LINES} lines per batch"
            )));
        }
        let path = if atomic {
            "deposits?atomic=true"
        } else {
            "deposits"
        };
        let (status, body) = self.post(path, "application/jsonl", signed.join("\n")).await?;
        if status == 200 || (status == 422 && atomic) {
            // An atomic batch that a line spoilt is answered with its report.
            if let Ok(report) = Self::decode::<BatchReport>(&body) {
                return Ok(report);
            }
        }
        Err(Self::refused(status, &body))
    }

    /// What changed since `since` (ms): links and receipts.
    pub async fn feed(&self, since: i64) -> Result<Feed, SenderClientError> {
        let claims = json!({
            "kind": "feed",
            "issued_at": UnixMillis::now().0 / 1000,
            "since": since,
        });
        let (status, body) = self
            .post("feed", "application/jose", sign(&self.key, &claims)?)
            .await?;
        if status != 200 {
            return Err(Self::refused(status, &body));
        }
        Self::decode(&body)
    }
}

/// A line the client could not even sign, reported like the portal's.
pub fn unsigned_line(line: usize, error: String) -> LineReport {
    LineReport {
        line,
        document_id: None,
        status: "refused".into(),
        version: None,
        code: Some("malformed".into()),
        error: Some(error),
    }
}
