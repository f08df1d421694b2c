//! What the user chose to see: filter, sort, listeners only, collapsed groups, the selection.
//!
//! The view turns the model into lines: a header line per program, then its sockets. It rebuilds
//! them only when the model's generation or a choice changed, and keeps the selection on the same
//! group or socket across rebuilds.

use std::collections::{BTreeMap, HashSet};

use portscope_core::audit::Severity;
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
        /// The owner's user name (or uid), escaped; empty without an owner.
        user: String,
    },
    Row(RowKey),
}

/// How rows and groups are ordered (`s` cycles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Groups by their lowest local port, rows by local port.
    #[default]
    Port,
    /// Groups by program name.
    Program,
    /// Groups with the worst verdict first.
    Verdict,
    /// Groups with the most sockets first.
    Sockets,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Port => Sort::Program,
            Sort::Program => Sort::Verdict,
            Sort::Verdict => Sort::Sockets,
            Sort::Sockets => Sort::Port,
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
    collapsed: HashSet<GroupKey>,
    lines: Vec<Line>,
    selected: usize,
    /// The first line shown (scrolling).
    pub offset: usize,
    built_for: Option<u64>,
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
            if self.passes(row) {
                groups.entry(GroupKey::of(row)).or_default().push((key, row));
            }
        }
        let mut groups: Vec<(GroupKey, Vec<(&RowKey, &Row)>)> = groups.into_iter().collect();
        for (_, rows) in &mut groups {
            rows.sort_by_key(|(key, row)| (row.socket.local.port, !row.socket.state.is_listening(), **key));
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
            }),
            Sort::Sockets => groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0))),
        }
        let mut lines = Vec::with_capacity(model.len() + groups.len());
        for (key, rows) in groups {
            let collapsed = self.collapsed.contains(&key);
            let user = rows
                .first()
                .and_then(|(_, row)| row.owner())
                .map(|h| match &h.process.user {
                    Some(user) => render::escape(user).into_owned(),
                    None => format!("uid {}", h.process.uid),
                })
                .unwrap_or_default();
            lines.push(Line::Group {
                user,
                sockets: rows.len(),
                worst: worst(&rows),
                collapsed,
                key,
            });
            if !collapsed {
                lines.extend(rows.into_iter().map(|(key, _)| Line::Row(*key)));
            }
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
        if !self.collapsed.remove(&group) {
            self.collapsed.insert(group.clone());
        }
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
