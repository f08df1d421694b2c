//! Parents and ancestors. Windows keeps a process's parent pid after the parent exits, and may
//! give that pid to a new process: a "parent" created after its child is not its parent, so
//! each step checks creation times.

use crate::processes::{self, Entry};

/// The parent of `pid` now; `None` when unknown, gone, or its pid was reused.
pub fn parent(pid: u32) -> Option<u32> {
    let entries = processes::list().ok()?;
    parent_in(&entries, pid)
}

fn created(pid: u32) -> Option<u64> {
    processes::created(pid)
}

fn parent_in(entries: &[Entry], pid: u32) -> Option<u32> {
    let ppid = entries.iter().find(|e| e.pid == pid)?.ppid;
    if ppid == 0 || ppid == pid || !entries.iter().any(|e| e.pid == ppid) {
        return None;
    }
    match (created(pid), created(ppid)) {
        (Some(child), Some(parent)) if parent > child => None,
        _ => Some(ppid),
    }
}

/// `pid`'s parent, grandparent, … as far as the chain is intact (at most 64 steps).
pub fn ancestors(pid: u32) -> Vec<u32> {
    let Ok(entries) = processes::list() else {
        return Vec::new();
    };
    let mut chain = Vec::new();
    let mut at = pid;
    while chain.len() < 64 {
        match parent_in(&entries, at) {
            Some(parent) if !chain.contains(&parent) && parent != pid => {
                chain.push(parent);
                at = parent;
            }
            _ => break,
        }
    }
    chain
}

/// The processes `pid` started that still run (a listed parent pid is only trusted when the
/// child was created after the parent).
pub fn children(pid: u32) -> Option<Vec<u32>> {
    let entries = processes::list().ok()?;
    let born = created(pid);
    Some(
        entries
            .iter()
            .filter(|e| e.ppid == pid && e.pid != pid)
            .filter(|e| match (born, created(e.pid)) {
                (Some(parent), Some(child)) => child >= parent,
                _ => true,
            })
            .map(|e| e.pid)
            .collect(),
    )
}
