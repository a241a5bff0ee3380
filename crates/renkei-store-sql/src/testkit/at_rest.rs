//! Encryption at rest: what an encrypted store writes
//! holds no My Number, name, address, item value or notice text in clear
//! (the same scan finds them all in a store in clear); a sealed value moved
//! to another row does not open; and a store is refused with the wrong
//! key, without its key, or with a key when it was made in clear.

use renkei_card::{CardProfile, CardSerial, CertPurpose};
use renkei_crypto::{DataKey, DataKeyProblem};
use renkei_ids::{
    Address, BirthDate, CodeAlgorithm, FourFacts, InstitutionCode, KanaName, LocalPersonId, PersonName, Sex,
};
use renkei_node::{EnrolledPerson, ItemValue, NodeStore, Notice};
use renkei_protocol::{FiscalYear, StoreError, UnixMillis};
use renkei_registry::{CardCert, HouseholdId, NewCard, NewResident, RegistryStore, Resident};

use super::{Backend, place};

const NAME: &str = "渡辺 美咲";
const KANA: &str = "ワタナベ　ミサキ";
const HOME: &str = "大阪府大阪市北区梅田三丁目9番9号";
const MOVED: &str = "福岡県福岡市博多区博多駅前七丁目7番7号";
const BORN: &str = "1988-08-18";
const INCOME: &str = "7654321";
const HOLDER: &str = "ワタナベ　ミサキ名義口座";
const TITLE: &str = "児童手当の認定について";
const BODY: &str = "認定されました。振込予定日をご確認ください。";

fn facts(address: &str) -> FourFacts {
    FourFacts {
        name: PersonName::parse(NAME).unwrap(),
        address: Address::parse(address).unwrap(),
        birth_date: BirthDate::parse(BORN).unwrap(),
        sex: Sex::Female,
    }
}

fn people(n: u64) -> Vec<Resident> {
    (0..n)
        .map(|i| {
            NewResident {
                facts: facts(HOME),
                kana: KanaName::parse(KANA).unwrap(),
                address_since: None,
                household: HouseholdId(i),
            }
            .register(UnixMillis(1 + i as i64))
        })
        .collect()
}

/// A certificate whose DER carries the holder's name, as a signing
/// certificate carries the four facts.
fn cert(serial: u64, purpose: CertPurpose) -> CardCert {
    let mut der = vec![0x30, 0x82];
    der.extend_from_slice(NAME.as_bytes());
    CardCert {
        serial: CardSerial::from_u64(serial).unwrap(),
        purpose,
        der,
        issued_at: UnixMillis(100),
        not_after: UnixMillis(10_000_000),
        revoked: None,
    }
}

/// Register, move, issue a card, record a death: every personal column
/// and event detail is written.
async fn fill_registry<S: RegistryStore>(s: &S) -> Vec<Resident> {
    let all = people(20);
    s.register(all.clone()).await.unwrap();
    let p = &all[0];
    s.insert_card(
        NewCard {
            link_id: p.link_id,
            profile: CardProfile::EcdsaP384Sha384,
            issued_at: UnixMillis(100),
            certs: vec![
                cert(501, CertPurpose::Authentication),
                cert(502, CertPurpose::Signing),
            ],
        },
        facts(HOME),
    )
    .await
    .unwrap();
    s.change_address(
        p.my_number.clone(),
        Address::parse(MOVED).unwrap(),
        BirthDate::parse("2026-01-01").unwrap(),
        UnixMillis(200),
    )
    .await
    .unwrap()
    .unwrap();
    s.record_death(
        all[1].my_number.clone(),
        BirthDate::parse("2026-02-03").unwrap(),
        UnixMillis(300),
    )
    .await
    .unwrap()
    .unwrap();
    // Everything reads back through the store.
    let back = s.resident_by_link(p.link_id).await.unwrap().unwrap();
    assert_eq!(back.facts, facts(MOVED));
    assert_eq!(back.my_number, p.my_number);
    assert_eq!(
        s.cards_of(p.link_id).await.unwrap()[0].certs[1].der,
        cert(502, CertPurpose::Signing).der
    );
    assert_eq!(s.events(0, 10).await.unwrap().len(), 2);
    all
}

fn lid(s: &str) -> LocalPersonId {
    LocalPersonId::parse(s).unwrap()
}

async fn fill_node<S: NodeStore>(s: &S) {
    s.enrol(vec![
        EnrolledPerson {
            local_id: lid("A-1"),
            code: InstitutionCode::new(CodeAlgorithm::Aes256Siv, 1, vec![1; 32]).unwrap(),
            enrolled_at: UnixMillis(1),
        },
        EnrolledPerson {
            local_id: lid("A-2"),
            code: InstitutionCode::new(CodeAlgorithm::Aes256Siv, 1, vec![2; 32]).unwrap(),
            enrolled_at: UnixMillis(1),
        },
    ])
    .await
    .unwrap();
    let mut value = serde_json::Map::new();
    value.insert("taxable_income".into(), INCOME.into());
    value.insert("holder".into(), HOLDER.into());
    let items = ["A-1", "A-2"].map(|id| ItemValue {
        local_id: lid(id),
        item: renkei_catalog::ItemCode::parse("resident_tax_income").unwrap(),
        fiscal_year: Some(FiscalYear::new(2025).unwrap()),
        value: value.clone(),
        updated_at: UnixMillis(2),
    });
    s.import_items(items.to_vec()).await.unwrap();
    s.store_notice(
        &lid("A-1"),
        Notice {
            id: "n-1".into(),
            sender: renkei_ids::CorporateNumber::from_base_number(7).unwrap(),
            sender_name: "大阪市".into(),
            title_ja: TITLE.into(),
            body_ja: BODY.into(),
            title_en: Some("Child allowance approved".into()),
            body_en: Some("Approved; check the payment date.".into()),
            sent_at: UnixMillis(3),
            read_at: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.item(&lid("A-1"), &items[0].item, items[0].fiscal_year)
            .await
            .unwrap(),
        Some(items[0].clone())
    );
    assert_eq!(s.notices(&lid("A-1")).await.unwrap()[0].title_ja, TITLE);
}

/// What must not be found in an encrypted store's bytes, by what it is.
fn registry_secrets(all: &[Resident]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = [
        ("name", NAME),
        ("kana", KANA),
        ("address", HOME),
        ("new address", MOVED),
        ("birth date", BORN),
        ("date of death", "2026-02-03"),
    ]
    .iter()
    .map(|(w, v)| ((*w).to_owned(), v.as_bytes().to_vec()))
    .collect();
    for r in all {
        out.push(("a My Number".into(), r.my_number.expose().into_bytes()));
        out.push((
            "a resident record code".into(),
            r.resident_code.as_string().into_bytes(),
        ));
    }
    out
}

fn node_secrets() -> Vec<(String, Vec<u8>)> {
    [
        ("an item value", INCOME),
        ("an item value", HOLDER),
        ("a notice title", TITLE),
        ("a notice body", BODY),
        ("an English notice title", "Child allowance approved"),
    ]
    .iter()
    .map(|(w, v)| ((*w).to_owned(), v.as_bytes().to_vec()))
    .collect()
}

fn hex(b: &[u8]) -> Vec<u8> {
    b.iter().flat_map(|x| format!("{x:02x}").into_bytes()).collect()
}

/// Which of `secrets` occur in `bytes`, as they are or hex-encoded (how
/// PostgreSQL shows BYTEA as text).
fn found_in(bytes: &[u8], secrets: &[(String, Vec<u8>)]) -> Vec<String> {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    secrets
        .iter()
        .filter(|(_, v)| has(v) || has(&hex(v)))
        .map(|(w, _)| w.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The statements that copy one person's sealed values onto another's, and
/// swap two residents' My Number indexes (so that a look-up of one would
/// find the other).
const MOVES: [&str; 4] = [
    "UPDATE items SET value = (SELECT value FROM items WHERE local_id = 'A-2') WHERE local_id = 'A-1'",
    "UPDATE notices SET body_ja = title_ja",
    "UPDATE residents SET sealed = (SELECT sealed FROM residents WHERE household = 1) WHERE household = 0",
    "CREATE TEMP TABLE swap AS SELECT household, my_number FROM residents WHERE household IN (2, 3); \
     UPDATE residents SET my_number = 'tmp' || household WHERE household IN (2, 3); \
     UPDATE residents SET my_number = (SELECT my_number FROM swap WHERE swap.household = 5 - residents.household) \
     WHERE household IN (2, 3)",
];

fn corrupt<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
}

async fn moved_ones_do_not_open<N: NodeStore, R: RegistryStore>(n: &N, r: &R, all: &[Resident]) {
    let item = renkei_catalog::ItemCode::parse("resident_tax_income").unwrap();
    let fy = Some(FiscalYear::new(2025).unwrap());
    corrupt(n.item(&lid("A-1"), &item, fy).await);
    assert!(n.item(&lid("A-2"), &item, fy).await.unwrap().is_some());
    corrupt(n.notices(&lid("A-1")).await);
    corrupt(r.resident_by_link(all[0].link_id).await);
    corrupt(r.by_my_numbers(vec![all[0].my_number.clone()]).await);
    assert!(r.resident_by_link(all[1].link_id).await.unwrap().is_some());
    // The look-up by index finds the other row, which does not open.
    corrupt(r.by_my_numbers(vec![all[2].my_number.clone()]).await);
    corrupt(r.resident_by_link(all[3].link_id).await);
    assert!(r.resident_by_link(all[4].link_id).await.unwrap().is_some());
}

/// In clear, the scan finds every secret (so it is not vacuous); sealed,
/// it finds none.
pub async fn nothing_personal_in_clear<B: Backend>() {
    let (Some(plain), Some(sealed)) = (place::<B>("rest_plain_reg").await, place::<B>("rest_reg").await)
    else {
        return;
    };
    let key = DataKey::generate();
    let s = plain.registry(None).await.unwrap();
    let all = fill_registry(&s).await;
    let found = found_in(&plain.bytes().await, &registry_secrets(&all));
    assert_eq!(found.len(), 8, "{found:?}");
    drop(s);
    let s = sealed.registry(Some(&key)).await.unwrap();
    let all = fill_registry(&s).await;
    assert_eq!(
        found_in(&sealed.bytes().await, &registry_secrets(&all)),
        Vec::<String>::new()
    );

    let (Some(plain), Some(sealed)) = (place::<B>("rest_plain_node").await, place::<B>("rest_node").await)
    else {
        return;
    };
    let n = plain.node(None).await.unwrap();
    fill_node(&n).await;
    assert_eq!(found_in(&plain.bytes().await, &node_secrets()).len(), 4);
    let n = sealed.node(Some(&key)).await.unwrap();
    fill_node(&n).await;
    assert_eq!(
        found_in(&sealed.bytes().await, &node_secrets()),
        Vec::<String>::new()
    );
}

/// A sealed value moved to another row does not open.
pub async fn moved_values_do_not_open<B: Backend>() {
    let (Some(np), Some(rp)) = (
        place::<B>("rest_move_node").await,
        place::<B>("rest_move_reg").await,
    ) else {
        return;
    };
    let key = DataKey::generate();
    let n = np.node(Some(&key)).await.unwrap();
    fill_node(&n).await;
    let r = rp.registry(Some(&key)).await.unwrap();
    let all = fill_registry(&r).await;
    for (place, sql) in [(&np, MOVES[0]), (&np, MOVES[1]), (&rp, MOVES[2]), (&rp, MOVES[3])] {
        place.execute(sql).await;
    }
    moved_ones_do_not_open(&n, &r, &all).await;
}

/// Refused for `want`.
fn refused<B: Backend, T: std::fmt::Debug>(r: Result<T, B::Error>, want: DataKeyProblem) {
    let e = r.expect_err("the store must be refused");
    assert_eq!(B::key_problem(&e), Some(want), "{e}");
}

/// A store is encrypted or in clear from its first open, and refused
/// without its key, with another key, or with a key when it was made in
/// clear.
pub async fn opens_only_with_its_key<B: Backend>() {
    let (Some(reg), Some(node), Some(plain)) = (
        place::<B>("rest_key_reg").await,
        place::<B>("rest_key_node").await,
        place::<B>("rest_key_plain").await,
    ) else {
        return;
    };
    let (key, other) = (DataKey::generate(), DataKey::generate());

    // Encrypted: refused without a key and with another key; opens with its own.
    let s = reg.registry(Some(&key)).await.unwrap();
    let all = fill_registry(&s).await;
    drop(s);
    refused::<B, _>(reg.registry(None).await, DataKeyProblem::Missing);
    refused::<B, _>(reg.registry(Some(&other)).await, DataKeyProblem::Wrong);
    let s = reg.registry(Some(&key)).await.unwrap();
    assert_eq!(
        s.by_my_numbers(vec![all[3].my_number.clone()]).await.unwrap(),
        vec![Some(all[3].clone())]
    );
    let n = node.node(Some(&key)).await.unwrap();
    fill_node(&n).await;
    drop(n);
    refused::<B, _>(node.node(None).await, DataKeyProblem::Missing);
    refused::<B, _>(node.node(Some(&other)).await, DataKeyProblem::Wrong);

    // In clear from its first open (even empty): refused with a key, so
    // clear and sealed rows never mix.
    drop(plain.node(None).await.unwrap());
    refused::<B, _>(plain.node(Some(&key)).await, DataKeyProblem::PlainStore);
    let n = plain.node(None).await.unwrap();
    fill_node(&n).await;
    drop(n);
    // A store made before encryption existed (no record of its key) that
    // already holds rows is a store in clear.
    plain.execute("DELETE FROM data_key").await;
    refused::<B, _>(plain.node(Some(&key)).await, DataKeyProblem::PlainStore);
    drop(plain.node(None).await.unwrap());
}
