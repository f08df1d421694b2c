//! A live socket as a filter sees it: its own fields joined with its holders, its verdict, the
//! rules of its findings and its service name, as `list --json` shows them together.

use std::borrow::Cow;

use super::eval::Row;
use super::field::{Field, Value};
use crate::audit::{CheckId, Severity};
use crate::inspect::Inspection;
use crate::knowledge::{ServiceNames, ServiceSides};
use crate::model::{Socket, Supervisor};

pub struct SocketRow<'a> {
    pub socket: &'a Socket,
    pub verdict: Option<Severity>,
    pub rules: Vec<CheckId>,
    /// The service name the front end shows for the socket (it depends on the names loaded).
    pub service: Option<&'a str>,
}

impl<'a> SocketRow<'a> {
    pub fn new(inspection: &'a Inspection, socket: &'a Socket, service: Option<&'a str>) -> Self {
        let mut rules: Vec<CheckId> = inspection.findings_for(socket).map(|f| f.check).collect();
        rules.sort();
        rules.dedup();
        SocketRow {
            socket,
            verdict: inspection.verdict(socket),
            rules,
            service,
        }
    }
}

impl super::Expression {
    /// Whether the expression keeps `socket` of `inspection`, its service named as `names` name
    /// the socket's service side (under `-n` too: numeric output changes the display, not what a
    /// filter means). The one join `list` and the exporter filter through.
    pub fn keeps(
        &self,
        inspection: &Inspection,
        socket: &Socket,
        names: &ServiceNames,
        sides: &ServiceSides,
    ) -> bool {
        let service = names.name(sides.port(socket), socket.protocol);
        self.matches(&SocketRow::new(inspection, socket, service))
    }
}

impl Row for SocketRow<'_> {
    fn values(&self, field: Field) -> Vec<Value<'_>> {
        let s = self.socket;
        let holders = s.holders.iter().map(|h| &*h.process);
        let text = |t: &'static str| vec![Value::Text(Cow::Borrowed(t))];
        match field {
            Field::Proto => text(s.protocol.as_str()),
            Field::Port => vec![
                Value::Number(s.local.port.into()),
                Value::Number(s.remote.port.into()),
            ],
            Field::LocalPort => vec![Value::Number(s.local.port.into())],
            Field::RemotePort => vec![Value::Number(s.remote.port.into())],
            Field::Addr => vec![Value::Address(s.local.address), Value::Address(s.remote.address)],
            Field::LocalAddr => vec![Value::Address(s.local.address)],
            Field::RemoteAddr => vec![Value::Address(s.remote.address)],
            Field::State => vec![Value::State(s.state)],
            Field::Pid => holders.map(|p| Value::Number(p.pid.into())).collect(),
            Field::Program => holders
                .map(|p| {
                    let file = p.exe.as_deref().and_then(|e| e.file_name());
                    Value::Text(file.map_or(Cow::Borrowed(p.name.as_str()), |f| f.to_string_lossy()))
                })
                .collect(),
            Field::Exe => holders
                .filter_map(|p| p.exe.as_deref())
                .map(|e| Value::Text(e.to_string_lossy()))
                .collect(),
            Field::User => {
                let mut values: Vec<Value<'_>> = Vec::new();
                for p in holders {
                    if let Some(user) = &p.user {
                        values.push(Value::Text(Cow::Borrowed(user)));
                    }
                    values.push(Value::Text(Cow::Owned(p.uid.to_string())));
                }
                // A socket whose holder is not visible still has its creator's uid; one no
                // process holds any more (TIME-WAIT, inode 0) has no user.
                if s.holders.is_empty() && s.inode != 0 {
                    values.push(Value::Text(Cow::Owned(s.uid.to_string())));
                }
                values
            }
            Field::Unit => holders
                .filter_map(|p| p.supervisor.as_ref())
                .flat_map(|sup| {
                    let mut names = vec![Value::Text(Cow::Owned(sup.to_string()))];
                    match sup {
                        Supervisor::Systemd { unit } | Supervisor::SystemdUser { unit } => {
                            names.push(Value::Text(Cow::Borrowed(unit)));
                        }
                        Supervisor::Container { id, .. } => {
                            names.push(Value::Text(Cow::Borrowed(id)));
                        }
                        Supervisor::WindowsService { name } => {
                            names.push(Value::Text(Cow::Borrowed(name)));
                        }
                    }
                    names
                })
                .collect(),
            Field::Netns => vec![
                Value::Text(Cow::Owned(s.netns.label())),
                Value::Text(Cow::Owned(s.netns.short_label())),
                Value::Text(Cow::Owned(s.netns.inode.to_string())),
            ],
            Field::Verdict => vec![Value::Verdict(self.verdict.map_or(0, |v| v as u8 + 1))],
            Field::Rule => self
                .rules
                .iter()
                .map(|r| Value::Text(Cow::Borrowed(r.as_str())))
                .collect(),
            Field::Service => self
                .service
                .map(|name| Value::Text(Cow::Borrowed(name)))
                .into_iter()
                .collect(),
        }
    }
}
