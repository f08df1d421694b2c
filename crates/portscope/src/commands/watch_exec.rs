//! `watch --exec CMD`: one run of `sh -c CMD` per event, with the event in environment variables.
//!
//! The command runs to completion before the next event's, so a script sees events in order.
//! Variables that do not apply to an event (no owner, no previous owner) are removed rather than
//! left empty, so `${PORTSCOPE_PID:-?}` works in the script.

use std::process::Command;

use portscope_core::time;

use crate::watch::{Event, Owner};

/// The variables set for each event, in the order the README lists them.
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

/// Name/value pairs describing `event`; absent values are absent.
pub fn environment(event: &Event) -> Vec<(&'static str, String)> {
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
