//! `portscope top` on a real terminal: tmux runs it inside a network namespace of this test's
//! own, the test types keys with `tmux send-keys` and reads the screen with `tmux capture-pane`.
//! A listener opened in the namespace appears within 2 s; `c` then `y` stops it through close's
//! plan; the view marks it closed, then drops it; SIGTERM ends the view with the terminal back on
//! its main screen. Everything (tmux server, namespace, listener) is removed by name or PID.

use crate::support;

use std::process::{Command, Stdio};

use support::{Guard, Netns, first_line, skip_without_root, wait_until};

/// A tmux server of this test's own (`tmux -L NAME`), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(tag: &str, command: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            socket: format!("ps-top-{tag}-{}", std::process::id()),
        };
        let status = tmux
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "top",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(command)
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        // Keep the pane after the program exits, to check how it left the terminal.
        tmux.run(&["set-option", "-t", "top", "remain-on-exit", "on"]);
        tmux
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]).args(args).stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn pane(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "top", format])
            .trim()
            .to_string()
    }

    /// Waits up to `seconds` for the screen to satisfy `check`; the last screen either way.
    fn wait_for(&self, seconds: f64, check: impl Fn(&str) -> bool) -> (bool, String) {
        let mut last = String::new();
        let ok = wait_until(seconds, || {
            last = self.screen();
            check(&last)
        });
        (ok, last)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}

fn tmux_missing() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: tmux is not installed (.ci/run installs it)");
    }
    !found
}

#[test]
fn without_a_terminal_it_says_so() {
    let out = support::run(support::portscope().arg("top").stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("portscope: top is an interactive view and needs a terminal"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = support::run(support::portscope().args(["top", "--interval", "10ms"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_listener_appears_is_closed_with_keys_and_goes() {
    if skip_without_root("top in tmux") || tmux_missing() {
        return;
    }
    let ns = Netns::new("top");
    let command = format!(
        "ip netns exec {} env PORTSCOPE_NETNS=current NO_COLOR=1 TERM=xterm-256color {} top --interval 1s",
        ns.name,
        env!("CARGO_BIN_EXE_portscope")
    );
    let tmux = Tmux::start("close", &command, 100, 30);
    let (started, screen) = tmux.wait_for(30.0, |s| s.contains("portscope top"));
    assert!(started, "top did not start:\n{screen}");
    assert!(
        screen.contains("0 listeners"),
        "a fresh namespace has no listener:\n{screen}"
    );

    // A listener opens in the namespace: it shows within 2 s, marked new.
    // Its name (comm) carries a terminal escape that would clear the screen: shown escaped.
    let script = "import ctypes,socket,time\n\
                  ctypes.CDLL(None).prctl(15, b'py\\x1b[2Jevil', 0, 0, 0)\n\
                  s=socket.socket()\ns.bind(('127.0.0.1',18615))\ns.listen(8)\n\
                  print('ready',flush=True)\ntime.sleep(120)\n";
    let mut listener = Guard::spawn(
        ns.command("/usr/bin/python3")
            .args(["-c", script])
            .stdout(Stdio::piped()),
    );
    assert_eq!(first_line(&mut listener), "ready");
    let (appeared, screen) = tmux.wait_for(2.0, |s| s.contains("127.0.0.1:18615"));
    assert!(appeared, "the listener did not appear within 2 s:\n{screen}");
    let row = screen
        .lines()
        .find(|l| l.contains("127.0.0.1:18615"))
        .unwrap_or_default();
    assert!(row.contains("LISTEN"), "{row}");
    assert!(
        screen.contains(&format!("{}/py\\e[2Jevil", listener.pid())),
        "its program, escaped, heads the group:\n{screen}"
    );

    // Filter to it, select its row, close it: the same plan and confirmation as `close`.
    tmux.keys(&["/", "18615", "Enter", "Down", "c"]);
    let (asked, screen) = tmux.wait_for(10.0, |s| s.contains("which hold tcp port 18615?"));
    assert!(asked, "no confirmation:\n{screen}");
    assert!(
        screen.contains(&format!("PID {} py\\e[2Jevil", listener.pid())),
        "the plan names the listener's process:\n{screen}"
    );
    tmux.keys(&["y"]);
    let (closed, screen) = tmux.wait_for(15.0, |s| s.contains("tcp port 18615 is free"));
    assert!(closed, "no outcome:\n{screen}");
    assert!(
        wait_until(5.0, || matches!(listener.0.try_wait(), Ok(Some(_)))),
        "the listener still runs"
    );
    // The row shows closed, then goes.
    let (marked, screen) = tmux.wait_for(5.0, |s| {
        s.lines()
            .any(|l| l.contains("127.0.0.1:18615") && l.contains("CLOSED"))
    });
    assert!(marked, "the row was not marked closed:\n{screen}");
    let (gone, screen) = tmux.wait_for(10.0, |s| !s.contains("127.0.0.1:18615"));
    assert!(gone, "the closed row stayed:\n{screen}");

    // SIGTERM ends it, and the terminal is back on its main screen.
    let pid: u32 = tmux.pane("#{pane_pid}").parse().expect("pane pid");
    support::send_signal(pid, libc::SIGTERM);
    assert!(
        wait_until(10.0, || tmux.pane("#{pane_dead}") == "1"),
        "top did not exit on SIGTERM"
    );
    assert_eq!(tmux.pane("#{alternate_on}"), "0", "left on the alternate screen");
    // tmux does not always record the exit status in time (about one run in three it records
    // none), so the process itself is asked: it must be gone (or a zombie awaiting tmux's reap).
    let exited = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
    };
    assert!(wait_until(10.0, exited), "top still runs 10 s after SIGTERM");
}

#[test]
fn x_cuts_a_connection_and_the_program_keeps_running() {
    if skip_without_root("top in tmux") || tmux_missing() {
        return;
    }
    let ns = Netns::new("topx");
    // A server that accepts one connection and reports when the connection breaks, and its client.
    let script = "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',18616))\ns.listen(8)\n\
                  c=socket.create_connection(('127.0.0.1',18616))\na,_=s.accept()\n\
                  print('ready',flush=True)\n\
                  try:\n    a.recv(1)\nexcept OSError as e:\n    print('broken',e.errno,flush=True)\n\
                  time.sleep(120)\n";
    let mut server = Guard::spawn(
        ns.command("/usr/bin/python3")
            .args(["-c", script])
            .stdout(Stdio::piped()),
    );
    let stdout = support::line_channel(server.0.stdout.take().expect("piped stdout"));
    assert_eq!(
        stdout.recv_timeout(std::time::Duration::from_secs(10)).as_deref(),
        Ok("ready")
    );
    let command = format!(
        "ip netns exec {} env PORTSCOPE_NETNS=current NO_COLOR=1 TERM=xterm-256color {} top -l",
        ns.name,
        env!("CARGO_BIN_EXE_portscope")
    );
    let tmux = Tmux::start("cut", &command, 100, 30);
    let (started, screen) = tmux.wait_for(30.0, |s| s.contains("127.0.0.1:18616"));
    assert!(started, "top did not show the listener:\n{screen}");
    assert!(!screen.contains("ESTAB"), "-l shows listeners only:\n{screen}");
    // Every state, filtered to the port: the listener, the accepted side, the client side.
    tmux.keys(&["l", "/", "18616", "Enter"]);
    let (all, screen) = tmux.wait_for(5.0, |s| s.matches("ESTAB").count() == 2);
    assert!(all, "both ends of the connection:\n{screen}");
    // The server's group comes first (lowest port): its listener, then the accepted connection.
    tmux.keys(&["Down", "Down", "x"]);
    let (asked, screen) = tmux.wait_for(10.0, |s| s.contains("Cut 1 connection(s)?"));
    assert!(asked, "no confirmation:\n{screen}");
    tmux.keys(&["y"]);
    let (cut, screen) = tmux.wait_for(10.0, |s| s.contains("cut 1 of 1 connection(s)"));
    assert!(cut, "no outcome:\n{screen}");
    let line = stdout
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the server saw its connection break");
    assert!(line.starts_with("broken"), "{line}");
    assert!(
        matches!(server.0.try_wait(), Ok(None)),
        "the program keeps running"
    );
    let (marked, screen) = tmux.wait_for(5.0, |s| s.contains("CLOSED"));
    assert!(marked, "the cut connection is not marked closed:\n{screen}");
    tmux.keys(&["q"]);
    assert!(
        wait_until(10.0, || tmux.pane("#{pane_dead}") == "1"),
        "q did not quit"
    );
    assert_eq!(tmux.pane("#{alternate_on}"), "0", "left on the alternate screen");
}
