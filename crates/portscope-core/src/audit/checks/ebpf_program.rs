//! Loaded eBPF programs (`audit --deep`): each tracing program with its type, name, tag and the
//! processes holding it, as information; an alert for one that writes into user memory
//! (`bpf_probe_write_user`, how eBPF rootkits such as TripleCross and ebpfkit rewrite what
//! syscalls return) or that hooks what `ls`, `ps` and `ss` read (`getdents`, `tcp4_seq_show`,
//! `tcp6_seq_show`, `udp*_seq_show`, `filldir`) by name or attach point.
//!
//! Programs of other types (cgroup, socket filter, XDP, traffic control) are counted in a note:
//! systemd and container runtimes load many, and they see packets, not syscalls. portscope's own
//! event programs (held only by processes running portscope's own executable) are counted in a
//! note too, unless they look suspicious.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::Process;
use crate::platform::BpfProgram;

use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity};
use super::Out;

const TRACING: &[&str] = &[
    "kprobe",
    "tracepoint",
    "raw_tracepoint",
    "raw_tracepoint_writable",
    "perf_event",
    "tracing",
    "lsm",
    "ext",
];

const HIDING_HOOKS: &[&str] = &[
    "getdents",
    "filldir",
    "tcp4_seq_show",
    "tcp6_seq_show",
    "udp4_seq_show",
    "udp6_seq_show",
    "seq_show",
];

/// What makes `program` look like a rootkit's, if anything.
pub fn suspicious(program: &BpfProgram) -> Option<String> {
    if program.writes_user_memory == Some(true) {
        return Some("calls bpf_probe_write_user, which writes into processes' memory".into());
    }
    let hook = |text: &str| HIDING_HOOKS.iter().find(|h| text.contains(*h)).copied();
    if let Some(hit) = program.attach.as_deref().and_then(hook) {
        return Some(format!("attaches to {hit}, which lists files or sockets"));
    }
    if let Some(hit) = hook(&program.name) {
        return Some(format!("is named after {hit}, which lists files or sockets"));
    }
    None
}

pub fn check(ctx: &Context, out: &mut Out) {
    let programs = match ctx.platform.bpf_programs() {
        Err(unsupported) => return out.not_checked(CheckId::EbpfProgram, unsupported),
        Ok(Ok(programs)) => programs,
        Ok(Err(e)) => {
            out.notes.push(format!(
                "eBPF programs were not listed: {e} (listing them needs CAP_SYS_ADMIN)"
            ));
            return;
        }
    };
    let mut others: BTreeMap<&str, usize> = BTreeMap::new();
    let mut own = 0;
    for program in &programs {
        let bad = suspicious(program);
        // portscope's own event programs (a `watch` running now): held only by processes that
        // run this very executable (the same file, not the same name). Still judged if suspicious.
        if bad.is_none()
            && !program.holders.is_empty()
            && program
                .holders
                .iter()
                .all(|(pid, _)| ctx.platform.runs_own_executable(*pid))
        {
            own += 1;
            continue;
        }
        if bad.is_none() && !TRACING.contains(&program.kind.as_str()) {
            *others.entry(program.kind.as_str()).or_default() += 1;
            continue;
        }
        let holders: Vec<String> = program
            .holders
            .iter()
            .map(|(pid, name)| format!("{name} (pid {pid})"))
            .collect();
        let held = if holders.is_empty() {
            "held by no process (pinned or attached)".to_string()
        } else {
            format!("held by {}", holders.join(", "))
        };
        let attach = program
            .attach
            .as_deref()
            .map(|a| format!(", attached to {a}"))
            .unwrap_or_default();
        let described = format!(
            "eBPF {} program {:?} (id {}, tag {}){attach}, {held}",
            program.kind, program.name, program.id, program.tag
        );
        let (severity, reason) = match bad {
            Some(why) => (
                Severity::Alert,
                format!("{described}, {why}: the way eBPF rootkits hide"),
            ),
            None => (
                Severity::Info,
                format!("{described}: it can read kernel and process data"),
            ),
        };
        let process = program
            .holders
            .first()
            .map(|(pid, name)| Arc::new(Process::new(*pid, 0, name.clone())));
        out.findings.push(Finding {
            severity,
            check: CheckId::EbpfProgram,
            sockets: Vec::new(),
            process,
            reason,
            next_step: Some(format!(
                "bpftool prog show id {} && bpftool prog dump xlated id {}",
                program.id, program.id
            )),
        });
    }
    if own > 0 {
        out.notes.push(format!(
            "eBPF: {own} program(s) of portscope's own event source (held by portscope watch) are not findings"
        ));
    }
    if !others.is_empty() {
        let counts: Vec<String> = others.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        out.notes.push(format!(
            "eBPF: {} other programs loaded ({}), of types that see packets or cgroups, not syscalls",
            others.values().sum::<usize>(),
            counts.join(", ")
        ));
    }
}
