//! What this process may do, and what portscope says once when it may not.
//!
//! "Privileged" is not "euid 0": a setcap'd binary has capabilities without being root, and a
//! rootless container's root lacks most of them. Each action asks for the capability it needs:
//! reading other users' descriptors (CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH), signalling other
//! users' processes (CAP_KILL), destroying sockets (CAP_NET_ADMIN). The platform reads the
//! effective set; everything else here is pure.

/// The effective privileges of the running portscope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    pub euid: u32,
    /// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: every process's descriptors are readable.
    pub read_all: bool,
    /// CAP_KILL: any process may be signalled.
    pub kill_any: bool,
    /// CAP_NET_ADMIN: sockets may be destroyed (SOCK_DESTROY), namespaces' rules read.
    pub net_admin: bool,
}

impl Privileges {
    /// Every capability portscope uses (root, or a binary granted them all).
    pub fn full(euid: u32) -> Privileges {
        Privileges {
            euid,
            read_all: true,
            kill_any: true,
            net_admin: true,
        }
    }

    /// None beyond those of an ordinary user.
    pub fn none(euid: u32) -> Privileges {
        Privileges {
            euid,
            ..Privileges::default()
        }
    }
}

/// The capability that lets a process read every other process's descriptors.
pub const READ_ALL: &str = "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH";
/// The capability that lets a process signal any other process.
pub const KILL: &str = "CAP_KILL";
/// The capability that lets a process destroy sockets.
pub const NET_ADMIN: &str = "CAP_NET_ADMIN";

/// The one line to print when some owners were hidden, if any were.
pub fn hidden_owners_note(unreadable_processes: usize, privileges: Privileges) -> Option<String> {
    if unreadable_processes == 0 {
        return None;
    }
    Some(if privileges.read_all {
        format!(
            "{unreadable_processes} processes refused to show their descriptors even with {READ_ALL} \
             (a security module or a sandbox); their sockets show no owner"
        )
    } else {
        format!(
            "{unreadable_processes} processes belong to other users and their sockets show no owner; \
             run as root (or grant {READ_ALL}) to see every owner"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_name_the_missing_capability() {
        assert_eq!(hidden_owners_note(0, Privileges::none(1000)), None);
        let user = hidden_owners_note(3, Privileges::none(1000)).unwrap();
        assert!(user.contains("CAP_SYS_PTRACE") && user.starts_with("3 processes"));
        let root = hidden_owners_note(1, Privileges::full(0)).unwrap();
        assert!(root.contains("even with"));
    }
}
