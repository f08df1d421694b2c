//! `watch --exec CMD`: one run of `sh -c CMD` per event, with the event in environment variables.
//!
//! The command runs to completion before the next event's, so a script sees events in order.
//! Variables that do not apply to an event (no owner, no previous owner) are removed rather than
//! left empty, so `${PORTSCOPE_PID:-?}` works in the script.

use std::process::Command;

use portscope_core::time;

use crate::watch::queue::EventQueue;
use crate::watch::{Event, Owner};

/// The variables set for each event, in the order docs/watch-history-baseline.md lists them.
pub const VARIABLES: &[&str] = &[
    "PORTSCOPE_EVENT",
    "PORTSCOPE_TIME",
    "PORTSCOPE_PROTOCOL",
    "PORTSCOPE_ADDRESS",
    "PORTSCOPE_PORT",
    "PORTSCOPE_REMOTE",
    "PORTSCOPE_NETNS",
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
    if let Some(netns) = crate::watch::netns_for(&event.key, event.netns.as_ref()) {
        env.push(("PORTSCOPE_NETNS", netns.label()));
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
    let mut command = shell(cmd);
    for name in VARIABLES {
        command.env_remove(name);
    }
    command.envs(environment(event));
    command
}

/// The system's shell running `cmd`: `sh -c` in a process group of its own (so that a timeout
/// kills everything it started), `cmd /C` in a new process group on Windows.
#[cfg(unix)]
fn shell(cmd: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("sh");
    command.arg("-c").arg(cmd).process_group(0);
    command
}

#[cfg(windows)]
fn shell(cmd: &str) -> Command {
    use std::os::windows::process::CommandExt;
    /// `CREATE_NEW_PROCESS_GROUP`.
    const NEW_GROUP: u32 = 0x0000_0200;
    let mut command = Command::new("cmd");
    command.arg("/C").raw_arg(cmd).creation_flags(NEW_GROUP);
    command
}

/// How many events may wait for `--exec` before new ones are dropped (and counted).
pub const QUEUE: usize = 256;

/// The events waiting for `--exec`, bounded by [`QUEUE`] (an opened or closed event is never
/// dropped in favour of an owner change: [`EventQueue`]), and whether more will come.
pub struct Queue {
    events: EventQueue,
    /// No more events will come: the worker ends once the queue is empty.
    closed: bool,
}

impl Default for Queue {
    fn default() -> Queue {
        Queue {
            events: EventQueue::new(QUEUE),
            closed: false,
        }
    }
}

/// The queue and the worker's wake-up, shared between the watch loop and the worker.
type Shared = std::sync::Arc<(std::sync::Mutex<Queue>, std::sync::Condvar)>;

/// Runs `--exec` off the watch loop: one worker thread takes events from a bounded [`Queue`] and
/// runs the command for each, in order, each for at most `timeout`. A slow command therefore never
/// delays a poll, a record or a stop; when the queue is full an event is dropped from `--exec`
/// only (it is still printed and recorded), and the drops are counted for the user.
pub struct Runner {
    queue: Shared,
    worker: Option<std::thread::JoinHandle<()>>,
    /// Set when watching stops: commands still queued may run until then, no later.
    stop: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    dropped: u64,
    /// Drops not yet reported to the user.
    unreported: u64,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Runner {
    /// Starts the worker; `host` ends a command's process group that outlives its timeout.
    pub fn start(
        cmd: String,
        timeout: std::time::Duration,
        host: &'static dyn crate::platform::Platform,
    ) -> std::io::Result<Runner> {
        let queue: Shared = Default::default();
        let stop = std::sync::Arc::new(std::sync::Mutex::new(None));
        let stopping = stop.clone();
        let waiting = queue.clone();
        let worker = std::thread::Builder::new()
            .name("watch-exec".into())
            .spawn(move || {
                let (events, wake) = &*waiting;
                loop {
                    let event = {
                        let mut queue = lock(events);
                        loop {
                            if let Some(event) = queue.events.pop() {
                                break event;
                            }
                            if queue.closed {
                                return;
                            }
                            queue = wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    if past(&stopping) {
                        return;
                    }
                    run_one(host, &cmd, &event, timeout, &stopping);
                }
            })?;
        Ok(Runner {
            queue,
            worker: Some(worker),
            stop,
            dropped: 0,
            unreported: 0,
        })
    }

    /// Queues `event`; a full queue drops an event (counted): a lesser one waiting, else this one.
    pub fn submit(&mut self, event: &Event) {
        let (events, wake) = &*self.queue;
        if lock(events).events.push(event.clone()) {
            self.dropped += 1;
            self.unreported += 1;
        }
        wake.notify_one();
    }

    /// Drops since the last call, for a note.
    pub fn take_unreported(&mut self) -> u64 {
        std::mem::take(&mut self.unreported)
    }

    /// Stops: what is queued still runs for up to [`GRACE`]; then the command running is killed
    /// and the rest is not run. Returns how many events were dropped from a full queue.
    pub fn finish(mut self) -> u64 {
        *lock(&self.stop) = Some(std::time::Instant::now() + GRACE);
        let (events, wake) = &*self.queue;
        lock(events).closed = true;
        wake.notify_one();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        self.dropped
    }
}

/// How long commands still queued when watching stops may run.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn past(stop: &std::sync::Mutex<Option<std::time::Instant>>) -> bool {
    lock(stop).is_some_and(|deadline| std::time::Instant::now() >= deadline)
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
    let started = std::time::Instant::now();
    let mut child = match command(cmd, event).spawn() {
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
