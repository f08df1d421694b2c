//! `examples/first-five-minutes.sh` run as a newcomer would, twice: to the end, and stopped by
//! Ctrl-C halfway. Either way, nothing it started may outlive it: no process (each carries a
//! marker in its environment, which every descendant inherits) and no named namespace.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{self, GroupGuard};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/first-five-minutes.sh")
}

/// The pids of processes whose environment holds `marker` (processes that exit while we look
/// are skipped).
fn marked(marker: &str) -> Vec<u32> {
    let needle = marker.as_bytes();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

fn named_netns(prefix: &str) -> Vec<String> {
    let out = support::run(Command::new("ip").args(["netns", "list"]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// One run of the script, in a process group of its own. On drop (also when an assertion
/// failed) whatever it left behind is killed and its namespaces deleted, so a failing run
/// does not leak either.
struct Run {
    guard: GroupGuard,
    marker: String,
}

impl Run {
    fn start() -> Run {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let marker = format!(
            "PORTSCOPE_EXAMPLE_RUN=ps14test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (key, value) = marker.split_once('=').unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .arg(env!("CARGO_BIN_EXE_portscope"))
            .env(key, value)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Run {
            guard: GroupGuard::spawn(&mut cmd),
            marker,
        }
    }

    /// The script names its namespaces `ps14-<its pid>-a` and `-b`.
    fn netns_prefix(&self) -> String {
        format!("ps14-{}-", self.guard.pid())
    }

    /// Waits (bounded) for the script to exit and returns its stdout and stderr.
    fn finish(&mut self, seconds: f64) -> (String, String) {
        let child = &mut self.guard.0;
        let exited = support::wait_until(seconds, || matches!(child.try_wait(), Ok(Some(_))));
        assert!(exited, "the example did not finish within {seconds} s");
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        if let Some(mut p) = child.stdout.take() {
            let _ = p.read_to_string(&mut out);
        }
        if let Some(mut p) = child.stderr.take() {
            let _ = p.read_to_string(&mut err);
        }
        (out, err)
    }

    fn assert_nothing_left(&self, out: &str, err: &str) {
        // Processes killed by the cleanup may take a moment to be reaped by their parents.
        let gone = support::wait_until(5.0, || marked(&self.marker).is_empty());
        let left: Vec<String> = marked(&self.marker)
            .iter()
            .map(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                format!("{pid}: {}", String::from_utf8_lossy(&cmdline).replace('\0', " "))
            })
            .collect();
        assert!(
            gone,
            "the example left processes running:\n{}\n--- stdout\n{out}\n--- stderr\n{err}",
            left.join("\n")
        );
        let names = named_netns(&self.netns_prefix());
        assert!(names.is_empty(), "the example left namespaces {names:?}");
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for pid in marked(&self.marker) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        for name in named_netns(&self.netns_prefix()) {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

#[test]
fn example_leaves_nothing_running() {
    if support::skip_without_root("example_leaves_nothing_running") {
        return;
    }
    let mut run = Run::start();
    let (out, err) = run.finish(180.0);
    // The scene was really built and shown: the trojan port and the reverse shell were seen.
    assert!(out.contains("31337"), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("4444"), "stdout:\n{out}\nstderr:\n{err}");
    run.assert_nothing_left(&out, &err);
}

#[test]
fn example_stopped_halfway_leaves_nothing_running() {
    if support::skip_without_root("example_stopped_halfway_leaves_nothing_running") {
        return;
    }
    let mut run = Run::start();
    // Stop it once the scene stands: its processes run in both namespaces.
    let prefix = run.netns_prefix();
    let standing = support::wait_until(60.0, || {
        named_netns(&prefix).len() == 2 && marked(&run.marker).len() >= 8
    });
    assert!(standing, "the example's scene did not come up");
    // `kill PID` (or a closed terminal's hangup) reaches the script alone, not what it started.
    support::send_signal(run.guard.pid(), libc::SIGTERM);
    let (out, err) = run.finish(60.0);
    run.assert_nothing_left(&out, &err);
}
