//! The details pane: everything portscope knows about one socket, as lines of label and text.
//!
//! Built once when the pane opens on a row (it asks the platform for the package and the parent
//! chain), not on every refresh. Every string that came from a process or a file is escaped here.

use portscope_core::knowledge::{self, PortClass, Transport, registry};
use portscope_core::platform::Platform;
use portscope_core::render;

use crate::model::{Model, Row, RowKey};

/// How many parents the chain shows at most.
const MAX_PARENTS: usize = 8;

/// One line of the pane: a label (may be empty for a continuation) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub label: &'static str,
    pub text: String,
    /// Findings carry their severity, for colour.
    pub severity: Option<portscope_core::audit::Severity>,
}

fn item(label: &'static str, text: impl Into<String>) -> Item {
    Item {
        label,
        text: text.into(),
        severity: None,
    }
}

/// The details of the socket `key`, as the pane shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Details {
    pub key: RowKey,
    pub title: String,
    pub items: Vec<Item>,
}

impl Details {
    pub fn build(platform: &dyn Platform, model: &Model, key: RowKey) -> Option<Details> {
        let row = model.row(&key)?;
        let socket = &row.socket;
        let title = title(row);
        // What to worry about first, then who holds the socket, then what its port means.
        let mut first = Vec::new();
        let findings = model.findings(socket.inode);
        if findings.is_empty() || socket.inode == 0 {
            first.push(item("audit", "no findings"));
        } else {
            for finding in findings {
                first.push(Item {
                    label: "audit",
                    text: format!(
                        "{} {}: {}",
                        finding.severity,
                        finding.check,
                        render::escape(&finding.reason)
                    ),
                    severity: Some(finding.severity),
                });
            }
        }
        let mut port_items = Vec::new();
        let mut items = Vec::new();

        if socket.protocol.has_ports() {
            // The service side's port, as the SERVICE column names it.
            let port = row.service_port;
            let transport = Transport::of(socket.protocol);
            let registered = registry::by_port(port, transport);
            match registered.first() {
                Some(service) if service.description.is_empty() => port_items.push(item(
                    "service",
                    format!(
                        "{} ({port}/{}) in the IANA registry",
                        service.name, service.transport
                    ),
                )),
                Some(service) => port_items.push(item(
                    "service",
                    format!(
                        "{} ({port}/{}): {}",
                        service.name,
                        service.transport,
                        render::escape(service.description)
                    ),
                )),
                None => port_items.push(item(
                    "service",
                    format!("port {port}: no IANA registration for {}", socket.protocol),
                )),
            }
            if let Some(local) = &row.service
                && registered.first().is_none_or(|s| s.name != local.as_str())
            {
                port_items.push(item(
                    "",
                    format!("named {} on this machine", render::escape(local)),
                ));
            }
            let class = PortClass::of(port);
            port_items.push(item("range", format!("{}: {}", class.as_str(), class.meaning())));
            let abuse = knowledge::abuse(port, socket.protocol);
            if abuse.is_empty() {
                port_items.push(item("abuse", "no documented abuse of this port"));
            }
            for entry in abuse {
                port_items.push(item(
                    "abuse",
                    format!(
                        "{} ({}, {}): {} [source: {}]",
                        entry.family, entry.kind, entry.years, entry.note, entry.source
                    ),
                ));
            }
        }
        if socket.netns.inode != 0 {
            items.push(item(
                "netns",
                format!(
                    "{} (net:[{}])",
                    render::escape(&socket.netns.label()),
                    socket.netns.inode
                ),
            ));
        }

        match row.owner() {
            None => items.push(item(
                "holder",
                "no visible process (a kernel socket, or another user's without root)",
            )),
            Some(holder) => {
                let process = &holder.process;
                items.push(item(
                    "holder",
                    format!(
                        "PID {} {} (user {})",
                        process.pid,
                        render::escape(&process.name),
                        process
                            .user
                            .as_deref()
                            .map(render::escape)
                            .map(|u| u.into_owned())
                            .unwrap_or_else(|| process.uid.to_string())
                    ),
                ));
                if socket.holders.len() > 1 {
                    let others: Vec<String> = socket
                        .holders
                        .iter()
                        .filter(|h| h.process.pid != process.pid)
                        .map(|h| format!("{}/{}", h.process.pid, render::escape(&h.process.name)))
                        .collect();
                    items.push(item("", format!("also held by {}", others.join(", "))));
                }
                let exe = match &process.exe {
                    Some(exe) => {
                        let deleted = if process.exe_deleted { " (deleted)" } else { "" };
                        format!("{}{deleted}", render::path(exe))
                    }
                    None => "unreadable".into(),
                };
                items.push(item("exe", exe));
                if let Some(exe) = &process.exe {
                    let package = match platform.package_owners(std::slice::from_ref(exe)) {
                        Ok(Ok(owners)) => match owners.get(exe) {
                            Some(package) => render::escape(package).into_owned(),
                            None => "no package owns this file".into(),
                        },
                        Ok(Err(err)) => format!("unknown ({err})"),
                        Err(unsupported) => format!("unknown ({unsupported})"),
                    };
                    items.push(item("package", package));
                }
                if let Some(supervisor) = &process.supervisor {
                    items.push(item("unit", render::escape(&supervisor.to_string()).into_owned()));
                }
                let cmdline: Vec<String> = process
                    .cmdline
                    .iter()
                    .map(|a| render::escape(a).into_owned())
                    .collect();
                items.push(item(
                    "cmdline",
                    if cmdline.is_empty() {
                        "-".to_string()
                    } else {
                        cmdline.join(" ")
                    },
                ));
                items.push(item("parents", parents(platform, process.ppid)));
                items.extend(why(platform, process, socket));
            }
        }

        first.append(&mut items);
        first.append(&mut port_items);
        Some(Details {
            key,
            title,
            items: first,
        })
    }
}

/// What started the holder (the line of `list --why`) and what would bring it back, with the
/// commands that stop it for good.
fn why(
    platform: &dyn Platform,
    process: &portscope_core::model::Process,
    socket: &portscope_core::model::Socket,
) -> Vec<Item> {
    use portscope_core::provenance;
    let found = match provenance::of_processes(platform, &[process]) {
        Ok(found) => found,
        Err(unsupported) => return vec![item("why", format!("unknown ({unsupported})"))],
    };
    let Some(p) = found.get(&process.pid) else {
        return Vec::new();
    };
    let mut items = vec![item(
        "why",
        render::escape(&provenance::why::line(p, process, Some(socket))).into_owned(),
    )];
    for r in provenance::stop::restarters(p, process, Some(socket)) {
        items.push(item(
            "comes back",
            render::escape(&format!("{}: {}", r.what, r.commands.join(" && "))).into_owned(),
        ));
    }
    items
}

/// `tcp 0.0.0.0:8080 LISTEN` or `tcp 10.0.0.1:22 -> 10.0.0.9:51000 ESTAB`.
pub fn title(row: &Row) -> String {
    let socket = &row.socket;
    if socket.remote.is_unspecified() {
        format!("{} {} {}", socket.protocol, socket.local, socket.state)
    } else {
        format!(
            "{} {} -> {} {}",
            socket.protocol, socket.local, socket.remote, socket.state
        )
    }
}

/// `812 sshd <- 1 systemd`, bounded.
fn parents(platform: &dyn Platform, ppid: u32) -> String {
    let mut chain = Vec::new();
    let mut pid = ppid;
    while pid != 0 && chain.len() < MAX_PARENTS {
        let name = platform
            .identity(pid)
            .map(|i| render::escape(&i.name).into_owned())
            .unwrap_or_else(|| "?".into());
        chain.push(format!("{pid} {name}"));
        // A platform that cannot tell a parent ends the chain here, as an unknown one does.
        match platform.parent(pid) {
            Ok(Some(parent)) if parent != pid => pid = parent,
            _ => break,
        }
    }
    if chain.is_empty() {
        "-".into()
    } else {
        chain.join(" <- ")
    }
}
