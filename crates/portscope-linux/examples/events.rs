//! Prints the kernel socket events portscope's eBPF programs deliver, for a few seconds
//! (`cargo run -p portscope-linux --example events -- SECONDS`; needs root or CAP_BPF+CAP_PERFMON).

use std::time::{Duration, Instant};

use portscope_core::watch::kernel::EventStream;

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut stream = match portscope_linux::events::BpfEvents::start(None) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("events: {e}");
            std::process::exit(1);
        }
    };
    for missing in stream.missing() {
        eprintln!("events: {missing}");
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut batch = Vec::new();
    while Instant::now() < end {
        batch.clear();
        if let Err(e) = stream.next_batch(Duration::from_millis(100), &mut batch) {
            eprintln!("events: {e}");
            std::process::exit(1);
        }
        for event in &batch {
            println!("{event:?}");
        }
    }
    eprintln!("events: {} lost", stream.lost());
}
