//! The citizen portal's store: challenges, sessions, staged actions,
//! proxies, invitations and acts.

use std::sync::Arc;

use renkei_card::{CardProfile, CardSerial};
use renkei_ids::LocalPersonId;
use renkei_portal::{
    CardHolder, Challenge, ChallengePurpose, ChallengeState, HoldReason, Invitation, PendingAction,
    PortalStore, PrincipalAuthority, Proxy, ProxyAct, ProxyBasis, ProxyId, ProxyStatus, Scope, ScopeSet,
    Secret, SecretHash, Session, ShortCode,
};
use renkei_protocol::{StoreError, UnixMillis};
use time::macros::date;

use super::{Backend, place};

const T0: i64 = 1_700_000_000_000;

fn person(s: &str) -> LocalPersonId {
    LocalPersonId::parse(s).unwrap()
}

fn holder(who: &str, serial: u64) -> CardHolder {
    CardHolder {
        person: person(who),
        serial: CardSerial::from_u64(serial).unwrap(),
        profile: CardProfile::EcdsaP384Sha384,
        card_status_since: 1_600_000_000,
        person_proof: None,
    }
}

/// A holder with the person proof a card approval yields (what challenges
/// and sessions keep; a person's last card does not).
fn proven(who: &str, serial: u64) -> CardHolder {
    CardHolder {
        person_proof: Some(format!("proof-of-{who}.sig")),
        ..holder(who, serial)
    }
}

fn challenge(purpose: ChallengePurpose, binding: &Secret, ttl_ms: i64) -> Challenge {
    Challenge::new(
        purpose,
        binding,
        "203.0.113.7".parse().unwrap(),
        UnixMillis(T0),
        ttl_ms,
    )
}

fn session(who: &str, created_at: i64) -> Session {
    Session {
        id: Secret::random().hash(),
        holder: proven(who, 0x1234_5678_9abc_def0),
        csrf: Secret::random(),
        created_at: UnixMillis(created_at),
        last_seen: UnixMillis(created_at),
        acting_for: None,
    }
}

fn pending(session: SecretHash, created_at: i64) -> PendingAction {
    PendingAction {
        id: Secret::random().hash(),
        session,
        challenge: ShortCode::random(),
        action: r#"{"register_account":{"bank":"0001"}}"#.into(),
        created_at: UnixMillis(created_at),
    }
}

fn proxy(principal: &str, representative: &str) -> Proxy {
    Proxy {
        id: ProxyId(0),
        principal: person(principal),
        representative: person(representative),
        principal_name: "山田 花子".into(),
        representative_name: "山田 太郎".into(),
        scopes: ScopeSet::new([Scope::MyInformation, Scope::Account]),
        valid_from: date!(2025 - 04 - 01),
        valid_until: date!(2026 - 03 - 31),
        basis: ProxyBasis::Principal,
        status: ProxyStatus::Active,
        principal_card: CardSerial::from_u64(11),
        representative_card: CardSerial::from_u64(i64::MAX as u64),
        confirmed_at: UnixMillis(T0),
        created_at: UnixMillis(T0),
        authority: Some(PrincipalAuthority {
            grant: format!("proxy-{principal}"),
            proof: format!("proof-of-{principal}.sig"),
        }),
    }
}

fn invitation(expires_at: i64) -> Invitation {
    Invitation {
        code: ShortCode::random(),
        principal: person("P-1"),
        principal_name: "山田 花子".into(),
        principal_card: CardSerial::from_u64(11).unwrap(),
        scopes: ScopeSet::all(),
        valid_from: date!(2025 - 04 - 01),
        valid_until: date!(2025 - 12 - 31),
        created_at: UnixMillis(T0),
        expires_at: UnixMillis(expires_at),
        authority: Some(PrincipalAuthority {
            grant: "proxy-0123".into(),
            proof: "proof.sig".into(),
        }),
    }
}

fn act(proxy: ProxyId, action: &str, at: i64) -> ProxyAct {
    ProxyAct {
        proxy,
        actor: person("R-1"),
        principal: person("P-1"),
        action: action.into(),
        at: UnixMillis(at),
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// What every portal store must do.
async fn portal_store_behaves(s: &impl PortalStore) {
    challenges(s).await;
    sessions_and_staged_actions(s).await;
    logins(s).await;
    proxies(s).await;
    invitations(s).await;
    acts(s).await;
    purge(s).await;
}

async fn challenges(s: &impl PortalStore) {
    let browser = Secret::random();
    let c = challenge(ChallengePurpose::Login, &browser, 300_000);
    let expires = c.expires_at.0;
    assert_eq!(s.challenge(&c.code).await.unwrap(), None);
    s.insert_challenge(c.clone()).await.unwrap();
    assert_eq!(s.challenge(&c.code).await.unwrap(), Some(c.clone()));
    // A code is unique.
    assert!(is_conflict(s.insert_challenge(c.clone()).await));
    // Nothing to take before a card approved it.
    assert_eq!(
        s.take_challenge(&c.code, browser.hash(), UnixMillis(T0))
            .await
            .unwrap(),
        None
    );
    // Too late to approve one millisecond after expiry; unknown codes neither.
    let h = proven("C-1", 42);
    assert!(
        !s.approve_challenge(&c.code, h.clone(), UnixMillis(expires + 1))
            .await
            .unwrap()
    );
    assert!(
        !s.approve_challenge(&ShortCode::random(), h.clone(), UnixMillis(T0))
            .await
            .unwrap()
    );
    assert_eq!(
        s.challenge(&c.code).await.unwrap().unwrap().state,
        ChallengeState::Pending
    );
    // Approved at the last millisecond; a replayed signature finds it approved.
    assert!(
        s.approve_challenge(&c.code, h.clone(), UnixMillis(expires))
            .await
            .unwrap()
    );
    assert!(
        !s.approve_challenge(&c.code, holder("C-2", 43), UnixMillis(T0))
            .await
            .unwrap()
    );
    assert_eq!(
        s.challenge(&c.code).await.unwrap().unwrap().state,
        ChallengeState::Approved(h.clone())
    );
    // Only the browser that asked takes it, only before expiry, only once.
    assert_eq!(
        s.take_challenge(&c.code, Secret::random().hash(), UnixMillis(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_challenge(&c.code, browser.hash(), UnixMillis(expires + 1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_challenge(&c.code, browser.hash(), UnixMillis(expires))
            .await
            .unwrap(),
        Some(h.clone())
    );
    assert_eq!(
        s.take_challenge(&c.code, browser.hash(), UnixMillis(T0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.challenge(&c.code).await.unwrap().unwrap().state,
        ChallengeState::Used
    );
    // A used challenge cannot be approved again.
    assert!(!s.approve_challenge(&c.code, h, UnixMillis(T0)).await.unwrap());

    // A confirmation keeps what it confirms.
    let session = Secret::random();
    let confirm = challenge(
        ChallengePurpose::Confirm {
            action: "口座を登録: れんけい銀行 本店 普通 1234567".into(),
            grant: None,
        },
        &session,
        60_000,
    );
    s.insert_challenge(confirm.clone()).await.unwrap();
    assert_eq!(s.challenge(&confirm.code).await.unwrap(), Some(confirm));
    // … and the consent it gives.
    let consenting = challenge(
        ChallengePurpose::Confirm {
            action: "同意: れんけい銀行に所得を提供".into(),
            grant: Some("gr_0123456789abcdef0123456789".into()),
        },
        &session,
        60_000,
    );
    s.insert_challenge(consenting.clone()).await.unwrap();
    assert_eq!(s.challenge(&consenting.code).await.unwrap(), Some(consenting));

    // A login keeps the asking browser's address (IPv6 too) and its number;
    // one signed with another number is refused: never approved after.
    let other = Secret::random();
    let phished = Challenge::new(
        ChallengePurpose::Login,
        &other,
        "2001:db8::42".parse().unwrap(),
        UnixMillis(T0),
        60_000,
    );
    assert!(phished.match_value.is_some());
    s.insert_challenge(phished.clone()).await.unwrap();
    assert_eq!(s.challenge(&phished.code).await.unwrap(), Some(phished.clone()));
    let end = phished.expires_at.0;
    assert!(
        !s.refuse_challenge(&phished.code, UnixMillis(end + 1))
            .await
            .unwrap()
    );
    assert!(
        !s.refuse_challenge(&ShortCode::random(), UnixMillis(T0))
            .await
            .unwrap()
    );
    assert!(s.refuse_challenge(&phished.code, UnixMillis(end)).await.unwrap());
    assert!(
        !s.refuse_challenge(&phished.code, UnixMillis(T0)).await.unwrap(),
        "once"
    );
    assert_eq!(
        s.challenge(&phished.code).await.unwrap().unwrap().state,
        ChallengeState::Refused
    );
    assert!(
        !s.approve_challenge(&phished.code, holder("C-1", 42), UnixMillis(T0))
            .await
            .unwrap()
    );
    assert_eq!(
        s.take_challenge(&phished.code, other.hash(), UnixMillis(T0))
            .await
            .unwrap(),
        None
    );
    // An approved one cannot be refused.
    let fine = challenge(ChallengePurpose::Login, &other, 60_000);
    s.insert_challenge(fine.clone()).await.unwrap();
    assert!(
        s.approve_challenge(&fine.code, holder("C-1", 42), UnixMillis(T0))
            .await
            .unwrap()
    );
    assert!(!s.refuse_challenge(&fine.code, UnixMillis(T0)).await.unwrap());
}

async fn sessions_and_staged_actions(s: &impl PortalStore) {
    let a = session("C-1", T0);
    assert_eq!(s.session(a.id).await.unwrap(), None);
    s.insert_session(a.clone()).await.unwrap();
    assert_eq!(s.session(a.id).await.unwrap(), Some(a.clone()));
    assert!(is_conflict(s.insert_session(a.clone()).await));
    // Touching records the time and whom the session acts for.
    s.touch_session(a.id, UnixMillis(T0 + 5), Some(ProxyId(7)))
        .await
        .unwrap();
    let touched = s.session(a.id).await.unwrap().unwrap();
    assert_eq!(touched.last_seen, UnixMillis(T0 + 5));
    assert_eq!(touched.acting_for, Some(ProxyId(7)));
    assert_eq!(touched.created_at, a.created_at);
    s.touch_session(a.id, UnixMillis(T0 + 6), None).await.unwrap();
    assert_eq!(s.session(a.id).await.unwrap().unwrap().acting_for, None);
    // Touching an unknown session changes nothing.
    s.touch_session(Secret::random().hash(), UnixMillis(T0), None)
        .await
        .unwrap();

    // Staged actions: read by id, taken only by their session, once.
    let b = session("C-2", T0);
    s.insert_session(b.clone()).await.unwrap();
    let pa = pending(a.id, T0);
    let pb = pending(b.id, T0);
    assert_eq!(s.pending(pa.id).await.unwrap(), None);
    s.insert_pending(pa.clone()).await.unwrap();
    s.insert_pending(pb.clone()).await.unwrap();
    assert!(is_conflict(s.insert_pending(pa.clone()).await));
    assert_eq!(s.pending(pa.id).await.unwrap(), Some(pa.clone()));
    assert_eq!(
        s.take_pending(pa.id, b.id).await.unwrap(),
        None,
        "another session's"
    );
    assert_eq!(s.pending(pa.id).await.unwrap(), Some(pa.clone()), "still there");
    assert_eq!(s.take_pending(pa.id, a.id).await.unwrap(), Some(pa.clone()));
    assert_eq!(s.take_pending(pa.id, a.id).await.unwrap(), None);
    assert_eq!(s.pending(pa.id).await.unwrap(), None);

    // Logging out drops the session and what it staged, nobody else's.
    let pa2 = pending(a.id, T0);
    s.insert_pending(pa2.clone()).await.unwrap();
    s.delete_session(a.id).await.unwrap();
    assert_eq!(s.session(a.id).await.unwrap(), None);
    assert_eq!(s.pending(pa2.id).await.unwrap(), None);
    assert_eq!(s.session(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(s.pending(pb.id).await.unwrap(), Some(pb));
    // Deleting again is harmless.
    s.delete_session(a.id).await.unwrap();
}

async fn logins(s: &impl PortalStore) {
    let who = person("C-9");
    assert_eq!(s.last_card(&who).await.unwrap(), None);
    let first = holder("C-9", 1);
    s.record_login(&first, UnixMillis(T0)).await.unwrap();
    assert_eq!(s.last_card(&who).await.unwrap(), Some(first));
    // A new card replaces the old one.
    let second = CardHolder {
        profile: CardProfile::Rsa2048Sha256,
        card_status_since: 1_700_000_000,
        ..holder("C-9", u64::MAX >> 1)
    };
    s.record_login(&second, UnixMillis(T0 + 1)).await.unwrap();
    assert_eq!(s.last_card(&who).await.unwrap(), Some(second));
    assert_eq!(s.last_card(&person("C-10")).await.unwrap(), None);
}

async fn proxies(s: &impl PortalStore) {
    assert_eq!(s.proxy(ProxyId(1)).await.unwrap(), None);
    assert_eq!(s.proxies_of(&person("P-1")).await.unwrap(), vec![]);
    // Ids are assigned by the store (whatever the caller put), distinct and
    // increasing.
    let a = s.insert_proxy(proxy("P-1", "R-1")).await.unwrap();
    let b = s
        .insert_proxy(Proxy {
            id: a.id,
            basis: ProxyBasis::Guardianship {
                reference: "東京家庭裁判所 令和7年(家)第123号".into(),
            },
            principal_card: None,
            representative_card: None,
            scopes: ScopeSet::new([]),
            ..proxy("P-2", "P-1")
        })
        .await
        .unwrap();
    let c = s.insert_proxy(proxy("P-3", "R-3")).await.unwrap();
    assert!(a.id < b.id && b.id < c.id, "{a:?} {b:?} {c:?}");
    assert_eq!(s.proxy(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.proxy(b.id).await.unwrap(), Some(b.clone()));
    // Principal or representative, in order.
    assert_eq!(
        s.proxies_of(&person("P-1")).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(s.proxies_of(&person("R-1")).await.unwrap(), vec![a.clone()]);
    // An id nobody was given is not found, however large.
    assert_eq!(s.proxy(ProxyId(u64::MAX)).await.unwrap(), None);
    assert_eq!(s.proxy(ProxyId(i64::MAX as u64)).await.unwrap(), None);

    // Status changes only from the status the caller saw.
    let held = Proxy {
        status: ProxyStatus::OnHold {
            since: UnixMillis(T0 + 10),
            reason: HoldReason::RepresentativeCardChanged,
        },
        representative_card: CardSerial::from_u64(99),
        ..a.clone()
    };
    let revoked_at = ProxyStatus::Revoked {
        at: UnixMillis(T0 + 1),
    };
    assert!(!s.update_proxy(&held, revoked_at).await.unwrap());
    assert_eq!(s.proxy(a.id).await.unwrap(), Some(a.clone()), "unchanged");
    assert!(s.update_proxy(&held, ProxyStatus::Active).await.unwrap());
    assert_eq!(s.proxy(a.id).await.unwrap(), Some(held.clone()));
    assert!(
        !s.update_proxy(&held, ProxyStatus::Active).await.unwrap(),
        "changed meanwhile"
    );
    let confirmed = Proxy {
        status: ProxyStatus::Active,
        confirmed_at: UnixMillis(T0 + 20),
        ..held.clone()
    };
    assert!(s.update_proxy(&confirmed, held.status).await.unwrap());
    assert_eq!(s.proxy(a.id).await.unwrap(), Some(confirmed.clone()));
    let revoked = Proxy {
        status: revoked_at,
        ..confirmed.clone()
    };
    assert!(s.update_proxy(&revoked, ProxyStatus::Active).await.unwrap());
    assert_eq!(s.proxy(a.id).await.unwrap(), Some(revoked));
    // The other proxies did not move; unknown ids update nothing.
    assert_eq!(s.proxy(b.id).await.unwrap(), Some(b.clone()));
    let ghost = Proxy {
        id: ProxyId(u64::MAX),
        ..b.clone()
    };
    assert!(!s.update_proxy(&ghost, ProxyStatus::Active).await.unwrap());
    let ghost = Proxy {
        id: ProxyId(c.id.0 + 1000),
        ..b.clone()
    };
    assert!(!s.update_proxy(&ghost, ProxyStatus::Active).await.unwrap());
}

async fn invitations(s: &impl PortalStore) {
    let i = invitation(T0 + 1000);
    assert_eq!(s.take_invitation(&i.code, UnixMillis(T0)).await.unwrap(), None);
    s.insert_invitation(i.clone()).await.unwrap();
    assert!(is_conflict(s.insert_invitation(i.clone()).await));
    // Expired: not given, and not consumed either.
    assert_eq!(
        s.take_invitation(&i.code, UnixMillis(T0 + 1001)).await.unwrap(),
        None
    );
    assert_eq!(
        s.take_invitation(&i.code, UnixMillis(T0 + 1000)).await.unwrap(),
        Some(i.clone())
    );
    assert_eq!(
        s.take_invitation(&i.code, UnixMillis(T0)).await.unwrap(),
        None,
        "once"
    );
}

async fn acts(s: &impl PortalStore) {
    let p = s.insert_proxy(proxy("P-1", "R-1")).await.unwrap();
    assert_eq!(s.acts_for(&person("P-1"), 10).await.unwrap(), vec![]);
    let acts: Vec<ProxyAct> = (0..5).map(|i| act(p.id, &format!("act {i}"), T0 + i)).collect();
    for a in &acts {
        s.record_act(a.clone()).await.unwrap();
    }
    let newest_first: Vec<ProxyAct> = acts.iter().rev().cloned().collect();
    assert_eq!(s.acts_for(&person("P-1"), 10).await.unwrap(), newest_first);
    assert_eq!(
        s.acts_for(&person("P-1"), 2).await.unwrap(),
        newest_first[..2].to_vec()
    );
    // A limit of zero still shows the newest.
    assert_eq!(
        s.acts_for(&person("P-1"), 0).await.unwrap(),
        newest_first[..1].to_vec()
    );
    assert_eq!(s.acts_for(&person("R-1"), 10).await.unwrap(), vec![]);
    // An act through a proxy that does not exist is refused, and nothing
    // is recorded.
    assert!(s.record_act(act(ProxyId(p.id.0 + 1000), "x", T0)).await.is_err());
    assert!(s.record_act(act(ProxyId(u64::MAX), "x", T0)).await.is_err());
    assert_eq!(s.acts_for(&person("P-1"), 10).await.unwrap(), newest_first);
}

async fn purge(s: &impl PortalStore) {
    // A fresh start of time, far from what the other steps stored.
    let now = T0 + 10 * 86_400_000;
    let max = 4 * 3_600_000;
    let binding = Secret::random();
    // Challenges go as soon as they expire.
    let gone = Challenge::new(
        ChallengePurpose::Login,
        &binding,
        "::1".parse().unwrap(),
        UnixMillis(now - 300_001),
        300_000,
    );
    s.insert_challenge(gone.clone()).await.unwrap();
    let kept = Challenge::new(
        ChallengePurpose::Login,
        &binding,
        "::1".parse().unwrap(),
        UnixMillis(now - 300_000),
        300_000,
    );
    s.insert_challenge(kept.clone()).await.unwrap();
    let old = session("C-1", now - max - 1);
    let young = session("C-1", now - max);
    s.insert_session(old.clone()).await.unwrap();
    s.insert_session(young.clone()).await.unwrap();
    let old_pending = pending(young.id, now - max - 1);
    let young_pending = pending(young.id, now - max);
    s.insert_pending(old_pending.clone()).await.unwrap();
    s.insert_pending(young_pending.clone()).await.unwrap();
    let expired = invitation(now - 1);
    let open = invitation(now);
    s.insert_invitation(expired.clone()).await.unwrap();
    s.insert_invitation(open.clone()).await.unwrap();
    // Everything the earlier steps stored is older still: count what this
    // purge removes in all, then check the ones of this step.
    let removed = s.purge(UnixMillis(now), max).await.unwrap();
    assert!(removed >= 4, "{removed}");
    assert_eq!(
        s.purge(UnixMillis(now), max).await.unwrap(),
        0,
        "nothing left to purge"
    );
    assert_eq!(s.challenge(&gone.code).await.unwrap(), None);
    assert_eq!(s.challenge(&kept.code).await.unwrap(), Some(kept));
    assert_eq!(s.session(old.id).await.unwrap(), None);
    assert_eq!(s.session(young.id).await.unwrap(), Some(young));
    assert_eq!(s.pending(old_pending.id).await.unwrap(), None);
    assert_eq!(s.pending(young_pending.id).await.unwrap(), Some(young_pending));
    assert_eq!(
        s.take_invitation(&expired.code, UnixMillis(0)).await.unwrap(),
        None
    );
    assert_eq!(
        s.take_invitation(&open.code, UnixMillis(now)).await.unwrap(),
        Some(open)
    );
}

/// Purge counts exactly what it removes (on a store of its own).
async fn purge_counts(s: &impl PortalStore) {
    let now = T0;
    let binding = Secret::random();
    s.insert_challenge(Challenge::new(
        ChallengePurpose::Login,
        &binding,
        "::1".parse().unwrap(),
        UnixMillis(now - 7_200_000),
        1,
    ))
    .await
    .unwrap();
    s.insert_session(session("C-1", now - 100)).await.unwrap();
    s.insert_session(session("C-1", now)).await.unwrap();
    let sid = Secret::random().hash();
    s.insert_pending(pending(sid, now - 100)).await.unwrap();
    s.insert_invitation(invitation(now - 1)).await.unwrap();
    s.insert_invitation(invitation(now + 1)).await.unwrap();
    assert_eq!(s.purge(UnixMillis(now), 50).await.unwrap(), 4);
    assert_eq!(s.purge(UnixMillis(now), 50).await.unwrap(), 0);
}

/// The portal suite; opening the store again migrates nothing and keeps
/// the state; purging counts what it deletes.
pub async fn behaves<B: Backend>() {
    let Some(place) = place::<B>("portal").await else {
        return;
    };
    let s = place.portal().await.unwrap();
    portal_store_behaves(&s).await;
    let again = place.portal().await.unwrap();
    assert!(again.last_card(&person("C-9")).await.unwrap().is_some());
    let Some(place) = super::place::<B>("portal_purge").await else {
        return;
    };
    purge_counts(&place.portal().await.unwrap()).await;
}

/// Proxy ids beyond i64 are refused where they would be stored, and
/// nothing changes. (The SQLite store used to store them wrapped to a
/// negative INTEGER and read them back unchanged.)
pub async fn out_of_range_proxy_ids_are_refused<B: Backend>() {
    let Some(place) = place::<B>("portal_range").await else {
        return;
    };
    let s = place.portal().await.unwrap();
    let huge = ProxyId(i64::MAX as u64 + 1);
    let a = Session {
        acting_for: Some(huge),
        ..session("C-1", T0)
    };
    let r = s.insert_session(a.clone()).await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    assert_eq!(s.session(a.id).await.unwrap(), None, "nothing stored");
    let b = Session {
        acting_for: Some(ProxyId(3)),
        ..session("C-1", T0)
    };
    s.insert_session(b.clone()).await.unwrap();
    let r = s.touch_session(b.id, UnixMillis(T0 + 9), Some(huge)).await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    assert_eq!(s.session(b.id).await.unwrap(), Some(b), "unchanged");
    let p = s.insert_proxy(proxy("P-1", "R-1")).await.unwrap();
    let r = s.record_act(act(ProxyId(u64::MAX), "x", T0)).await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    assert_eq!(s.acts_for(&person("P-1"), 10).await.unwrap(), vec![]);
    assert_eq!(s.proxy(p.id).await.unwrap(), Some(p));
}

fn rand_bit() -> bool {
    renkei_ids::random_bytes::<1>()[0] & 1 == 1
}

/// Run `n` copies of `f` at once; how many succeeded.
async fn race<S, F, Fut>(s: &Arc<S>, n: usize, f: F) -> usize
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    super::race(s, n, f).await.into_iter().filter(|won| *won).count()
}

/// Of concurrent attempts to use a single-use thing, exactly one wins.
async fn racing_single_use<S: PortalStore>(s: Arc<S>) {
    let now = UnixMillis(T0);
    for round in 0..10 {
        let browser = Secret::random();
        let c = challenge(ChallengePurpose::Login, &browser, 300_000);
        s.insert_challenge(c.clone()).await.unwrap();
        let code = c.code.clone();
        let approvals = race(&s, 4, |s| {
            let code = code.clone();
            async move { s.approve_challenge(&code, holder("C-1", 5), now).await.unwrap() }
        })
        .await;
        assert_eq!(approvals, 1, "round {round}: approvals");
        // Approval and refusal racing: one of them, never both.
        let raced = challenge(ChallengePurpose::Login, &Secret::random(), 300_000);
        s.insert_challenge(raced.clone()).await.unwrap();
        let code2 = raced.code.clone();
        let decided = race(&s, 4, |s| {
            let code = code2.clone();
            async move {
                if rand_bit() {
                    s.approve_challenge(&code, holder("C-1", 5), now).await.unwrap()
                } else {
                    s.refuse_challenge(&code, now).await.unwrap()
                }
            }
        })
        .await;
        assert_eq!(decided, 1, "round {round}: approve or refuse");
        let binding = browser.hash();
        let takes = race(&s, 4, |s| {
            let code = code.clone();
            async move { s.take_challenge(&code, binding, now).await.unwrap().is_some() }
        })
        .await;
        assert_eq!(takes, 1, "round {round}: challenge takes");

        let sid = Secret::random().hash();
        let p = pending(sid, T0);
        s.insert_pending(p.clone()).await.unwrap();
        let id = p.id;
        let takes = race(&s, 4, |s| async move {
            s.take_pending(id, sid).await.unwrap().is_some()
        })
        .await;
        assert_eq!(takes, 1, "round {round}: staged action takes");

        let i = invitation(T0 + 1000);
        s.insert_invitation(i.clone()).await.unwrap();
        let code = i.code.clone();
        let takes = race(&s, 4, |s| {
            let code = code.clone();
            async move { s.take_invitation(&code, now).await.unwrap().is_some() }
        })
        .await;
        assert_eq!(takes, 1, "round {round}: invitation takes");

        let p = s.insert_proxy(proxy("P-1", "R-1")).await.unwrap();
        let changes = race(&s, 4, |s| {
            let next = Proxy {
                status: ProxyStatus::Revoked { at: now },
                ..p.clone()
            };
            async move { s.update_proxy(&next, ProxyStatus::Active).await.unwrap() }
        })
        .await;
        assert_eq!(changes, 1, "round {round}: proxy changes");
    }
}

/// Racing users of single-use things.
pub async fn single_use_under_concurrency<B: Backend>() {
    let Some(place) = place::<B>("portal_race").await else {
        return;
    };
    racing_single_use(Arc::new(place.portal().await.unwrap())).await;
}
