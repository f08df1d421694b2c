//! The engines and which of them a scan runs (`-sS`, `-sT`, `-sU`), fed with which probes, and
//! how their outcomes reach the caller.
//!
//! The SYN scan is the default when this process may open raw sockets, as in nmap; otherwise the
//! connect scan. `-sU` adds (or, alone, is) the UDP scan. The SYN and UDP engines run with the
//! stop signals blocked and polled (through [`Stop`], which the caller supplies), so Ctrl-C ends
//! them in order (the SYN scan's firewall rule is removed); the caller then exits with 128 + the
//! signal's number.
//!
//! - `control`: the probe loop over a small `Network` trait (send probes, collect answers, tell
//!   the time); the SYN engine runs it over raw sockets, the connect engine over epoll.
//! - `timing`: the RTT estimate, the congestion window and the retry rule (pure, used by the
//!   control loop); `feed`: probes shared between threads, and send pacing.
//! - `linux`: the engines' system calls, the crate's only `unsafe` code; `windows`: the connect
//!   engine over Winsock (the SYN and UDP engines are Linux only).
//! - `sim` (tests only): simulated networks (virtual clock, seeded randomness) and the scenarios
//!   under `tests/resources/simulation/`, played without root over the same control loop.

mod control;
mod feed;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod linux;
#[cfg(test)]
mod sim;
mod stop;
mod timing;
#[cfg(windows)]
#[allow(unsafe_code)]
mod windows;

use std::net::SocketAddr;

use portscope_core::error::{Error, Result};

use crate::plan::{Plan, Protocols};
use crate::report::{EngineConfig, Outcome, ScanInfo, ScanProto, ScanStats};
use crate::shard::{Permutation, Shard};
use crate::stream::Done;

pub use stop::Stop;

#[cfg(target_os = "linux")]
use linux::{connect, syn, udp};
#[cfg(windows)]
use windows::connect;

/// What the engines need from their caller besides the probes: stop signals (blocked only when an
/// engine that polls them runs, and before any engine thread starts, so every thread inherits the
/// mask), a place for notes to the user, and a progress count.
pub struct Hooks<'a> {
    /// Blocks the stop signals and returns how to poll them.
    pub block_stop: &'a dyn Fn() -> std::io::Result<Box<dyn Stop>>,
    /// A line the user should read (said once, on stderr).
    pub note: &'a dyn Fn(&str),
    /// `n` more probes have been settled.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// Engine threads at most: past a few, the kernel's locks, not the cores, set the pace.
const MAX_THREADS: usize = 4;

/// How many engine threads a scan runs: one per core, up to [`MAX_THREADS`].
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

/// Whether this process may open raw sockets for a SYN scan.
#[cfg(target_os = "linux")]
fn raw_sockets_allowed() -> bool {
    syn::raw_sockets_allowed()
}

/// Raw sockets for a SYN scan are used on Linux only.
#[cfg(not(target_os = "linux"))]
fn raw_sockets_allowed() -> bool {
    false
}

/// The user a resume file must belong to: the one this process acts as.
#[cfg(target_os = "linux")]
pub fn effective_uid() -> u32 {
    linux::effective_uid()
}

/// Windows files have no uid: 0, as `portscope_history::safe_path` reads every owner there.
#[cfg(windows)]
pub fn effective_uid() -> u32 {
    0
}

/// The one line a SYN or UDP scan gets where only the connect engine exists.
#[cfg(not(target_os = "linux"))]
pub fn linux_only(modes: &Modes) -> Option<Error> {
    let what = if modes.syn {
        "the SYN scan (--syn, -sS)"
    } else if modes.udp {
        "the UDP scan (--udp, -sU)"
    } else {
        return None;
    };
    Some(Error::Usage(format!(
        "{what} is Linux only (raw sockets and the ICMP error queue); use the connect scan (--connect, -sT)"
    )))
}

/// The scan types asked for on the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Modes {
    pub syn: bool,
    pub connect: bool,
    pub udp: bool,
    /// Confirm open ports with a second probe (SYN scan).
    pub confirm: bool,
}

impl Modes {
    /// The protocols the plan needs ports for.
    pub fn protocols(&self) -> Protocols {
        Protocols {
            tcp: self.syn || self.connect || !self.udp,
            udp: self.udp,
        }
    }
}

/// Where each outcome goes: the tallies, the JSON-lines stream, the resume file.
pub type Sink<'a> = dyn FnMut(SocketAddr, ScanProto, Outcome) + Send + 'a;

/// Which probes this run sends: a shard of the shared random order, minus those a resume file
/// already holds.
pub struct Selection<'a> {
    pub shard: Option<Shard>,
    pub done: &'a Done,
}

/// Every seed is the same, so that every shard of one command computes the same order.
const SHARD_SEED: u64 = 0x7053_6361_6e31_3737;

/// The probes of one protocol over `ports`, as `selection` picks them.
fn probes<'a>(
    plan: &'a Plan,
    ports: &'a [u16],
    proto: ScanProto,
    selection: &'a Selection<'a>,
) -> Box<dyn Iterator<Item = SocketAddr> + Send + 'a> {
    let keep = move |addr: &SocketAddr| !selection.done.contains(&(*addr, proto));
    match selection.shard {
        None => Box::new(
            plan.hosts()
                .flat_map(move |ip| ports.iter().map(move |&port| SocketAddr::new(ip, port)))
                .filter(keep),
        ),
        Some(shard) => {
            // Random order needs the hosts by index; the plan's size check bounds them.
            let hosts: Vec<_> = plan.hosts().collect();
            let n = ports.len() as u64;
            let total = hosts.len() as u64 * n;
            let perm = Permutation::new(total, SHARD_SEED);
            Box::new(
                perm.shard(shard)
                    .map(move |i| SocketAddr::new(hosts[(i / n) as usize], ports[(i % n) as usize]))
                    .filter(keep),
            )
        }
    }
}

/// Runs the engines the modes call for over `plan`'s hosts, feeding `sink`; returns the run's
/// statistics (summed over the engines).
#[cfg(target_os = "linux")]
pub fn run(
    plan: &Plan,
    modes: &Modes,
    cfg: &EngineConfig,
    threads: usize,
    selection: &Selection<'_>,
    sink: &mut Sink<'_>,
    hooks: &Hooks<'_>,
) -> Result<(ScanStats, Option<i32>)> {
    let progress = hooks.progress;
    let note = hooks.note;
    let tcp = modes.protocols().tcp && !plan.ports.is_empty();
    let use_syn = tcp && !modes.connect && (modes.syn || raw_sockets_allowed());
    if modes.syn && !raw_sockets_allowed() {
        return Err(Error::Permission {
            what: "a SYN scan (-sS) opens raw sockets".into(),
            hint: "run as root or with CAP_NET_RAW, or use -sT".into(),
        });
    }
    // Blocked before any engine thread starts, so every thread inherits the mask.
    let stop = if use_syn || (modes.udp && !plan.udp_ports.is_empty()) {
        Some((hooks.block_stop)().map_err(|e| Error::io("blocking stop signals", e))?)
    } else {
        None
    };
    let mut total = ScanStats::default();
    if tcp {
        let probes = probes(plan, &plan.ports, ScanProto::Tcp, selection);
        let stats = if use_syn {
            let opts = syn::SynOptions {
                confirm: modes.confirm,
                ..syn::SynOptions::default()
            };
            let run = syn::scan(
                probes,
                cfg,
                &opts,
                threads,
                stop.as_deref(),
                |addr, outcome| sink(addr, ScanProto::Tcp, outcome),
                progress,
            )?;
            for line in &run.notes {
                note(line);
            }
            if let Some(signal) = run.stopped_by {
                return Ok((run.stats, Some(signal)));
            }
            run.stats
        } else {
            connect::scan_parallel(
                probes,
                cfg,
                threads,
                |addr, outcome| sink(addr, ScanProto::Tcp, outcome),
                progress,
            )?
        };
        add(&mut total, &stats);
    }
    if modes.udp && !plan.udp_ports.is_empty() {
        let probes = probes(plan, &plan.udp_ports, ScanProto::Udp, selection);
        let run = udp::scan(
            probes,
            cfg,
            stop.as_deref(),
            |addr, outcome| sink(addr, ScanProto::Udp, outcome),
            progress,
        )?;
        if let Some(gap) = run.paced_gap {
            note(&format!(
                "the target rate-limits its ICMP errors: UDP retries were spaced {} ms apart to \
                 tell closed ports from silent ones",
                gap.as_millis()
            ));
        }
        add(&mut total, &run.stats);
        if let Some(signal) = run.stopped_by {
            return Ok((total, Some(signal)));
        }
    }
    Ok((total, None))
}

/// Runs the connect engine over `plan`'s TCP ports, feeding `sink`; the SYN and UDP engines are
/// refused in one line ([`linux_only`]).
#[cfg(windows)]
pub fn run(
    plan: &Plan,
    modes: &Modes,
    cfg: &EngineConfig,
    threads: usize,
    selection: &Selection<'_>,
    sink: &mut Sink<'_>,
    hooks: &Hooks<'_>,
) -> Result<(ScanStats, Option<i32>)> {
    if let Some(refusal) = linux_only(modes) {
        return Err(refusal);
    }
    let mut total = ScanStats::default();
    if modes.protocols().tcp && !plan.ports.is_empty() {
        let probes = probes(plan, &plan.ports, ScanProto::Tcp, selection);
        let stats = connect::scan_parallel(
            probes,
            cfg,
            threads,
            |addr, outcome| sink(addr, ScanProto::Tcp, outcome),
            hooks.progress,
        )?;
        add(&mut total, &stats);
    }
    Ok((total, None))
}

fn add(total: &mut ScanStats, stats: &ScanStats) {
    total.probes += stats.probes;
    total.retries += stats.retries;
    total.deferred += stats.deferred;
    total.peak_in_flight = total.peak_in_flight.max(stats.peak_in_flight);
    total.srtt_us = total.srtt_us.max(stats.srtt_us);
    total.rttvar_us = total.rttvar_us.max(stats.rttvar_us);
    total.timeout_us = total.timeout_us.max(stats.timeout_us);
    total.elapsed += stats.elapsed;
}

/// What each engine scans, for nmap's `scaninfo`.
pub fn scan_info(plan: &Plan, modes: &Modes) -> Vec<ScanInfo> {
    let mut info = Vec::new();
    if modes.protocols().tcp && !plan.ports.is_empty() {
        let syn = !modes.connect && (modes.syn || raw_sockets_allowed());
        info.push(ScanInfo {
            kind: if syn { "syn" } else { "connect" },
            protocol: "tcp",
            count: plan.ports.len(),
            ports: crate::ports::ranges_label(&plan.ports),
        });
    }
    if modes.udp && !plan.udp_ports.is_empty() {
        info.push(ScanInfo {
            kind: "udp",
            protocol: "udp",
            count: plan.udp_ports.len(),
            ports: crate::ports::ranges_label(&plan.udp_ports),
        });
    }
    info
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::plan::Request;

    fn plan() -> Plan {
        let targets = vec!["198.18.0.1-4".to_string()];
        let request = Request {
            targets: &targets,
            ports: Some("1-50"),
            ..Request::default()
        };
        Plan::new(&request, &|_: &[String]| Ok(Vec::new())).unwrap()
    }

    #[test]
    fn shards_cover_every_probe_once_and_skip_what_was_resumed() {
        let plan = plan();
        let none = Done::new();
        let all: Vec<SocketAddr> = probes(
            &plan,
            &plan.ports,
            ScanProto::Tcp,
            &Selection {
                shard: None,
                done: &none,
            },
        )
        .collect();
        assert_eq!(all.len(), 4 * 50);
        let mut done = Done::new();
        done.insert((all[7], ScanProto::Tcp));
        // A UDP outcome of the same address does not count for TCP.
        done.insert((all[8], ScanProto::Udp));
        let mut seen = HashSet::new();
        for text in ["1/3", "2/3", "3/3"] {
            let selection = Selection {
                shard: Some(Shard::parse(text).unwrap()),
                done: &done,
            };
            for addr in probes(&plan, &plan.ports, ScanProto::Tcp, &selection) {
                assert!(seen.insert(addr), "{addr} in two shards");
            }
        }
        let expected: HashSet<SocketAddr> = all.iter().copied().filter(|a| *a != all[7]).collect();
        assert_eq!(seen, expected);
    }
}
