//! `portscope top`: a live, refreshing table of the host's sockets, grouped by program, with the
//! audit's verdict on every row, a details pane, and keys that close a port or cut a connection
//! through the same plan and safety rules as `portscope close`.
//!
//! - [`source`]: one look at the host per refresh, cheap when nothing changed.
//! - [`model`]: the rows, updated in place (new rows marked, closed rows kept a few seconds).
//! - [`view`]: filter, sort, folding and selection, turned into lines.
//! - [`details`], [`actions`]: the details pane; `c` and `x`.
//! - [`app`]: the state and the keys; [`ui`]: drawing with ratatui.
//! - [`run`]: the terminal and the event loop (crossterm), restored on exit, panic and signals.
//!
//! Everything but [`run`] works on any ratatui backend, so the tests draw into a `TestBackend`
//! with the fixture platform of `portscope-fixture` (a dev-dependency).

pub mod actions;
pub mod app;
pub mod details;
pub mod model;
pub mod source;
pub mod ui;
pub mod view;

use std::io::{self, Stdout};
use std::time::{Duration, Instant};

use portscope_core::audit;
use portscope_core::inspect;
use portscope_core::knowledge::ServiceNames;
use portscope_core::platform::Platform;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::{cursor, execute, terminal};

use app::{App, Flow};
use source::Source;

/// How the view starts.
pub struct Options {
    /// Time between two looks at the host.
    pub interval: Duration,
    /// Colour (false under NO_COLOR or `--color never`).
    pub color: bool,
    /// Start with listeners only.
    pub listeners_only: bool,
    /// The names ports go by.
    pub names: ServiceNames,
    /// `--filter EXPR`: only the sockets the filter language keeps.
    pub filter: Option<portscope_core::filter::Expression>,
}

/// The longest the loop sleeps before it checks for a stop signal again.
const WAKE: Duration = Duration::from_millis(250);

/// Puts the terminal back as it was: main screen, cooked mode, cursor shown. Safe to call twice.
fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

/// Restores the terminal when dropped: on return, on error and while a panic unwinds.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs the live view on the terminal until the user quits or `stop()` says a stop signal came
/// (the caller blocks SIGTERM, SIGINT and SIGHUP and checks for them without a handler).
pub fn run(platform: &dyn Platform, options: Options, stop: &dyn Fn() -> bool) -> portscope_core::Result<()> {
    let audit_options = audit::Options {
        deep: false,
        allow: Vec::new(),
        names: options.names.clone(),
    };
    let source = Source::new(platform, inspect::Options::ports(audit_options));
    let mut app = App::new(source, options.names, options.interval, options.color);
    app.view.listeners_only = options.listeners_only;
    app.view.expression = options.filter;
    let start = Instant::now();
    // The first look before the screen changes: an error leaves the terminal untouched.
    app.refresh(Duration::ZERO);
    if let Some(err) = app.error.take() {
        return Err(portscope_core::Error::System(err));
    }

    // A panic prints its message on the main screen, after the terminal is restored.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    let _restore = Restore;
    terminal::enable_raw_mode().map_err(|e| portscope_core::Error::io("setting up the terminal", e))?;
    execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)
        .map_err(|e| portscope_core::Error::io("setting up the terminal", e))?;
    let mut term: Terminal<CrosstermBackend<Stdout>> = Terminal::new(CrosstermBackend::new(io::stdout()))
        .map_err(|e| portscope_core::Error::io("setting up the terminal", e))?;
    term.clear()
        .map_err(|e| portscope_core::Error::io("drawing", e))?;
    event_loop(&mut term, &mut app, platform, start, stop)
        .map_err(|e| portscope_core::Error::io("drawing", e))
}

/// What the input thread passes on: a terminal event, or the error that ended its reading.
type Input = io::Result<Event>;

/// Reads the terminal's events on a thread of its own and passes them on. crossterm's reader
/// retries a read that returns EOF (or fails) without end: a terminal that died would hold the
/// view's loop in that read forever, at full CPU, deaf to the stop signals. Off the loop, such a
/// read can only hold this thread, which ends with the process once the loop sees the terminal
/// gone ([`Platform::terminal_gone`]).
fn spawn_input() -> io::Result<std::sync::mpsc::Receiver<Input>> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Input>(64);
    std::thread::Builder::new()
        .name("top-input".into())
        .spawn(move || {
            loop {
                let input = event::read();
                let failed = input.is_err();
                if sender.send(input).is_err() || failed {
                    return;
                }
            }
        })?;
    Ok(receiver)
}

fn event_loop(
    term: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    platform: &dyn Platform,
    start: Instant,
    stop: &dyn Fn() -> bool,
) -> io::Result<()> {
    use std::sync::mpsc::RecvTimeoutError;
    let input = spawn_input()?;
    let mut next = Instant::now() + app.interval;
    let mut dirty = true;
    loop {
        // A stop signal, or a terminal that hung up (EOF or EIO from now on): the view ends.
        if stop() || platform.terminal_gone() {
            return Ok(());
        }
        let now = Instant::now();
        if (now >= next && !app.view.paused) || app.wants_refresh() {
            app.refresh(now - start);
            next = now + app.interval;
            dirty = true;
        } else if now >= next {
            next = now + app.interval;
        }
        if dirty {
            term.draw(|frame| ui::draw(frame, app, start.elapsed()))?;
            dirty = false;
        }
        let wait = next.saturating_duration_since(Instant::now()).min(WAKE);
        let event = match input.recv_timeout(wait) {
            Ok(event) => event?,
            Err(RecvTimeoutError::Timeout) => continue,
            // The reader ended without saying why: the terminal cannot be read any more.
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                if app.pending.is_some() && matches!(key.code, event::KeyCode::Char('y' | 'Y' | 'k')) {
                    // Stopping a holder can take seconds: say so before it starts.
                    app.status = Some(("working…".into(), app::Tone::Info));
                    term.draw(|frame| ui::draw(frame, app, start.elapsed()))?;
                }
                if app.key(key) == Flow::Quit {
                    return Ok(());
                }
                dirty = true;
            }
            Event::Resize(..) => dirty = true,
            _ => {}
        }
    }
}
