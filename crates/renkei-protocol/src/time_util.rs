use std::fmt;

use time::{Date, OffsetDateTime, UtcOffset};

/// A point in time as milliseconds since the Unix epoch (UTC). Messages
/// carry these rather than formatted dates so that comparisons are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn now() -> Self {
        // i64 milliseconds cover ±292 million years.

        Self((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Display for UnixMillis {
    /// RFC 3339 in UTC with milliseconds, for people reading traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

/// The calendar date in Japan (UTC+9) at `t`: permission-table rows are in
/// force on Japanese dates.
pub fn date_of(t: UnixMillis) -> Date {
    let jst = UtcOffset::from_hms(9, 0, 0).expect("+09:00 is a valid offset");
    t.to_datetime().to_offset(jst).date()
}
