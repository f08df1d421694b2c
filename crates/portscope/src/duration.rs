//! Every duration flag (`--interval`, `--timeout`, `--for`, scan's waits, …) is read by one
//! parser with bounds: a wait is added to the clock, so `18446744073709551615s` would overflow it
//! (a panic) and a century would hang. A value out of range is one line and exit 2.

use std::time::Duration;

/// The longest any duration flag may be: a year. Far beyond any use, far below an overflow.
pub const YEAR: Duration = Duration::from_secs(366 * 24 * 3600);

/// `text` as a duration (`500ms`, `5s`, `2h`) within `min..=max`, or why not.
pub fn within(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 1s or 500ms ({e})"))?;
    if duration < min || duration > max {
        return Err(format!(
            "{text:?} is out of range; give {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(duration)
}

/// A duration from zero up to [`YEAR`]: timeouts and run times.
pub fn any(text: &str) -> Result<Duration, String> {
    within(text, Duration::ZERO, YEAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded_and_refusals_say_the_range() {
        assert_eq!(any("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(any("0s"), Ok(Duration::ZERO));
        for bad in ["18446744073709551615s", "400days", "x", "", "-1s"] {
            assert!(any(bad).is_err(), "{bad}");
        }
        let err = within("50ms", Duration::from_millis(100), YEAR).unwrap_err();
        assert!(err.contains("100ms") && err.contains("out of range"), "{err}");
    }
}
