//! Ports forwarded by destination NAT, read from the kernel's rules: nftables as `nft -j list
//! ruleset` prints them, and iptables-nft rules as `iptables-save` prints them (nft's JSON shows
//! an iptables DNAT target only as `xt DNAT`, without its destination).
//!
//! A port published this way (`docker run -p 8080:80`, podman, kube-proxy) has no listening
//! socket on the host; the rule and the listener it leads to are what the user needs to see.
//! The parsers take bytes and return rules, with no I/O: running the tools is [`super`]'s job,
//! and which listener each rule reaches is decided when the snapshot links its forwards.
//!
//! A ruleset is written by whoever owns the namespace, an unprivileged user in a user
//! namespace included, and read by root: so the JSON is read one ruleset item at a time (never
//! as one tree, which took ~25 bytes of memory per byte of input), and at most [`MAX_RULES`]
//! forwards are kept; the rest are counted, for a note.

use std::fmt;
use std::net::IpAddr;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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

/// The forwards kept from one namespace; more are counted in [`Ruleset::dropped`]. Far more
/// than a host publishes by hand or through a container engine.
pub const MAX_RULES: usize = 4096;

/// What a ruleset holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// At most [`MAX_RULES`].
    pub rules: Vec<NatRule>,
    /// Forwards found beyond [`MAX_RULES`], not kept.
    pub dropped: usize,
    /// Some rule DNATs through an iptables target that nft's JSON does not decode: read the
    /// iptables-nft tables too.
    pub has_xt_dnat: bool,
}

impl Ruleset {
    /// Keeps `rule` if there is room, else counts it.
    fn push(&mut self, rule: NatRule) {
        if self.rules.len() < MAX_RULES {
            self.rules.push(rule);
        } else {
            self.dropped += 1;
        }
    }

    /// Adds another ruleset's forwards, within the same bound.
    pub fn extend(&mut self, other: Ruleset) {
        self.dropped += other.dropped;
        self.has_xt_dnat |= other.has_xt_dnat;
        for rule in other.rules {
            self.push(rule);
        }
    }
}

/// Parses `nft -j list ruleset`: `{"nftables": [ITEM, ...]}`, one item in memory at a time.
pub fn parse_nft_json(bytes: &[u8]) -> Result<Ruleset, ParseError> {
    let mut out = Ruleset::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let found = Root(&mut out)
        .deserialize(&mut de)
        .and_then(|found| de.end().map(|()| found))
        .map_err(|e| ParseError::malformed(WHAT_NFT, e.to_string()))?;
    if !found {
        return Err(ParseError::malformed(WHAT_NFT, "no `nftables` array"));
    }
    Ok(out)
}

/// The top-level object; true when it had the `nftables` array.
struct Root<'a>(&'a mut Ruleset);

impl<'de> DeserializeSeed<'de> for Root<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with an `nftables` array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "nftables" && !found {
                map.next_value_seed(Items(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The `nftables` array: each item is read, turned into forwards and dropped.
struct Items<'a>(&'a mut Ruleset);

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of ruleset items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            item_rules(&item, self.0);
        }
        Ok(())
    }
}

/// The forwards of one ruleset item (only `rule` items have any).
fn item_rules(item: &Value, out: &mut Ruleset) {
    let Some(rule) = item.get("rule") else {
        return;
    };
    let Some(exprs) = rule.get("expr").and_then(Value::as_array) else {
        return;
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
                out.push(NatRule {
                    protocol,
                    listen: Endpoint::new(daddr.unwrap_or_else(|| unspecified(&addr)), port),
                    target: Endpoint::new(addr, to_port.unwrap_or(port)),
                    rule: place.clone(),
                });
            }
        }
    }
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
/// a protocol and a destination port, at most [`MAX_RULES`].
pub fn parse_iptables_save(bytes: &[u8], family: &str) -> Ruleset {
    let text = String::from_utf8_lossy(bytes);
    let mut table = String::new();
    let mut out = Ruleset::default();
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
        let rules = parse_iptables_save(save, "ip").rules;
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
            .rules
            .is_empty()
        );
        // Duplicate keys, a second `nftables`, trailing bytes.
        assert!(parse_nft_json(br#"{"nftables": [], "nftables": 5}"#).is_ok());
        assert!(parse_nft_json(br#"{"nftables": 5}"#).is_err());
        assert!(parse_nft_json(br#"{"nftables": []} x"#).is_err());
    }

    #[test]
    fn forwards_beyond_the_bound_are_counted_not_kept() {
        // One rule with a set of 5,000 ports is 5,000 forwards; another 100 rules after it.
        let ports: Vec<String> = (1..=5000).map(|p| p.to_string()).collect();
        let mut json = format!(
            r#"{{"nftables": [{{"rule": {{"family": "ip", "table": "nat", "chain": "pre", "expr": [
            {{"match": {{"op": "==", "left": {{"payload": {{"protocol": "tcp", "field": "dport"}}}}, "right": {{"set": [{}]}}}}}},
            {{"dnat": {{"addr": "198.18.0.2", "port": 80}}}}]}}}}"#,
            ports.join(",")
        );
        for port in 0..100 {
            json.push_str(&format!(
                r#", {{"rule": {{"expr": [{{"match": {{"left": {{"payload": {{"protocol": "udp", "field": "dport"}}}}, "right": {port}}}}}, {{"dnat": {{"addr": "198.18.0.3"}}}}]}}}}"#
            ));
        }
        json.push_str("]}");
        let ruleset = parse_nft_json(json.as_bytes()).unwrap();
        assert_eq!(ruleset.rules.len(), MAX_RULES);
        assert_eq!(ruleset.dropped, 5100 - MAX_RULES);
        let mut save = String::from("*nat\n");
        for port in 1..=5000 {
            save.push_str(&format!(
                "-A D -p tcp --dport {port} -j DNAT --to-destination 198.18.0.2:80\n"
            ));
        }
        let mut both = parse_iptables_save(save.as_bytes(), "ip");
        assert_eq!((both.rules.len(), both.dropped), (MAX_RULES, 5000 - MAX_RULES));
        both.extend(ruleset);
        assert_eq!((both.rules.len(), both.dropped), (MAX_RULES, 10100 - MAX_RULES));
    }
}
