//! Container names from the engines' own state files, read-only and bounded, under a root
//! directory (`/` on a live host; a recorded tree in tests):
//! - Docker: `var/lib/docker/containers/ID/config.v2.json` (`Name`) and `hostconfig.json`
//!   (the restart policy);
//! - Podman and CRI-O (containers/storage): `var/lib/containers/storage/overlay-containers/
//!   containers.json`, then the same under `run/containers/storage`;
//! - Kubernetes (containerd, CRI-O): the pod UID from the cgroup path, its namespace and name from
//!   the kubelet's `var/log/pods/NAMESPACE_POD_UID` directory, the container's name from the
//!   `var/log/containers/POD_NAMESPACE_CONTAINER-ID.log` link.
//!
//! The files are as hostile as whoever could write them: a read never follows more than the
//! engine's own layout, never exceeds its bound, and a file that does not parse names nothing.

use std::path::Path;

use portscope_core::provenance::Container;

use super::parse;

/// The most a state file is read (a containers.json lists every container of the host).
const MAX_STATE_FILE: u64 = 8 << 20;
/// The most directory entries looked at under /var/log/pods or /var/log/containers.
const MAX_ENTRIES: usize = 20_000;

fn read(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // No link is followed into a state file, and a FIFO planted there never blocks the read: an
    // engine writes regular files.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE_FILE).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// An id safe to put in a path: hex, as every engine's container id is.
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container of a process whose /proc/PID/cgroup reads `cgroup`, named from the state files
/// under `root`; `None` when the cgroup is no container's.
pub fn of_cgroup(root: &Path, cgroup: &str) -> Option<Container> {
    let path = parse::cgroup_path(cgroup)?;
    match crate::cgroup::supervisor(cgroup.as_bytes())? {
        portscope_core::model::Supervisor::Container { runtime, id } => {
            Some(describe(root, &runtime, &id, path))
        }
        _ => None,
    }
}

/// `engine`'s container `id`, named from its state files under `root`; `cgroup` is the
/// process's cgroup path (for a Kubernetes pod's UID).
pub fn describe(root: &Path, engine: &str, id: &str, cgroup: &str) -> Container {
    let mut container = Container {
        engine: engine.to_string(),
        id: id.to_string(),
        ..Container::default()
    };
    let safe = safe_id(id);
    match engine {
        "docker" if safe => {
            let dir = root.join("var/lib/docker/containers").join(id);
            container.name = read(&dir.join("config.v2.json")).and_then(|b| parse::docker_name(&b));
            container.restart = read(&dir.join("hostconfig.json")).and_then(|b| parse::docker_restart(&b));
        }
        "podman" | "cri-o" if safe => {
            container.name = storage_name(root, id);
        }
        _ => {}
    }
    if let Some(uid) = parse::pod_uid(cgroup) {
        if let Some((namespace, pod)) = pod_of(root, &uid) {
            container.namespace = Some(namespace);
            container.pod = Some(pod);
        }
        if container.name.is_none() && safe {
            container.name = kubernetes_container_name(root, id);
        }
    }
    container
}

fn storage_name(root: &Path, id: &str) -> Option<String> {
    [
        "var/lib/containers/storage/overlay-containers/containers.json",
        "run/containers/storage/overlay-containers/containers.json",
    ]
    .iter()
    .find_map(|path| read(&root.join(path)).and_then(|b| parse::storage_name(&b, id)))
}

/// The namespace and name of the pod with this UID, from the kubelet's log directories.
fn pod_of(root: &Path, uid: &str) -> Option<(String, String)> {
    let dir = std::fs::read_dir(root.join("var/log/pods")).ok()?;
    dir.take(MAX_ENTRIES).flatten().find_map(|entry| {
        let name = entry.file_name();
        let (namespace, pod, found) = parse::pod_log_dir(name.to_str()?)?;
        (found == uid).then(|| (namespace.to_string(), pod.to_string()))
    })
}

/// The container's name from the kubelet's `var/log/containers` link for its id.
fn kubernetes_container_name(root: &Path, id: &str) -> Option<String> {
    let dir = std::fs::read_dir(root.join("var/log/containers")).ok()?;
    dir.take(MAX_ENTRIES).flatten().find_map(|entry| {
        let name = entry.file_name();
        parse::container_log_name(name.to_str()?, id).map(str::to_string)
    })
}
