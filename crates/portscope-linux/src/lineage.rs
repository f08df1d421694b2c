//! What `close` must know about processes beyond the model: portscope's own ancestors (its shell,
//! terminal, session) and whether a process is a kernel thread. Both come from /proc/PID/stat.

use crate::process::{StatFields, parse_stat};

fn read(pid: u32) -> Option<StatFields> {
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?).ok()
}

/// True when `pid` is a kernel thread (or kthreadd itself). A process that vanished is not one.
pub fn is_kernel_thread(pid: u32) -> bool {
    pid == 2 || read(pid).is_some_and(|stat| stat.is_kernel_thread())
}

/// The supervisor of portscope's own process (its cgroup), if any. A holder that shares it is
/// not supervised separately: stopping that unit would stop portscope and its caller too.
pub fn own_supervisor() -> Option<portscope_core::model::Supervisor> {
    std::fs::read("/proc/self/cgroup")
        .ok()
        .and_then(|b| crate::cgroup::supervisor(&b))
}

/// The parent of `pid` now; `None` when it is gone or has none (PID 1, the top of a PID
/// namespace).
pub fn parent(pid: u32) -> Option<u32> {
    read(pid).map(|stat| stat.ppid).filter(|&p| p != 0 && p != pid)
}

/// The PIDs above `pid`, parent first, up to and including PID 1 (or the top of this PID
/// namespace). Bounded, so a corrupt or racing /proc cannot loop forever.
pub fn ancestors(pid: u32) -> Vec<u32> {
    let mut chain = Vec::new();
    let mut current = pid;
    while chain.len() < 4096 {
        let Some(parent) = read(current)
            .map(|stat| stat.ppid)
            .filter(|&p| p != 0 && p != current)
        else {
            break;
        };
        chain.push(parent);
        current = parent;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_thread_flag() {
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 8 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let parsed = parse_stat(kthread).unwrap();
        assert!(parsed.is_kernel_thread());
        assert_eq!(parsed.ppid, 0);
        let user = b"812 (python3 (x)) S 700 812 700 34816 812 4194304 300 0 0 0 1 0 0 0 20 0 1 0 4000 1000 100 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let parsed = parse_stat(user).unwrap();
        assert!(!parsed.is_kernel_thread());
        assert_eq!(parsed.ppid, 700);
        assert!(parse_stat(b"garbage").is_err());
        // Found by the fuzzer (procfs-core's parser panics on it).
        assert!(parse_stat(b"\n\n\n \\\n-\n\n(\n \n\n  )))\xd9\xd6)))\x03").is_err());
        assert!(parse_stat(b"1 (x)").is_err());
    }

    #[test]
    fn own_ancestors_end_at_the_top() {
        let chain = ancestors(std::process::id());
        assert!(!chain.is_empty());
        assert!(!chain.contains(&std::process::id()));
    }
}
