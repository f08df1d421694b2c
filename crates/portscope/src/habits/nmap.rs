//! nmap habits after `scan`.

use std::ffi::OsString;

use crate::error::{Error, Result};

/// nmap's multi-letter options, spelled as portscope's long ones: `-oG`, `-oX`, `-iL`, `-sV`
/// (`--banner`), `-sS` (`--syn`), `-sT` (`--connect`) and `-sU` (`--udp`) after the `scan`
/// subcommand; `-Pn` and `-n` say what portscope always does (no ping first, no reverse DNS) and
/// are dropped; the nmap options portscope has no equivalent for (`-O`, `-A`, `-T0`..`-T5`) are
/// refused with a hint. Every other argument passes through untouched.
pub fn rewrite(args: Vec<OsString>) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for arg in args {
        let refuse = |hint: &str| {
            Err(Error::Usage(format!(
                "{} is an nmap option portscope does not have: {hint}",
                arg.to_string_lossy()
            )))
        };
        match arg.to_str() {
            Some("-oG") => out.push("--output-greppable".into()),
            Some("-oX") => out.push("--output-xml".into()),
            Some("-iL") => out.push("--input-list".into()),
            Some("-sV") => out.push("--banner".into()),
            Some("-sS") => out.push("--syn".into()),
            Some("-sT") => out.push("--connect".into()),
            Some("-sU") => out.push("--udp".into()),
            Some("-Pn" | "-n") => {}
            Some("-O" | "-A") => {
                return refuse(
                    "portscope does not guess operating systems; --banner shows what services say",
                );
            }
            Some(t) if t.len() == 3 && t.starts_with("-T") && t.as_bytes()[2].is_ascii_digit() => {
                return refuse("set the pace with --rate N (probes per second) or --max-parallelism N");
            }
            _ => out.push(arg),
        }
    }
    Ok(out)
}
