//! Kernel settings that change how ports are read.

use std::ops::RangeInclusive;

/// Linux's default `net.ipv4.ip_local_port_range`.
pub const DEFAULT_EPHEMERAL: RangeInclusive<u16> = 32768..=60999;

/// Parses `ip_local_port_range`: two numbers separated by white space.
pub fn parse_port_range(bytes: &[u8]) -> Option<RangeInclusive<u16>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut numbers = text.split_whitespace().map(str::parse::<u16>);
    let (low, high) = (numbers.next()?.ok()?, numbers.next()?.ok()?);
    (low <= high).then_some(low..=high)
}

/// The ports the kernel picks for outgoing connections (the same range serves IPv6).
pub fn ephemeral_ports() -> RangeInclusive<u16> {
    std::fs::read("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|b| parse_port_range(&b))
        .unwrap_or(DEFAULT_EPHEMERAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range() {
        assert_eq!(parse_port_range(b"32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range(b"1024 65000"), Some(1024..=65000));
        assert_eq!(parse_port_range(b"9 1"), None);
        assert_eq!(parse_port_range(b"70000 1"), None);
        assert_eq!(parse_port_range(b""), None);
    }
}
