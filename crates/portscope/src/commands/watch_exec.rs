//! `watch --exec CMD`: one run of `sh -c CMD` per event, with the event in environment variables.
//!
//! The command runs to completion before the next event's, so a script sees events in order.
//! Variables that do not apply to an event (no owner, no previous owner) are removed rather than
//! left empty, so `${PORTSCOPE_PID:-?}` works in the script.

use std::process::Command;

use portscope_core::time;

use crate::watch::{Event, Owner};

/// The variables set for each event, in the order docs/watch-history-baseline.md lists them.
pub const VARIABLES: &[&str] = &[
    "PORTSCOPE_EVENT",
    "PORTSCOPE_TIME",
    "PORTSCOPE_PROTOCOL",
    "PORTSCOPE_ADDRESS",
    "PORTSCOPE_PORT",
    "PORTSCOPE_REMOTE",
    "PORTSCOPE_PID",
    "PORTSCOPE_PROGRAM",
    "PORTSCOPE_EXE",
    "PORTSCOPE_USER",
    "PORTSCOPE_UNIT",
    "PORTSCOPE_PREVIOUS_PID",
    "PORTSCOPE_PREVIOUS_PROGRAM",
    "PORTSCOPE_JSON",
];

/// Name/value pairs describing `event`; absent values are absent. Values are OS strings, so an
/// executable path that is not UTF-8 reaches the command byte for byte.
pub fn environment(event: &Event) -> Vec<(&'static str, std::ffi::OsString)> {
    environment_text(event)
        .into_iter()
        .map(|(name, value)| match (name, &event.owner) {
            ("PORTSCOPE_EXE", Some(Owner { exe: Some(exe), .. })) => (name, exe.clone().into_os_string()),
            _ => (name, value.into()),
        })
        .collect()
}

fn environment_text(event: &Event) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PORTSCOPE_EVENT", event.kind.as_str().to_string()),
        ("PORTSCOPE_TIME", time::rfc3339(event.time_ms)),
        ("PORTSCOPE_PROTOCOL", event.key.protocol.to_string()),
        ("PORTSCOPE_ADDRESS", event.key.address.to_string()),
        ("PORTSCOPE_PORT", event.key.port.to_string()),
    ];
    if let Some(remote) = event.key.remote {
        env.push(("PORTSCOPE_REMOTE", remote.to_string()));
    }
    if let Some(owner) = &event.owner {
        env.push(("PORTSCOPE_PID", owner.pid.to_string()));
        env.push(("PORTSCOPE_PROGRAM", owner.program.clone()));
        push_owner_details(&mut env, owner);
    }
    if let Some(previous) = &event.previous {
        env.push(("PORTSCOPE_PREVIOUS_PID", previous.pid.to_string()));
        env.push(("PORTSCOPE_PREVIOUS_PROGRAM", previous.program.clone()));
    }
    env.push((
        "PORTSCOPE_JSON",
        serde_json::to_string(&event.json()).unwrap_or_default(),
    ));
    env
}

fn push_owner_details(env: &mut Vec<(&'static str, String)>, owner: &Owner) {
    if let Some(exe) = &owner.exe {
        env.push(("PORTSCOPE_EXE", exe.to_string_lossy().into_owned()));
    }
    env.push((
        "PORTSCOPE_USER",
        owner.user.clone().unwrap_or_else(|| owner.uid.to_string()),
    ));
    if let Some(unit) = &owner.unit {
        env.push(("PORTSCOPE_UNIT", unit.clone()));
    }
}

/// The command for one event: `sh -c CMD` with the event's variables and no stale ones.
pub fn command(cmd: &str, event: &Event) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(cmd);
    for name in VARIABLES {
        command.env_remove(name);
    }
    command.envs(environment(event));
    command
}

/// How many events may wait for `--exec` before new ones are dropped (and counted).
pub const QUEUE: usize = 256;

/// Runs `--exec` off the watch loop: one worker thread takes events from a bounded queue and runs
/// the command for each, in order, each for at most `timeout`. A slow command therefore never
/// delays a poll, a record or a stop; when the queue is full the event is dropped from `--exec`
/// only (it is still printed and recorded), and the drops are counted for the user.
pub struct Runner {
    sender: Option<std::sync::mpsc::SyncSender<Event>>,
    worker: Option<std::thread::JoinHandle<()>>,
    /// Set when watching stops: commands still queued may run until then, no later.
    stop: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    dropped: u64,
    /// Drops not yet reported to the user.
    unreported: u64,
}

impl Runner {
    /// Starts the worker; `host` ends a command's process group that outlives its timeout.
    pub fn start(
        cmd: String,
        timeout: std::time::Duration,
        host: &'static dyn crate::platform::Platform,
    ) -> std::io::Result<Runner> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Event>(QUEUE);
        let stop = std::sync::Arc::new(std::sync::Mutex::new(None));
        let stopping = stop.clone();
        let worker = std::thread::Builder::new()
            .name("watch-exec".into())
            .spawn(move || {
                for event in receiver {
                    if past(&stopping) {
                        break;
                    }
                    run_one(host, &cmd, &event, timeout, &stopping);
                }
            })?;
        Ok(Runner {
            sender: Some(sender),
            worker: Some(worker),
            stop,
            dropped: 0,
            unreported: 0,
        })
    }

    /// Queues `event`; a full queue drops it (counted).
    pub fn submit(&mut self, event: &Event) {
        let Some(sender) = &self.sender else { return };
        if sender.try_send(event.clone()).is_err() {
            self.dropped += 1;
            self.unreported += 1;
        }
    }

    /// Drops since the last call, for a note.
    pub fn take_unreported(&mut self) -> u64 {
        std::mem::take(&mut self.unreported)
    }

    /// Stops: what is queued still runs for up to [`GRACE`]; then the command running is killed
    /// and the rest is not run. Returns how many events were dropped from a full queue.
    pub fn finish(mut self) -> u64 {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now() + GRACE);
        self.sender = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        self.dropped
    }
}

/// How long commands still queued when watching stops may run.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn past(stop: &std::sync::Mutex<Option<std::time::Instant>>) -> bool {
    stop.lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some_and(|deadline| std::time::Instant::now() >= deadline)
}

/// Runs the command for one event, killing its whole process group after `timeout` or once the
/// stop deadline has passed.
fn run_one(
    host: &dyn crate::platform::Platform,
    cmd: &str,
    event: &Event,
    timeout: std::time::Duration,
    stop: &std::sync::Mutex<Option<std::time::Instant>>,
) {
    use std::os::unix::process::CommandExt;
    let started = std::time::Instant::now();
    let mut child = match command(cmd, event).process_group(0).spawn() {
        Ok(child) => child,
        Err(e) => {
            crate::output::note(&format!("running --exec {cmd:?}: {e}"));
            return;
        }
    };
    let what = format!(
        "{} {} port {}",
        event.kind.as_str(),
        event.key.protocol,
        event.key.port
    );
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    crate::output::note(&format!("--exec command {status} for {what}"));
                }
                return;
            }
            Ok(None) => {}
            Err(e) => {
                crate::output::note(&format!("waiting for --exec {cmd:?}: {e}"));
                return;
            }
        }
        let stopping = past(stop);
        if stopping || started.elapsed() >= timeout {
            host.kill_process_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            if !stopping {
                crate::output::note(&format!(
                    "--exec command for {what} still ran after {}; killed it",
                    humantime::format_duration(timeout)
                ));
            }
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
