//! A scan's outcomes as they arrive: `--json-lines` (one JSON object per port on stdout, so the
//! outputs of `--shard` runs merge with `cat`) and `--resume FILE` (every settled probe appended
//! to FILE; a scan started again with the same FILE skips what it holds and reports it as
//! before).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};

use portscope_core::error::{Error, Result};
use serde::Serialize;

use crate::report::{Outcome, PortState, Reason, ScanProto};

/// One port's outcome as a line.
#[derive(Serialize)]
struct Line<'a> {
    host: IpAddr,
    port: u16,
    protocol: &'a str,
    state: &'a str,
    reason: &'a str,
}

fn line(addr: SocketAddr, proto: ScanProto, outcome: Outcome) -> String {
    serde_json::to_string(&Line {
        host: addr.ip(),
        port: addr.port(),
        protocol: proto.as_str(),
        state: outcome.state.as_str(),
        reason: outcome.reason.as_str(),
    })
    .unwrap_or_default()
}

/// Where outcomes are streamed to, besides the tallies.
pub struct Stream {
    json_lines: Option<BufWriter<std::io::Stdout>>,
    /// `--all` streams every port; otherwise only the ones a report lists (open, and UDP's
    /// open|filtered).
    all: bool,
    resume: Option<BufWriter<File>>,
}

/// What a resume file already holds.
pub type Done = HashSet<(SocketAddr, ScanProto)>;

impl Stream {
    pub fn new(json_lines: bool, all: bool) -> Stream {
        Stream {
            json_lines: json_lines.then(|| BufWriter::new(std::io::stdout())),
            all,
            resume: None,
        }
    }

    /// Takes the resume file (opened by the caller without following a link, owned by
    /// [`effective_uid`](crate::engine::effective_uid)), and returns the outcomes it holds. A last
    /// line cut short by an interrupted write is dropped (and its probe redone).
    ///
    /// The file belongs to one scan: its first line carries the scan's
    /// [`fingerprint`](crate::plan::Plan::fingerprint) (written when the file is new), and every
    /// outcome must be one of the scan's probes (`covers`). A file of another scan, or a line for a
    /// host or port this scan does not probe, is refused: mixed in, it would be reported as found.
    pub fn resume_from(
        &mut self,
        mut file: File,
        fingerprint: &str,
        covers: impl Fn(SocketAddr, ScanProto) -> bool,
    ) -> Result<Vec<(SocketAddr, ScanProto, Outcome)>> {
        let mut held = Vec::new();
        let mut good_len = 0u64;
        let header = header(fingerprint);
        {
            let reader = BufReader::new(&mut file);
            let mut lines = reader.split(b'\n');
            match lines.next() {
                None => {}
                Some(raw) => {
                    let raw = raw.map_err(|e| Error::io("reading the resume file", e))?;
                    if raw != header.as_bytes() {
                        return Err(Error::Usage(
                            "the resume file belongs to another scan (other targets, ports or \
                             protocols); give a new file or the first scan's exact arguments"
                                .into(),
                        ));
                    }
                    good_len += raw.len() as u64 + 1;
                }
            }
            for raw in lines {
                let raw = raw.map_err(|e| Error::io("reading the resume file", e))?;
                let Some(entry) = parse_line(&raw) else { break };
                if !covers(entry.0, entry.1) {
                    return Err(Error::Usage(format!(
                        "the resume file holds {}/{}, which this scan does not probe; it belongs \
                         to another scan",
                        entry.0,
                        entry.1.as_str()
                    )));
                }
                held.push(entry);
                good_len += raw.len() as u64 + 1;
            }
        }
        // Cut what did not parse (a torn last line) and append after the good part; a new file
        // starts with the header.
        file.set_len(good_len)
            .and_then(|()| file.seek(SeekFrom::End(0)).map(drop))
            .and_then(|()| {
                if good_len == 0 {
                    writeln!(file, "{header}")
                } else {
                    Ok(())
                }
            })
            .map_err(|e| Error::io("preparing the resume file", e))?;
        self.resume = Some(BufWriter::new(file));
        Ok(held)
    }

    pub fn record(&mut self, addr: SocketAddr, proto: ScanProto, outcome: Outcome) {
        let listed = self.all || matches!(outcome.state, PortState::Open | PortState::OpenFiltered);
        if let Some(out) = self.json_lines.as_mut().filter(|_| listed) {
            let _ = writeln!(out, "{}", line(addr, proto, outcome));
        }
        if let Some(out) = self.resume.as_mut() {
            let _ = writeln!(out, "{}", line(addr, proto, outcome));
        }
    }

    /// Writes out what is buffered (before a stop signal ends the process, too).
    pub fn flush(&mut self) -> Result<()> {
        if let Some(out) = self.json_lines.as_mut() {
            out.flush()?;
        }
        if let Some(out) = self.resume.as_mut() {
            out.flush().map_err(|e| Error::io("writing the resume file", e))?;
        }
        Ok(())
    }
}

/// The first line of a resume file: which scan it belongs to.
fn header(fingerprint: &str) -> String {
    format!("{{\"portscope_resume\":1,\"scan\":\"{fingerprint}\"}}")
}

fn parse_line(raw: &[u8]) -> Option<(SocketAddr, ScanProto, Outcome)> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let host: IpAddr = v["host"].as_str()?.parse().ok()?;
    let port = u16::try_from(v["port"].as_u64()?).ok()?;
    let proto = match v["protocol"].as_str()? {
        "tcp" => ScanProto::Tcp,
        "udp" => ScanProto::Udp,
        _ => return None,
    };
    let state = PortState::parse(v["state"].as_str()?)?;
    let reason = Reason::parse(v["reason"].as_str()?)?;
    Some((SocketAddr::new(host, port), proto, Outcome { state, reason }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let addr: SocketAddr = "198.18.0.2:53".parse().unwrap();
        let outcome = Outcome {
            state: PortState::OpenFiltered,
            reason: Reason::NoResponse,
        };
        let text = line(addr, ScanProto::Udp, outcome);
        assert_eq!(
            text,
            r#"{"host":"198.18.0.2","port":53,"protocol":"udp","state":"open|filtered","reason":"no-response"}"#
        );
        assert_eq!(parse_line(text.as_bytes()), Some((addr, ScanProto::Udp, outcome)));
        assert_eq!(parse_line(&text.as_bytes()[..20]), None);
    }

    /// A resume file in the system's temporary directory, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(tag: &str, text: &str) -> TempFile {
            let path = std::env::temp_dir().join(format!("portscope-stream-{tag}-{}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }

        fn open(&self) -> File {
            File::options().read(true).write(true).open(&self.0).unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn a_resume_file_belongs_to_one_scan() {
        let ours: SocketAddr = "198.18.0.2:22".parse().unwrap();
        let covers = |a: SocketAddr, p: ScanProto| a == ours && p == ScanProto::Tcp;
        let open = Outcome {
            state: PortState::Open,
            reason: Reason::SynAck,
        };
        // A new file gets the header; the same scan reads its lines back.
        let file = TempFile::new("new", "");
        let mut stream = Stream::new(false, false);
        assert!(stream.resume_from(file.open(), "abc", covers).unwrap().is_empty());
        stream.record(ours, ScanProto::Tcp, open);
        stream.flush().unwrap();
        drop(stream);
        let held = Stream::new(false, false)
            .resume_from(file.open(), "abc", covers)
            .unwrap();
        assert_eq!(held, [(ours, ScanProto::Tcp, open)]);
        // Another scan's fingerprint, a file without a header, a line the scan does not probe.
        assert!(matches!(
            Stream::new(false, false).resume_from(file.open(), "abd", covers),
            Err(Error::Usage(_))
        ));
        let line = line(ours, ScanProto::Tcp, open);
        let bare = TempFile::new("bare", &format!("{line}\n"));
        assert!(
            Stream::new(false, false)
                .resume_from(bare.open(), "abc", covers)
                .is_err()
        );
        let stranger = line.replace("198.18.0.2", "198.18.0.77");
        let mixed = TempFile::new("mixed", &format!("{}\n{line}\n{stranger}\n", header("abc")));
        assert!(matches!(
            Stream::new(false, false).resume_from(mixed.open(), "abc", covers),
            Err(Error::Usage(m)) if m.contains("198.18.0.77:22")
        ));
    }
}
