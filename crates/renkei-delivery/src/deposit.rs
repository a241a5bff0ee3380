//! A deposit: a compact JWS, signed by a sender's registered key, over a
//! document of a type the sender was approved for, addressed to a person
//! by their delivery handle. [`check_deposit`] decides everything the
//! request alone can tell; [`decide`] what the stored documents add
//! (replays, corrections, links). Both pure.

use renkei_jose::JoseError;
use renkei_protocol::UnixMillis;
use serde::Deserialize;
use serde_json::Value;

use crate::handle::DeliveryHandle;
use crate::schema::SchemaViolation;
use crate::sender::Sender;
use crate::types::{DocumentTypeId, DocumentTypes};

/// Largest compact JWS accepted for one deposit.
pub const MAX_DEPOSIT_BYTES: usize = 256 * 1024;

/// The JWS `typ` of a deposit or a void.
pub const DEPOSIT_TYP: &str = "renkei-deposit+jws";

/// How far in the future `issued_at` may be (clocks differ).
pub const FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

/// Why a deposit is refused. Each has a stable [`code`](Self::code) for
/// the API and names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepositRefusal {
    #[error("the deposit is larger than {limit} bytes")]
    Oversized { limit: usize },
    #[error("the deposit is not a compact JWS: {0}")]
    Malformed(String),
    #[error("the JWS typ must be {DEPOSIT_TYP:?}")]
    WrongTyp,
    #[error("the sender is {0}, not approved: it may not deposit")]
    SenderNotActive(&'static str),
    #[error("no key of the sender fits the JWS (kid {}, alg {alg})", kid.as_deref().unwrap_or("none"))]
    UnknownKey { kid: Option<String>, alg: &'static str },
    #[error("the signature does not verify with the sender's key {}", kid.as_deref().unwrap_or("(no kid)"))]
    BadSignature { kid: Option<String> },
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("type: {0:?} is not a document type")]
    UnknownDocumentType(String),
    #[error("type: the sender is not approved to deposit {0}")]
    TypeNotApproved(DocumentTypeId),
    #[error("issued_at: {0} is in the future")]
    FromTheFuture(i64),
    #[error("document{}: {}", .0.pointer, .0.reason)]
    Document(SchemaViolation),
    #[error("handle: the person has not linked this sender, or has unlinked it")]
    NotLinked,
    #[error(
        "document_id: {0:?} was deposited before with other content; a correction needs a new document_id and replaces"
    )]
    Conflict(String),
    #[error("replaces: {0}")]
    BadReplaces(String),
    #[error("document_id: {0:?} is not a document of this sender")]
    UnknownDocument(String),
}

impl DepositRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Oversized { .. } => "payload_too_large",
            Self::Malformed(_) | Self::WrongTyp => "malformed",
            Self::SenderNotActive(_) => "sender_not_active",
            Self::UnknownKey { .. } | Self::BadSignature { .. } => "bad_signature",
            Self::Field { .. } => "malformed",
            Self::UnknownDocumentType(_) => "unknown_document_type",
            Self::TypeNotApproved(_) => "document_type_not_approved",
            Self::FromTheFuture(_) => "malformed",
            Self::Document(_) => "schema_violation",
            Self::NotLinked => "not_linked",
            Self::Conflict(_) => "conflict",
            Self::BadReplaces(_) => "bad_replaces",
            Self::UnknownDocument(_) => "unknown_document",
        }
    }
}

/// What a person may give as the reference the sender knows them by (an
/// employee or customer number): 1–64 characters of `A-Z a-z 0-9 . _ -`.
pub fn check_reference(reference: &str) -> Result<(), String> {
    if reference.is_empty() || reference.len() > 64 {
        return Err("must have 1 to 64 characters".into());
    }
    if !reference
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may hold only letters, digits and . _ -".into());
    }
    Ok(())
}

/// A sender's document id: 1–128 characters of `A-Z a-z 0-9 . _ : -`.
pub fn check_document_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("must have 1 to 128 characters".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err("may hold only letters, digits and . _ : -".into());
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Claims {
    Deposit {
        document_id: String,
        #[serde(rename = "type")]
        doc_type: String,
        handle: String,
        issued_at: i64,
        #[serde(default)]
        replaces: Option<String>,
        document: Value,
    },
    Void {
        document_id: String,
        issued_at: i64,
        reason: String,
    },
    Feed {
        issued_at: i64,
        #[serde(default)]
        since: Option<i64>,
    },
}

/// What a verified deposit asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum SenderRequest {
    Deposit(CheckedDeposit),
    Void(CheckedVoid),
    /// The sender asks what changed since `since`: links made or ended,
    /// documents opened (receipts).
    Feed {
        since: UnixMillis,
    },
}

impl SenderRequest {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Deposit(_) => "deposit",
            Self::Void(_) => "void",
            Self::Feed { .. } => "feed",
        }
    }
}

/// How old a signed feed request may be: a captured one is useless later.
pub const FEED_MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// A deposit that passed every check the request alone allows.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedDeposit {
    pub document_id: String,
    pub type_id: DocumentTypeId,
    pub handle: DeliveryHandle,
    pub issued_at: UnixMillis,
    pub replaces: Option<String>,
    pub document: Value,
    pub tax_year: u16,
    /// SHA-256 over type, handle, replaces and the document (keys sorted):
    /// the same document signed again is the same deposit.
    pub digest: [u8; 32],
    /// The JWS itself, kept as the evidence of who signed what.
    pub jws: String,
    pub kid: Option<String>,
}

/// A sender's withdrawal of one of its documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedVoid {
    pub document_id: String,
    pub issued_at: UnixMillis,
    pub reason: String,
    pub jws: String,
}

/// Parse `bytes` strictly (unknown fields refused); an error names the
/// field, or `root` when it is about the whole.
pub(crate) fn strict<T: serde::de::DeserializeOwned>(bytes: &[u8], root: &str) -> Result<T, DepositRefusal> {
    renkei_protocol::strict_json::from_slice_naming_field(bytes).map_err(|e| {
        let path = if e.path.is_empty() || e.path == "." {
            root
        } else {
            e.path.as_str()
        };
        field(path, e.error.to_string())
    })
}

fn field(field: &str, reason: impl Into<String>) -> DepositRefusal {
    DepositRefusal::Field {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Check a sender's signed request: size, form, the sender's standing,
/// its key and signature, the claims, the document type and the document
/// against its schema.
pub fn check_deposit(
    jws: &str,
    sender: &Sender,
    types: &DocumentTypes,
    now: UnixMillis,
) -> Result<SenderRequest, DepositRefusal> {
    if jws.len() > MAX_DEPOSIT_BYTES {
        return Err(DepositRefusal::Oversized {
            limit: MAX_DEPOSIT_BYTES,
        });
    }
    let unverified =
        renkei_jose::decode_unverified(jws.trim()).map_err(|e| DepositRefusal::Malformed(e.to_string()))?;
    if unverified.header.typ.as_deref() != Some(DEPOSIT_TYP) {
        return Err(DepositRefusal::WrongTyp);
    }
    let kid = unverified.header.kid.clone();
    let alg = unverified.header.alg;
    let key = sender
        .app
        .jwks
        .as_ref()
        .ok_or(renkei_jose::JoseError::BadSignature)
        .and_then(|jwks| jwks.signing_key(kid.as_deref(), alg))
        .map_err(|_| DepositRefusal::UnknownKey {
            kid: kid.clone(),
            alg: alg.name(),
        })?;
    let verified = unverified.verify_with(key).map_err(|e| match e {
        JoseError::BadSignature => DepositRefusal::BadSignature { kid: kid.clone() },
        other => DepositRefusal::Malformed(other.to_string()),
    })?;
    // Only a caller holding the sender's key learns where the sender stands.
    if !sender.is_active() {
        return Err(DepositRefusal::SenderNotActive(sender.status.as_str()));
    }
    let payload = serde_json::to_vec(&Value::Object(verified.claims))
        .map_err(|e| DepositRefusal::Malformed(e.to_string()))?;
    let claims: Claims = strict(&payload, "claims")?;
    let at = |issued_at: i64| -> Result<UnixMillis, DepositRefusal> {
        let ms = issued_at
            .checked_mul(1000)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| field("issued_at", "must be a time in seconds since 1970"))?;
        if ms > now.0 + FUTURE_SKEW_MS {
            return Err(DepositRefusal::FromTheFuture(issued_at));
        }
        Ok(UnixMillis(ms))
    };
    match claims {
        Claims::Feed { issued_at, since } => {
            let issued_at = at(issued_at)?;
            if issued_at.0 < now.0 - FEED_MAX_AGE_MS {
                return Err(field(
                    "issued_at",
                    "a feed request must be signed within the last 5 minutes",
                ));
            }
            let since = match since {
                None => UnixMillis(0),
                Some(ms) if ms >= 0 => UnixMillis(ms),
                Some(_) => return Err(field("since", "must be a time in milliseconds since 1970")),
            };
            Ok(SenderRequest::Feed { since })
        }
        Claims::Void {
            document_id,
            issued_at,
            reason,
        } => {
            check_document_id(&document_id).map_err(|r| field("document_id", r))?;
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > 500 {
                return Err(field("reason", "give a reason of 1 to 500 characters"));
            }
            Ok(SenderRequest::Void(CheckedVoid {
                document_id,
                issued_at: at(issued_at)?,
                reason: reason.to_owned(),
                jws: jws.trim().to_owned(),
            }))
        }
        Claims::Deposit {
            document_id,
            doc_type,
            handle,
            issued_at,
            replaces,
            document,
        } => {
            check_document_id(&document_id).map_err(|r| field("document_id", r))?;
            if let Some(r) = &replaces {
                check_document_id(r).map_err(|why| field("replaces", why))?;
                if *r == document_id {
                    return Err(DepositRefusal::BadReplaces(
                        "a document cannot replace itself".into(),
                    ));
                }
            }
            let issued_at = at(issued_at)?;
            let handle = DeliveryHandle::parse(&handle)
                .ok_or_else(|| field("handle", "is not a delivery handle (dh_ and 43 characters)"))?;
            let doc_type_def = types
                .lookup(&doc_type)
                .filter(|t| t.deposit)
                .ok_or_else(|| DepositRefusal::UnknownDocumentType(doc_type.clone()))?;
            if !sender.app.document_types.contains(&doc_type_def.id) {
                return Err(DepositRefusal::TypeNotApproved(doc_type_def.id.clone()));
            }
            doc_type_def.check(&document).map_err(DepositRefusal::Document)?;
            let tax_year = doc_type_def
                .tax_year(&document)
                .ok_or_else(|| field("document/tax_year", "is missing"))?;
            // serde_json's map keeps keys sorted: the encoding is canonical.
            let canonical =
                serde_json::to_vec(&document).map_err(|e| DepositRefusal::Malformed(e.to_string()))?;
            let type_name = doc_type_def.id.to_string();
            let digest = renkei_crypto::sha256(&[
                type_name.as_bytes(),
                handle.as_str().as_bytes(),
                replaces.as_deref().unwrap_or("").as_bytes(),
                &canonical,
            ]);
            Ok(SenderRequest::Deposit(CheckedDeposit {
                document_id,
                type_id: doc_type_def.id.clone(),
                handle,
                issued_at,
                replaces,
                document,
                tax_year,
                digest,
                jws: jws.trim().to_owned(),
                kid,
            }))
        }
    }
}

/// A stored version of a document, as [`decide`] needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub document_id: String,
    pub type_id: DocumentTypeId,
    pub handle: DeliveryHandle,
    pub version: u32,
    pub digest: [u8; 32],
    /// Another document of the sender replaced this one.
    pub superseded: bool,
    pub voided: bool,
}

/// What to do with a checked deposit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store it as this version (1, or the replaced document's + 1).
    Store { version: u32 },
    /// The same document was deposited before: answer as then, store
    /// nothing.
    Replay { version: u32 },
}

/// Decide a checked deposit against what is stored: `same_id` is the
/// sender's document with this document id, `replaced` the one it says it
/// replaces, `linked` whether the handle's person links the sender now.
pub fn decide(
    deposit: &CheckedDeposit,
    same_id: Option<&StoredVersion>,
    replaced: Option<&StoredVersion>,
    linked: bool,
) -> Result<Decision, DepositRefusal> {
    if let Some(prior) = same_id {
        return if prior.digest == deposit.digest {
            Ok(Decision::Replay {
                version: prior.version,
            })
        } else {
            Err(DepositRefusal::Conflict(deposit.document_id.clone()))
        };
    }
    if !linked {
        return Err(DepositRefusal::NotLinked);
    }
    let Some(name) = &deposit.replaces else {
        return Ok(Decision::Store { version: 1 });
    };
    let old = replaced
        .ok_or_else(|| DepositRefusal::BadReplaces(format!("{name:?} is not a document of this sender")))?;
    if old.handle != deposit.handle {
        return Err(DepositRefusal::BadReplaces(format!(
            "{name:?} was sent to another person"
        )));
    }
    if old.type_id.name != deposit.type_id.name {
        return Err(DepositRefusal::BadReplaces(format!(
            "{name:?} is a {}, not a {}",
            old.type_id.name, deposit.type_id.name
        )));
    }
    if old.voided {
        return Err(DepositRefusal::BadReplaces(format!("{name:?} was voided")));
    }
    if old.superseded {
        return Err(DepositRefusal::BadReplaces(format!(
            "{name:?} was already replaced; correct the latest version"
        )));
    }
    Ok(Decision::Store {
        version: old.version + 1,
    })
}
