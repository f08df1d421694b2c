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

// The names below are what the user is told to get: Linux capabilities, or on Windows the token
// rights that stand for them (the platform maps an elevated token and SeDebugPrivilege to the
// same three privileges).

/// The capability that lets a process read every other process's descriptors.
#[cfg(not(windows))]
pub const READ_ALL: &str = "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH";
/// The capability that lets a process signal any other process.
#[cfg(not(windows))]
pub const KILL: &str = "CAP_KILL";
/// The capability that lets a process destroy sockets.
#[cfg(not(windows))]
pub const NET_ADMIN: &str = "CAP_NET_ADMIN";
/// The user who has every privilege.
#[cfg(not(windows))]
pub const SUPERUSER: &str = "root";
/// What to do to get every privilege.
#[cfg(not(windows))]
pub const ELEVATE: &str = "run as root";

/// Opening every process (its image path, user and command line).
#[cfg(windows)]
pub const READ_ALL: &str = "SeDebugPrivilege";
/// Terminating another user's process.
#[cfg(windows)]
pub const KILL: &str = "SeDebugPrivilege";
/// Cutting a connection (SetTcpEntry).
#[cfg(windows)]
pub const NET_ADMIN: &str = "an elevated token";
#[cfg(windows)]
pub const SUPERUSER: &str = "Administrator";
#[cfg(windows)]
pub const ELEVATE: &str = "run as Administrator";

/// How many of the processes that hid their descriptors a note names.
pub const NAMED_IN_NOTE: usize = 3;

/// The one line to print when some owners were hidden, if any were.
pub fn hidden_owners_note(unreadable_processes: usize, privileges: Privileges) -> Option<String> {
    hidden_owners_note_naming(unreadable_processes, &[], privileges)
}

/// [`hidden_owners_note`], naming the first processes (`pid 812 (sshd)`) so the user knows whose
/// sockets show no owner.
pub fn hidden_owners_note_naming(
    unreadable_processes: usize,
    named: &[crate::model::ProcessName],
    privileges: Privileges,
) -> Option<String> {
    if unreadable_processes == 0 {
        return None;
    }
    let mut who: Vec<String> = named
        .iter()
        .take(NAMED_IN_NOTE)
        .map(|p| format!("pid {} ({})", p.pid, crate::render::escape(&p.name)))
        .collect();
    let rest = unreadable_processes.saturating_sub(who.len());
    if !who.is_empty() && rest > 0 {
        who.push(format!("{rest} more"));
    }
    let subject = if who.is_empty() {
        match unreadable_processes {
            1 => "1 process".to_string(),
            n => format!("{n} processes"),
        }
    } else {
        who.join(", ")
    };
    let one = unreadable_processes == 1;
    Some(if privileges.read_all {
        let (verb, its) = if one {
            ("refuses", "its")
        } else {
            ("refuse", "their")
        };
        format!(
            "{subject} {verb} to show {its} descriptors even with {READ_ALL} (a security module or a \
             sandbox); {its} sockets show no owner"
        )
    } else {
        let (verb, whose) = if one {
            ("belongs to another user", "its")
        } else {
            ("belong to other users", "their")
        };
        format!(
            "{subject} {verb}, so {whose} sockets show no owner; {ELEVATE} (or grant {READ_ALL}) to \
             see every owner"
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
        assert!(user.contains(READ_ALL) && user.starts_with("3 processes"));
        let root = hidden_owners_note(1, Privileges::full(0)).unwrap();
        assert!(
            root.contains("even with") && root.starts_with("1 process refuses"),
            "{root}"
        );
        let named = [
            crate::model::ProcessName {
                pid: 812,
                name: "sshd".into(),
            },
            crate::model::ProcessName {
                pid: 9,
                name: "x\x1b[2K".into(),
            },
        ];
        let root = hidden_owners_note_naming(1, &named[..1], Privileges::full(0)).unwrap();
        assert!(
            root.starts_with("pid 812 (sshd) refuses to show its descriptors"),
            "{root}"
        );
        let user = hidden_owners_note_naming(5, &named, Privileges::none(1000)).unwrap();
        assert!(
            user.starts_with("pid 812 (sshd), pid 9 (x\\e[2K), 3 more belong to other users"),
            "{user}"
        );
    }
}
