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

/// Reads what [`Canon`] wrote, field by field, checking every tag: a
/// decoder that accepts anything else would let two byte strings mean the
/// same record.
#[derive(Debug)]
pub struct CanonReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Why canonical bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed canonical encoding at byte {at}: {reason}")]
pub struct CanonError {
    pub at: usize,
    pub reason: &'static str,
}

impl<'a> CanonReader<'a> {
    /// Start reading; the label must be `label`.
    pub fn new(bytes: &'a [u8], label: &str) -> Result<Self, CanonError> {
        let mut r = Self { bytes, pos: 0 };
        let l = r.raw(b'L')?;
        if l != label.as_bytes() {
            return Err(r.err("unexpected label"));
        }
        Ok(r)
    }

    fn err(&self, reason: &'static str) -> CanonError {
        CanonError { at: self.pos, reason }
    }

    fn raw_any(&mut self) -> Result<(u8, &'a [u8]), CanonError> {
        if self.bytes.len() < self.pos + 5 {
            return Err(self.err("truncated field header"));
        }
        let tag = self.bytes[self.pos];
        let len = u32::from_be_bytes([
            self.bytes[self.pos + 1],
            self.bytes[self.pos + 2],
            self.bytes[self.pos + 3],
            self.bytes[self.pos + 4],
        ]) as usize;
        let start = self.pos + 5;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(self.err("truncated field"))?;
        self.pos = end;
        Ok((tag, &self.bytes[start..end]))
    }

    fn raw(&mut self, tag: u8) -> Result<&'a [u8], CanonError> {
        let at = self.pos;
        let (t, v) = self.raw_any()?;
        if t != tag {
            return Err(CanonError {
                at,
                reason: "unexpected field type",
            });
        }
        Ok(v)
    }

    pub fn str(&mut self) -> Result<&'a str, CanonError> {
        let v = self.raw(b'S')?;
        std::str::from_utf8(v).map_err(|_| self.err("a string is not UTF-8"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], CanonError> {
        self.raw(b'B')
    }

    fn eight(&self, v: &[u8]) -> Result<[u8; 8], CanonError> {
        v.try_into().map_err(|_| self.err("a number is not 8 bytes"))
    }

    pub fn u64(&mut self) -> Result<u64, CanonError> {
        let v = self.raw(b'U')?;
        Ok(u64::from_be_bytes(self.eight(v)?))
    }

    pub fn i64(&mut self) -> Result<i64, CanonError> {
        let v = self.raw(b'I')?;
        Ok(i64::from_be_bytes(self.eight(v)?))
    }

    pub fn bool(&mut self) -> Result<bool, CanonError> {
        match self.raw(b'T')? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(self.err("a boolean is not 0 or 1")),
        }
    }

    pub fn opt_u64(&mut self) -> Result<Option<u64>, CanonError> {
        let at = self.pos;
        match self.raw_any()? {
            (b'N', []) => Ok(None),
            (b'U', v) => Ok(Some(u64::from_be_bytes(self.eight(v)?))),
            _ => Err(CanonError {
                at,
                reason: "expected an optional number",
            }),
        }
    }

    /// There must be nothing left.
    pub fn finish(self) -> Result<(), CanonError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
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

    #[test]
    fn reader_reads_what_was_written_and_nothing_else() {
        let b = Canon::new("t")
            .str("a")
            .bytes(b"bc")
            .u64(7)
            .i64(-3)
            .bool(true)
            .opt_u64(None)
            .opt_u64(Some(9))
            .finish();
        let mut r = CanonReader::new(&b, "t").unwrap();
        assert_eq!(r.str().unwrap(), "a");
        assert_eq!(r.bytes().unwrap(), b"bc");
        assert_eq!(r.u64().unwrap(), 7);
        assert_eq!(r.i64().unwrap(), -3);
        assert!(r.bool().unwrap());
        assert_eq!(r.opt_u64().unwrap(), None);
        assert_eq!(r.opt_u64().unwrap(), Some(9));
        r.finish().unwrap();
        assert!(CanonReader::new(&b, "u").is_err());
        let mut r = CanonReader::new(&b, "t").unwrap();
        assert!(r.bytes().is_err(), "type tags are checked");
        let mut longer = b.clone();
        longer.push(0);
        let mut r = CanonReader::new(&longer, "t").unwrap();
        for _ in 0..2 {
            let _ = r.raw_any().unwrap();
        }
        let _ = (r.u64(), r.i64(), r.bool(), r.opt_u64(), r.opt_u64());
        assert!(r.finish().is_err());
        assert!(
            CanonReader::new(&b[..b.len() - 1], "t")
                .and_then(|mut r| {
                    for _ in 0..7 {
                        r.raw_any()?;
                    }
                    r.raw_any().map(|_| ())
                })
                .is_err()
        );
    }
}
