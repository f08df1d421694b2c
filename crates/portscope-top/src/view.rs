//! What the user chose to see: filter, sort, listeners only, folded groups, the selection.
//!
//! The view turns the model into lines: a header line per program, then its sockets. It rebuilds
//! them only when the model's generation or a choice changed, and keeps the selection on the same
//! group or socket across rebuilds.
//!
//! On a busy host most sockets are noise: thousands of TIME-WAIT sockets that no process holds.
//! So by default the groups with findings come first (worst first), the group of sockets with no
//! visible owner and every group of closing sockets only (TIME-WAIT, FIN-WAIT, …) is folded into
//! one count line, and the selection opens on the first row with a finding. A folded-by-default
//! group still lists its rows with a warning or an alert; the user's own fold hides every row.

use std::collections::{BTreeMap, HashMap};

use portscope_core::audit::Severity;
use portscope_core::filter::{Expression, SocketRow};
use portscope_core::model::SocketState;
use portscope_core::render;

use crate::model::{Model, Row, RowKey};

/// The program a group of rows belongs to: the owner's pid and name (pid 0, no name: no owner
/// is visible).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub pid: u32,
    pub program: String,
}

impl GroupKey {
    fn of(row: &Row) -> GroupKey {
        match row.owner() {
            Some(holder) => GroupKey {
                pid: holder.process.pid,
                program: holder.process.name.clone(),
            },
            None => GroupKey {
                pid: 0,
                program: String::new(),
            },
        }
    }

    /// `1234/nginx`, or `-` for sockets with no visible owner; escaped.
    pub fn label(&self) -> String {
        if self.pid == 0 {
            "- (no visible owner)".into()
        } else {
            format!("{}/{}", self.pid, render::escape(&self.program))
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Group {
        key: GroupKey,
        /// Sockets in the group that pass the filter.
        sockets: usize,
        worst: Option<Severity>,
        collapsed: bool,
        /// How many of the sockets are in each state, most first (what a folded group shows).
        states: Vec<(SocketState, usize)>,
        /// The owner's user name (or uid), escaped; empty without an owner.
        user: String,
    },
    Row(RowKey),
}

/// How rows and groups are ordered (`s` cycles, starting from the verdict).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Groups with the worst verdict first (alert, warning, info, none), then by their lowest
    /// local port; inside a group, rows with a warning or an alert first, then by local port.
    #[default]
    Verdict,
    /// Groups by their lowest local port, rows by local port.
    Port,
    /// Groups by program name.
    Program,
    /// Groups with the most sockets first.
    Sockets,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Verdict => Sort::Port,
            Sort::Port => Sort::Program,
            Sort::Program => Sort::Sockets,
            Sort::Sockets => Sort::Verdict,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Port => "port",
            Sort::Program => "program",
            Sort::Verdict => "verdict",
            Sort::Sockets => "sockets",
        }
    }
}

/// The view's state.
#[derive(Debug, Default)]
pub struct View {
    pub filter: String,
    /// `top --filter EXPR`: the filter language, applied before the typed filter.
    pub expression: Option<Expression>,
    /// The filter is being typed (`/` until Enter or Esc).
    pub editing: bool,
    pub sort: Sort,
    pub listeners_only: bool,
    pub paused: bool,
    pub help: bool,
    /// The details pane is open on the selected row.
    pub details: bool,
    /// Lines of the details pane scrolled away (PgDn/PgUp while it is open).
    pub details_scroll: u16,
    /// Groups the user folded (`true`) or unfolded (`false`); the others follow
    /// [`folds_by_default`].
    folds: HashMap<GroupKey, bool>,
    lines: Vec<Line>,
    selected: usize,
    /// The first line shown (scrolling).
    pub offset: usize,
    built_for: Option<u64>,
    /// The first build placed the selection on the first row that matters.
    opened: bool,
}

/// A state of a connection on its way out: the program is done with it (or gone), the kernel
/// holds it for a while. TIME-WAIT sockets come by the thousand on a busy server.
pub fn is_closing(state: SocketState) -> bool {
    matches!(
        state,
        SocketState::TimeWait
            | SocketState::FinWait1
            | SocketState::FinWait2
            | SocketState::Closing
            | SocketState::LastAck
            | SocketState::Close
    )
}

/// Whether a group starts folded: the sockets with no visible owner, and any group whose
/// sockets are all closing. What they hold is counted on the group's line, not listed.
pub fn folds_by_default(key: &GroupKey, rows: &[&Row]) -> bool {
    key.pid == 0 || rows.iter().all(|r| is_closing(r.socket.state))
}

/// A verdict the user must see: a row with one stays listed in a group folded by default.
fn matters(row: &Row) -> bool {
    row.verdict.is_some_and(|v| v >= Severity::Warning)
}

impl View {
    pub fn new() -> View {
        View::default()
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn selected_line(&self) -> Option<&Line> {
        self.lines.get(self.selected)
    }

    /// The selected socket, if the selection is on one.
    pub fn selected_row(&self) -> Option<RowKey> {
        match self.selected_line() {
            Some(Line::Row(key)) => Some(*key),
            _ => None,
        }
    }

    /// Marks the lines as stale after a change of choice.
    pub fn invalidate(&mut self) {
        self.built_for = None;
    }

    /// Rebuilds the lines if the model or a choice changed since the last build.
    pub fn refresh(&mut self, model: &Model) {
        if self.built_for == Some(model.generation()) {
            return;
        }
        let keep = self.selected_line().cloned();
        self.lines = self.build(model);
        self.built_for = Some(model.generation());
        if !self.opened {
            self.opened = true;
            self.selected = self.first_that_matters(model).unwrap_or(0);
            return;
        }
        if let Some(keep) = keep {
            let same = |line: &Line| match (&keep, line) {
                (Line::Group { key: a, .. }, Line::Group { key: b, .. }) => a == b,
                (a, b) => a == b,
            };
            if let Some(index) = self.lines.iter().position(same) {
                self.selected = index;
            }
        }
        self.selected = self.selected.min(self.lines.len().saturating_sub(1));
    }

    /// The first row with a warning or an alert (the worst, in the default sort).
    fn first_that_matters(&self, model: &Model) -> Option<usize> {
        self.lines.iter().position(|line| match line {
            Line::Row(key) => model.row(key).is_some_and(matters),
            Line::Group { .. } => false,
        })
    }

    /// Whether the group is folded: the user's choice, else the default.
    fn folded(&self, key: &GroupKey, rows: &[&Row]) -> bool {
        self.folds
            .get(key)
            .copied()
            .unwrap_or_else(|| folds_by_default(key, rows))
    }

    /// Whether `--filter` keeps the row: the socket joined with its verdict, the rules of its
    /// findings and its service, as `list` joins them.
    fn keeps(&self, model: &Model, row: &Row) -> bool {
        let Some(expression) = &self.expression else {
            return true;
        };
        let mut rules: Vec<_> = model.findings(row.socket.inode).iter().map(|f| f.check).collect();
        rules.sort();
        rules.dedup();
        expression.matches(&SocketRow {
            socket: &row.socket,
            verdict: row.verdict,
            rules,
            service: row.service.as_deref(),
        })
    }

    fn passes(&self, row: &Row) -> bool {
        if self.listeners_only && !row.socket.state.is_listening() {
            return false;
        }
        let filter = self.filter.trim();
        if filter.is_empty() {
            return true;
        }
        let socket = &row.socket;
        if let Ok(port) = filter.parse::<u16>() {
            return socket.local.port == port || socket.remote.port == port;
        }
        let filter = filter.to_lowercase();
        let has = |text: &str| text.to_lowercase().contains(&filter);
        has(&socket.local.to_string())
            || (!socket.remote.is_unspecified() && has(&socket.remote.to_string()))
            || row.service.as_deref().is_some_and(has)
            || has(socket.protocol.as_str())
            || has(socket.state.as_str())
            || socket.holders.iter().any(|h| {
                has(&h.process.name)
                    || h.process
                        .exe
                        .as_deref()
                        .is_some_and(|e| has(&e.to_string_lossy()))
            })
            || socket.netns.name.as_deref().is_some_and(has)
    }

    fn build(&self, model: &Model) -> Vec<Line> {
        let mut groups: BTreeMap<GroupKey, Vec<(&RowKey, &Row)>> = BTreeMap::new();
        for (key, row) in model.rows() {
            if self.passes(row) && self.keeps(model, row) {
                groups.entry(GroupKey::of(row)).or_default().push((key, row));
            }
        }
        let mut groups: Vec<(GroupKey, Vec<(&RowKey, &Row)>)> = groups.into_iter().collect();
        let findings_first = self.sort == Sort::Verdict;
        for (_, rows) in &mut groups {
            rows.sort_by_key(|(key, row)| {
                (
                    std::cmp::Reverse(row.verdict.filter(|_| findings_first && matters(row))),
                    row.socket.local.port,
                    !row.socket.state.is_listening(),
                    **key,
                )
            });
        }
        let worst = |rows: &[(&RowKey, &Row)]| rows.iter().filter_map(|(_, r)| r.verdict).max();
        let lowest = |rows: &[(&RowKey, &Row)]| rows.iter().map(|(_, r)| r.socket.local.port).min();
        match self.sort {
            Sort::Port => groups.sort_by(|a, b| lowest(&a.1).cmp(&lowest(&b.1)).then(a.0.cmp(&b.0))),
            Sort::Program => groups.sort_by(|a, b| {
                (a.0.pid == 0, a.0.program.to_lowercase(), a.0.pid).cmp(&(
                    b.0.pid == 0,
                    b.0.program.to_lowercase(),
                    b.0.pid,
                ))
            }),
            Sort::Verdict => groups.sort_by(|a, b| {
                worst(&b.1)
                    .cmp(&worst(&a.1))
                    .then(lowest(&a.1).cmp(&lowest(&b.1)))
                    .then(a.0.cmp(&b.0))
            }),
            Sort::Sockets => groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0))),
        }
        let mut lines = Vec::with_capacity(model.len().min(4096) + groups.len());
        for (key, rows) in groups {
            let plain: Vec<&Row> = rows.iter().map(|(_, row)| *row).collect();
            let choice = self.folds.get(&key).copied();
            let collapsed = self.folded(&key, &plain);
            let user = plain
                .first()
                .and_then(|row| row.owner())
                .map(|h| match &h.process.user {
                    Some(user) => render::escape(user).into_owned(),
                    None => format!("uid {}", h.process.uid),
                })
                .unwrap_or_default();
            let mut states: Vec<(SocketState, usize)> = Vec::new();
            for row in &plain {
                match states.iter_mut().find(|(s, _)| *s == row.socket.state) {
                    Some((_, n)) => *n += 1,
                    None => states.push((row.socket.state, 1)),
                }
            }
            states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
            lines.push(Line::Group {
                user,
                sockets: rows.len(),
                worst: worst(&rows),
                collapsed,
                states,
                key,
            });
            let shown = rows.into_iter().filter(|(_, row)| {
                // Folded by default, a group still lists the rows the user must see.
                !collapsed || (choice.is_none() && matters(row))
            });
            lines.extend(shown.map(|(key, _)| Line::Row(*key)));
        }
        lines
    }

    /// Moves the selection by `delta` lines, within bounds.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.lines.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// Selects line `index` (clamped to the last line).
    pub fn select(&mut self, index: usize) {
        self.selected = index.min(self.lines.len().saturating_sub(1));
    }

    pub fn select_first(&mut self) {
        self.selected = 0;
    }

    pub fn select_last(&mut self) {
        self.selected = self.lines.len().saturating_sub(1);
    }

    /// Collapses or expands the group the selection is in (or on).
    pub fn toggle_group(&mut self, model: &Model) {
        let group = self.lines[..=self.selected.min(self.lines.len().saturating_sub(1))]
            .iter()
            .rev()
            .find_map(|line| match line {
                Line::Group { key, .. } => Some(key.clone()),
                Line::Row(_) => None,
            });
        let Some(group) = group else { return };
        let folded = self
            .lines
            .iter()
            .any(|line| matches!(line, Line::Group { key, collapsed: true, .. } if *key == group));
        self.folds.insert(group.clone(), !folded);
        // Keep the selection on the group's header.
        self.invalidate();
        self.lines = self.build(model);
        self.built_for = Some(model.generation());
        if let Some(index) = self
            .lines
            .iter()
            .position(|l| matches!(l, Line::Group { key, .. } if *key == group))
        {
            self.selected = index;
        }
    }

    /// Keeps the selected line inside a window of `height` lines.
    pub fn scroll_to_selection(&mut self, height: usize) {
        if height == 0 {
            return;
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(self.lines.len().saturating_sub(height));
    }
}
