//! Card challenges: what the browser shows (a short code and its QR), what
//! the card app fetches and signs, and how an approval reaches exactly the
//! browser that asked.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use renkei_protocol::UnixMillis;

use crate::session::CardHolder;
use crate::{Secret, SecretHash};

/// Letters and digits a person cannot confuse (no 0/O, 1/I/L, 5/S...).
const ALPHABET: &[u8] = b"2346789ABCDEFGHJKMNPQRTUVWXYZ";

/// A short code a person reads off the screen and types or scans: 8
/// characters of [`ALPHABET`], shown as `XXXX-XXXX` (about 39 bits; it is
/// only valid for minutes, for one challenge, and approving needs the card).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortCode(String);

impl ShortCode {
    pub fn random() -> Self {
        let bytes = renkei_ids::random_bytes::<8>();
        // 256 is not a multiple of 29: rejection would be exact; the bias
        // of the modulo (under 4%) is irrelevant for a minutes-long code.
        Self(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect(),
        )
    }

    /// Read a code as a person types it: any case, with or without the
    /// hyphen and spaces.
    pub fn parse(s: &str) -> Option<Self> {
        let clean: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '　'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        (clean.len() == 8 && clean.bytes().all(|b| ALPHABET.contains(&b))).then_some(Self(clean))
    }

    /// The canonical form (no hyphen), as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..4], &self.0[4..])
    }
}

impl fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortCode({self})")
    }
}

/// What a signature approves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Log in to the browser session that asked.
    Login,
    /// Confirm one action of a logged-in session at the moment it commits
    /// (re-authentication); `action` is what the card app shows.
    Confirm { action: String },
}

impl ChallengePurpose {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Confirm { .. } => "confirm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeState {
    Pending,
    /// A card signed it; the browser has not taken the result yet.
    Approved(CardHolder),
    /// Taken by the browser: never again.
    Used,
}

/// One challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub code: ShortCode,
    pub nonce: [u8; 32],
    pub purpose: ChallengePurpose,
    /// Hash of the secret the asking browser holds (a cookie for a login,
    /// the session for a confirmation): only that browser takes the result.
    pub binding: SecretHash,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub state: ChallengeState,
}

/// The first line of every text a card signs for the portal.
pub const CHALLENGE_FORMAT: &str = "renkei-card-challenge-v1";

impl Challenge {
    pub fn new(purpose: ChallengePurpose, binding: &Secret, now: UnixMillis, ttl_ms: i64) -> Self {
        Self {
            code: ShortCode::random(),
            nonce: renkei_ids::random_bytes::<32>(),
            purpose,
            binding: binding.hash(),
            created_at: now,
            expires_at: now.plus_ms(ttl_ms),
            state: ChallengeState::Pending,
        }
    }

    pub fn is_expired(&self, now: UnixMillis) -> bool {
        now.0 > self.expires_at.0
    }

    /// The exact bytes the card signs. Text, so that the card app can show
    /// the person what they approve and where (the origin defeats a
    /// relayed code from a look-alike site), and so that `openssl dgst
    /// -sign` over the same bytes gives an equally valid signature.
    pub fn to_be_signed(&self, origin: &str) -> Vec<u8> {
        let mut s = format!(
            "{CHALLENGE_FORMAT}\norigin: {origin}\npurpose: {}\ncode: {}\nnonce: {}\nexpires: {}\n",
            self.purpose.as_str(),
            self.code,
            STANDARD.encode(self.nonce),
            self.expires_at.0,
        );
        if let ChallengePurpose::Confirm { action } = &self.purpose {
            // One line: the action text cannot forge further fields.
            let one_line: String = action
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            s.push_str(&format!("action: {one_line}\n"));
        }
        s.into_bytes()
    }
}

/// Read back the fields of a text to be signed (for the card app, which
/// shows them and checks the origin before signing).
pub fn parse_to_be_signed(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut lines = text.lines();
    if lines.next()? != CHALLENGE_FORMAT {
        return None;
    }
    lines.map(|l| l.split_once(": ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_codes_are_read_as_people_type_them() {
        for _ in 0..100 {
            let c = ShortCode::random();
            assert_eq!(ShortCode::parse(&c.to_string()), Some(c.clone()));
            assert_eq!(ShortCode::parse(&c.to_string().to_lowercase()), Some(c.clone()));
            assert_eq!(ShortCode::parse(c.as_str()), Some(c));
        }
        for bad in [
            "",
            "ABCD-EFG",
            "ABCD-EFGHJ",
            "ABCD-EF0H",
            "ABCD-EFIH",
            "ABCD_EFGH",
        ] {
            assert_eq!(ShortCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_signed_text_names_origin_purpose_and_action_on_one_line_each() {
        let binding = Secret::random();
        let c = Challenge::new(
            ChallengePurpose::Confirm {
                action: "口座を登録\npurpose: login".into(),
            },
            &binding,
            UnixMillis(1000),
            300_000,
        );
        let text = String::from_utf8(c.to_be_signed("https://portal.example")).unwrap();
        let fields = parse_to_be_signed(&text).unwrap();
        assert_eq!(fields[0], ("origin", "https://portal.example"));
        assert_eq!(fields[1], ("purpose", "confirm"));
        assert_eq!(fields.iter().filter(|(k, _)| *k == "purpose").count(), 1);
        assert_eq!(fields.last().unwrap(), &("action", "口座を登録 purpose: login"));
        assert!(c.to_be_signed("https://a") != c.to_be_signed("https://b"));
        assert!(!c.is_expired(UnixMillis(300_999)));
        assert!(c.is_expired(UnixMillis(301_001)));
        assert_eq!(c.binding, binding.hash());
    }
}
