//! C2SP signed notes with Ed25519 keys, and C2SP tlog-cosignature
//! (`cosignature/v1`).
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one line
//! per signature: `— <key name> <base64(key hash ‖ signature)>`. The key
//! hash is the first four bytes of SHA-256(name ‖ "\n" ‖ type ‖ public key),
//! type 0x01 for Ed25519 note signatures and 0x04 for cosignatures.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const ED25519: u8 = 0x01;
const COSIGNATURE_V1: u8 = 0x04;
const DASH: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("no signature by {0} verifies")]
    NotSigned(String),
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub key_hash: [u8; 4],
    /// What follows the key hash: a signature, or a timestamp and one.
    pub bytes: Vec<u8>,
}

impl Signature {
    pub fn to_line(&self) -> String {
        let mut b = self.key_hash.to_vec();
        b.extend_from_slice(&self.bytes);
        format!("{DASH}{} {}\n", self.name, STANDARD.encode(b))
    }

    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line.strip_prefix(DASH).ok_or(NoteError::Malformed(
            "a signature line must start with an em dash",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line needs a name and a signature",
        ))?;
        valid_name(name)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("a signature is too short"));
        }
        let mut key_hash = [0u8; 4];
        key_hash.copy_from_slice(&raw[..4]);
        Ok(Self {
            name: name.to_owned(),
            key_hash,
            bytes: raw[4..].to_vec(),
        })
    }
}

fn valid_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains(['+', ' ', '\n']) || name.chars().any(char::is_control) {
        return Err(NoteError::BadKey(
            "a key name must be non-empty and hold no '+', blank or control character",
        ));
    }
    Ok(())
}

fn key_hash(name: &str, kind: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A signed note: text plus signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<Signature>,
}

impl Note {
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        if s.len() > 1_000_000 {
            return Err(NoteError::Malformed("longer than 1 MB"));
        }
        if s.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed("control characters other than newline"));
        }
        let split = s
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = &s[..split + 1];
        let sigs = &s[split + 2..];
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("the note must end with a newline"));
        }
        let signatures = sigs
            .lines()
            .map(Signature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(NoteError::Malformed("a note needs at least one signature"));
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
        }
        s
    }

    /// The signature by `verifier`'s key that verifies, if any.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<(), NoteError> {
        if self.signatures.iter().any(|s| {
            s.name == verifier.name && s.key_hash == verifier.key_hash && verifier.check(&self.text, &s.bytes)
        }) {
            Ok(())
        } else {
            Err(NoteError::NotSigned(verifier.name.clone()))
        }
    }
}

/// An Ed25519 note signer (the log's key, or a witness's key).
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteSigner({})", self.name)
    }
}

impl NoteSigner {
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        valid_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).expect("the operating system random source failed");
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// `PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 ‖ seed)>`.
    pub fn to_private_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(vec![ED25519]);
        raw.extend_from_slice(&self.key.to_bytes());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex(&self.verifier().key_hash),
            STANDARD.encode(raw.as_slice())
        ))
    }

    pub fn parse_private(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("a private note key starts with PRIVATE+KEY+"))?;
        // Names hold no '+', base64 may: split from the left.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hash), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected PRIVATE+KEY+<name>+<hash>+<key>"));
        };
        valid_name(name)?;
        let raw = Zeroizing::new(
            STANDARD
                .decode(b64)
                .map_err(|_| NoteError::BadKey("key is not base64"))?,
        );
        if raw.len() != 33 || raw[0] != ED25519 {
            return Err(NoteError::BadKey("only Ed25519 note keys are supported"));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&raw[1..]);
        let signer = Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        };
        // As Go's note.NewSigner: a key file whose name or hash was altered
        // would sign under an identity no verifier expects.
        if hash != hex(&signer.verifier().key_hash) {
            return Err(NoteError::BadKey("the key hash does not match the key"));
        }
        Ok(signer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::new(&self.name, self.key.verifying_key().to_bytes(), false)
    }

    pub fn sign(&self, text: &str) -> Signature {
        Signature {
            name: self.name.clone(),
            key_hash: key_hash(&self.name, ED25519, &self.key.verifying_key().to_bytes()),
            bytes: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }

    /// A C2SP `cosignature/v1` over a checkpoint's text at `timestamp`
    /// (Unix seconds): what a witness returns.
    pub fn cosign(&self, checkpoint_text: &str, timestamp: u64) -> Signature {
        let msg = cosigned_message(checkpoint_text, timestamp);
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.key.sign(msg.as_bytes()).to_bytes());
        Signature {
            name: self.name.clone(),
            key_hash: key_hash(&self.name, COSIGNATURE_V1, &self.key.verifying_key().to_bytes()),
            bytes,
        }
    }

    /// The verifier of this key's cosignatures.
    pub fn cosignature_verifier(&self) -> NoteVerifier {
        NoteVerifier::new(&self.name, self.key.verifying_key().to_bytes(), true)
    }
}

fn cosigned_message(checkpoint_text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A cosignature with the time it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub name: String,
    pub timestamp: u64,
}

/// A note verifier key: `<name>+<hex key hash>+<base64(type ‖ public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_hash: [u8; 4],
    key: [u8; 32],
    cosignature: bool,
}

impl NoteVerifier {
    fn new(name: &str, key: [u8; 32], cosignature: bool) -> Self {
        let kind = if cosignature { COSIGNATURE_V1 } else { ED25519 };
        Self {
            name: name.to_owned(),
            key_hash: key_hash(name, kind, &key),
            key,
            cosignature,
        }
    }

    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected <name>+<hash>+<key>"));
        };
        valid_name(name)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        if raw.len() != 33 || !(raw[0] == ED25519 || raw[0] == COSIGNATURE_V1) {
            return Err(NoteError::BadKey(
                "only Ed25519 (0x01) and cosignature/v1 (0x04) keys are supported",
            ));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&raw[1..]);
        let v = Self::new(name, key, raw[0] == COSIGNATURE_V1);
        if hex(&v.key_hash) != hash {
            return Err(NoteError::BadKey("the key hash does not match the key"));
        }
        VerifyingKey::from_bytes(&key).map_err(|_| NoteError::BadKey("not an Ed25519 public key"))?;
        Ok(v)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_cosignature(&self) -> bool {
        self.cosignature
    }

    fn check(&self, text: &str, bytes: &[u8]) -> bool {
        let Ok(vk) = VerifyingKey::from_bytes(&self.key) else {
            return false;
        };
        if self.cosignature {
            if bytes.len() != 72 {
                return false;
            }
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&bytes[..8]);
            let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes[8..]) else {
                return false;
            };
            vk.verify_strict(cosigned_message(text, u64::from_be_bytes(ts)).as_bytes(), &sig)
                .is_ok()
        } else {
            let Ok(sig) = ed25519_dalek::Signature::from_slice(bytes) else {
                return false;
            };
            vk.verify_strict(text.as_bytes(), &sig).is_ok()
        }
    }

    /// The verified cosignature by this key on `note`, with its time.
    pub fn cosignature(&self, note: &Note) -> Option<Cosignature> {
        if !self.cosignature {
            return None;
        }
        note.signatures
            .iter()
            .find(|s| s.name == self.name && s.key_hash == self.key_hash && self.check(&note.text, &s.bytes))
            .map(|s| {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&s.bytes[..8]);
                Cosignature {
                    name: self.name.clone(),
                    timestamp: u64::from_be_bytes(ts),
                }
            })
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![if self.cosignature { COSIGNATURE_V1 } else { ED25519 }];
        raw.extend_from_slice(&self.key);
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex(&self.key_hash),
            STANDARD.encode(raw)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify_and_tamper() {
        let log = NoteSigner::generate("renkei.example/log").unwrap();
        let text = "renkei.example/log\n3\nAAAA\n";
        let note = Note {
            text: text.into(),
            signatures: vec![log.sign(text)],
        };
        let encoded = note.to_text();
        let parsed = Note::parse(&encoded).unwrap();
        assert_eq!(parsed, note);
        let v = NoteVerifier::parse(&log.verifier().to_string()).unwrap();
        parsed.verify(&v).unwrap();
        let tampered = Note::parse(&encoded.replace("\n3\n", "\n4\n")).unwrap();
        assert!(tampered.verify(&v).is_err());
        let other = NoteSigner::generate("renkei.example/log").unwrap();
        assert!(parsed.verify(&other.verifier()).is_err());
        let back = NoteSigner::parse_private(&log.to_private_text()).unwrap();
        assert_eq!(back.verifier(), log.verifier());
        assert!(Note::parse("no blank line\n— x AAAA\n").is_err());
        assert!(NoteVerifier::parse("a+00000000+AAAA").is_err());
    }

    // The test vectors of Go's golang.org/x/mod/sumdb/note (note_test.go):
    // Go's keys, text and signatures, so a note renkei signs or reads is
    // one Go's reference implementation signs or reads the same way.
    const GO_PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
    const GO_ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";

    #[test]
    fn signs_and_reads_gos_sumdb_note_vectors() {
        // Go's private key gives Go's public key and Go's signature.
        let peter = NoteSigner::parse_private(GO_PETER_SKEY).unwrap();
        assert_eq!(peter.name(), "PeterNeumann");
        assert_eq!(peter.verifier().to_string(), GO_PETER_VKEY);
        assert_eq!(peter.sign(GO_TEXT).to_line(), format!("{GO_PETER_SIG}\n"));
        // Go's manglings of the private key are refused (each byte changed).
        for i in 0..GO_PETER_SKEY.len() {
            let mut b = GO_PETER_SKEY.as_bytes().to_vec();
            b[i] = b[i].wrapping_add(1);
            if let Ok(s) = String::from_utf8(b) {
                assert!(NoteSigner::parse_private(&s).is_err(), "accepted: {s}");
            }
        }
        let signed = Note {
            text: GO_TEXT.into(),
            signatures: vec![peter.sign(GO_TEXT)],
        };
        assert_eq!(signed.to_text(), format!("{GO_TEXT}\n{GO_PETER_SIG}\n"));

        // Go's two-signature note verifies under each of Go's keys.
        let both = Note::parse(&format!("{GO_TEXT}\n{GO_PETER_SIG}\n{GO_ENOCH_SIG}\n")).unwrap();
        assert_eq!(both.text, GO_TEXT);
        both.verify(&NoteVerifier::parse(GO_PETER_VKEY).unwrap()).unwrap();
        both.verify(&NoteVerifier::parse(GO_ENOCH_VKEY).unwrap()).unwrap();

        // A byte inserted into the signature fails, as in Go's TestOpen.
        let bad = format!("{GO_TEXT}\n{}ABCD{}\n", &GO_PETER_SIG[..60], &GO_PETER_SIG[60..]);
        let refused = Note::parse(&bad).map(|n| n.verify(&NoteVerifier::parse(GO_PETER_VKEY).unwrap()));
        assert!(!matches!(refused, Ok(Ok(()))), "{refused:?}");

        // Go's malformed notes are refused.
        for msg in [
            GO_TEXT.to_owned(),
            format!("{GO_TEXT}\n"),
            format!("{GO_TEXT}\n{GO_PETER_SIG}"),
            format!("\u{1}{GO_TEXT}\n{GO_PETER_SIG}\n"),
            format!(
                "{GO_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{GO_TEXT}\n{GO_PETER_SIG}\nUnexpected line.\n"),
        ] {
            assert!(Note::parse(&msg).is_err(), "accepted: {msg:?}");
        }

        // Go's manglings of the public key are refused: a changed byte, a
        // key of the wrong length, an unknown algorithm.
        let mut mangled = 0;
        for i in 0..GO_PETER_VKEY.len() {
            let mut b = GO_PETER_VKEY.as_bytes().to_vec();
            b[i] = b[i].wrapping_add(1);
            if let Ok(s) = String::from_utf8(b) {
                assert!(NoteVerifier::parse(&s).is_err(), "accepted: {s}");
                mangled += 1;
            }
        }
        assert!(mangled > 60);
        assert!(
            NoteVerifier::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
                .is_err()
        );
        assert!(
            NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .is_err()
        );
    }

    #[test]
    fn cosignatures_carry_their_time() {
        let log = NoteSigner::generate("log").unwrap();
        let witness = NoteSigner::generate("witness.example").unwrap();
        let text = "log\n1\nAAAA\n";
        let mut note = Note {
            text: text.into(),
            signatures: vec![log.sign(text)],
        };
        note.signatures.push(witness.cosign(text, 1_790_000_000));
        let v = NoteVerifier::parse(&witness.cosignature_verifier().to_string()).unwrap();
        assert!(v.is_cosignature());
        assert_eq!(v.cosignature(&note).unwrap().timestamp, 1_790_000_000);
        // A cosignature is not a plain note signature and vice versa.
        assert!(note.verify(&witness.verifier()).is_err());
        let mut forged = note.clone();
        forged.signatures[1].bytes[3] ^= 1; // timestamp changed
        assert!(v.cosignature(&forged).is_none());
    }
}
