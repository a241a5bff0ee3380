// Tests unwrap: a failure should stop the test with its backtrace.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

//! The relay against a real NATS server with JetStream. These run when
//! `RENKEI_TEST_NATS_URL` is set (e.g. `nats://127.0.0.1:4222`; `.ci/run`
//! starts the server); each test uses its own stream and subject and
//! deletes the stream at the end.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream::Config};
use renkei_ids::{Address, BirthDate, FourFacts, KanaName, PersonName, Sex};
use renkei_outbox::{
    ConfigError, EventSource, OutboxEvent, OutboxSettings, RegistryEvents, Relay, RelayError, RelayHandle,
    RelayOptions, RelayStatus,
};
use renkei_protocol::UnixMillis;
use renkei_registry::{HouseholdId, NewResident, RegistryStore, Resident};
use renkei_store_sqlite::{Durability, SqliteRegistryStore};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

const ORIGIN: &str = "1234567890123";

fn nats_url(test: &str) -> Option<String> {
    match std::env::var("RENKEI_TEST_NATS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: RENKEI_TEST_NATS_URL is not set under CI=true"
            );
            eprintln!("{test}: RENKEI_TEST_NATS_URL is not set; skipped (needs NATS with JetStream)");
            None
        }
    }
}

/// A stream and subject of this test alone.
fn settings(url: &str, test: &str) -> OutboxSettings {
    let tag = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    OutboxSettings {
        nats_url: url.to_owned(),
        stream: format!("RENKEI_TEST_{}_{tag}", test.to_uppercase()),
        subject: format!("renkei.test.{test}.{tag}.events"),
    }
}

fn fast() -> RelayOptions {
    RelayOptions {
        poll_interval: Duration::from_millis(50),
        request_timeout: Duration::from_secs(2),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..RelayOptions::default()
    }
}

/// An in-memory outbox that remembers what the relay asked for.
#[derive(Clone, Default)]
struct MemSource {
    events: Arc<Mutex<Vec<OutboxEvent>>>,
    asked: Arc<Mutex<Vec<u64>>>,
}

impl MemSource {
    fn with(n: u64) -> Self {
        let s = Self::default();
        s.add(n);
        s
    }

    fn add(&self, n: u64) {
        let mut ev = self.events.lock().unwrap();
        for _ in 0..n {
            let seq = ev.len() as u64 + 1;
            ev.push(OutboxEvent {
                seq,
                kind: if seq.is_multiple_of(3) {
                    "died"
                } else {
                    "address_changed"
                }
                .into(),
                at: 1_700_000_000_000 + seq as i64,
            });
        }
    }
}

impl EventSource for MemSource {
    type Error = Infallible;

    async fn events_after(&self, after_seq: u64, limit: u32) -> Result<Vec<OutboxEvent>, Infallible> {
        self.asked.lock().unwrap().push(after_seq);
        Ok(self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.seq > after_seq)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

async fn wait_for(handle: &RelayHandle, what: &str, pred: impl Fn(&RelayStatus) -> bool) -> RelayStatus {
    let mut rx = handle.watch();
    let r = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| pred(s))).await;
    match r {
        Ok(Ok(s)) => s.clone(),
        _ => panic!("timed out waiting for {what}; status {:?}", handle.status()),
    }
}

/// One stored message as a subscriber sees it.
#[derive(Debug)]
struct Stored {
    stream_seq: u64,
    subject: String,
    msg_id: Option<String>,
    headers: Vec<(String, String)>,
    payload: serde_json::Value,
    raw: String,
}

async fn js(url: &str) -> jetstream::Context {
    jetstream::new(async_nats::connect(url).await.unwrap())
}

/// Every message of the stream, in stream order.
async fn stored(url: &str, stream: &str) -> Vec<Stored> {
    let js = js(url).await;
    let s = js.get_stream(stream).await.unwrap();
    let info = s.get_info().await.unwrap();
    let mut out = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        if info.state.messages == 0 {
            break;
        }
        let m = s.get_raw_message(seq).await.unwrap();
        let headers: Vec<(String, String)> = m
            .headers
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.as_str().to_owned())))
            .collect();
        let raw = String::from_utf8(m.payload.to_vec()).unwrap();
        out.push(Stored {
            stream_seq: m.sequence,
            subject: m.subject.to_string(),
            msg_id: m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()),
            headers,
            payload: serde_json::from_str(&raw).unwrap(),
            raw,
        });
    }
    assert_eq!(out.len() as u64, info.state.messages);
    out
}

async fn delete_stream(url: &str, stream: &str) {
    let _ = js(url).await.delete_stream(stream).await;
}

/// The event seqs of the stored messages, checking ids and payloads agree.
fn seqs(msgs: &[Stored], subject: &str) -> Vec<u64> {
    msgs.iter()
        .map(|m| {
            assert_eq!(m.subject, subject);
            let seq = m.payload["seq"].as_u64().unwrap();
            assert_eq!(m.msg_id.as_deref(), Some(format!("{ORIGIN}/{seq}").as_str()));
            seq
        })
        .collect()
}

fn facts(address: &str) -> FourFacts {
    FourFacts {
        name: PersonName::parse("佐藤 花子").unwrap(),
        address: Address::parse(address).unwrap(),
        birth_date: BirthDate::parse("1985-04-12").unwrap(),
        sex: Sex::Female,
    }
}

/// A temporary directory only its owner can use (stores refuse any other).
fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap()
}

async fn registry_with_residents(dir: &std::path::Path, n: usize) -> (SqliteRegistryStore, Vec<Resident>) {
    let store = SqliteRegistryStore::open(&dir.join("registry.sqlite"), Durability::Normal)
        .await
        .unwrap();
    let residents: Vec<_> = (0..n)
        .map(|i| {
            NewResident {
                facts: facts(&format!("東京都千代田区永田町一丁目{}番1号", i + 1)),
                kana: KanaName::parse("サトウ　ハナコ").unwrap(),
                household: HouseholdId(i as u64 + 1),
                address_since: None,
            }
            .register(UnixMillis::now())
        })
        .collect();
    store.register(residents.clone()).await.unwrap();
    (store, residents)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_events_published_in_order_without_personal_data() {
    let Some(url) = nats_url("registry_events_published_in_order_without_personal_data") else {
        return;
    };
    let s = settings(&url, "order");
    let dir = private_dir();
    let (store, people) = registry_with_residents(dir.path(), 3).await;
    let new_addresses = [
        "大阪府大阪市北区梅田三丁目1番1号",
        "北海道札幌市中央区北一条西二丁目1番地",
    ];
    let mut secrets: Vec<String> = Vec::new();
    for (p, a) in people.iter().zip(new_addresses) {
        store
            .change_address(
                p.my_number.clone(),
                Address::parse(a).unwrap(),
                today(),
                UnixMillis::now(),
            )
            .await
            .unwrap()
            .unwrap();
        secrets.push(a.to_owned());
    }
    store
        .record_death(
            people[2].my_number.clone(),
            BirthDate::parse("2025-01-31").unwrap(),
            UnixMillis::now(),
        )
        .await
        .unwrap()
        .unwrap();
    secrets.push("2025-01-31".into());
    for p in &people {
        secrets.push(p.my_number.expose());
        secrets.push(p.facts.address.as_str().to_owned());
        secrets.push(p.facts.name.as_str().to_owned());
        secrets.push(p.link_id.as_bytes().iter().map(|b| format!("{b:02x}")).collect());
    }
    let expected = store.events(0, 100).await.unwrap();
    assert_eq!(expected.len(), 3);

    let relay = Relay::new(&s, ORIGIN, RegistryEvents(store.clone()))
        .unwrap()
        .with_options(fast())
        .spawn();
    let st = wait_for(&relay, "3 events", |s| s.cursor == Some(3)).await;
    assert!(st.connected);
    assert_eq!((st.published, st.duplicates), (3, 0));

    // A change while the relay runs: the waker brings it out without a poll.
    let seq = store
        .change_address(
            people[0].my_number.clone(),
            Address::parse("福岡県福岡市博多区博多駅前二丁目1番1号").unwrap(),
            today(),
            UnixMillis::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seq, 4);
    secrets.push("福岡県福岡市博多区博多駅前二丁目1番1号".into());
    relay.waker().wake();
    wait_for(&relay, "the 4th event", |s| s.cursor == Some(4)).await;
    let expected = store.events(0, 100).await.unwrap();

    let msgs = stored(&url, &s.stream).await;
    assert_eq!(seqs(&msgs, &s.subject), vec![1, 2, 3, 4]);
    for (m, e) in msgs.iter().zip(&expected) {
        // Stream order is event order.
        assert_eq!(m.stream_seq, e.seq);
        let obj = m.payload.as_object().unwrap();
        let keys: BTreeSet<_> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["at", "kind", "seq"]), "{}", m.raw);
        assert_eq!(obj["seq"], e.seq);
        assert_eq!(obj["kind"], e.event.kind());
        assert_eq!(obj["at"], e.at.0);
        for secret in &secrets {
            assert!(
                !m.raw.contains(secret.as_str()),
                "payload {} holds {secret}",
                m.raw
            );
            for (k, v) in &m.headers {
                assert!(!v.contains(secret.as_str()), "header {k}: {v} holds {secret}");
            }
        }
    }
    let kinds: Vec<_> = msgs.iter().map(|m| m.payload["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["address_changed", "address_changed", "died", "address_changed"]
    );
    relay.stop().await;
    delete_stream(&url, &s.stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_after_the_last_event_without_duplicates() {
    let Some(url) = nats_url("restart_resumes_after_the_last_event_without_duplicates") else {
        return;
    };
    let s = settings(&url, "restart");
    let source = MemSource::with(5);
    let first = Relay::new(&s, ORIGIN, source.clone())
        .unwrap()
        .with_options(fast())
        .spawn();
    wait_for(&first, "5 events", |s| s.cursor == Some(5)).await;
    first.stop().await;

    source.add(3);
    // A new relay with a fresh view of the outbox: only the stream tells it
    // where to go on.
    let again = MemSource {
        events: source.events.clone(),
        asked: Arc::default(),
    };
    let second = Relay::new(&s, ORIGIN, again.clone())
        .unwrap()
        .with_options(fast())
        .spawn();
    let st = wait_for(&second, "8 events", |s| s.cursor == Some(8)).await;
    // Nothing was published twice: no duplicate acks, and the outbox was
    // read from the stream's last event on.
    assert_eq!((st.published, st.duplicates), (3, 0), "{st:?}");
    assert_eq!(again.asked.lock().unwrap().first(), Some(&5));
    second.stop().await;

    let msgs = stored(&url, &s.stream).await;
    assert_eq!(seqs(&msgs, &s.subject), (1..=8).collect::<Vec<_>>());
    delete_stream(&url, &s.stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_event_is_deduplicated() {
    let Some(url) = nats_url("a_replayed_event_is_deduplicated") else {
        return;
    };
    let s = settings(&url, "dedup");
    let source = MemSource::with(4);
    let first = Relay::new(&s, ORIGIN, source.clone())
        .unwrap()
        .with_options(fast())
        .spawn();
    wait_for(&first, "4 events", |s| s.cursor == Some(4)).await;
    first.stop().await;

    // The cursor reset to 1: events 2 to 4 are sent again, JetStream
    // recognises their ids; a new event 5 is stored once.
    source.add(1);
    let replay = Relay::new(&s, ORIGIN, source.clone())
        .unwrap()
        .with_options(RelayOptions {
            resume_after: Some(1),
            ..fast()
        })
        .spawn();
    let st = wait_for(&replay, "the replay", |s| s.cursor == Some(5)).await;
    assert_eq!((st.duplicates, st.published), (3, 1), "{st:?}");
    replay.stop().await;

    let msgs = stored(&url, &s.stream).await;
    assert_eq!(seqs(&msgs, &s.subject), vec![1, 2, 3, 4, 5]);
    delete_stream(&url, &s.stream).await;
}

/// A TCP proxy to the NATS server that can be switched off (closing every
/// connection) and on again on the same port.
struct Proxy {
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(listen: SocketAddr, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(listen).await.unwrap();
        let mut tasks = JoinSet::new();
        let conns = Arc::new(Mutex::new(JoinSet::new()));
        let c = conns.clone();
        tasks.spawn(async move {
            let _keep = c.clone();
            loop {
                let Ok((mut down, _)) = listener.accept().await else {
                    return;
                };
                c.lock().unwrap().spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
            }
        });
        // Dropping the JoinSet of connections aborts them: hold it in a task
        // that lives as long as the proxy.
        tasks.spawn(async move {
            let _conns = conns;
            std::future::pending::<()>().await;
        });
        Self { tasks }
    }

    async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

fn upstream(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    let host = url.split_once("://").map_or(url, |(_, h)| h);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.trim_end_matches('/')
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_nats_is_retried_and_the_registry_goes_on() {
    let Some(url) = nats_url("unreachable_nats_is_retried_and_the_registry_goes_on") else {
        return;
    };
    let real = settings(&url, "outage");
    let addr = free_port();
    let s = OutboxSettings {
        nats_url: format!("nats://{addr}"),
        ..real.clone()
    };
    let dir = private_dir();
    let (store, people) = registry_with_residents(dir.path(), 2).await;
    let relay = Relay::new(&s, ORIGIN, RegistryEvents(store.clone()))
        .unwrap()
        .with_options(fast())
        .spawn();

    // Nothing listens: the relay fails, again and again, and says why.
    let st = wait_for(&relay, "3 failures", |s| s.failures >= 3).await;
    assert!(!st.connected);
    assert_eq!(st.cursor, None);
    let why = st.last_error.unwrap();
    assert!(why.contains("cannot connect to NATS"), "{why}");
    // Meanwhile the registry records events as always, promptly.
    for i in 0..6 {
        let t = Instant::now();
        let p = &people[i % 2];
        store
            .change_address(
                p.my_number.clone(),
                Address::parse(&format!("東京都港区芝公園四丁目{}番1号", i + 1)).unwrap(),
                today(),
                UnixMillis::now(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a change took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(store.events(0, 100).await.unwrap().len(), 6);
    assert!(relay.status().failures >= 3);

    // NATS comes (back): everything recorded meanwhile goes out, in order.
    let proxy = Proxy::start(addr, upstream(&url)).await;
    wait_for(&relay, "6 events", |s| s.cursor == Some(6)).await;

    // It goes away in the middle of the work, and comes back.
    proxy.stop().await;
    let failures = relay.status().failures;
    for i in 0..4 {
        let p = &people[i % 2];
        store
            .record_death(
                p.my_number.clone(),
                BirthDate::parse("2025-02-01").unwrap(),
                UnixMillis::now(),
            )
            .await
            .unwrap();
        store
            .change_address(
                p.my_number.clone(),
                Address::parse(&format!("京都府京都市上京区{}番地", i + 1)).unwrap(),
                today(),
                UnixMillis::now(),
            )
            .await
            .unwrap();
    }
    let total = store.events(0, 100).await.unwrap().last().unwrap().seq;
    assert!(total > 6);
    relay.waker().wake();
    wait_for(&relay, "a failure after the outage", |s| s.failures > failures).await;
    let proxy = Proxy::start(addr, upstream(&url)).await;
    let st = wait_for(&relay, "all events", |s| s.cursor == Some(total)).await;
    assert!(st.connected);
    relay.stop().await;
    proxy.stop().await;

    let msgs = stored(&url, &real.stream).await;
    assert_eq!(seqs(&msgs, &real.subject), (1..=total).collect::<Vec<_>>());
    delete_stream(&url, &real.stream).await;
}

#[tokio::test]
async fn bad_configuration_is_a_clear_error() {
    let source = MemSource::with(1);
    let mut s = OutboxSettings::new("http://127.0.0.1:4222");
    let e = Relay::new(&s, ORIGIN, source.clone()).unwrap_err();
    assert!(matches!(e, ConfigError::UnsupportedScheme { ref scheme, .. } if scheme == "http"));
    let text = e.to_string();
    assert!(
        text.contains("outbox.nats_url") && text.contains("\"http\"") && text.contains("nats://"),
        "{text}"
    );

    s.nats_url = "nats://127.0.0.1:4222".into();
    s.subject = "renkei.>".into();
    assert!(matches!(
        Relay::new(&s, ORIGIN, source.clone()),
        Err(ConfigError::InvalidSubject(_))
    ));
    s.subject = "renkei.registry.events".into();
    s.stream = "RENKEI.EVENTS".into();
    assert!(matches!(
        Relay::new(&s, ORIGIN, source.clone()),
        Err(ConfigError::InvalidStream(_))
    ));
    s.stream = "RENKEI_EVENTS".into();
    assert!(matches!(
        Relay::new(&s, "", source.clone()),
        Err(ConfigError::InvalidOrigin(_))
    ));
    assert!(Relay::new(&s, ORIGIN, source).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_does_not_fit_is_reported_and_nothing_is_published() {
    let Some(url) = nats_url("a_stream_that_does_not_fit_is_reported_and_nothing_is_published") else {
        return;
    };
    // A stream of that name exists for other subjects.
    let s = settings(&url, "misfit");
    js(&url)
        .await
        .create_stream(Config {
            name: s.stream.clone(),
            subjects: vec![format!("{}.other", s.subject)],
            ..Default::default()
        })
        .await
        .unwrap();
    let source = MemSource::with(2);
    let relay = Relay::new(&s, ORIGIN, source.clone())
        .unwrap()
        .with_options(fast())
        .spawn();
    let st = wait_for(&relay, "a failure", |s| s.failures >= 1).await;
    let why = st.last_error.unwrap();
    assert!(why.contains("does not capture the subject"), "{why}");
    assert!(source.asked.lock().unwrap().is_empty());
    relay.stop().await;
    assert!(stored(&url, &s.stream).await.is_empty());
    delete_stream(&url, &s.stream).await;

    // The subject carries another registry's events: the cursor cannot be
    // trusted, so the relay does not guess.
    let s = settings(&url, "foreign");
    let js = js(&url).await;
    js.create_stream(Config {
        name: s.stream.clone(),
        subjects: vec![s.subject.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", "9999999999999/17");
    js.publish_with_headers(s.subject.clone(), h, r#"{"seq":17,"kind":"died","at":1}"#.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let relay = Relay::new(&s, ORIGIN, source.clone())
        .unwrap()
        .with_options(fast())
        .spawn();
    let st = wait_for(&relay, "a failure", |s| s.failures >= 1).await;
    let why = st.last_error.unwrap();
    assert!(why.contains("not one of this registry"), "{why}");
    relay.stop().await;
    assert_eq!(stored(&url, &s.stream).await.len(), 1);
    delete_stream(&url, &s.stream).await;
}

#[test]
fn relay_errors_name_their_stage() {
    let e = RelayError::OutOfOrder { after: 5, got: 5 };
    assert_eq!(e.stage(), "source");
    assert!(e.to_string().contains("increasing seq order"));
}

fn today() -> BirthDate {
    BirthDate::from_date(renkei_protocol::date_of(UnixMillis::now()))
}
