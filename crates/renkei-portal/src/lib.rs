//! The citizen portal as pure logic.
//!
//! The portal is a business system of the Digital Agency's node: it asks
//! the node (and through it the hub and the registry) for everything about
//! a person. What it decides itself lives here: how a card login is
//! challenged and bound to one browser ([`Challenge`]), how long a session
//! lives ([`SessionPolicy`]), what a proxy may do and when it must be put
//! on hold ([`Proxy`]), and what a public-fund account must look like
//! ([`FundAccount`]). Nothing here does I/O; [`PortalStore`] is what the
//! portal keeps, implemented by `renkei-store-sqlite`.

mod account;
mod challenge;
mod limits;
mod proxy;
mod secret;
mod session;
mod store;

pub use account::{AccountError, AccountKind, FundAccount, KanaMismatch, bank_name, normalize_kana};
pub use challenge::{
    CHALLENGE_FORMAT, Challenge, ChallengePurpose, ChallengeState, ChallengeText, ChallengeTextError,
    MatchValue, ShortCode,
};
pub use limits::{AddressKey, ChallengeLimiter, ChallengeLimits, ChallengeRefused};
pub use proxy::{
    CardView, HoldReason, Invitation, PrincipalAuthority, Proxy, ProxyAct, ProxyBasis, ProxyId, ProxyRefusal,
    ProxyStatus, Scope, ScopeSet,
};
pub use secret::{Secret, SecretHash};
pub use session::{CardHolder, Session, SessionCache, SessionPolicy};
pub use store::{PendingAction, PortalStore};
