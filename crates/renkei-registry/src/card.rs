//! Cards as the registry keeps them: which person holds which card, the
//! card's status, and the certificates issued for it. The state machine
//! here decides what each action does to the card and its certificates;
//! the store applies it in one transaction.

use std::fmt;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevocationReason};
use renkei_ids::LinkId;
use renkei_protocol::UnixMillis;

/// The registry's number for a card (a card holds two certificates, and a
/// new signing certificate can be issued onto the same card).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardId(pub u64);

impl fmt::Display for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatus {
    Active,
    /// Temporarily stopped (一時停止); resumable.
    Suspended,
    /// Reported lost or stolen; final.
    Lost,
    /// Replaced by a newer card; final.
    Reissued,
    /// The holder died (or returned the card); final.
    Ceased,
}

impl CardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Lost => "lost",
            Self::Reissued => "reissued",
            Self::Ceased => "ceased",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Suspended,
            Self::Lost,
            Self::Reissued,
            Self::Ceased,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// Whether the card can still come back into use.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Lost | Self::Reissued | Self::Ceased)
    }
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One certificate on a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCert {
    pub serial: CardSerial,
    pub purpose: CertPurpose,
    pub der: Vec<u8>,
    pub issued_at: UnixMillis,
    pub not_after: UnixMillis,
    /// Revoked (or held, reason Suspended) since when and why.
    pub revoked: Option<(UnixMillis, RevocationReason)>,
}

impl CardCert {
    /// Revoked for good (a hold does not count).
    pub fn is_revoked_for_good(&self) -> bool {
        matches!(self.revoked, Some((_, r)) if r != RevocationReason::Suspended)
    }
}

/// A card and its certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub id: CardId,
    pub link_id: LinkId,
    pub profile: CardProfile,
    pub status: CardStatus,
    /// When the status last changed: a relying party that saw the card
    /// before this instant must look again (proxies go on hold).
    pub status_since: UnixMillis,
    pub issued_at: UnixMillis,
    /// In issuance order.
    pub certs: Vec<CardCert>,
}

impl Card {
    pub fn authentication(&self) -> Option<&CardCert> {
        self.certs
            .iter()
            .find(|c| c.purpose == CertPurpose::Authentication)
    }

    /// The newest signing certificate not revoked for good.
    pub fn current_signing(&self) -> Option<&CardCert> {
        self.certs
            .iter()
            .rev()
            .find(|c| c.purpose == CertPurpose::Signing && !c.is_revoked_for_good())
    }

    pub fn cert(&self, serial: CardSerial) -> Option<&CardCert> {
        self.certs.iter().find(|c| c.serial == serial)
    }
}

/// An action on an existing card from the registry's admin surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    Suspend,
    Resume,
    ReportLost,
}

impl CardAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "suspend" => Some(Self::Suspend),
            "resume" => Some(Self::Resume),
            "lost" => Some(Self::ReportLost),
            _ => None,
        }
    }
}

/// What an action does to the card's certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertEffect {
    /// Put every certificate in good standing on hold (certificateHold).
    Hold,
    /// Take held certificates off the CRL again.
    Release,
    /// Revoke every certificate not already revoked for good (held ones too).
    Revoke(RevocationReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardActionRefusal {
    #[error("the card is {0}; only an active card can be suspended")]
    NotActive(CardStatus),
    #[error("the card is {0}; only a suspended card can be resumed")]
    NotSuspended(CardStatus),
    #[error("the card is {0} for good; nothing more can be done with it")]
    Final(CardStatus),
    #[error("the card is {0}; a new signing certificate needs an active card")]
    CannotRenew(CardStatus),
}

impl CardActionRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotActive(_) => "card_not_active",
            Self::NotSuspended(_) => "card_not_suspended",
            Self::Final(_) => "card_final",
            Self::CannotRenew(_) => "card_not_active",
        }
    }
}

/// The card's next status and the effect on its certificates.
pub fn plan_action(
    status: CardStatus,
    action: CardAction,
) -> Result<(CardStatus, CertEffect), CardActionRefusal> {
    if status.is_final() {
        return Err(CardActionRefusal::Final(status));
    }
    match (status, action) {
        (CardStatus::Active, CardAction::Suspend) => Ok((CardStatus::Suspended, CertEffect::Hold)),
        (s, CardAction::Suspend) => Err(CardActionRefusal::NotActive(s)),
        (CardStatus::Suspended, CardAction::Resume) => Ok((CardStatus::Active, CertEffect::Release)),
        (s, CardAction::Resume) => Err(CardActionRefusal::NotSuspended(s)),
        (_, CardAction::ReportLost) => Ok((CardStatus::Lost, CertEffect::Revoke(RevocationReason::Lost))),
    }
}

/// What happens to a person's earlier card when a new one is issued:
/// replaced, its certificates superseded.
pub fn plan_reissue(previous: CardStatus) -> Option<(CardStatus, CertEffect)> {
    (!previous.is_final()).then_some((
        CardStatus::Reissued,
        CertEffect::Revoke(RevocationReason::Reissued),
    ))
}

/// Apply a certificate effect to one certificate; `true` if it changed
/// (and so the CRL of its CA changes).
pub fn apply_effect(cert: &mut CardCert, effect: CertEffect, at: UnixMillis) -> bool {
    match (effect, cert.revoked) {
        (_, Some((_, r))) if r != RevocationReason::Suspended => false,
        (CertEffect::Hold, None) => {
            cert.revoked = Some((at, RevocationReason::Suspended));
            true
        }
        (CertEffect::Hold, Some(_)) => false,
        (CertEffect::Release, Some(_)) => {
            cert.revoked = None;
            true
        }
        (CertEffect::Release, None) => false,
        (CertEffect::Revoke(reason), _) => {
            cert.revoked = Some((at, reason));
            true
        }
    }
}

/// A card to be stored: the person, the profile and the two certificates.
#[derive(Debug, Clone)]
pub struct NewCard {
    pub link_id: LinkId,
    pub profile: CardProfile,
    pub issued_at: UnixMillis,
    pub certs: Vec<CardCert>,
}

/// The status of one certificate as relying parties see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStanding {
    Good,
    Suspended,
    Revoked(RevocationReason),
    Expired,
}

impl CertStanding {
    pub fn of(card: &Card, cert: &CardCert, now: UnixMillis) -> Self {
        match cert.revoked {
            Some((_, RevocationReason::Suspended)) => Self::Suspended,
            Some((_, r)) => Self::Revoked(r),
            None if card.status == CardStatus::Suspended => Self::Suspended,
            None if now.0 > cert.not_after.0 => Self::Expired,
            None => Self::Good,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Suspended => "suspended",
            Self::Revoked(_) => "revoked",
            Self::Expired => "expired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(purpose: CertPurpose) -> CardCert {
        CardCert {
            serial: CardSerial::random(),
            purpose,
            der: vec![],
            issued_at: UnixMillis(0),
            not_after: UnixMillis(100),
            revoked: None,
        }
    }

    #[test]
    fn suspension_holds_and_resumption_releases_but_loss_is_final() {
        assert_eq!(
            plan_action(CardStatus::Active, CardAction::Suspend),
            Ok((CardStatus::Suspended, CertEffect::Hold))
        );
        assert_eq!(
            plan_action(CardStatus::Active, CardAction::Resume),
            Err(CardActionRefusal::NotSuspended(CardStatus::Active))
        );
        assert_eq!(
            plan_action(CardStatus::Suspended, CardAction::Suspend),
            Err(CardActionRefusal::NotActive(CardStatus::Suspended))
        );
        assert_eq!(
            plan_action(CardStatus::Suspended, CardAction::ReportLost),
            Ok((CardStatus::Lost, CertEffect::Revoke(RevocationReason::Lost)))
        );
        for s in [CardStatus::Lost, CardStatus::Reissued, CardStatus::Ceased] {
            assert_eq!(
                plan_action(s, CardAction::Resume),
                Err(CardActionRefusal::Final(s))
            );
            assert_eq!(plan_reissue(s), None);
        }

        let mut c = cert(CertPurpose::Authentication);
        assert!(apply_effect(&mut c, CertEffect::Hold, UnixMillis(5)));
        assert!(!apply_effect(&mut c, CertEffect::Hold, UnixMillis(6)));
        assert!(apply_effect(&mut c, CertEffect::Release, UnixMillis(7)));
        assert_eq!(c.revoked, None);
        assert!(apply_effect(&mut c, CertEffect::Hold, UnixMillis(8)));
        // A held certificate can be revoked for good ...
        assert!(apply_effect(
            &mut c,
            CertEffect::Revoke(RevocationReason::Lost),
            UnixMillis(9)
        ));
        // ... and then nothing releases or re-revokes it.
        assert!(!apply_effect(&mut c, CertEffect::Release, UnixMillis(10)));
        assert!(!apply_effect(
            &mut c,
            CertEffect::Revoke(RevocationReason::Reissued),
            UnixMillis(11)
        ));
        assert_eq!(c.revoked, Some((UnixMillis(9), RevocationReason::Lost)));
    }

    #[test]
    fn the_current_signing_certificate_skips_revoked_ones() {
        let mut old = cert(CertPurpose::Signing);
        old.revoked = Some((UnixMillis(1), RevocationReason::FactsChanged));
        let new = cert(CertPurpose::Signing);
        let card = Card {
            id: CardId(1),
            link_id: LinkId::random(),
            profile: CardProfile::EcdsaP384Sha384,
            status: CardStatus::Active,
            status_since: UnixMillis(0),
            issued_at: UnixMillis(0),
            certs: vec![cert(CertPurpose::Authentication), old, new.clone()],
        };
        assert_eq!(card.current_signing(), Some(&new));
        let auth = card.authentication().unwrap();
        assert_eq!(CertStanding::of(&card, auth, UnixMillis(50)), CertStanding::Good);
        assert_eq!(
            CertStanding::of(&card, auth, UnixMillis(101)),
            CertStanding::Expired
        );
    }
}
