//! Compact JWS (RFC 7515) with the three algorithms FAPI 2.0 permits.

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::jwk::{Jwk, PublicKey};
use crate::{JoseError, b64, unb64};

/// The signature algorithms FAPI 2.0 allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Es256,
    EdDsa,
    Ps256,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::Es256, Alg::EdDsa, Alg::Ps256];

    pub fn parse(s: &str) -> Result<Self, JoseError> {
        match s {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "PS256" => Ok(Self::Ps256),
            other => Err(JoseError::AlgorithmNotAllowed(other.to_owned())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Ps256 => "PS256",
        }
    }
}

/// A JWS protected header, parsed; `raw` keeps every member.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub alg: Alg,
    pub typ: Option<String>,
    pub kid: Option<String>,
    pub raw: Map<String, Value>,
}

impl Header {
    /// The embedded public key (`jwk`, as DPoP proofs carry).
    pub fn jwk(&self) -> Result<Option<Jwk>, JoseError> {
        self.raw.get("jwk").map(Jwk::from_value).transpose()
    }
}

/// A JWS whose signature checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub header: Header,
    pub claims: Map<String, Value>,
}

/// The parts of a compact JWS, not yet verified.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub header: Header,
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl Unverified<'_> {
    pub fn verify_with(self, key: &Jwk) -> Result<Verified, JoseError> {
        key.verify(self.header.alg, self.signing_input.as_bytes(), &self.signature)?;
        Ok(Verified {
            header: self.header,
            claims: self.claims,
        })
    }
}

/// Split and parse a compact JWS whose payload is a JSON object, refusing
/// disallowed algorithms and critical extensions before any key is chosen.
pub fn decode_unverified(token: &str) -> Result<Unverified<'_>, JoseError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JoseError::Malformed(
            "a compact JWS has three dot-separated parts".into(),
        ));
    };
    let raw: Map<String, Value> = serde_json::from_slice(&unb64("JWS header", h)?)
        .map_err(|e| JoseError::Malformed(format!("JWS header is not a JSON object: {e}")))?;
    let alg = raw
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| JoseError::Malformed("JWS header has no alg".into()))?;
    let alg = Alg::parse(alg)?;
    if raw.contains_key("crit") {
        return Err(JoseError::Malformed(
            "critical header extensions are not supported".into(),
        ));
    }
    let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
    let header = Header {
        alg,
        typ: text("typ"),
        kid: text("kid"),
        raw: raw.clone(),
    };
    let claims: Map<String, Value> = serde_json::from_slice(&unb64("JWS payload", p)?)
        .map_err(|e| JoseError::Malformed(format!("JWS payload is not a JSON object: {e}")))?;
    let signature = unb64("JWS signature", s)?;
    Ok(Unverified {
        header,
        claims,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature,
    })
}

/// Verify a compact JWS with a known key.
pub fn verify(token: &str, key: &Jwk) -> Result<Verified, JoseError> {
    decode_unverified(token)?.verify_with(key)
}

enum Inner {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Ps256(RsaKeyPair),
}

/// A private signing key: the portal's, or a client's in tests and the
/// example relying parties.
pub struct SigningKey {
    inner: Inner,
    pkcs8: Zeroizing<Vec<u8>>,
    kid: String,
    public: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate(alg: Alg) -> Result<Self, JoseError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der: Vec<u8> = match alg {
            Alg::Es256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| JoseError::Crypto("P-256 key generation"))?
                .as_ref()
                .to_vec(),
            Alg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| JoseError::Crypto("Ed25519 key generation"))?
                .as_ref()
                .to_vec(),
            Alg::Ps256 => {
                use aws_lc_rs::encoding::AsDer as _;
                let kp = RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| JoseError::Crypto("RSA key generation"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                    kp.as_der().map_err(|_| JoseError::Crypto("RSA key encoding"))?;
                der.as_ref().to_vec()
            }
        };
        Self::from_pkcs8(alg, &der)
    }

    /// Load an unencrypted PKCS#8 key; the `kid` is the key's thumbprint.
    pub fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<Self, JoseError> {
        let bad = |_| JoseError::KeyMismatch {
            alg: alg.name(),
            why: "the PKCS#8 key is not of this algorithm".into(),
        };
        let inner = match alg {
            Alg::Es256 => Inner::Es256(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(bad)?,
            ),
            Alg::EdDsa => Inner::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(bad)?),
            Alg::Ps256 => Inner::Ps256(RsaKeyPair::from_pkcs8(der).map_err(bad)?),
        };
        let mut public = public_jwk(&inner)?;
        let kid = public.thumbprint();
        public.kid = Some(kid.clone());
        public.usage = Some("sig".into());
        public.alg = Some(alg.name().into());
        Ok(Self {
            inner,
            pkcs8: Zeroizing::new(der.to_vec()),
            kid,
            public,
        })
    }

    pub fn alg(&self) -> Alg {
        match self.inner {
            Inner::Es256(_) => Alg::Es256,
            Inner::Ed25519(_) => Alg::EdDsa,
            Inner::Ps256(_) => Alg::Ps256,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKCS#8 DER, for a 0600 key file.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key with `kid`, `use: sig` and `alg`.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// Sign raw bytes.
    pub fn sign_bytes(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ok(match &self.inner {
            Inner::Es256(k) => k
                .sign(&rng, input)
                .map_err(|_| JoseError::Crypto("ES256 signing"))?
                .as_ref()
                .to_vec(),
            Inner::Ed25519(k) => k.sign(input).as_ref().to_vec(),
            Inner::Ps256(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PSS_SHA256, &rng, input, &mut sig)
                    .map_err(|_| JoseError::Crypto("PS256 signing"))?;
                sig
            }
        })
    }

    /// A compact JWS of `claims`; `header` adds members (`typ`, `jwk`, …)
    /// to `alg` and `kid`.
    pub fn sign(&self, header: Map<String, Value>, claims: &Value) -> Result<String, JoseError> {
        let mut h = header;
        h.insert("alg".into(), self.alg().name().into());
        if !h.contains_key("jwk") {
            h.entry("kid").or_insert_with(|| self.kid.clone().into());
        }
        let input = format!(
            "{}.{}",
            b64(Value::Object(h).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign_bytes(input.as_bytes())?;
        Ok(format!("{input}.{}", b64(&sig)))
    }
}

fn public_jwk(inner: &Inner) -> Result<Jwk, JoseError> {
    let key = match inner {
        Inner::Es256(k) => {
            let p = k.public_key().as_ref();
            if p.len() != 65 || p[0] != 4 {
                return Err(JoseError::Crypto("P-256 public key encoding"));
            }
            PublicKey::P256 {
                x: p[1..33].to_vec(),
                y: p[33..].to_vec(),
            }
        }
        Inner::Ed25519(k) => PublicKey::Ed25519(
            k.public_key()
                .as_ref()
                .try_into()
                .map_err(|_| JoseError::Crypto("Ed25519 public key encoding"))?,
        ),
        Inner::Ps256(k) => {
            let c: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> = k.public_key().into();
            PublicKey::Rsa { n: c.n, e: c.e }
        }
    };
    Ok(Jwk::new(key))
}
