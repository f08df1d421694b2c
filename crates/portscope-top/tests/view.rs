//! The live view on recorded hosts: each main state drawn into a ratatui `TestBackend` and kept
//! as an insta snapshot (empty, grouped, filtered, details, a close confirmation and its outcome,
//! 80 columns), plus what the snapshots cannot show: colours off under NO_COLOR, no control
//! character from a process on screen, new and closed rows, the incremental source.

use std::time::Duration;

use portscope_core::audit::{self, Severity};
use portscope_core::inspect;
use portscope_core::knowledge::ServiceNames;
use portscope_core::platform::CloseSignal;
use portscope_fixture::{Action, FixturePlatform};
use portscope_top::app::{App, Flow};
use portscope_top::source::{Look, Source};
use portscope_top::view::Line;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;

fn host(name: &str) -> FixturePlatform {
    let path = format!("{}/tests/hosts/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    FixturePlatform::load(std::path::Path::new(&path)).expect("fixture loads")
}

fn app(platform: &FixturePlatform, color: bool) -> App<'_> {
    let names = ServiceNames::iana();
    let options = audit::Options {
        deep: false,
        allow: Vec::new(),
        names: names.clone(),
    };
    let source = Source::new(platform, inspect::Options::ports(options));
    let mut app = App::new(source, names, Duration::from_secs(1), color);
    app.refresh(Duration::ZERO);
    app
}

fn draw(app: &mut App, width: u16, height: u16, now: Duration) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| portscope_top::ui::draw(frame, app, now))
        .expect("draws");
    terminal.backend().buffer().clone()
}

/// The buffer as plain text, one line per row, trailing spaces cut.
fn text(buffer: &Buffer) -> String {
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .map(|row| {
            row.iter()
                .map(|c| c.symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn press(app: &mut App, code: KeyCode) -> Flow {
    app.key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// Selects the socket row whose local port is `port`.
fn select_port(app: &mut App, port: u16) {
    let index = app
        .view
        .lines()
        .iter()
        .position(|line| match line {
            Line::Row(key) => key.local.port == port,
            Line::Group { .. } => false,
        })
        .expect("a row with that port");
    app.view.select(index);
}

/// Selects the connection row whose remote port is `port`.
fn select_remote_port(app: &mut App, port: u16) {
    let index = app
        .view
        .lines()
        .iter()
        .position(|l| matches!(l, Line::Row(k) if k.remote.port == port))
        .expect("the connection's row");
    app.view.select(index);
}

#[test]
fn empty_host() {
    let platform = FixturePlatform::from_toml("").expect("empty fixture");
    let mut app = app(&platform, true);
    insta::assert_snapshot!("empty", text(&draw(&mut app, 100, 12, Duration::ZERO)));
}

#[test]
fn grouped_by_program_with_verdicts() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    let screen = text(&draw(&mut app, 120, 30, Duration::ZERO));
    insta::assert_snapshot!("grouped", screen);
}

#[test]
fn eighty_columns() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    let screen = text(&draw(&mut app, 80, 24, Duration::ZERO));
    for line in screen.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    insta::assert_snapshot!("eighty_columns", screen);
}

#[test]
fn filtered_by_program_port_and_listeners() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "nginx");
    let editing = text(&draw(&mut app, 100, 14, Duration::ZERO));
    assert!(
        editing.contains("filter (port, program or address): nginx_"),
        "{editing}"
    );
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("filtered", text(&draw(&mut app, 100, 14, Duration::ZERO)));

    // A number filters by port, exactly: 80 is not 8080.
    press(&mut app, KeyCode::Char('/'));
    for _ in 0..5 {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "80");
    press(&mut app, KeyCode::Enter);
    let rows: Vec<u16> = rows(&app);
    assert_eq!(rows, vec![80, 80]);

    // Listeners only.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('l'));
    assert!(
        app.view
            .lines()
            .iter()
            .all(|l| matches!(l, Line::Group { .. }) || matches!(l, Line::Row(k) if k.remote.port == 0))
    );
}

fn rows(app: &App) -> Vec<u16> {
    app.view
        .lines()
        .iter()
        .filter_map(|line| match line {
            Line::Row(key) => Some(key.local.port),
            Line::Group { .. } => None,
        })
        .collect()
}

#[test]
fn sorting_and_folding() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    // By default, the verdict: the alert first.
    assert_eq!(rows(&app).first(), Some(&40312));
    press(&mut app, KeyCode::Char('s')); // port order: sshd (22) first
    assert_eq!(rows(&app).first(), Some(&22));
    press(&mut app, KeyCode::Char('s')); // program
    press(&mut app, KeyCode::Char('s')); // sockets
    press(&mut app, KeyCode::Char('s')); // verdict again: the alert first
    assert_eq!(rows(&app).first(), Some(&40312));
    // Fold the first group: its rows disappear, its header stays.
    app.view.select(0);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.view.lines()[0], Line::Group { collapsed: true, .. }));
    assert_ne!(rows(&app).first(), Some(&40312));
}

#[test]
fn details_pane() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    select_port(&mut app, 40312);
    press(&mut app, KeyCode::Enter);
    assert!(app.view.details);
    insta::assert_snapshot!("details", text(&draw(&mut app, 100, 30, Duration::ZERO)));
    press(&mut app, KeyCode::Esc);
    assert!(!app.view.details);
}

#[test]
fn close_asks_then_stops_the_holder() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    select_port(&mut app, 8080);
    press(&mut app, KeyCode::Char('c'));
    assert!(app.pending.is_some());
    insta::assert_snapshot!(
        "close_confirmation",
        text(&draw(&mut app, 100, 24, Duration::ZERO))
    );
    // Nothing is signalled before the answer; any key but y cancels.
    assert!(platform.actions().is_empty());
    press(&mut app, KeyCode::Char('n'));
    assert!(app.pending.is_none() && platform.actions().is_empty());

    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        platform.actions(),
        vec![Action::Signal {
            pid: 4100,
            signal: CloseSignal::Term
        }]
    );
    let (status, _) = app.status.clone().expect("an outcome");
    assert_eq!(status, "tcp port 8080 is free: 4100/python3 exited after SIGTERM");
    // The next look shows the port closed, marked, for a few seconds; then it is gone.
    assert!(app.wants_refresh());
    app.refresh(Duration::from_secs(1));
    let screen = text(&draw(&mut app, 100, 24, Duration::from_secs(1)));
    let row = screen
        .lines()
        .find(|l| l.contains(":8080"))
        .expect("row still shown");
    assert!(row.starts_with("- tcp") && row.contains("CLOSED"), "{row}");
    insta::assert_snapshot!("close_outcome", screen);
    app.refresh(Duration::from_secs(7));
    assert!(!rows(&app).contains(&8080));
}

/// `c` on a row held by PID 1 — a listener (close its port) or a connection (end its process) —
/// gets close's own refusal, and nothing is signalled.
fn assert_pid_1_is_refused(socket: &str, port: u16) {
    let platform = FixturePlatform::from_toml(&format!(
        r#"
        [[process]]
        pid = 1
        ppid = 0
        name = "systemd"
        exe = "/usr/lib/systemd/systemd"
        {socket}
        "#
    ))
    .expect("fixture");
    let mut app = app(&platform, true);
    select_port(&mut app, port);
    press(&mut app, KeyCode::Char('c'));
    assert!(app.pending.is_none());
    let (status, _) = app.status.clone().expect("a refusal");
    assert!(status.contains("will not signal PID 1"), "{status}");
    assert!(platform.actions().is_empty());
}

#[test]
fn close_refuses_what_close_refuses() {
    assert_pid_1_is_refused(
        "[[socket]]\nlocal = \"0.0.0.0:111\"\nstate = \"LISTEN\"\nholders = [1]",
        111,
    );
}

#[test]
fn cut_destroys_only_the_connection() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    // x on a listener explains itself and does nothing.
    select_port(&mut app, 8080);
    press(&mut app, KeyCode::Char('x'));
    assert!(app.pending.is_none());
    select_remote_port(&mut app, 51000);
    press(&mut app, KeyCode::Char('x'));
    assert!(app.pending.is_some());
    press(&mut app, KeyCode::Char('y'));
    let actions = platform.actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        matches!(&actions[0], Action::Destroy { local, remote } if local.port == 80 && remote.port == 51000),
        "{actions:?}"
    );
    let (status, _) = app.status.clone().expect("an outcome");
    assert_eq!(
        status,
        "cut 1 of 1 connection(s); the program holding it keeps running"
    );
}

#[test]
fn no_color_means_no_colour_and_escapes_stay_escaped() {
    let platform = host("busy");
    let mut plain = app(&platform, false);
    select_port(&mut plain, 9999);
    press(&mut plain, KeyCode::Enter);
    let buffer = draw(&mut plain, 120, 40, Duration::ZERO);
    for cell in &buffer.content {
        assert_eq!(cell.fg, Color::Reset, "a coloured cell without colour: {cell:?}");
        assert_eq!(cell.bg, Color::Reset);
        assert!(
            !cell.symbol().chars().any(char::is_control),
            "a control character on screen"
        );
    }
    let screen = text(&buffer);
    assert!(screen.contains(r"7000/evil\e[2J\rnginx"), "{screen}");
    assert!(screen.contains(r"/home/alice/bin/evil\e]0;owned\x07"), "{screen}");
    assert!(screen.contains(r"evil \e[31mred\e[0m"), "{screen}");

    // With colour, the alert is red.
    let mut coloured = app(&platform, true);
    let buffer = draw(&mut coloured, 120, 30, Duration::ZERO);
    assert!(buffer.content.iter().any(|c| c.fg == Color::Red));
}

#[test]
fn new_rows_are_marked_then_plain_and_closed_rows_linger() {
    // A supervised daemon that a supervisor restarts: its listener closes and a new one opens.
    let platform = FixturePlatform::from_toml(
        r#"
        [[process]]
        pid = 300
        name = "daemon"
        exe = "/usr/sbin/daemon"
        comeback = true
        [[socket]]
        local = "0.0.0.0:7000"
        state = "LISTEN"
        holders = [300]
        "#,
    )
    .expect("fixture");
    let mut app = app(&platform, false);
    let screen = |app: &mut App, secs: u64| text(&draw(app, 100, 10, Duration::from_secs(secs)));
    // At the first look nothing is new.
    assert!(
        !screen(&mut app, 0)
            .lines()
            .any(|l| l.starts_with("+ ") || l.starts_with("- "))
    );
    let pin = portscope_core::platform::Control::pin(&platform, 300).expect("pin");
    pin.signal(CloseSignal::Term).expect("signal");
    app.refresh(Duration::from_secs(1));
    let now = screen(&mut app, 1);
    assert_eq!(now.lines().filter(|l| l.starts_with("+ tcp")).count(), 1, "{now}");
    assert_eq!(now.lines().filter(|l| l.starts_with("- tcp")).count(), 1, "{now}");
    assert!(now.contains("1300/daemon"), "the new holder's group: {now}");
    // Three seconds on, the new row is plain; the closed one still shows.
    app.refresh(Duration::from_secs(5));
    let later = screen(&mut app, 5);
    assert!(!later.lines().any(|l| l.starts_with("+ ")), "{later}");
    assert_eq!(
        later.lines().filter(|l| l.starts_with("- tcp")).count(),
        1,
        "{later}"
    );
    // Five seconds after it closed, it is gone.
    app.refresh(Duration::from_secs(6));
    let gone = screen(&mut app, 6);
    assert!(!gone.lines().any(|l| l.starts_with("- ")), "{gone}");
    assert_eq!(app.model.len(), 1);
}

#[test]
fn the_source_looks_cheaply_until_something_changes() {
    let platform = host("busy");
    let mut source = Source::new(&platform, inspect::Options::ports(audit::Options::default()));
    assert!(
        matches!(source.look(), Ok(Look::Full(..))),
        "the first look is full"
    );
    assert!(
        matches!(source.look(), Ok(Look::Unchanged(..))),
        "nothing changed"
    );
    assert!(matches!(source.look(), Ok(Look::Unchanged(..))));
    // An owner exits (its sockets go with it): the next look is full again.
    let pin = portscope_core::platform::Control::pin(&platform, 4100).expect("pin");
    pin.signal(CloseSignal::Term).expect("signal");
    match source.look() {
        Ok(Look::Full(inspection)) => {
            assert!(inspection.snapshot.sockets.iter().all(|s| s.local.port != 8080));
            // The audit ran over the new snapshot: it names nothing on the closed port.
            assert!(
                inspection
                    .report
                    .findings
                    .iter()
                    .all(|f| f.sockets.iter().all(|s| s.local.port != 8080))
            );
        }
        _ => panic!("a full look after an owner exited"),
    }
    assert!(matches!(source.look(), Ok(Look::Unchanged(..))));
    source.invalidate();
    assert!(matches!(source.look(), Ok(Look::Full(..))));
}

#[test]
fn quit_keys() {
    let platform = host("busy");
    let mut app = app(&platform, false);
    assert_eq!(press(&mut app, KeyCode::Char('?')), Flow::Continue);
    assert!(app.view.help);
    insta::assert_snapshot!("help", text(&draw(&mut app, 80, 24, Duration::ZERO)));
    press(&mut app, KeyCode::Char('x'));
    assert!(!app.view.help, "any key closes the help");
    assert_eq!(press(&mut app, KeyCode::Char('q')), Flow::Quit);
    assert_eq!(
        app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Flow::Quit
    );
}

#[test]
fn tiny_terminals_do_not_break_it() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    select_port(&mut app, 40312);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::PageDown);
    for (width, height) in [(1, 1), (10, 3), (20, 5), (40, 10), (300, 100)] {
        draw(&mut app, width, height, Duration::ZERO);
        press(&mut app, KeyCode::Char('?'));
        draw(&mut app, width, height, Duration::ZERO);
        press(&mut app, KeyCode::Char('?'));
    }
    select_port(&mut app, 8080);
    press(&mut app, KeyCode::Char('c'));
    for (width, height) in [(1, 1), (20, 5)] {
        draw(&mut app, width, height, Duration::ZERO);
    }
}

/// A busy server as issue 22 found it: 3,000 TIME-WAIT sockets and two FIN-WAIT-2 that no
/// process holds, a packaged web server, an unpackaged listener run from /dev/shm and a reverse
/// shell (sh with its standard input, output and error on a connection to port 4444).
fn buried_host() -> FixturePlatform {
    let mut toml = String::from(
        r#"
        [host]
        users = { "0" = "root" }

        [packages]
        "/usr/sbin/nginx" = "nginx-core"
        "/usr/bin/dash" = "dash"

        [[process]]
        pid = 1200
        name = "nginx"
        exe = "/usr/sbin/nginx"
        supervisor = { kind = "systemd", unit = "nginx.service" }

        [[process]]
        pid = 5150
        name = "kdevtmpfsi"
        exe = "/dev/shm/kdevtmpfsi"

        [[process]]
        pid = 5200
        name = "sh"
        exe = "/usr/bin/dash"
        cmdline = ["sh", "-i"]

        [[socket]]
        local = "0.0.0.0:80"
        state = "LISTEN"
        holders = [1200]

        [[socket]]
        local = "0.0.0.0:31337"
        state = "LISTEN"
        holders = [5150]

        [[socket]]
        local = "198.18.0.1:40312"
        remote = "198.18.0.66:4444"
        state = "ESTABLISHED"
        holders = [5200]
        fds = [0, 1, 2]
        "#,
    );
    for n in 0..3002u32 {
        let state = if n < 3000 { "TIME_WAIT" } else { "FIN_WAIT2" };
        toml.push_str(&format!(
            "[[socket]]\nlocal = \"198.18.0.1:80\"\nremote = \"198.18.{}.{}:{}\"\nstate = \"{state}\"\n",
            n / 250,
            n % 250 + 1,
            20_000 + n
        ));
    }
    FixturePlatform::from_toml(&toml).expect("fixture")
}

#[test]
fn the_first_screen_of_a_busy_host_shows_the_alerts() {
    let platform = buried_host();
    let mut app = app(&platform, false);
    assert_eq!(app.model.len(), 3005);
    let screen = text(&draw(&mut app, 100, 30, Duration::ZERO));
    assert!(screen.lines().count() <= 30);
    let alerts = screen.lines().filter(|l| l.contains("ALERT")).count();
    assert!(alerts >= 4, "both alerts, group and row:\n{screen}");
    assert!(
        screen.contains("5150/kdevtmpfsi"),
        "the /dev/shm listener:\n{screen}"
    );
    assert!(screen.contains("0.0.0.0:31337"), "{screen}");
    assert!(screen.contains("5200/sh"), "the reverse shell:\n{screen}");
    assert!(screen.contains("198.18.0.66:4444"), "{screen}");
    // The ownerless sockets are one count line, not 3,002 rows.
    assert!(
        screen.contains("▸ - (no visible owner)  (3002 sockets: 3000 TIME-WAIT, 2 FIN-WAIT-2)"),
        "{screen}"
    );
    assert!(!screen.contains("TIME-WAIT  "), "no TIME-WAIT row:\n{screen}");
    assert!(screen.contains("[sort: verdict]"), "{screen}");
    // Alerts first, then the rest in port order; the selection is on the first alert's row.
    let order: Vec<&str> = screen
        .lines()
        .filter(|l| l.starts_with('▾') || l.starts_with('▸'))
        .collect();
    assert_eq!(order.len(), 4, "{screen}");
    assert!(
        order[0].contains("5200/sh") || order[0].contains("5150/kdevtmpfsi"),
        "{screen}"
    );
    assert!(order[2].contains("1200/nginx"), "{screen}");
    assert!(order[3].contains("(no visible owner)"), "{screen}");
    let selected = app.view.selected_row().expect("the selection is on a row");
    assert_eq!(
        app.model.row(&selected).and_then(|r| r.verdict),
        Some(Severity::Alert)
    );
    insta::assert_snapshot!("busy_host_first_screen", screen);

    // The fold is a default, not a limit: Space on the group lists its rows.
    let group = app
        .view
        .lines()
        .iter()
        .position(|l| matches!(l, Line::Group { key, .. } if key.pid == 0))
        .expect("the ownerless group");
    app.view.select(group);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(rows(&app).iter().filter(|&&p| p == 80).count(), 3003);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(rows(&app).iter().filter(|&&p| p == 80).count(), 1);

    // `s` still cycles, back to the verdict.
    for sort in ["port", "program", "sockets", "verdict"] {
        press(&mut app, KeyCode::Char('s'));
        let screen = text(&draw(&mut app, 100, 30, Duration::ZERO));
        assert!(screen.contains(&format!("[sort: {sort}]")), "{screen}");
    }
    // In port order the web server (80) leads; the ownerless group stays folded.
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(rows(&app).first(), Some(&80));
    assert!(rows(&app).len() < 10);
}

#[test]
fn a_default_fold_keeps_the_rows_that_matter_and_unfolds_on_request() {
    // An ownerless listener on a backdoor port is a finding: the folded group still lists it.
    let mut toml = String::from(
        r#"
        [host]
        privileges = "full"
        [[socket]]
        local = "0.0.0.0:4444"
        state = "LISTEN"
        "#,
    );
    for n in 0..50u32 {
        toml.push_str(&format!(
            "[[socket]]\nlocal = \"198.18.0.1:443\"\nremote = \"198.18.0.9:{}\"\nstate = \"TIME_WAIT\"\n",
            30_000 + n
        ));
    }
    let platform = FixturePlatform::from_toml(&toml).expect("fixture");
    let mut app = app(&platform, false);
    let listed = rows(&app);
    let verdict = app
        .model
        .rows()
        .find(|(k, _)| k.local.port == 4444)
        .and_then(|(_, r)| r.verdict);
    assert_eq!(verdict, Some(Severity::Warning), "a backdoor port");
    assert_eq!(listed, vec![4444], "only the finding is listed");
    assert!(matches!(app.view.lines()[0], Line::Group { collapsed: true, .. }));
    // Unfolded, every row; folded by the user, none.
    app.view.select(0);
    press(&mut app, KeyCode::Enter);
    assert_eq!(rows(&app).len(), 51);
    app.view.select(0);
    press(&mut app, KeyCode::Enter);
    assert!(rows(&app).is_empty());
}

#[test]
fn a_group_of_closing_sockets_folds_and_a_foreign_namespace_is_named() {
    // A program's closing connections fold; its namespace is not portscope's, so NETNS shows
    // although every row comes from that one namespace.
    let platform = FixturePlatform::from_toml(
        r#"
        [packages]
        "/usr/bin/curl" = "curl"
        [[process]]
        pid = 900
        name = "curl"
        exe = "/usr/bin/curl"
        [[socket]]
        local = "198.18.0.1:41000"
        remote = "198.18.0.9:443"
        state = "FIN_WAIT1"
        holders = [900]
        netns = "lab"
        [[socket]]
        local = "198.18.0.1:41001"
        remote = "198.18.0.9:443"
        state = "LAST_ACK"
        holders = [900]
        netns = "lab"
        "#,
    )
    .expect("fixture");
    let mut app = app(&platform, false);
    let screen = text(&draw(&mut app, 100, 10, Duration::ZERO));
    assert!(rows(&app).is_empty(), "{screen}");
    assert!(
        screen.contains("▸ 900/curl  uid 0  (2 sockets: 1 FIN-WAIT-1, 1 LAST-ACK)"),
        "{screen}"
    );
    assert!(screen.contains("NETNS"), "{screen}");
    app.view.select(0);
    press(&mut app, KeyCode::Char(' '));
    let screen = text(&draw(&mut app, 100, 10, Duration::ZERO));
    assert_eq!(
        screen
            .lines()
            .filter(|l| l.starts_with("  tcp") && l.ends_with(" lab"))
            .count(),
        2,
        "{screen}"
    );
}

/// Issue 24 point 7: an EXE column (the owner's executable, escaped) when the terminal has room
/// for it after both addresses, as TCPView's Process Path; none at 80 or 120 columns.
#[test]
fn an_exe_column_at_200_columns_and_not_at_80() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    let wide = text(&draw(&mut app, 200, 24, Duration::ZERO));
    let head = wide.lines().nth(1).expect("the table's head");
    assert!(head.contains(" EXE "), "{head}");
    for line in wide.lines() {
        assert!(line.chars().count() <= 200, "{line}");
    }
    let row = wide
        .lines()
        .find(|l| l.contains(":40312"))
        .expect("the /tmp program's row");
    assert!(row.contains("/tmp/.x/kworker"), "{row}");
    // The executable's name carries escapes: shown escaped, never raw.
    assert!(wide.contains("/home/alice/bin/evil\\e]0;owned\\x07"), "{wide}");
    insta::assert_snapshot!("two_hundred_columns", wide);
    for width in [80, 120] {
        let screen = text(&draw(&mut app, width, 24, Duration::ZERO));
        assert!(!screen.contains("EXE"), "{width} columns:\n{screen}");
    }
}

/// Issue 24 point 7: after `x` cut a flagged connection (the /tmp program's connection to port
/// 4444), the program runs on and stays flagged: its row stays, closed, with its ALERT and its
/// finding in the details, long after closed rows go; it goes once the process is gone.
#[test]
fn a_finding_stays_on_the_process_after_its_connection_is_cut() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    select_remote_port(&mut app, 4444);
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(&platform.actions()[..], [Action::Destroy { remote, .. }] if remote.port == 4444),
        "{:?}",
        platform.actions()
    );
    assert!(!platform.has_exited(6666), "cutting leaves the program running");
    app.refresh(Duration::from_secs(1));
    // Long after a closed row would have gone (5 s), and after more full looks.
    app.refresh(Duration::from_secs(10));
    app.source.invalidate();
    app.refresh(Duration::from_secs(20));
    let screen = text(&draw(&mut app, 100, 24, Duration::from_secs(20)));
    let row = screen
        .lines()
        .find(|l| l.contains(":40312"))
        .unwrap_or_else(|| panic!("the cut connection's row went:\n{screen}"));
    assert!(row.contains("CLOSED") && row.ends_with("ALERT"), "{row}");
    assert!(
        screen.contains("6666/kworker/0:1  root  (1 socket)  ALERT"),
        "the process keeps its alert:\n{screen}"
    );
    assert!(screen.contains("1 alert"), "{screen}");
    insta::assert_snapshot!("finding_stays_after_cut", screen);
    // The details still say what was found.
    select_remote_port(&mut app, 4444);
    press(&mut app, KeyCode::Enter);
    let details = app.details.as_ref().expect("details");
    assert!(
        details
            .items
            .iter()
            .any(|i| i.label == "audit" && i.severity == Some(Severity::Alert)),
        "{details:?}"
    );
    // Once the process is gone, so is the row.
    app.model.linger(Duration::from_secs(21), |_| false);
    app.view.refresh(&app.model);
    assert!(
        !app.view
            .lines()
            .iter()
            .any(|l| matches!(l, Line::Row(k) if k.remote.port == 4444)),
        "the row outlived its process"
    );
}

/// Issue 24 point 7: `c` on a connection row, and `e` or `c` on a program's line, end the
/// process through `close --pid`'s plan: asked first, refused where `close` refuses.
#[test]
fn c_and_e_end_the_process_of_a_connection_or_a_program() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    select_remote_port(&mut app, 4444);
    press(&mut app, KeyCode::Char('c'));
    assert!(app.pending.is_some(), "{:?}", app.status);
    let screen = text(&draw(&mut app, 100, 24, Duration::ZERO));
    assert!(screen.contains("End process 6666 (kworker/0:1)?"), "{screen}");
    insta::assert_snapshot!("end_confirmation", screen);
    assert!(platform.actions().is_empty());
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        platform.actions(),
        vec![Action::Signal {
            pid: 6666,
            signal: CloseSignal::Term
        }]
    );
    let (status, _) = app.status.clone().expect("an outcome");
    assert_eq!(
        status,
        "process 6666 ended: 6666/kworker/0:1 exited after SIGTERM"
    );

    // `e` on a program's line: the same plan, for the group's process.
    let group = app
        .view
        .lines()
        .iter()
        .position(|l| matches!(l, Line::Group { key, .. } if key.pid == 4100))
        .expect("python3's group");
    app.view.select(group);
    press(&mut app, KeyCode::Char('e'));
    let pending = app.pending.as_ref().expect("a plan");
    assert!(
        pending
            .question()
            .starts_with("End process 4100 (python3)? Its 2 socket(s)"),
        "{}",
        pending.question()
    );
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(platform.actions().len(), 1);

    // The group of ownerless sockets has no process to end.
    let ownerless = app
        .view
        .lines()
        .iter()
        .position(|l| matches!(l, Line::Group { key, .. } if key.pid == 0))
        .expect("the ownerless group");
    app.view.select(ownerless);
    press(&mut app, KeyCode::Char('c'));
    assert!(app.pending.is_none());
}

#[test]
fn ending_pid_1_is_refused_as_close_refuses_it() {
    assert_pid_1_is_refused(
        "[[socket]]\nlocal = \"10.0.0.1:40000\"\nremote = \"10.0.0.2:443\"\nstate = \"ESTABLISHED\"\nholders = [1]",
        40000,
    );
}
