//! The C2SP checkpoint: the note text a log signs.
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 root hash>
//! [extension lines]
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::hash::Hash;
use crate::note::NoteError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = NoteError::BadCheckpoint;
        if !text.ends_with('\n') {
            return Err(bad("must end with a newline"));
        }
        let mut lines = text[..text.len() - 1].split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(bad("no origin line"))?;
        let size = lines.next().ok_or(bad("no size line"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad("the size must be a decimal number without leading zeros"));
        }
        let size: u64 = size.parse().map_err(|_| bad("the size is out of range"))?;
        let root = STANDARD
            .decode(lines.next().ok_or(bad("no root hash line"))?)
            .map_err(|_| bad("the root hash is not base64"))?;
        let root: Hash = root
            .try_into()
            .map_err(|_| bad("the root hash is not 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let c = Checkpoint {
            origin: "renkei.example/log".into(),
            size: 12,
            root: [7; 32],
            extensions: vec!["timestamp 5".into()],
        };
        assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
        assert!(Checkpoint::parse("o\n012\nAAAA\n").is_err());
        assert!(Checkpoint::parse("o\n12\nAAAA\n").is_err());
        assert!(Checkpoint::parse("o\n12\n").is_err());
    }
}
