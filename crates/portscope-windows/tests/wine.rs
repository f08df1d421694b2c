//! The Windows platform on a live system: its own sockets, a child process it starts, closing
//! that child, and the refusal list. Written for Wine 8 (how `.ci/windows` runs them) as well as
//! real Windows; where Wine 8 differs, the test says so:
//! - Wine builds the socket tables from Linux's /proc/net files, so the Linux host's sockets
//!   appear too, with owner pid 0, and its IPv6 rows always show owner pid 0;
//! - a Wine process's socket shows its owner pid only once the process used it on its own side:
//!   a client after connect and send does; a listener after a client-side socket option call (the
//!   tests set IP_TTL on it); an accepted socket stays at pid 0 (so no test asks for it).
//!
//! Every socket is opened on the loopback addresses, to the test itself.
#![cfg(windows)]
// Only the DACL test calls Windows directly, to give its directories the ACLs it judges.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::windows::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portscope_core::close::safety::{self, Refusal};
use portscope_core::model::{Protocol, Snapshot, Socket, SocketState, Supervisor};
use portscope_core::platform::{CloseSignal, ControlError, NetnsSelection, Query, prelude::*};
use portscope_windows::Windows;

fn platform() -> Windows {
    Windows::new(NetnsSelection::All)
}

fn find<'a>(snapshot: &'a Snapshot, protocol: Protocol, local: SocketAddr) -> Option<&'a Socket> {
    snapshot
        .sockets
        .iter()
        .find(|s| s.protocol == protocol && s.local.address == local.ip() && s.local.port == local.port())
}

/// Two paths name the same file: Windows compares without case, and std may add `\\?\`.
fn same_path(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| {
        let text = p.to_string_lossy().to_lowercase();
        text.strip_prefix(r"\\?\").map(str::to_string).unwrap_or(text)
    };
    norm(a) == norm(b)
}

/// Whether the tests run under Wine (its ntdll exports `wine_get_version`).
fn is_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll".encode_utf16().chain(Some(0)).collect();
    // SAFETY: ntdll is loaded in every process; both names are NUL-terminated.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

fn own_exe() -> std::path::PathBuf {
    std::env::current_exe().expect("own path")
}

#[test]
fn the_platform_reads_its_own_listener_and_client_with_pid_and_image() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // Wine 8: the step that makes the listener show its own pid.
    listener.set_ttl(64).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"hello").unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    let mut buf = [0u8; 5];
    accepted.read_exact(&mut buf).unwrap();

    let snapshot = platform().snapshot(&Query::ports()).expect("snapshot");
    let me = std::process::id();
    let listening = find(&snapshot, Protocol::Tcp, addr).expect("own listener listed");
    assert_eq!(listening.state, SocketState::Listen);
    let holder = &listening.holders.first().expect("listener has its owner").process;
    assert_eq!(holder.pid, me);
    assert!(
        same_path(holder.exe.as_deref().expect("image path"), &own_exe()),
        "{:?}",
        holder.exe
    );
    assert_ne!(listening.inode, 0, "a held socket has a key close can check");

    let client_addr = client.local_addr().unwrap();
    let connection = find(&snapshot, Protocol::Tcp, client_addr).expect("own client listed");
    assert_eq!(connection.state, SocketState::Established);
    assert_eq!(connection.remote.port, addr.port());
    assert_eq!(connection.holders[0].process.pid, me);
    let process = &connection.holders[0].process;
    assert!(process.start_time.is_some(), "creation time read");
    assert!(process.user.is_some(), "token user read");
    assert!(
        process
            .cmdline
            .first()
            .is_some_and(|a| a.to_lowercase().ends_with(".exe")),
        "{:?}",
        process.cmdline
    );
}

#[test]
fn ipv6_and_udp_rows_of_its_own_sockets_decode() {
    let me = std::process::id();
    let listener6 = TcpListener::bind("[::1]:0").unwrap();
    let addr6 = listener6.local_addr().unwrap();
    let mut client6 = TcpStream::connect(addr6).unwrap();
    client6.write_all(b"x").unwrap();
    let _accepted6 = listener6.accept().unwrap();
    let udp4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp6 = UdpSocket::bind("[::1]:0").unwrap();
    // Sent from each socket (to itself): used on the process's own side.
    udp4.send_to(b"a", udp4.local_addr().unwrap()).unwrap();
    udp6.send_to(b"b", udp6.local_addr().unwrap()).unwrap();

    let snapshot = platform().snapshot(&Query::ports()).expect("snapshot");
    let listening = find(&snapshot, Protocol::Tcp, addr6).expect("IPv6 listener listed");
    assert_eq!(listening.state, SocketState::Listen);
    assert!(listening.remote.address.is_unspecified() && listening.remote.port == 0);
    let client = find(&snapshot, Protocol::Tcp, client6.local_addr().unwrap()).expect("IPv6 client listed");
    assert_eq!(client.state, SocketState::Established);
    assert_eq!(client.remote.to_string(), format!("[::1]:{}", addr6.port()));
    // Wine 8 lists IPv6 sockets with owner pid 0 whatever the process does with them (the IPv4
    // steps above do not help); real Windows names the owner.
    for row in [listening, client] {
        if let Some(holder) = row.holders.first() {
            assert_eq!(holder.process.pid, me);
        }
    }
    for udp in [&udp4, &udp6] {
        let addr = udp.local_addr().unwrap();
        let row = find(&snapshot, Protocol::Udp, addr).unwrap_or_else(|| panic!("UDP {addr} listed"));
        assert_eq!(row.state, SocketState::Unconnected);
        // Wine 8 may show pid 0 for a UDP socket; when it names an owner, it is this process.
        if let Some(holder) = row.holders.first() {
            assert_eq!(holder.process.pid, me);
        }
    }
    // The query's family and protocol filters reach the tables.
    let only_v4_tcp = platform()
        .snapshot(&Query {
            udp: false,
            ipv6: false,
            ..Query::ports()
        })
        .unwrap();
    assert!(find(&only_v4_tcp, Protocol::Tcp, addr6).is_none());
    assert!(
        only_v4_tcp
            .sockets
            .iter()
            .all(|s| s.protocol == Protocol::Tcp && !s.local.address.is_ipv6())
    );
}

/// The helper the other tests start as a child process: when the variable is set, it listens on
/// 127.0.0.1, prints the port and waits (at most 60 s) to be closed.
#[test]
fn child_helper() {
    if std::env::var_os("PORTSCOPE_WINE_CHILD").is_none() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_ttl(64).unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// Kills the child on drop, so a failed test leaves no process behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CREATE_NEW_PROCESS_GROUP: u32 = 0x200;

/// Starts the helper (a copy of this test binary) and waits for its port.
fn start_child(flags: u32) -> (ChildGuard, u16) {
    let mut child = Command::new(own_exe())
        .args(["child_helper", "--exact", "--nocapture", "--test-threads=1"])
        .env("PORTSCOPE_WINE_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .creation_flags(flags)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut port = None;
    for line in BufReader::new(stdout).lines().take(50) {
        // libtest prints `test child_helper ... ` before the helper's own line.
        if let Some((_, p)) = line.unwrap().split_once("PORT ") {
            port = Some(p.trim().parse().unwrap());
            break;
        }
    }
    (guard, port.expect("the child printed its port"))
}

#[test]
fn process_facts_of_a_child_it_starts() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (child, port) = start_child(0);
    let pid = child.0.id();
    let platform = platform();
    let snapshot = platform.snapshot(&Query::ports()).unwrap();
    let listener =
        find(&snapshot, Protocol::Tcp, SocketAddr::from(([127, 0, 0, 1], port))).expect("child's listener");
    let process = &listener.holders.first().expect("owned by the child").process;
    assert_eq!(process.pid, pid);
    assert_eq!(process.ppid, std::process::id());
    assert!(same_path(process.exe.as_deref().unwrap(), &own_exe()));
    assert!(
        process.cmdline.iter().any(|a| a == "child_helper"),
        "{:?}",
        process.cmdline
    );
    assert!(process.cmdline.iter().any(|a| a == "--test-threads=1"));
    let started = process.start_time.expect("creation time");
    assert!(started + 2 >= before, "started {started}, test began {before}");
    assert_eq!(platform.parent(pid), Ok(Some(std::process::id())));
    let identity = platform.identity(pid).expect("alive");
    assert_eq!(identity.start_time, Some(started));
    assert!(same_path(identity.exe.as_deref().unwrap(), &own_exe()));
    assert!(platform.self_info().ancestors.iter().all(|&a| a != pid));
}

#[test]
fn close_asks_politely_then_forces_and_a_closed_pid_is_gone() {
    let platform = platform();
    // Without a window or a console group of its own, nothing asks it politely: it keeps running
    // until the force step.
    let (child, port) = start_child(0);
    let pid = child.0.id();
    let snapshot = platform.snapshot(&Query::ports()).unwrap();
    let key = find(&snapshot, Protocol::Tcp, SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap()
        .inode;
    let pin = platform.pin(pid).expect("pinned");
    assert_eq!(pin.pid(), pid);
    assert!(
        pin.holds_any(&[key]).unwrap(),
        "the pinned child holds its listener"
    );
    assert!(!pin.holds_any(&[12345]).unwrap());
    pin.signal(CloseSignal::Term).unwrap();
    let polite = pin.wait_exit(Duration::from_millis(1500)).unwrap();
    if !polite {
        pin.signal(CloseSignal::Kill).unwrap();
        assert!(pin.wait_exit(Duration::from_secs(10)).unwrap(), "terminated");
    }
    assert!(matches!(pin.signal(CloseSignal::Kill), Err(ControlError::Gone)));
    drop(pin);
    drop(child);
    assert!(matches!(platform.pin(pid), Err(ControlError::Gone)));

    // A console program in a process group of its own gets Ctrl-Break first; if Wine does not
    // deliver it, the force step ends it all the same.
    let (child, _) = start_child(CREATE_NEW_PROCESS_GROUP);
    let pin = platform.pin(child.0.id()).unwrap();
    pin.signal(CloseSignal::Term).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    if !pin.wait_exit(Duration::from_millis(1500)).unwrap() {
        pin.signal(CloseSignal::Kill).unwrap();
    }
    assert!(
        pin.wait_exit(deadline.saturating_duration_since(Instant::now()))
            .unwrap()
    );
}

#[test]
fn the_refusal_list_reaches_close() {
    let platform = platform();
    assert_eq!(platform.critical_process(4), Some("System"));
    assert!(platform.is_kernel_thread(4) && platform.is_kernel_thread(0));
    let me = std::process::id();
    assert_eq!(platform.critical_process(me), None);
    let context = safety::Context::of(&platform);
    let own = platform.snapshot(&Query::ports()).unwrap();
    let _ = own;
    let myself = portscope_core::model::Process::new(me, 0, "portscope.exe");
    assert_eq!(
        safety::check(&myself, safety::Facts::of(&platform, me), &context),
        Some(Refusal::Itself)
    );
    // Wine runs its own services.exe from C:\windows\system32: the system's, so refused.
    let services = platform
        .processes()
        .expect("process list")
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case("services.exe"))
        .expect("Wine's services.exe runs");
    assert_eq!(platform.critical_process(services.pid), Some("services.exe"));
    let refusal = safety::check(&services, safety::Facts::of(&platform, services.pid), &context);
    assert_eq!(refusal, Some(Refusal::SystemCritical { name: "services.exe" }));
}

#[test]
fn services_and_privileges_are_read() {
    let platform = platform();
    let privileges = platform.privileges();
    // Whatever the token, portscope's own "uid" is its account's relative id.
    assert_ne!(privileges.euid, u32::MAX);
    assert!(platform.can_stop_units(), "the service control manager answers");
    // Wine's services.exe hosts services of its own (rpcss, plugplay, …): some process of the
    // list is a service.
    let processes = platform.processes().unwrap();
    assert!(
        processes
            .iter()
            .any(|p| matches!(&p.supervisor, Some(Supervisor::WindowsService { .. }))),
        "no process is a service"
    );
}

#[test]
fn session_services_answer() {
    let platform = platform();
    // 2026-11-25T14:03:07Z in the prefix's time zone: a well-formed local time, and the offset
    // between the two is what utc_offset_ms says.
    let moment = 1_795_615_387_000;
    let local = platform.local_time(moment);
    assert_eq!(local.len(), "2026-11-25 14:03:07".len(), "{local}");
    let offset = platform.utc_offset_ms(moment);
    assert!(offset.abs() <= 14 * 3_600_000, "{offset}");
    assert!(
        platform
            .block_stop_signals()
            .unwrap()
            .wait(Duration::from_millis(10))
            .is_none()
    );
    // A tree started by a command ends with it.
    let (child, _) = start_child(0);
    let pid = child.0.id();
    platform.kill_process_group(pid);
    let pin = platform.pin(pid);
    assert!(
        matches!(&pin, Err(ControlError::Gone)) || pin.unwrap().wait_exit(Duration::from_secs(10)).unwrap(),
        "the command was ended"
    );
    // The bind probe finds a port this test holds.
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let probe = platform
        .bind_probe(Protocol::Tcp, portscope_core::model::Family::Ipv4, &[port])
        .unwrap();
    assert_eq!(probe.in_use, vec![port]);
}

/// What `portscope close --pid N --yes` does, through the core: plan on a snapshot, then
/// execute. Without `--force` the windowless child stays (Windows has no SIGTERM for it); with
/// `--force` it is terminated and its port is free.
#[test]
fn the_cores_close_stops_a_child_only_with_force() {
    use portscope_core::close::execute::{self, Options, Outcome};
    use portscope_core::close::plan::{self, Action};
    use portscope_core::close::spec::ProcessSpec;

    let platform = platform();
    let (child, port) = start_child(0);
    let pid = child.0.id();
    let context = safety::Context::of(&platform);
    let plan_for = |pid| {
        let spec = ProcessSpec {
            pid: Some(pid),
            name: None,
        };
        let snapshot = platform.snapshot(&Query::ports()).unwrap();
        plan::build(
            spec,
            &snapshot,
            &context,
            |p| safety::Facts::of(&platform, p),
            false,
        )
    };
    let plan = plan_for(pid);
    assert_eq!(plan.targets.len(), 1, "the child is the one target");
    assert_eq!(plan.targets[0].action, Action::Signal);
    let observe = |_| platform.snapshot(&Query::ports());
    let options = |force| Options {
        force,
        timeout: Duration::from_millis(1500),
        watch: Duration::ZERO,
    };
    let polite = execute::execute(&platform, &plan, options(false), observe).unwrap();
    assert_eq!(polite.targets[0].outcome, Outcome::StillRunning);
    assert!(!polite.port_free);
    let forced = execute::execute(&platform, &plan, options(true), observe).unwrap();
    assert_eq!(forced.targets[0].outcome, Outcome::Killed);
    assert!(forced.port_free, "{:?}", forced.still_open);
    let after = platform.snapshot(&Query::ports()).unwrap();
    assert!(find(&after, Protocol::Tcp, SocketAddr::from(([127, 0, 0, 1], port))).is_none());
    drop(child);
}

#[test]
fn the_listing_and_asking_by_pid_agree_on_a_child() {
    let platform = platform();
    let (mut child, _) = start_child(0);
    let pid = child.0.id();
    let listed = platform.listed_pids().unwrap().unwrap();
    assert!(listed.contains(&pid) && listed.contains(&std::process::id()));
    assert_eq!(platform.pid_answers(pid), Ok(true));
    assert_eq!(platform.thread_group(pid), Ok(Some(pid)));
    assert!(platform.pid_max().unwrap() > pid);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert_eq!(
        platform.pid_answers(pid),
        Ok(false),
        "an exited process does not answer"
    );
    assert_eq!(platform.pid_answers(pid + 1), Ok(false), "not a multiple of 4");
}

/// A directory whose DACL lets Everyone add files is user-writable; one whose protected DACL
/// grants nobody is not. (Wine keeps a set DACL in the file's extended attributes.)
#[test]
fn user_writable_directories_by_their_dacl() {
    use windows_sys::Win32::Security::Authorization::{SE_FILE_OBJECT, SetNamedSecurityInfoW};
    use windows_sys::Win32::Security::{
        ACL, ACL_REVISION, AddAccessAllowedAce, CreateWellKnownSid, DACL_SECURITY_INFORMATION, InitializeAcl,
        PROTECTED_DACL_SECURITY_INFORMATION, WinWorldSid,
    };

    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    // Outside every known drop (%TEMP% is one, whatever its DACL): the system drive's root.
    let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into());
    let base = Dir(Path::new(&format!("{drive}\\")).join(format!("portscope-dacl-{}", std::process::id())));
    let open = base.0.join("open");
    let closed = base.0.join("closed");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::create_dir_all(&closed).unwrap();
    let set = |dir: &Path, grant_everyone: bool| {
        let mut acl = [0u64; 32];
        let mut sid = [0u64; 9];
        let mut size = 72u32;
        // SAFETY: buffers of the sizes given; the ACL outlives the call that sets it.
        unsafe {
            assert_ne!(
                InitializeAcl(acl.as_mut_ptr().cast::<ACL>(), 256, ACL_REVISION),
                0
            );
            if grant_everyone {
                assert_ne!(
                    CreateWellKnownSid(
                        WinWorldSid,
                        std::ptr::null_mut(),
                        sid.as_mut_ptr().cast(),
                        &mut size
                    ),
                    0
                );
                // FILE_ADD_FILE.
                assert_ne!(
                    AddAccessAllowedAce(
                        acl.as_mut_ptr().cast(),
                        ACL_REVISION,
                        0x2,
                        sid.as_mut_ptr().cast()
                    ),
                    0
                );
            }
            let name: Vec<u16> = dir.to_string_lossy().encode_utf16().chain(Some(0)).collect();
            let code = SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                acl.as_ptr().cast(),
                std::ptr::null(),
            );
            assert_eq!(code, 0, "setting the DACL of {}", dir.display());
        }
    };
    set(&open, true);
    set(&closed, false);
    let platform = platform();
    let me = std::process::id();
    assert_eq!(
        platform.dir_world_writable(me, &open.join("svchost.exe")),
        Some(true)
    );
    assert_eq!(
        platform.dir_world_writable(me, &closed.join("svchost.exe")),
        Some(false)
    );
    // Let the guard remove them: give the owner its rights back.
    for dir in [&open, &closed] {
        let name: Vec<u16> = dir.to_string_lossy().encode_utf16().chain(Some(0)).collect();
        // SAFETY: a null DACL (full access) on a path this test made.
        unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            );
        }
    }
}

/// Cutting a connection: an IPv6 one is refused with a clear reason; an IPv4 one goes to
/// SetTcpEntry, which Wine 8 only pretends to do: there the platform says it cannot.
#[test]
fn an_ipv6_connection_cannot_be_cut_and_says_why() {
    use portscope_core::close::connections;
    let platform = platform();
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.write_all(b"x").unwrap();
    let _accepted = listener.accept().unwrap();
    let all = platform.connections().unwrap();
    let mine = all
        .iter()
        .find(|s| s.local.port == client.local_addr().unwrap().port() && s.local.address.is_ipv6())
        .expect("the IPv6 connection is listed");
    let err = connections::cut(&platform, std::slice::from_ref(mine)).unwrap_err();
    assert!(err.to_string().contains("IPv4 TCP connections only"), "{err}");

    let listener4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client4 = TcpStream::connect(listener4.local_addr().unwrap()).unwrap();
    client4.write_all(b"x").unwrap();
    let (mut accepted4, _) = listener4.accept().unwrap();
    let port = client4.local_addr().unwrap().port();
    let mine4 = platform
        .connections()
        .unwrap()
        .into_iter()
        .find(|s| s.local.port == port && !s.local.address.is_ipv6())
        .expect("the IPv4 connection is listed");
    let cut = connections::cut(&platform, &[mine4]);
    if is_wine() {
        // Wine 8's SetTcpEntry answers success and cuts nothing: the platform says it cannot.
        let err = cut.unwrap_err().to_string();
        assert!(err.contains("Wine does not implement SetTcpEntry"), "{err}");
    } else {
        // Real Windows: cut (elevated), or refused for want of elevation.
        match cut {
            Ok(cuts) => {
                assert_eq!(cuts[0].result, "destroyed");
                client4.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = accepted4.write_all(b"y");
                let mut buf = [0u8; 1];
                assert!(
                    !matches!(client4.read(&mut buf), Ok(1)),
                    "the connection still carries data"
                );
            }
            Err(err) => assert!(err.to_string().contains("elevated token"), "{err}"),
        }
    }
}

/// The core's audit on the Windows platform: every rule runs or is named "not checked" once,
/// with the fact Windows lacks; the test binary is not taken for a system program.
#[test]
fn audit_runs_on_windows_and_names_what_it_could_not_check() {
    use portscope_core::audit::{self, expected::Expected};
    use portscope_core::knowledge::ServiceNames;

    let platform = platform();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_ttl(64).unwrap();
    let snapshot = platform.snapshot(&Query::default()).unwrap();
    let options = audit::Options {
        deep: false,
        allow: Vec::new(),
        names: ServiceNames::iana(),
    };
    let report = audit::run(&platform, &snapshot, &Expected::built_in().unwrap(), &options).unwrap();
    let not_checked: Vec<String> = report
        .not_checked
        .iter()
        .map(|n| format!("{} ({})", n.check.as_str(), n.fact))
        .collect();
    // Without --deep (which would bind every port of this machine): the preload rule is the one
    // that needs facts Windows lacks (/etc/ld.so.preload, process environments).
    assert!(
        not_checked.contains(&"preload (preload_file)".to_string()),
        "{not_checked:?}"
    );
    let mut seen = std::collections::HashSet::new();
    assert!(
        not_checked.iter().all(|n| seen.insert(n)),
        "each once: {not_checked:?}"
    );
    let me = std::process::id();
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.check.as_str() == "masquerade" && f.process.as_ref().is_some_and(|p| p.pid == me)),
        "the test binary is no system program"
    );
}
