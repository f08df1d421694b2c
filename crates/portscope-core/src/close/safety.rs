//! The processes `close` refuses to signal, and why. One pure function over the model and a small
//! context, so every rule is tested without signalling anything.

use std::fmt;

use serde::Serialize;

use crate::model::{Process, Supervisor};
use crate::platform::Platform;
use crate::privilege;

/// What the safety rules need to know about the process running portscope.
#[derive(Clone, Debug)]
pub struct Context {
    pub self_pid: u32,
    /// portscope's parent, grandparent, … up to PID 1.
    pub ancestors: Vec<u32>,
    pub euid: u32,
    /// May signal other users' processes (CAP_KILL).
    pub kill_any: bool,
    /// The systemd unit or container portscope itself runs in.
    pub own_supervisor: Option<Supervisor>,
}

impl Context {
    /// The context of the portscope running on `platform`.
    pub fn of(platform: &dyn Platform) -> Context {
        let me = platform.self_info();
        Context {
            self_pid: me.pid,
            ancestors: me.ancestors,
            euid: me.euid,
            kill_any: platform.privileges().kill_any,
            own_supervisor: me.supervisor,
        }
    }
}

/// Why a process must not be signalled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// PID 1: init; killing it takes the system down.
    Init,
    /// PID 1 of its own pid namespace: a container's init (or `unshare --pid --fork`'s child);
    /// killing it takes every process of the container down with it.
    NamespaceInit,
    KernelThread,
    Itself,
    /// A parent of portscope: the user's shell, terminal or session.
    Ancestor,
    /// A process the operating system cannot run without (Windows' csrss, lsass, …).
    SystemCritical {
        name: &'static str,
    },
    OtherUser {
        uid: u32,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Init => f.write_str("it is PID 1 (init); stopping it would bring the system down"),
            Refusal::NamespaceInit => f.write_str(
                "it is PID 1 of its own pid namespace (a container's init); stopping it would kill every process in it",
            ),
            Refusal::KernelThread => f.write_str("it is a kernel thread"),
            Refusal::Itself => f.write_str("it is portscope itself"),
            Refusal::Ancestor => f.write_str(
                "it is a parent of portscope (your shell or session); stopping it would end this session",
            ),
            Refusal::SystemCritical { name } => write!(
                f,
                "it is {name}, a process the system cannot run without; stopping it would crash the machine"
            ),
            Refusal::OtherUser { uid } => write!(
                f,
                "it belongs to another user (uid {uid}); signalling it needs {} ({})",
                privilege::KILL,
                privilege::ELEVATE
            ),
        }
    }
}

/// What the platform says about one process beyond the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub kernel_thread: bool,
    /// Its pid in its innermost pid namespace (Linux's last NSpid field).
    pub namespace_pid: Option<u32>,
    /// The system process it is, when the system cannot run without it.
    pub critical: Option<&'static str>,
}

impl Facts {
    /// The facts `platform` knows about `pid`.
    pub fn of(platform: &dyn Platform, pid: u32) -> Facts {
        Facts {
            kernel_thread: platform.is_kernel_thread(pid),
            namespace_pid: platform.namespace_pid(pid),
            critical: platform.critical_process(pid),
        }
    }
}

/// The first rule that forbids signalling `process`, if any.
pub fn check(process: &Process, facts: Facts, context: &Context) -> Option<Refusal> {
    let kernel_thread = facts.kernel_thread;
    if process.pid == 1 {
        return Some(Refusal::Init);
    }
    if facts.namespace_pid == Some(1) {
        return Some(Refusal::NamespaceInit);
    }
    if kernel_thread {
        return Some(Refusal::KernelThread);
    }
    if let Some(name) = facts.critical {
        return Some(Refusal::SystemCritical { name });
    }
    if process.pid == context.self_pid {
        return Some(Refusal::Itself);
    }
    if context.ancestors.contains(&process.pid) {
        return Some(Refusal::Ancestor);
    }
    if !context.kill_any && process.uid != context.euid {
        return Some(Refusal::OtherUser { uid: process.uid });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, uid: u32) -> Process {
        Process {
            pid,
            ppid: 1,
            name: "server".into(),
            name_bytes: None,
            exe: None,
            exe_deleted: false,
            cmdline: Vec::new(),
            uid,
            user: None,
            start_time: None,
            supervisor: None,
        }
    }

    fn context(root: bool) -> Context {
        Context {
            self_pid: 500,
            ancestors: vec![400, 300, 1],
            euid: if root { 0 } else { 1000 },
            kill_any: root,
            own_supervisor: None,
        }
    }

    #[test]
    fn every_rule() {
        let user = context(false);
        let root = context(true);
        let kt = |k: bool| Facts {
            kernel_thread: k,
            namespace_pid: None,
            critical: None,
        };
        assert_eq!(check(&process(1, 0), kt(false), &root), Some(Refusal::Init));
        assert_eq!(check(&process(1, 1000), kt(false), &user), Some(Refusal::Init));
        assert_eq!(
            check(&process(77, 0), kt(true), &root),
            Some(Refusal::KernelThread)
        );
        assert_eq!(
            check(&process(500, 1000), kt(false), &user),
            Some(Refusal::Itself)
        );
        assert_eq!(
            check(&process(400, 1000), kt(false), &user),
            Some(Refusal::Ancestor)
        );
        assert_eq!(check(&process(300, 0), kt(false), &root), Some(Refusal::Ancestor));
        assert_eq!(
            check(&process(600, 0), kt(false), &user),
            Some(Refusal::OtherUser { uid: 0 })
        );
        assert_eq!(check(&process(600, 1000), kt(false), &user), None);
        assert_eq!(check(&process(600, 1000), kt(false), &root), None);
        assert_eq!(check(&process(600, 0), kt(false), &root), None);
    }

    #[test]
    fn a_namespace_init_is_refused_whatever_its_global_pid() {
        let facts = Facts {
            kernel_thread: false,
            namespace_pid: Some(1),
            critical: None,
        };
        assert_eq!(
            check(&process(4242, 0), facts, &context(true)),
            Some(Refusal::NamespaceInit)
        );
        let inner = Facts {
            namespace_pid: Some(7),
            ..facts
        };
        assert_eq!(check(&process(4242, 0), inner, &context(true)), None);
    }

    #[test]
    fn a_critical_system_process_is_refused_even_for_an_administrator() {
        let facts = Facts {
            critical: Some("csrss.exe"),
            ..Facts::default()
        };
        let refusal = check(&process(612, 0), facts, &context(true));
        assert_eq!(refusal, Some(Refusal::SystemCritical { name: "csrss.exe" }));
        assert!(refusal.unwrap().to_string().contains("csrss.exe"));
        assert_eq!(check(&process(612, 0), Facts::default(), &context(true)), None);
    }

    #[test]
    fn reasons_are_one_line() {
        for refusal in [
            Refusal::Init,
            Refusal::NamespaceInit,
            Refusal::KernelThread,
            Refusal::Itself,
            Refusal::Ancestor,
            Refusal::OtherUser { uid: 33 },
        ] {
            assert!(!refusal.to_string().contains('\n'));
        }
    }
}
