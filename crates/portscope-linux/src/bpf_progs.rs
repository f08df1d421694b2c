//! Loaded eBPF programs, listed the way `bpftool prog show` does: BPF_PROG_GET_NEXT_ID walks the
//! ids, BPF_PROG_GET_FD_BY_ID opens each, BPF_OBJ_GET_INFO_BY_FD reads its type, name and tag and,
//! where the kernel shows them, its translated instructions. The processes holding a program are
//! found through /proc/PID/fdinfo (`prog_id:`).
//!
//! Whether a program calls `bpf_probe_write_user` is read from its instructions: the verifier
//! rewrites a helper call's immediate into the helper's address minus `__bpf_call_base`, so
//! the two addresses from /proc/kallsyms name the call (what bpftool does to print helper names).
//! The kernel shows both only to root with kptr_restrict permitting; otherwise it is unknown.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use portscope_core::platform::BpfProgram;

use crate::bpf_syscall::bpf;
use crate::process::read_bounded;

const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

/// `struct bpf_prog_info` is read into this many bytes (the kernel fills what it knows and
/// requires the rest to be zero).
const INFO_SIZE: usize = 256;
/// A program's translated instructions are read up to this size (1 Mi instructions).
const MAX_XLATED: u32 = 8 << 20;

/// Names of `enum bpf_prog_type`, in order (include/uapi/linux/bpf.h).
const TYPES: &[&str] = &[
    "unspec",
    "socket_filter",
    "kprobe",
    "sched_cls",
    "sched_act",
    "tracepoint",
    "xdp",
    "perf_event",
    "cgroup_skb",
    "cgroup_sock",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "sock_ops",
    "sk_skb",
    "cgroup_device",
    "sk_msg",
    "raw_tracepoint",
    "cgroup_sock_addr",
    "lwt_seg6local",
    "lirc_mode2",
    "sk_reuseport",
    "flow_dissector",
    "cgroup_sysctl",
    "raw_tracepoint_writable",
    "cgroup_sockopt",
    "tracing",
    "struct_ops",
    "ext",
    "lsm",
    "sk_lookup",
    "syscall",
    "netfilter",
];

fn next_id(start: u32) -> io::Result<Option<u32>> {
    let mut attr = [0u64; 2];
    attr[0] = u64::from(start);
    match bpf(BPF_PROG_GET_NEXT_ID, &mut attr) {
        Ok(_) => Ok(Some((attr[0] >> 32) as u32)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn open(id: u32) -> io::Result<OwnedFd> {
    let mut attr = [0u64; 2];
    attr[0] = u64::from(id);
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: a successful BPF_PROG_GET_FD_BY_ID returns a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn info(fd: &OwnedFd, info: &mut [u64; INFO_SIZE / 8]) -> io::Result<()> {
    let mut attr = [0u64; 2];
    attr[0] = u64::from(fd.as_raw_fd() as u32) | ((INFO_SIZE as u64) << 32);
    attr[1] = info.as_mut_ptr() as u64;
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).map(|_| ())
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes
        .get(offset..offset + 4)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Type, name and tag from a filled `struct bpf_prog_info`.
pub fn parse_info(bytes: &[u8]) -> (String, String, String) {
    let kind = TYPES
        .get(u32_at(bytes, 0) as usize)
        .map_or_else(|| format!("type {}", u32_at(bytes, 0)), |t| t.to_string());
    let tag: String = bytes
        .get(8..16)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = bytes.get(64..80).unwrap_or_default();
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    (kind, String::from_utf8_lossy(name).into_owned(), tag)
}

/// The translated instructions of a program, when the kernel shows them.
fn xlated(fd: &OwnedFd, len: u32) -> Option<Vec<u64>> {
    if len == 0 || len > MAX_XLATED {
        return None;
    }
    let mut insns = vec![0u64; (len as usize).div_ceil(8)];
    let mut request = [0u64; INFO_SIZE / 8];
    // xlated_prog_len at byte 20, xlated_prog_insns at byte 32.
    request[2] = u64::from(len) << 32;
    request[4] = insns.as_mut_ptr() as u64;
    info(fd, &mut request).ok()?;
    Some(insns)
}

/// Whether instructions call the helper whose call immediate is `imm`.
pub fn calls(insns: &[u64], imm: i32) -> bool {
    insns.iter().any(|&raw| {
        let bytes = raw.to_ne_bytes();
        let code = bytes[0];
        let src_reg = bytes[1] >> 4;
        let insn_imm = i32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        // BPF_JMP | BPF_CALL with src_reg 0: a helper call.
        code == 0x85 && src_reg == 0 && insn_imm == imm
    })
}

/// The call immediate of `bpf_probe_write_user`, from the kernel's symbol table.
pub fn probe_write_user_imm(kallsyms: &[u8]) -> Option<i32> {
    let mut base = None;
    let mut helper = None;
    for line in kallsyms.split(|&b| b == b'\n') {
        let mut fields = line.split(|&b| b == b' ');
        let (Some(addr), Some(_), Some(name)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let slot = match name {
            b"__bpf_call_base" => &mut base,
            b"bpf_probe_write_user" => &mut helper,
            _ => continue,
        };
        *slot = u64::from_str_radix(std::str::from_utf8(addr).ok()?, 16).ok();
    }
    let (base, helper) = (base?, helper?);
    if base == 0 || helper == 0 {
        return None;
    }
    i32::try_from(helper as i64 - base as i64).ok()
}

/// Which processes hold which program ids, from /proc/PID/fdinfo.
fn holders() -> HashMap<u32, Vec<(u32, String)>> {
    let mut by_id: HashMap<u32, Vec<(u32, String)>> = HashMap::new();
    let Ok(pids) = crate::host_facts::listed_pids() else {
        return by_id;
    };
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for entry in fds.flatten() {
            let is_prog = std::fs::read_link(entry.path())
                .is_ok_and(|target| target.as_os_str().as_encoded_bytes() == b"anon_inode:bpf-prog");
            if !is_prog {
                continue;
            }
            let fd = entry.file_name();
            let Some(text) = read_bounded(&format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy()), 4096)
            else {
                continue;
            };
            let id = text
                .split(|&b| b == b'\n')
                .find_map(|l| l.strip_prefix(b"prog_id:"))
                .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u32>().ok());
            if let Some(id) = id {
                let name = crate::process::read_comm(pid).unwrap_or_default();
                let list = by_id.entry(id).or_default();
                if !list.iter().any(|(p, _)| *p == pid) {
                    list.push((pid, name));
                }
            }
        }
    }
    by_id
}

/// Every loaded program. An error when the kernel refuses the listing (without CAP_SYS_ADMIN).
pub fn programs() -> io::Result<Vec<BpfProgram>> {
    let mut ids = Vec::new();
    let mut id = 0;
    while let Some(next) = next_id(id)? {
        ids.push(next);
        id = next;
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // portscope's own owners iterator is not a finding, unless it writes user memory.
    let own = crate::owners::iter::own_programs();
    let write_user = read_bounded("/proc/kallsyms", 64 << 20).and_then(|k| probe_write_user_imm(&k));
    let mut held = holders();
    let mut out = Vec::new();
    for id in ids {
        // A program unloaded since it was listed is simply gone.
        let Ok(fd) = open(id) else {
            continue;
        };
        let mut buffer = [0u64; INFO_SIZE / 8];
        if info(&fd, &mut buffer).is_err() {
            continue;
        }
        let bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let (kind, name, tag) = parse_info(&bytes);
        let writes_user_memory = write_user.and_then(|imm| {
            let insns = xlated(&fd, u32_at(&bytes, 20))?;
            Some(calls(&insns, imm))
        });
        if own.contains(&id) && writes_user_memory != Some(true) {
            continue;
        }
        out.push(BpfProgram {
            id,
            kind,
            name,
            tag,
            holders: held.remove(&id).unwrap_or_default(),
            writes_user_memory,
            attach: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_symbols_parse() {
        let mut bytes = vec![0u8; INFO_SIZE];
        bytes[0] = 2;
        bytes[8..16].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
        bytes[64..69].copy_from_slice(b"hide\0");
        assert_eq!(
            parse_info(&bytes),
            ("kprobe".into(), "hide".into(), "deadbeef00010203".into())
        );
        let syms = b"ffffffff81000000 T __bpf_call_base\nffffffff81000400 T bpf_probe_write_user\n";
        assert_eq!(probe_write_user_imm(syms), Some(0x400));
        assert_eq!(
            probe_write_user_imm(b"0000000000000000 T __bpf_call_base\n"),
            None
        );
        let call = u64::from_ne_bytes([0x85, 0, 0, 0, 0, 4, 0, 0]);
        assert!(calls(&[0, call], 0x400));
        assert!(!calls(&[0], 0x400));
    }
}
