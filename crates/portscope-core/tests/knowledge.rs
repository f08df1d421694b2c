//! The embedded tables against the committed data files, and the facts file against IANA's CSV
//! when a copy of it is at hand.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use portscope_core::knowledge::{self, Transport, facts, registry};
use portscope_core::model::Protocol;

const REGISTRY: &str = include_str!("../data/iana-services.tsv");
const ABUSE: &str = include_str!("../data/abuse.tsv");

fn transport(name: &str) -> Transport {
    Transport::parse(name).unwrap_or_else(|| panic!("unknown protocol {name}"))
}

#[test]
fn every_facts_row_round_trips_through_the_embedded_table() {
    let rows = facts::parse_registry(REGISTRY).expect("facts file parses");
    assert!(rows.len() > 10_000, "only {} rows", rows.len());
    assert_eq!(rows.len(), registry::len());
    for fact in &rows {
        let t = transport(fact.protocol);
        let found = |s: &registry::Service| {
            s.name == fact.name
                && s.description == fact.description
                && (s.start, s.end, s.transport) == (fact.start, fact.end, t)
        };
        for port in [fact.start, fact.end] {
            assert!(
                registry::by_port(port, Some(t)).iter().any(found),
                "{fact:?} not found by port {port}"
            );
        }
        assert!(
            registry::by_name(fact.name).iter().any(found),
            "{fact:?} not found by name"
        );
    }
    // The embedded order is the file's order, so the first row for a port is the name `list` shows.
    let embedded: Vec<_> = registry::all()
        .map(|s| (s.start, s.end, s.transport, s.name))
        .collect();
    let mut from_file: Vec<_> = rows
        .iter()
        .map(|f| (f.start, f.end, transport(f.protocol), f.name))
        .collect();
    from_file.sort_by_key(|r| (r.0, r.2));
    assert_eq!(embedded, from_file);
}

#[test]
fn service_name_uses_the_full_registry() {
    let names = knowledge::ServiceNames::iana();
    assert_eq!(names.name(5432, Protocol::Tcp), Some("postgresql"));
    assert_eq!(names.name(31337, Protocol::Udp), Some("eldim"));
    assert_eq!(names.name(6010, Protocol::Tcp), Some("x11"));
    assert_eq!(names.name_for(9, Transport::Dccp), Some("discard"));
    assert_eq!(names.name(4, Protocol::Tcp), None);
}

#[test]
fn every_abuse_row_round_trips_and_is_sourced() {
    let rows = facts::parse_abuse(ABUSE).expect("abuse file parses");
    assert_eq!(rows.len(), knowledge::abuse::all().len());
    for row in &rows {
        let protocols = match row.protocol {
            "tcp" => vec![Protocol::Tcp],
            "udp" => vec![Protocol::Udp],
            _ => vec![Protocol::Tcp, Protocol::Udp],
        };
        for p in protocols {
            let found = knowledge::abuse(row.port, p);
            assert!(
                found
                    .iter()
                    .any(|a| a.family == row.family && a.source == row.source && a.years == row.years),
                "{row:?} missing for {p}"
            );
        }
        assert!(
            row.source.starts_with("https://"),
            "{row:?}: source must be an https URL"
        );
    }
}

#[test]
fn abuse_table_has_the_well_known_cases() {
    for (port, protocol, family) in [
        (31337, Protocol::Udp, "Back Orifice"),
        (12345, Protocol::Tcp, "NetBus"),
        (12346, Protocol::Tcp, "NetBus"),
        (27374, Protocol::Tcp, "SubSeven"),
        (4444, Protocol::Tcp, "Metasploit"),
        (6667, Protocol::Tcp, "IRC botnets"),
        (3333, Protocol::Tcp, "Stratum mining pools"),
        (14444, Protocol::Tcp, "Monero mining pools"),
        (9050, Protocol::Tcp, "Tor client (SocksPort)"),
        (9001, Protocol::Tcp, "Tor relay (ORPort)"),
    ] {
        assert!(
            knowledge::abuse(port, protocol)
                .iter()
                .any(|a| a.family == family),
            "{port}/{protocol}: no {family} row"
        );
    }
    assert!(knowledge::abuse(80, Protocol::Tcp).is_empty());
}

/// The table grew from cited pages (MITRE ATT&CK procedure examples among them) and must not
/// shrink silently; every row carries its years.
#[test]
fn abuse_table_keeps_its_sourced_rows() {
    let rows = facts::parse_abuse(ABUSE).expect("abuse file parses");
    assert!(rows.len() >= 100, "{} rows", rows.len());
    assert!(
        rows.iter()
            .all(|r| r.years.starts_with(|c: char| c.is_ascii_digit()))
    );
    for (port, protocol, family) in [
        (4782, Protocol::Tcp, "QuasarRAT"),
        (1177, Protocol::Tcp, "njRAT"),
        (50050, Protocol::Tcp, "Cobalt Strike"),
        (6000, Protocol::Udp, "NETEAGLE"),
    ] {
        assert!(
            knowledge::abuse(port, protocol)
                .iter()
                .any(|a| a.family == family),
            "{port}/{protocol}: no {family} row"
        );
    }
}

/// The CSV the facts file was generated from: `$PORTSCOPE_IANA_CSV` (after a refresh from a newer
/// download), else IANA's CSV beside the repository (`../shared/data`) or where this workplace keeps it.
fn iana_csv() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PORTSCOPE_IANA_CSV") {
        return Some(PathBuf::from(path));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../../../shared/data/service-names-port-numbers.csv"),
        PathBuf::from("/work/shared/data/service-names-port-numbers.csv"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[test]
fn facts_file_matches_the_iana_csv() {
    let Some(path) = iana_csv() else {
        eprintln!(
            "skipping facts_file_matches_the_iana_csv: ../shared/data/service-names-port-numbers.csv \
             is not present (the committed facts file is still checked by the round-trip test)"
        );
        return;
    };
    let text = std::fs::read_to_string(&path).expect("read the IANA CSV");
    let records = parse_csv(&text);
    assert_eq!(
        records.first().map(|r| &r[..4]),
        Some(&["Service Name", "Port Number", "Transport Protocol", "Description"].map(String::from)[..])
    );

    // The generator's rules: rows with a name, a port and a known protocol; whitespace collapsed;
    // at most 255 bytes; first occurrence of each row kept.
    let mut expected = BTreeSet::new();
    let mut first_name: HashMap<(u16, String), String> = HashMap::new();
    for record in &records[1..] {
        let (name, port, proto, desc) = (record[0].trim(), record[1].trim(), record[2].trim(), &record[3]);
        let proto = proto.to_ascii_lowercase();
        if name.is_empty() || port.is_empty() || !facts::PROTOCOLS.contains(&proto.as_str()) {
            continue;
        }
        let (start, end) = facts::parse_port_range(port).expect("CSV port");
        let name = clean(name);
        first_name
            .entry((start, proto.clone()))
            .or_insert_with(|| name.clone());
        expected.insert((start, end, proto, name, clean(desc)));
    }
    let facts = facts::parse_registry(REGISTRY).expect("facts file parses");
    let actual: BTreeSet<_> = facts
        .iter()
        .map(|f| {
            (
                f.start,
                f.end,
                f.protocol.to_string(),
                f.name.to_string(),
                f.description.to_string(),
            )
        })
        .collect();
    let missing: Vec<_> = expected.difference(&actual).take(5).collect();
    let extra: Vec<_> = actual.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "facts file differs from {}: missing {missing:?}, extra {extra:?}; rerun tools/gen-registry.py",
        path.display()
    );
    for ((port, proto), name) in first_name {
        let t = transport(&proto);
        let first = registry::by_port(port, Some(t))
            .into_iter()
            .find(|s| s.start == port)
            .map(|s| s.name.to_string());
        assert_eq!(first.as_ref(), Some(&name), "{port}/{proto}: primary name");
    }
}

fn clean(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.len() <= facts::MAX_TEXT {
        return text;
    }
    let mut cut = facts::MAX_TEXT - 3;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", text[..cut].trim_end())
}

/// RFC 4180: fields separated by commas, optionally quoted; quotes doubled inside quoted fields,
/// which may span lines.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}
