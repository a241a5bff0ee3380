//! What a card signs for a relying party, as the card's issuer reads it.
//!
//! A relying party (the portal) writes the text a card signs; its first
//! line names the format and every further line is `key: value`. The
//! registry — the card CA, which vouches for a card holder's presence to
//! the network — reads only the fields every such text carries: what the
//! signature is for, a nonce, when it expires, and, for a confirmation of a
//! consent, the grant it confirms. Other lines (the origin, the code, the
//! requesting browser) are the relying party's and are passed over.

use std::collections::BTreeMap;

/// The first line of every text a card signs for renkei.
pub const CHALLENGE_FORMAT: &str = "renkei-card-challenge-v2";

/// The fields of a signed challenge that the registry checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeHeader {
    /// `login` or `confirm`.
    pub purpose: String,
    /// Unique per challenge (base64).
    pub nonce: String,
    /// Unix milliseconds after which the signature approves nothing.
    pub expires_at: i64,
    /// The consent grant a confirmation is for, if any.
    pub grant: Option<String>,
}

/// Why a signed text is not a challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a card challenge: {0}")]
pub struct BadChallenge(pub &'static str);

/// Longest challenge text read (a few hundred bytes in practice).
const MAX_CHALLENGE: usize = 4096;

impl ChallengeHeader {
    /// Read the header of a challenge text: the format line, then
    /// `key: value` lines; `purpose`, `nonce` and `expires` exactly once
    /// each, `grant` at most once. A repeated field is refused rather than
    /// guessed at, so a text cannot say two things.
    pub fn parse(text: &[u8]) -> Result<Self, BadChallenge> {
        if text.len() > MAX_CHALLENGE {
            return Err(BadChallenge("longer than 4096 bytes"));
        }
        let text = std::str::from_utf8(text).map_err(|_| BadChallenge("not UTF-8"))?;
        let mut lines = text.lines();
        if lines.next() != Some(CHALLENGE_FORMAT) {
            return Err(BadChallenge("the first line is not renkei-card-challenge-v2"));
        }
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for line in lines {
            let (k, v) = line
                .split_once(": ")
                .ok_or(BadChallenge("a line is not `key: value`"))?;
            if fields.insert(k, v).is_some() && matches!(k, "purpose" | "nonce" | "expires" | "grant") {
                return Err(BadChallenge("a field appears twice"));
            }
        }
        let purpose = fields.get("purpose").ok_or(BadChallenge("no purpose"))?;
        let nonce = fields.get("nonce").ok_or(BadChallenge("no nonce"))?;
        if nonce.len() < 16 {
            return Err(BadChallenge("the nonce is too short"));
        }
        let expires_at = fields
            .get("expires")
            .ok_or(BadChallenge("no expiry"))?
            .parse::<i64>()
            .map_err(|_| BadChallenge("the expiry is not a number"))?;
        Ok(Self {
            purpose: (*purpose).to_owned(),
            nonce: (*nonce).to_owned(),
            expires_at,
            grant: fields.get("grant").map(|g| (*g).to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "renkei-card-challenge-v2\norigin: https://portal.example\npurpose: confirm\n\
                        code: ABCD-EFGH\nnonce: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
                        expires: 1790000000000\ngrant: grant-1\naction: 同意\n";

    #[test]
    fn the_header_is_read_and_the_rest_passed_over() {
        let h = ChallengeHeader::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(h.purpose, "confirm");
        assert_eq!(h.expires_at, 1_790_000_000_000);
        assert_eq!(h.grant.as_deref(), Some("grant-1"));
    }

    #[test]
    fn what_is_not_a_challenge_is_refused() {
        for bad in [
            GOOD.replace("renkei-card-challenge-v2", "something else"),
            GOOD.replace("purpose: confirm\n", ""),
            GOOD.replace("expires: 1790000000000", "expires: soon"),
            GOOD.replace("nonce: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "nonce: x"),
            format!("{GOOD}purpose: login\n"),
            format!("{GOOD}grant: grant-2\n"),
            format!("{GOOD}no separator\n"),
            "x".repeat(5000),
        ] {
            assert!(ChallengeHeader::parse(bad.as_bytes()).is_err(), "{bad:.60}");
        }
        assert!(ChallengeHeader::parse(&[0xff, 0xfe]).is_err());
    }
}
