//! The `[outbox]` table of the registry's settings.

use serde::{Deserialize, Serialize};

/// The stream the relay publishes to when the settings name none.
pub const DEFAULT_STREAM: &str = "RENKEI_EVENTS";
/// The subject the relay publishes on when the settings name none.
pub const DEFAULT_SUBJECT: &str = "renkei.registry.events";

/// Where the registry's change events are relayed (`[outbox]` in the
/// registry's TOML). Without this table there is no relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// The NATS server, `nats://host:port` (plain TCP) or `tls://host:port`
    /// (TLS, server verified against the system's roots). Credentials may
    /// be given as `nats://user:password@host:port`; they are never logged.
    pub nats_url: String,
    /// The JetStream stream; created if missing.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// The subject every event is published on; the stream must capture it.
    #[serde(default = "default_subject")]
    pub subject: String,
}

fn default_stream() -> String {
    DEFAULT_STREAM.to_owned()
}

fn default_subject() -> String {
    DEFAULT_SUBJECT.to_owned()
}

/// Why the `[outbox]` settings cannot be used. The URL is shown without
/// its credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "outbox.nats_url {url:?} has the scheme {scheme:?}; use nats:// (plain TCP) or tls:// (TLS), e.g. nats://127.0.0.1:4222"
    )]
    UnsupportedScheme { url: String, scheme: String },
    #[error("outbox.nats_url {url:?} names no scheme; write it as nats://host:port or tls://host:port")]
    MissingScheme { url: String },
    #[error("outbox.nats_url {url:?} is not a valid NATS server address: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "outbox.stream {0:?} is not a valid JetStream stream name (1 to 255 characters, none of space, '.', '*', '>', '/', '\\' or control characters)"
    )]
    InvalidStream(String),
    #[error(
        "outbox.subject {0:?} is not a valid subject to publish on (dot-separated non-empty tokens, no '*' or '>' wildcards, no spaces)"
    )]
    InvalidSubject(String),
    #[error(
        "the relay's origin (the registry's corporate number) {0:?} must be non-empty and hold no spaces"
    )]
    InvalidOrigin(String),
}

impl OutboxSettings {
    /// Settings with the default stream and subject.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            stream: default_stream(),
            subject: default_subject(),
        }
    }

    /// Check the URL's scheme and syntax, the stream name and the subject.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server_addr()?;
        if !valid_stream_name(&self.stream) {
            return Err(ConfigError::InvalidStream(self.stream.clone()));
        }
        if !valid_publish_subject(&self.subject) {
            return Err(ConfigError::InvalidSubject(self.subject.clone()));
        }
        Ok(())
    }

    /// The URL without its credentials, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact(&self.nats_url)
    }

    pub(crate) fn server_addr(&self) -> Result<async_nats::ServerAddr, ConfigError> {
        let url = self.nats_url.trim();
        let shown = || redact(url);
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(ConfigError::MissingScheme { url: shown() });
        };
        if !matches!(scheme.to_ascii_lowercase().as_str(), "nats" | "tls") {
            return Err(ConfigError::UnsupportedScheme {
                url: shown(),
                scheme: scheme.to_owned(),
            });
        }
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') || host.starts_with('/') {
            return Err(ConfigError::InvalidUrl {
                url: shown(),
                reason: "no host".into(),
            });
        }
        url.parse::<async_nats::ServerAddr>()
            .map_err(|e| ConfigError::InvalidUrl {
                url: shown(),
                reason: redact(&e.to_string()),
            })
    }
}

/// `scheme://user:password@host` → `scheme://***@host`.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => match url.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_owned(),
        },
    }
}

/// JetStream stream names: no whitespace, `.`, `*`, `>`, path separators.
fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '.' | '*' | '>' | '/' | '\\'))
}

/// A literal subject: dot-separated non-empty tokens without wildcards.
fn valid_publish_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.split('.').all(|t| {
            !t.is_empty() && t != "*" && t != ">" && t.chars().all(|c| !c.is_whitespace() && !c.is_control())
        })
}

/// Whether a stream's subject filter (possibly with `*` and `>`
/// wildcards) captures a literal subject.
pub(crate) fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let s: OutboxSettings = toml::from_str(r#"nats_url = "nats://127.0.0.1:4222""#).unwrap();
        assert_eq!(s, OutboxSettings::new("nats://127.0.0.1:4222"));
        assert_eq!(s.stream, "RENKEI_EVENTS");
        assert_eq!(s.subject, "renkei.registry.events");
        s.validate().unwrap();
        let e = toml::from_str::<OutboxSettings>("nats_url = \"nats://h:4222\"\nstreem = \"X\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("streem"), "{e}");
        assert!(toml::from_str::<OutboxSettings>(r#"stream = "X""#).is_err());
    }

    #[test]
    fn schemes() {
        for ok in [
            "nats://127.0.0.1:4222",
            "tls://nats.example.jp:4222",
            "NATS://localhost",
            "nats://u:p@h:4222",
        ] {
            OutboxSettings::new(ok).validate().unwrap();
        }
        let e = OutboxSettings::new("http://127.0.0.1:4222")
            .validate()
            .unwrap_err();
        assert_eq!(
            e,
            ConfigError::UnsupportedScheme {
                url: "http://127.0.0.1:4222".into(),
                scheme: "http".into()
            }
        );
        assert!(e.to_string().contains("use nats://"), "{e}");
        for bad in ["ws://h:80", "wss://h:443", "postgres://h"] {
            assert!(matches!(
                OutboxSettings::new(bad).validate(),
                Err(ConfigError::UnsupportedScheme { .. })
            ));
        }
        assert!(matches!(
            OutboxSettings::new("127.0.0.1:4222").validate(),
            Err(ConfigError::MissingScheme { .. })
        ));
        assert!(matches!(
            OutboxSettings::new("nats://").validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            OutboxSettings::new("nats://h:notaport").validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn credentials_never_shown() {
        let e = OutboxSettings::new("https://admin:s3cret@h:4222")
            .validate()
            .unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = OutboxSettings::new("nats://admin:s3cret@h:bad")
            .validate()
            .unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(
            OutboxSettings::new("nats://a:b@h:1").redacted_url(),
            "nats://***@h:1"
        );
    }

    #[test]
    fn names_and_subjects() {
        let mut s = OutboxSettings::new("nats://h:4222");
        for bad in ["", "A.B", "A B", "A*", "A>", "a/b"] {
            s.stream = bad.into();
            assert_eq!(s.validate(), Err(ConfigError::InvalidStream(bad.into())));
        }
        s.stream = "RENKEI_EVENTS-2".into();
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b"] {
            s.subject = bad.into();
            assert_eq!(s.validate(), Err(ConfigError::InvalidSubject(bad.into())));
        }
        s.subject = "renkei.registry.events".into();
        s.validate().unwrap();
    }

    #[test]
    fn wildcard_capture() {
        assert!(subject_matches("renkei.>", "renkei.registry.events"));
        assert!(subject_matches("renkei.*.events", "renkei.registry.events"));
        assert!(subject_matches(
            "renkei.registry.events",
            "renkei.registry.events"
        ));
        assert!(!subject_matches("renkei.*", "renkei.registry.events"));
        assert!(!subject_matches(
            "renkei.registry.events.x",
            "renkei.registry.events"
        ));
        assert!(!subject_matches("renkei.>", "renkei"));
        assert!(!subject_matches("other.>", "renkei.registry.events"));
    }
}
