//! The launcher-file reader on a fake root full of traps (no root needed): units with their
//! wants links, cron tables, rc.local, autostart entries and profiles are read; a link planted
//! at a cron file (to /dev/zero, to a FIFO), a FIFO itself, a 50 MiB file and a home's
//! `.config` that links elsewhere are skipped with a note — never followed, never hung on,
//! never read whole.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use portscope_core::persistence::{Files, Kind};
use portscope_linux::persistence::{self, Limits};

/// A scratch tree, removed on drop.
struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("portscope-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Root(dir)
    }

    fn path(&self, host: &str) -> PathBuf {
        self.0.join(host.trim_start_matches('/'))
    }

    fn write(&self, host: &str, text: &str) {
        let path = self.path(host);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn link(&self, host: &str, target: &str) {
        let path = self.path(host);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
    }

    fn fifo(&self, host: &str) {
        let path = self.path(host);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn paths(files: &Files, kind: Kind) -> Vec<String> {
    files
        .files
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect()
}

fn skipped(files: &Files, host: &str) -> Option<String> {
    files
        .skipped
        .iter()
        .find(|s| s.path == Path::new(host))
        .map(|s| s.why.clone())
}

fn planted(root: &Root) {
    root.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n");
    root.write("/etc/systemd/system/x.service", "[Service]\nExecStart=/tmp/x\n");
    root.write(
        "/etc/systemd/system/x.service.d/override.conf",
        "[Service]\nExecStartPre=/tmp/x\n",
    );
    root.write("/etc/systemd/system/readme.txt", "not a unit\n");
    root.link(
        "/etc/systemd/system/multi-user.target.wants/x.service",
        "/etc/systemd/system/x.service",
    );
    root.link("/etc/systemd/system/masked.service", "/dev/null");
    root.write("/etc/crontab", "* * * * * root /tmp/x\n");
    root.write("/etc/cron.d/job", "@reboot root /tmp/x\n");
    root.link("/etc/cron.d/zero", "/dev/zero");
    root.fifo("/etc/cron.d/fifo");
    root.link(
        "/etc/cron.d/to-fifo",
        &root.path("/etc/cron.d/fifo").to_string_lossy(),
    );
    // 50 MiB without writing 50 MiB: a sparse file.
    let big = std::fs::File::create(root.path("/etc/cron.d/big")).unwrap();
    big.set_len(50 << 20).unwrap();
    root.write("/var/spool/cron/crontabs/bob", "@reboot /tmp/x\n");
    root.write("/etc/cron.daily/job", "#!/bin/sh\n/tmp/x\n");
    root.write("/etc/rc.local", "#!/bin/sh\n/tmp/x &\n");
    root.write("/etc/xdg/autostart/x.desktop", "[Desktop Entry]\nExec=/tmp/x\n");
    root.write("/etc/xdg/autostart/notes.txt", "Exec=/tmp/x\n");
    root.write("/etc/profile.d/x.sh", "/tmp/x &\n");
    root.write("/home/alice/.bashrc", "/tmp/x &\n");
    root.write(
        "/home/alice/.config/systemd/user/y.service",
        "[Service]\nExecStart=/tmp/x\n",
    );
    root.link(
        "/home/alice/.config/systemd/user/default.target.wants/y.service",
        "../y.service",
    );
    root.write(
        "/home/alice/.config/autostart/y.desktop",
        "[Desktop Entry]\nExec=/tmp/x\n",
    );
    // Bob's .config is a link to /etc: never entered. His profile is a link to /etc/shadow.
    std::fs::create_dir_all(root.path("/home/bob")).unwrap();
    root.link("/home/bob/.config", "/etc");
    root.link("/home/bob/.profile", "/etc/shadow");
}

#[test]
fn every_kind_is_read_and_every_trap_is_skipped_with_a_note() {
    let root = Root::new("kinds");
    planted(&root);
    let files = persistence::files(&root.0, Limits::default());
    assert_eq!(
        paths(&files, Kind::SystemUnit),
        [
            "/etc/systemd/system/x.service",
            "/etc/systemd/system/x.service.d/override.conf"
        ]
    );
    assert_eq!(
        paths(&files, Kind::SystemCrontab),
        ["/etc/crontab", "/etc/cron.d/job"]
    );
    assert_eq!(paths(&files, Kind::UserCrontab), ["/var/spool/cron/crontabs/bob"]);
    let bob = files.files.iter().find(|f| f.kind == Kind::UserCrontab).unwrap();
    assert_eq!(bob.user.as_deref(), Some("bob"));
    assert_eq!(paths(&files, Kind::CronPeriodic), ["/etc/cron.daily/job"]);
    assert_eq!(paths(&files, Kind::RcLocal), ["/etc/rc.local"]);
    assert_eq!(
        paths(&files, Kind::Autostart),
        [
            "/etc/xdg/autostart/x.desktop",
            "/home/alice/.config/autostart/y.desktop"
        ]
    );
    assert_eq!(
        paths(&files, Kind::ShellProfile),
        ["/etc/profile.d/x.sh", "/home/alice/.bashrc"]
    );
    assert_eq!(
        paths(&files, Kind::UserUnit),
        ["/home/alice/.config/systemd/user/y.service"]
    );
    let links: Vec<String> = files
        .links
        .iter()
        .map(|l| l.path.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        links,
        [
            "/etc/systemd/system/masked.service",
            "/etc/systemd/system/multi-user.target.wants/x.service",
            "/home/alice/.config/systemd/user/default.target.wants/y.service"
        ]
    );
    assert_eq!(files.links[0].target, Path::new("/dev/null"));

    let zero = skipped(&files, "/etc/cron.d/zero").expect("the link to /dev/zero is noted");
    assert!(zero.contains("symbolic link to /dev/zero"), "{zero}");
    assert!(
        skipped(&files, "/etc/cron.d/to-fifo")
            .unwrap()
            .contains("symbolic link")
    );
    assert!(skipped(&files, "/etc/cron.d/fifo").unwrap().contains("FIFO"));
    assert!(skipped(&files, "/etc/cron.d/big").unwrap().contains("50 MiB"));
    assert!(
        skipped(&files, "/home/bob/.profile")
            .unwrap()
            .contains("/etc/shadow")
    );
    // Bob's .config links to /etc: nothing below it was read as his.
    assert!(
        files
            .files
            .iter()
            .all(|f| f.user.as_deref() != Some("bob") || f.kind == Kind::UserCrontab)
    );
    let read: usize = files.files.iter().map(|f| f.bytes.len()).sum();
    assert!(read < 4096, "only the small files were read: {read} bytes");
}

#[test]
fn bounds_per_directory_and_in_total_are_noted() {
    let root = Root::new("bounds");
    root.write("/etc/passwd", "");
    for i in 0..20 {
        root.write(&format!("/etc/cron.d/job{i:02}"), &"# padding\n".repeat(20));
    }
    let limits = Limits {
        per_dir: 8,
        total: 1000,
        ..Limits::default()
    };
    let files = persistence::files(&root.0, limits);
    assert!(
        skipped(&files, "/etc/cron.d")
            .unwrap()
            .contains("more than 8 names"),
        "{:?}",
        files.skipped
    );
    let read: usize = files.files.iter().map(|f| f.bytes.len()).sum();
    assert!(read <= 1000, "{read}");
    assert!(
        files.skipped.iter().any(|s| s.why.contains("total read bound")),
        "{:?}",
        files.skipped
    );
}

#[test]
fn scripts_are_read_only_when_they_are_regular_files_with_a_shebang() {
    let root = Root::new("scripts");
    root.write("/opt/run.sh", "#!/bin/sh\nexec /tmp/x\n");
    root.write("/opt/binary", "\x7fELF....");
    root.fifo("/opt/fifo");
    root.link("/opt/zero", "/dev/zero");
    root.link("/opt/link.sh", "run.sh");
    let asked: Vec<PathBuf> = [
        "/opt/run.sh",
        "/opt/binary",
        "/opt/fifo",
        "/opt/zero",
        "/opt/link.sh",
        "/opt/missing",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    let files = persistence::scripts(&root.0, &asked, Limits::default());
    assert_eq!(paths(&files, Kind::Script), ["/opt/run.sh", "/opt/link.sh"]);
    assert!(files.skipped.is_empty(), "{:?}", files.skipped);
}
