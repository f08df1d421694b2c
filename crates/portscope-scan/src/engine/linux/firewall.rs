//! The one firewall rule a SYN scan adds: it drops the kernel's own resets from the scan's source
//! port, for the scan only.
//!
//! A SYN scan sends from a port no socket is connected on, so the kernel answers each SYN-ACK
//! with a reset of its own. The scan sends its own reset (marked with [`SCAN_MARK`]) and the rule
//! lets only that one out, so what the target sees is decided by the scan, not by a race with the
//! kernel. The rule lives in its own nftables table, `inet portscope_scan_<pid>`, in the network
//! namespace the scan runs in. It is removed when [`RstFilter`] is dropped (the end of the scan,
//! an error, or a stop signal, which the engine turns into an orderly return); a table left by a
//! scan that was killed outright (SIGKILL) is removed by the next scan, which deletes every such
//! table whose process is gone.

use std::io::Write;
use std::process::{Command, Stdio};

use portscope_core::error::{Error, Result};

/// The mark on every packet the scan's raw sockets send (`SO_MARK`).
pub const SCAN_MARK: u32 = 0x7053_6e00;

const PREFIX: &str = "portscope_scan_";

/// The installed rule; dropping it removes the table.
#[derive(Debug)]
pub struct RstFilter {
    table: String,
}

impl RstFilter {
    /// Removes leftover tables, then adds this process's table dropping unmarked TCP resets
    /// from `sports`.
    ///
    /// A reset from one of `sports` to another of them is let through: it is this host's kernel
    /// refusing a probe the scan sent to its own reserved ports (a scan of its own address), the
    /// true answer for those ports; dropped, they showed as four phantom "filtered" ports.
    pub fn install(sports: &[u16]) -> Result<RstFilter> {
        remove_leftovers();
        let table = format!("{PREFIX}{}", std::process::id());
        let sport = format!(
            "{{ {} }}",
            sports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        );
        let ruleset = format!(
            "table inet {table} {{\n  chain out {{\n    type filter hook output priority -300; policy accept;\n    \
             tcp sport {sport} tcp dport != {sport} tcp flags & rst == rst meta mark != {SCAN_MARK:#x} drop\n  }}\n}}\n"
        );
        nft_stdin(&ruleset)?;
        Ok(RstFilter { table })
    }
}

impl Drop for RstFilter {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Deletes every `portscope_scan_<pid>` table whose process no longer runs (or is not a
/// portscope: the PID was reused). Returns the names deleted.
pub fn remove_leftovers() -> Vec<String> {
    let Ok(out) = Command::new("nft")
        .args(["list", "tables", "inet"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for name in leftover_tables(&String::from_utf8_lossy(&out.stdout)) {
        let pid = &name[PREFIX.len()..];
        if pid == std::process::id().to_string() || process_is_portscope(pid) {
            continue;
        }
        let ok = Command::new("nft")
            .args(["delete", "table", "inet", &name])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            removed.push(name);
        }
    }
    removed
}

/// The scan tables named in `nft list tables` output.
fn leftover_tables(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table inet "))
        .map(str::trim)
        .filter(|n| {
            n.strip_prefix(PREFIX)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect()
}

fn process_is_portscope(pid: &str) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with("portscope"))
        })
        .unwrap_or(false)
}

fn nft_stdin(ruleset: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::System(format!("running nft to add the scan's firewall rule: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(ruleset.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::System(format!("running nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::System(format!(
            "nft refused the scan's firewall rule: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_scan_tables() {
        let listing = "table inet filter\ntable inet portscope_scan_123\ntable inet portscope_scan_x\n\
                       table inet portscope_scan_\ntable inet portscope_scan_45\n";
        assert_eq!(
            leftover_tables(listing),
            ["portscope_scan_123", "portscope_scan_45"]
        );
    }
}
