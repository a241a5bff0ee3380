use std::fmt;

/// Why a linkage did not happen. The code is stable and machine-readable;
/// the message is for people and never contains personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Denial {
    pub code: DenialCode,
    pub message: String,
}

impl Denial {
    pub fn new(code: DenialCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

macro_rules! denial_codes {
    ($( $(#[$doc:meta])* $variant:ident => $text:literal, recorded: $rec:literal, retryable: $retry:literal; )+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DenialCode { $( $(#[$doc])* $variant ),+ }

        impl DenialCode {
            pub const ALL: &'static [DenialCode] = &[$(DenialCode::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }

            /// Whether the hub keeps a provision record of a request denied
            /// for this reason. Requests that fail authentication are not
            /// attributable to an institution and go to the security-event
            /// log instead.
            pub const fn is_recorded(self) -> bool {
                match self { $(Self::$variant => $rec),+ }
            }

            /// Whether the same request may succeed if sent again later
            /// (with a fresh message id).
            pub const fn is_retryable(self) -> bool {
                match self { $(Self::$variant => $retry),+ }
            }
        }
    };
}

denial_codes! {
    /// The body is not a well-formed message.
    Malformed => "malformed", recorded: false, retryable: false;
    /// No client certificate identity fit for this endpoint.
    Unauthenticated => "unauthenticated", recorded: false, retryable: false;
    /// The TLS client certificate is not the one registered for the institution.
    CertificateMismatch => "certificate_mismatch", recorded: false, retryable: false;
    /// The TLS client certificate has been revoked.
    CertificateRevoked => "certificate_revoked", recorded: false, retryable: false;
    /// The requester is not in the hub's institution registry.
    UnknownRequester => "unknown_requester", recorded: false, retryable: false;
    /// The signature does not verify with the requester's registered key.
    BadSignature => "bad_signature", recorded: false, retryable: false;
    /// The message id was already seen within the replay window.
    Replayed => "replayed", recorded: false, retryable: false;
    /// The timestamp is older than the allowed skew.
    StaleTimestamp => "stale_timestamp", recorded: false, retryable: false;
    /// The timestamp is further in the future than the allowed skew.
    FutureTimestamp => "future_timestamp", recorded: false, retryable: false;
    /// The requester institution is suspended.
    RequesterSuspended => "requester_suspended", recorded: true, retryable: false;
    /// The named provider is not in the institution registry.
    UnknownProvider => "unknown_provider", recorded: true, retryable: false;
    /// The provider institution is suspended.
    ProviderSuspended => "provider_suspended", recorded: true, retryable: false;
    /// The office work is not in the catalog.
    UnknownOfficeWork => "unknown_office_work", recorded: true, retryable: false;
    /// The item is not in the catalog.
    UnknownItem => "unknown_item", recorded: true, retryable: false;
    /// The item needs a fiscal year and none was given.
    FiscalYearRequired => "fiscal_year_required", recorded: true, retryable: false;
    /// A fiscal year was given for an item that has none.
    FiscalYearNotApplicable => "fiscal_year_not_applicable", recorded: true, retryable: false;
    /// No row of the permission table permits the exchange.
    NotPermitted => "not_permitted", recorded: true, retryable: false;
    /// The institution code is forged, altered or another institution's.
    CodeInvalid => "code_invalid", recorded: true, retryable: false;
    /// The code's key version is past its grace period.
    CodeKeyExpired => "code_key_expired", recorded: true, retryable: false;
    /// The code's key version is unknown.
    CodeKeyUnknown => "code_key_unknown", recorded: true, retryable: false;
    /// The office work is done for the person themselves and the request
    /// carries no proof that they were present with their card.
    PersonProofRequired => "person_proof_required", recorded: true, retryable: false;
    /// The person proof is not the hub's, is another institution's or
    /// person's, has expired, or is for another purpose.
    PersonProofInvalid => "person_proof_invalid", recorded: true, retryable: false;
    /// The provider could not be reached.
    ProviderUnavailable => "provider_unavailable", recorded: true, retryable: true;
    /// The provider did not answer in time.
    ProviderTimeout => "provider_timeout", recorded: true, retryable: true;
    /// The provider answered with something the hub cannot accept.
    ProviderError => "provider_error", recorded: true, retryable: true;
    /// The provider refused a push for good (see
    /// [`FINAL_PROVIDER_REFUSALS`]): sent again, it gets the same answer.
    ProviderRefused => "provider_refused", recorded: true, retryable: false;
    /// The hub could not complete the exchange (e.g. its store failed).
    HubUnavailable => "hub_unavailable", recorded: false, retryable: true;
}

/// The provider's refusals that no retry changes: a push that is not a
/// delivery document, carries none, or is of an item the receiver does not
/// take. The hub reports them as [`DenialCode::ProviderRefused`]; any other
/// refusal by a provider (a stale forward, a key it cannot open with yet)
/// may pass and stays [`DenialCode::ProviderError`].
pub const FINAL_PROVIDER_REFUSALS: &[&str] = &["push_malformed", "push_without_payload", "push_not_accepted"];

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in DenialCode::ALL {
            assert_eq!(DenialCode::parse(c.as_str()), Some(*c));
        }
        assert_eq!(DenialCode::parse("nope"), None);
        assert!(DenialCode::NotPermitted.is_recorded());
        assert!(!DenialCode::BadSignature.is_recorded());
        assert!(DenialCode::ProviderUnavailable.is_retryable());
    }
}
