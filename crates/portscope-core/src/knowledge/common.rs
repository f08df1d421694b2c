//! Names in common use where they differ from IANA's registration: the registry calls 8000
//! `irdmi` and 8888 `ddi-tcp-1`, but on a real machine those are development web servers and
//! notebooks. The SERVICE column shows these names (a user's services file still wins); `lookup`
//! and `explain` show them beside the registry's, which they mark as the registration.
//!
//! Hand-entered and kept small: a row belongs here only when the program behind the name is the
//! usual one on the port and the registry's name is one almost nobody runs.

use super::registry::Transport;

/// A port's name in common use, with the programs that give it that use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommonName {
    pub port: u16,
    pub transport: Transport,
    pub name: &'static str,
    /// What usually listens there.
    pub usage: &'static str,
}

const fn tcp(port: u16, name: &'static str, usage: &'static str) -> CommonName {
    CommonName {
        port,
        transport: Transport::Tcp,
        name,
        usage,
    }
}

/// Sorted by port.
const COMMON: &[CommonName] = &[
    tcp(
        3000,
        "http-alt",
        "development web servers (Node.js, Rails) and Grafana",
    ),
    tcp(
        5000,
        "http-alt",
        "development web servers (Flask) and the Docker registry",
    ),
    tcp(5555, "adb", "Android Debug Bridge over TCP"),
    tcp(5601, "kibana", "Kibana's web interface"),
    tcp(6443, "kube-apiserver", "the Kubernetes API server"),
    tcp(
        8000,
        "http-alt",
        "development web servers (Python http.server, Django runserver)",
    ),
    tcp(
        8443,
        "https-alt",
        "HTTPS on an alternative port (application servers, admin consoles)",
    ),
    tcp(8888, "http-alt", "Jupyter notebooks and other web interfaces"),
    tcp(9090, "prometheus", "the Prometheus server and other web consoles"),
    tcp(9200, "elasticsearch", "Elasticsearch's HTTP API"),
];

/// The common-use name of a port, if it has one.
pub fn common(port: u16, transport: Transport) -> Option<&'static CommonName> {
    COMMON.iter().find(|c| c.port == port && c.transport == transport)
}

/// Every common-use row whose name is `name` (ASCII case ignored), sorted by port.
pub fn by_name(name: &str) -> impl Iterator<Item = &'static CommonName> + '_ {
    COMMON.iter().filter(move |c| c.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_and_differ_from_the_registry() {
        assert!(
            COMMON
                .windows(2)
                .all(|w| (w[0].port, w[0].transport) < (w[1].port, w[1].transport))
        );
        for c in COMMON {
            assert_ne!(
                super::super::registry::primary_name(c.port, c.transport),
                Some(c.name),
                "{c:?}: the registry already says so"
            );
        }
        assert_eq!(common(8000, Transport::Tcp).map(|c| c.name), Some("http-alt"));
        assert_eq!(common(8000, Transport::Udp), None);
    }
}
