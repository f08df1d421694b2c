//! The owners iterator against the /proc/PID/fd walk, on the live machine: for the processes this
//! test starts (a plain one, one with a thread that has a descriptor table of its own, one whose
//! main thread has exited) both must name the same sockets with the same pids and descriptors,
//! and agree on which processes are headless or refuse to show their descriptors. A pin that
//! portscope did not make is never read, and without CAP_BPF the walk answers.
//!
//! The processes run in a network namespace the test creates and talk only to themselves there.
//! Pins go to directories of their own under /sys/fs/bpf, removed at the end. The planted
//! objects are made with raw bpf(2) calls, hence `unsafe` here as in the crate itself.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use portscope_linux::fd_table;
use portscope_linux::owners::{self, iter, record};

fn skip_without_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    eprintln!("skipping {test}: needs root");
    true
}

/// A network namespace of this test's own, with the processes started in it; all removed on drop.
struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("ps-owners-{tag}-{}", std::process::id());
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        assert!(
            ok(Command::new("ip").args(["netns", "add", &name])),
            "ip netns add {name}"
        );
        assert!(ok(
            Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"])
        ));
        Netns {
            name,
            children: Vec::new(),
        }
    }

    /// Starts the holder script in `mode`, waits for its "ready" line and returns its pid.
    fn start(&mut self, mode: &str) -> u32 {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "/usr/bin/python3",
                "-c",
                HOLDER,
                mode,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the ready line");
        let pid = child.id();
        self.children.push(child);
        assert!(line.starts_with("ready"), "{mode} holder said {line:?}");
        pid
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// The socket holders: `plain` holds a listener and both ends of a connection; `private` also
/// has a thread that unshares its descriptor table and opens a socket there (which
/// /proc/PID/fd never shows); `headless` holds its sockets in a thread after the main thread
/// has exited (pthread_exit), so /proc/PID/fd is empty and /proc/PID/task/TID/fd answers.
const HOLDER: &str = r#"
import ctypes, os, socket, sys, threading, time
mode = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
held = []
def pair():
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
    c = socket.create_connection(l.getsockname()); a, _ = l.accept()
    held.extend([l, c, a])
if mode in ("plain", "private"):
    pair()
if mode == "plain":
    print("ready", flush=True); time.sleep(600)
if mode == "private":
    opened = threading.Event()
    def own_table():
        assert libc.unshare(0x400) == 0  # CLONE_FILES
        held.append(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
        opened.set(); time.sleep(600)
    threading.Thread(target=own_table, daemon=True).start()
    opened.wait(10)
    print("ready", flush=True); time.sleep(600)
if mode == "headless":
    main = os.getpid()
    def holder():
        pair()
        for _ in range(500):
            state = open("/proc/self/task/%d/stat" % main).read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                break
            time.sleep(0.01)
        print("ready", flush=True); time.sleep(600)
    threading.Thread(target=holder).start()
    libc.pthread_exit(None)
"#;

/// A pin directory under /sys/fs/bpf of this test's own, removed (with what is pinned in it,
/// which unloads the program) on drop.
struct PinDir(PathBuf);

impl PinDir {
    fn new(tag: &str) -> PinDir {
        PinDir(PathBuf::from(format!(
            "/sys/fs/bpf/portscope-test-{tag}-{}",
            std::process::id()
        )))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bpffs_or_skip(test: &str) -> bool {
    let ok = rustix::fs::statfs("/sys/fs/bpf").is_ok_and(|s| s.f_type as u64 == 0xcafe_4a11);
    if !ok {
        eprintln!("skipping {test}: no bpffs at /sys/fs/bpf");
    }
    ok
}

type Found = (Vec<(u64, u32, u32)>, Vec<u32>, Vec<u32>);

/// Sockets, headless and unreadable processes among `ours` (plus PID 1, which refuses its
/// descriptors even to root on some machines), sorted.
fn restrict(walk: &fd_table::Walk, ours: &[u32]) -> Found {
    let mut sockets: Vec<_> = walk
        .sockets
        .iter()
        .copied()
        .filter(|s| ours.contains(&s.1))
        .collect();
    sockets.sort_unstable();
    let mut headless: Vec<_> = walk
        .headless
        .iter()
        .copied()
        .filter(|p| ours.contains(p))
        .collect();
    headless.sort_unstable();
    let mut unreadable: Vec<_> = walk
        .unreadable_pids
        .iter()
        .copied()
        .filter(|p| *p == 1 || ours.contains(p))
        .collect();
    unreadable.sort_unstable();
    (sockets, headless, unreadable)
}

#[test]
fn the_iterator_finds_what_the_walk_finds() {
    if skip_without_root("the_iterator_finds_what_the_walk_finds")
        || !bpffs_or_skip("the_iterator_finds_what_the_walk_finds")
    {
        return;
    }
    let mut ns = Netns::new("same");
    let plain = ns.start("plain");
    let private = ns.start("private");
    let headless = ns.start("headless");
    let ours = [plain, private, headless];
    let pins = PinDir::new("same");

    let proc_fd = fd_table::open_proc().expect("open /proc");
    let pids = fd_table::list_pids(&proc_fd).expect("list /proc");
    let walk = fd_table::walk_pids(&proc_fd, &pids).expect("walk /proc");
    // What an older build left: replaced by the first pin.
    std::fs::create_dir(&pins.0).expect("mkdir");
    std::fs::set_permissions(&pins.0, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let older = pins.0.join("owners-0000000000000000");
    pin(&small_map(), &older);
    // Twice: the first read loads and pins, the second opens the pin.
    for round in ["load and pin", "pinned"] {
        let bytes = iter::read_pinned(&pins.0).unwrap_or_else(|e| panic!("{round}: {e}"));
        let records = record::parse(&bytes).expect("whole records");
        let (mut replayed, unvisited) = record::replay(&records, &pids, |probe| {
            let path = if probe.tid == probe.tgid {
                format!("/proc/{}/fd/{}", probe.tgid, probe.fd)
            } else {
                format!("/proc/{}/task/{}/fd/{}", probe.tgid, probe.tid, probe.fd)
            };
            rustix::fs::readlink(path.as_str(), Vec::new()).map(|_| ())
        });
        // What the iterator passed over is walked, as `owners::find` does.
        let rest = fd_table::walk_pids(&proc_fd, &unvisited).expect("walk the rest");
        replayed.unreadable_pids.extend(rest.unreadable_pids);
        replayed.sockets.extend(rest.sockets);
        for pid in ours {
            assert!(!unvisited.contains(&pid), "the iterator visited {pid}");
        }
        let (want, got) = (restrict(&walk, &ours), restrict(&replayed, &ours));
        assert_eq!(got, want, "{round}: iterator (left) vs /proc walk (right)");
        // Each holder holds its pair; the headless one is known as such; the private table's
        // socket is in neither.
        for pid in ours {
            assert!(
                want.0.iter().filter(|s| s.1 == pid).count() >= 3,
                "{pid} holds its sockets: {want:?}"
            );
        }
        assert_eq!(want.1, vec![headless]);
        assert!(!older.exists(), "{round}: the older build's pin is gone");
    }
    // The pinned program is known for portscope's own: audit leaves it out of its findings.
    let own = iter::own_programs();
    assert!(
        !own.is_empty(),
        "the pinned iterator is known for portscope's own"
    );
    let programs = portscope_linux::bpf_progs::programs().expect("list eBPF programs");
    assert!(programs.iter().all(|p| !own.contains(&p.id)), "{programs:?}");
    // The snapshot's own way agrees too (the default pin directory, or the walk if refused). A
    // default pin this test made is removed again: the machine is left as it was.
    let default_pin = Path::new(iter::PIN_DIR).join(iter::pin_name());
    let had_pin = default_pin.exists();
    let found = owners::find(&proc_fd, &pids);
    if !had_pin {
        let _ = std::fs::remove_file(&default_pin);
        let _ = std::fs::remove_dir(iter::PIN_DIR);
    }
    let found_walk = found.walk.expect("owners");
    assert_eq!(
        restrict(&found_walk, &ours).0,
        restrict(&walk, &ours).0,
        "{:?} {:?}",
        found.way,
        found.note
    );
}

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_LINK_CREATE: libc::c_long = 28;

fn bpf(cmd: libc::c_long, attr: &mut [u64]) -> std::io::Result<OwnedFd> {
    // SAFETY: `attr` is a live buffer of the size passed, and every pointer in it points to a
    // live buffer of the length beside it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as u32,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: each command used here returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pin(fd: &OwnedFd, path: &Path) {
    let raw = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    let mut attr = [0u64; 3];
    attr[0] = raw.as_ptr() as u64;
    attr[1] = u64::from(fd.as_raw_fd() as u32);
    // SAFETY: as in `bpf`; BPF_OBJ_PIN returns 0, not a descriptor.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_PIN, attr.as_mut_ptr(), 24u32) };
    assert_eq!(
        ret,
        0,
        "pin at {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// An array map of one entry.
fn small_map() -> OwnedFd {
    let mut attr = [0u64; 3];
    attr[0] = 2 | (4 << 32); // BPF_MAP_TYPE_ARRAY, key 4 bytes
    attr[1] = 4 | (1 << 32); // value 4 bytes, one entry
    bpf(BPF_MAP_CREATE, &mut attr).expect("create a map")
}

/// A task_file iterator link of a program that is not portscope's: `r0 = 0; exit`, named "other".
fn other_iterator() -> OwnedFd {
    // bpftool prints it as `[ID] FUNC 'bpf_iter_task_file' type_id=...`.
    let dump = Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
        .output()
        .expect("run bpftool (Debian's bpftool package)");
    let dump = String::from_utf8_lossy(&dump.stdout);
    let target: u32 = dump
        .lines()
        .find(|l| l.contains("] FUNC 'bpf_iter_task_file' "))
        .and_then(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .expect("bpf_iter_task_file in the kernel's BTF");
    let insns: [u64; 2] = [0xb7, 0x95];
    let license = c"GPL";
    let mut attr = [0u64; 16];
    attr[0] = 26 | (2 << 32); // BPF_PROG_TYPE_TRACING, two instructions
    attr[1] = insns.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    let name = *b"other\0\0\0\0\0\0\0\0\0\0\0";
    attr[6] = u64::from_ne_bytes(name[..8].try_into().expect("8 bytes"));
    attr[7] = u64::from_ne_bytes(name[8..].try_into().expect("8 bytes"));
    attr[8] = 28 << 32; // expected_attach_type BPF_TRACE_ITER at byte 68
    attr[13] = u64::from(target) << 32; // attach_btf_id at byte 108
    let prog = bpf(BPF_PROG_LOAD, &mut attr).expect("load the other program");
    let mut attr = [0u64; 6];
    attr[0] = u64::from(prog.as_raw_fd() as u32); // prog_fd, target_fd 0
    attr[1] = 28; // attach_type BPF_TRACE_ITER, flags 0
    bpf(BPF_LINK_CREATE, &mut attr).expect("link the other program")
}

#[test]
fn a_pin_portscope_did_not_make_is_not_read() {
    if skip_without_root("a_pin_portscope_did_not_make_is_not_read")
        || !bpffs_or_skip("a_pin_portscope_did_not_make_is_not_read")
    {
        return;
    }
    let name = iter::pin_name();
    let refused = |dir: &Path| match iter::read_pinned(dir) {
        Err(iter::Unavailable::Foreign(why)) => why,
        Err(other) => panic!("{}: refused for the wrong reason: {other}", dir.display()),
        Ok(bytes) => panic!("{}: read {} bytes from a planted pin", dir.display(), bytes.len()),
    };

    // A map where the link should be.
    let private = |dir: &Path| {
        std::fs::create_dir(dir).expect("mkdir");
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    };
    let dir = PinDir::new("map");
    private(&dir.0);
    pin(&small_map(), &dir.0.join(&name));
    let why = refused(&dir.0);
    assert!(why.contains("not a BPF link"), "{why}");
    assert!(dir.0.join(&name).exists(), "the planted pin is left in place");

    // An iterator link of another program.
    let dir = PinDir::new("other");
    private(&dir.0);
    pin(&other_iterator(), &dir.0.join(&name));
    let why = refused(&dir.0);
    assert!(why.contains("\"other\""), "{why}");
    let listed = portscope_linux::bpf_progs::programs().expect("list eBPF programs");
    assert!(
        listed.iter().any(|p| p.name == "other"),
        "another program's iterator is reported"
    );

    // A directory others may write to, or that is not root's.
    let dir = PinDir::new("open");
    std::fs::create_dir(&dir.0).expect("mkdir");
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o733)).expect("chmod");
    assert!(refused(&dir.0).contains("only root may write"));
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::chown(&dir.0, Some(65534), Some(65534)).expect("chown");
    assert!(refused(&dir.0).contains("owner 65534"));
}

/// Run again by `without_cap_bpf_the_walk_answers` with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN
/// dropped; does nothing when run on its own.
#[test]
fn child_without_cap_bpf() {
    let Ok(pid) = std::env::var("PS_OWNERS_CHILD_PID") else {
        return;
    };
    let pid: u32 = pid.parse().expect("pid");
    assert_eq!(owners::way(), owners::Way::Walk);
    let proc_fd = fd_table::open_proc().expect("open /proc");
    let pids = fd_table::list_pids(&proc_fd).expect("list /proc");
    let found = owners::find(&proc_fd, &pids);
    assert_eq!((found.way, found.note), (owners::Way::Walk, None));
    let sockets = found
        .walk
        .expect("walk")
        .sockets
        .into_iter()
        .filter(|s| s.1 == pid)
        .count();
    assert!(sockets >= 3, "the walk found {sockets} sockets of {pid}");
    println!("child: walked");
}

#[test]
fn without_cap_bpf_the_walk_answers() {
    if skip_without_root("without_cap_bpf_the_walk_answers") {
        return;
    }
    let mut ns = Netns::new("nocap");
    let plain = ns.start("plain");
    let drop = "-bpf,-perfmon,-sys_admin";
    let out = Command::new("setpriv")
        .args([&format!("--inh-caps={drop}"), &format!("--bounding-set={drop}")])
        .arg(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_without_cap_bpf",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PS_OWNERS_CHILD_PID", plain.to_string())
        .output()
        .expect("run setpriv");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("child: walked"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
