//! Turns the committed data files (data/iana-services.tsv, data/abuse.tsv) into static Rust tables,
//! so that lookups are binary searches over arrays compiled into the binary and nothing is parsed at
//! run time. A malformed data file fails the build with its line number.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[path = "src/knowledge/facts.rs"]
#[allow(dead_code)]
mod facts;

fn main() {
    let registry_path = Path::new("data/iana-services.tsv");
    let abuse_path = Path::new("data/abuse.tsv");
    println!("cargo:rerun-if-changed={}", registry_path.display());
    println!("cargo:rerun-if-changed={}", abuse_path.display());
    println!("cargo:rerun-if-changed=src/knowledge/facts.rs");

    let registry = read(registry_path);
    let abuse = read(abuse_path);
    let rows = facts::parse_registry(&registry).unwrap_or_else(|e| fail(registry_path, &e));
    let abuse = facts::parse_abuse(&abuse).unwrap_or_else(|e| fail(abuse_path, &e));

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    write(&out.join("registry_table.rs"), &registry_table(rows));
    write(&out.join("abuse_table.rs"), &abuse_table(&abuse));
}

/// TEXT holds every distinct name and description once; ROWS point into it by offset and length,
/// which keeps the table small and free of relocations. ROWS is sorted by (start port, protocol)
/// with the registry's own order kept within one port and protocol. BY_NAME lists row indices in
/// case-insensitive name order; RANGES the indices of the few rows that cover more than one port.
fn registry_table(mut rows: Vec<facts::Fact<'_>>) -> String {
    let protocol_rank = |p: &str| {
        facts::PROTOCOLS
            .iter()
            .position(|q| *q == p)
            .unwrap_or(usize::MAX)
    };
    rows.sort_by_key(|f| (f.start, protocol_rank(f.protocol)));
    assert!(rows.len() < usize::from(u16::MAX), "ROWS is indexed by u16");

    let mut text = String::new();
    let mut interned: HashMap<&str, u32> = HashMap::new();
    let mut intern = |s| {
        *interned.entry(s).or_insert_with(|| {
            let offset = u32::try_from(text.len()).expect("text under 4 GiB");
            text.push_str(s);
            offset
        })
    };
    let mut code = String::new();
    writeln!(code, "static ROWS: [Row; {}] = [", rows.len()).unwrap();
    for f in &rows {
        let transport = match f.protocol {
            "tcp" => "Tcp",
            "udp" => "Udp",
            "sctp" => "Sctp",
            _ => "Dccp",
        };
        let (name, description) = (intern(f.name), intern(f.description));
        writeln!(
            code,
            "    r({}, {}, Transport::{transport}, {name}, {}, {description}, {}),",
            f.start,
            f.end,
            f.name.len(),
            f.description.len()
        )
        .unwrap();
    }
    code.push_str("];\n");

    let mut by_name: Vec<usize> = (0..rows.len()).collect();
    by_name.sort_by_key(|&i| (rows[i].name.to_ascii_lowercase(), i));
    index(&mut code, "BY_NAME", by_name);
    index(
        &mut code,
        "RANGES",
        (0..rows.len())
            .filter(|&i| rows[i].start != rows[i].end)
            .collect(),
    );
    writeln!(code, "static TEXT: &str = {text:?};").unwrap();
    code
}

fn index(code: &mut String, name: &str, indices: Vec<usize>) {
    writeln!(code, "static {name}: [u16; {}] = {indices:?};", indices.len()).unwrap();
}

fn abuse_table(rows: &[facts::AbuseFact<'_>]) -> String {
    let mut code = format!("static ENTRIES: [AbuseEntry; {}] = [\n", rows.len());
    for a in rows {
        let protocol = match a.protocol {
            "tcp" => "Some(Protocol::Tcp)",
            "udp" => "Some(Protocol::Udp)",
            _ => "None",
        };
        writeln!(
            code,
            "    AbuseEntry {{ port: {}, protocol: {protocol}, family: {:?}, kind: {:?}, years: {:?}, \
             note: {:?}, source: {:?} }},",
            a.port, a.family, a.kind, a.years, a.note, a.source
        )
        .unwrap();
    }
    code.push_str("];\n");
    code
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| fail(path, &e.to_string()))
}

fn write(path: &Path, code: &str) {
    std::fs::write(path, code).unwrap_or_else(|e| fail(path, &e.to_string()));
}

fn fail(path: &Path, message: &str) -> ! {
    panic!("{}: {message}", path.display())
}
