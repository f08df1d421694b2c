//! Which engines a scan runs (`-sS`, `-sT`, `-sU`) and how their outcomes reach the tallies.
//!
//! The SYN scan is the default when this process may open raw sockets, as in nmap; otherwise the
//! connect scan. `-sU` adds (or, alone, is) the UDP scan. The SYN and UDP engines run with the
//! stop signals blocked and polled, so Ctrl-C ends them in order (the SYN scan's firewall rule is
//! removed); the process then exits with 128 + the signal's number.

use std::net::SocketAddr;

use portscope_core::scan::{EngineConfig, Outcome, ScanInfo, ScanProto, ScanStats};
use portscope_scan::plan::{Plan, Protocols};
use portscope_scan::shard::{Permutation, Shard};

use super::scan_stream::Done;

use crate::error::{Error, Result};
use crate::host::{StopSignals, connect_scan, syn_scan, udp_scan};
use crate::output::note;

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
pub fn run(
    plan: &Plan,
    modes: &Modes,
    cfg: &EngineConfig,
    threads: usize,
    selection: &Selection<'_>,
    sink: &mut Sink<'_>,
    progress: &indicatif::ProgressBar,
) -> Result<(ScanStats, Option<i32>)> {
    let tcp = modes.protocols().tcp && !plan.ports.is_empty();
    let use_syn = tcp && !modes.connect && (modes.syn || syn_scan::raw_sockets_allowed());
    if modes.syn && !syn_scan::raw_sockets_allowed() {
        return Err(Error::Permission {
            what: "a SYN scan (-sS) opens raw sockets".into(),
            hint: "run as root or with CAP_NET_RAW, or use -sT".into(),
        });
    }
    // Blocked before any engine thread starts, so every thread inherits the mask.
    let stop = if use_syn || (modes.udp && !plan.udp_ports.is_empty()) {
        Some(StopSignals::block().map_err(|e| Error::io("blocking stop signals", e))?)
    } else {
        None
    };
    let mut total = ScanStats::default();
    if tcp {
        let probes = probes(plan, &plan.ports, ScanProto::Tcp, selection);
        let stats = if use_syn {
            let opts = syn_scan::SynOptions {
                confirm: modes.confirm,
                ..syn_scan::SynOptions::default()
            };
            let run = syn_scan::scan(
                probes,
                cfg,
                &opts,
                threads,
                stop.as_ref(),
                |addr, outcome| sink(addr, ScanProto::Tcp, outcome),
                |n| progress.inc(n),
            )?;
            for line in &run.notes {
                note(line);
            }
            if let Some(signal) = run.stopped_by {
                return Ok((run.stats, Some(signal)));
            }
            run.stats
        } else {
            connect_scan::scan_parallel(
                probes,
                cfg,
                threads,
                |addr, outcome| sink(addr, ScanProto::Tcp, outcome),
                |n| progress.inc(n),
            )?
        };
        add(&mut total, &stats);
    }
    if modes.udp && !plan.udp_ports.is_empty() {
        let probes = probes(plan, &plan.udp_ports, ScanProto::Udp, selection);
        let run = udp_scan::scan(
            probes,
            cfg,
            stop.as_ref(),
            |addr, outcome| sink(addr, ScanProto::Udp, outcome),
            |n| progress.inc(n),
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

/// The engine has ended in order (its firewall rule is gone, the caller has flushed what it
/// streams): exit as the signal asked.
pub fn exit_stopped(signal: i32) -> ! {
    note("scan stopped by a signal; nothing was left behind");
    std::process::exit(128 + signal)
}

/// What each engine scans, for nmap's `scaninfo`.
pub fn scan_info(plan: &Plan, modes: &Modes) -> Vec<ScanInfo> {
    let mut info = Vec::new();
    if modes.protocols().tcp && !plan.ports.is_empty() {
        let syn = !modes.connect && (modes.syn || syn_scan::raw_sockets_allowed());
        info.push(ScanInfo {
            kind: if syn { "syn" } else { "connect" },
            protocol: "tcp",
            count: plan.ports.len(),
            ports: portscope_scan::ports::ranges_label(&plan.ports),
        });
    }
    if modes.udp && !plan.udp_ports.is_empty() {
        info.push(ScanInfo {
            kind: "udp",
            protocol: "udp",
            count: plan.udp_ports.len(),
            ports: portscope_scan::ports::ranges_label(&plan.udp_ports),
        });
    }
    info
}
