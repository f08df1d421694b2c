//! The engine portscope did not pick, kept so the choice can be measured again: a tokio connect
//! scan with a fixed number of tasks in flight and one timeout, no retries.
//!
//!   ip netns exec NS cargo run --release --example tokio_connect_scan -- 198.18.0.2 1 65535 4096
//!
//! Prints the open ports. bench/scan.sh times it next to `portscope scan`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpSocket;
use tokio::sync::Semaphore;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(ip), Some(first), Some(last), Some(parallel)) = (
        args.get(1).and_then(|a| a.parse::<IpAddr>().ok()),
        args.get(2).and_then(|a| a.parse::<u16>().ok()),
        args.get(3).and_then(|a| a.parse::<u16>().ok()),
        args.get(4).and_then(|a| a.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: tokio_connect_scan ADDRESS FIRST_PORT LAST_PORT PARALLEL");
        std::process::exit(2);
    };
    let limit = portscope::scan::engine::raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            std::process::exit(4);
        }
    };
    let open = runtime.block_on(async move {
        let permits = Arc::new(Semaphore::new(parallel.min(limit)));
        let mut tasks = Vec::new();
        for port in first..=last {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            tasks.push(tokio::spawn(async move {
                let addr = SocketAddr::new(ip, port);
                let socket = if ip.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .ok()?;
                let stream = tokio::time::timeout(Duration::from_millis(500), socket.connect(addr)).await;
                drop(permit);
                match stream {
                    Ok(Ok(s)) if s.local_addr().ok() != Some(addr) => Some(port),
                    _ => None,
                }
            }));
        }
        let mut open = Vec::new();
        for task in tasks {
            if let Ok(Some(port)) = task.await {
                open.push(port);
            }
        }
        open
    });
    let list: Vec<String> = open.iter().map(u16::to_string).collect();
    println!("{}", list.join(","));
}
