//! Container names from recorded hosts: a process's /proc/PID/cgroup (tests/fixtures/containers/
//! proc/cgroup-*) and the engines' state files under the same directory (Docker's
//! config.v2.json and hostconfig.json, containers/storage's containers.json, the kubelet's
//! /var/log/pods and /var/log/containers), read as on a live host. No root, no engine.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};

use portscope_linux::provenance::containers;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containers")
}

fn cgroup(name: &str) -> String {
    std::fs::read_to_string(root().join("proc").join(name)).expect("recorded cgroup")
}

#[test]
fn docker_names_the_container_and_its_restart_policy() {
    let c = containers::of_cgroup(&root(), &cgroup("cgroup-docker")).expect("a container");
    assert_eq!(c.engine, "docker");
    assert!(c.id.starts_with("0f1e2d3c4b5a"));
    assert_eq!(c.name.as_deref(), Some("web"));
    assert_eq!(c.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(c.pod, None);
}

#[test]
fn podman_names_the_container_from_containers_json() {
    let c = containers::of_cgroup(&root(), &cgroup("cgroup-podman")).expect("a container");
    assert_eq!(c.engine, "podman");
    assert_eq!(c.name.as_deref(), Some("db"));
}

#[test]
fn kubernetes_names_the_pod_its_namespace_and_the_container() {
    let c = containers::of_cgroup(&root(), &cgroup("cgroup-kubernetes")).expect("a container");
    assert_eq!(c.engine, "containerd");
    assert_eq!(c.pod.as_deref(), Some("api-7d4f9c-x2"));
    assert_eq!(c.namespace.as_deref(), Some("prod"));
    assert_eq!(c.name.as_deref(), Some("web"));
}

#[test]
fn missing_or_hostile_state_names_nothing() {
    // The same cgroups on a host without the engines' files: engine and id, no name.
    let empty = std::env::temp_dir().join("portscope-no-such-root");
    let c = containers::of_cgroup(&empty, &cgroup("cgroup-docker")).expect("a container");
    assert_eq!((c.engine.as_str(), c.name), ("docker", None));
    // An id that is not hex never becomes a path.
    let c = containers::describe(&root(), "docker", "../../../etc", "/");
    assert_eq!(c.name, None);
    assert_eq!(
        containers::of_cgroup(&root(), "0::/system.slice/nginx.service\n"),
        None
    );
}

#[test]
fn a_state_file_that_is_a_link_or_a_fifo_is_not_read() {
    use std::os::unix::fs::symlink;
    let id = "ab".repeat(32);
    let root = tempfile_root();
    let dir = root.join("var/lib/docker/containers").join(&id);
    std::fs::create_dir_all(&dir).expect("dirs");
    let elsewhere = root.join("elsewhere.json");
    std::fs::write(&elsewhere, r#"{"Name":"/planted"}"#).expect("file");
    symlink(&elsewhere, dir.join("config.v2.json")).expect("link");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("hostconfig.json"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let c = containers::describe(&root, "docker", &id, "/");
    assert_eq!((c.name, c.restart), (None, None));
    std::fs::remove_dir_all(&root).expect("cleanup");
}

/// A fresh directory of this test's own under the system's temporary directory.
fn tempfile_root() -> PathBuf {
    let root = std::env::temp_dir().join(format!("portscope-provenance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("root");
    root
}
