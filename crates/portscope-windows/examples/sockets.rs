//! Lists the TCP and UDP sockets the Windows platform sees, one per line, with the owning
//! process: a manual check of the platform on a Windows machine (or under Wine), without the
//! CLI. `cargo run -p portscope-windows --example sockets`.

#[cfg(windows)]
fn main() {
    use portscope_core::platform::{Collect, NetnsSelection, Query};

    let platform = portscope_windows::Windows::new(NetnsSelection::All);
    let snapshot = match platform.snapshot(&Query::ports()) {
        Ok(snapshot) => snapshot,
        Err(err) => {
            eprintln!("sockets: {err}");
            std::process::exit(4);
        }
    };
    for socket in &snapshot.sockets {
        let holder = socket.holders.first().map(|h| &h.process);
        println!(
            "{:<4} {:<46} {:<46} {:<12} {:>6} {}",
            socket.protocol,
            socket.local.to_string(),
            socket.remote.to_string(),
            socket.state.as_str(),
            holder.map_or(String::from("-"), |p| p.pid.to_string()),
            holder
                .and_then(|p| p.exe.as_deref())
                .map_or(String::new(), |e| portscope_core::render::path(e).into_owned()),
        );
    }
    for note in &snapshot.notes {
        eprintln!("note: {note}");
    }
}

#[cfg(not(windows))]
fn main() {
    eprintln!("sockets: this example lists sockets through the Windows platform; it runs on Windows only");
    std::process::exit(2);
}
