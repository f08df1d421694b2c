//! The owners iterator in the kernel: loaded once, its link pinned in bpffs, read by every run.
//!
//! Loading costs what a `list` cannot afford on every run: aya parses the kernel's BTF (several
//! MB) to relocate the program and find its attach point, and the verifier checks it. So the
//! first privileged run loads the program, attaches it as an iterator and pins the link at
//! `/sys/fs/bpf/portscope/owners-HASH` (HASH of the object, so another build never reads a pin of
//! an older program); later runs open the pin, create one iterator from it and read. A pin is
//! used only when its directory is root's alone (0700, on bpffs) and the object is what this
//! program pinned: a BPF link (not a map or a program), of type iterator over `task_file`, whose
//! program is a tracing program named `ps_owners` loaded by root. Anything else is left in place
//! and not read. A new pin replaces those of other builds (`owners-` with another hash). Removing
//! the directory (`rm -r /sys/fs/bpf/portscope`) unloads the program.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, fstat, fstatfs, mkdirat, openat, statat};
use rustix::io::Errno;

use crate::bpf_syscall::bpf;

/// The compiled program (tools/build-bpf.sh rebuilds it from bpf/owners.bpf.c).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../bpf/obj/owners.o");

/// The program's function name in owners.bpf.c, which the kernel keeps as its name.
const PROGRAM: &str = "ps_owners";
/// Where pins live unless a test says otherwise.
pub const PIN_DIR: &str = "/sys/fs/bpf/portscope";
/// The iterator output is read up to this size: 24 bytes a descriptor, 5 million descriptors.
const MAX_OUTPUT: usize = 120 << 20;

const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_GET_NEXT_ID: libc::c_long = 31;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_LINK_TYPE_ITER: u32 = 4;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_FS_MAGIC: u64 = 0xcafe_4a11;

/// Why the iterator was not read; the caller walks /proc instead and says this once.
#[derive(Debug)]
pub enum Unavailable {
    /// No bpffs at the pin directory's parent.
    NoBpffs(String),
    /// Something at the pin path that this program did not put there.
    Foreign(String),
    /// Loading, attaching or pinning failed (no BTF, a verifier refusal, ...).
    Load(String),
    /// The iterator could not be read.
    Read(String),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NoBpffs(why) => write!(f, "no bpffs to pin the iterator in ({why})"),
            Unavailable::Foreign(why) => write!(f, "{why}; it is not used"),
            Unavailable::Load(why) => write!(f, "the iterator could not be loaded ({why})"),
            Unavailable::Read(why) => write!(f, "the iterator could not be read ({why})"),
        }
    }
}

/// The pin's file name: the object's FNV-1a hash, so a pin always holds this very program.
pub fn pin_name() -> String {
    let hash = OBJECT.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("owners-{hash:016x}")
}

/// Reads the iterator through the pin in `dir`, loading and pinning the program first when no
/// pin is there yet.
pub fn read_pinned(dir: &Path) -> Result<Vec<u8>, Unavailable> {
    let path = dir.join(pin_name());
    let dir_fd = pin_dir(dir, true)?;
    let name = pin_name();
    match statat(&dir_fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => {}
        Err(Errno::NOENT) => load_and_pin(&dir_fd, &name, &path)?,
        Err(e) => return Err(Unavailable::Read(format!("{}: {e}", path.display()))),
    }
    let (link, _) = open_pin(&dir_fd, &name, &path)?;
    read_link(&link)
}

/// Loads the program and reads one iterator from it, pinning nothing: what every run would pay
/// without the pin (kept for bench/list.sh's comparison).
pub fn read_loaded() -> Result<Vec<u8>, Unavailable> {
    let (_ebpf, link) = load()?;
    let file = link.into_file().map_err(|e| Unavailable::Load(e.to_string()))?;
    read_all(OwnedFd::from(file))
}

/// The pin directory, opened without following links; created (0700) on first use. Refused
/// unless it is on bpffs, owned by root and closed to everyone else.
fn pin_dir(dir: &Path, create: bool) -> Result<OwnedFd, Unavailable> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let parent_fd = openat(
        CWD,
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Unavailable::NoBpffs(format!("{}: {e}", parent.display())))?;
    let on_bpffs = |fd: &OwnedFd| fstatfs(fd).is_ok_and(|s| s.f_type as u64 == BPF_FS_MAGIC);
    if !on_bpffs(&parent_fd) {
        return Err(Unavailable::NoBpffs(format!(
            "{} is not a bpf filesystem",
            parent.display()
        )));
    }
    let leaf = dir.file_name().unwrap_or_default();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match openat(&parent_fd, leaf, flags, Mode::empty()) {
        Err(Errno::NOENT) if create => {
            match mkdirat(&parent_fd, leaf, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(Unavailable::NoBpffs(format!("mkdir {}: {e}", dir.display()))),
            }
            openat(&parent_fd, leaf, flags, Mode::empty())
        }
        other => other,
    }
    .map_err(|e| Unavailable::Foreign(format!("{} cannot be opened as a directory ({e})", dir.display())))?;
    let stat = fstat(&fd).map_err(|e| Unavailable::Read(format!("{}: {e}", dir.display())))?;
    if stat.st_uid != 0 || stat.st_mode & 0o077 != 0 || !on_bpffs(&fd) {
        return Err(Unavailable::Foreign(format!(
            "{} is not a bpffs directory that only root may write (owner {}, mode {:o})",
            dir.display(),
            stat.st_uid,
            stat.st_mode & 0o7777
        )));
    }
    Ok(fd)
}

/// Opens the pin and checks it is a link of this program's kind before anything reads it.
fn open_pin(dir_fd: &OwnedFd, name: &str, path: &Path) -> Result<(OwnedFd, u32), Unavailable> {
    let foreign = |why: &str| Unavailable::Foreign(format!("{} {why}", path.display()));
    let stat = statat(dir_fd, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Unavailable::Read(format!("{}: {e}", path.display())))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile
        || stat.st_uid != 0
        || stat.st_mode & 0o077 != 0
    {
        return Err(foreign("is not a pin that only root may use"));
    }
    let link = obj_get(path).map_err(|e| foreign(&format!("cannot be opened as a BPF object ({e})")))?;
    let kind = std::fs::read_link(format!("/proc/self/fd/{}", link.as_raw_fd()))
        .map_err(|e| Unavailable::Read(format!("{}: {e}", path.display())))?;
    if kind.as_os_str().as_encoded_bytes() != b"anon_inode:bpf-link" {
        return Err(foreign(&format!("is not a BPF link ({})", kind.display())));
    }
    let prog_id = check_link(&link).map_err(|why| match why {
        Check::Io(e) => Unavailable::Read(format!("{}: {e}", path.display())),
        Check::Foreign(why) => foreign(&why),
    })?;
    Ok((link, prog_id))
}

/// Why a link is not portscope's owners iterator.
enum Check {
    Io(io::Error),
    Foreign(String),
}

/// Checks that `link` is an iterator link over `task_file` whose program is a tracing program
/// named `ps_owners` loaded by root; its program's id.
fn check_link(link: &OwnedFd) -> Result<u32, Check> {
    let mut target = [0u8; 32];
    let mut info = [0u64; 12];
    // bpf_link_info: type, id, prog_id; for an iterator, target_name (pointer, length) at 16.
    info[2] = target.as_mut_ptr() as u64;
    info[3] = target.len() as u64;
    obj_info(link, &mut info).map_err(Check::Io)?;
    let (link_type, prog_id) = (info[0] as u32, info[1] as u32);
    let target = target.split(|&b| b == 0).next().unwrap_or_default();
    if link_type != BPF_LINK_TYPE_ITER || target != b"task_file" {
        return Err(Check::Foreign("is not a task_file iterator link".into()));
    }
    let prog = prog_by_id(prog_id).map_err(Check::Io)?;
    let mut info = [0u64; 32];
    obj_info(&prog, &mut info).map_err(Check::Io)?;
    let bytes: Vec<u8> = info.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let prog_type = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    // name at byte 64, 16 bytes, NUL-padded.
    let name = bytes[64..80].split(|&b| b == 0).next().unwrap_or_default();
    let name = String::from_utf8_lossy(name);
    // created_by_uid at byte 48 of bpf_prog_info.
    let creator = u32::from_ne_bytes([bytes[48], bytes[49], bytes[50], bytes[51]]);
    if prog_type != BPF_PROG_TYPE_TRACING || name != PROGRAM || creator != 0 {
        return Err(Check::Foreign(format!(
            "holds program {prog_id} (type {prog_type}, \"{name}\", loaded by uid {creator}), not portscope's {PROGRAM}"
        )));
    }
    Ok(prog_id)
}

/// The programs of every iterator link on the machine that passes [`check_link`]: portscope's
/// owners iterators, pinned or held open, wherever the pin is (`ip netns exec` hides bpffs).
/// Such a program runs only when its iterator is read; audit leaves it out of its findings unless
/// it writes user memory.
pub fn own_programs() -> Vec<u32> {
    let mut own = Vec::new();
    let mut id = 0u32;
    for _ in 0..100_000 {
        let mut attr = [0u64; 2];
        attr[0] = u64::from(id);
        if bpf(BPF_LINK_GET_NEXT_ID, &mut attr).is_err() {
            break;
        }
        id = (attr[0] >> 32) as u32;
        let mut attr = [0u64; 2];
        attr[0] = u64::from(id);
        let Ok(fd) = bpf(BPF_LINK_GET_FD_BY_ID, &mut attr) else {
            continue;
        };
        // SAFETY: a successful BPF_LINK_GET_FD_BY_ID returns a new descriptor that nothing else owns.
        let link = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        if let Ok(prog) = check_link(&link) {
            own.push(prog);
        }
    }
    own
}

fn load() -> Result<(aya::Ebpf, aya::programs::iter::IterLink), Unavailable> {
    let fail = |e: &dyn std::fmt::Display| Unavailable::Load(e.to_string());
    let btf = aya::Btf::from_sys_fs().map_err(|e| fail(&format!("kernel BTF: {e}")))?;
    let mut ebpf = aya::EbpfLoader::new()
        .btf(Some(&btf))
        .load(OBJECT)
        .map_err(|e| fail(&e))?;
    let program: &mut aya::programs::Iter = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| fail(&"the object has no ps_owners program"))?
        .try_into()
        .map_err(|e| fail(&e))?;
    program.load("task_file", &btf).map_err(|e| fail(&e))?;
    let id = program.attach().map_err(|e| fail(&e))?;
    let link = program.take_link(id).map_err(|e| fail(&e))?;
    Ok((ebpf, link))
}

fn load_and_pin(dir_fd: &OwnedFd, name: &str, path: &Path) -> Result<(), Unavailable> {
    let (_ebpf, link) = load()?;
    let link = aya::programs::links::FdLink::try_from(link).map_err(|e| Unavailable::Load(e.to_string()))?;
    match link.pin(path) {
        Ok(_) => {
            forget_older(dir_fd, name);
            Ok(())
        }
        // Another run pinned it at the same moment: read theirs, checked as any other.
        Err(_) if statat(dir_fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() => Ok(()),
        Err(e) => Err(Unavailable::Load(format!("pinning at {}: {e}", path.display()))),
    }
}

/// Unpins the iterators that other builds of portscope left in the (root-only) pin directory, which
/// unloads their programs once no run holds them open.
fn forget_older(dir_fd: &OwnedFd, name: &str) {
    let Ok(dir) = rustix::fs::Dir::read_from(dir_fd) else {
        return;
    };
    for entry in dir.flatten() {
        let file = entry.file_name().to_bytes();
        if file.starts_with(b"owners-") && file != name.as_bytes() {
            let _ = rustix::fs::unlinkat(dir_fd, entry.file_name(), AtFlags::empty());
        }
    }
}

/// Creates one iterator from `link` and reads it to the end.
fn read_link(link: &OwnedFd) -> Result<Vec<u8>, Unavailable> {
    let mut attr = [0u64; 1];
    attr[0] = u64::from(link.as_raw_fd() as u32);
    let fd =
        bpf(BPF_ITER_CREATE, &mut attr).map_err(|e| Unavailable::Read(format!("BPF_ITER_CREATE: {e}")))?;
    // SAFETY: a successful BPF_ITER_CREATE returns a new descriptor that nothing else owns.
    read_all(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn read_all(iter: OwnedFd) -> Result<Vec<u8>, Unavailable> {
    let mut out = Vec::with_capacity(256 << 10);
    let mut chunk = vec![0u8; 256 << 10];
    let mut retries = 0;
    loop {
        match rustix::io::read(&iter, &mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) if out.len() + n <= MAX_OUTPUT => out.extend_from_slice(&chunk[..n]),
            Ok(_) => return Err(Unavailable::Read(format!("more than {MAX_OUTPUT} bytes"))),
            Err(Errno::INTR | Errno::AGAIN) if retries < 100 => retries += 1,
            Err(e) => return Err(Unavailable::Read(e.to_string())),
        }
    }
}

fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    let mut attr = [0u64; 3];
    attr[0] = path.as_ptr() as u64;
    let fd = bpf(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: a successful BPF_OBJ_GET returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn prog_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = [0u64; 2];
    attr[0] = u64::from(id);
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: a successful BPF_PROG_GET_FD_BY_ID returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn obj_info(fd: &OwnedFd, info: &mut [u64]) -> io::Result<()> {
    let mut attr = [0u64; 2];
    attr[0] = u64::from(fd.as_raw_fd() as u32) | ((std::mem::size_of_val(info) as u64) << 32);
    attr[1] = info.as_mut_ptr() as u64;
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).map(|_| ())
}

/// The pin directory a run uses.
pub fn pin_dir_path() -> PathBuf {
    PathBuf::from(PIN_DIR)
}
