//! Compact JWE (RFC 7516) with `ECDH-ES` key agreement on P-256 and
//! `A256GCM` content encryption (RFC 7518 §4.6, §5.3) — one pair, the one
//! FAPI deployments use for encrypted responses.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPublicKeyUncompressedBin};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::jwk::{Jwk, PublicKey};
use crate::{JoseError, b64, unb64};

const ENC: &str = "A256GCM";

/// RFC 7518 §4.6.2 Concat KDF for one 256-bit key, no PartyU/V info.
fn concat_kdf(z: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&1u32.to_be_bytes());
    ctx.update(z);
    ctx.update(&(ENC.len() as u32).to_be_bytes());
    ctx.update(ENC.as_bytes());
    ctx.update(&0u32.to_be_bytes()); // apu
    ctx.update(&0u32.to_be_bytes()); // apv
    ctx.update(&256u32.to_be_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(65);
    p.push(4);
    p.extend_from_slice(x);
    p.extend_from_slice(y);
    p
}

fn gcm(key: &[u8; 32]) -> Result<LessSafeKey, JoseError> {
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| JoseError::Crypto("AES-256-GCM key"))?,
    ))
}

/// Encrypt `plaintext` to a P-256 public key. `cty` names the content type
/// (e.g. `JWT` for a nested signed token).
pub fn encrypt(plaintext: &[u8], to: &Jwk, cty: Option<&str>) -> Result<String, JoseError> {
    let PublicKey::P256 { x, y } = &to.key else {
        return Err(JoseError::UnsupportedKey("ECDH-ES needs a P-256 key".into()));
    };
    let eph = PrivateKey::generate(&ECDH_P256).map_err(|_| JoseError::Crypto("ephemeral key"))?;
    let eph_pub = eph
        .compute_public_key()
        .map_err(|_| JoseError::Crypto("ephemeral public key"))?;
    let eph_point: EcPublicKeyUncompressedBin<'_> = eph_pub
        .as_be_bytes()
        .map_err(|_| JoseError::Crypto("ephemeral public key encoding"))?;
    let ep = eph_point.as_ref();
    let mut header = Map::new();
    header.insert("alg".into(), "ECDH-ES".into());
    header.insert("enc".into(), ENC.into());
    header.insert(
        "epk".into(),
        json!({"kty": "EC", "crv": "P-256", "x": b64(&ep[1..33]), "y": b64(&ep[33..])}),
    );
    if let Some(kid) = &to.kid {
        header.insert("kid".into(), kid.clone().into());
    }
    if let Some(cty) = cty {
        header.insert("cty".into(), cty.into());
    }
    let cek = agreement::agree(
        &eph,
        UnparsedPublicKey::new(&ECDH_P256, point(x, y)),
        JoseError::Crypto("ECDH with the recipient's key"),
        |z| Ok(concat_kdf(z)),
    )?;
    let protected = b64(Value::Object(header).to_string().as_bytes());
    let mut iv = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| JoseError::Crypto("random generator"))?;
    let mut buf = plaintext.to_vec();
    let tag = gcm(&cek)?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(protected.as_bytes()),
            &mut buf,
        )
        .map_err(|_| JoseError::Crypto("AES-256-GCM seal"))?;
    Ok(format!(
        "{protected}..{}.{}.{}",
        b64(&iv),
        b64(&buf),
        b64(tag.as_ref())
    ))
}

/// A P-256 private key that opens JWEs sent to it (a client's).
pub struct DecryptionKey {
    key: PrivateKey,
    public: Jwk,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl DecryptionKey {
    pub fn generate() -> Result<Self, JoseError> {
        Self::from_key(PrivateKey::generate(&ECDH_P256).map_err(|_| JoseError::Crypto("key generation"))?)
    }

    /// From PKCS#8 (or SEC1) DER.
    pub fn from_der(der: &[u8]) -> Result<Self, JoseError> {
        Self::from_key(
            PrivateKey::from_private_key_der(&ECDH_P256, der)
                .map_err(|_| JoseError::UnsupportedKey("not a P-256 private key".into()))?,
        )
    }

    fn from_key(key: PrivateKey) -> Result<Self, JoseError> {
        let p = key
            .compute_public_key()
            .map_err(|_| JoseError::Crypto("public key"))?;
        let p: EcPublicKeyUncompressedBin<'_> = p
            .as_be_bytes()
            .map_err(|_| JoseError::Crypto("public key encoding"))?;
        let p = p.as_ref();
        let mut public = Jwk::new(PublicKey::P256 {
            x: p[1..33].to_vec(),
            y: p[33..].to_vec(),
        });
        public.kid = Some(public.thumbprint());
        public.usage = Some("enc".into());
        public.alg = Some("ECDH-ES".into());
        Ok(Self { key, public })
    }

    /// PKCS#8 DER, for a 0600 key file.
    pub fn to_der(&self) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
            self.key.as_der().map_err(|_| JoseError::Crypto("key encoding"))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// Open a compact JWE made by [`encrypt`] (or any ECDH-ES/A256GCM JWE).
    pub fn decrypt(&self, jwe: &str) -> Result<Vec<u8>, JoseError> {
        let parts: Vec<&str> = jwe.split('.').collect();
        let [protected, ek, iv, ct, tag] = parts[..] else {
            return Err(JoseError::Malformed("a compact JWE has five parts".into()));
        };
        if !ek.is_empty() {
            return Err(JoseError::Decrypt("ECDH-ES has no encrypted key"));
        }
        let header: Map<String, Value> = serde_json::from_slice(&unb64("JWE header", protected)?)
            .map_err(|e| JoseError::Malformed(format!("JWE header: {e}")))?;
        if header.get("alg").and_then(Value::as_str) != Some("ECDH-ES")
            || header.get("enc").and_then(Value::as_str) != Some(ENC)
        {
            return Err(JoseError::Decrypt("only alg ECDH-ES with enc A256GCM"));
        }
        let epk = Jwk::from_value(header.get("epk").unwrap_or(&Value::Null))?;
        let PublicKey::P256 { x, y } = &epk.key else {
            return Err(JoseError::Decrypt("epk is not a P-256 key"));
        };
        let cek = agreement::agree(
            &self.key,
            UnparsedPublicKey::new(&ECDH_P256, point(x, y)),
            JoseError::Decrypt("epk is not a valid point"),
            |z| Ok(concat_kdf(z)),
        )?;
        let iv: [u8; NONCE_LEN] = unb64("JWE iv", iv)?
            .try_into()
            .map_err(|_| JoseError::Decrypt("the iv is not 96 bits"))?;
        let mut buf = unb64("JWE ciphertext", ct)?;
        buf.extend_from_slice(&unb64("JWE tag", tag)?);
        let plain = gcm(&cek)?
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(protected.as_bytes()),
                &mut buf,
            )
            .map_err(|_| JoseError::Decrypt("authentication failed"))?;
        Ok(plain.to_vec())
    }
}
