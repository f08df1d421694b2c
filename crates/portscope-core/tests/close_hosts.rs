//! `close`'s decisions and their execution on recorded hosts: who is signalled, who is refused and
//! why, which error a user sees, what a supervisor's restart looks like, and what a cut connection
//! does. The FixturePlatform records every control action, so each test asserts exactly what
//! would have been done to a real process, without root and without touching one.

use std::time::Duration;

use portscope_core::close::connections::{self, Selector};
use portscope_core::close::execute::{self, Options, Outcome};
use portscope_core::close::plan::{self, Action, Plan};
use portscope_core::close::safety::{self, Context, Refusal};
use portscope_core::close::spec::{PortSpec, ProcessSpec, Spec};
use portscope_core::close::suggest;
use portscope_core::error::Error;
use portscope_core::platform::prelude::*;
use portscope_core::platform::{CloseSignal, Query};
use portscope_fixture::{self as fixture, FixturePlatform};

const WEB: &str = r#"
[host]
self_pid = 500
ancestors = [400, 1]

[[process]]
pid = 10
name = "web"
exe = "/usr/sbin/web"

[[socket]]
local = "0.0.0.0:8080"
state = "LISTEN"
holders = [10]
"#;

fn host(text: &str) -> FixturePlatform {
    FixturePlatform::from_toml(text).expect("fixture parses")
}

fn port(port: u16) -> PortSpec {
    PortSpec {
        port,
        tcp: true,
        udp: true,
        address: None,
    }
}

fn plan_for(host: &FixturePlatform, spec: PortSpec, use_unit: bool) -> Plan {
    let snapshot = host.snapshot(&spec.query()).expect("snapshot");
    plan::build(
        spec,
        &snapshot,
        &Context::of(host),
        |pid| safety::Facts::of(host, pid),
        use_unit,
    )
}

fn options(force: bool) -> Options {
    Options {
        force,
        timeout: Duration::ZERO,
        watch: Duration::ZERO,
    }
}

fn run(host: &FixturePlatform, plan: &Plan, force: bool) -> execute::Report {
    execute::execute(host, plan, options(force), |processes| {
        host.snapshot(&Query {
            processes,
            ..plan.spec.query()
        })
    })
    .expect("execute")
}

fn preflight(host: &FixturePlatform, plan: &Plan) -> Result<(), Error> {
    let snapshot = host.snapshot(&plan.spec.query()).expect("snapshot");
    plan.preflight(
        snapshot.unreadable_processes,
        host.privileges().read_all,
        host.can_stop_units(),
    )
}

#[test]
fn a_holder_gets_sigterm_and_the_port_is_verified_free() {
    let host = host(WEB);
    let plan = plan_for(&host, port(8080), false);
    assert_eq!(plan.targets.len(), 1);
    assert_eq!(plan.targets[0].action, Action::Signal);
    preflight(&host, &plan).expect("allowed");
    let report = run(&host, &plan, false);
    assert_eq!(report.targets[0].outcome, Outcome::Exited);
    assert!(report.port_free);
    assert_eq!(
        host.actions(),
        [fixture::Action::Signal {
            pid: 10,
            signal: CloseSignal::Term
        }]
    );
}

#[test]
fn a_holder_that_ignores_sigterm_is_killed_only_with_force() {
    let stubborn = WEB.replace(
        "exe = \"/usr/sbin/web\"",
        "exe = \"/usr/sbin/web\"\non_term = \"ignore\"",
    );
    let host1 = host(&stubborn);
    let report = run(&host1, &plan_for(&host1, port(8080), false), false);
    assert_eq!(report.targets[0].outcome, Outcome::StillRunning);
    assert!(!report.port_free, "the port stays open without --force");
    assert_eq!(report.still_open.len(), 1);

    let host2 = host(&stubborn);
    let report = run(&host2, &plan_for(&host2, port(8080), false), true);
    assert_eq!(report.targets[0].outcome, Outcome::Killed);
    assert!(report.port_free);
    let signals: Vec<_> = host2.actions();
    assert_eq!(signals.len(), 2, "SIGTERM, then SIGKILL: {signals:?}");
}

#[test]
fn a_restarted_listener_is_reported_as_come_back() {
    let host = host(&WEB.replace("name = \"web\"", "name = \"web\"\ncomeback = true"));
    let report = run(&host, &plan_for(&host, port(8080), false), false);
    assert_eq!(report.targets[0].outcome, Outcome::Exited);
    assert!(!report.port_free);
    assert_eq!(report.came_back.len(), 1);
    assert_eq!(report.came_back[0].pid, Some(1010), "the new holder is named");
}

#[test]
fn a_systemd_service_is_stopped_with_its_unit_when_asked() {
    let unit = WEB.replace(
        "exe = \"/usr/sbin/web\"",
        "exe = \"/usr/sbin/web\"\nsupervisor = { kind = \"systemd\", unit = \"web.service\" }",
    );
    let host1 = host(&unit);
    let plan = plan_for(&host1, port(8080), false);
    assert_eq!(
        plan.targets[0].action,
        Action::Signal,
        "without --unit it is signalled"
    );
    assert!(
        plan.targets[0]
            .advice
            .as_deref()
            .is_some_and(|a| a.contains("systemctl stop web.service"))
    );
    assert_eq!(
        plan.comeback_window(None, Duration::from_secs(5)),
        Duration::from_secs(5),
        "a supervised holder is watched as long as it got to exit"
    );

    let host2 = host(&unit);
    let plan = plan_for(&host2, port(8080), true);
    assert!(matches!(&plan.targets[0].action, Action::StopUnit { unit, .. } if unit == "web.service"));
    let report = run(&host2, &plan, false);
    assert!(matches!(&report.targets[0].outcome, Outcome::UnitStopped { unit } if unit == "web.service"));
    assert!(report.port_free);

    let host3 = host(&unit.replace("[host]", "[host]\nsystemctl = false"));
    let plan = plan_for(&host3, port(8080), true);
    assert!(matches!(preflight(&host3, &plan), Err(Error::System(m)) if m.contains("systemctl")));
}

#[test]
fn an_unsupervised_holder_is_watched_for_one_second() {
    let host = host(WEB);
    let plan = plan_for(&host, port(8080), false);
    assert_eq!(
        plan.comeback_window(None, Duration::from_secs(5)),
        Duration::from_secs(1)
    );
    assert_eq!(
        plan.comeback_window(Some(Duration::from_millis(300)), Duration::from_secs(5)),
        Duration::from_millis(300)
    );
}

#[test]
fn refusals_protect_init_the_session_and_other_users() {
    let text = r#"
        [host]
        euid = 1000
        privileges = "none"
        self_pid = 500
        ancestors = [400, 1]
        [[process]]
        pid = 1
        name = "init"
        [[process]]
        pid = 400
        name = "bash"
        uid = 1000
        [[process]]
        pid = 600
        name = "postgres"
        uid = 105
        [[process]]
        pid = 2
        name = "kthreadd"
        kernel_thread = true
        [[socket]]
        local = "0.0.0.0:1"
        state = "LISTEN"
        holders = [1]
        [[socket]]
        local = "0.0.0.0:2"
        state = "LISTEN"
        holders = [400]
        [[socket]]
        local = "0.0.0.0:3"
        state = "LISTEN"
        holders = [600]
        [[socket]]
        local = "0.0.0.0:4"
        state = "LISTEN"
        holders = [2]
    "#;
    let host = host(text);
    let refusal = |p: u16| match &plan_for(&host, port(p), false).targets[0].action {
        Action::Refuse(r) => Some(r.clone()),
        _ => None,
    };
    assert_eq!(refusal(1), Some(Refusal::Init));
    assert_eq!(refusal(2), Some(Refusal::Ancestor));
    assert_eq!(refusal(3), Some(Refusal::OtherUser { uid: 105 }));
    assert_eq!(refusal(4), Some(Refusal::KernelThread));
    let err = preflight(&host, &plan_for(&host, port(3), false)).unwrap_err();
    assert!(
        matches!(&err, Error::Refused(m) if m.contains(portscope_core::privilege::KILL)),
        "{err}"
    );
    assert!(host.actions().is_empty(), "a refusal signals nothing");
}

#[test]
fn the_right_error_for_an_empty_or_invisible_port() {
    let unowned = r#"
        [host]
        euid = 1000
        privileges = "none"
        unreadable_processes = 2
        [[socket]]
        local = "0.0.0.0:9000"
        state = "LISTEN"
    "#;
    let user = host(unowned);
    assert!(matches!(
        preflight(&user, &plan_for(&user, port(9001), false)),
        Err(Error::NotFound(_))
    ));
    let err = preflight(&user, &plan_for(&user, port(9000), false)).unwrap_err();
    assert!(
        matches!(&err, Error::Permission { hint, .. } if hint.contains(portscope_core::privilege::READ_ALL)),
        "{err}"
    );

    let root = host(&unowned.replace("privileges = \"none\"", "privileges = \"full\""));
    let err = preflight(&root, &plan_for(&root, port(9000), false)).unwrap_err();
    assert!(
        matches!(&err, Error::Refused(m) if m.contains("kernel socket")),
        "{err}"
    );
}

#[test]
fn a_hostile_name_in_a_refusal_is_escaped() {
    let text = "[[process]]\npid = 1\nname = \"sshd\\u001b[2K\\rnginx\"\n[[socket]]\nlocal = \"0.0.0.0:22\"\nstate = \"LISTEN\"\nholders = [1]\n";
    let host = host(text);
    let err = preflight(&host, &plan_for(&host, port(22), false)).unwrap_err();
    let line = err.to_string();
    assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
    assert!(line.contains("sshd\\e[2K\\rnginx"), "{line}");
}

#[test]
fn connections_are_chosen_and_cut_by_four_tuple() {
    let text = r#"
        [[process]]
        pid = 10
        name = "web"
        [[socket]]
        local = "198.18.0.1:80"
        state = "LISTEN"
        holders = [10]
        [[socket]]
        local = "198.18.0.1:80"
        remote = "198.18.0.2:40000"
        state = "ESTABLISHED"
        holders = [10]
        [[socket]]
        local = "198.18.0.1:80"
        remote = "198.18.1.9:40001"
        state = "ESTABLISHED"
        holders = [10]
    "#;
    let host = host(text);
    let from = Selector::From {
        peers: "198.18.0.0/24".parse().unwrap(),
        port: Some(80),
    };
    let chosen = connections::select(&host, &from).expect("select");
    assert_eq!(
        chosen.len(),
        1,
        "only the peer inside the network, never the listener"
    );
    let cuts = connections::cut(&host, &chosen).expect("cut");
    assert_eq!(cuts[0].result, "destroyed");
    assert_eq!(connections::cut(&host, &chosen).expect("again")[0].result, "gone");
    assert_eq!(connections::select(&host, &from).expect("select").len(), 0);
    assert!(
        !host.has_exited(10),
        "cutting a connection leaves its program running"
    );

    let user =
        FixturePlatform::from_toml(&format!("[host]\nprivileges = \"none\"\neuid = 1000\n{text}")).unwrap();
    let chosen = connections::select(&user, &from).unwrap();
    let err = connections::cut(&user, &chosen).unwrap_err();
    assert!(
        matches!(&err, Error::Permission { hint, .. } if hint.contains(portscope_core::privilege::NET_ADMIN)),
        "{err}"
    );
}

/// The issue's reverse shell: `sh` on a connection out to port 4444, with a copied `nginx` from
/// /tmp listening, and a real sshd whose name a prefix would also catch.
const SHELL: &str = r#"
[host]
self_pid = 500
ancestors = [400, 1]

[[process]]
pid = 23406
name = "sh"
exe = "/usr/bin/dash"

[[process]]
pid = 23407
ppid = 23406
name = "sleep"
exe = "/usr/bin/sleep"

[[process]]
pid = 23400
name = "nginx"
exe = "/tmp/.cache/nginx"

[[process]]
pid = 700
name = "sshd"
exe = "/usr/sbin/sshd"

[[socket]]
local = "198.18.0.1:52000"
remote = "198.18.0.2:4444"
state = "ESTABLISHED"
holders = [23406, 23407]
fds = [0, 1, 2]

[[socket]]
local = "[::]:443"
state = "LISTEN"
holders = [23400]

[[socket]]
local = "198.18.0.1:443"
remote = "198.18.0.2:50000"
state = "ESTABLISHED"
holders = [23400]

[[socket]]
local = "0.0.0.0:22"
state = "LISTEN"
holders = [700]
"#;

fn process_plan(host: &FixturePlatform, pid: Option<u32>, name: Option<&str>) -> Plan {
    let spec = ProcessSpec {
        pid,
        name: name.map(str::to_string),
    };
    let snapshot = host
        .snapshot(&Spec::from(spec.clone()).query())
        .expect("snapshot");
    plan::build(
        spec,
        &snapshot,
        &Context::of(host),
        |pid| safety::Facts::of(host, pid),
        false,
    )
}

#[test]
fn close_pid_stops_a_shell_that_only_holds_a_connection() {
    let host = host(SHELL);
    let plan = process_plan(&host, Some(23406), None);
    assert_eq!(plan.sockets.len(), 1, "the shell's connection");
    let pids: Vec<u32> = plan.targets.iter().map(|t| t.process.pid).collect();
    assert_eq!(
        pids,
        [23406, 23407],
        "the shell and the child it handed the socket to"
    );
    preflight(&host, &plan).expect("allowed");
    let report = run(&host, &plan, false);
    assert!(
        report.targets.iter().all(|t| t.outcome == Outcome::Exited),
        "{report:?}"
    );
    assert!(report.port_free, "its socket is gone: {report:?}");
    assert_eq!(
        host.actions(),
        [
            fixture::Action::Signal {
                pid: 23406,
                signal: CloseSignal::Term
            },
            fixture::Action::Signal {
                pid: 23407,
                signal: CloseSignal::Term
            }
        ]
    );
}

#[test]
fn close_process_takes_an_exact_executable_name_with_every_socket() {
    let host = host(SHELL);
    let plan = process_plan(&host, None, Some("nginx"));
    assert_eq!(plan.sockets.len(), 2, "listener and connection");
    assert_eq!(plan.targets.len(), 1);
    assert!(
        process_plan(&host, None, Some("ssh")).sockets.is_empty(),
        "a prefix never selects sshd"
    );
    let err = preflight(&host, &process_plan(&host, None, Some("ssh"))).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(err.to_string().contains("processes named ssh"), "{err}");
    let err = preflight(&host, &process_plan(&host, Some(999), None)).unwrap_err();
    assert!(err.to_string().contains("process 999 holds no"), "{err}");
}

#[test]
fn close_pid_refuses_portscopes_own_session() {
    let host = host(
        &SHELL
            .replace("pid = 23406", "pid = 400")
            .replace("holders = [23406, 23407]", "holders = [400]"),
    );
    let plan = process_plan(&host, Some(400), None);
    let err = preflight(&host, &plan).unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert!(err.to_string().contains("PID 400 (sh)"), "{err}");
    assert!(host.actions().is_empty());
}

#[test]
fn every_finding_names_the_close_command_that_acts_on_it() {
    use portscope_core::audit::{self, expected::Expected};
    let host = host(SHELL);
    let snapshot = host.snapshot(&Query::default()).expect("snapshot");
    let report = audit::run(
        &host,
        &snapshot,
        &Expected::built_in().expect("expected"),
        &audit::Options::default(),
    )
    .expect("audit");
    let shell = report
        .findings
        .iter()
        .find(|f| f.process.as_ref().is_some_and(|p| p.pid == 23406))
        .expect("the shell is a finding");
    assert_eq!(
        suggest::for_finding(shell).as_deref(),
        Some("portscope close --pid 23406")
    );
    for finding in &report.findings {
        assert!(suggest::for_finding(finding).is_some(), "{finding:?}");
    }
}

#[test]
fn connections_to_a_remote_port_are_chosen() {
    let host = host(SHELL);
    let chosen = connections::select(&host, &Selector::Remote { port: 4444 }).expect("select");
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].remote.port, 4444);
    assert!(
        connections::select(&host, &Selector::Remote { port: 22 })
            .expect("select")
            .is_empty(),
        "a local port is not a remote one"
    );
}
