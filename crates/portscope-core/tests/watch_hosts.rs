//! watch's poller and diff on recorded hosts: a port that closes when its holder exits, a
//! supervisor's restart seen as a new owner, worker processes that do not count as owners, and
//! the cheap poll that skips the full walk when nothing changed.

use std::time::Duration;

use portscope_core::platform::CloseSignal;
use portscope_core::platform::prelude::*;
use portscope_core::watch::poll::Poller;
use portscope_core::watch::{EventKind, diff};
use portscope_fixture::FixturePlatform;

const HOST: &str = r#"
[[process]]
pid = 100
name = "nginx"
exe = "/usr/sbin/nginx"
[[process]]
pid = 101
ppid = 100
name = "nginx"
exe = "/usr/sbin/nginx"
[[process]]
pid = 200
name = "redis-server"
exe = "/usr/bin/redis-server"
comeback = true

[[socket]]
local = "0.0.0.0:80"
state = "LISTEN"
holders = [100, 101]
[[socket]]
local = "127.0.0.1:6379"
state = "LISTEN"
holders = [200]
[[socket]]
local = "127.0.0.1:80"
remote = "127.0.0.1:50000"
state = "ESTABLISHED"
holders = [101]
"#;

fn stop(host: &FixturePlatform, pid: u32) {
    let pin = host.pin(pid).expect("alive");
    pin.signal(CloseSignal::Term).expect("signalled");
    assert!(pin.wait_exit(Duration::ZERO).expect("waited"));
}

#[test]
fn the_master_process_owns_a_port_its_workers_share() {
    let host = FixturePlatform::from_toml(HOST).unwrap();
    let mut poller = Poller::new(&host, false);
    let (_, table) = poller.full().unwrap();
    assert_eq!(table.len(), 2, "listeners only: {table:?}");
    let web = table.ports.iter().find(|(k, _)| k.port == 80).unwrap().1;
    assert_eq!(web.as_ref().map(|o| o.pid), Some(100));

    // A worker that exits is not an owner change.
    stop(&host, 101);
    let now = poller.poll(&table).unwrap();
    if let Some(now) = now {
        let (events, _) = diff(&table, &now, 0);
        assert!(events.is_empty(), "{events:?}");
    }
}

#[test]
fn a_closed_port_names_its_last_owner() {
    let host = FixturePlatform::from_toml(HOST).unwrap();
    let mut poller = Poller::new(&host, false);
    let (_, table) = poller.full().unwrap();
    stop(&host, 100);
    stop(&host, 101);
    let now = poller.poll(&table).unwrap().expect("the socket set changed");
    let (events, next) = diff(&table, &now, 42);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, EventKind::Closed);
    assert_eq!(events[0].key.port, 80);
    assert_eq!(events[0].owner.as_ref().map(|o| o.pid), Some(100));
    assert_eq!(events[0].time_ms, 42);
    assert_eq!(next.len(), 1);
}

#[test]
fn a_restart_by_a_supervisor_is_a_close_and_an_open() {
    let host = FixturePlatform::from_toml(HOST).unwrap();
    let mut poller = Poller::new(&host, false);
    let (_, table) = poller.full().unwrap();
    stop(&host, 200);
    let now = poller.poll(&table).unwrap().expect("a new socket");
    let (events, _) = diff(&table, &now, 0);
    // Same port, new socket, new pid: the key is the same port, so it is an owner change.
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, EventKind::OwnerChanged);
    assert_eq!(events[0].previous.as_ref().map(|o| o.pid), Some(200));
    assert_eq!(events[0].owner.as_ref().map(|o| o.pid), Some(1200));
}

#[test]
fn nothing_changed_means_no_full_walk() {
    let host = FixturePlatform::from_toml(HOST).unwrap();
    let mut poller = Poller::new(&host, true);
    let (_, table) = poller.full().unwrap();
    assert_eq!(table.len(), 3, "connections too: {table:?}");
    assert!(
        poller.poll(&table).unwrap().is_none(),
        "the cheap poll saw no change"
    );
}

#[test]
fn event_lines_use_the_platforms_clock_format() {
    let host = FixturePlatform::from_toml(HOST).unwrap();
    let mut poller = Poller::new(&host, false);
    let (_, table) = poller.full().unwrap();
    stop(&host, 100);
    stop(&host, 101);
    let now = poller.poll(&table).unwrap().unwrap();
    let (events, _) = diff(&table, &now, 0);
    let line = events[0].line(|_| "T".to_string());
    assert!(line.starts_with("T  closed"), "{line}");
    assert!(
        line.contains("tcp 0.0.0.0:80") && line.contains("nginx"),
        "{line}"
    );
}
