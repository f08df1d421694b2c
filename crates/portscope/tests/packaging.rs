//! What ships beside the binary: the systemd units, the Prometheus and Kubernetes examples, and
//! the Debian package. Each check needs a tool from outside (systemd-analyze, promtool,
//! cargo-deb, ...) and says why it is skipped when the tool is missing.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::run;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn systemd_units_verify() {
    let Some(analyze) = tool("systemd-analyze") else {
        eprintln!("skipping systemd_units_verify: systemd-analyze is not installed (Debian package systemd)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for unit in ["portscope-watch.service", "portscope-exporter.service"] {
        let source = std::fs::read_to_string(repo().join("dist/systemd").join(unit)).expect("read unit");
        assert!(source.contains("ExecStart=/usr/bin/portscope "), "{unit}");
        for setting in [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "CapabilityBoundingSet=",
        ] {
            assert!(source.contains(setting), "{unit} lacks {setting}");
        }
        // verify checks that ExecStart's program exists: point it at the binary under test.
        let local = source.replace("/usr/bin/portscope", env!("CARGO_BIN_EXE_portscope"));
        let path = dir.path().join(unit);
        std::fs::write(&path, local).expect("write unit");
        let out = run(Command::new(&analyze).args(["verify", "--man=no"]).arg(&path));
        // Without systemd as PID 1 verify still parses every setting; it fails on a bad one.
        let report = text(&out);
        let about_unit: Vec<&str> = report.lines().filter(|l| l.contains(unit)).collect();
        assert!(
            out.status.success() && about_unit.is_empty(),
            "systemd-analyze verify {unit}:\n{report}"
        );
    }
    let source = std::fs::read_to_string(repo().join("dist/systemd/portscope-watch.service")).unwrap();
    assert!(source.contains("StateDirectory=portscope"));
}

#[test]
fn prometheus_rules_check() {
    let Some(promtool) = tool("promtool") else {
        eprintln!("skipping prometheus_rules_check: promtool is not installed (Debian package prometheus)");
        return;
    };
    let rules = repo().join("examples/prometheus/portscope-rules.yml");
    let out = run(Command::new(&promtool).args(["check", "rules"]).arg(&rules));
    assert!(out.status.success(), "promtool check rules:\n{}", text(&out));
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    for alert in [
        "PortscopeListenerNotInBaseline",
        "PortscopeAuditAlert",
        "PortscopeListenerClosed",
    ] {
        assert!(rules_text.contains(&format!("alert: {alert}")), "{alert}");
    }
    let config = repo().join("examples/prometheus/prometheus.yml");
    let out = run(Command::new(&promtool).args(["check", "config"]).arg(&config));
    assert!(out.status.success(), "promtool check config:\n{}", text(&out));
}

#[test]
fn grafana_dashboard_is_json_with_portscope_queries() {
    let path = repo().join("examples/prometheus/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("read dashboard")).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    for panel in panels {
        let expr = panel["targets"][0]["expr"].as_str().unwrap_or_default();
        assert!(
            expr.contains("portscope_"),
            "panel {} queries {expr:?}",
            panel["title"]
        );
    }
}

#[test]
fn kubernetes_daemonset_validates() {
    let manifest = repo().join("examples/kubernetes/portscope-daemonset.yaml");
    let source = std::fs::read_to_string(&manifest).expect("read manifest");
    for needed in [
        "hostPID: true",
        "readOnlyRootFilesystem: true",
        "drop: [\"ALL\"]",
        "prometheus.io/scrape",
    ] {
        assert!(source.contains(needed), "the DaemonSet lacks {needed}");
    }
    // A schema-aware check (Kubernetes' own OpenAPI schemas, shipped in the PyPI package
    // kubernetes-validate) when installed; else the manifest is at least checked as YAML.
    if let Some(validate) = tool("kubernetes-validate") {
        let out = run(Command::new(validate).args(["--strict"]).arg(&manifest));
        assert!(out.status.success(), "kubernetes-validate:\n{}", text(&out));
        return;
    }
    let out = run(Command::new("/usr/bin/python3").args([
        "-c",
        "import sys,yaml\nd=list(yaml.safe_load_all(open(sys.argv[1])))\nassert [x['kind'] for x in d]==['Namespace','DaemonSet'],d\n",
        manifest.to_str().unwrap(),
    ]));
    if text(&out).contains("No module named 'yaml'") {
        eprintln!(
            "skipping kubernetes_daemonset_validates: neither kubernetes-validate (pip) nor python3-yaml is installed"
        );
        return;
    }
    eprintln!("kubernetes_daemonset_validates: kubernetes-validate is not installed; checked as YAML only");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn debian_package_installs_and_runs() {
    let binary = Path::new(env!("CARGO_BIN_EXE_portscope"));
    // Building the package packages the release binary; a debug test run has none to package.
    if binary.parent().and_then(|d| d.file_name()) != Some("release".as_ref()) {
        eprintln!(
            "skipping debian_package_installs_and_runs: needs the release binary (cargo test --release)"
        );
        return;
    }
    if tool("cargo-deb").is_none() {
        eprintln!(
            "skipping debian_package_installs_and_runs: cargo-deb is not installed (cargo install cargo-deb)"
        );
        return;
    }
    if tool("dpkg").is_none() {
        eprintln!("skipping debian_package_installs_and_runs: dpkg is not installed");
        return;
    }
    let out_dir = tempfile::tempdir().expect("temp dir");
    let target = binary.parent().unwrap().parent().unwrap();
    let out = run(Command::new(repo().join("dist/deb/build.sh"))
        .arg("--no-build")
        .env("CARGO_TARGET_DIR", target)
        .env("OUT", out_dir.path()));
    assert!(out.status.success(), "dist/deb/build.sh:\n{}", text(&out));
    let deb = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb was built");

    // A clean root with an empty dpkg database; libc comes from the host when the binary runs.
    let root = tempfile::tempdir().expect("temp root");
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::fs::write(root.path().join("var/lib/dpkg/status"), "").unwrap();
    let out = run(Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .args([
            "--force-depends",
            "--force-script-chrootless",
            "--log=/dev/null",
            "-i",
        ])
        .arg(&deb));
    assert!(out.status.success(), "dpkg --root -i:\n{}", text(&out));

    let installed = root.path().join("usr/bin/portscope");
    let out = run(Command::new(&installed).arg("--version"));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("portscope {}", env!("CARGO_PKG_VERSION"))
    );
    // A page per command, made from its own definition: `man portscope-list`.
    let commands = run(Command::new(&installed).args(["man", "--list"]));
    let commands = String::from_utf8_lossy(&commands.stdout).into_owned();
    assert!(commands.lines().any(|c| c == "list"), "{commands}");
    for command in commands.lines() {
        let page = root
            .path()
            .join(format!("usr/share/man/man1/portscope-{command}.1.gz"));
        let size = std::fs::metadata(&page).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "the package has no man page for {command}");
    }
    if tool("man").is_some() {
        let page = root.path().join("usr/share/man/man1/portscope-list.1.gz");
        let out = run(Command::new("man").arg("-l").arg(&page).env("MANPAGER", "cat"));
        assert!(text(&out).contains("portscope-list"), "{}", text(&out));
        assert!(text(&out).contains("--state"), "{}", text(&out));
    }
    for file in [
        "usr/share/man/man1/portscope.1.gz",
        "usr/share/bash-completion/completions/portscope",
        "usr/share/zsh/vendor-completions/_portscope",
        "usr/share/fish/vendor_completions.d/portscope.fish",
        "usr/lib/systemd/system/portscope-watch.service",
        "usr/lib/systemd/system/portscope-exporter.service",
    ] {
        let path = root.path().join(file);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "the package does not install {file}");
    }
    let listed = run(Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .args(["-L", "portscope"]));
    assert!(text(&listed).contains("/usr/bin/portscope"), "{}", text(&listed));
}
