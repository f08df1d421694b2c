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
