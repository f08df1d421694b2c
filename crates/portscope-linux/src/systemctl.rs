//! Stopping a systemd unit through `systemctl`, the way a service that its manager would restart
//! has to be stopped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where `systemctl` is, if this machine has one on PATH.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("systemctl"))
        .find(|candidate| candidate.is_file())
}

/// The argument list for stopping `unit`; `user` names the owner of a user-manager unit.
pub fn stop_args(unit: &str, user: Option<&str>) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(user) = user {
        args.push(format!("--machine={user}@"));
        args.push("--user".into());
    }
    args.extend(["stop".into(), "--".into(), unit.into()]);
    args
}

/// Runs `systemctl stop UNIT` and waits for it. The error is systemctl's own first line.
pub fn stop(systemctl: &PathBuf, unit: &str, user: Option<&str>) -> Result<(), String> {
    let output = Command::new(systemctl)
        .args(stop_args(unit, user))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", systemctl.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("systemctl failed")
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(stop_args("nginx.service", None), ["stop", "--", "nginx.service"]);
        assert_eq!(
            stop_args("app.service", Some("alice")),
            ["--machine=alice@", "--user", "stop", "--", "app.service"]
        );
    }
}
