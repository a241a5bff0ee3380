//! The resident registry's store, cards included.

use std::collections::HashSet;

use renkei_card::{CardProfile, CardSerial, CertPurpose, RevocationReason, RevokedCard};
use renkei_crypto::DataKey;
use renkei_ids::{
    AcquisitionNumber, Address, BirthDate, CodeAlgorithm, CorporateNumber, FourFacts, InstitutionCode,
    KanaName, LinkId, MyNumber, PersonName, Sex,
};
use renkei_protocol::{StoreError, UnixMillis};
use renkei_registry::{
    AddressPeriod, Card, CardAction, CardActionRefusal, CardCert, CardId, CardStatus, HouseholdId, NewCard,
    NewResident, RegistryStore, Resident, ResidentEvent, ResidentStatus, StoredEvent,
};

use super::node::{expect_recent_provided, node_record, node_record_like};
use super::{Backend, place};

const HOME: &str = "東京都世田谷区太子堂四丁目1番1号";
const MOVED: &str = "神奈川県横浜市中区山下町1番地";
const P: CardProfile = CardProfile::EcdsaP384Sha384;
/// Residents registered in one batch: more than one PostgreSQL statement binds.
const MANY: u64 = 6_000;

fn corp(n: u64) -> CorporateNumber {
    CorporateNumber::from_base_number(n).unwrap()
}

fn code(n: u8) -> InstitutionCode {
    InstitutionCode::new(CodeAlgorithm::Aes256Siv, 1, vec![n; 32]).unwrap()
}

fn facts(address: &str) -> FourFacts {
    FourFacts {
        name: PersonName::parse("高橋 健一").unwrap(),
        address: Address::parse(address).unwrap(),
        birth_date: BirthDate::parse("1975-10-10").unwrap(),
        sex: Sex::Male,
    }
}

fn resident(address: &str, household: u64, at: i64) -> Resident {
    NewResident {
        facts: facts(address),
        kana: KanaName::parse("タカハシ　ケンイチ").unwrap(),
        household: HouseholdId(household),
        address_since: (household % 2 == 1).then(|| BirthDate::parse("2019-04-01").unwrap()),
    }
    .register(UnixMillis(at))
}

fn serial(n: u64) -> CardSerial {
    CardSerial::from_u64(n).unwrap()
}

fn cert(n: u64, purpose: CertPurpose, issued_at: i64) -> CardCert {
    CardCert {
        serial: serial(n),
        purpose,
        der: vec![n as u8, 0x30, 0x82],
        issued_at: UnixMillis(issued_at),
        not_after: UnixMillis(issued_at + 10_000),
        revoked: None,
    }
}

/// A card; the authentication certificate has the lower serial (SQLite
/// orders certificates of the same instant by serial, see the report).
fn new_card(link: LinkId, auth: u64, sign: u64, at: i64) -> NewCard {
    NewCard {
        link_id: link,
        profile: P,
        issued_at: UnixMillis(at),
        certs: vec![
            cert(auth, CertPurpose::Authentication, at),
            cert(sign, CertPurpose::Signing, at),
        ],
    }
}

fn revoked(c: &CardCert, at: i64, reason: RevocationReason) -> CardCert {
    CardCert {
        revoked: Some((UnixMillis(at), reason)),
        ..c.clone()
    }
}

fn listed(list: &[RevokedCard]) -> Vec<(u64, i64, RevocationReason)> {
    list.iter()
        .map(|r| {
            (
                r.serial.value(),
                (r.at.unix_timestamp_nanos() / 1_000_000) as i64,
                r.reason,
            )
        })
        .collect()
}

async fn crl<S: RegistryStore>(
    s: &S,
    purpose: CertPurpose,
    now: i64,
) -> (u64, Vec<(u64, i64, RevocationReason)>) {
    let (n, list) = s.card_revocations(P, purpose, UnixMillis(now)).await.unwrap();
    (n, listed(&list))
}

async fn crl_numbers<S: RegistryStore>(s: &S) -> (u64, u64) {
    (
        crl(s, CertPurpose::Authentication, 0).await.0,
        crl(s, CertPurpose::Signing, 0).await.0,
    )
}

fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
}

/// What every registry store must do.
async fn registry_store_behaves<S: RegistryStore + Clone>(s: &S) {
    let c = s.counts().await.unwrap();
    assert_eq!((c.residents, c.events, c.acquisitions, c.cards), (0, 0, 0, 0));
    assert!(s.events(0, 10).await.unwrap().is_empty());
    assert!(s.without_own_code(10).await.unwrap().is_empty());
    assert!(s.link_ids_page(None, 10).await.unwrap().is_empty());
    assert!(s.by_my_numbers(Vec::new()).await.unwrap().is_empty());
    assert!(s.records(None, 10).await.unwrap().is_empty());

    let all = residents(s).await;
    own_codes(s, &all).await;
    acquisitions(s).await;
    events(s, &all[0], &all[1]).await;
    cards(s, &all[1]).await;
    records(s).await;

    let c = s.counts().await.unwrap();
    // MANY + 4 registered and the card holder; 3 events before the cards and 2
    // for the holder; 4 claims; 3 cards.
    assert_eq!(
        (c.residents, c.events, c.acquisitions, c.cards),
        (MANY + 5, 5, 4, 3)
    );
}

/// Registration is all or nothing; lookups answer in the order asked.
async fn residents<S: RegistryStore>(s: &S) -> Vec<Resident> {
    let r1 = resident(HOME, 1, 10);
    let r2 = resident(HOME, 2, 11);
    s.register(vec![r1.clone(), r2.clone()]).await.unwrap();

    let fresh = resident(HOME, 3, 12);
    let mut same_number = resident(HOME, 4, 12);
    same_number.my_number = r1.my_number.clone();
    let mut same_code = resident(HOME, 4, 12);
    same_code.resident_code = r2.resident_code.clone();
    let mut same_link = resident(HOME, 4, 12);
    same_link.link_id = r1.link_id;
    for dup in [same_number, same_code, same_link, fresh.clone()] {
        conflict(s.register(vec![fresh.clone(), dup]).await);
    }
    assert_eq!(s.counts().await.unwrap().residents, 2);
    assert_eq!(
        s.by_my_numbers(vec![fresh.my_number.clone()]).await.unwrap(),
        vec![None]
    );
    s.register(Vec::new()).await.unwrap();

    assert_eq!(
        s.by_my_numbers(vec![
            r1.my_number.clone(),
            MyNumber::random(),
            r2.my_number.clone(),
            r1.my_number.clone(),
        ])
        .await
        .unwrap(),
        vec![Some(r1.clone()), None, Some(r2.clone()), Some(r1.clone())]
    );
    assert_eq!(s.resident_by_link(r1.link_id).await.unwrap(), Some(r1.clone()));
    assert_eq!(s.resident_by_link(LinkId::random()).await.unwrap(), None);

    // The largest household number a BIGINT holds, and an own code given
    // at registration, round-trip.
    let big = resident(HOME, i64::MAX as u64, 13);
    let mut coded = resident(MOVED, 0, 13);
    coded.own_code = Some(code(50));
    s.register(vec![big.clone(), coded.clone()]).await.unwrap();
    assert_eq!(s.resident_by_link(big.link_id).await.unwrap(), Some(big.clone()));
    assert_eq!(s.by_own_code(&code(50)).await.unwrap(), Some(coded.clone()));

    // Many at once (SQLite asks in chunks, PostgreSQL binds in chunks).
    // Numbers drawn this often can meet (a resident record code has ten
    // random digits: about one run in 500 drew one twice): draw again until
    // each is new.
    let mut drawn: HashSet<String> = [&r1, &r2, &big, &coded]
        .iter()
        .flat_map(|r| [r.my_number.expose(), r.resident_code.as_string()])
        .collect();
    let many: Vec<Resident> = (0..MANY)
        .map(|i| {
            loop {
                let r = resident(HOME, i, 20 + i as i64);
                if drawn.insert(r.my_number.expose()) && drawn.insert(r.resident_code.as_string()) {
                    break r;
                }
            }
        })
        .collect();
    s.register(many.clone()).await.unwrap();
    let asked: Vec<MyNumber> = many.iter().rev().map(|r| r.my_number.clone()).collect();
    let found = s.by_my_numbers(asked).await.unwrap();
    assert_eq!(found, many.iter().rev().cloned().map(Some).collect::<Vec<_>>());
    [r1, r2, big, coded].into_iter().chain(many).collect()
}

async fn own_codes<S: RegistryStore>(s: &S, all: &[Resident]) {
    let (r1, r2) = (&all[0], &all[1]);
    let without = |rs: &[Resident]| -> HashSet<LinkId> {
        rs.iter()
            .filter(|r| r.own_code.is_none())
            .map(|r| r.link_id)
            .collect()
    };
    let got: HashSet<LinkId> = s.without_own_code(10_000).await.unwrap().into_iter().collect();
    assert_eq!(got, without(all));
    assert_eq!(got.len(), MANY as usize + 3);
    assert!(s.without_own_code(0).await.unwrap().is_empty());
    let five = s.without_own_code(5).await.unwrap();
    assert_eq!(five.len(), 5);
    assert!(five.iter().all(|l| got.contains(l)));

    s.set_own_codes(vec![(r1.link_id, code(9))]).await.unwrap();
    let back = s.by_own_code(&code(9)).await.unwrap().unwrap();
    assert_eq!(back.link_id, r1.link_id);
    assert_eq!(back.own_code, Some(code(9)));
    assert_eq!(s.by_own_code(&code(99)).await.unwrap(), None);

    // A code another resident holds is a conflict; nothing of the batch
    // is stored.
    conflict(
        s.set_own_codes(vec![(all[5].link_id, code(12)), (r2.link_id, code(9))])
            .await,
    );
    assert_eq!(s.by_own_code(&code(12)).await.unwrap(), None);
    assert_eq!(
        s.resident_by_link(r2.link_id).await.unwrap().unwrap().own_code,
        None
    );
    // One statement per resident, in order: a code freed earlier in the
    // batch can be taken later in it, not the other way round.
    s.set_own_codes(vec![(r1.link_id, code(10)), (r2.link_id, code(9))])
        .await
        .unwrap();
    assert_eq!(
        s.by_own_code(&code(9)).await.unwrap().unwrap().link_id,
        r2.link_id
    );
    assert_eq!(
        s.by_own_code(&code(10)).await.unwrap().unwrap().link_id,
        r1.link_id
    );
    conflict(
        s.set_own_codes(vec![(r1.link_id, code(9)), (r2.link_id, code(10))])
            .await,
    );
    assert_eq!(
        s.by_own_code(&code(9)).await.unwrap().unwrap().link_id,
        r2.link_id
    );
    // An unknown person is nothing to update.
    s.set_own_codes(vec![(LinkId::random(), code(11))]).await.unwrap();
    assert_eq!(s.by_own_code(&code(11)).await.unwrap(), None);
    let got: HashSet<LinkId> = s.without_own_code(10_000).await.unwrap().into_iter().collect();
    assert_eq!(got.len(), MANY as usize + 1);
    assert!(!got.contains(&r1.link_id) && !got.contains(&r2.link_id));

    // Link ids page in byte order.
    let mut expected: Vec<[u8; 16]> = all.iter().map(|r| *r.link_id.as_bytes()).collect();
    expected.sort_unstable();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.link_ids_page(after, 47).await.unwrap();
        assert!(page.len() <= 47);
        let Some(last) = page.last() else { break };
        after = Some(*last);
        seen.extend(page.iter().map(|l| *l.as_bytes()));
    }
    assert_eq!(seen, expected);
    assert_eq!(s.link_ids_page(None, 0).await.unwrap().len(), 1);
    let top = LinkId::from_bytes(*expected.last().unwrap());
    assert!(s.link_ids_page(Some(top), 10).await.unwrap().is_empty());
}

async fn acquisitions<S: RegistryStore>(s: &S) {
    let (a, b, c) = (
        AcquisitionNumber::random(),
        AcquisitionNumber::random(),
        AcquisitionNumber::random(),
    );
    let at = UnixMillis(2);
    assert_eq!(
        s.claim_acquisition_numbers(corp(1), vec![a, b], at)
            .await
            .unwrap(),
        vec![true, true]
    );
    // Used before, fresh, asked twice: only the first use counts.
    assert_eq!(
        s.claim_acquisition_numbers(corp(1), vec![a, c, c], at)
            .await
            .unwrap(),
        vec![false, true, false]
    );
    // Numbers are one-off per institution.
    assert_eq!(
        s.claim_acquisition_numbers(corp(2), vec![a], at).await.unwrap(),
        vec![true]
    );
    assert!(
        s.claim_acquisition_numbers(corp(2), Vec::new(), at)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.counts().await.unwrap().acquisitions, 4);
}

async fn events<S: RegistryStore>(s: &S, r1: &Resident, r2: &Resident) {
    let moved = Address::parse(MOVED).unwrap();
    let moved_on = BirthDate::parse("2025-06-30").unwrap();
    assert_eq!(s.addresses_left(r1.link_id).await.unwrap(), vec![]);
    let died = BirthDate::parse("2026-01-02").unwrap();
    assert_eq!(
        s.change_address(r1.my_number.clone(), moved.clone(), moved_on, UnixMillis(4))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        s.change_address(MyNumber::random(), moved.clone(), moved_on, UnixMillis(4))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.record_death(MyNumber::random(), died, UnixMillis(5))
            .await
            .unwrap(),
        None
    );
    // Numbers stay dense: nothing above used one.
    assert_eq!(
        s.record_death(r2.my_number.clone(), died, UnixMillis(5))
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        s.record_death(r2.my_number.clone(), died, UnixMillis(6))
            .await
            .unwrap(),
        None,
        "only once"
    );
    // The register still takes a deceased person's address change.
    assert_eq!(
        s.change_address(r2.my_number.clone(), moved.clone(), moved_on, UnixMillis(7))
            .await
            .unwrap(),
        Some(3)
    );
    let all = s.events(0, 10).await.unwrap();
    assert_eq!(
        all,
        vec![
            StoredEvent {
                seq: 1,
                link_id: r1.link_id,
                event: ResidentEvent::AddressChanged {
                    new_address: moved.clone(),
                    moved_on: Some(moved_on),
                    previous: Some(AddressPeriod {
                        address: r1.facts.address.clone(),
                        since: r1.address_since,
                    }),
                },
                at: UnixMillis(4),
            },
            StoredEvent {
                seq: 2,
                link_id: r2.link_id,
                event: ResidentEvent::Died { date: died },
                at: UnixMillis(5),
            },
            StoredEvent {
                seq: 3,
                link_id: r2.link_id,
                event: ResidentEvent::AddressChanged {
                    new_address: moved.clone(),
                    moved_on: Some(moved_on),
                    previous: Some(AddressPeriod {
                        address: r2.facts.address.clone(),
                        since: r2.address_since,
                    }),
                },
                at: UnixMillis(7),
            },
        ]
    );
    assert_eq!(s.events(1, 10).await.unwrap(), all[1..].to_vec());
    // The residence history: the address left, with its start, and the
    // current one from the day of the move.
    assert_eq!(
        s.addresses_left(r1.link_id).await.unwrap(),
        vec![AddressPeriod {
            address: r1.facts.address.clone(),
            since: r1.address_since,
        }]
    );
    let now = s.by_my_numbers(vec![r1.my_number.clone()]).await.unwrap();
    let now = now[0].as_ref().unwrap();
    assert_eq!((&now.facts.address, now.address_since), (&moved, Some(moved_on)));
    assert_eq!(s.events(1, 1).await.unwrap(), all[1..2].to_vec());
    assert!(s.events(3, 10).await.unwrap().is_empty());
    // A limit of 0 is read as 1.
    assert_eq!(s.events(0, 0).await.unwrap(), all[..1].to_vec());

    let now = s
        .by_my_numbers(vec![r1.my_number.clone(), r2.my_number.clone()])
        .await
        .unwrap();
    let (n1, n2) = (now[0].clone().unwrap(), now[1].clone().unwrap());
    assert_eq!(n1.facts.address, moved);
    assert_eq!(n1.status, ResidentStatus::Living);
    assert_eq!(n2.status, ResidentStatus::Deceased { date: died });
}

/// Cards through their life: issuance, suspension, renewal, reissue, loss,
/// an address change and death, with the CRLs they change.
async fn cards<S: RegistryStore>(s: &S, dead: &Resident) {
    let p = resident(HOME, 9, 30);
    s.register(vec![p.clone()]).await.unwrap();
    let home = facts(HOME);
    let (auth, sign) = (CertPurpose::Authentication, CertPurpose::Signing);

    // The facts must be those on file, of a living resident.
    conflict(
        s.insert_card(new_card(p.link_id, 101, 102, 1000), facts(MOVED))
            .await,
    );
    conflict(
        s.insert_card(new_card(LinkId::random(), 101, 102, 1000), home.clone())
            .await,
    );
    let dead_now = s.resident_by_link(dead.link_id).await.unwrap().unwrap();
    conflict(
        s.insert_card(new_card(dead.link_id, 101, 102, 1000), dead_now.facts)
            .await,
    );
    assert!(s.cards_of(p.link_id).await.unwrap().is_empty());
    assert_eq!(s.counts().await.unwrap().cards, 0);
    assert_eq!(crl(s, auth, 0).await, (0, vec![]));

    let nc1 = new_card(p.link_id, 101, 102, 1000);
    let (c1, replaced) = s.insert_card(nc1.clone(), home.clone()).await.unwrap();
    assert_eq!(replaced, None);
    assert_eq!(
        c1,
        Card {
            id: c1.id,
            link_id: p.link_id,
            profile: P,
            status: CardStatus::Active,
            status_since: UnixMillis(1000),
            issued_at: UnixMillis(1000),
            certs: nc1.certs.clone(),
        }
    );
    assert_eq!(s.card(c1.id).await.unwrap(), Some(c1.clone()));
    assert_eq!(s.card_by_serial(serial(101)).await.unwrap(), Some(c1.clone()));
    assert_eq!(s.card_by_serial(serial(102)).await.unwrap(), Some(c1.clone()));
    assert_eq!(s.card_by_serial(serial(999)).await.unwrap(), None);
    assert_eq!(s.cards_of(p.link_id).await.unwrap(), vec![c1.clone()]);
    assert_eq!(s.cards_of(LinkId::random()).await.unwrap(), vec![]);
    assert_eq!(s.card(CardId(c1.id.0 + 1000)).await.unwrap(), None);
    assert_eq!(s.card(CardId(u64::MAX)).await.unwrap(), None);

    // A serial already taken: a conflict, and the card it would have
    // replaced is untouched.
    conflict(
        s.insert_card(new_card(p.link_id, 301, 101, 1500), home.clone())
            .await,
    );
    assert_eq!(s.cards_of(p.link_id).await.unwrap(), vec![c1.clone()]);
    assert_eq!(s.card_by_serial(serial(301)).await.unwrap(), None);
    assert_eq!(crl_numbers(s).await, (0, 0));

    // Suspension holds both certificates; the CRLs list them.
    let held = s
        .card_action(c1.id, CardAction::Suspend, UnixMillis(2000))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(held.status, CardStatus::Suspended);
    assert_eq!(held.status_since, UnixMillis(2000));
    assert_eq!(
        held.certs,
        vec![
            revoked(&nc1.certs[0], 2000, RevocationReason::Suspended),
            revoked(&nc1.certs[1], 2000, RevocationReason::Suspended),
        ]
    );
    assert_eq!(s.card(c1.id).await.unwrap(), Some(held.clone()));
    assert_eq!(
        crl(s, auth, 0).await,
        (1, vec![(101, 2000, RevocationReason::Suspended)])
    );
    assert_eq!(
        crl(s, sign, 0).await,
        (1, vec![(102, 2000, RevocationReason::Suspended)])
    );
    assert_eq!(
        s.card_action(c1.id, CardAction::Suspend, UnixMillis(2100))
            .await
            .unwrap(),
        Some(Err(CardActionRefusal::NotActive(CardStatus::Suspended)))
    );
    assert_eq!(
        s.add_signing_cert(c1.id, cert(103, sign, 2500), home.clone())
            .await
            .unwrap(),
        Some(Err(CardActionRefusal::CannotRenew(CardStatus::Suspended)))
    );
    assert_eq!(s.card(c1.id).await.unwrap(), Some(held));
    assert_eq!(crl_numbers(s).await, (1, 1));

    // Resumption releases the holds.
    let resumed = s
        .card_action(c1.id, CardAction::Resume, UnixMillis(3000))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resumed.status, CardStatus::Active);
    assert_eq!(resumed.status_since, UnixMillis(3000));
    assert_eq!(resumed.certs, nc1.certs);
    assert_eq!(crl(s, auth, 0).await, (2, vec![]));
    assert_eq!(crl(s, sign, 0).await, (2, vec![]));
    assert_eq!(
        s.card_action(c1.id, CardAction::Resume, UnixMillis(3100))
            .await
            .unwrap(),
        Some(Err(CardActionRefusal::NotSuspended(CardStatus::Active)))
    );
    assert_eq!(
        s.card_action(CardId(c1.id.0 + 1000), CardAction::Suspend, UnixMillis(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.card_action(CardId(u64::MAX), CardAction::ReportLost, UnixMillis(1))
            .await
            .unwrap(),
        None
    );

    // A new signing certificate supersedes the previous one; the facts
    // must still be those on file; its serial must be free.
    conflict(
        s.add_signing_cert(c1.id, cert(103, sign, 3500), facts(MOVED))
            .await,
    );
    conflict(
        s.add_signing_cert(c1.id, cert(101, sign, 3500), home.clone())
            .await,
    );
    assert_eq!(s.card(c1.id).await.unwrap(), Some(resumed.clone()));
    assert_eq!(crl_numbers(s).await, (2, 2));
    let renewed = s
        .add_signing_cert(c1.id, cert(103, sign, 3500), home.clone())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        renewed.certs,
        vec![
            nc1.certs[0].clone(),
            revoked(&nc1.certs[1], 3500, RevocationReason::Reissued),
            cert(103, sign, 3500),
        ]
    );
    assert_eq!(renewed.current_signing(), Some(&cert(103, sign, 3500)));
    assert_eq!(
        (renewed.status, renewed.status_since),
        (CardStatus::Active, UnixMillis(3000))
    );
    assert_eq!(s.card(c1.id).await.unwrap(), Some(renewed.clone()));
    assert_eq!(
        s.card_by_serial(serial(103)).await.unwrap(),
        Some(renewed.clone())
    );
    assert_eq!(crl_numbers(s).await, (2, 3));
    assert_eq!(
        s.add_signing_cert(CardId(c1.id.0 + 1000), cert(104, sign, 3600), home.clone())
            .await
            .unwrap(),
        None
    );

    // A new card replaces the live one: reissued, its certificates
    // superseded (the one revoked for good keeps its reason and time).
    let nc2 = new_card(p.link_id, 201, 202, 4000);
    let (c2, replaced) = s.insert_card(nc2.clone(), home.clone()).await.unwrap();
    assert_eq!(replaced, Some(c1.id));
    assert!(c2.id.0 > c1.id.0);
    let c1_after = s.card(c1.id).await.unwrap().unwrap();
    assert_eq!(
        (c1_after.status, c1_after.status_since),
        (CardStatus::Reissued, UnixMillis(4000))
    );
    assert_eq!(
        c1_after.certs,
        vec![
            revoked(&nc1.certs[0], 4000, RevocationReason::Reissued),
            revoked(&nc1.certs[1], 3500, RevocationReason::Reissued),
            revoked(&cert(103, sign, 3500), 4000, RevocationReason::Reissued),
        ]
    );
    assert_eq!(
        s.cards_of(p.link_id).await.unwrap(),
        vec![c2.clone(), c1_after.clone()]
    );
    assert_eq!(crl_numbers(s).await, (3, 4));
    for action in [CardAction::Suspend, CardAction::Resume, CardAction::ReportLost] {
        assert_eq!(
            s.card_action(c1.id, action, UnixMillis(4100)).await.unwrap(),
            Some(Err(CardActionRefusal::Final(CardStatus::Reissued)))
        );
    }

    // Reported lost: final, revoked.
    let lost = s
        .card_action(c2.id, CardAction::ReportLost, UnixMillis(5000))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(lost.status, CardStatus::Lost);
    assert_eq!(
        lost.certs,
        vec![
            revoked(&nc2.certs[0], 5000, RevocationReason::Lost),
            revoked(&nc2.certs[1], 5000, RevocationReason::Lost),
        ]
    );
    assert_eq!(crl_numbers(s).await, (4, 5));

    // After a final card nothing is replaced.
    let nc3 = new_card(p.link_id, 401, 402, 6000);
    let (c3, replaced) = s.insert_card(nc3.clone(), home.clone()).await.unwrap();
    assert_eq!(replaced, None);

    // An address change revokes the signing certificate of the live card
    // in the same transaction; the card stays usable.
    s.change_address(
        p.my_number.clone(),
        Address::parse(MOVED).unwrap(),
        day(),
        UnixMillis(7000),
    )
    .await
    .unwrap()
    .unwrap();
    let c3_moved = s.card(c3.id).await.unwrap().unwrap();
    assert_eq!(
        (c3_moved.status, c3_moved.status_since),
        (CardStatus::Active, UnixMillis(6000))
    );
    assert_eq!(
        c3_moved.certs,
        vec![
            nc3.certs[0].clone(),
            revoked(&nc3.certs[1], 7000, RevocationReason::FactsChanged),
        ]
    );
    assert_eq!(c3_moved.current_signing(), None);
    assert_eq!(
        s.card(c2.id).await.unwrap(),
        Some(lost.clone()),
        "final cards stay"
    );
    assert_eq!(crl_numbers(s).await, (4, 6));
    conflict(
        s.add_signing_cert(c3.id, cert(403, sign, 7500), home.clone())
            .await,
    );
    let renewed3 = s
        .add_signing_cert(c3.id, cert(403, sign, 7500), facts(MOVED))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(renewed3.current_signing(), Some(&cert(403, sign, 7500)));
    assert_eq!(renewed3.certs[1], c3_moved.certs[1], "revoked for good stays");
    assert_eq!(crl_numbers(s).await, (4, 6), "no list changed");

    // Death ceases the card and revokes what is still good.
    let died = BirthDate::parse("2026-02-03").unwrap();
    s.record_death(p.my_number.clone(), died, UnixMillis(8000))
        .await
        .unwrap()
        .unwrap();
    let c3_dead = s.card(c3.id).await.unwrap().unwrap();
    assert_eq!(
        (c3_dead.status, c3_dead.status_since),
        (CardStatus::Ceased, UnixMillis(8000))
    );
    assert_eq!(
        c3_dead.certs,
        vec![
            revoked(&nc3.certs[0], 8000, RevocationReason::Ceased),
            revoked(&nc3.certs[1], 7000, RevocationReason::FactsChanged),
            revoked(&cert(403, sign, 7500), 8000, RevocationReason::Ceased),
        ]
    );
    assert_eq!(crl_numbers(s).await, (5, 7));
    conflict(
        s.insert_card(new_card(p.link_id, 501, 502, 9000), facts(MOVED))
            .await,
    );
    assert_eq!(
        s.cards_of(p.link_id).await.unwrap(),
        vec![c3_dead, lost, c1_after]
    );

    // The CRLs: every revoked certificate that has not expired by `now`
    // (not_after = issued + 10 s), in serial order.
    use RevocationReason::{Ceased, FactsChanged, Lost, Reissued};
    assert_eq!(
        crl(s, sign, 0).await,
        (
            7,
            vec![
                (102, 3500, Reissued),
                (103, 4000, Reissued),
                (202, 5000, Lost),
                (402, 7000, FactsChanged),
                (403, 8000, Ceased),
            ]
        )
    );
    assert_eq!(
        crl(s, auth, 0).await,
        (
            5,
            vec![(101, 4000, Reissued), (201, 5000, Lost), (401, 8000, Ceased)]
        )
    );
    // 102 expired at 11 000, 103 at 13 500.
    assert_eq!(crl(s, sign, 13_500).await.1.len(), 4);
    assert_eq!(
        crl(s, sign, 13_501).await.1,
        vec![(202, 5000, Lost), (402, 7000, FactsChanged), (403, 8000, Ceased)]
    );
    let (n, other) = s
        .card_revocations(CardProfile::Rsa2048Sha256, auth, UnixMillis(0))
        .await
        .unwrap();
    assert_eq!((n, other), (0, vec![]));
}

async fn records<S: RegistryStore>(s: &S) {
    assert_eq!(s.append_record(node_record(0)).await.unwrap(), 0);
    assert_eq!(s.append_record(node_record(1)).await.unwrap(), 1);
    let all = s.records(None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    for (i, (seq, r)) in all.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert_eq!(*r, node_record_like(r, i as i64));
    }
    assert_eq!(s.records(Some(0), 10).await.unwrap(), all[1..].to_vec());
    assert!(s.records(Some(1), 10).await.unwrap().is_empty());
    assert!(s.records(Some(u64::MAX), 10).await.unwrap().is_empty());
    assert_eq!(s.records(None, 0).await.unwrap(), all[..1].to_vec());
    // Record 0 is a provider's with a message id; 1 a requester's.
    expect_recent_provided(
        &all,
        s.recent_provided(UnixMillis(0)).await.unwrap(),
        UnixMillis(0),
    );
}

/// Concurrent transactions keep the invariants. With `strict`
/// (PostgreSQL) every call must also succeed or be refused for a reason of
/// its own: no call fails for the database's sake (a deadlock, a lost
/// update, a number taken twice). SQLite may refuse racing writers with
/// "busy".
async fn races_keep_invariants<S: RegistryStore + Clone>(s: &S, strict: bool) {
    // Events recorded at once get distinct numbers, densely.
    let people: Vec<Resident> = (0..12).map(|i| resident(HOME, 40, 40 + i)).collect();
    s.register(people.clone()).await.unwrap();
    let before = s.counts().await.unwrap().events;
    let mut tasks = Vec::new();
    for p in &people {
        let (s, number) = (s.clone(), p.my_number.clone());
        tasks.push(tokio::spawn(async move {
            s.change_address(number, Address::parse(MOVED).unwrap(), day(), UnixMillis(40))
                .await
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(seq) => seqs.push(seq.unwrap()),
            Err(e) => assert!(!strict, "{e:?}"),
        }
    }
    seqs.sort_unstable();
    let listed: Vec<u64> = s
        .events(before, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(listed, seqs);
    assert_eq!(
        listed,
        (before + 1..=before + seqs.len() as u64).collect::<Vec<_>>()
    );

    // Concurrent issuance: exactly one live card, each later one replaced
    // the one before.
    let q = resident(HOME, 50, 50);
    s.register(vec![q.clone()]).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let s = s.clone();
        let link = q.link_id;
        tasks.push(tokio::spawn(async move {
            s.insert_card(new_card(link, 10_000 + 2 * i, 10_001 + 2 * i, 1), facts(HOME))
                .await
        }));
    }
    let mut issued = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(done) => issued.push(done),
            Err(e) => assert!(!strict, "{e:?}"),
        }
    }
    assert!(!issued.is_empty());
    let all = s.cards_of(q.link_id).await.unwrap();
    assert_eq!(all.len(), issued.len());
    assert_eq!(all.iter().filter(|c| !c.status.is_final()).count(), 1);
    assert_eq!(
        issued.iter().filter(|(_, replaced)| replaced.is_none()).count(),
        1,
        "{issued:?}"
    );

    // Suspension racing a loss report: the card ends lost, its
    // certificates revoked as lost (never a hold over a loss).
    for round in 0..10u64 {
        let serials = 20_000 + 2 * round;
        let (card, _) = s
            .insert_card(new_card(q.link_id, serials, serials + 1, 2), facts(HOME))
            .await
            .unwrap();
        let (a, b) = (s.clone(), s.clone());
        let suspend =
            tokio::spawn(async move { a.card_action(card.id, CardAction::Suspend, UnixMillis(3)).await });
        let lose = tokio::spawn(async move {
            b.card_action(card.id, CardAction::ReportLost, UnixMillis(4))
                .await
        });
        let (suspend, lose) = (suspend.await.unwrap(), lose.await.unwrap());
        if strict {
            assert!(suspend.is_ok(), "{suspend:?}");
        }
        let after = s.card(card.id).await.unwrap().unwrap();
        match lose {
            Ok(Some(Ok(_))) => {
                assert_eq!(after.status, CardStatus::Lost);
                assert!(
                    after
                        .certs
                        .iter()
                        .all(|c| matches!(c.revoked, Some((_, RevocationReason::Lost)))),
                    "{after:?}"
                );
            }
            other => assert!(!strict, "{other:?}"),
        }
    }

    // An address change racing an issuance: a card that was issued on
    // the old address has its signing certificate revoked.
    for round in 0..10u64 {
        let r = resident(HOME, 60, 60);
        s.register(vec![r.clone()]).await.unwrap();
        let serials = 30_000 + 2 * round;
        let (a, b) = (s.clone(), s.clone());
        let link = r.link_id;
        let number = r.my_number.clone();
        let issue = tokio::spawn(async move {
            a.insert_card(new_card(link, serials, serials + 1, 5), facts(HOME))
                .await
        });
        let change = tokio::spawn(async move {
            b.change_address(number, Address::parse(MOVED).unwrap(), day(), UnixMillis(6))
                .await
        });
        let (issue, change) = (issue.await.unwrap(), change.await.unwrap());
        match &change {
            Ok(Some(_)) => {}
            other => assert!(!strict, "{other:?}"),
        }
        match issue {
            Ok((card, _)) if change.is_ok() => {
                let now = s.card(card.id).await.unwrap().unwrap();
                assert!(
                    matches!(now.certs[1].revoked, Some((_, RevocationReason::FactsChanged))),
                    "{now:?}"
                );
            }
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {}
            Err(e) => assert!(!strict, "{e:?}"),
        }
    }
}

/// The registry suite, with a restart and racing writers.
pub async fn behaves<B: Backend>() {
    let Some(place) = place::<B>("registry").await else {
        return;
    };
    let s = place.registry(None).await.unwrap();
    registry_store_behaves(&s).await;
    refuses_what_it_cannot_hold(&s).await;
    drop(s);
    let s = place.registry(None).await.unwrap();
    reopened_registry_store_continues(&s).await;
    races_keep_invariants(&s, B::STRICT_RACES).await;
}

/// The same suite on a store encrypted at rest: sealing changes no
/// behaviour.
pub async fn encrypted_behaves<B: Backend>() {
    let Some(place) = place::<B>("registry_sealed").await else {
        return;
    };
    let key = DataKey::generate();
    let s = place.registry(Some(&key)).await.unwrap();
    registry_store_behaves(&s).await;
    refuses_what_it_cannot_hold(&s).await;
    drop(s);
    let s = place.registry(Some(&key)).await.unwrap();
    reopened_registry_store_continues(&s).await;
    races_keep_invariants(&s, B::STRICT_RACES).await;
}

/// A reopened store keeps what it had and numbers on.
async fn reopened_registry_store_continues<S: RegistryStore>(s: &S) {
    let c = s.counts().await.unwrap();
    assert_eq!(
        (c.residents, c.events, c.acquisitions, c.cards),
        (MANY + 5, 5, 4, 3)
    );
    assert_eq!(s.append_record(node_record(2)).await.unwrap(), 2);
    assert_eq!(s.events(4, 10).await.unwrap()[0].seq, 5);
}

/// A household number beyond i64 is refused and nothing of the batch is
/// stored; an event cursor beyond i64 finds nothing. (The SQLite store
/// used to wrap both: a negative household, and every event.)
async fn refuses_what_it_cannot_hold<S: RegistryStore>(s: &S) {
    let ok = resident(HOME, 1, 1);
    let huge = resident(HOME, i64::MAX as u64 + 1, 1);
    let r = s.register(vec![ok.clone(), huge]).await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    assert_eq!(s.resident_by_link(ok.link_id).await.unwrap(), None);
    assert_eq!(s.counts().await.unwrap().residents, MANY + 5);
    assert!(s.events(u64::MAX, 10).await.unwrap().is_empty());
    assert!(s.events(i64::MAX as u64 + 1, 10).await.unwrap().is_empty());
    assert_eq!(
        s.add_signing_cert(CardId(u64::MAX), cert(900, CertPurpose::Signing, 1), facts(HOME))
            .await
            .unwrap(),
        None
    );
}

pub async fn residents_codes_acquisitions_and_events<B: Backend>() {
    let Some(place) = B::durable_place("registry_residents").await else {
        return;
    };
    let store = place.registry(None).await.unwrap();
    let r = NewResident {
        facts: facts("東京都世田谷区太子堂四丁目1番1号"),
        kana: KanaName::parse("タカハシ　ケンイチ").unwrap(),
        household: HouseholdId(1),
        address_since: None,
    }
    .register(UnixMillis(1));
    store.register(vec![r.clone()]).await.unwrap();
    // The same My Number again is a conflict, and nothing of the batch is stored.
    let mut dup = r.clone();
    dup.link_id = renkei_ids::LinkId::random();
    let fresh = NewResident {
        facts: facts("x"),
        kana: r.kana.clone(),
        household: HouseholdId(2),
        address_since: None,
    }
    .register(UnixMillis(1));
    assert!(matches!(
        store.register(vec![fresh.clone(), dup]).await,
        Err(renkei_protocol::StoreError::Conflict(_))
    ));
    assert_eq!(store.counts().await.unwrap().residents, 1);

    let found = store
        .by_my_numbers(vec![r.my_number.clone(), MyNumber::random()])
        .await
        .unwrap();
    assert_eq!(found[0].as_ref(), Some(&r));
    assert!(found[1].is_none());

    store.set_own_codes(vec![(r.link_id, code(9))]).await.unwrap();
    assert_eq!(
        store.by_own_code(&code(9)).await.unwrap().unwrap().link_id,
        r.link_id
    );
    assert!(store.without_own_code(10).await.unwrap().is_empty());

    let acq = AcquisitionNumber::random();
    let inst = corp(1);
    assert_eq!(
        store
            .claim_acquisition_numbers(inst, vec![acq], UnixMillis(2))
            .await
            .unwrap(),
        vec![true]
    );
    assert_eq!(
        store
            .claim_acquisition_numbers(inst, vec![acq], UnixMillis(3))
            .await
            .unwrap(),
        vec![false]
    );
    assert_eq!(
        store
            .claim_acquisition_numbers(corp(2), vec![acq], UnixMillis(3))
            .await
            .unwrap(),
        vec![true]
    );

    let moved = Address::parse("神奈川県横浜市中区山下町1番地").unwrap();
    let moved_on = BirthDate::parse("2026-01-02").unwrap();
    let seq = store
        .change_address(r.my_number.clone(), moved.clone(), moved_on, UnixMillis(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .change_address(MyNumber::random(), moved.clone(), moved_on, UnixMillis(4))
            .await
            .unwrap(),
        None
    );
    let died = BirthDate::parse("2026-01-02").unwrap();
    store
        .record_death(r.my_number.clone(), died, UnixMillis(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .record_death(r.my_number.clone(), died, UnixMillis(6))
            .await
            .unwrap(),
        None,
        "only once"
    );
    let events = store.events(0, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].seq, seq);
    assert_eq!(
        events[0].event,
        ResidentEvent::AddressChanged {
            new_address: moved.clone(),
            moved_on: Some(moved_on),
            previous: Some(AddressPeriod {
                address: r.facts.address.clone(),
                since: r.address_since,
            }),
        }
    );
    // Sealed too: the address left opens only in the event.
    assert_eq!(store.addresses_left(r.link_id).await.unwrap().len(), 1);
    assert_eq!(events[1].event, ResidentEvent::Died { date: died });
    let now = store
        .by_my_numbers(vec![r.my_number.clone()])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(now.facts.address, moved);
}

/// A day of a move in these tests.
fn day() -> BirthDate {
    BirthDate::parse("2026-01-05").unwrap()
}
