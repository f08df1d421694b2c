//! portscope's Linux platform: [`Linux`] implements [`portscope_core::Platform`], and every other
//! module serves it. The modules, by role:
//!
//! - **One look at the sockets** — [`snapshot`](mod@snapshot) drives a look: namespaces from [`netns`], socket
//!   dumps over netlink from [`diag`] (or the /proc/net tables of [`proc_net`] when netlink is
//!   refused), the holders of each socket from one BPF iterator read or one /proc/*/fd walk
//!   ([`owners`], [`fd_table`], [`process`], [`cgroup`], [`users`]), DNAT forwards from [`nat`], and the cross-view check of what
//!   processes hold against what the dumps list ([`cross_view`]).
//! - **Wire formats, free of I/O** — [`diag`] is netlink sock_diag in layers: `diag::frame` (the
//!   framing), `diag::inet`, `diag::packet` and `diag::destroy` (the families' messages) and
//!   `diag::socket` (the one transport). `nat::parse` reads nft JSON and iptables-save output;
//!   [`proc_net`] and the parsers in [`process`], [`netns`] and [`pidfd`] take bytes too.
//! - **Why a holder runs** — [`provenance`](mod@provenance): its parent chain, socket activation,
//!   SSH session, cron job, container and login session, read for the holders a command shows.
//! - **Host facts for audit** — [`host_facts`], [`exe_file`], [`packages`], [`bpf_progs`],
//!   [`bind_probe`] (audit --deep's probe), [`capabilities`], [`lineage`], [`identity`],
//!   [`locks`], [`sysctl`], [`persistence`] (the launcher files a program would start again from).
//! - **Control actions for close** — [`pidfd`] (signals that cannot reach a reused PID),
//!   [`systemctl`] (stopping a unit), [`sock_destroy`] (cutting one TCP connection).
//! - **Services for front ends** — [`stop_signal`] (waiting for Ctrl-C), [`local_time`],
//!   [`events`] (socket events and refused connections from eBPF programs, for `watch`).
//!
//! The scan engines, with their raw sockets, live in `portscope-scan` (its `engine::linux`).
//! Apart from that module, this is the only crate of portscope that makes raw system calls, so
//! it is allowed `unsafe`, and every `unsafe` block says why it is sound.
#![cfg(target_os = "linux")]
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bind_probe;
pub mod bpf_progs;
pub mod capabilities;
pub mod cgroup;
pub mod cross_view;
pub mod diag;
pub mod events;
pub mod exe_file;
pub mod fd_table;
pub mod host_facts;
pub mod identity;
pub mod lineage;
pub mod local_time;
pub mod locks;
pub mod nat;
pub mod netns;
pub mod owners;
pub mod packages;
pub mod persistence;
pub mod pidfd;
pub mod proc_net;
pub mod process;
pub mod provenance;
pub mod snapshot;
pub mod sock_destroy;
pub mod stop_signal;
pub mod sysctl;
pub mod systemctl;
pub mod users;

mod bpf_syscall;
mod platform;

pub use platform::Linux;
pub use snapshot::{proc_net_sockets, snapshot, snapshot_in};
