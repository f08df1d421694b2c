//! Ports forwarded by destination NAT, read from the kernel's rules: nftables as `nft -j list
//! ruleset` prints them, and iptables-nft rules as `iptables-save` prints them (nft's JSON shows
//! an iptables DNAT target only as `xt DNAT`, without its destination).
//!
//! A port published this way (`docker run -p 8080:80`, podman, kube-proxy) has no listening
//! socket on the host; the rule and the listener it leads to are what the user needs to see.
//! The parsers take bytes and return rules, with no I/O: running the tools is [`super`]'s job,
//! and which listener each rule reaches is decided when the snapshot links its forwards.

use std::net::IpAddr;

use serde_json::Value;

use portscope_core::error::ParseError;
use portscope_core::model::{Endpoint, Protocol};

const WHAT_NFT: &str = "nft -j list ruleset";

/// One DNAT rule: traffic for `listen` goes to `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatRule {
    pub protocol: Protocol,
    /// The destination the rule matches: an address (unspecified = any) and a port.
    pub listen: Endpoint,
    pub target: Endpoint,
    /// Where the rule is: `FAMILY TABLE CHAIN`.
    pub rule: String,
}

/// What a ruleset holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub rules: Vec<NatRule>,
    /// Some rule DNATs through an iptables target that nft's JSON does not decode: read the
    /// iptables-nft tables too.
    pub has_xt_dnat: bool,
}

/// Parses `nft -j list ruleset`.
pub fn parse_nft_json(bytes: &[u8]) -> Result<Ruleset, ParseError> {
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| ParseError::malformed(WHAT_NFT, e.to_string()))?;
    let items = root
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::malformed(WHAT_NFT, "no `nftables` array"))?;
    let mut out = Ruleset::default();
    for item in items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let Some(exprs) = rule.get("expr").and_then(Value::as_array) else {
            continue;
        };
        let place = format!(
            "{} {} {}",
            rule.get("family").and_then(Value::as_str).unwrap_or("?"),
            rule.get("table").and_then(Value::as_str).unwrap_or("?"),
            rule.get("chain").and_then(Value::as_str).unwrap_or("?"),
        );
        let mut protocol = None;
        let mut dports: Vec<u16> = Vec::new();
        let mut daddr: Option<IpAddr> = None;
        for expr in exprs {
            if let Some(m) = expr.get("match") {
                let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
                if op != "==" && op != "in" {
                    continue;
                }
                let left = m.get("left");
                let right = m.get("right");
                if let Some(payload) = left.and_then(|l| l.get("payload")) {
                    let proto = payload.get("protocol").and_then(Value::as_str).unwrap_or("");
                    match payload.get("field").and_then(Value::as_str) {
                        Some("dport") => {
                            if let Some(p) = transport(proto) {
                                protocol = Some(p);
                            }
                            dports = ports(right);
                        }
                        Some("daddr") if proto == "ip" || proto == "ip6" => {
                            daddr = right.and_then(Value::as_str).and_then(|a| a.parse().ok());
                        }
                        _ => {}
                    }
                } else if let Some(meta) = left.and_then(|l| l.get("meta"))
                    && meta.get("key").and_then(Value::as_str) == Some("l4proto")
                    && let Some(p) = right.and_then(Value::as_str).and_then(transport)
                {
                    protocol = Some(p);
                }
            } else if let Some(xt) = expr.get("xt") {
                if xt.get("name").and_then(Value::as_str) == Some("DNAT") {
                    out.has_xt_dnat = true;
                }
            } else if let Some(dnat) = expr.get("dnat") {
                let Some(addr) = dnat
                    .get("addr")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse::<IpAddr>().ok())
                else {
                    continue;
                };
                let (Some(protocol), false) = (protocol, dports.is_empty()) else {
                    continue;
                };
                let to_port = dnat
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok());
                for &port in &dports {
                    out.rules.push(NatRule {
                        protocol,
                        listen: Endpoint::new(daddr.unwrap_or_else(|| unspecified(&addr)), port),
                        target: Endpoint::new(addr, to_port.unwrap_or(port)),
                        rule: place.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn transport(name: &str) -> Option<Protocol> {
    match name {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "sctp" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// A port match's right side: a number, or an anonymous set of numbers.
fn ports(right: Option<&Value>) -> Vec<u16> {
    let one = |v: &Value| v.as_u64().and_then(|p| u16::try_from(p).ok());
    match right {
        Some(Value::Object(o)) => o
            .get("set")
            .and_then(Value::as_array)
            .map(|set| set.iter().filter_map(one).collect())
            .unwrap_or_default(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn unspecified(like: &IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
        IpAddr::V6(_) => IpAddr::from([0u16; 8]),
    }
}

/// Parses `iptables-save -t nat` (or ip6tables-save): every `-j DNAT --to-destination` rule with
/// a protocol and a destination port.
pub fn parse_iptables_save(bytes: &[u8], family: &str) -> Vec<NatRule> {
    let text = String::from_utf8_lossy(bytes);
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = name.trim().to_string();
            continue;
        }
        let Some(rest) = line.strip_prefix("-A ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let Some(chain) = words.first() else {
            continue;
        };
        // A negated match (`! -d 10.0.0.1`) says where the rule does not apply: not a value.
        let value = |flag: &str| {
            (0..words.len().saturating_sub(1))
                .find(|&i| words[i] == flag && (i == 0 || words[i - 1] != "!"))
                .map(|i| words[i + 1])
        };
        if value("-j") != Some("DNAT") {
            continue;
        }
        let (Some(protocol), Some(dport), Some(to)) = (
            value("-p").and_then(transport),
            value("--dport").and_then(|p| p.parse::<u16>().ok()),
            value("--to-destination"),
        ) else {
            continue;
        };
        let Some((addr, port)) = split_destination(to) else {
            continue;
        };
        let listen_addr = value("-d")
            .and_then(|d| {
                d.strip_suffix("/32")
                    .or_else(|| d.strip_suffix("/128"))
                    .or(Some(d))
            })
            .and_then(|d| d.parse::<IpAddr>().ok())
            .unwrap_or_else(|| unspecified(&addr));
        out.push(NatRule {
            protocol,
            listen: Endpoint::new(listen_addr, dport),
            target: Endpoint::new(addr, port.unwrap_or(dport)),
            rule: format!("{family} {table} {chain}"),
        });
    }
    out
}

/// `198.18.0.2:80`, `198.18.0.2`, `[fd00::2]:80`, `198.18.0.2:80-90` (the first port).
fn split_destination(to: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(addr) = to.parse::<IpAddr>() {
        return Some((addr, None));
    }
    let (addr, port) = if let Some(rest) = to.strip_prefix('[') {
        let (addr, port) = rest.split_once("]:")?;
        (addr, port)
    } else {
        to.rsplit_once(':')?
    };
    let port = port.split('-').next()?.parse().ok()?;
    Some((addr.parse().ok()?, Some(port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(text: &str) -> Endpoint {
        let addr: std::net::SocketAddr = text.parse().unwrap();
        Endpoint::new(addr.ip(), addr.port())
    }

    #[test]
    fn native_nft_dnat() {
        let json = br#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "ip", "name": "nat", "handle": 1}},
          {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
            {"dnat": {"addr": "198.18.0.2", "port": 80}}]}},
          {"rule": {"family": "inet", "table": "nat", "chain": "pre", "handle": 4, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "198.18.0.1"}},
            {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "udp"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": {"set": [53, 5353]}}},
            {"dnat": {"family": "ip", "addr": "198.18.0.3"}}]}},
          {"rule": {"family": "ip", "table": "filter", "chain": "input", "handle": 5, "expr": [{"accept": null}]}}]}"#;
        let ruleset = parse_nft_json(json).unwrap();
        assert!(!ruleset.has_xt_dnat);
        assert_eq!(
            ruleset.rules,
            vec![
                NatRule {
                    protocol: Protocol::Tcp,
                    listen: ep("0.0.0.0:8080"),
                    target: ep("198.18.0.2:80"),
                    rule: "ip nat prerouting".into(),
                },
                NatRule {
                    protocol: Protocol::Udp,
                    listen: ep("198.18.0.1:53"),
                    target: ep("198.18.0.3:53"),
                    rule: "inet nat pre".into(),
                },
                NatRule {
                    protocol: Protocol::Udp,
                    listen: ep("198.18.0.1:5353"),
                    target: ep("198.18.0.3:5353"),
                    rule: "inet nat pre".into(),
                },
            ]
        );
    }

    #[test]
    fn iptables_nft_rules_need_iptables_save() {
        // What `nft -j` prints for Docker's rule made with iptables-nft.
        let json = br#"{"nftables": [{"rule": {"family": "ip", "table": "nat", "chain": "DOCKER", "handle": 4, "expr": [
            {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "docker0"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
            {"counter": {"packets": 0, "bytes": 0}}, {"xt": {"type": "target", "name": "DNAT"}}]}}]}"#;
        let ruleset = parse_nft_json(json).unwrap();
        assert!(ruleset.has_xt_dnat);
        assert!(ruleset.rules.is_empty());
        let save = b"# Generated by iptables-nft-save\n*nat\n:DOCKER - [0:0]\n\
            -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
            -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 198.18.0.2:80\n\
            -A DOCKER -d 198.18.0.1/32 ! -i docker0 -p udp -m udp --dport 53 -j DNAT --to-destination 198.18.0.3\n\
            -A DOCKER ! -d 198.18.0.9/32 -p tcp --dport 81 -j DNAT --to-destination [fd00::2]:8081\n\
            COMMIT\n";
        let rules = parse_iptables_save(save, "ip");
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].listen, ep("0.0.0.0:8080"));
        assert_eq!(rules[0].target, ep("198.18.0.2:80"));
        assert_eq!(rules[0].rule, "ip nat DOCKER");
        assert_eq!(rules[1].listen, ep("198.18.0.1:53"));
        assert_eq!(rules[1].target, ep("198.18.0.3:53"));
        assert_eq!(rules[2].listen, ep("[::]:81"));
        assert_eq!(rules[2].target, ep("[fd00::2]:8081"));
    }

    #[test]
    fn hostile_input_is_refused_or_ignored() {
        assert!(parse_nft_json(b"not json").is_err());
        assert!(parse_nft_json(b"{}").is_err());
        let odd =
            br#"{"nftables": [{"rule": {"expr": [{"dnat": {"addr": "x"}}, {"match": 5}]}}, {"rule": 1}]}"#;
        assert_eq!(parse_nft_json(odd).unwrap(), Ruleset::default());
        assert!(
            parse_iptables_save(
                b"-A X -p tcp --dport 99999 -j DNAT --to-destination 1.2.3.4:5\n-A",
                "ip"
            )
            .is_empty()
        );
    }
}
