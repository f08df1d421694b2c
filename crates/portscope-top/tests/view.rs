//! The live view on recorded hosts: each main state drawn into a ratatui `TestBackend` and kept
//! as an insta snapshot (empty, grouped, filtered, details, a close confirmation and its outcome,
//! 80 columns), plus what the snapshots cannot show: colours off under NO_COLOR, no control
//! character from a process on screen, new and closed rows, the incremental source.

use std::time::Duration;

use portscope_core::audit::{self, expected::Expected};
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
    let source = Source::new(platform, Expected::built_in().expect("expected servers"), options);
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
    // Port order: sshd (22) first.
    assert_eq!(rows(&app).first(), Some(&22));
    press(&mut app, KeyCode::Char('s')); // program
    press(&mut app, KeyCode::Char('s')); // verdict: the alert first
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

#[test]
fn close_refuses_what_close_refuses() {
    let platform = FixturePlatform::from_toml(
        r#"
        [[process]]
        pid = 1
        ppid = 0
        name = "systemd"
        exe = "/usr/lib/systemd/systemd"
        [[socket]]
        local = "0.0.0.0:111"
        state = "LISTEN"
        holders = [1]
        "#,
    )
    .expect("fixture");
    let mut app = app(&platform, true);
    select_port(&mut app, 111);
    press(&mut app, KeyCode::Char('c'));
    assert!(app.pending.is_none());
    let (status, _) = app.status.clone().expect("a refusal");
    assert!(status.contains("will not signal PID 1"), "{status}");
    assert!(platform.actions().is_empty());
}

#[test]
fn cut_destroys_only_the_connection() {
    let platform = host("busy");
    let mut app = app(&platform, true);
    // x on a listener explains itself and does nothing.
    select_port(&mut app, 8080);
    press(&mut app, KeyCode::Char('x'));
    assert!(app.pending.is_none());
    let index = app
        .view
        .lines()
        .iter()
        .position(|l| matches!(l, Line::Row(k) if k.remote.port == 51000))
        .expect("the connection's row");
    app.view.select(index);
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
    let expected = Expected::built_in().expect("expected servers");
    let mut source = Source::new(&platform, expected, audit::Options::default());
    assert!(
        matches!(source.look(), Ok(Look::Full(..))),
        "the first look is full"
    );
    assert!(matches!(source.look(), Ok(Look::Cheap(..))), "nothing changed");
    assert!(matches!(source.look(), Ok(Look::Cheap(..))));
    // An owner exits (its sockets go with it): the next look is full again.
    let pin = portscope_core::platform::Control::pin(&platform, 4100).expect("pin");
    pin.signal(CloseSignal::Term).expect("signal");
    match source.look() {
        Ok(Look::Full(snapshot, report)) => {
            assert!(snapshot.sockets.iter().all(|s| s.local.port != 8080));
            assert!(report.is_ok());
        }
        _ => panic!("a full look after an owner exited"),
    }
    assert!(matches!(source.look(), Ok(Look::Cheap(..))));
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
