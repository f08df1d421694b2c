//! Timestamps of events: milliseconds since the Unix epoch inside, local time for people,
//! RFC 3339 UTC for scripts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `2026-11-25T14:03:07.120Z`.
pub fn rfc3339(time_ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(time_ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// `2026-11-25 15:03:07` in the machine's time zone (TZ honoured), for tables and watch lines.
pub fn local(time_ms: i64) -> String {
    let secs = time_ms.div_euclid(1000) as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: localtime_r writes the broken-down time into `tm` and returns null on failure.
    let ok = unsafe { !libc::localtime_r(&secs, tm.as_mut_ptr()).is_null() };
    if !ok {
        return rfc3339(time_ms);
    }
    // SAFETY: localtime_r succeeded, so `tm` is initialised.
    let tm = unsafe { tm.assume_init() };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Parses `--since`: a duration back from now (`2h`, `30m`, `1day`) or a moment
/// (`2026-11-25 14:00:00`, `2026-11-25T14:00:00Z`, read as UTC).
pub fn parse_since(text: &str, now_ms: i64) -> Option<i64> {
    if let Ok(ago) = humantime::parse_duration(text.trim()) {
        return Some(now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX)));
    }
    let at = humantime::parse_rfc3339_weak(text.trim()).ok()?;
    let ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_moments() {
        assert_eq!(parse_since("2h", 10_000_000), Some(10_000_000 - 7_200_000));
        assert_eq!(parse_since("1970-01-01 00:00:10", 0), Some(10_000));
        assert_eq!(parse_since("yesterday-ish", 0), None);
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }
}
