//! Drawing the view with ratatui: a header with counts, the grouped table, the details pane, the
//! status line, and the help and confirmation windows.
//!
//! Every string from a process or the network reaches the screen through
//! `portscope_core::render` (escaped), either in the model's labels or here. Without colour
//! (NO_COLOR, `--color never`) state is carried by markers and text alone (`+` new, `-` closed,
//! the verdict's word), plus bold and reverse video.

use std::time::Duration;

use portscope_core::audit::Severity;
use portscope_core::model::{Netns, SocketState};
use portscope_core::render;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::actions::{self, Pending};
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
    /// The owner's executable; 0 (no column) unless the addresses already have all they use.
    exe: usize,
    netns: usize,
    verdict: usize,
}

impl Columns {
    /// Widths for a table `width` columns wide. Below 100 columns the USER column goes (the
    /// group line names the user) and the fixed columns narrow, so that addresses keep room.
    /// Once both addresses have their widest (an IPv6 address with a port), what is left, if
    /// at least [`EXE_MIN`] columns, goes to an EXE column (as TCPView's Process Path): on a
    /// wide terminal the path is where a disguised program shows.
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
        let local = (flexible / 2).min(ADDRESS_MAX);
        let remote = (flexible - local).min(ADDRESS_MAX);
        let rest = flexible - local - remote;
        // The column and the space after it.
        let exe = if rest > EXE_MIN {
            (rest - 1).min(EXE_MAX)
        } else {
            0
        };
        Columns {
            proto,
            local,
            remote,
            state,
            service,
            user,
            exe,
            netns,
            verdict,
        }
    }
}

/// The widest an address column gets: `[ffff:…:ffff]:65535` and a little room.
const ADDRESS_MAX: usize = 47;
/// The narrowest EXE column worth showing, and the widest it gets.
const EXE_MIN: usize = 16;
const EXE_MAX: usize = 60;

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
    let netns = app.model.shows_netns();
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
    if cols.exe > 0 {
        head.push_str(&cell("EXE", cols.exe));
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
                states,
                user,
            } => {
                let marker = if *collapsed { "▸" } else { "▾" };
                let badge = match worst {
                    Some(s) if *s >= Severity::Warning => format!("  {}", verdict_word(Some(*s))),
                    _ => String::new(),
                };
                let mut count = if *sockets == 1 {
                    "1 socket".to_string()
                } else {
                    format!("{sockets} sockets")
                };
                if *collapsed {
                    count.push_str(": ");
                    count.push_str(&state_counts(states));
                }
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
    if cols.exe > 0 {
        // The file name matters most, the directory next: a long path loses its middle.
        let exe = match row.owner().map(|h| &h.process) {
            Some(process) => match &process.exe {
                Some(exe) if process.exe_deleted => format!("{} (deleted)", render::path(exe)),
                Some(exe) => render::path(exe).into_owned(),
                None => "?".into(),
            },
            None => "-".into(),
        };
        text.push_str(&format!(
            "{:<width$} ",
            render::truncate_middle(&exe, cols.exe),
            width = cols.exe
        ));
    }
    if netns {
        let label = render::escape(&short_label(&socket.netns)).into_owned();
        text.push_str(&format!(
            "{:<width$} ",
            render::truncate_middle(&label, cols.netns),
            width = cols.netns
        ));
    }
    TextLine::from(vec![
        Span::styled(text, style),
        Span::styled(
            cell(verdict_word(row.verdict), cols.verdict),
            theme.severity(row.verdict),
        ),
    ])
}

/// What a folded group holds: `3000 TIME-WAIT, 2 FIN-WAIT-2`, the three commonest states, then
/// how many sockets are in the others.
fn state_counts(states: &[(SocketState, usize)]) -> String {
    let mut parts: Vec<String> = states
        .iter()
        .take(3)
        .map(|(state, n)| format!("{n} {}", state.as_str()))
        .collect();
    let rest: usize = states.iter().skip(3).map(|(_, n)| n).sum();
    if rest > 0 {
        parts.push(format!("{rest} other"));
    }
    parts.join(", ")
}

/// A namespace's name for the NETNS column: the one short label every table uses (`host`, the
/// `ip netns` or container name, else `ns:` and the last six digits of its inode).
fn short_label(netns: &Netns) -> String {
    netns.short_label()
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
        TextLine::raw("? help  / filter  s sort  l listeners  p pause  c close  e end  x cut  q quit")
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
    ("s", "sort: verdict, port, program, sockets"),
    ("l", "listeners only, or every state"),
    ("p", "pause or resume the refresh"),
    ("c", "on a listener: close the port (stop its holders);"),
    ("", "elsewhere: end the process, as e"),
    ("e", "end the process of the line (close --pid)"),
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
    lines.push(TextLine::raw(
        " a closed socket with a finding stays while its process runs",
    ));
    lines.push(TextLine::raw(
        " ▸ folded: no visible owner, or closing sockets only (Space unfolds)",
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
    let answers = match pending {
        Pending::Close { .. } => format!(
            "y: yes, do it   k: yes, SIGKILL if still running after {} s   other key: no",
            actions::TIMEOUT.as_secs()
        ),
        Pending::Cut { .. } => "y: yes, do it    any other key: no".into(),
    };
    lines.push(TextLine::styled(answers, theme.fg(Color::Yellow)));
    let width = area.width.saturating_sub(4).min(76);
    // Long lines wrap: count the rows they take inside the border, so the last (the answers)
    // is not cut off.
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let height = (rows.min(usize::from(u16::MAX)) as u16)
        .saturating_add(2)
        .min(area.height);
    let rect = centred(area, width, height);
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
    fn namespace_labels_are_short() {
        use portscope_core::model::NetnsKind;
        let netns = |inode, name: Option<&str>, kind| Netns {
            inode,
            name: name.map(str::to_string),
            kind,
        };
        assert_eq!(short_label(&netns(4026531840, None, NetnsKind::Host)), "host");
        assert_eq!(
            short_label(&netns(4026532319, None, NetnsKind::Anonymous)),
            "ns:532319"
        );
        assert_eq!(
            short_label(&netns(4026532001, Some("lab"), NetnsKind::Named)),
            "lab"
        );
        assert_eq!(
            short_label(&netns(4026500007, None, NetnsKind::Anonymous)),
            "ns:500007"
        );
    }

    #[test]
    fn folded_groups_count_their_states() {
        use SocketState::*;
        assert_eq!(
            state_counts(&[(TimeWait, 3000), (FinWait2, 2)]),
            "3000 TIME-WAIT, 2 FIN-WAIT-2"
        );
        assert_eq!(
            state_counts(&[
                (TimeWait, 9),
                (FinWait2, 3),
                (LastAck, 2),
                (Closing, 1),
                (Close, 1)
            ]),
            "9 TIME-WAIT, 3 FIN-WAIT-2, 2 LAST-ACK, 2 other"
        );
    }

    #[test]
    fn columns_fit_the_width() {
        for (width, netns) in [(80, false), (80, true), (100, true), (200, true), (400, false)] {
            let c = Columns::fit(width, netns);
            let used = 2
                + c.proto
                + c.local
                + c.remote
                + c.state
                + c.service
                + c.user
                + c.exe
                + usize::from(c.exe > 0)
                + c.netns
                + c.verdict
                + 5
                + usize::from(c.user > 0)
                + usize::from(c.netns > 0);
            assert!(used <= width, "{width}: {used}");
            // An IPv4 address and port fit at 80 columns.
            assert!(c.local >= "198.18.0.1:40312".len(), "{width}");
        }
        // EXE only once both addresses have their widest.
        for (width, netns) in [(80, false), (100, true), (120, true), (160, true)] {
            assert_eq!(Columns::fit(width, netns).exe, 0, "{width}");
        }
        let wide = Columns::fit(200, true);
        assert_eq!((wide.local, wide.remote), (ADDRESS_MAX, ADDRESS_MAX));
        assert!(wide.exe >= EXE_MIN, "{}", wide.exe);
    }
}
