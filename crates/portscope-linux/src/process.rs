//! Reading one process's identity from /proc/PID: parsers over bytes, and the reader that feeds them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::cgroup;
use portscope_core::error::ParseError;
use portscope_core::model::{Process, Supervisor};

/// The fields of /proc/PID/stat that portscope uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatFields {
    /// comm, with U+FFFD for bytes that are not UTF-8.
    pub comm: String,
    /// comm's exact bytes when they are not UTF-8.
    pub comm_bytes: Option<Vec<u8>>,
    pub ppid: u32,
    /// The kernel's per-process flags (PF_* in include/linux/sched.h).
    pub flags: u64,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
    /// The session id (the pid of the session's leader).
    pub session: u32,
    /// The controlling terminal's device number, 0 for none.
    pub tty_nr: u64,
}

impl StatFields {
    /// A kernel thread (PF_KTHREAD): it holds no program that could be stopped.
    pub fn is_kernel_thread(&self) -> bool {
        const PF_KTHREAD: u64 = 0x0020_0000;
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses /proc/PID/stat. Hand-written because procfs-core's parser panics on some truncated
/// input (a line that ends right after the comm's closing parenthesis).
pub fn parse_stat(bytes: &[u8]) -> Result<StatFields, ParseError> {
    const WHAT: &str = "/proc/PID/stat";
    // comm may itself contain spaces and parentheses: it runs from the first '(' to the last ')'.
    let open = bytes
        .iter()
        .position(|&b| b == b'(')
        .ok_or_else(|| ParseError::malformed(WHAT, "no '('"))?;
    let close = bytes.iter().rposition(|&b| b == b')').filter(|&c| c > open);
    let close = close.ok_or_else(|| ParseError::malformed(WHAT, "no ')' after '('"))?;
    let raw = &bytes[open + 1..close];
    let comm = String::from_utf8_lossy(raw).into_owned();
    let comm_bytes = std::str::from_utf8(raw).is_err().then(|| raw.to_vec());
    // Fields after comm, numbered from 3 (state) as in proc(5).
    let rest: Vec<&[u8]> = bytes[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .collect();
    let field = |number: usize| -> Result<u64, ParseError> {
        let raw = rest.get(number - 3).ok_or(ParseError::Truncated {
            what: WHAT,
            needed: number,
            got: rest.len() + 2,
        })?;
        std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ParseError::malformed(WHAT, format!("field {number} is not a number")))
    };
    Ok(StatFields {
        comm,
        comm_bytes,
        ppid: u32::try_from(field(4)?).map_err(|_| ParseError::malformed(WHAT, "ppid out of range"))?,
        flags: field(9)?,
        start_ticks: field(22)?,
        session: u32::try_from(field(6)?).unwrap_or(0),
        // A signed number in the file; a negative one is no terminal.
        tty_nr: field(7).unwrap_or(0),
    })
}

/// The real uid from the `Uid:` line of /proc/PID/status.
pub fn parse_status_uid(bytes: &[u8]) -> Result<u32, ParseError> {
    const WHAT: &str = "/proc/PID/status";
    let line = bytes
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Uid:"))
        .ok_or_else(|| ParseError::malformed(WHAT, "no Uid line"))?;
    let real = line
        .split(|b| b.is_ascii_whitespace())
        .find(|field| !field.is_empty())
        .ok_or_else(|| ParseError::malformed(WHAT, "empty Uid line"))?;
    std::str::from_utf8(real)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ParseError::malformed(WHAT, "Uid is not a number"))
}

/// The `NSpid:` line of /proc/PID/status: the process's pid in each pid namespace it is in, from
/// the outermost (this /proc's) to its own. `None` on kernels before 4.1, which lack the line.
pub fn parse_status_nspid(bytes: &[u8]) -> Option<Vec<u32>> {
    let line = bytes
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"NSpid:"))?;
    let pids: Option<Vec<u32>> = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|field| !field.is_empty())
        .map(|field| std::str::from_utf8(field).ok()?.parse().ok())
        .collect();
    pids.filter(|p| !p.is_empty())
}

/// The process's pid in its own (innermost) pid namespace.
pub fn namespace_pid(pid: u32) -> Option<u32> {
    let status = read_bounded(&format!("/proc/{pid}/status"), 64 << 10)?;
    parse_status_nspid(&status)?.last().copied()
}

/// Whether an I/O error is this process's own shortage (descriptors, memory) rather than
/// anything about the file.
fn is_shortage(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::MFILE, Errno::NFILE, Errno::NOMEM]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Reads at most `max` bytes of a /proc file (a process can make some of them large).
pub fn read_bounded(path: &str, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(max)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// Splits /proc/PID/cmdline (NUL-separated, usually NUL-terminated) into arguments.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// Splits the target of /proc/PID/exe into the path and whether the file was deleted, by the
/// kernel's " (deleted)" suffix alone. A file may be *named* `x (deleted)`, so the reader
/// confirms with the file itself ([`exe_link`]); this is the fallback when it cannot.
pub fn parse_exe_link(target: &[u8]) -> (PathBuf, bool) {
    const DELETED: &[u8] = b" (deleted)";
    match target.strip_suffix(DELETED) {
        Some(path) => (PathBuf::from(OsStr::from_bytes(path)), true),
        None => (PathBuf::from(OsStr::from_bytes(target)), false),
    }
}

/// The executable of `pid` and whether it was deleted. The kernel marks a deleted file by adding
/// " (deleted)" to the link's text, which a file's own name can imitate; the file's link count,
/// read through /proc/PID/exe itself, settles it: 0 means the file is gone from every directory.
pub fn exe_link(pid: u32) -> Option<(PathBuf, bool)> {
    use std::os::unix::fs::MetadataExt;
    let link = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&link).ok()?;
    let bytes = target.as_os_str().as_bytes();
    let (stripped, suffixed) = parse_exe_link(bytes);
    if !suffixed {
        return Some((stripped, false));
    }
    match std::fs::metadata(&link) {
        Ok(meta) if meta.nlink() > 0 => Some((target, false)),
        Ok(_) => Some((stripped, true)),
        Err(_) => Some((stripped, true)),
    }
}

/// Converts a start time in ticks after boot to seconds since the Unix epoch.
pub fn start_time_unix(start_ticks: u64, boot_time_secs: u64, ticks_per_second: u64) -> u64 {
    boot_time_secs + start_ticks / ticks_per_second.max(1)
}

/// What the reader needs to know about the system, read once per run.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub boot_time_secs: Option<u64>,
    pub ticks_per_second: u64,
}

impl Clock {
    pub fn read() -> Clock {
        let boot_time_secs = std::fs::read("/proc/stat")
            .ok()
            .and_then(|bytes| parse_btime(&bytes));
        Clock {
            boot_time_secs,
            ticks_per_second: rustix::param::clock_ticks_per_second(),
        }
    }
}

/// The `btime` line of /proc/stat: boot time in seconds since the epoch.
pub fn parse_btime(bytes: &[u8]) -> Option<u64> {
    let rest = bytes
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"btime "))?;
    std::str::from_utf8(rest).ok()?.trim().parse().ok()
}

/// Reads a process's identity. `None` when the process vanished meanwhile (a normal race).
/// Fields this user may not read (exe of another user's process) are left empty.
///
/// Running out of descriptors or memory is an error, not a vanished process: the caller would
/// otherwise show its sockets without an owner.
pub fn read(pid: u32, clock: Clock) -> std::io::Result<Option<Process>> {
    let dir = format!("/proc/{pid}");
    let stat = match std::fs::read(format!("{dir}/stat")) {
        Ok(bytes) => bytes,
        Err(e) if is_shortage(&e) => return Err(e),
        Err(_) => return Ok(None),
    };
    let Ok(stat) = parse_stat(&stat) else {
        return Ok(None);
    };
    let uid = std::fs::read(format!("{dir}/status"))
        .ok()
        .and_then(|b| parse_status_uid(&b).ok())
        .unwrap_or(u32::MAX);
    let (exe, exe_deleted) = match exe_link(pid) {
        Some((path, deleted)) => (Some(path), deleted),
        None => (None, false),
    };
    // A command line is as long as its owner makes it; what is shown never needs more.
    let cmdline = read_bounded(&format!("{dir}/cmdline"), 256 << 10)
        .map(|b| parse_cmdline(&b))
        .unwrap_or_default();
    let supervisor: Option<Supervisor> = std::fs::read(format!("{dir}/cgroup"))
        .ok()
        .and_then(|b| cgroup::supervisor(&b));
    Ok(Some(Process {
        pid,
        ppid: stat.ppid,
        name: stat.comm,
        name_bytes: stat.comm_bytes,
        exe,
        exe_deleted,
        cmdline,
        uid,
        user: None,
        start_time: clock
            .boot_time_secs
            .map(|boot| start_time_unix(stat.start_ticks, boot, clock.ticks_per_second)),
        supervisor,
    }))
}

/// The short name (`comm`) of `pid`, for display only; `None` when it is gone.
pub fn read_comm(pid: u32) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(32);
    std::fs::File::open(format!("/proc/{pid}/comm"))
        .ok()?
        .take(64)
        .read_to_end(&mut bytes)
        .ok()?;
    let name = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    Some(String::from_utf8_lossy(name).into_owned())
}
