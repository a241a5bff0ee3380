//! Watching clients: a rate limit per client, and alerts when a client's
//! volume jumps or its requests keep failing — above a threshold, the
//! client is suspended automatically. Pure: the caller keeps the state and
//! acts on the verdicts.

use std::collections::VecDeque;

use renkei_protocol::UnixMillis;
use serde::{Deserialize, Serialize};

/// Thresholds, from the portal's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorPolicy {
    /// Sustained requests per minute per client.
    pub rate_per_minute: u32,
    /// Requests a client may make at once above the rate.
    pub burst: u32,
    /// The window failures and volume are counted over.
    pub window_secs: u32,
    /// Failures within the window that raise an alert.
    pub failure_alert: u32,
    /// Failures within the window that suspend the client.
    pub failure_suspend: u32,
    /// An alert when the last minute's requests exceed this many times the
    /// window's average per minute…
    pub volume_factor: u32,
    /// …and at least this many.
    pub volume_min: u32,
}

impl Default for MonitorPolicy {
    fn default() -> Self {
        Self {
            rate_per_minute: 600,
            burst: 120,
            window_secs: 3600,
            failure_alert: 50,
            failure_suspend: 500,
            volume_factor: 10,
            volume_min: 300,
        }
    }
}

/// What the monitor says about a request before it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allow,
    /// Over the rate: try again after this many seconds.
    Limited {
        retry_after_secs: u32,
    },
}

/// Something an administrator should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    FailureBurst {
        failures: u32,
        window_secs: u32,
    },
    VolumeSpike {
        last_minute: u32,
        average_per_minute: u32,
    },
    /// The failures crossed the suspension threshold.
    Suspend {
        failures: u32,
        window_secs: u32,
    },
}

impl Alert {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FailureBurst { .. } => "failure_burst",
            Self::VolumeSpike { .. } => "volume_spike",
            Self::Suspend { .. } => "auto_suspension",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Self::FailureBurst {
                failures,
                window_secs,
            } => {
                format!("{failures} failed requests within {window_secs} s")
            }
            Self::VolumeSpike {
                last_minute,
                average_per_minute,
            } => format!(
                "{last_minute} requests in the last minute against an average of {average_per_minute}"
            ),
            Self::Suspend {
                failures,
                window_secs,
            } => {
                format!("suspended automatically: {failures} failed requests within {window_secs} s")
            }
        }
    }
}

/// One client's recent history.
#[derive(Debug, Clone, Default)]
pub struct ClientWatch {
    tokens: f64,
    refilled: Option<UnixMillis>,
    requests: VecDeque<UnixMillis>,
    failures: VecDeque<UnixMillis>,
    /// Alerts already raised in this window (each once per window).
    raised_failure: Option<UnixMillis>,
    raised_volume: Option<UnixMillis>,
    raised_suspend: bool,
    pub limited: u64,
}

impl ClientWatch {
    fn trim(&mut self, p: &MonitorPolicy, now: UnixMillis) {
        let from = now.0 - i64::from(p.window_secs) * 1000;
        while self.requests.front().is_some_and(|t| t.0 < from) {
            self.requests.pop_front();
        }
        while self.failures.front().is_some_and(|t| t.0 < from) {
            self.failures.pop_front();
        }
    }

    /// A request arrives: admitted (token bucket), and any volume alert.
    pub fn admit(&mut self, p: &MonitorPolicy, now: UnixMillis) -> (Admission, Option<Alert>) {
        let rate_per_ms = f64::from(p.rate_per_minute) / 60_000.0;
        let cap = f64::from(p.burst.max(1));
        self.tokens = match self.refilled {
            None => cap,
            Some(t) => (self.tokens + (now.0 - t.0).max(0) as f64 * rate_per_ms).min(cap),
        };
        self.refilled = Some(now);
        if self.tokens < 1.0 {
            self.limited += 1;
            let wait = ((1.0 - self.tokens) / rate_per_ms.max(f64::MIN_POSITIVE) / 1000.0).ceil();
            return (
                Admission::Limited {
                    retry_after_secs: wait.clamp(1.0, 3600.0) as u32,
                },
                None,
            );
        }
        self.tokens -= 1.0;
        self.trim(p, now);
        self.requests.push_back(now);
        // The deque is in time order: count back from the newest only, so a
        // busy client's hour of history is not scanned on every request.
        let last_minute = self
            .requests
            .iter()
            .rev()
            .take_while(|t| t.0 >= now.0 - 60_000)
            .count() as u32;
        let minutes = (p.window_secs / 60).max(1);
        let average = self.requests.len() as u32 / minutes;
        let spike = last_minute >= p.volume_min
            && last_minute > average.max(1).saturating_mul(p.volume_factor)
            && self
                .raised_volume
                .is_none_or(|t| t.0 < now.0 - i64::from(p.window_secs) * 1000);
        let alert = spike.then(|| {
            self.raised_volume = Some(now);
            Alert::VolumeSpike {
                last_minute,
                average_per_minute: average,
            }
        });
        (Admission::Allow, alert)
    }

    /// A request failed (after the client was identified).
    pub fn failed(&mut self, p: &MonitorPolicy, now: UnixMillis) -> Option<Alert> {
        self.trim(p, now);
        self.failures.push_back(now);
        let n = self.failures.len() as u32;
        if n >= p.failure_suspend && !self.raised_suspend {
            self.raised_suspend = true;
            return Some(Alert::Suspend {
                failures: n,
                window_secs: p.window_secs,
            });
        }
        let again = self
            .raised_failure
            .is_none_or(|t| t.0 < now.0 - i64::from(p.window_secs) * 1000);
        if n >= p.failure_alert && again {
            self.raised_failure = Some(now);
            return Some(Alert::FailureBurst {
                failures: n,
                window_secs: p.window_secs,
            });
        }
        None
    }

    /// After an administrator resumes the client, it starts afresh.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    pub fn recent_requests(&self) -> usize {
        self.requests.len()
    }

    pub fn recent_failures(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> MonitorPolicy {
        MonitorPolicy {
            rate_per_minute: 60,
            burst: 5,
            window_secs: 600,
            failure_alert: 3,
            failure_suspend: 6,
            volume_factor: 5,
            volume_min: 20,
        }
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_refills_at_the_rate() {
        let p = policy();
        let mut w = ClientWatch::default();
        let t = UnixMillis(1_000_000);
        for _ in 0..5 {
            assert_eq!(w.admit(&p, t).0, Admission::Allow);
        }
        assert_eq!(w.admit(&p, t).0, Admission::Limited { retry_after_secs: 1 });
        assert_eq!(w.limited, 1);
        // One request per second comes back.
        assert_eq!(w.admit(&p, t.plus_ms(1000)).0, Admission::Allow);
        assert!(matches!(
            w.admit(&p, t.plus_ms(1000)).0,
            Admission::Limited { .. }
        ));
        assert_eq!(w.admit(&p, t.plus_ms(10_000)).0, Admission::Allow);
    }

    #[test]
    fn failures_alert_once_then_suspend() {
        let p = policy();
        let mut w = ClientWatch::default();
        let t = UnixMillis(1_000_000);
        assert_eq!(w.failed(&p, t), None);
        assert_eq!(w.failed(&p, t), None);
        assert_eq!(
            w.failed(&p, t),
            Some(Alert::FailureBurst {
                failures: 3,
                window_secs: 600
            })
        );
        assert_eq!(w.failed(&p, t), None, "once per window");
        assert_eq!(w.failed(&p, t), None);
        let s = w.failed(&p, t).expect("suspension");
        assert_eq!(s.kind(), "auto_suspension");
        assert!(s.detail().contains("6 failed requests"));
        assert_eq!(w.failed(&p, t), None, "suspended once");
        // Failures older than the window are forgotten.
        w.reset();
        w.failed(&p, t);
        w.failed(&p, t);
        assert_eq!(w.failed(&p, t.plus_ms(700_000)), None);
        assert_eq!(w.recent_failures(), 1);
    }

    #[test]
    fn a_sudden_volume_raises_an_alert() {
        let mut p = policy();
        p.burst = 1000;
        p.rate_per_minute = 100_000;
        let mut w = ClientWatch::default();
        let start = UnixMillis(10_000_000);
        // A quiet client: 2 a minute for 9 minutes.
        for m in 0..9 {
            for s in [0, 30] {
                let (a, alert) = w.admit(&p, start.plus_ms(m * 60_000 + s * 1000));
                assert_eq!((a, alert), (Admission::Allow, None));
            }
        }
        // Then 25 in one minute.
        let burst_at = start.plus_ms(9 * 60_000);
        let alerts: Vec<Alert> = (0..25)
            .filter_map(|i| w.admit(&p, burst_at.plus_ms(i * 100)).1)
            .collect();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(
            matches!(alerts[0], Alert::VolumeSpike { last_minute: 20, .. }),
            "{alerts:?}"
        );
    }
}
