//! The persistence search on recorded launcher files (Debian's own, in tests/persistence/) and
//! on planted ones: every kind found with its file, line, user and removal command.

use std::path::{Path, PathBuf};

use super::*;
use crate::model::Process;

macro_rules! recorded {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/persistence/", $name)).to_vec()
    };
}

fn process(pid: u32, exe: &str, cmdline: &[&str]) -> Process {
    Process {
        pid,
        ppid: 1,
        name: exe.rsplit('/').next().unwrap_or(exe).chars().take(15).collect(),
        name_bytes: None,
        exe: Some(PathBuf::from(exe)),
        exe_deleted: false,
        cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
        uid: 0,
        user: Some("root".into()),
        start_time: None,
        supervisor: None,
    }
}

fn file(kind: Kind, path: &str, user: Option<&str>, bytes: impl Into<Vec<u8>>) -> File {
    File {
        kind,
        path: PathBuf::from(path),
        user: user.map(str::to_string),
        bytes: bytes.into(),
    }
}

fn link(kind: Kind, path: &str, target: &str) -> Link {
    Link {
        kind,
        path: PathBuf::from(path),
        target: PathBuf::from(target),
        user: None,
    }
}

fn search_one(files: &Files, scripts: &Files, p: &Process) -> HolderPersistence {
    let report = search(files, |_| scripts.clone(), &[p]);
    report.holders.into_iter().next().expect("one holder")
}

/// Debian's recorded files: sshd's unit, e2scrub's cron.d file, xdg-user-dirs' autostart entry
/// and bash.bashrc.
fn recorded_host() -> Files {
    Files {
        files: vec![
            file(
                Kind::SystemUnit,
                "/lib/systemd/system/ssh.service",
                None,
                recorded!("ssh.service"),
            ),
            file(
                Kind::SystemCrontab,
                "/etc/cron.d/e2scrub_all",
                None,
                recorded!("e2scrub_all"),
            ),
            file(
                Kind::Autostart,
                "/etc/xdg/autostart/xdg-user-dirs.desktop",
                None,
                recorded!("xdg-user-dirs.desktop"),
            ),
            file(
                Kind::ShellProfile,
                "/etc/bash.bashrc",
                None,
                recorded!("bash.bashrc"),
            ),
        ],
        links: vec![
            link(
                Kind::SystemUnit,
                "/etc/systemd/system/multi-user.target.wants/ssh.service",
                "/lib/systemd/system/ssh.service",
            ),
            link(
                Kind::SystemUnit,
                "/etc/systemd/system/sshd.service",
                "/lib/systemd/system/ssh.service",
            ),
        ],
        skipped: Vec::new(),
    }
}

#[test]
fn sshd_starts_again_from_its_enabled_unit_twice() {
    let sshd = process(
        700,
        "/usr/sbin/sshd",
        &["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"],
    );
    let found = search_one(&recorded_host(), &Files::default(), &sshd);
    let lines: Vec<usize> = found.entries.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        [9, 10],
        "ExecStartPre and ExecStart, not ExecReload: {found:#?}"
    );
    let e = &found.entries[1];
    assert_eq!(e.kind, Kind::SystemUnit);
    assert_eq!(e.text, "ExecStart=/usr/sbin/sshd -D $SSHD_OPTS");
    assert_eq!(e.unit.as_deref(), Some("ssh.service"));
    assert_eq!(e.remove, "systemctl disable --now ssh.service");
    assert_eq!(
        e.enabled_by,
        [PathBuf::from(
            "/etc/systemd/system/multi-user.target.wants/ssh.service"
        )]
    );
    assert!(!e.masked);
    assert_eq!(e.matched, "/usr/sbin/sshd");
}

#[test]
fn a_system_crontab_line_names_its_user_and_the_line_to_edit() {
    let e2scrub = process(701, "/usr/sbin/e2scrub_all", &["/sbin/e2scrub_all", "-A", "-r"]);
    let found = search_one(&recorded_host(), &Files::default(), &e2scrub);
    assert_eq!(found.entries.len(), 1, "{found:#?}");
    let e = &found.entries[0];
    assert_eq!(
        (e.kind, e.line, e.user.as_deref()),
        (Kind::SystemCrontab, 2, Some("root"))
    );
    assert_eq!(e.matched, "/sbin/e2scrub_all");
    assert_eq!(
        e.matched_from,
        Origin::Argv0,
        "argv[0] names the old path (/sbin is /usr/sbin)"
    );
    assert_eq!(e.remove, "edit /etc/cron.d/e2scrub_all line 2");
}

#[test]
fn a_relative_exec_in_an_autostart_entry_matches_by_file_name() {
    let p = process(702, "/usr/bin/xdg-user-dirs-update", &["xdg-user-dirs-update"]);
    let found = search_one(&recorded_host(), &Files::default(), &p);
    assert_eq!(found.entries.len(), 1, "{found:#?}");
    assert_eq!(
        (found.entries[0].kind, found.entries[0].line),
        (Kind::Autostart, 5)
    );
}

#[test]
fn a_program_nothing_launches_has_no_entry() {
    let p = process(703, "/tmp/.x/miner", &["/tmp/.x/miner"]);
    assert!(
        search_one(&recorded_host(), &Files::default(), &p)
            .entries
            .is_empty()
    );
}

/// A trojan: /usr/bin/python3 running /tmp/.cache/srv.py, planted in every kind of launcher.
fn planted() -> (Files, Files) {
    let files = Files {
        files: vec![
            file(
                Kind::SystemUnit,
                "/etc/systemd/system/dbus-helper.service",
                None,
                "[Unit]\nDescription=helper\n[Service]\nExecStart=/usr/bin/python3 \\\n  /tmp/.cache/srv.py --quiet\nRestart=always\n",
            ),
            file(
                Kind::SystemUnit,
                "/etc/systemd/system/getty-extra.service.d/override.conf",
                None,
                "[Service]\nExecStartPre=-/bin/sh -c 'nohup /tmp/.cache/srv.py &'\n",
            ),
            file(
                Kind::UserUnit,
                "/home/alice/.config/systemd/user/sync.service",
                Some("alice"),
                "[Service]\nExecStart=/opt/run.sh\n",
            ),
            file(
                Kind::SystemCrontab,
                "/etc/crontab",
                None,
                "SHELL=/bin/sh\n# m h dom mon dow user command\n*/5 * * * * www-data cd /tmp/.cache && python3 srv.py\n",
            ),
            file(
                Kind::UserCrontab,
                "/var/spool/cron/crontabs/bob",
                Some("bob"),
                "MAILTO=\"\"\n@reboot /tmp/.cache//./srv.py >/dev/null 2>&1\n",
            ),
            file(
                Kind::CronPeriodic,
                "/etc/cron.daily/0anacron",
                None,
                "#!/bin/sh\ntest -x /usr/sbin/anacron || exit 0\n",
            ),
            file(
                Kind::RcLocal,
                "/etc/rc.local",
                None,
                "#!/bin/sh -e\n/tmp/.cache/srv.py &\nexit 0\n",
            ),
            file(
                Kind::Autostart,
                "/home/alice/.config/autostart/update.desktop",
                Some("alice"),
                "[Desktop Entry]\nType=Application\nExec=/usr/bin/python3 /tmp/.cache/srv.py\n",
            ),
            file(
                Kind::ShellProfile,
                "/home/alice/.bashrc",
                Some("alice"),
                "alias ll='ls -l'\n(pgrep -f srv.py || /tmp/.cache/srv.py) >/dev/null 2>&1 &\n",
            ),
            file(
                Kind::ShellProfile,
                "/etc/profile",
                None,
                "echo /tmp/.cache/srv.py is not run here\n",
            ),
        ],
        links: vec![link(
            Kind::SystemUnit,
            "/etc/systemd/system/multi-user.target.wants/dbus-helper.service",
            "/etc/systemd/system/dbus-helper.service",
        )],
        skipped: vec![Skipped {
            path: "/etc/cron.d/zero".into(),
            why: "a symbolic link to /dev/zero (not followed)".into(),
        }],
    };
    let scripts = Files {
        files: vec![file(
            Kind::Script,
            "/opt/run.sh",
            None,
            "#!/bin/sh\nexec /usr/bin/python3 /tmp/.cache/srv.py\n",
        )],
        ..Files::default()
    };
    (files, scripts)
}

#[test]
fn a_planted_trojan_is_found_in_every_kind_with_file_line_and_removal() {
    let (files, scripts) = planted();
    let p = process(
        900,
        "/usr/bin/python3.11",
        &["/usr/bin/python3", "-u", "/tmp/.cache/srv.py"],
    );
    let found = search_one(&files, &scripts, &p);
    let got: Vec<(Kind, &str, usize, Option<&str>, &str)> = found
        .entries
        .iter()
        .map(|e| {
            (
                e.kind,
                e.file.to_str().unwrap(),
                e.line,
                e.user.as_deref(),
                e.remove.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Kind::SystemUnit,
                "/etc/systemd/system/dbus-helper.service",
                4,
                None,
                "systemctl disable --now dbus-helper.service"
            ),
            (
                Kind::SystemUnit,
                "/etc/systemd/system/getty-extra.service.d/override.conf",
                2,
                None,
                "systemctl disable --now getty-extra.service"
            ),
            (
                Kind::UserUnit,
                "/home/alice/.config/systemd/user/sync.service",
                2,
                Some("alice"),
                "systemctl --user -M alice@ disable --now sync.service"
            ),
            (
                Kind::SystemCrontab,
                "/etc/crontab",
                3,
                Some("www-data"),
                "edit /etc/crontab line 3"
            ),
            (
                Kind::UserCrontab,
                "/var/spool/cron/crontabs/bob",
                2,
                Some("bob"),
                "crontab -e -u bob (line 2)"
            ),
            (
                Kind::RcLocal,
                "/etc/rc.local",
                2,
                None,
                "edit /etc/rc.local line 2"
            ),
            (
                Kind::Autostart,
                "/home/alice/.config/autostart/update.desktop",
                3,
                Some("alice"),
                "edit /home/alice/.config/autostart/update.desktop line 3"
            ),
            (
                Kind::ShellProfile,
                "/home/alice/.bashrc",
                2,
                Some("alice"),
                "edit /home/alice/.bashrc line 2"
            ),
        ],
        "{found:#?}"
    );
    // The interpreter's own path is no needle: every Python service would match.
    assert_eq!(found.needles.len(), 1, "{:?}", found.needles);
    assert_eq!(found.needles[0].text, "/tmp/.cache/srv.py");
    let unit = &found.entries[0];
    assert!(
        unit.text.starts_with("ExecStart=/usr/bin/python3 ")
            && unit.text.ends_with(" /tmp/.cache/srv.py --quiet"),
        "{unit:?}"
    );
    assert_eq!(unit.enabled_by.len(), 1);
    let via = found.entries[2].via.as_ref().expect("through /opt/run.sh");
    assert_eq!((via.file.as_path(), via.line), (Path::new("/opt/run.sh"), 2));
    // `cd /tmp/.cache && python3 srv.py`: the relative word matched by its file name.
    assert_eq!(found.entries[3].matched, "/tmp/.cache/srv.py");
}

#[test]
fn an_interpreter_running_inline_code_cannot_be_matched_and_says_why() {
    let (files, scripts) = planted();
    let p = process(901, "/usr/bin/python3", &["python3", "-c", "import socket"]);
    let found = search_one(&files, &scripts, &p);
    assert!(found.entries.is_empty(), "{found:#?}");
    assert!(
        found
            .unmatchable
            .as_deref()
            .is_some_and(|u| u.contains("not a script file")),
        "{found:?}"
    );
    // A copy of the interpreter outside the system's directories is matched by its path.
    let copy = process(902, "/tmp/scratch/python3", &["/tmp/scratch/python3", "-c", "x"]);
    let files = Files {
        files: vec![file(
            Kind::SystemCrontab,
            "/etc/cron.d/x",
            None,
            "* * * * * root /tmp/scratch/python3 -c x\n",
        )],
        ..Files::default()
    };
    let found = search_one(&files, &Files::default(), &copy);
    assert_eq!(found.entries.len(), 1, "{found:#?}");
}

#[test]
fn a_timer_or_an_instance_enables_a_service_and_is_disabled_with_it() {
    let files = Files {
        files: vec![
            file(
                Kind::SystemUnit,
                "/etc/systemd/system/sync.service",
                None,
                "[Service]\nExecStart=/opt/x/x\n",
            ),
            file(
                Kind::SystemUnit,
                "/etc/systemd/system/agent@.service",
                None,
                "[Service]\nExecStart=/opt/x/x %i\n",
            ),
        ],
        links: vec![
            link(
                Kind::SystemUnit,
                "/etc/systemd/system/timers.target.wants/sync.timer",
                "/etc/systemd/system/sync.timer",
            ),
            link(
                Kind::SystemUnit,
                "/etc/systemd/system/multi-user.target.wants/agent@a.service",
                "../agent@.service",
            ),
            link(
                Kind::SystemUnit,
                "/etc/systemd/system/multi-user.target.wants/agent@b.service",
                "../agent@.service",
            ),
        ],
        skipped: Vec::new(),
    };
    let found = search_one(&files, &Files::default(), &process(5, "/opt/x/x", &["/opt/x/x"]));
    let removes: Vec<&str> = found.entries.iter().map(|e| e.remove.as_str()).collect();
    assert_eq!(
        removes,
        [
            "systemctl disable --now sync.timer sync.service",
            "systemctl disable --now agent@a.service agent@b.service"
        ]
    );
}

#[test]
fn a_masked_unit_is_said_masked() {
    let files = Files {
        files: vec![file(
            Kind::SystemUnit,
            "/usr/lib/systemd/system/x.service",
            None,
            "[Service]\nExecStart=/opt/x/x\n",
        )],
        links: vec![link(
            Kind::SystemUnit,
            "/etc/systemd/system/x.service",
            "/dev/null",
        )],
        skipped: Vec::new(),
    };
    let found = search_one(&files, &Files::default(), &process(5, "/opt/x/x", &["/opt/x/x"]));
    assert!(found.entries[0].masked, "{found:#?}");
}

#[test]
fn hostile_lines_are_kept_exactly_for_json() {
    let line = b"* * * * * /tmp/x \x1b[2J\xff\n";
    let files = Files {
        files: vec![file(
            Kind::UserCrontab,
            "/var/spool/cron/crontabs/eve",
            Some("eve"),
            line.to_vec(),
        )],
        ..Files::default()
    };
    let found = search_one(&files, &Files::default(), &process(6, "/tmp/x", &["/tmp/x"]));
    let e = &found.entries[0];
    assert_eq!(e.text_bytes.as_deref(), Some(&line[..line.len() - 1]));
    assert!(
        e.text.contains('\x1b'),
        "raw in the model; the render layer escapes it"
    );
    assert_eq!(crate::render::escape(&e.text), "* * * * * /tmp/x \\e[2J\u{fffd}");
}

#[test]
fn a_deleted_executable_is_matched_by_the_path_it_had() {
    let mut p = process(7, "/tmp/.x/kworker", &["[kworker/0:1]"]);
    p.exe_deleted = true;
    let files = Files {
        files: vec![file(Kind::RcLocal, "/etc/rc.local", None, "/tmp/.x/kworker\n")],
        ..Files::default()
    };
    assert_eq!(search_one(&files, &Files::default(), &p).entries.len(), 1);
}

#[test]
fn parsers_survive_hostile_bytes() {
    let junk: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for bytes in [
        &junk[..],
        b"ExecStart=\\",
        b"@reboot",
        b"* * * *",
        b"[Desktop Entry]\nExec=",
    ] {
        let _ = parse::unit(bytes);
        let _ = parse::crontab(bytes, true);
        let _ = parse::crontab(bytes, false);
        let _ = parse::desktop(bytes);
        let _ = parse::shell(bytes);
    }
}
