//! Proxies (代理人): a representative acts for a principal, with their own
//! card, within a scope and a period. Only the principal grants (by an
//! invitation the representative accepts) and revokes; an administrator
//! registers a court-appointed guardian with the decision's reference.
//! A change to either party's card — suspension, reissue, loss — puts the
//! proxy on hold until the principal confirms it again (the 2023 lesson:
//! proxies survived card suspension, a risk for DV victims).

use std::fmt;

use renkei_card::CardSerial;
use renkei_ids::LocalPersonId;
use renkei_protocol::UnixMillis;
use time::Date;

use crate::ShortCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProxyId(pub u64);

impl fmt::Display for ProxyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a representative may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// See My Information.
    MyInformation,
    /// See the exchange history.
    History,
    /// Read notices.
    Notices,
    /// See and register the public-fund account.
    Account,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::MyInformation,
        Scope::History,
        Scope::Notices,
        Scope::Account,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MyInformation => "my_information",
            Self::History => "history",
            Self::Notices => "notices",
            Self::Account => "account",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().fold(0, |acc, s| acc | s.bit()))
    }

    pub fn all() -> Self {
        Self::new(Scope::ALL)
    }

    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Comma-separated codes, for storage.
    pub fn to_text(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
    }

    pub fn from_text(s: &str) -> Option<Self> {
        if s.is_empty() {
            return Some(Self(0));
        }
        s.split(',')
            .map(Scope::parse)
            .collect::<Option<Vec<_>>>()
            .map(Self::new)
    }
}

/// Why the proxy exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyBasis {
    /// The principal invited the representative.
    Principal,
    /// A court appointed a guardian; registered by an administrator.
    Guardianship { reference: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    PrincipalCardChanged,
    RepresentativeCardChanged,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PrincipalCardChanged => "principal_card_changed",
            Self::RepresentativeCardChanged => "representative_card_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "principal_card_changed" => Some(Self::PrincipalCardChanged),
            "representative_card_changed" => Some(Self::RepresentativeCardChanged),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyStatus {
    Active,
    OnHold { since: UnixMillis, reason: HoldReason },
    Revoked { at: UnixMillis },
}

impl ProxyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::OnHold { .. } => "on_hold",
            Self::Revoked { .. } => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub id: ProxyId,
    pub principal: LocalPersonId,
    pub representative: LocalPersonId,
    /// Names as each party's own four facts gave them (or as the court
    /// decision names them), so that each sees whom the proxy is with.
    pub principal_name: String,
    pub representative_name: String,
    pub scopes: ScopeSet,
    /// Inclusive dates (Japan time).
    pub valid_from: Date,
    pub valid_until: Date,
    pub basis: ProxyBasis,
    pub status: ProxyStatus,
    /// The cards both parties held when the proxy was last confirmed.
    pub principal_card: Option<CardSerial>,
    pub representative_card: Option<CardSerial>,
    pub confirmed_at: UnixMillis,
    pub created_at: UnixMillis,
    /// The principal's card-confirmed authority for this proxy: what lets
    /// the representative read the principal's data through the network.
    /// `None` for a guardianship an administrator registered (no card of
    /// the principal confirmed it).
    pub authority: Option<PrincipalAuthority>,
}

/// A principal's authority for a proxy, as the network can check it: the
/// consent reference the principal's card confirmed (the appointment, and
/// each later confirmation) and the hub's person proof of that consent.
/// Requests made through the proxy name the consent, so the principal sees
/// each of them in their exchange history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalAuthority {
    pub grant: String,
    pub proof: String,
}

/// Why a proxy cannot be used (or changed) now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyRefusal {
    #[error("this proxy is not yours to use")]
    NotRepresentative,
    #[error("only the principal can do this")]
    NotPrincipal,
    #[error("the proxy is on hold until the principal confirms it again ({})", reason.as_str())]
    OnHold { reason: HoldReason },
    #[error("the proxy was revoked")]
    Revoked,
    #[error("the proxy is valid from {from} to {until}; today is outside that period")]
    OutsidePeriod { from: Date, until: Date },
    #[error("the proxy does not cover this ({})", scope.as_str())]
    OutsideScope { scope: Scope },
    #[error("the proxy is not on hold")]
    NotOnHold,
}

impl ProxyRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotRepresentative => "not_your_proxy",
            Self::NotPrincipal => "not_principal",
            Self::OnHold { .. } => "proxy_on_hold",
            Self::Revoked => "proxy_revoked",
            Self::OutsidePeriod { .. } => "proxy_outside_period",
            Self::OutsideScope { .. } => "proxy_outside_scope",
            Self::NotOnHold => "proxy_not_on_hold",
        }
    }
}

/// A card as the registry last described it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardView {
    pub serial: CardSerial,
    pub good: bool,
    pub status_since: i64,
}

impl Proxy {
    /// May `actor` act through this proxy on `today` for `scope`?
    pub fn may_act(&self, actor: &LocalPersonId, scope: Scope, today: Date) -> Result<(), ProxyRefusal> {
        if actor != &self.representative {
            return Err(ProxyRefusal::NotRepresentative);
        }
        match self.status {
            ProxyStatus::Active => {}
            ProxyStatus::OnHold { reason, .. } => return Err(ProxyRefusal::OnHold { reason }),
            ProxyStatus::Revoked { .. } => return Err(ProxyRefusal::Revoked),
        }
        if today < self.valid_from || today > self.valid_until {
            return Err(ProxyRefusal::OutsidePeriod {
                from: self.valid_from,
                until: self.valid_until,
            });
        }
        if !self.scopes.contains(scope) {
            return Err(ProxyRefusal::OutsideScope { scope });
        }
        Ok(())
    }

    /// Whether what the registry says of the two cards now calls for a
    /// hold: either card not in good standing, not the card held at the
    /// last confirmation, or its status changed since (a suspension that
    /// was lifted again still counts).
    pub fn hold_needed(
        &self,
        principal: Option<CardView>,
        representative: Option<CardView>,
    ) -> Option<HoldReason> {
        let changed = |held: Option<CardSerial>, now: Option<CardView>| match (held, now) {
            (Some(h), Some(v)) => v.serial != h || !v.good || v.status_since > self.confirmed_at.0,
            // A guardian registered before the person had a card: nothing to compare.
            (None, _) => false,
            (Some(_), None) => true,
        };
        if !matches!(self.status, ProxyStatus::Active) {
            return None;
        }
        if changed(self.principal_card, principal) {
            Some(HoldReason::PrincipalCardChanged)
        } else if changed(self.representative_card, representative) {
            Some(HoldReason::RepresentativeCardChanged)
        } else {
            None
        }
    }

    /// The principal revokes (a guardian can also be ended by the administrator).
    pub fn revoke(&mut self, by: &LocalPersonId, now: UnixMillis) -> Result<(), ProxyRefusal> {
        if by != &self.principal {
            return Err(ProxyRefusal::NotPrincipal);
        }
        if matches!(self.status, ProxyStatus::Revoked { .. }) {
            return Err(ProxyRefusal::Revoked);
        }
        self.status = ProxyStatus::Revoked { at: now };
        Ok(())
    }

    /// The principal confirms a held proxy with the cards both now hold.
    pub fn confirm(
        &mut self,
        by: &LocalPersonId,
        principal_card: CardSerial,
        representative_card: Option<CardSerial>,
        now: UnixMillis,
    ) -> Result<(), ProxyRefusal> {
        if by != &self.principal {
            return Err(ProxyRefusal::NotPrincipal);
        }
        match self.status {
            ProxyStatus::OnHold { .. } => {}
            ProxyStatus::Revoked { .. } => return Err(ProxyRefusal::Revoked),
            ProxyStatus::Active => return Err(ProxyRefusal::NotOnHold),
        }
        self.status = ProxyStatus::Active;
        self.principal_card = Some(principal_card);
        if representative_card.is_some() {
            self.representative_card = representative_card;
        }
        self.confirmed_at = now;
        Ok(())
    }
}

/// A principal's offer, handed to the representative as a short code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub code: ShortCode,
    pub principal: LocalPersonId,
    pub principal_name: String,
    pub principal_card: CardSerial,
    pub scopes: ScopeSet,
    pub valid_from: Date,
    pub valid_until: Date,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    /// The authority the principal's card confirmed with the invitation.
    pub authority: Option<PrincipalAuthority>,
}

/// One thing a representative did for a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAct {
    pub proxy: ProxyId,
    pub actor: LocalPersonId,
    pub principal: LocalPersonId,
    pub action: String,
    pub at: UnixMillis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn proxy() -> Proxy {
        Proxy {
            id: ProxyId(1),
            principal: LocalPersonId::parse("P").unwrap(),
            representative: LocalPersonId::parse("R").unwrap(),
            principal_name: "本人".into(),
            representative_name: "代理".into(),
            scopes: ScopeSet::new([Scope::History, Scope::Notices]),
            valid_from: date!(2026 - 01 - 01),
            valid_until: date!(2026 - 12 - 31),
            basis: ProxyBasis::Principal,
            status: ProxyStatus::Active,
            principal_card: Some(CardSerial::from_u64(7).unwrap()),
            representative_card: Some(CardSerial::from_u64(8).unwrap()),
            confirmed_at: UnixMillis(1000),
            created_at: UnixMillis(1000),
            authority: None,
        }
    }

    #[test]
    fn a_proxy_acts_only_for_its_representative_within_scope_and_period() {
        let p = proxy();
        let r = LocalPersonId::parse("R").unwrap();
        let today = date!(2026 - 06 - 01);
        assert_eq!(p.may_act(&r, Scope::History, today), Ok(()));
        assert_eq!(
            p.may_act(&r, Scope::Account, today),
            Err(ProxyRefusal::OutsideScope {
                scope: Scope::Account
            })
        );
        assert!(matches!(
            p.may_act(&r, Scope::History, date!(2027 - 01 - 01)),
            Err(ProxyRefusal::OutsidePeriod { .. })
        ));
        assert!(matches!(
            p.may_act(&r, Scope::History, date!(2025 - 12 - 31)),
            Err(ProxyRefusal::OutsidePeriod { .. })
        ));
        assert_eq!(
            p.may_act(&LocalPersonId::parse("X").unwrap(), Scope::History, today),
            Err(ProxyRefusal::NotRepresentative)
        );
    }

    #[test]
    fn card_changes_hold_the_proxy_until_the_principal_confirms() {
        let mut p = proxy();
        let good = |s: u64, since: i64| {
            Some(CardView {
                serial: CardSerial::from_u64(s).unwrap(),
                good: true,
                status_since: since,
            })
        };
        assert_eq!(p.hold_needed(good(7, 500), good(8, 500)), None);
        // Suspended and resumed since the confirmation: still a hold.
        assert_eq!(
            p.hold_needed(good(7, 2000), good(8, 500)),
            Some(HoldReason::PrincipalCardChanged)
        );
        // Reissued representative card.
        assert_eq!(
            p.hold_needed(good(7, 500), good(9, 500)),
            Some(HoldReason::RepresentativeCardChanged)
        );
        let suspended = Some(CardView {
            serial: CardSerial::from_u64(8).unwrap(),
            good: false,
            status_since: 500,
        });
        assert_eq!(
            p.hold_needed(good(7, 500), suspended),
            Some(HoldReason::RepresentativeCardChanged)
        );
        p.status = ProxyStatus::OnHold {
            since: UnixMillis(3000),
            reason: HoldReason::RepresentativeCardChanged,
        };
        let r = LocalPersonId::parse("R").unwrap();
        assert!(matches!(
            p.may_act(&r, Scope::History, date!(2026 - 06 - 01)),
            Err(ProxyRefusal::OnHold { .. })
        ));
        // Only the principal confirms.
        assert_eq!(
            p.confirm(&r, CardSerial::from_u64(7).unwrap(), None, UnixMillis(4000)),
            Err(ProxyRefusal::NotPrincipal)
        );
        let principal = LocalPersonId::parse("P").unwrap();
        p.confirm(
            &principal,
            CardSerial::from_u64(7).unwrap(),
            Some(CardSerial::from_u64(9).unwrap()),
            UnixMillis(4000),
        )
        .unwrap();
        assert_eq!(p.status, ProxyStatus::Active);
        assert_eq!(p.hold_needed(good(7, 2000), good(9, 3000)), None);
        // Only the principal revokes, once.
        assert_eq!(p.revoke(&r, UnixMillis(5000)), Err(ProxyRefusal::NotPrincipal));
        p.revoke(&principal, UnixMillis(5000)).unwrap();
        assert_eq!(p.revoke(&principal, UnixMillis(5001)), Err(ProxyRefusal::Revoked));
    }

    #[test]
    fn scope_sets_round_trip() {
        let s = ScopeSet::new([Scope::Account, Scope::MyInformation]);
        assert_eq!(s.to_text(), "my_information,account");
        assert_eq!(ScopeSet::from_text(&s.to_text()), Some(s));
        assert_eq!(ScopeSet::from_text("history,bogus"), None);
        assert!(ScopeSet::from_text("").unwrap().is_empty());
    }
}
