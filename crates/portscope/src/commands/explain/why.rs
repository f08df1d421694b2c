//! The "Why it is open" part of `portscope explain`: for each process holding a listener on the
//! port, what started it (the one line of `list --why`, then the socket unit, SSH session, cron
//! job, container, login session and the process tree in order), and what would bring it back
//! with the commands that stop it for good. Read only for these holders.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;

use crate::model::Socket;
use crate::output::{Color, Ui};
use crate::platform::{Platform, Unsupported};
use crate::provenance::{self, Provenance, stop::Restarter};
use crate::render;

/// Holders described, one by one, before the rest are left to `list --why`.
const MAX_HOLDERS: usize = 6;

/// Why one holder of the port runs.
#[derive(Serialize)]
pub struct HolderWhy {
    pub pid: u32,
    pub program: String,
    /// The one line `list --why` prints.
    pub why: String,
    pub provenance: Arc<Provenance>,
    /// What would restart or re-create it, each with the commands that stop it for good.
    pub comes_back_from: Vec<Restarter>,
    /// The lines the human output prints (after `why`).
    #[serde(skip)]
    lines: Vec<String>,
}

/// The section's content: every holder of a listener among `sockets`, in order; `Err` when the
/// platform cannot read provenance.
pub fn gather(host: &dyn Platform, sockets: &[&Socket]) -> Result<Vec<HolderWhy>, Unsupported> {
    let listeners: Vec<&Socket> = sockets
        .iter()
        .copied()
        .filter(|s| crate::inspect::is_listener(s))
        .collect();
    let found: HashMap<u32, Arc<Provenance>> = provenance::gather(host, listeners.iter().copied())?;
    let mut out: Vec<HolderWhy> = Vec::new();
    for socket in &listeners {
        for holder in &socket.holders {
            let pid = holder.process.pid;
            if out.iter().any(|h| h.pid == pid) {
                continue;
            }
            let Some(p) = found.get(&pid) else {
                continue;
            };
            let mut lines = provenance::why::lines(p, &holder.process, Some(socket));
            let why = lines.remove(0);
            out.push(HolderWhy {
                pid,
                program: holder.process.name.clone(),
                why,
                comes_back_from: provenance::stop::restarters(p, &holder.process, Some(socket)),
                provenance: Arc::clone(p),
                lines,
            });
        }
    }
    Ok(out)
}

/// Writes the section (title included) when it has something to say.
pub fn write(out: &mut impl Write, holders: &[HolderWhy], ui: Ui) -> io::Result<()> {
    if holders.is_empty() {
        return Ok(());
    }
    writeln!(out, "{}", ui.paint(Color::Bold, "Why it is open:"))?;
    for h in holders.iter().take(MAX_HOLDERS) {
        let label = format!("PID {} {}", h.pid, render::escape(&h.program));
        // A holder with nothing more to say takes one line: a busy port stays short.
        let alone = h.lines.is_empty() && h.comes_back_from.is_empty();
        let tail = if alone {
            "; nothing portscope can see restarts it"
        } else {
            ""
        };
        writeln!(
            out,
            "  {}: {}{tail}",
            ui.paint(Color::Bold, &label),
            render::escape(&h.why)
        )?;
        for line in &h.lines {
            writeln!(out, "      {}", render::escape(line))?;
        }
        if h.comes_back_from.is_empty() && !alone {
            writeln!(
                out,
                "      comes back from: nothing portscope can see restarts it"
            )?;
        }
        for r in &h.comes_back_from {
            writeln!(out, "      comes back from: {}", render::escape(&r.what))?;
            for command in &r.commands {
                writeln!(out, "        to stop it for good: {}", render::escape(command))?;
            }
        }
    }
    if holders.len() > MAX_HOLDERS {
        writeln!(
            out,
            "  and {} more holders: portscope list --why",
            holders.len() - MAX_HOLDERS
        )?;
    }
    writeln!(out)
}
