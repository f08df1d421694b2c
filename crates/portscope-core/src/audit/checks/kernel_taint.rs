//! The kernel's taint flags (`audit --deep`), as information: a module from outside the kernel
//! tree or one without a valid signature is how kernel rootkits (Diamorphine, Reptile) load, and
//! the flags stay set after the module hides itself from `lsmod`. Many honest machines are
//! tainted too (NVIDIA, VirtualBox, ZFS), so this is never more than information.

use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity};
use super::Out;

/// The taint bits and what each means (Documentation/admin-guide/tainted-kernels.rst).
const FLAGS: &[(u32, char, &str)] = &[
    (0, 'P', "proprietary module"),
    (1, 'F', "module force-loaded"),
    (2, 'S', "out-of-spec system"),
    (3, 'R', "module force-unloaded"),
    (4, 'M', "machine check"),
    (5, 'B', "bad page"),
    (6, 'U', "tainted by user space"),
    (7, 'D', "kernel died recently"),
    (8, 'A', "ACPI table overridden"),
    (9, 'W', "kernel warning"),
    (10, 'C', "staging driver"),
    (11, 'I', "firmware workaround"),
    (12, 'O', "out-of-tree module"),
    (13, 'E', "unsigned module"),
    (14, 'L', "soft lockup"),
    (15, 'K', "live patched"),
    (16, 'X', "auxiliary taint"),
    (17, 'T', "built with struct randomization"),
    (18, 'N', "in-kernel test"),
];

/// The flags set in `mask`, as `O (out-of-tree module)`.
pub fn describe(mask: u64) -> Vec<String> {
    FLAGS
        .iter()
        .filter(|(bit, _, _)| mask & (1 << bit) != 0)
        .map(|(_, letter, what)| format!("{letter} ({what})"))
        .collect()
}

pub fn check(ctx: &Context, out: &mut Out) {
    let mask = match ctx.platform.kernel_taint() {
        Ok(Some(mask)) => mask,
        Ok(None) => return,
        Err(unsupported) => return out.not_checked(CheckId::KernelTaint, unsupported),
    };
    if mask == 0 {
        return;
    }
    out.findings.push(Finding {
        severity: Severity::Info,
        check: CheckId::KernelTaint,
        sockets: Vec::new(),
        process: None,
        reason: format!(
            "the kernel is tainted ({mask}): {}; out-of-tree and unsigned modules are how kernel rootkits load",
            describe(mask).join(", ")
        ),
        next_step: Some("cat /proc/modules && journalctl -k -g 'taint|module verification'".into()),
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags() {
        assert_eq!(
            super::describe(4096 + 8192),
            ["O (out-of-tree module)", "E (unsigned module)"]
        );
        assert!(super::describe(0).is_empty());
    }
}
