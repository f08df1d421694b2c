//! User names for uids, from /etc/passwd (read once per run).

use std::collections::HashMap;

/// Parses /etc/passwd text into uid → name. Malformed lines are skipped: a broken entry must not
/// hide every other user's name.
pub fn parse_passwd(bytes: &[u8]) -> HashMap<u32, String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (uid, name.to_string()))
        })
        .collect()
}

/// uid → user name for this machine.
pub fn table() -> HashMap<u32, String> {
    std::fs::read("/etc/passwd")
        .map(|b| parse_passwd(&b))
        .unwrap_or_default()
}
