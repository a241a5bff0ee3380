//! Encryption at rest, on both backends: what an encrypted store writes
//! holds no My Number, name, address, item value or notice text in clear
//! (the same scan finds them all in a store in clear); a sealed value moved
//! to another row does not open; and a store is refused with the wrong
//! key, without its key, or with a key when it was made in clear.

use renkei_card::{CardProfile, CardSerial, CertPurpose};
use renkei_crypto::DataKey;
use renkei_ids::{
    Address, BirthDate, CodeAlgorithm, FourFacts, InstitutionCode, KanaName, LocalPersonId, PersonName, Sex,
};
use renkei_node::{EnrolledPerson, ItemValue, NodeStore, Notice};
use renkei_protocol::{FiscalYear, StoreError, UnixMillis};
use renkei_registry::{CardCert, HouseholdId, NewCard, NewResident, RegistryStore, Resident};
use renkei_store_postgres::{PgNodeStore, PgRegistryStore};
use renkei_store_sqlite::{DataKeyProblem, Durability, SqliteNodeStore, SqliteRegistryStore};
use sqlx::Connection;

use crate::{pg_url, private_dir};

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

/// Every byte SQLite wrote for the store: the file and its WAL.
fn sqlite_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

/// Every row of every table of the schema, as PostgreSQL prints it.
async fn pg_bytes(url: &str) -> Vec<u8> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!tables.is_empty());
    let mut out = Vec::new();
    for t in tables {
        // Names from the catalogue of our own schema.
        let rows: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM \"{t}\" t")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for r in rows {
            out.extend(r.into_bytes());
            out.push(b'\n');
        }
    }
    out
}

#[tokio::test]
async fn an_encrypted_sqlite_registry_and_node_hold_nothing_personal_in_clear() {
    let dir = private_dir();
    let key = DataKey::generate();
    // In clear, the scan finds every secret (so it is not vacuous)...
    let plain = dir.path().join("plain-registry.sqlite");
    let s = SqliteRegistryStore::open(&plain, Durability::Normal)
        .await
        .unwrap();
    let all = fill_registry(&s).await;
    let secrets = registry_secrets(&all);
    let found = found_in(&sqlite_bytes(&plain), &secrets);
    assert_eq!(found.len(), 8, "{found:?}");
    drop(s);
    // ...sealed, it finds none.
    let sealed = dir.path().join("registry.sqlite");
    let s = SqliteRegistryStore::open_with_key(&sealed, Durability::Normal, Some(&key))
        .await
        .unwrap();
    let all = fill_registry(&s).await;
    assert_eq!(
        found_in(&sqlite_bytes(&sealed), &registry_secrets(&all)),
        Vec::<String>::new()
    );

    let plain = dir.path().join("plain-node.sqlite");
    let n = SqliteNodeStore::open(&plain, Durability::Normal).await.unwrap();
    fill_node(&n).await;
    assert_eq!(found_in(&sqlite_bytes(&plain), &node_secrets()).len(), 4);
    let sealed = dir.path().join("node.sqlite");
    let n = SqliteNodeStore::open_with_key(&sealed, Durability::Normal, Some(&key))
        .await
        .unwrap();
    fill_node(&n).await;
    assert_eq!(
        found_in(&sqlite_bytes(&sealed), &node_secrets()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn an_encrypted_postgres_registry_and_node_hold_nothing_personal_in_clear() {
    let (Some(plain), Some(sealed)) = (pg_url("rest_plain_reg").await, pg_url("rest_reg").await) else {
        return;
    };
    let s = PgRegistryStore::open(&plain).await.unwrap();
    let all = fill_registry(&s).await;
    let found = found_in(&pg_bytes(&plain).await, &registry_secrets(&all));
    assert_eq!(found.len(), 8, "{found:?}");
    let key = DataKey::generate();
    let s = PgRegistryStore::open_with_key(&sealed, Some(&key)).await.unwrap();
    let all = fill_registry(&s).await;
    assert_eq!(
        found_in(&pg_bytes(&sealed).await, &registry_secrets(&all)),
        Vec::<String>::new()
    );

    let (Some(plain), Some(sealed)) = (pg_url("rest_plain_node").await, pg_url("rest_node").await) else {
        return;
    };
    let n = PgNodeStore::open(&plain).await.unwrap();
    fill_node(&n).await;
    assert_eq!(found_in(&pg_bytes(&plain).await, &node_secrets()).len(), 4);
    let n = PgNodeStore::open_with_key(&sealed, Some(&key)).await.unwrap();
    fill_node(&n).await;
    assert_eq!(
        found_in(&pg_bytes(&sealed).await, &node_secrets()),
        Vec::<String>::new()
    );
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

async fn moved_values_do_not_open<N: NodeStore, R: RegistryStore>(n: &N, r: &R, all: &[Resident]) {
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

#[tokio::test]
async fn a_sealed_value_moved_to_another_row_does_not_open() {
    let dir = private_dir();
    let key = DataKey::generate();
    let (np, rp) = (dir.path().join("node.sqlite"), dir.path().join("registry.sqlite"));
    let n = SqliteNodeStore::open_with_key(&np, Durability::Normal, Some(&key))
        .await
        .unwrap();
    fill_node(&n).await;
    let r = SqliteRegistryStore::open_with_key(&rp, Durability::Normal, Some(&key))
        .await
        .unwrap();
    let all = fill_registry(&r).await;
    for (path, sql) in [(&np, MOVES[0]), (&np, MOVES[1]), (&rp, MOVES[2]), (&rp, MOVES[3])] {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
    moved_values_do_not_open(&n, &r, &all).await;

    let (Some(nu), Some(ru)) = (pg_url("rest_move_node").await, pg_url("rest_move_reg").await) else {
        return;
    };
    let n = PgNodeStore::open_with_key(&nu, Some(&key)).await.unwrap();
    fill_node(&n).await;
    let r = PgRegistryStore::open_with_key(&ru, Some(&key)).await.unwrap();
    let all = fill_registry(&r).await;
    for (url, sql) in [(&nu, MOVES[0]), (&nu, MOVES[1]), (&ru, MOVES[2]), (&ru, MOVES[3])] {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
    moved_values_do_not_open(&n, &r, &all).await;
}

/// Refused for `want`, naming the file and what to do.
fn sqlite_refused<T: std::fmt::Debug>(r: Result<T, renkei_store_sqlite::DbError>, want: DataKeyProblem) {
    let e = r.expect_err("the store must be refused");
    let text = e.to_string();
    match e {
        renkei_store_sqlite::DbError::DataKey { problem, path } => {
            assert_eq!(problem, want);
            assert!(text.contains(&path) && path.ends_with(".sqlite"), "{text}");
            assert!(text.contains("data_key") || text.contains("data key"), "{text}");
        }
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

fn pg_refused<T: std::fmt::Debug>(r: Result<T, renkei_store_postgres::DbError>, want: DataKeyProblem) {
    match r {
        Err(renkei_store_postgres::DbError::DataKey { problem, .. }) => assert_eq!(problem, want),
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_store_opens_only_with_the_key_it_was_made_with() {
    let dir = private_dir();
    let (key, other) = (DataKey::generate(), DataKey::generate());
    let d = Durability::Normal;

    // Encrypted: refused without a key and with another key; opens with its own.
    let p = dir.path().join("registry.sqlite");
    let s = SqliteRegistryStore::open_with_key(&p, d, Some(&key))
        .await
        .unwrap();
    let all = fill_registry(&s).await;
    drop(s);
    sqlite_refused(SqliteRegistryStore::open(&p, d).await, DataKeyProblem::Missing);
    sqlite_refused(
        SqliteRegistryStore::open_with_key(&p, d, Some(&other)).await,
        DataKeyProblem::Wrong,
    );
    let s = SqliteRegistryStore::open_with_key(&p, d, Some(&key))
        .await
        .unwrap();
    assert_eq!(
        s.by_my_numbers(vec![all[3].my_number.clone()]).await.unwrap(),
        vec![Some(all[3].clone())]
    );
    let p = dir.path().join("node.sqlite");
    let n = SqliteNodeStore::open_with_key(&p, d, Some(&key)).await.unwrap();
    fill_node(&n).await;
    drop(n);
    sqlite_refused(SqliteNodeStore::open(&p, d).await, DataKeyProblem::Missing);
    sqlite_refused(
        SqliteNodeStore::open_with_key(&p, d, Some(&other)).await,
        DataKeyProblem::Wrong,
    );

    // In clear from its first open (even empty): refused with a key, so
    // clear and sealed rows never mix.
    let p = dir.path().join("plain-node.sqlite");
    drop(SqliteNodeStore::open(&p, d).await.unwrap());
    sqlite_refused(
        SqliteNodeStore::open_with_key(&p, d, Some(&key)).await,
        DataKeyProblem::PlainStore,
    );
    let n = SqliteNodeStore::open(&p, d).await.unwrap();
    fill_node(&n).await;
    drop(n);
    // A store made before encryption existed (no record of its key) that
    // already holds rows is a store in clear.
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", p.display()))
        .await
        .unwrap();
    sqlx::raw_sql("DELETE FROM data_key")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    sqlite_refused(
        SqliteNodeStore::open_with_key(&p, d, Some(&key)).await,
        DataKeyProblem::PlainStore,
    );
    drop(SqliteNodeStore::open(&p, d).await.unwrap());

    let (Some(ru), Some(nu)) = (pg_url("rest_key_reg").await, pg_url("rest_key_node").await) else {
        return;
    };
    let s = PgRegistryStore::open_with_key(&ru, Some(&key)).await.unwrap();
    fill_registry(&s).await;
    drop(s);
    pg_refused(PgRegistryStore::open(&ru).await, DataKeyProblem::Missing);
    pg_refused(
        PgRegistryStore::open_with_key(&ru, Some(&other)).await,
        DataKeyProblem::Wrong,
    );
    drop(PgRegistryStore::open_with_key(&ru, Some(&key)).await.unwrap());
    drop(PgNodeStore::open(&nu).await.unwrap());
    pg_refused(
        PgNodeStore::open_with_key(&nu, Some(&key)).await,
        DataKeyProblem::PlainStore,
    );
    drop(PgNodeStore::open(&nu).await.unwrap());
}
