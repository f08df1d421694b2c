//! Supervisor awareness with a staged systemd unit: the test puts its own listener into a cgroup
//! named like a unit (`ps-close-PID.service`) and puts a stand-in `systemctl` on PATH that stops
//! only the test's own child. No real unit is touched.

use crate::support;

use std::os::unix::fs::PermissionsExt;

use support::{Cgroup, Netns, cgroup2_mount, first_line, portscope_in, python, run, skip_without_root};

#[test]
fn a_unit_holder_is_stopped_through_systemctl_with_unit() {
    if skip_without_root("a_unit_holder_is_stopped_through_systemctl_with_unit") {
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipping a_unit_holder_is_stopped_through_systemctl_with_unit: no cgroup2 mount");
        return;
    };
    let unit = format!("ps-close-{}.service", std::process::id());
    let dir = mount.join(&unit);
    if let Err(err) = std::fs::create_dir(&dir) {
        eprintln!(
            "skipping a_unit_holder_is_stopped_through_systemctl_with_unit: cannot create a cgroup: {err}"
        );
        return;
    }
    let _cgroup = Cgroup(dir.clone());

    let ns = Netns::new("closeu");
    let mut child = python(
        Some(&ns),
        "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0));s.listen(4)\n\
         print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n",
    );
    let port = first_line(&mut child);
    if let Err(err) = std::fs::write(dir.join("cgroup.procs"), child.pid().to_string()) {
        eprintln!(
            "skipping a_unit_holder_is_stopped_through_systemctl_with_unit: cannot move into the cgroup: {err}"
        );
        return;
    }

    // Without --unit: the plan names the unit and advises systemctl.
    let out = run(portscope_in(&ns).args(["close", &port, "--dry-run", "--json"]));
    let plan = support::json_ok(&out);
    let target = &plan["plan"]["targets"][0];
    assert_eq!(target["supervised_by"]["unit"], unit.as_str());
    assert_eq!(target["advice"], format!("systemctl stop {unit}"));
    assert_eq!(target["action"]["kind"], "signal");

    // A stand-in systemctl that accepts only this unit and stops only the test's child (`ip netns
    // exec` mounts a fresh /sys, so the script cannot read the cgroup itself).
    let bin = tempfile::tempdir().expect("tempdir");
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = stop ] && [ \"$2\" = -- ] && [ \"$3\" = '{unit}' ] || exit 3\n\
         kill -TERM {pid}\n",
        pid = child.pid()
    );
    let systemctl = bin.path().join("systemctl");
    std::fs::write(&systemctl, script).expect("write systemctl");
    std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = run(portscope_in(&ns)
        .args([
            "close",
            &port,
            "--unit",
            "--yes",
            "--timeout",
            "3s",
            "--watch",
            "200ms",
        ])
        .env("PATH", path));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("systemctl stop {unit}")), "{stdout}");
    assert!(stdout.contains("is free"), "{stdout}");
    let status = child.0.wait().expect("reaped");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}
