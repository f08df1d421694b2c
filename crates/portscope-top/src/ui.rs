//! Drawing the view with ratatui: a header with counts, the grouped table, the details pane, the
//! status line, and the help and confirmation windows.
//!
//! Every string from a process or the network reaches the screen through
//! `portscope_core::render` (escaped), either in the model's labels or here. Without colour
//! (NO_COLOR, `--color never`) state is carried by markers and text alone (`+` new, `-` closed,
//! the verdict's word), plus bold and reverse video.

use std::time::Duration;

use portscope_core::audit::Severity;
use portscope_core::render;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::{App, Tone};
use crate::model::Row;
use crate::view::Line;

/// Styles that collapse to plain text without colour.
#[derive(Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    fn severity(self, severity: Option<Severity>) -> Style {
        match severity {
            Some(Severity::Alert) => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Some(Severity::Warning) => self.fg(Color::Yellow),
            Some(Severity::Info) | None => Style::new(),
        }
    }

    fn tone(self, tone: Tone) -> Style {
        match tone {
            Tone::Info => Style::new(),
            Tone::Good => self.fg(Color::Green),
            Tone::Bad => self.fg(Color::Red),
        }
    }
}

/// Column widths for a table `width` columns wide.
struct Columns {
    proto: usize,
    local: usize,
    remote: usize,
    state: usize,
    service: usize,
    user: usize,
    netns: usize,
    verdict: usize,
}

impl Columns {
    /// Widths for a table `width` columns wide. Below 100 columns the USER column goes (the
    /// group line names the user) and the fixed columns narrow, so that addresses keep room.
    fn fit(width: usize, netns: bool) -> Columns {
        let wide = width >= 100;
        let (proto, state, service, verdict) = (5, if wide { 11 } else { 10 }, if wide { 10 } else { 8 }, 7);
        let user = if wide { 10 } else { 0 };
        let netns = match (netns, wide) {
            (false, _) => 0,
            (true, true) => 12,
            (true, false) => 8,
        };
        // The marker, the fixed columns and one space after each.
        let spaces = 5 + usize::from(user > 0) + usize::from(netns > 0);
        let fixed = 2 + proto + state + service + user + verdict + netns + spaces;
        let flexible = width.saturating_sub(fixed).max(16);
        let local = (flexible / 2).min(47);
        let remote = (flexible - local).min(47);
        Columns {
            proto,
            local,
            remote,
            state,
            service,
            user,
            netns,
            verdict,
        }
    }
}

fn cell(text: &str, width: usize) -> String {
    let text = render::truncate(text, width);
    format!("{text:<width$}")
}

/// The VERDICT column: alerts and warnings; an informational finding is only in the details.
fn verdict_word(severity: Option<Severity>) -> &'static str {
    match severity {
        Some(Severity::Alert) => "ALERT",
        Some(Severity::Warning) => "warning",
        Some(Severity::Info) | None => "",
    }
}

/// Draws the whole view for a frame taken `now` after the start.
pub fn draw(frame: &mut Frame, app: &mut App, now: Duration) {
    let theme = Theme { color: app.color };
    let area = frame.area();
    let details_height = if app.view.details && app.details.is_some() {
        (area.height.saturating_sub(2) * 2 / 3).max(6)
    } else {
        0
    };
    let note_height = u16::from(!app.notes.is_empty());
    let [header, table, details, note, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(details_height),
        Constraint::Length(note_height),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(first) = app.notes.first() {
        let more = match app.notes.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        let text = format!("note: {}{more}", render::escape(first));
        frame.render_widget(
            Paragraph::new(TextLine::styled(text, Style::new().add_modifier(Modifier::DIM))),
            note,
        );
    }

    draw_header(frame, app, header, theme);
    draw_table(frame, app, table, theme, now);
    if details_height > 0 {
        draw_details(frame, app, details, theme);
    }
    draw_status(frame, app, status, theme);
    if app.view.help {
        draw_help(frame, area);
    }
    if app.pending.is_some() {
        draw_confirm(frame, app, area, theme);
    }
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let counts = app.model.counts();
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut spans = vec![
        Span::styled("portscope top", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "  {}, {}, ",
            plural(counts.listeners, "listener", "listeners"),
            plural(counts.connections, "connection", "connections")
        )),
        Span::styled(
            plural(counts.alerts, "alert", "alerts"),
            if counts.alerts > 0 {
                theme.severity(Some(Severity::Alert))
            } else {
                Style::new()
            },
        ),
        Span::raw(", "),
        Span::styled(
            plural(counts.warnings, "warning", "warnings"),
            if counts.warnings > 0 {
                theme.severity(Some(Severity::Warning))
            } else {
                Style::new()
            },
        ),
    ];
    let mut flags = Vec::new();
    if app.view.paused {
        flags.push("PAUSED".to_string());
    }
    if app.view.listeners_only {
        flags.push("listeners only".into());
    }
    if !app.view.filter.is_empty() || app.view.editing {
        flags.push(format!("filter: {}", render::escape(&app.view.filter)));
    }
    flags.push(format!("sort: {}", app.view.sort.as_str()));
    spans.push(Span::raw(format!("  [{}]", flags.join("] ["))));
    frame.render_widget(Paragraph::new(TextLine::from(spans)), area);
}

fn draw_table(frame: &mut Frame, app: &mut App, area: Rect, theme: Theme, now: Duration) {
    let width = usize::from(area.width);
    let netns = app.model.spans_namespaces();
    let cols = Columns::fit(width, netns);
    let mut head = format!(
        "  {} {} {} {} {} ",
        cell("PROTO", cols.proto),
        cell("LOCAL", cols.local),
        cell("REMOTE", cols.remote),
        cell("STATE", cols.state),
        cell("SERVICE", cols.service),
    );
    if cols.user > 0 {
        head.push_str(&cell("USER", cols.user));
        head.push(' ');
    }
    if netns {
        head.push_str(&cell("NETNS", cols.netns));
        head.push(' ');
    }
    head.push_str(&cell("VERDICT", cols.verdict));
    let mut lines = vec![TextLine::styled(head, Style::new().add_modifier(Modifier::BOLD))];

    let height = usize::from(area.height).saturating_sub(1);
    app.view.scroll_to_selection(height);
    let selected = app.view.selected();
    let offset = app.view.offset;
    if app.view.lines().is_empty() {
        let text = if app.model.is_empty() {
            match &app.error {
                Some(err) => format!("  cannot read the sockets: {}", render::escape(err)),
                None => "  no sockets".into(),
            }
        } else {
            "  no socket matches (Esc clears the filter, l shows every state)".into()
        };
        lines.push(TextLine::raw(text));
    }
    for (index, line) in app.view.lines().iter().enumerate().skip(offset).take(height) {
        let mut text = match line {
            Line::Group {
                key,
                sockets,
                worst,
                collapsed,
                user,
            } => {
                let marker = if *collapsed { "▸" } else { "▾" };
                let badge = match worst {
                    Some(s) if *s >= Severity::Warning => format!("  {}", verdict_word(Some(*s))),
                    _ => String::new(),
                };
                let count = if *sockets == 1 {
                    "1 socket".to_string()
                } else {
                    format!("{sockets} sockets")
                };
                TextLine::from(vec![
                    Span::styled(
                        format!("{marker} {}", key.label()),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(if user.is_empty() {
                        format!("  ({count})")
                    } else {
                        format!("  {user}  ({count})")
                    }),
                    Span::styled(badge, theme.severity(*worst)),
                ])
            }
            Line::Row(key) => match app.model.row(key) {
                Some(row) => row_line(row, &cols, netns, theme, now),
                None => TextLine::raw(""),
            },
        };
        if index == selected {
            text = text.patch_style(Style::new().add_modifier(Modifier::REVERSED));
        }
        lines.push(text);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn row_line(row: &Row, cols: &Columns, netns: bool, theme: Theme, now: Duration) -> TextLine<'static> {
    let socket = &row.socket;
    let (marker, style) = if row.closed.is_some() {
        ("-", theme.fg(Color::Red).add_modifier(Modifier::DIM))
    } else if row.is_new(now) {
        ("+", theme.fg(Color::Green).add_modifier(Modifier::BOLD))
    } else {
        (" ", Style::new())
    };
    let remote = if socket.remote.is_unspecified() {
        "*".to_string()
    } else {
        socket.remote.to_string()
    };
    let user = row
        .owner()
        .and_then(|h| h.process.user.as_deref())
        .map(|u| render::escape(u).into_owned())
        .unwrap_or_else(|| socket.uid.to_string());
    let state = if row.closed.is_some() {
        "CLOSED"
    } else {
        socket.state.as_str()
    };
    let service = row
        .service
        .as_deref()
        .map(|s| render::escape(s).into_owned())
        .unwrap_or_else(|| "-".into());
    let mut text = format!(
        "{marker} {} {} {} {} {} ",
        cell(socket.protocol.as_str(), cols.proto),
        cell(&socket.local.to_string(), cols.local),
        cell(&remote, cols.remote),
        cell(state, cols.state),
        cell(&service, cols.service),
    );
    if cols.user > 0 {
        text.push_str(&cell(&user, cols.user));
        text.push(' ');
    }
    if netns {
        text.push_str(&cell(&render::escape(&socket.netns.label()), cols.netns));
        text.push(' ');
    }
    TextLine::from(vec![
        Span::styled(text, style),
        Span::styled(
            cell(verdict_word(row.verdict), cols.verdict),
            theme.severity(row.verdict),
        ),
    ])
}

fn draw_details(frame: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let Some(details) = &app.details else { return };
    let mut lines = Vec::new();
    let text_width = usize::from(area.width).saturating_sub(LABEL).max(20);
    for item in &details.items {
        for (n, part) in wrap(&item.text, text_width).into_iter().enumerate() {
            let label = if n == 0 { item.label } else { "" };
            lines.push(TextLine::from(vec![
                Span::styled(
                    format!("{label:<LABEL$}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::styled(part, theme.severity(item.severity)),
            ]));
        }
    }
    let block = Block::new()
        .borders(Borders::TOP)
        .title(format!(" {} (PgDn/PgUp scroll, Esc closes) ", details.title));
    let scroll = app.view.details_scroll.min(lines.len().saturating_sub(1) as u16);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let line = if app.view.editing {
        TextLine::raw(format!(
            "filter (port, program or address): {}_   Enter keeps, Esc clears",
            render::escape(&app.view.filter)
        ))
    } else if let Some((text, tone)) = &app.status {
        TextLine::styled(text.clone(), theme.tone(*tone))
    } else if let Some(err) = &app.error {
        TextLine::styled(
            format!("cannot read the sockets: {}", render::escape(err)),
            theme.tone(Tone::Bad),
        )
    } else {
        TextLine::raw("? help  / filter  s sort  l listeners  p pause  c close port  x cut  q quit")
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// Width of the details pane's labels.
const LABEL: usize = 9;

/// `text` cut into lines of at most `width` columns, at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let used = render::width(&line);
            let need = render::width(&word) + usize::from(used > 0);
            if used + need <= width {
                if used > 0 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a line: cut it.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A rectangle of `width` × `height` centred in `area` (clipped to it).
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

const HELP: &[(&str, &str)] = &[
    ("Up/Down j/k", "move; PgUp/PgDn, Home/End jump"),
    ("PgUp/PgDn", "with details open: scroll the details"),
    ("Enter", "details of a socket; on a program: fold"),
    ("Space", "fold or unfold the program's group"),
    ("/", "filter by port, program or address"),
    ("s", "sort: port, program, verdict, sockets"),
    ("l", "listeners only, or every state"),
    ("p", "pause or resume the refresh"),
    ("c", "close the port: stop its holders"),
    ("x", "cut the connection (program keeps running)"),
    ("q, Ctrl-C", "quit"),
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<TextLine> = HELP
        .iter()
        .map(|(key, what)| {
            TextLine::from(vec![
                Span::styled(format!(" {key:<12}"), Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(TextLine::raw(""));
    lines.push(TextLine::raw(
        " + new socket, - closed socket; VERDICT: the audit's worst finding",
    ));
    lines.push(TextLine::raw(" Any key closes this help."));
    let rect = centred(area, 72, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" portscope top: keys ")),
        rect,
    );
}

fn draw_confirm(frame: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let Some(pending) = &app.pending else { return };
    let mut lines = vec![TextLine::styled(
        pending.question(),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for line in pending.lines() {
        lines.push(TextLine::raw(format!("  {line}")));
    }
    lines.push(TextLine::raw(""));
    lines.push(TextLine::styled(
        "y: yes, do it    any other key: no",
        theme.fg(Color::Yellow),
    ));
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = centred(area, area.width.saturating_sub(4).min(76), height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(" confirm "))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 10), vec![""]);
        for line in wrap("a/very/long/path/without/spaces and words", 9) {
            assert!(render::width(&line) <= 9, "{line}");
        }
    }

    #[test]
    fn columns_fit_the_width() {
        for (width, netns) in [(80, false), (80, true), (100, true), (200, true)] {
            let c = Columns::fit(width, netns);
            let used = 2
                + c.proto
                + c.local
                + c.remote
                + c.state
                + c.service
                + c.user
                + c.netns
                + c.verdict
                + 5
                + usize::from(c.user > 0)
                + usize::from(c.netns > 0);
            assert!(used <= width, "{width}: {used}");
            // An IPv4 address and port fit at 80 columns.
            assert!(c.local >= "198.18.0.1:40312".len(), "{width}");
        }
    }
}
