//! Local time for people: the machine's time zone (TZ honoured) through localtime_r.

/// `2026-11-25 15:03:07` for a moment in milliseconds since the Unix epoch; RFC 3339 UTC when
/// the C library cannot convert it.
pub fn format(time_ms: i64) -> String {
    let secs = time_ms.div_euclid(1000) as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: localtime_r writes the broken-down time into `tm` and returns null on failure.
    let ok = unsafe { !libc::localtime_r(&secs, tm.as_mut_ptr()).is_null() };
    if !ok {
        return portscope_core::time::rfc3339(time_ms);
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

/// The local time zone's offset from UTC at `time_ms`, in milliseconds (east positive); 0 when
/// the C library cannot say.
pub fn utc_offset_ms(time_ms: i64) -> i64 {
    let secs = time_ms.div_euclid(1000) as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: localtime_r writes the broken-down time into `tm` and returns null on failure.
    let ok = unsafe { !libc::localtime_r(&secs, tm.as_mut_ptr()).is_null() };
    if !ok {
        return 0;
    }
    // SAFETY: localtime_r succeeded, so `tm` is initialised.
    let tm = unsafe { tm.assume_init() };
    i64::from(tm.tm_gmtoff as i32) * 1000
}
