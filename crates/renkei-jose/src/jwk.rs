//! Public JSON Web Keys (RFC 7517/7518/8037) and thumbprints (RFC 7638).

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jws::Alg;
use crate::{JoseError, b64, sha256_b64, unb64};

/// Members that only a private key has: a JWKS that carries them is refused
/// rather than silently stripped, so a client learns it leaked its key.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A public key, checked: the curve and sizes are ones we verify with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>", into = "Map<String, Value>")]
pub struct Jwk {
    pub key: PublicKey,
    pub kid: Option<String>,
    /// `use`: `sig` or `enc` when given.
    pub usage: Option<String>,
    /// `alg` when given.
    pub alg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// P-256, uncompressed coordinates.
    P256 {
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed25519([u8; 32]),
    /// RSA modulus (at least 2048 bits) and exponent, big-endian.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

fn member<'a>(m: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JoseError> {
    m.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JoseError::Malformed(format!("JWK member {name:?} is missing or not a string")))
}

impl TryFrom<Map<String, Value>> for Jwk {
    type Error = JoseError;

    fn try_from(m: Map<String, Value>) -> Result<Self, JoseError> {
        let private: Vec<&str> = PRIVATE_MEMBERS
            .iter()
            .copied()
            .filter(|k| m.contains_key(*k))
            .collect();
        if !private.is_empty() {
            return Err(JoseError::PrivateMembers(private.join(", ")));
        }
        let key = match member(&m, "kty")? {
            "EC" => {
                let crv = member(&m, "crv")?;
                if crv != "P-256" {
                    return Err(JoseError::UnsupportedKey(format!(
                        "EC curve {crv:?} (only P-256)"
                    )));
                }
                let x = unb64("JWK x", member(&m, "x")?)?;
                let y = unb64("JWK y", member(&m, "y")?)?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(JoseError::Malformed("P-256 coordinates must be 32 bytes".into()));
                }
                PublicKey::P256 { x, y }
            }
            "OKP" => {
                let crv = member(&m, "crv")?;
                if crv != "Ed25519" {
                    return Err(JoseError::UnsupportedKey(format!(
                        "OKP curve {crv:?} (only Ed25519)"
                    )));
                }
                let x = unb64("JWK x", member(&m, "x")?)?;
                PublicKey::Ed25519(
                    x.try_into()
                        .map_err(|_| JoseError::Malformed("an Ed25519 key is 32 bytes".into()))?,
                )
            }
            "RSA" => {
                let n = unb64("JWK n", member(&m, "n")?)?;
                let e = unb64("JWK e", member(&m, "e")?)?;
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if bits < 2048 {
                    return Err(JoseError::UnsupportedKey(format!(
                        "RSA modulus of {bits} bits (at least 2048)"
                    )));
                }
                if e.is_empty() || n.first() == Some(&0) {
                    return Err(JoseError::Malformed(
                        "RSA n and e must be minimal big-endian".into(),
                    ));
                }
                PublicKey::Rsa { n, e }
            }
            other => return Err(JoseError::UnsupportedKey(format!("kty {other:?}"))),
        };
        let opt = |name: &str| -> Result<Option<String>, JoseError> {
            match m.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(JoseError::Malformed(format!(
                    "JWK member {name:?} is not a string"
                ))),
            }
        };
        Ok(Self {
            key,
            kid: opt("kid")?,
            usage: opt("use")?,
            alg: opt("alg")?,
        })
    }
}

impl From<Jwk> for Map<String, Value> {
    fn from(k: Jwk) -> Self {
        let mut m = k.required_members();
        if let Some(kid) = k.kid {
            m.insert("kid".into(), kid.into());
        }
        if let Some(u) = k.usage {
            m.insert("use".into(), u.into());
        }
        if let Some(a) = k.alg {
            m.insert("alg".into(), a.into());
        }
        m
    }
}

impl Jwk {
    pub fn new(key: PublicKey) -> Self {
        Self {
            key,
            kid: None,
            usage: None,
            alg: None,
        }
    }

    /// Parse one JWK from JSON text.
    pub fn parse(json: &str) -> Result<Self, JoseError> {
        serde_json::from_str(json).map_err(|e| JoseError::Malformed(format!("JWK: {e}")))
    }

    /// Parse from a JSON value (e.g. the `jwk` of a DPoP header).
    pub fn from_value(v: &Value) -> Result<Self, JoseError> {
        match v {
            Value::Object(m) => Self::try_from(m.clone()),
            _ => Err(JoseError::Malformed("a JWK must be a JSON object".into())),
        }
    }

    /// The members RFC 7638 hashes, in its order (a `Map` is sorted).
    fn required_members(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match &self.key {
            PublicKey::P256 { x, y } => {
                m.insert("crv".into(), "P-256".into());
                m.insert("kty".into(), "EC".into());
                m.insert("x".into(), b64(x).into());
                m.insert("y".into(), b64(y).into());
            }
            PublicKey::Ed25519(x) => {
                m.insert("crv".into(), "Ed25519".into());
                m.insert("kty".into(), "OKP".into());
                m.insert("x".into(), b64(x).into());
            }
            PublicKey::Rsa { n, e } => {
                m.insert("e".into(), b64(e).into());
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64(n).into());
            }
        }
        m
    }

    /// RFC 7638 SHA-256 thumbprint, base64url (DPoP's `jkt`).
    pub fn thumbprint(&self) -> String {
        // serde_json's Map is a BTreeMap without `preserve_order`: keys come
        // out sorted, as RFC 7638 requires, and without whitespace.
        let json = Value::Object(self.required_members()).to_string();
        sha256_b64(json.as_bytes())
    }

    /// Whether this key can verify `alg` (and its `alg` member, if any, agrees).
    pub fn fits(&self, alg: Alg) -> bool {
        let kind = matches!(
            (&self.key, alg),
            (PublicKey::P256 { .. }, Alg::Es256)
                | (PublicKey::Ed25519(_), Alg::EdDsa)
                | (PublicKey::Rsa { .. }, Alg::Ps256)
        );
        kind && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }

    /// Verify a signature over `input` made with `alg`.
    pub fn verify(&self, alg: Alg, input: &[u8], sig: &[u8]) -> Result<(), JoseError> {
        if !self.fits(alg) {
            return Err(JoseError::KeyMismatch {
                alg: alg.name(),
                why: "the key's type or alg member is another".into(),
            });
        }
        let ok = match &self.key {
            PublicKey::P256 { x, y } => {
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(input, sig)
            }
            PublicKey::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x).verify(input, sig),
            PublicKey::Rsa { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PSS_2048_8192_SHA256, input, sig)
            }
        };
        ok.map_err(|_| JoseError::BadSignature)
    }
}

/// A JSON Web Key Set as a client registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// Parse a JWKS: every key must be a valid public key.
    pub fn parse(json: &str) -> Result<Self, JoseError> {
        let raw: Value =
            serde_json::from_str(json).map_err(|e| JoseError::Malformed(format!("JWKS: {e}")))?;
        let keys = raw
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JoseError::Malformed("a JWKS is an object with a \"keys\" array".into()))?;
        if keys.is_empty() {
            return Err(JoseError::Malformed("the JWKS has no keys".into()));
        }
        let keys = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Jwk::from_value(k).map_err(|e| JoseError::Malformed(format!("JWKS key #{i}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"keys\":[]}".into())
    }

    /// The signing key for a JWS header: by `kid` when given, else the only
    /// key that fits the algorithm.
    pub fn signing_key(&self, kid: Option<&str>, alg: Alg) -> Result<&Jwk, JoseError> {
        let fits = |k: &&Jwk| k.fits(alg) && k.usage.as_deref().is_none_or(|u| u == "sig");
        let mut it = self
            .keys
            .iter()
            .filter(fits)
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid);
        match (it.next(), it.next(), kid) {
            (Some(k), None, _) | (Some(k), Some(_), Some(_)) => Ok(k),
            _ => Err(JoseError::NoMatchingKey {
                kid: kid.map(str::to_owned),
                alg: alg.name(),
            }),
        }
    }

    /// The key to encrypt to: the first P-256 key marked for encryption.
    pub fn encryption_key(&self) -> Option<&Jwk> {
        self.keys
            .iter()
            .find(|k| k.usage.as_deref() == Some("enc") && matches!(k.key, PublicKey::P256 { .. }))
    }
}
