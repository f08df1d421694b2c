//! Feeds arbitrary bytes to the launcher-file parsers (units, crontabs, desktop entries, shell
//! lines) and through the whole persistence search: files users and malware write (home
//! directories, /var/spool/cron). Every parser returns lines within the file's line count, and
//! every entry found points at a line of the file.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use portscope_core::model::Process;
use portscope_core::persistence::{self, File, Files, Kind, parse};

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count();
    for found in [
        parse::unit(data),
        parse::crontab(data, true),
        parse::crontab(data, false),
        parse::desktop(data),
        parse::shell(data),
    ] {
        assert!(found.iter().all(|f| f.line >= 1 && f.line <= lines));
    }
    let kinds = [
        Kind::SystemUnit,
        Kind::SystemCrontab,
        Kind::UserCrontab,
        Kind::Autostart,
        Kind::ShellProfile,
    ];
    let files = Files {
        files: kinds
            .iter()
            .map(|&kind| File {
                kind,
                path: PathBuf::from("/etc/x"),
                user: Some("u".into()),
                bytes: data.to_vec(),
            })
            .collect(),
        ..Files::default()
    };
    let process = Process {
        pid: 1,
        ppid: 0,
        name: "x".into(),
        name_bytes: None,
        exe: Some(PathBuf::from("/tmp/x")),
        exe_deleted: false,
        cmdline: vec!["/tmp/x".into()],
        uid: 0,
        user: None,
        start_time: None,
        supervisor: None,
    };
    let report = persistence::search(&files, |_| Files::default(), &[&process]);
    for entry in &report.holders[0].entries {
        assert!(entry.line >= 1 && entry.line <= lines);
    }
});
