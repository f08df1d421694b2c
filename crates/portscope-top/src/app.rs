//! The live view's state and what each key does. No terminal here: [`App::key`] takes a key,
//! [`App::refresh`] a look at the host, and [`crate::ui::draw`] draws the result, so every state
//! is reachable from a test.

use std::time::Duration;

use portscope_core::knowledge::ServiceNames;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::actions::{self, Pending};
use crate::details::Details;
use crate::model::Model;
use crate::source::{Look, Source};
use crate::view::{Line, View};

/// Whether the loop goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// How the last action ended, for the status line's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Info,
    Good,
    Bad,
}

/// The keys that act on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActionKey {
    /// `c`: close a listener's port; end the process elsewhere.
    Close,
    /// `e`: end the process of the line.
    End,
    /// `x`: cut a connection.
    Cut,
}

/// Everything the live view shows.
pub struct App<'p> {
    pub source: Source<'p>,
    pub model: Model,
    pub view: View,
    pub details: Option<Details>,
    pub pending: Option<Pending>,
    pub status: Option<(String, Tone)>,
    /// Colour; without it the view uses only bold and reverse video (NO_COLOR).
    pub color: bool,
    pub interval: Duration,
    names: ServiceNames,
    /// The host's ephemeral port range, read once (it names a connection's service side).
    ephemeral: std::ops::RangeInclusive<u16>,
    /// Why the last look failed, shown until one succeeds.
    pub error: Option<String>,
    /// Notes the host gave with the first full look (skipped namespaces, hidden owners).
    pub notes: Vec<String>,
    /// The model changed because of a key: the next tick looks at once.
    refresh_now: bool,
}

impl<'p> App<'p> {
    pub fn new(source: Source<'p>, names: ServiceNames, interval: Duration, color: bool) -> App<'p> {
        let ephemeral = source.platform().ephemeral_ports();
        App {
            ephemeral,
            source,
            model: Model::new(),
            view: View::new(),
            details: None,
            pending: None,
            status: None,
            color,
            interval,
            names,
            error: None,
            notes: Vec::new(),
            refresh_now: false,
        }
    }

    /// Takes one look at the host at `now` (time since the view started) and updates the model.
    pub fn refresh(&mut self, now: Duration) {
        self.refresh_now = false;
        let platform = self.source.platform();
        match self.source.look() {
            Ok(Look::Unchanged(inspection)) => {
                self.model.apply(
                    &inspection.snapshot,
                    false,
                    now,
                    &self.names,
                    self.ephemeral.clone(),
                );
                self.error = None;
            }
            Ok(Look::Full(inspection)) => {
                let (snapshot, report) = (&inspection.snapshot, &inspection.report);
                self.model
                    .apply(snapshot, true, now, &self.names, self.ephemeral.clone());
                let mut notes = snapshot.notes.clone();
                if let Some(note) = portscope_core::privilege::hidden_owners_note(
                    snapshot.unreadable_processes,
                    platform.privileges(),
                ) {
                    notes.push(note);
                }
                self.model.set_report(report);
                notes.extend(report.notes.iter().cloned());
                // Rules this platform cannot check, in the same note line as the others.
                notes.extend(report.not_checked.iter().map(ToString::to_string));
                self.notes = notes;
                self.error = None;
            }
            Err(err) => self.error = Some(err.to_string()),
        }
        // A flagged row whose socket closed stays while its process runs: the same PID with the
        // same name (a PID reused by another program does not keep it).
        self.model.linger(now, |holder| {
            platform
                .identity(holder.process.pid)
                .is_some_and(|now| now.name == holder.process.name)
        });
        self.view.refresh(&self.model);
        self.reopen_details();
    }

    /// Whether a key asked for a look before the next tick.
    pub fn wants_refresh(&self) -> bool {
        self.refresh_now
    }

    fn reopen_details(&mut self) {
        if !self.view.details {
            self.details = None;
            return;
        }
        let Some(key) = self.view.selected_row() else {
            self.details = None;
            return;
        };
        if self.details.as_ref().is_none_or(|d| d.key != key) {
            self.details = Details::build(self.source.platform(), &self.model, key);
            self.view.details_scroll = 0;
        }
    }

    /// Handles one key.
    pub fn key(&mut self, key: KeyEvent) -> Flow {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Flow::Quit;
        }
        if self.pending.is_some() {
            self.confirm(key);
            return Flow::Continue;
        }
        if self.view.editing {
            self.edit_filter(key);
            return Flow::Continue;
        }
        if self.view.help {
            self.view.help = false;
            return Flow::Continue;
        }
        match key.code {
            KeyCode::Char('q') => return Flow::Quit,
            KeyCode::Esc if self.view.details => self.view.details = false,
            KeyCode::Esc if !self.view.filter.is_empty() => {
                self.view.filter.clear();
                self.view.invalidate();
            }
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.view.help = true,
            KeyCode::Char('/') => {
                self.view.editing = true;
                self.view.invalidate();
            }
            KeyCode::Char('s') => {
                self.view.sort = self.view.sort.next();
                self.view.invalidate();
            }
            KeyCode::Char('l') => {
                self.view.listeners_only = !self.view.listeners_only;
                self.view.invalidate();
            }
            KeyCode::Char('p') => {
                self.view.paused = !self.view.paused;
                self.status = Some((
                    if self.view.paused {
                        "paused: the table is frozen (p resumes)".into()
                    } else {
                        "resumed".into()
                    },
                    Tone::Info,
                ));
                self.refresh_now = !self.view.paused;
            }
            KeyCode::Up | KeyCode::Char('k') => self.view.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.view.move_by(1),
            KeyCode::PageUp if self.view.details => {
                self.view.details_scroll = self.view.details_scroll.saturating_sub(5);
            }
            KeyCode::PageDown if self.view.details => {
                let lines = self.details.as_ref().map_or(0, |d| d.items.len() as u16);
                self.view.details_scroll = (self.view.details_scroll + 5).min(lines);
            }
            KeyCode::PageUp => self.view.move_by(-10),
            KeyCode::PageDown => self.view.move_by(10),
            KeyCode::Home | KeyCode::Char('g') => self.view.select_first(),
            KeyCode::End | KeyCode::Char('G') => self.view.select_last(),
            KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right => self.view.toggle_group(&self.model),
            KeyCode::Enter => match self.view.selected_line() {
                Some(Line::Group { .. }) => self.view.toggle_group(&self.model),
                Some(Line::Row(_)) => self.view.details = !self.view.details,
                None => {}
            },
            KeyCode::Char('c') => self.prepare(ActionKey::Close),
            KeyCode::Char('e') => self.prepare(ActionKey::End),
            KeyCode::Char('x') => self.prepare(ActionKey::Cut),
            _ => {}
        }
        self.view.refresh(&self.model);
        self.reopen_details();
        Flow::Continue
    }

    fn edit_filter(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => self.view.editing = false,
            KeyCode::Esc => {
                self.view.editing = false;
                self.view.filter.clear();
            }
            KeyCode::Backspace => {
                self.view.filter.pop();
            }
            // Printable characters only: the filter is shown back on the screen.
            KeyCode::Char(c) if !c.is_control() && self.view.filter.chars().count() < 64 => {
                self.view.filter.push(c)
            }
            _ => return,
        }
        self.view.invalidate();
        self.view.refresh(&self.model);
        self.reopen_details();
    }

    /// `c`, `e` or `x` on the selected line. `c` closes a listener's port; on a connection or
    /// a program's line it ends the process, as `e` does on any line (TCPView's "End
    /// Process"); `x` cuts a connection.
    fn prepare(&mut self, key: ActionKey) {
        let platform = self.source.platform();
        let prepared = match (self.view.selected_line(), key) {
            (None, _) => return,
            (Some(Line::Group { key: group, .. }), ActionKey::Close | ActionKey::End) => {
                if group.pid == 0 {
                    Err("no visible process holds these sockets: there is nothing to end".into())
                } else {
                    actions::prepare_end(platform, group.pid)
                }
            }
            (Some(Line::Group { .. }), ActionKey::Cut) => {
                Err("x cuts a connection: select one (c or e on a program ends it)".into())
            }
            (Some(Line::Row(row_key)), key) => {
                let Some(row) = self.model.row(row_key) else {
                    return;
                };
                let open = row.closed.is_none();
                match key {
                    ActionKey::Close if open && row.socket.state.is_listening() => {
                        actions::prepare_close(platform, row)
                    }
                    // A closed row stays while a finding names its process, which can still be
                    // ended.
                    ActionKey::Close | ActionKey::End if open || row.lingers => match row.owner() {
                        Some(owner) => actions::prepare_end(platform, owner.process.pid),
                        None => Err("no visible process holds this socket: there is nothing to end".into()),
                    },
                    ActionKey::Cut if open => actions::prepare_cut(platform, row),
                    _ => {
                        self.status = Some(("this socket is already closed".into(), Tone::Info));
                        return;
                    }
                }
            }
        };
        match prepared {
            Ok(pending) => {
                self.status = None;
                self.pending = Some(pending);
            }
            Err(reason) => self.status = Some((reason, Tone::Bad)),
        }
    }

    fn confirm(&mut self, key: KeyEvent) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        // `k` is `close --force`: SIGKILL for a holder still running when the time is up (an
        // interactive shell ignores SIGTERM). It kills only what the plan signals.
        let force = match key.code {
            KeyCode::Char('y' | 'Y') => false,
            KeyCode::Char('k') if matches!(pending, Pending::Close { .. }) => true,
            _ => {
                self.status = Some(("not confirmed; nothing was done".into(), Tone::Info));
                return;
            }
        };
        let (line, ok) = actions::carry_out(self.source.platform(), &pending, force);
        self.status = Some((line, if ok { Tone::Good } else { Tone::Bad }));
        self.source.invalidate();
        self.refresh_now = true;
    }
}
