//! The card app's side (the "smartphone app", `renkei card approve`):
//! fetch a challenge by the code the page shows, check that it comes from
//! the portal the person meant (the origin is in the signed text), show
//! what is approved, sign with the card and send the signature back.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use renkei_card::{CardSecret, CertPurpose, SoftwareCard, SoftwareCardError};
use renkei_portal::{ChallengeText, MatchValue, ShortCode};

use crate::card_api::{ApproveRequest, Approved, ChallengeWire};

#[derive(Debug, thiserror::Error)]
pub enum CardAppError {
    #[error("the portal cannot be reached: {0}")]
    Http(String),
    #[error("the portal refused: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("the challenge is for {found}, not for {expected}: refusing to sign (phishing?)")]
    OriginMismatch { expected: String, found: String },
    #[error("not a usable challenge: {0}")]
    Malformed(String),
    #[error(
        "this login asks for the two-digit number shown on the screen that is logging in; \
         if you cannot see that screen, do not approve"
    )]
    MatchRequired,
    #[error("{0:?} is not the two-digit number shown on the login screen")]
    BadMatch(String),
    #[error(transparent)]
    Card(#[from] SoftwareCardError),
}

/// A client of one portal.
#[derive(Debug, Clone)]
pub struct CardApp {
    client: reqwest::Client,
    origin: String,
}

fn origin_of(url: &str) -> Result<String, CardAppError> {
    let url = url.trim_end_matches('/');
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| CardAppError::Malformed(format!("{url} is not a URL")))?;
    let host_port = rest.split('/').next().unwrap_or(rest);
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    match scheme {
        "https" => {}
        // Plain HTTP only to this machine, where browsers allow it too.
        "http" if matches!(host, "localhost" | "127.0.0.1" | "[::1]") => {}
        _ => {
            return Err(CardAppError::Malformed(format!(
                "{url}: the portal must be https (http only on localhost)"
            )));
        }
    }
    Ok(format!("{scheme}://{host_port}"))
}

async fn refused(resp: reqwest::Response) -> CardAppError {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    CardAppError::Refused {
        code: body["error"]["code"].as_str().unwrap_or("http_error").to_owned(),
        message: body["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| status.to_string()),
    }
}

impl CardApp {
    /// `ca_pem`: the certificate to trust for an https portal of the
    /// network's own CA (the system roots otherwise).
    pub fn new(portal_url: &str, ca_pem: Option<&[u8]>) -> Result<Self, CardAppError> {
        let origin = origin_of(portal_url)?;
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30));
        if let Some(pem) = ca_pem {
            let cert =
                reqwest::Certificate::from_pem(pem).map_err(|e| CardAppError::Malformed(e.to_string()))?;
            b = b.tls_certs_only([cert]);
        }
        Ok(Self {
            client: b.build().map_err(|e| CardAppError::Http(e.to_string()))?,
            origin,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn url(&self, code: &ShortCode) -> String {
        format!("{}/api/card/v1/challenges/{}", self.origin, code.as_str())
    }

    pub async fn challenge(&self, code: &str) -> Result<ChallengeWire, CardAppError> {
        let code = ShortCode::parse(code)
            .ok_or_else(|| CardAppError::Malformed(format!("{code:?} is not a code like K7PQ-4XR2")))?;
        let resp = self
            .client
            .get(self.url(&code))
            .send()
            .await
            .map_err(|e| CardAppError::Http(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json()
            .await
            .map_err(|e| CardAppError::Malformed(e.to_string()))
    }

    /// The bytes to sign, after checking they are what they claim: the
    /// format, this portal's origin, the code asked for; for a login with
    /// `entered`, the number the person typed from the screen that asked
    /// (the portal refuses a number that is not the one it showed there).
    pub fn to_sign(&self, c: &ChallengeWire, entered: Option<&str>) -> Result<Vec<u8>, CardAppError> {
        let bytes = STANDARD
            .decode(&c.to_be_signed)
            .map_err(|e| CardAppError::Malformed(e.to_string()))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| CardAppError::Malformed(e.to_string()))?;
        let parsed = ChallengeText::parse(text).map_err(|e| CardAppError::Malformed(e.to_string()))?;
        if parsed.origin != self.origin {
            return Err(CardAppError::OriginMismatch {
                expected: self.origin.clone(),
                found: parsed.origin,
            });
        }
        if parsed.code.to_string() != c.code {
            return Err(CardAppError::Malformed(
                "the signed text names another code".into(),
            ));
        }
        if parsed.entered.is_some() {
            return Err(CardAppError::Malformed(
                "the portal sent a number already entered".into(),
            ));
        }
        match (parsed.match_required, entered) {
            (true, None) => Err(CardAppError::MatchRequired),
            (true, Some(m)) => {
                let m = MatchValue::parse(m).ok_or_else(|| CardAppError::BadMatch(m.to_owned()))?;
                let with = parsed
                    .with_match(m)
                    .map_err(|e| CardAppError::Malformed(e.to_string()))?;
                Ok(with.to_bytes())
            }
            (false, Some(_)) => Err(CardAppError::Malformed(
                "a confirmation asks for no number".into(),
            )),
            (false, None) => Ok(bytes),
        }
    }

    /// Send a signature made elsewhere (a card reader, OpenSSL) over the
    /// text [`Self::to_sign`] gave for `entered`.
    pub async fn submit(
        &self,
        code: &str,
        entered: Option<&str>,
        certificate_der: &[u8],
        signature: &[u8],
    ) -> Result<Approved, CardAppError> {
        let code = ShortCode::parse(code)
            .ok_or_else(|| CardAppError::Malformed(format!("{code:?} is not a code")))?;
        let entered = entered
            .map(|m| MatchValue::parse(m).ok_or_else(|| CardAppError::BadMatch(m.to_owned())))
            .transpose()?;
        let resp = self
            .client
            .post(self.url(&code))
            .json(&ApproveRequest {
                certificate: STANDARD.encode(certificate_der),
                signature: STANDARD.encode(signature),
                match_value: entered.map(|m| m.to_string()),
            })
            .send()
            .await
            .map_err(|e| CardAppError::Http(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json()
            .await
            .map_err(|e| CardAppError::Malformed(e.to_string()))
    }

    /// Fetch, check, sign with the card's authentication key, submit;
    /// `entered`: for a login, the number the person read off the screen
    /// that is logging in.
    pub async fn approve(
        &self,
        code: &str,
        entered: Option<&str>,
        card: &SoftwareCard,
        pin: &CardSecret,
    ) -> Result<(ChallengeWire, Approved), CardAppError> {
        let c = self.challenge(code).await?;
        let tbs = self.to_sign(&c, entered)?;
        let cert = card.certificate(CertPurpose::Authentication)?;
        let (card2, pin2) = (card.clone(), pin.clone());
        // Opening the key (PBKDF2) and signing are CPU work.
        let signature =
            tokio::task::spawn_blocking(move || card2.sign(CertPurpose::Authentication, &pin2, &tbs))
                .await
                .map_err(|e| CardAppError::Http(e.to_string()))??;
        let approved = self.submit(code, entered, &cert, &signature).await?;
        Ok((c, approved))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portals_are_https_except_on_this_machine() {
        assert_eq!(
            origin_of("https://portal.example/x").unwrap(),
            "https://portal.example"
        );
        assert_eq!(
            origin_of("http://localhost:8080/").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(origin_of("http://127.0.0.1:1").unwrap(), "http://127.0.0.1:1");
        assert!(origin_of("http://portal.example").is_err());
        assert!(origin_of("portal.example").is_err());
    }
}
