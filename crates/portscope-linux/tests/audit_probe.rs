//! The pieces of `audit --deep` on sockets this test owns: the bind probe sees a port taken, and
//! the bound-only dump lists a TCP socket that is bound without listening (which the ordinary
//! socket table leaves out, and which would otherwise look hidden).
//!
//! The probe only binds: no listening, connecting or traffic, and only ports this test holds.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

use portscope_core::model::{Family, Protocol};
use portscope_linux::bind_probe;
use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, getsockname, socket_with};

/// A TCP socket bound to a free loopback port and never listening; returns it and its port.
fn bound_only_tcp() -> (std::os::fd::OwnedFd, u16) {
    let fd = socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    bind(&fd, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = std::net::SocketAddr::try_from(getsockname(&fd).expect("getsockname")).expect("inet address");
    (fd, addr.port())
}

#[test]
fn probe_sees_our_own_ports_taken() {
    let (_tcp, tcp_port) = bound_only_tcp();
    let result = bind_probe::probe(Protocol::Tcp, Family::Ipv4, [tcp_port]).expect("probe");
    assert_eq!(result.in_use, vec![tcp_port]);

    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let udp_port = udp.local_addr().unwrap().port();
    let result = bind_probe::probe(Protocol::Udp, Family::Ipv4, [udp_port]).expect("probe");
    assert_eq!(result.in_use, vec![udp_port]);
}

#[test]
fn bound_only_tcp_socket_is_listed_where_the_kernel_can() {
    if !bind_probe::bound_inactive_supported() {
        eprintln!("skipping: this kernel does not list bound-only TCP sockets (Linux < 6.8)");
        return;
    }
    let (_tcp, port) = bound_only_tcp();
    let snapshot = portscope_linux::snapshot(&portscope_core::platform::Query::default()).expect("snapshot");
    let socket = snapshot
        .sockets
        .iter()
        .find(|s| s.local.port == port && s.protocol == Protocol::Tcp);
    assert_eq!(
        socket.map(|s| s.state),
        Some(portscope_core::model::SocketState::BoundInactive),
        "{port}"
    );
}
