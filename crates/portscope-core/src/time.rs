//! Timestamps of events: milliseconds since the Unix epoch inside, local time for people,
//! RFC 3339 UTC for scripts.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `2026-11-25T14:03:07.120Z`, for any moment a history can hold: years past 9999 (which RFC
/// 3339 cannot write) get ISO 8601's expanded form with a sign, `+10000-01-01T00:00:00.000Z`, and
/// moments before 1970 are written as they are, so no stored value makes a report fail.
pub fn rfc3339(time_ms: i64) -> String {
    let days = time_ms.div_euclid(86_400_000);
    let in_day = time_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{year:+05}")
    };
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Year, month and day of a day count since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`), for every day an `i64` of milliseconds can name.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const DAY_MS: i64 = 86_400_000;

/// Parses `--since`: `today` or `yesterday` (from local midnight), a day (`2026-11-25`, from its
/// local midnight), a duration back from now (`2h`, `30m`, `1day`) or a moment
/// (`2026-11-25 14:00:00`, `2026-11-25T14:00:00Z`, read as UTC). `utc_offset_ms` is the local
/// time zone's offset from UTC now (the platform knows it; the core does not).
pub fn parse_since(text: &str, now_ms: i64, utc_offset_ms: i64) -> Option<i64> {
    let text = text.trim();
    let local_midnight = |utc_ms: i64| {
        let local = utc_ms.saturating_add(utc_offset_ms);
        local - local.rem_euclid(DAY_MS) - utc_offset_ms
    };
    match text.to_ascii_lowercase().as_str() {
        "today" => return Some(local_midnight(now_ms)),
        "yesterday" => return Some(local_midnight(now_ms) - DAY_MS),
        _ => {}
    }
    let is_date = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if is_date {
        let at = humantime::parse_rfc3339_weak(&format!("{text} 00:00:00")).ok()?;
        let ms = i64::try_from(at.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
        return Some(ms - utc_offset_ms);
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Some(now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX)));
    }
    let at = humantime::parse_rfc3339_weak(text).ok()?;
    let ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn any_stored_time_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_615_387_120), "2026-11-25T14:03:07.120Z");
        assert_eq!(rfc3339(253_402_300_800_000), "+10000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        for ms in [i64::MIN, i64::MAX, -62_167_219_200_001] {
            assert!(rfc3339(ms).ends_with('Z'));
        }
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(
            rfc3339(1_700_000_000_123),
            humantime::format_rfc3339_millis(at).to_string()
        );
    }

    #[test]
    fn since_accepts_durations_and_moments() {
        assert_eq!(parse_since("2h", 10_000_000, 0), Some(10_000_000 - 7_200_000));
        assert_eq!(parse_since("1970-01-01 00:00:10", 0, 0), Some(10_000));
        assert_eq!(parse_since("yesterday-ish", 0, 0), None);
    }

    #[test]
    fn since_accepts_today_yesterday_and_days_in_local_time() {
        // 2026-11-25T14:03:07.120Z
        let now = 1_795_615_387_120;
        let midnight_utc = 1_795_564_800_000; // 2026-11-25T00:00:00Z
        assert_eq!(parse_since("today", now, 0), Some(midnight_utc));
        assert_eq!(parse_since("Yesterday", now, 0), Some(midnight_utc - DAY_MS));
        assert_eq!(parse_since("2026-11-25", now, 0), Some(midnight_utc));
        // UTC+1: local midnight is 23:00 UTC the day before.
        let hour = 3_600_000;
        assert_eq!(parse_since("today", now, hour), Some(midnight_utc - hour));
        assert_eq!(parse_since("2026-11-25", now, hour), Some(midnight_utc - hour));
        // UTC-5 at 02:00 UTC on the 26th is still the 25th locally.
        let early = midnight_utc + DAY_MS + 2 * hour;
        assert_eq!(
            parse_since("today", early, -5 * hour),
            Some(midnight_utc + 5 * hour)
        );
        assert_eq!(parse_since("2026-13-45", now, 0), None);
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }
}
