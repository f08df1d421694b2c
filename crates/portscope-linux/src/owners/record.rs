//! The owners iterator's records (`struct ps_owner_rec` of bpf/owners.bpf.c) and the replay that
//! turns them into what the /proc/PID/fd walk would have found. No I/O: whether a process's
//! descriptors may be read is asked through a callback, so the replay runs on recorded bytes in
//! tests as on the live iterator.

use std::collections::HashMap;

use rustix::io::Errno;

use crate::fd_table::Walk;

/// `sizeof(struct ps_owner_rec)`.
pub const SIZE: usize = 24;

const S_IFMT: u32 = 0o170_000;
const S_IFSOCK: u32 = 0o140_000;

/// One open file of one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The process (thread group) id, in the init pid namespace.
    pub tgid: u32,
    /// The task whose descriptor table this is.
    pub tid: u32,
    pub fd: u32,
    /// The inode's mode: its file type in `S_IFMT`.
    pub mode: u32,
    pub ino: u64,
}

impl Record {
    /// Whether the file is a socket.
    pub fn is_socket(&self) -> bool {
        self.mode & S_IFMT == S_IFSOCK
    }
}

/// Parses the iterator's output: whole records only, in host byte order. A trailing partial
/// record (which the kernel never writes) is an error, so a short read is never mistaken for
/// an end.
pub fn parse(bytes: &[u8]) -> Result<Vec<Record>, usize> {
    if !bytes.len().is_multiple_of(SIZE) {
        return Err(bytes.len());
    }
    let u32_at = |b: &[u8], at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    Ok(bytes
        .chunks_exact(SIZE)
        .map(|b| Record {
            tgid: u32_at(b, 0),
            tid: u32_at(b, 4),
            fd: u32_at(b, 8),
            mode: u32_at(b, 12),
            ino: u64::from(u32_at(b, 16)) | (u64::from(u32_at(b, 20)) << 32),
        })
        .collect())
}

/// Which task's table the walk would have read for one process, and one of its descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub tgid: u32,
    /// The leader itself, or the thread that answers for a leader without a table.
    pub tid: u32,
    pub fd: u32,
}

/// Replays the /proc walk over the iterator's records for the processes `pids` (the ones the
/// walk would have listed), and returns the processes of `pids` the iterator did not visit.
///
/// - A process without records is left to the walk: most have no descriptors at all (kernel
///   threads), but the kernel's task iterator also passes over some tasks (on Linux 6.18 it
///   never visits PID 1), so only the walk can say what they hold.
/// - A process is read through its leader's table (`/proc/PID/fd`); the kernel visits other
///   threads only when their table differs from the leader's, and those the walk never reads.
/// - A leader without a table (it exited while other threads run on, or closed everything) is
///   answered for by the first other thread with descriptors, as `/proc/PID/task/TID/fd` is in
///   the walk: that process is `headless`. Threads are taken in tid order (the walk takes them in
///   the order /proc/PID/task lists them, which is the same unless tids wrapped).
/// - `readable` is asked once per process with descriptors, with one of them: the kernel checks
///   ptrace access per process, not per descriptor, so one readlink answers for all. A process
///   it refuses is `unreadable` and its sockets are left out, as the walk leaves them.
pub fn replay(
    records: &[Record],
    pids: &[u32],
    mut readable: impl FnMut(Probe) -> Result<(), Errno>,
) -> (Walk, Vec<u32>) {
    // Each process's tables, by task: runs of records (the kernel writes a task's files in one
    // run, but nothing here depends on it).
    type Runs = Vec<(usize, usize)>;
    let mut tasks: HashMap<u32, Vec<(u32, Runs)>> = HashMap::new();
    let mut start = 0;
    while start < records.len() {
        let (tgid, tid) = (records[start].tgid, records[start].tid);
        let mut end = start + 1;
        while end < records.len() && records[end].tgid == tgid && records[end].tid == tid {
            end += 1;
        }
        let tables = tasks.entry(tgid).or_default();
        match tables.iter_mut().find(|(t, _)| *t == tid) {
            Some((_, runs)) => runs.push((start, end)),
            None => tables.push((tid, vec![(start, end)])),
        }
        start = end;
    }
    let mut walk = Walk::default();
    let mut unvisited = Vec::new();
    for &pid in pids {
        let Some(tables) = tasks.get_mut(&pid) else {
            unvisited.push(pid);
            continue;
        };
        tables.sort_unstable_by_key(|&(tid, _)| (tid != pid, tid));
        let (tid, runs) = &tables[0];
        let tid = *tid;
        let files = || runs.iter().flat_map(|&(start, end)| &records[start..end]);
        let first = files().next().map_or(0, |r| r.fd);
        // Anything but a refusal (the process gone since the iterator ran, or fine): what the
        // kernel listed stands.
        if let Err(Errno::ACCESS | Errno::PERM) = readable(Probe {
            tgid: pid,
            tid,
            fd: first,
        }) {
            walk.unreadable += 1;
            walk.unreadable_pids.push(pid);
            continue;
        }
        if tid != pid {
            walk.headless.push(pid);
        }
        walk.sockets
            .extend(files().filter(|r| r.is_socket()).map(|r| (r.ino, pid, r.fd)));
    }
    (walk, unvisited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tgid: u32, tid: u32, fd: u32, socket: bool, ino: u64) -> Record {
        let mode = if socket { S_IFSOCK | 0o777 } else { 0o100_644 };
        Record {
            tgid,
            tid,
            fd,
            mode,
            ino,
        }
    }

    fn bytes(records: &[Record]) -> Vec<u8> {
        records
            .iter()
            .flat_map(|r| {
                [r.tgid, r.tid, r.fd, r.mode]
                    .iter()
                    .flat_map(|v| v.to_ne_bytes())
                    .chain(r.ino.to_ne_bytes())
                    .collect::<Vec<u8>>()
            })
            .collect()
    }

    #[test]
    fn parses_whole_records_only() {
        let records = vec![rec(10, 10, 3, true, 1 << 40 | 7), rec(10, 10, 4, false, 9)];
        let raw = bytes(&records);
        assert_eq!(parse(&raw), Ok(records));
        assert_eq!(parse(&raw[..SIZE + 3]), Err(SIZE + 3));
        assert_eq!(parse(&[]), Ok(Vec::new()));
    }

    #[test]
    fn replays_the_walk() {
        let records = vec![
            // A process read through its leader; a thread with a table of its own is not read.
            rec(10, 10, 0, false, 1),
            rec(10, 10, 3, true, 100),
            rec(10, 12, 5, true, 101),
            // A leader that exited: its threads answer, the first one only.
            rec(20, 22, 4, true, 200),
            rec(20, 21, 3, true, 201),
            // A process the kernel refuses to show.
            rec(30, 30, 7, true, 300),
            // A process started after /proc was listed.
            rec(40, 40, 3, true, 400),
        ];
        let mut asked = Vec::new();
        let (walk, unvisited) = replay(&records, &[1, 10, 20, 30], |probe| {
            asked.push(probe);
            if probe.tgid == 30 {
                Err(Errno::ACCESS)
            } else {
                Ok(())
            }
        });
        assert_eq!(walk.sockets, vec![(100, 10, 3), (201, 20, 3)]);
        assert_eq!(unvisited, vec![1]);
        assert_eq!(walk.headless, vec![20]);
        assert_eq!((walk.unreadable, walk.unreadable_pids.clone()), (1, vec![30]));
        assert_eq!(
            asked,
            vec![
                Probe {
                    tgid: 10,
                    tid: 10,
                    fd: 0
                },
                Probe {
                    tgid: 20,
                    tid: 21,
                    fd: 3
                },
                Probe {
                    tgid: 30,
                    tid: 30,
                    fd: 7
                },
            ]
        );
        // A process that vanished before its check keeps what the kernel listed.
        let (gone, _) = replay(&records, &[10], |_| Err(Errno::NOENT));
        assert_eq!(gone.sockets, vec![(100, 10, 3)]);
    }
}
