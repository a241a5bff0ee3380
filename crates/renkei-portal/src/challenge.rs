//! Card challenges: what the browser shows (a short code and its QR), what
//! the card app fetches and signs, and how an approval reaches exactly the
//! browser that asked.

use std::fmt;
use std::net::IpAddr;

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

/// A two-digit number the login page shows its own browser, which the
/// person enters on the card app. The card signs the number entered, so a
/// card app that was handed someone else's code (a relayed, phished one)
/// signs a number that does not match, and the portal refuses it. Two
/// digits: short to read and type, never a PIN (four), and a blind guess
/// is right once in a hundred — and a wrong one ends the login.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatchValue([u8; 2]);

impl MatchValue {
    pub fn random() -> Self {
        // 256 is not a multiple of 10 either; a bias of 0.4 % does not matter.
        let b = renkei_ids::random_bytes::<2>();
        Self([b'0' + b[0] % 10, b'0' + b[1] % 10])
    }

    /// Read what a person typed: two digits (ASCII or full-width, as a
    /// Japanese input method may give them), spaces around ignored.
    pub fn parse(s: &str) -> Option<Self> {
        let digits: Vec<u8> = s
            .trim_matches(|c: char| c.is_whitespace())
            .chars()
            .map(|c| match c {
                '0'..='9' => Some(c as u8),
                '０'..='９' => Some(b'0' + (c as u32 - '０' as u32) as u8),
                _ => None,
            })
            .collect::<Option<_>>()?;
        match digits[..] {
            [a, b] => Some(Self([a, b])),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Two ASCII digits by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for MatchValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MatchValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MatchValue({})", self.as_str())
    }
}

/// What a signature approves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Log in to the browser session that asked.
    Login,
    /// Confirm one action of a logged-in session at the moment it commits
    /// (re-authentication); `action` is what the card app shows. `grant`
    /// names the consent the action gives (a consent to a private service,
    /// an appointment of a proxy), for which the card's confirmation also
    /// yields a person proof.
    Confirm { action: String, grant: Option<String> },
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
    /// A card signed it with another number than the page showed (a
    /// relayed code): ended, never approved.
    Refused,
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
    /// The asking browser's address, as the portal saw it.
    pub browser: IpAddr,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    /// For a login: the number the page shows, which the card must sign.
    pub match_value: Option<MatchValue>,
    pub state: ChallengeState,
}

/// The first line of every text a card signs for the portal.
pub use renkei_card::CHALLENGE_FORMAT;

impl Challenge {
    /// A challenge for the browser at `browser` holding `binding`; a login
    /// gets a fresh [`MatchValue`].
    pub fn new(
        purpose: ChallengePurpose,
        binding: &Secret,
        browser: IpAddr,
        now: UnixMillis,
        ttl_ms: i64,
    ) -> Self {
        let match_value = (purpose == ChallengePurpose::Login).then(MatchValue::random);
        Self {
            code: ShortCode::random(),
            nonce: renkei_ids::random_bytes::<32>(),
            purpose,
            binding: binding.hash(),
            browser,
            created_at: now,
            expires_at: now.plus_ms(ttl_ms),
            match_value,
            state: ChallengeState::Pending,
        }
    }

    pub fn is_expired(&self, now: UnixMillis) -> bool {
        now.0 > self.expires_at.0
    }

    /// The text of this challenge at `origin`, with no number entered yet:
    /// what the card app is shown (and for a confirmation, what it signs).
    pub fn text(&self, origin: &str) -> ChallengeText {
        ChallengeText {
            origin: origin.to_owned(),
            purpose: self.purpose.as_str().to_owned(),
            code: self.code.clone(),
            nonce: self.nonce,
            expires: self.expires_at,
            browser: self.browser,
            requested: self.created_at,
            match_required: self.match_value.is_some(),
            entered: None,
            action: match &self.purpose {
                ChallengePurpose::Confirm { action, .. } => Some(one_line(action)),
                ChallengePurpose::Login => None,
            },
            grant: match &self.purpose {
                ChallengePurpose::Confirm { grant, .. } => grant.as_deref().map(one_line),
                ChallengePurpose::Login => None,
            },
        }
    }

    /// The exact bytes a card signs for this challenge at `origin`, with
    /// `entered` — the number the person typed on the card app — for a
    /// login (`None` for a confirmation). See [`ChallengeText`].
    pub fn to_be_signed(&self, origin: &str, entered: Option<MatchValue>) -> Vec<u8> {
        let mut t = self.text(origin);
        t.entered = entered;
        t.to_bytes()
    }

    /// Whether `entered` is the number this challenge's page showed (a
    /// confirmation has none, and takes none).
    pub fn matches(&self, entered: Option<MatchValue>) -> bool {
        self.match_value == entered
    }
}

/// A text without control characters: it cannot forge further lines.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The canonical text a card signs for the portal (format
/// [`CHALLENGE_FORMAT`]): UTF-8, one `key: value` line each, in this
/// order, every line ending in `\n`, nothing else:
///
/// ```text
/// renkei-card-challenge-v2
/// origin: <scheme://host[:port] of the portal>
/// purpose: login | confirm
/// code: <XXXX-XXXX>
/// nonce: <32 bytes, standard base64 with padding>
/// expires: <expiry, Unix milliseconds>
/// browser: <the asking browser's IP address as the portal saw it>
/// requested: <when it asked, Unix milliseconds>
/// match: <the two digits the person entered>       (login only)
/// action: <what is confirmed, on one line>          (confirm only)
/// grant: <the consent the confirmation gives>       (confirm, if any)
/// ```
///
/// Text, so that the card app can show the person what they approve, for
/// whom and where (the origin defeats a code relayed from a look-alike
/// site; the browser's address and time, and the number the person must
/// read off their own screen, defeat a code relayed to them), and so that
/// `openssl dgst -sign` over the same bytes gives an equally valid
/// signature. [`Challenge::to_be_signed`] on the portal and
/// [`ChallengeText::parse`] → [`ChallengeText::with_match`] →
/// [`ChallengeText::to_bytes`] on the card app write the same bytes; the
/// signed text can be checked later by anyone with the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeText {
    pub origin: String,
    pub purpose: String,
    pub code: ShortCode,
    pub nonce: [u8; 32],
    pub expires: UnixMillis,
    pub browser: IpAddr,
    pub requested: UnixMillis,
    /// A login: the card app must enter the number (the text it is served
    /// has none yet).
    pub match_required: bool,
    /// The number the person entered.
    pub entered: Option<MatchValue>,
    pub action: Option<String>,
    /// The consent a confirmation gives (a grant id, a proxy appointment).
    pub grant: Option<String>,
}

/// A text that is not a challenge of [`CHALLENGE_FORMAT`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeTextError {
    #[error("not a {CHALLENGE_FORMAT} challenge")]
    Format,
    #[error("line {line}: expected `{expected}: …`")]
    Field { line: usize, expected: &'static str },
    #[error("{field}: {reason}")]
    Value {
        field: &'static str,
        reason: &'static str,
    },
    #[error("a number is entered only for a login")]
    MatchNotAsked,
}

impl ChallengeText {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!(
            "{CHALLENGE_FORMAT}\norigin: {}\npurpose: {}\ncode: {}\nnonce: {}\nexpires: {}\nbrowser: {}\nrequested: {}\n",
            one_line(&self.origin),
            self.purpose,
            self.code,
            STANDARD.encode(self.nonce),
            self.expires.0,
            self.browser,
            self.requested.0,
        );
        if let Some(m) = &self.entered {
            s.push_str(&format!("match: {m}\n"));
        }
        if let Some(action) = &self.action {
            s.push_str(&format!("action: {}\n", one_line(action)));
        }
        if let Some(grant) = &self.grant {
            s.push_str(&format!("grant: {}\n", one_line(grant)));
        }
        s.into_bytes()
    }

    /// The text with the number the person entered (a login only).
    pub fn with_match(mut self, entered: MatchValue) -> Result<Self, ChallengeTextError> {
        if !self.match_required {
            return Err(ChallengeTextError::MatchNotAsked);
        }
        self.entered = Some(entered);
        Ok(self)
    }

    /// Read a text exactly as [`Self::to_bytes`] writes it (anything else
    /// is refused, so that parsing and writing again gives the same bytes).
    /// A login's text without a `match` line is one still to be entered.
    pub fn parse(text: &str) -> Result<Self, ChallengeTextError> {
        let body = text.strip_suffix('\n').ok_or(ChallengeTextError::Format)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.first() != Some(&CHALLENGE_FORMAT) {
            return Err(ChallengeTextError::Format);
        }
        let mut next = 1;
        let mut field = |expected: &'static str| -> Result<&str, ChallengeTextError> {
            let line = lines.get(next).ok_or(ChallengeTextError::Field {
                line: next + 1,
                expected,
            })?;
            next += 1;
            line.strip_prefix(expected)
                .and_then(|r| r.strip_prefix(": "))
                .ok_or(ChallengeTextError::Field { line: next, expected })
        };
        let bad = |field: &'static str, reason: &'static str| ChallengeTextError::Value { field, reason };
        let millis = |name: &'static str, v: &str| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && n.to_string() == v)
                .map(UnixMillis)
                .ok_or(bad(name, "not Unix milliseconds"))
        };
        let origin = field("origin")?.to_owned();
        let purpose = field("purpose")?.to_owned();
        if purpose != "login" && purpose != "confirm" {
            return Err(bad("purpose", "neither login nor confirm"));
        }
        let code_text = field("code")?;
        let code = ShortCode::parse(code_text)
            .filter(|c| c.to_string() == code_text)
            .ok_or(bad("code", "not a code like K7PQ-4XR2"))?;
        let nonce_text = field("nonce")?;
        let nonce: [u8; 32] = STANDARD
            .decode(nonce_text)
            .ok()
            .and_then(|v| v.try_into().ok())
            .filter(|n: &[u8; 32]| STANDARD.encode(n) == nonce_text)
            .ok_or(bad("nonce", "not 32 bytes of base64"))?;
        let expires = millis("expires", field("expires")?)?;
        let browser_text = field("browser")?;
        let browser: IpAddr = browser_text
            .parse()
            .ok()
            .filter(|a: &IpAddr| a.to_string() == browser_text)
            .ok_or(bad("browser", "not an IP address"))?;
        let requested = millis("requested", field("requested")?)?;
        let match_required = purpose == "login";
        let mut entered = None;
        let mut action = None;
        let mut grant = None;
        if match_required {
            if lines.len() > 8 {
                let m = field("match")?;
                entered = Some(
                    MatchValue::parse(m)
                        .filter(|v| v.as_str() == m)
                        .ok_or(bad("match", "not two digits"))?,
                );
            }
        } else {
            let a = field("action")?;
            if one_line(a) != a {
                return Err(bad("action", "a control character"));
            }
            action = Some(a.to_owned());
            if lines.len() > 9 {
                let g = field("grant")?;
                if g.is_empty() || one_line(g) != g {
                    return Err(bad("grant", "empty or a control character"));
                }
                grant = Some(g.to_owned());
            }
        }
        // The header and seven fields, then `match`, or `action` and `grant`.
        let read = if match_required {
            8 + usize::from(entered.is_some())
        } else {
            9 + usize::from(grant.is_some())
        };
        if lines.len() != read {
            return Err(ChallengeTextError::Field {
                line: read + 1,
                expected: "(the end)",
            });
        }
        Ok(Self {
            origin,
            purpose,
            code,
            nonce,
            expires,
            browser,
            requested,
            match_required,
            entered,
            action,
            grant,
        })
    }
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

    const ORIGIN: &str = "https://portal.example";

    fn browser() -> IpAddr {
        "203.0.113.7".parse().unwrap()
    }

    #[test]
    fn the_signed_text_names_origin_purpose_browser_and_action_on_one_line_each() {
        let binding = Secret::random();
        let c = Challenge::new(
            ChallengePurpose::Confirm {
                action: "口座を登録\npurpose: login".into(),
                grant: None,
            },
            &binding,
            browser(),
            UnixMillis(1000),
            300_000,
        );
        assert_eq!(c.match_value, None, "a confirmation has no number");
        let text = String::from_utf8(c.to_be_signed(ORIGIN, None)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CHALLENGE_FORMAT);
        assert_eq!(lines[1], "origin: https://portal.example");
        assert_eq!(lines[2], "purpose: confirm");
        assert_eq!(lines[3], format!("code: {}", c.code));
        assert_eq!(lines[5], "expires: 301000");
        assert_eq!(lines[6], "browser: 203.0.113.7");
        assert_eq!(lines[7], "requested: 1000");
        assert_eq!(lines[8], "action: 口座を登録 purpose: login");
        assert_eq!(lines.len(), 9);
        assert_eq!(
            text.matches("purpose: ").count(),
            2,
            "one purpose line, and the action's text"
        );
        assert!(c.to_be_signed("https://a", None) != c.to_be_signed("https://b", None));
        assert!(!c.is_expired(UnixMillis(300_999)));
        assert!(c.is_expired(UnixMillis(301_001)));
        assert_eq!(c.binding, binding.hash());
        // The card app reads it back to the same bytes.
        let parsed = ChallengeText::parse(&text).unwrap();
        assert_eq!(parsed, c.text(ORIGIN));
        assert_eq!(parsed.to_bytes(), text.as_bytes());
        assert_eq!(
            parsed.with_match(MatchValue::random()),
            Err(ChallengeTextError::MatchNotAsked)
        );
    }

    #[test]
    fn a_login_is_signed_with_the_number_entered_and_reads_back_exactly() {
        let c = Challenge::new(
            ChallengePurpose::Login,
            &Secret::random(),
            "2001:db8::1".parse().unwrap(),
            UnixMillis(5),
            60_000,
        );
        let shown = c.match_value.expect("a login shows a number");
        // What the card app is served: no number yet.
        let served = c.text(ORIGIN).to_bytes();
        let served = String::from_utf8(served).unwrap();
        assert!(!served.contains("match:"), "{served}");
        assert!(served.contains("browser: 2001:db8::1\n"), "{served}");
        let template = ChallengeText::parse(&served).unwrap();
        assert!(template.match_required);
        // The card app adds what the person typed; it is what the portal
        // verifies against.
        let signed = template.clone().with_match(shown).unwrap().to_bytes();
        assert_eq!(signed, c.to_be_signed(ORIGIN, Some(shown)));
        let text = String::from_utf8(signed.clone()).unwrap();
        assert!(
            text.ends_with(&format!("requested: 5\nmatch: {shown}\n")),
            "{text}"
        );
        assert_eq!(ChallengeText::parse(&text).unwrap().to_bytes(), signed);
        assert!(c.matches(Some(shown)));
        let other = MatchValue::parse(&format!(
            "{:02}",
            (shown.as_str().parse::<u8>().unwrap() + 1) % 100
        ))
        .unwrap();
        assert!(!c.matches(Some(other)));
        assert!(!c.matches(None));
        assert_ne!(c.to_be_signed(ORIGIN, Some(other)), signed);
    }

    #[test]
    fn only_the_canonical_text_parses() {
        let c = Challenge::new(
            ChallengePurpose::Login,
            &Secret::random(),
            browser(),
            UnixMillis(5),
            60_000,
        );
        let good = String::from_utf8(c.to_be_signed(ORIGIN, c.match_value)).unwrap();
        assert!(ChallengeText::parse(&good).is_ok());
        let swap = |from: &str, to: &str| good.replacen(from, to, 1);
        let nonce = STANDARD.encode(c.nonce);
        for bad in [
            good.trim_end().to_owned(),
            good.replace('\n', "\r\n"),
            swap("renkei-card-challenge-v2", "renkei-card-challenge-v1"),
            swap("purpose: login", "purpose: Login"),
            swap("purpose: login\n", "purpose: login\npurpose: login\n"),
            swap(
                &format!("code: {}", c.code),
                &format!("code: {}", c.code.as_str()),
            ),
            swap(&nonce, nonce.trim_end_matches('=')),
            swap("expires: 60005", "expires: 060005"),
            swap("expires: 60005", "expires: -1"),
            swap("browser: 203.0.113.7", "browser: 203.000.113.7"),
            swap("browser: 203.0.113.7", "browser: host.example"),
            swap("requested: 5\n", "requested: 5\nrequested: 5\n"),
            swap("match: ", "match:  "),
            format!("{good}action: x\n"),
            format!("{good}\n"),
            String::new(),
        ] {
            assert!(ChallengeText::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn match_values_are_two_digits_as_people_type_them() {
        for _ in 0..200 {
            let m = MatchValue::random();
            assert_eq!(m.as_str().len(), 2);
            assert!(m.as_str().bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(MatchValue::parse(m.as_str()), Some(m));
        }
        assert_eq!(
            MatchValue::parse(" ４２ ").map(|m| m.to_string()),
            Some("42".into())
        );
        assert_eq!(MatchValue::parse("07").map(|m| m.to_string()), Some("07".into()));
        for bad in ["", "7", "123", "1234", "4 2", "4a", "-1", "٤٢"] {
            assert_eq!(MatchValue::parse(bad), None, "{bad:?}");
        }
    }
}
