//! A port as `watch` reports it and `history` keeps it: its key, namespace and owner (and the
//! previous owner of an owner change). It has no state, verdict, finding or service: a filter
//! naming those is refused for these rows ([`PortRow::FIELDS`], [`super::Expression::require`]).

use std::borrow::Cow;

use super::eval::Row;
use super::field::{Field, Value};
use crate::model::Netns;
use crate::watch::{Owner, PortKey};

pub struct PortRow<'a> {
    pub key: &'a PortKey,
    /// `None`: portscope's own namespace.
    pub netns: Option<&'a Netns>,
    /// The owner, and for an owner change the previous one: a condition holds when either
    /// satisfies it, as `--process` does.
    pub owners: [Option<&'a Owner>; 2],
}

impl PortRow<'_> {
    /// The fields these rows have.
    pub const FIELDS: &'static [Field] = &[
        Field::Proto,
        Field::Port,
        Field::LocalPort,
        Field::RemotePort,
        Field::Addr,
        Field::LocalAddr,
        Field::RemoteAddr,
        Field::Pid,
        Field::Program,
        Field::Exe,
        Field::User,
        Field::Unit,
        Field::Netns,
    ];
}

impl Row for PortRow<'_> {
    fn values(&self, field: Field) -> Vec<Value<'_>> {
        let key = self.key;
        let owners = self.owners.iter().flatten();
        let remote = key.remote;
        match field {
            Field::Proto => vec![Value::Text(Cow::Borrowed(key.protocol.as_str()))],
            Field::LocalPort => vec![Value::Number(key.port.into())],
            Field::RemotePort => vec![Value::Number(remote.map_or(0, |r| r.port).into())],
            Field::Port => {
                let mut ports = vec![Value::Number(key.port.into())];
                ports.extend(remote.map(|r| Value::Number(r.port.into())));
                ports
            }
            Field::LocalAddr => vec![Value::Address(key.address)],
            Field::RemoteAddr => remote.map(|r| Value::Address(r.address)).into_iter().collect(),
            Field::Addr => std::iter::once(Value::Address(key.address))
                .chain(remote.map(|r| Value::Address(r.address)))
                .collect(),
            Field::Pid => owners.map(|o| Value::Number(o.pid.into())).collect(),
            Field::Program => owners
                .map(|o| {
                    let file = o.exe.as_deref().and_then(|e| e.file_name());
                    Value::Text(file.map_or(Cow::Borrowed(o.program.as_str()), |f| f.to_string_lossy()))
                })
                .collect(),
            Field::Exe => owners
                .filter_map(|o| o.exe.as_deref())
                .map(|e| Value::Text(e.to_string_lossy()))
                .collect(),
            Field::User => owners
                .flat_map(|o| {
                    o.user
                        .as_deref()
                        .map(|u| Value::Text(Cow::Borrowed(u)))
                        .into_iter()
                        .chain([Value::Text(Cow::Owned(o.uid.to_string()))])
                })
                .collect(),
            Field::Unit => owners
                .filter_map(|o| o.unit.as_deref())
                .map(|u| Value::Text(Cow::Borrowed(u)))
                .collect(),
            Field::Netns => match self.netns {
                Some(netns) => vec![
                    Value::Text(Cow::Owned(netns.label())),
                    Value::Text(Cow::Owned(netns.short_label())),
                    Value::Text(Cow::Owned(netns.inode.to_string())),
                ],
                None => vec![Value::Text(Cow::Borrowed("host"))],
            },
            Field::State | Field::Verdict | Field::Rule | Field::Service => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Expression;
    use crate::model::{Endpoint, Protocol};

    fn owner(pid: u32, exe: &str, uid: u32, user: &str) -> Owner {
        Owner {
            pid,
            program: exe.rsplit('/').next().unwrap_or(exe).to_string(),
            exe: Some(exe.into()),
            uid,
            user: Some(user.to_string()),
            unit: None,
        }
    }

    #[test]
    fn owner_changes_match_either_owner_and_listeners_have_no_peer() {
        let key = PortKey {
            protocol: Protocol::Tcp,
            address: "198.18.0.1".parse().expect("address"),
            port: 8443,
            remote: None,
            netns: 0,
        };
        let (was, now) = (
            owner(10, "/usr/sbin/nginx", 33, "www-data"),
            owner(11, "/tmp/x", 65534, "nobody"),
        );
        let change = PortRow {
            key: &key,
            netns: None,
            owners: [Some(&now), Some(&was)],
        };
        let keeps = |f: &str| Expression::parse(f).expect(f).matches(&change);
        assert!(keeps("port = 8443 and user = nobody"));
        assert!(
            keeps("program = nginx"),
            "the previous owner counts, as --process does"
        );
        assert!(keeps("not user = root and netns = host and src 198.18.0.0/15"));
        assert!(!keeps("dst 198.18.0.0/15"), "a listener has no peer");
        assert!(keeps("rport = 0"));
        let connection = PortKey {
            remote: Some(Endpoint::new("198.18.0.2".parse().expect("address"), 40000)),
            ..key
        };
        let row = PortRow {
            key: &connection,
            netns: None,
            owners: [Some(&was), None],
        };
        assert!(
            Expression::parse("dport > 1024 and dst 198.18.0.2")
                .expect("parses")
                .matches(&row)
        );
        assert!(!Expression::parse("user = nobody").expect("parses").matches(&row));
    }
}
