//! The persistence search through the platform seam, on the recorded fixture host
//! crates/portscope-fixture/hosts/persistence.toml: the launcher files come from the fixture's
//! `[[persistence.files]]`, the script a unit runs from `[[scripts]]`; a platform that cannot list
//! launcher files says so instead of answering "nothing found".

use portscope_core::persistence::{self, Kind};
use portscope_core::platform::Query;
use portscope_core::platform::prelude::*;
use portscope_fixture::FixturePlatform;

const HOST: &str = include_str!("../../portscope-fixture/hosts/persistence.toml");

fn process(host: &FixturePlatform, pid: u32) -> portscope_core::model::Process {
    let snapshot = host.snapshot(&Query::default()).unwrap();
    snapshot
        .sockets
        .iter()
        .flat_map(|s| &s.holders)
        .find(|h| h.process.pid == pid)
        .map(|h| (*h.process).clone())
        .expect("the holder")
}

#[test]
fn every_kind_of_launcher_of_the_copy_is_found_through_the_platform() {
    let host = FixturePlatform::from_toml(HOST).unwrap();
    let copy = process(&host, 23400);
    let packaged = process(&host, 4242);
    let report = persistence::look(&host, &[&copy, &packaged]);
    let kinds: Vec<(Kind, usize)> = report.holders[0]
        .entries
        .iter()
        .map(|e| (e.kind, e.line))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::SystemUnit, 5),
            (Kind::SystemUnit, 2),
            (Kind::UserCrontab, 2),
            (Kind::SystemCrontab, 1),
            (Kind::RcLocal, 2),
            (Kind::Autostart, 3),
            (Kind::ShellProfile, 2),
        ]
    );
    assert!(
        report.holders[0].entries[1].via.is_some(),
        "the unit runs /opt/helper/start.sh"
    );
    let nginx: Vec<&str> = report.holders[1]
        .entries
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        nginx,
        [
            "ExecStartPre=/usr/sbin/nginx -t -q -g 'daemon on; master_process on;'",
            "ExecStart=/usr/sbin/nginx -g 'daemon on; master_process on;'"
        ],
        "argv[0] is not a path, the executable is"
    );
    assert_eq!(report.skipped_count, 1);
    assert!(report.note().is_some_and(|n| n.contains("/etc/cron.d/zero")));
}

#[test]
fn a_platform_without_launcher_files_says_not_checked() {
    let host = HOST.replace("[host]\n", "[host]\nunsupported = [\"persistence_files\"]\n");
    let host = FixturePlatform::from_toml(&host).unwrap();
    let copy = process(&host, 23400);
    let report = persistence::look(&host, &[&copy]);
    assert!(report.holders.is_empty());
    assert_eq!(report.not_checked.map(|u| u.what), Some("persistence_files"));
    assert_eq!(
        report.note().as_deref(),
        Some("persistence not checked: persistence_files is not available on this platform")
    );
}
