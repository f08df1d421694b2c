//! A build without a default feature (`cargo test -p portscope --no-default-features`): the
//! command still parses, and running it says in one line on stderr which feature the build lacks,
//! exiting 2. With the features on, `top.rs` and `exporter.rs` test the commands themselves.

#[cfg(not(all(feature = "top", feature = "exporter")))]
use crate::support::{portscope, run};

#[cfg(not(feature = "top"))]
#[test]
fn top_built_out_says_so_in_one_line() {
    let out = run(portscope().args(["top", "--interval", "2s"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "portscope: `top` is not in this build (built without the `top` feature); rebuild with \
         `cargo build --release --features top`\n"
    );
}

#[cfg(not(feature = "exporter"))]
#[test]
fn exporter_built_out_says_so_in_one_line() {
    let out = run(portscope().args(["exporter", "--listen", "127.0.0.1:0"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "portscope: `exporter` is not in this build (built without the `exporter` feature); rebuild \
         with `cargo build --release --features exporter`\n"
    );
}

/// Help and completions do not depend on the features: the commands are there either way.
#[test]
fn help_names_top_and_exporter_in_every_build() {
    let out = crate::support::run(crate::support::portscope().arg("--help"));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("\n  top "), "{help}");
    assert!(help.contains("\n  exporter "), "{help}");
}
