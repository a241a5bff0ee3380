//! Identifiers written as a prefix and base64url bytes (`rc_…`, `gr_…`):
//! one definition for every such id, here and in the crates beside this one.

#[doc(hidden)]
pub use renkei_jose::b64 as __b64;

/// Define `$name`: `$prefix` followed by `$bytes` bytes in base64url
/// without padding; parsed strictly, shown as written, and (de)serialised
/// as that string.
#[macro_export]
macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $bytes:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?;
                (rest.len() == ($bytes * 4usize).div_ceil(3)
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
                .then(|| Self(s.to_owned()))
            }

            /// From `$bytes` bytes (random, or a MAC).
            pub fn from_random(bytes: [u8; $bytes]) -> Self {
                Self(format!("{}{}", $prefix, $crate::ids::__b64(&bytes)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("{s:?} is not a {}", stringify!($name)))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
