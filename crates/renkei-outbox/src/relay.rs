//! The relay: outbox → JetStream, one event at a time.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::{CreateStreamError, PublishError};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{
    Config, DiscardPolicy, LastRawMessageError, LastRawMessageErrorKind, RetentionPolicy, StorageType, Stream,
};
use async_nats::{ConnectOptions, ServerAddr, jetstream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::settings::{ConfigError, OutboxSettings, subject_matches};
use crate::source::{EventSource, OutboxEvent, message_id, seq_of_message_id};

/// Tuning of the relay; the defaults suit a registry.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Events read from the outbox at a time.
    pub batch: u32,
    /// How often the outbox is polled when idle (a [`RelayWaker`] wakes
    /// the relay sooner).
    pub poll_interval: Duration,
    /// Connection, JetStream API and publish-ack timeout.
    pub request_timeout: Duration,
    /// Retry delays after a failure grow from `backoff_min` to
    /// `backoff_max` (with jitter).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// The duplicate window of a stream the relay creates.
    pub duplicate_window: Duration,
    /// Publish the events after this seq instead of after the one the
    /// stream last holds (first connection only). A replay is deduplicated
    /// by JetStream only within the stream's duplicate window.
    pub resume_after: Option<u64>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch: 256,
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(120),
            resume_after: None,
        }
    }
}

/// What the relay has done, for tests and diagnostics (the same figures
/// go to Prometheus through `metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStatus {
    /// Connected, the stream ready and the cursor read.
    pub connected: bool,
    /// The last seq known to be in the stream; `None` before the stream
    /// was first read.
    pub cursor: Option<u64>,
    /// Events stored in the stream by this relay.
    pub published: u64,
    /// Events JetStream acknowledged as duplicates (already stored).
    pub duplicates: u64,
    /// Sessions that ended in an error (connection, stream, publish, outbox).
    pub failures: u64,
    /// The last such error.
    pub last_error: Option<String>,
}

/// Why a relay session stopped. The relay logs it and starts again after
/// a delay.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("cannot find or create the JetStream stream {stream}: {source}")]
    Stream {
        stream: String,
        #[source]
        source: CreateStreamError,
    },
    #[error(
        "the JetStream stream {stream} does not capture the subject {subject} (its subjects: {subjects:?}); add the subject to the stream or configure another stream"
    )]
    SubjectNotCaptured {
        stream: String,
        subject: String,
        subjects: Vec<String>,
    },
    #[error("cannot read the last message on {subject} in the stream {stream}: {source}")]
    Cursor {
        stream: String,
        subject: String,
        #[source]
        source: LastRawMessageError,
    },
    #[error(
        "the last message on {subject} (stream sequence {stream_seq}) has the message id {id}, not one of this registry ({origin}/<seq>); give each registry its own subject"
    )]
    ForeignMessage {
        subject: String,
        stream_seq: u64,
        /// The `Nats-Msg-Id` found, or `(none)`.
        id: String,
        origin: String,
    },
    #[error("cannot publish event {seq}: {source}")]
    Publish {
        seq: u64,
        #[source]
        source: PublishError,
    },
    #[error("event {seq} was stored in the stream {got}, not in {expected}")]
    WrongStream { seq: u64, expected: String, got: String },
    #[error("cannot read the outbox: {0}")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the outbox gave event {got} after event {after}: events must come in increasing seq order")]
    OutOfOrder { after: u64, got: u64 },
}

impl RelayError {
    /// A short label for the failure counter.
    pub fn stage(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Stream { .. } | Self::SubjectNotCaptured { .. } => "stream",
            Self::Cursor { .. } | Self::ForeignMessage { .. } => "cursor",
            Self::Publish { .. } | Self::WrongStream { .. } => "publish",
            Self::Source(_) | Self::OutOfOrder { .. } => "source",
        }
    }
}

/// Wakes the relay when an event was just recorded, so that it need not
/// wait for its next poll.
#[derive(Debug, Clone)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Publishes the outbox of one registry to a JetStream stream, at least
/// once, deduplicated and in seq order:
///
/// - each event is published with the header `Nats-Msg-Id: <origin>/<seq>`
///   (JetStream drops a second copy within the stream's duplicate window)
///   and `Nats-Expected-Stream`, and the relay waits for JetStream's ack
///   before it publishes the next one, so no event is stored before an
///   earlier one;
/// - on start (and after every failure) it reads the last message of the
///   stream on its subject (`$JS.API.STREAM.MSG.GET`, `last_by_subj`) and
///   goes on after that seq: no state of its own, nothing written to the
///   registry's store;
/// - when NATS is unreachable or refuses, it logs, counts, waits with
///   backoff and tries again; it never holds up the registry, whose only
///   link to it is reading the outbox.
pub struct Relay<E> {
    settings: OutboxSettings,
    addr: ServerAddr,
    origin: String,
    source: E,
    options: RelayOptions,
    wake: Arc<Notify>,
    status: watch::Sender<RelayStatus>,
}

impl<E> std::fmt::Debug for Relay<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("url", &self.settings.redacted_url())
            .field("stream", &self.settings.stream)
            .field("subject", &self.settings.subject)
            .field("origin", &self.origin)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A running relay.
#[derive(Debug)]
pub struct RelayHandle {
    task: JoinHandle<()>,
    status: watch::Receiver<RelayStatus>,
    wake: Arc<Notify>,
}

impl RelayHandle {
    pub fn status(&self) -> RelayStatus {
        self.status.borrow().clone()
    }

    /// Follow the status as it changes.
    pub fn watch(&self) -> watch::Receiver<RelayStatus> {
        self.status.clone()
    }

    pub fn waker(&self) -> RelayWaker {
        RelayWaker(self.wake.clone())
    }

    /// Stop the relay and wait until it has (its NATS connection closes).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// The task, to be aborted with a role's other tasks.
    pub fn into_task(self) -> JoinHandle<()> {
        self.task
    }
}

impl<E: EventSource> Relay<E> {
    /// A relay of `source` to the stream and subject of `settings`; the
    /// message ids are `<origin>/<seq>` (origin: the registry's corporate
    /// number). Fails only on bad settings; NATS is not contacted yet.
    pub fn new(settings: &OutboxSettings, origin: impl Into<String>, source: E) -> Result<Self, ConfigError> {
        settings.validate()?;
        let addr = settings.server_addr()?;
        let origin = origin.into();
        if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::InvalidOrigin(origin));
        }
        Ok(Self {
            settings: settings.clone(),
            addr,
            origin,
            source,
            options: RelayOptions::default(),
            wake: Arc::new(Notify::new()),
            status: watch::Sender::new(RelayStatus::default()),
        })
    }

    pub fn with_options(mut self, options: RelayOptions) -> Self {
        self.options = options;
        self
    }

    /// A waker for code that records events, before the relay is spawned.
    pub fn waker(&self) -> RelayWaker {
        RelayWaker(self.wake.clone())
    }

    /// Start the relay on the current Tokio runtime.
    pub fn spawn(self) -> RelayHandle {
        let status = self.status.subscribe();
        let wake = self.wake.clone();
        let task = tokio::spawn(self.run());
        RelayHandle { task, status, wake }
    }

    async fn run(mut self) {
        let m = Metrics::new(&self.settings.stream);
        let mut backoff = Backoff::new(self.options.backoff_min, self.options.backoff_max);
        let mut cursor = None;
        tracing::info!(
            url = %self.settings.redacted_url(),
            stream = %self.settings.stream,
            subject = %self.settings.subject,
            "outbox relay started"
        );
        loop {
            let Err(err) = self.session(&m, &mut backoff, &mut cursor).await;
            m.connected.set(0.0);
            metrics::counter!("renkei_outbox_failures_total", "stream" => self.settings.stream.clone(), "stage" => err.stage())
                .increment(1);
            let delay = backoff.next();
            tracing::warn!(
                error = %ErrorChain(&err),
                stage = err.stage(),
                stream = %self.settings.stream,
                retry_in_ms = delay.as_millis() as u64,
                "outbox relay interrupted; the registry goes on and the events wait in its outbox"
            );
            self.status.send_modify(|s| {
                s.connected = false;
                s.failures += 1;
                s.last_error = Some(ErrorChain(&err).to_string());
            });
            if let Some(c) = cursor {
                self.observe_lag(c, &m).await;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Connect, make sure of the stream, read the cursor, then publish
    /// until something fails.
    async fn session(
        &mut self,
        m: &Metrics,
        backoff: &mut Backoff,
        cursor: &mut Option<u64>,
    ) -> Result<Infallible, RelayError> {
        let client = ConnectOptions::new()
            .name("renkei-registry-outbox")
            .connection_timeout(self.options.request_timeout)
            .request_timeout(Some(self.options.request_timeout))
            // A dropped session's client gives up reconnecting soon; the
            // relay makes a new one.
            .max_reconnects(3)
            .ignore_discovered_servers()
            .connect(self.addr.clone())
            .await
            .map_err(|source| RelayError::Connect {
                url: self.settings.redacted_url(),
                source,
            })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(self.options.request_timeout)
            .build(client);
        let stream = self.ensure_stream(&js).await?;
        let mut at = match self.options.resume_after.take() {
            Some(c) => c,
            None => self.read_cursor(&stream).await?,
        };
        *cursor = Some(at);
        m.connected.set(1.0);
        m.cursor.set(at as f64);
        self.status.send_modify(|s| {
            s.connected = true;
            s.cursor = Some(at);
        });
        tracing::info!(stream = %self.settings.stream, subject = %self.settings.subject, after = at, "outbox relay connected");
        loop {
            let events = self
                .source
                .events_after(at, self.options.batch)
                .await
                .map_err(|e| RelayError::Source(Box::new(e)))?;
            if events.is_empty() {
                m.lag.set(0.0);
                m.pending.set(0.0);
                backoff.reset();
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.options.poll_interval) => {}
                }
                continue;
            }
            let n = events.len();
            for (i, e) in events.into_iter().enumerate() {
                if e.seq <= at {
                    return Err(RelayError::OutOfOrder {
                        after: at,
                        got: e.seq,
                    });
                }
                m.pending.set((n - i) as f64);
                m.lag.set(age_secs(e.at));
                let ack = self.publish(&js, &e).await?;
                at = e.seq;
                *cursor = Some(at);
                m.cursor.set(at as f64);
                if ack.duplicate {
                    m.duplicates.increment(1);
                } else {
                    m.published.increment(1);
                }
                self.status.send_modify(|s| {
                    s.cursor = Some(at);
                    if ack.duplicate {
                        s.duplicates += 1;
                    } else {
                        s.published += 1;
                    }
                });
            }
            m.pending.set(0.0);
            backoff.reset();
        }
    }

    async fn ensure_stream(&self, js: &jetstream::Context) -> Result<Stream, RelayError> {
        let s = &self.settings;
        let config = Config {
            name: s.stream.clone(),
            description: Some("renkei registry change events: seq, kind, time; no personal data".into()),
            subjects: vec![s.subject.clone()],
            duplicate_window: self.options.duplicate_window,
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::Old,
            allow_direct: true,
            ..Default::default()
        };
        let stream = js
            .get_or_create_stream(config)
            .await
            .map_err(|source| RelayError::Stream {
                stream: s.stream.clone(),
                source,
            })?;
        let info = stream.cached_info();
        if !info
            .config
            .subjects
            .iter()
            .any(|f| subject_matches(f, &s.subject))
        {
            return Err(RelayError::SubjectNotCaptured {
                stream: s.stream.clone(),
                subject: s.subject.clone(),
                subjects: info.config.subjects.clone(),
            });
        }
        if info.config.duplicate_window.is_zero() {
            tracing::warn!(stream = %s.stream, "the stream has no duplicate window: a replayed event would be stored twice");
        }
        Ok(stream)
    }

    /// The seq of the last event of this origin in the stream, 0 if none.
    async fn read_cursor(&self, stream: &Stream) -> Result<u64, RelayError> {
        let s = &self.settings;
        match stream.get_last_raw_message_by_subject(&s.subject).await {
            Ok(msg) => {
                let id = msg
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_owned());
                id.as_deref()
                    .and_then(|i| seq_of_message_id(&self.origin, i))
                    .ok_or_else(|| RelayError::ForeignMessage {
                        subject: s.subject.clone(),
                        stream_seq: msg.sequence,
                        id: id.clone().unwrap_or_else(|| "(none)".into()),
                        origin: self.origin.clone(),
                    })
            }
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(0),
            Err(source) => Err(RelayError::Cursor {
                stream: s.stream.clone(),
                subject: s.subject.clone(),
                source,
            }),
        }
    }

    /// Publish one event and wait for JetStream's ack.
    async fn publish(&self, js: &jetstream::Context, e: &OutboxEvent) -> Result<PublishAck, RelayError> {
        let s = &self.settings;
        let message = PublishMessage::build()
            .payload(e.payload().into())
            .message_id(message_id(&self.origin, e.seq))
            .expected_stream(&s.stream)
            .header("Content-Type", "application/json");
        let err = |source| RelayError::Publish { seq: e.seq, source };
        let ack = js
            .send_publish(s.subject.clone(), message)
            .await
            .map_err(err)?
            .await
            .map_err(err)?;
        if ack.stream != s.stream {
            return Err(RelayError::WrongStream {
                seq: e.seq,
                expected: s.stream.clone(),
                got: ack.stream,
            });
        }
        Ok(ack)
    }

    /// While NATS is away: how old the oldest unpublished event is.
    async fn observe_lag(&self, cursor: u64, m: &Metrics) {
        if let Ok(events) = self.source.events_after(cursor, 1).await {
            let (lag, pending) = events.first().map_or((0.0, 0.0), |e| (age_secs(e.at), 1.0));
            m.lag.set(lag);
            m.pending.set(pending);
        }
    }
}

/// Prometheus figures, labelled by stream.
struct Metrics {
    published: metrics::Counter,
    duplicates: metrics::Counter,
    cursor: metrics::Gauge,
    /// Age in seconds of the oldest event not yet acknowledged (0 when
    /// caught up).
    lag: metrics::Gauge,
    /// Events read from the outbox and not yet acknowledged (a lower
    /// bound of the backlog).
    pending: metrics::Gauge,
    connected: metrics::Gauge,
}

impl Metrics {
    fn new(stream: &str) -> Self {
        let l = || [("stream", stream.to_owned())];
        Self {
            published: metrics::counter!("renkei_outbox_published_total", &l()),
            duplicates: metrics::counter!("renkei_outbox_duplicates_total", &l()),
            cursor: metrics::gauge!("renkei_outbox_cursor", &l()),
            lag: metrics::gauge!("renkei_outbox_lag_seconds", &l()),
            pending: metrics::gauge!("renkei_outbox_pending_events", &l()),
            connected: metrics::gauge!("renkei_outbox_connected", &l()),
        }
    }
}

fn age_secs(at_ms: i64) -> f64 {
    let now = renkei_protocol::UnixMillis::now().0;
    (now.saturating_sub(at_ms)).max(0) as f64 / 1000.0
}

/// Exponential backoff with jitter (half to full delay).
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            current: min,
        }
    }

    fn next(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        d.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    fn reset(&mut self) {
        self.current = self.min;
    }
}

/// An error with its sources, `a: b: c` (async-nats errors keep the
/// server's reason in their source).
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        let mut last = self.0.to_string();
        while let Some(s) = source {
            let text = s.to_string();
            // Skip a source its parent already printed.
            if !last.contains(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<_> = (0..8).map(|_| b.next()).collect();
        for (i, d) in delays.iter().enumerate() {
            let full = Duration::from_millis((100u64 << i.min(10)).min(1000));
            assert!(*d >= full / 2 && *d <= full, "{i}: {d:?} vs {full:?}");
        }
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
