//! Libraries forced into programs: a non-empty /etc/ld.so.preload (every program the dynamic
//! linker starts loads them), and LD_PRELOAD in the environment of a process that holds a socket.
//!
//! Preloading is how user-space rootkits (Symbiote, the Azazel and Jynx families) hook `readdir`,
//! `fopen` and `recvmsg` to hide files, processes and sockets from the very tools that look for
//! them. Legitimate uses exist (a malloc replacement, libfaketime, a sandbox), so a packaged
//! library is a warning and anything else an alert.

use std::path::{Path, PathBuf};

use super::super::advice::{keep_executable, path_operand, stop};
use super::super::context::{Context, label};
use super::super::finding::{CheckId, Finding, Severity};
use super::{Out, about_process};

/// The libraries a preload list names (whitespace or `:` separated; `#` starts a comment).
pub fn libraries(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split([' ', '\t', ':']))
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// Which of `libraries` no package installed (all of them when packages cannot be read).
/// `None` when this platform cannot tell who owns a file: the libraries are then judged as
/// packaged (a warning, not an alert) and the package part of the rule is named not checked.
fn unpackaged(ctx: &Context, out: &mut Out, libraries: &[String]) -> Option<Vec<String>> {
    let paths: Vec<PathBuf> = libraries.iter().map(PathBuf::from).collect();
    match ctx.platform.package_owners(&paths) {
        Ok(Ok(owners)) => Some(
            libraries
                .iter()
                .filter(|lib| !owners.contains_key(Path::new(lib.as_str())))
                .cloned()
                .collect(),
        ),
        Ok(Err(_)) => Some(libraries.to_vec()),
        Err(unsupported) => {
            out.not_checked(CheckId::Preload, unsupported);
            None
        }
    }
}

/// The libraries as operands of one command: quoted, none readable as an option.
fn operands(libraries: &[String]) -> String {
    let words: Vec<String> = libraries.iter().map(|l| path_operand(l)).collect();
    words.join(" ")
}

pub fn check(ctx: &Context, out: &mut Out) {
    let preload = match ctx.platform.preload_file() {
        Ok(preload) => preload,
        Err(unsupported) => {
            out.not_checked(CheckId::Preload, unsupported);
            None
        }
    };
    if let Some(text) = preload {
        let libs = libraries(&text);
        if !libs.is_empty() {
            let strangers = unpackaged(ctx, out, &libs);
            let (severity, why) = if strangers.is_none() {
                (
                    Severity::Warning,
                    "whether a package installed them is not checked on this platform",
                )
            } else if strangers.as_ref().is_some_and(Vec::is_empty) {
                (Severity::Warning, "every one of them from a package")
            } else {
                (
                    Severity::Alert,
                    "the way user-space rootkits hide processes, files and sockets",
                )
            };
            let quoted = operands(&libs);
            out.findings.push(Finding {
                severity,
                check: CheckId::Preload,
                sockets: Vec::new(),
                process: None,
                reason: format!(
                    "/etc/ld.so.preload loads {} into every program started: {why}",
                    libs.join(", ")
                ),
                next_step: Some(format!(
                    "d=$(mktemp -d ./portscope-preload.XXXXXX) && cp -- {quoted} \"$d/\" && dpkg -S -- {quoted}"
                )),
            });
        }
    }
    for view in ctx.processes() {
        let process = view.process;
        let environment = match ctx.platform.environment(process.pid) {
            Ok(Some(environment)) => environment,
            Ok(None) => continue,
            Err(unsupported) => {
                out.not_checked(CheckId::Preload, unsupported);
                break;
            }
        };
        let Some(value) = environment
            .iter()
            .find_map(|entry| entry.strip_prefix("LD_PRELOAD="))
        else {
            continue;
        };
        let libs = libraries(value.as_bytes());
        if libs.is_empty() {
            continue;
        }
        let strangers = unpackaged(ctx, out, &libs);
        let severity = match &strangers {
            Some(strangers) if !strangers.is_empty() => Severity::Alert,
            _ => Severity::Warning,
        };
        let reason = format!(
            "{} holds a network socket and was started with LD_PRELOAD={} in its environment{}",
            label(process),
            libs.join(":"),
            match &strangers {
                None => " (whether a package installed it is not checked on this platform)",
                Some(strangers) if strangers.is_empty() => " (packaged libraries)",
                Some(_) => ": a library no package installed is loaded into it",
            }
        );
        let mut finding = about_process(view, CheckId::Preload, severity, reason);
        let quoted = operands(&libs);
        // The executable first (the evidence that matters most), then the libraries in a
        // directory of their own, so that no library's name can stand in for `exe`.
        finding.next_step = Some(if severity == Severity::Alert {
            format!(
                "{} && mkdir -- \"$d/preload\" && cp -- {quoted} \"$d/preload/\" && {}",
                keep_executable(process.pid),
                stop(process)
            )
        } else {
            format!("dpkg -S -- {quoted}")
        });
        out.findings.push(finding);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn preload_lists() {
        assert_eq!(
            super::libraries(b"# comment\n/lib/a.so /lib/b.so\n\n/tmp/c.so:/tmp/d.so # x\n"),
            ["/lib/a.so", "/lib/b.so", "/tmp/c.so", "/tmp/d.so"]
        );
        assert!(super::libraries(b"  \n# only a comment\n").is_empty());
    }
}
