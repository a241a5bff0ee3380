//! API clients: a private service's application, its screening and its
//! life afterwards (suspension, revocation, transfer on a merger).

use renkei_catalog::{Catalog, ItemCode};
use renkei_ids::CorporateNumber;
use renkei_jose::Jwks;
use renkei_protocol::UnixMillis;
use serde::{Deserialize, Serialize};

crate::prefixed_id!(
    /// A client id: `rc_` and 22 base64url characters (128 random bits).
    ClientId,
    "rc_",
    16
);

/// Where a client stands. Only `Approved` clients may start a flow or
/// fetch data; every other state refuses at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    Applied,
    Approved,
    Rejected,
    Suspended,
    Revoked,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Applied,
            Self::Approved,
            Self::Rejected,
            Self::Suspended,
            Self::Revoked,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// How the client authenticates at the token and PAR endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ClientAuth {
    /// `private_key_jwt` with a key from the client's JWKS.
    PrivateKeyJwt,
    /// `tls_client_auth` (RFC 8705): the TLS client certificate's SHA-256
    /// fingerprint (hex) must be this one.
    TlsClientAuth { certificate_sha256: String },
}

/// The client's keys: registered inline, or fetched from its `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKeys {
    Jwks(Jwks),
    JwksUri(String),
}

/// Longest `data_life` a client may be approved for (the law's ceiling on
/// keeping data obtained by consent is the service's own; this is ours).
pub const MAX_DATA_LIFE_DAYS: u32 = 3650;

/// What a private service applies with, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientApplication {
    pub corporate_number: CorporateNumber,
    pub name: String,
    pub name_en: Option<String>,
    /// Why the service wants the data, shown to people on the consent page.
    pub purpose: String,
    pub redirect_uris: Vec<String>,
    pub keys: ClientKeys,
    pub auth: ClientAuth,
    /// The item types it may ask for.
    pub items: Vec<ItemCode>,
    /// The longest it may keep what it receives.
    pub max_data_life_days: u32,
    /// Who to tell about alerts (shown to administrators).
    pub contact: String,
}

/// Why an application is refused; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ApplicationError {
    pub field: &'static str,
    pub problem: String,
}

impl ApplicationError {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// A trimmed, non-empty text of at most `max` characters without control
/// characters (newlines allowed), or why not, naming `field`.
pub fn checked_text(field: &'static str, s: &str, max: usize) -> Result<String, ApplicationError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ApplicationError::new(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(ApplicationError::new(field, format!("at most {max} characters")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApplicationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

/// A redirect URI FAPI 2.0 accepts: absolute `https` without a fragment;
/// `http` only for a loopback host (RFC 8252 §7.3, native apps and demos).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let (scheme, rest) = uri.split_once("://").ok_or("is not an absolute URI")?;
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host_port.is_empty() || host_port.contains('@') {
        return Err("has no host, or has user information".into());
    }
    if uri.contains('#') {
        return Err("must not have a fragment".into());
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) || uri.len() > 2000 {
        return Err("contains spaces or is too long".into());
    }
    let host = match host_port.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || h.starts_with('[') => {
            if !port.is_empty() && port.parse::<u16>().is_err() {
                return Err("has an invalid port".into());
            }
            h
        }
        _ => host_port,
    };
    match scheme {
        "https" => Ok(()),
        "http" if matches!(host, "127.0.0.1" | "[::1]" | "localhost") => Ok(()),
        "http" => Err("must use https (http only on a loopback address)".into()),
        _ => Err(format!("scheme {scheme:?} is not allowed")),
    }
}

/// The application as it arrives, before validation (the HTTP and CLI
/// layers fill it from JSON or flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationForm {
    pub corporate_number: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub purpose: String,
    pub redirect_uris: Vec<String>,
    /// A JWKS document (JSON object) — or `jwks_uri`, not both.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `private_key_jwt` (default) or `tls_client_auth`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// For `tls_client_auth`: the certificate's SHA-256 (hex).
    #[serde(default)]
    pub tls_client_certificate_sha256: Option<String>,
    pub items: Vec<String>,
    pub max_data_life_days: u32,
    pub contact: String,
}

/// An organisation's corporate number (with its check digit), name and
/// optional English name, as every application gives them.
pub fn checked_organisation(
    corporate_number: &str,
    name: &str,
    name_en: Option<&str>,
) -> Result<(CorporateNumber, String, Option<String>), ApplicationError> {
    let corporate_number = CorporateNumber::parse(corporate_number.trim())
        .map_err(|e| ApplicationError::new("corporate_number", e.to_string()))?;
    let name = checked_text("name", name, 100)?;
    let name_en = name_en.map(|n| checked_text("name_en", n, 100)).transpose()?;
    Ok((corporate_number, name, name_en))
}

impl ApplicationForm {
    pub fn validate(&self, catalog: &Catalog) -> Result<ClientApplication, ApplicationError> {
        let (corporate_number, name, name_en) =
            checked_organisation(&self.corporate_number, &self.name, self.name_en.as_deref())?;
        let purpose = checked_text("purpose", &self.purpose, 1000)?;
        if self.redirect_uris.is_empty() || self.redirect_uris.len() > 10 {
            return Err(ApplicationError::new("redirect_uris", "give between 1 and 10"));
        }
        for (i, u) in self.redirect_uris.iter().enumerate() {
            check_redirect_uri(u)
                .map_err(|p| ApplicationError::new("redirect_uris", format!("#{i} {u:?} {p}")))?;
        }
        let keys = match (&self.jwks, &self.jwks_uri) {
            (Some(j), None) => ClientKeys::Jwks(
                Jwks::parse(&j.to_string()).map_err(|e| ApplicationError::new("jwks", e.to_string()))?,
            ),
            (None, Some(u)) => {
                if !u.starts_with("https://") && check_redirect_uri(u).is_err() {
                    return Err(ApplicationError::new("jwks_uri", "must be an https URL"));
                }
                ClientKeys::JwksUri(u.clone())
            }
            _ => {
                return Err(ApplicationError::new(
                    "jwks",
                    "give exactly one of jwks and jwks_uri",
                ));
            }
        };
        let auth = match self.token_endpoint_auth_method.as_deref() {
            None | Some("private_key_jwt") => ClientAuth::PrivateKeyJwt,
            Some("tls_client_auth") => {
                let fp = self
                    .tls_client_certificate_sha256
                    .as_deref()
                    .map(|s| s.trim().to_ascii_lowercase().replace(':', ""))
                    .ok_or_else(|| {
                        ApplicationError::new("tls_client_certificate_sha256", "required for tls_client_auth")
                    })?;
                if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ApplicationError::new(
                        "tls_client_certificate_sha256",
                        "64 hex digits",
                    ));
                }
                ClientAuth::TlsClientAuth {
                    certificate_sha256: fp,
                }
            }
            Some(other) => {
                return Err(ApplicationError::new(
                    "token_endpoint_auth_method",
                    format!("{other:?}: use private_key_jwt or tls_client_auth"),
                ));
            }
        };
        if self.items.is_empty() {
            return Err(ApplicationError::new("items", "name at least one item"));
        }
        let mut items = Vec::new();
        for i in &self.items {
            let code = ItemCode::parse(i).map_err(|e| ApplicationError::new("items", e.to_string()))?;
            if catalog.item(&code).is_none() {
                return Err(ApplicationError::new(
                    "items",
                    format!("{i:?} is not an item of the catalog"),
                ));
            }
            if !items.contains(&code) {
                items.push(code);
            }
        }
        if self.max_data_life_days == 0 || self.max_data_life_days > MAX_DATA_LIFE_DAYS {
            return Err(ApplicationError::new(
                "max_data_life_days",
                format!("between 1 and {MAX_DATA_LIFE_DAYS}"),
            ));
        }
        let contact = checked_text("contact", &self.contact, 200)?;
        Ok(ClientApplication {
            corporate_number,
            name,
            name_en,
            purpose,
            redirect_uris: self.redirect_uris.clone(),
            keys,
            auth,
            items,
            max_data_life_days: self.max_data_life_days,
            contact,
        })
    }
}

/// A party an administrator screens — an API client, a document sender:
/// its validated application and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screened<I, A> {
    pub id: I,
    pub app: A,
    pub status: ClientStatus,
    /// The reason given with the last change of status.
    pub status_reason: Option<String>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

impl<I, A> Screened<I, A> {
    pub fn new(id: I, app: A, now: UnixMillis) -> Self {
        Self {
            id,
            app,
            status: ClientStatus::Applied,
            status_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether it may act now (run flows, deposit).
    pub fn is_active(&self) -> bool {
        self.status == ClientStatus::Approved
    }
}

/// What screening reads from and changes in an application.
pub trait Application: Clone {
    fn corporate_number(&self) -> CorporateNumber;
    /// The organisation merged into `successor`.
    fn transfer_to(&mut self, successor: CorporateNumber);
}

impl Application for ClientApplication {
    fn corporate_number(&self) -> CorporateNumber {
        self.corporate_number
    }
    fn transfer_to(&mut self, successor: CorporateNumber) {
        self.corporate_number = successor;
    }
}

/// A registered client.
pub type ApiClient = Screened<ClientId, ClientApplication>;

/// Who changed a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Actor {
    Administrator(String),
    /// The monitor, on a threshold.
    Monitor,
    Client,
}

/// A change an administrator (or the monitor) asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum ClientAction {
    Approve,
    Reject {
        reason: String,
    },
    Suspend {
        reason: String,
    },
    Resume,
    Revoke {
        reason: String,
    },
    /// The corporation merged into another: the client continues under the
    /// successor's corporate number.
    Transfer {
        to: CorporateNumber,
        reason: String,
    },
}

impl ClientAction {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject { .. } => "reject",
            Self::Suspend { .. } => "suspend",
            Self::Resume => "resume",
            Self::Revoke { .. } => "revoke",
            Self::Transfer { .. } => "transfer",
        }
    }

    /// The reason given with the action, if it takes one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Reject { reason }
            | Self::Suspend { reason }
            | Self::Revoke { reason }
            | Self::Transfer { reason, .. } => Some(reason),
            Self::Approve | Self::Resume => None,
        }
    }
}

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {action} a client that is {from}")]
    NotFrom {
        action: &'static str,
        from: &'static str,
    },
    #[error("a reason is required to {0}")]
    ReasonRequired(&'static str),
    #[error("the successor's corporate number is the client's own")]
    SameCorporation,
}

/// One recorded change of a screened party (a client, a sender): every
/// change is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningEvent<I> {
    pub subject: I,
    pub at: UnixMillis,
    pub actor: Actor,
    /// `applied`, or a [`ClientAction::name`].
    pub action: String,
    pub from: Option<ClientStatus>,
    pub to: ClientStatus,
    pub reason: Option<String>,
    /// For a transfer: the previous corporate number.
    pub previous_corporate_number: Option<CorporateNumber>,
}

/// One recorded change of a client.
pub type ClientEvent = ScreeningEvent<ClientId>;

impl<I: Clone> ScreeningEvent<I> {
    /// The event of `party`'s application.
    pub fn applied<A>(party: &Screened<I, A>) -> Self {
        Self {
            subject: party.id.clone(),
            at: party.created_at,
            actor: Actor::Client,
            action: "applied".into(),
            from: None,
            to: ClientStatus::Applied,
            reason: None,
            previous_corporate_number: None,
        }
    }
}

/// The status a screened party (an API client, a document sender) moves
/// to on `action` from `from`, or why it may not: one state machine for
/// everyone an administrator screens. `corporate_number` is the party's,
/// which a transfer must change.
pub fn screening_transition(
    action: &ClientAction,
    from: ClientStatus,
    corporate_number: CorporateNumber,
) -> Result<ClientStatus, TransitionError> {
    use ClientStatus as S;
    if let Some(r) = action.reason()
        && r.trim().is_empty()
    {
        return Err(TransitionError::ReasonRequired(action.name()));
    }
    match (action, from) {
        (ClientAction::Approve, S::Applied) => Ok(S::Approved),
        (ClientAction::Reject { .. }, S::Applied) => Ok(S::Rejected),
        (ClientAction::Suspend { .. }, S::Approved) => Ok(S::Suspended),
        (ClientAction::Resume, S::Suspended) => Ok(S::Approved),
        (ClientAction::Revoke { .. }, S::Applied | S::Approved | S::Suspended) => Ok(S::Revoked),
        (ClientAction::Transfer { to, .. }, S::Approved | S::Suspended) => {
            if *to == corporate_number {
                Err(TransitionError::SameCorporation)
            } else {
                Ok(from)
            }
        }
        _ => Err(TransitionError::NotFrom {
            action: action.name(),
            from: from.as_str(),
        }),
    }
}

/// Apply `action` to `party`: the party as it becomes and the event that
/// records it — or why not. Pure: the caller stores both together.
pub fn apply<I: Clone, A: Application>(
    party: &Screened<I, A>,
    action: &ClientAction,
    actor: Actor,
    now: UnixMillis,
) -> Result<(Screened<I, A>, ScreeningEvent<I>), TransitionError> {
    let from = party.status;
    let was = party.app.corporate_number();
    let to = screening_transition(action, from, was)?;
    let reason = action.reason().map(|r| r.trim().to_owned());
    let mut next = party.clone();
    next.status = to;
    next.status_reason = reason.clone();
    next.updated_at = now;
    let mut previous = None;
    if let ClientAction::Transfer { to, .. } = action {
        previous = Some(was);
        next.app.transfer_to(*to);
    }
    let event = ScreeningEvent {
        subject: party.id.clone(),
        at: now,
        actor,
        action: action.name().into(),
        from: Some(from),
        to,
        reason,
        previous_corporate_number: previous,
    };
    Ok((next, event))
}
