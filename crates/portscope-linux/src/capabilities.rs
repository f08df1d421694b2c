//! The effective capability set of this process, from /proc/self/status, turned into the
//! privileges portscope's actions ask for.

use portscope_core::privilege::Privileges;

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_KILL: u32 = 5;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Whether a process with capability mask `effective` may load and attach the event source's
/// tracing programs: CAP_BPF with CAP_PERFMON (Linux 5.8+), or CAP_SYS_ADMIN.
pub fn can_trace(effective: u64) -> bool {
    let has = |cap: u32| effective & (1 << cap) != 0;
    (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN)
}

/// This process's effective capability mask; 0 when unreadable.
pub fn effective() -> u64 {
    std::fs::read("/proc/self/status")
        .ok()
        .and_then(|s| parse_effective(&s))
        .unwrap_or(0)
}

/// The `CapEff:` mask of a status file.
pub fn parse_effective(status: &[u8]) -> Option<u64> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"CapEff:"))?;
    u64::from_str_radix(std::str::from_utf8(line).ok()?.trim(), 16).ok()
}

/// What a process with effective uid `euid` and capability mask `effective` may do. Reading other
/// processes' descriptors needs the directory (CAP_DAC_READ_SEARCH) and the links in it, which
/// the kernel guards as ptrace access (CAP_SYS_PTRACE).
pub fn privileges(euid: u32, effective: u64) -> Privileges {
    let has = |cap: u32| effective & (1 << cap) != 0;
    Privileges {
        euid,
        read_all: has(CAP_SYS_PTRACE) && has(CAP_DAC_READ_SEARCH),
        kill_any: has(CAP_KILL),
        net_admin: has(CAP_NET_ADMIN),
    }
}

/// This process's privileges now. An unreadable status file counts as no capabilities.
pub fn current() -> Privileges {
    let euid = rustix::process::geteuid().as_raw();
    let effective = std::fs::read("/proc/self/status")
        .ok()
        .and_then(|s| parse_effective(&s))
        .unwrap_or(0);
    privileges(euid, effective)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let status = b"Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_effective(status), Some(0x1ff_ffff_ffff));
        assert_eq!(privileges(0, 0x1ff_ffff_ffff), Privileges::full(0));
        assert_eq!(privileges(1000, 0), Privileges::none(1000));
        // A setcap'd binary with only CAP_NET_ADMIN.
        let net = privileges(1000, 1 << CAP_NET_ADMIN);
        assert!(net.net_admin && !net.kill_any && !net.read_all);
        assert_eq!(parse_effective(b"CapEff:\tzz\n"), None);
        assert_eq!(parse_effective(b""), None);
    }
}
