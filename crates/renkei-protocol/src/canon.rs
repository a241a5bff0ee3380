//! The canonical encoding of signed messages: a domain-separation label,
//! then each field as a type tag and a length-prefixed value. Unambiguous by
//! construction, trivially reimplemented in any language, and — unlike
//! "canonical JSON" — without corner cases in number or string escaping.

use renkei_crypto::Signature;

#[derive(Debug)]
pub struct Canon(Vec<u8>);

impl Canon {
    pub fn new(label: &str) -> Self {
        let mut c = Self(Vec::with_capacity(256));
        c.raw(b'L', label.as_bytes());
        c
    }

    fn raw(&mut self, tag: u8, bytes: &[u8]) {
        self.0.push(tag);
        self.0.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.0.extend_from_slice(bytes);
    }

    pub fn str(mut self, s: &str) -> Self {
        self.raw(b'S', s.as_bytes());
        self
    }

    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.raw(b'B', b);
        self
    }

    pub fn u64(mut self, v: u64) -> Self {
        self.raw(b'U', &v.to_be_bytes());
        self
    }

    pub fn i64(mut self, v: i64) -> Self {
        self.raw(b'I', &v.to_be_bytes());
        self
    }

    pub fn bool(mut self, v: bool) -> Self {
        self.raw(b'T', &[u8::from(v)]);
        self
    }

    pub fn opt_u64(mut self, v: Option<u64>) -> Self {
        match v {
            None => self.raw(b'N', &[]),
            Some(v) => self.raw(b'U', &v.to_be_bytes()),
        }
        self
    }

    /// A signature is covered by what it names (algorithm, key id) and its
    /// bytes, so that a counter-signature commits to exactly one signature.
    pub fn signature(self, s: &Signature) -> Self {
        self.str(s.algorithm.name())
            .str(s.key_id.as_str())
            .bytes(&s.bytes)
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = Canon::new("x").str("ab").str("c").finish();
        let b = Canon::new("x").str("a").str("bc").finish();
        assert_ne!(a, b);
        let c = Canon::new("x").opt_u64(None).finish();
        let d = Canon::new("x").opt_u64(Some(0)).finish();
        assert_ne!(c, d);
        assert_ne!(Canon::new("x").finish(), Canon::new("y").finish());
    }
}
