//! Drawing one frame of `git pcc top` from an [`App`]: pure, so the live
//! screen, `--once` and the unit tests render the same frame (the last two
//! into a test backend). One function per pane.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use pcc::top::SessionRow;

use super::app::{App, DiffView, Focus};
use crate::render;

/// The keys, shown at the bottom.
pub const HELP: &str = "j/k select  Enter diff  r release  c cleanup  Tab runs  x kill run  q quit";
const DIFF_HELP: &str = "j/k scroll  Space/b page  g/G top/end  q/Esc back";

/// Heights of the two rows of small panes (title line included).
#[derive(Debug, Clone, Copy)]
pub struct Heights {
    /// Conflicts and sandbox runs.
    pub upper: u16,
    /// Claims and merges.
    pub lower: u16,
}

impl Heights {
    /// For a live screen of `height` rows: small panes that leave the
    /// sessions most of a 24-row terminal.
    pub fn for_screen(height: u16) -> Heights {
        if height >= 40 {
            Heights {
                upper: 10,
                lower: 8,
            }
        } else {
            Heights { upper: 6, lower: 5 }
        }
    }

    /// Tall enough for everything in the snapshot (for `--once`).
    pub fn to_fit(app: &App) -> Heights {
        let upper = conflict_lines(app)
            .len()
            .max(app.snapshot.sandbox_runs.len());
        let lower = app.snapshot.claims.len().max(app.snapshot.merges.len());
        Heights {
            upper: upper.max(1) as u16 + 1,
            lower: lower.max(1) as u16 + 1,
        }
    }

    /// The rows a frame needs to show every session with these panes.
    pub fn total(&self, app: &App) -> u16 {
        let many = app.snapshot.repositories.len() > 1 || app.snapshot.repo_path == "all";
        let headers = if many {
            app.snapshot.repositories.len()
        } else {
            0
        };
        let sessions = app.sessions().count() + headers;
        let bottom = if app.interactive { 2 } else { 0 };
        1 + 2 + sessions.max(1) as u16 + self.upper + self.lower + bottom
    }
}

/// A frame's styles: colours only when allowed, modifiers always.
struct Styles {
    color: bool,
}

impl Styles {
    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    fn waiting(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    fn gone(&self) -> Style {
        self.fg(Color::DarkGray).add_modifier(Modifier::DIM)
    }

    fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
}

/// Draws the whole frame.
pub fn draw(frame: &mut Frame, app: &App, heights: Heights) {
    let area = frame.area();
    let buffer = frame.buffer_mut();
    draw_into(buffer, area, app, heights);
}

/// Draws the frame into `buffer` over `area`.
pub fn draw_into(buffer: &mut Buffer, area: Rect, app: &App, heights: Heights) {
    let styles = Styles { color: app.color };
    let bottom = if app.interactive { 2 } else { 0 };
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(bottom),
    ])
    .areas(area);
    draw_header(buffer, header, app, &styles);
    if let Some(diff) = &app.diff {
        draw_diff(buffer, body, diff, &styles);
    } else {
        let [sessions, upper, lower] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(heights.upper),
            Constraint::Length(heights.lower),
        ])
        .areas(body);
        draw_sessions(buffer, sessions, app, &styles);
        let [conflicts, runs] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(upper);
        draw_conflicts(buffer, conflicts, app, &styles);
        draw_runs(buffer, runs, app, &styles);
        let [claims, merges] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(lower);
        draw_claims(buffer, claims, app, &styles);
        draw_merges(buffer, merges, app, &styles);
    }
    if app.interactive {
        let [message, help] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(footer);
        let text = app.message.clone().unwrap_or_default();
        Paragraph::new(text)
            .style(styles.waiting())
            .render_into(buffer, message);
        let keys = if app.diff.is_some() { DIFF_HELP } else { HELP };
        Paragraph::new(keys)
            .style(styles.selected())
            .render_into(buffer, help);
    }
}

/// `render` on a buffer, for widgets drawn without a `Frame`.
trait RenderInto {
    fn render_into(self, buffer: &mut Buffer, area: Rect);
}

impl<W: ratatui::widgets::Widget> RenderInto for W {
    fn render_into(self, buffer: &mut Buffer, area: Rect) {
        self.render(area, buffer);
    }
}

fn pane(title: String, styles: &Styles) -> Block<'static> {
    Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, styles.title()))
}

fn draw_header(buffer: &mut Buffer, area: Rect, app: &App, styles: &Styles) {
    let snapshot = &app.snapshot;
    let scope = if snapshot.repo_path == "all" {
        "every repository".to_owned()
    } else {
        snapshot.repo_path.clone()
    };
    let time = snapshot.taken_at.split(' ').nth(1).unwrap_or("");
    let mut spans = vec![
        Span::styled("parallel-cc top  ", styles.title()),
        Span::raw(format!(
            "{}  {}",
            render::count(snapshot.total_sessions, "session", "sessions"),
            time
        )),
    ];
    if snapshot.waiting_sessions > 0 {
        spans.push(Span::styled(
            format!("  {} waiting", snapshot.waiting_sessions),
            styles.waiting(),
        ));
    }
    spans.push(Span::raw(format!("  {scope}")));
    Paragraph::new(Line::from(spans)).render_into(buffer, area);
}

/// A session's state as shown: `waiting 2m`, `idle 5m`, `working`, `gone`.
fn state_text(session: &SessionRow) -> String {
    if !session.is_alive {
        return "gone".to_owned();
    }
    match (&session.state, session.state_minutes) {
        (Some(state), Some(minutes)) if state != "working" => {
            format!("{state} {}", render::minutes(minutes))
        }
        (Some(state), _) => state.clone(),
        (None, _) => "-".to_owned(),
    }
}

/// What a session is doing, in a few words.
fn doing_text(session: &SessionRow) -> String {
    if !session.is_alive {
        return "process gone".to_owned();
    }
    match session.state.as_deref() {
        Some("waiting") => session.waiting_for.clone().unwrap_or_default(),
        Some("idle") | Some("idle?") => session.last_message.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

fn number(value: Option<usize>) -> String {
    value.map_or("-".to_owned(), |n| n.to_string())
}

/// The widths of the sessions table's columns; the last takes the rest.
/// The AGENT column (the third) is shown only when a session runs an agent
/// other than Claude Code: it would say nothing otherwise.
const COLUMNS: [usize; 9] = [2, 8, 8, 18, 12, 5, 5, 3, 3];
const HEADINGS: [&str; 10] = [
    "", "SESSION", "AGENT", "BRANCH", "STATE", "AGE", "+/-", "CHG", "CNF", "DOING",
];
const AGENT_COLUMN: usize = 2;

/// The cells as one line of the table: each cut or padded to its column,
/// one space between columns, the last cut to what is left of `width`;
/// without the AGENT column unless `with_agent`.
fn table_line(cells: &[String], width: usize, with_agent: bool) -> String {
    let mut line = String::new();
    for (index, cell) in cells.iter().enumerate() {
        if index == AGENT_COLUMN && !with_agent {
            continue;
        }
        match COLUMNS.get(index) {
            Some(column) => {
                let cut: String = cell.chars().take(*column).collect();
                line.push_str(&format!("{cut:<column$} "));
            }
            None => line.push_str(cell),
        }
    }
    line.chars().take(width).collect()
}

fn draw_sessions(buffer: &mut Buffer, area: Rect, app: &App, styles: &Styles) {
    let block = pane("Sessions".to_owned(), styles);
    let inner = block.inner(area);
    block.render_into(buffer, area);
    let width = usize::from(inner.width);
    let headings: Vec<String> = HEADINGS.iter().map(|h| h.to_string()).collect();
    let with_agent = app
        .snapshot
        .repositories
        .iter()
        .flat_map(|repository| &repository.sessions)
        .any(|session| !session.agent.is_empty() && session.agent != pcc::agents::DEFAULT_AGENT);
    let header = Line::styled(
        table_line(&headings, width, with_agent),
        Style::default().add_modifier(Modifier::BOLD),
    );
    let mut lines: Vec<Line> = Vec::new();
    let mut selected_line = 0;
    let mut index = 0;
    let many = app.snapshot.repositories.len() > 1 || app.snapshot.repo_path == "all";
    for repository in &app.snapshot.repositories {
        if many {
            lines.push(Line::styled(
                repository.repo_path.clone(),
                Style::default().add_modifier(Modifier::BOLD),
            ));
        }
        for session in &repository.sessions {
            let selected = app.interactive && app.focus == Focus::Sessions && index == app.selected;
            if selected {
                selected_line = lines.len();
            }
            let mark = format!(
                "{}{}",
                if selected { ">" } else { " " },
                if session.is_waiting() { "!" } else { " " }
            );
            let ahead_behind = match (session.ahead, session.behind) {
                (Some(ahead), Some(behind)) => format!("+{ahead}/-{behind}"),
                _ => "-".to_owned(),
            };
            let branch = session.branch.clone().unwrap_or_else(|| "-".to_owned());
            let branch = if session.is_main_repo {
                format!("{branch} (main)")
            } else {
                branch
            };
            let mut style = if !session.is_alive {
                styles.gone()
            } else if session.is_waiting() {
                styles.waiting()
            } else {
                Style::default()
            };
            if selected {
                style = style.patch(styles.selected());
            }
            let cells = [
                mark,
                render::short_id(&session.session_id),
                session.agent.clone(),
                branch,
                state_text(session),
                render::minutes(session.age_minutes),
                ahead_behind,
                number(session.changed_files),
                number(session.conflicts),
                doing_text(session),
            ];
            lines.push(Line::styled(table_line(&cells, width, with_agent), style));
            index += 1;
        }
    }
    if lines.is_empty() {
        Paragraph::new("no sessions").render_into(buffer, inner);
        return;
    }
    // Keep the selected line on screen.
    let visible = usize::from(inner.height.saturating_sub(1)).max(1);
    let offset = (selected_line + 1).saturating_sub(visible);
    let mut shown = vec![header];
    shown.extend(lines.into_iter().skip(offset));
    Paragraph::new(shown).render_into(buffer, inner);
}

/// One line per pair of sessions that collide, with the files.
fn conflict_lines(app: &App) -> Vec<(bool, String)> {
    let mut lines = Vec::new();
    for repository in &app.snapshot.repositories {
        if let Some(error) = &repository.error {
            lines.push((true, format!("! {error}")));
        }
        for pair in repository.pairs.iter().chain(&repository.against_target) {
            if pair.conflicts.is_empty() {
                continue;
            }
            let other = if pair.b_path.is_empty() {
                pair.b.clone()
            } else {
                render::short_id(&pair.b)
            };
            let files: Vec<&str> = pair.conflicts.iter().map(|c| c.path.as_str()).collect();
            lines.push((
                true,
                format!(
                    "{} x {}: {}",
                    render::short_id(&pair.a),
                    other,
                    files.join(", ")
                ),
            ));
        }
    }
    lines
}

fn draw_conflicts(buffer: &mut Buffer, area: Rect, app: &App, styles: &Styles) {
    let lines = conflict_lines(app);
    let block = pane(format!("Conflicts ({})", lines.len()), styles);
    let text: Vec<Line> = if lines.is_empty() {
        vec![Line::from("no predicted conflicts")]
    } else {
        lines
            .into_iter()
            .map(|(_, line)| Line::styled(line, styles.fg(Color::Red)))
            .collect()
    };
    Paragraph::new(text).block(block).render_into(buffer, area);
}

fn draw_runs(buffer: &mut Buffer, area: Rect, app: &App, styles: &Styles) {
    let runs = &app.snapshot.sandbox_runs;
    let block = pane(format!("Sandbox runs ({})", runs.len()), styles);
    let inner = block.inner(area);
    block.render_into(buffer, area);
    if runs.is_empty() {
        Paragraph::new("none going on").render_into(buffer, inner);
        return;
    }
    let visible = usize::from(inner.height).max(1);
    let offset = (app.selected_run + 1).saturating_sub(visible);
    let lines: Vec<Line> = runs
        .iter()
        .enumerate()
        .skip(offset)
        .map(|(index, run)| {
            let selected = app.interactive && app.focus == Focus::Runs && index == app.selected_run;
            let what = run
                .last_activity
                .clone()
                .unwrap_or_else(|| run.prompt.clone());
            let cost = run
                .agent_cost
                .map(|cost| format!(" ${cost:.2}"))
                .unwrap_or_default();
            let text = format!(
                "{}{} {} {}{} {}",
                if selected { ">" } else { " " },
                render::short_id(&run.session_id),
                run.status,
                render::minutes(run.elapsed_minutes),
                cost,
                what
            );
            if selected {
                Line::styled(text, styles.selected())
            } else {
                Line::from(text)
            }
        })
        .collect();
    Paragraph::new(lines).render_into(buffer, inner);
}

fn draw_claims(buffer: &mut Buffer, area: Rect, app: &App, styles: &Styles) {
    let claims = &app.snapshot.claims;
    let block = pane(format!("Claims ({})", claims.len()), styles);
    let lines: Vec<Line> = if claims.is_empty() {
        vec![Line::from("none held")]
    } else {
        claims
            .iter()
            .map(|claim| {
                Line::from(format!(
                    "{} {} {}",
                    render::short_id(&claim.session_id),
                    claim.mode,
                    claim.file_path
                ))
            })
            .collect()
    };
    Paragraph::new(lines).block(block).render_into(buffer, area);
}

fn draw_merges(buffer: &mut Buffer, area: Rect, app: &App, styles: &Styles) {
    let merges = &app.snapshot.merges;
    let block = pane("Recent merges".to_owned(), styles);
    let lines: Vec<Line> = if merges.is_empty() {
        vec![Line::from("none seen")]
    } else {
        merges
            .iter()
            .map(|merge| {
                Line::from(format!(
                    "{} {} -> {}",
                    when(&merge.detected_at, &app.snapshot.taken_at),
                    merge.branch_name,
                    merge.target_branch
                ))
            })
            .collect()
    };
    Paragraph::new(lines).block(block).render_into(buffer, area);
}

/// A stored time as `HH:MM` on the day of `today` (both UTC
/// `YYYY-MM-DD HH:MM:SS`), else as `MM-DD`.
fn when(stamp: &str, today: &str) -> String {
    match (stamp.split_once(' '), today.split_once(' ')) {
        (Some((day, time)), Some((this_day, _))) if day == this_day => {
            time.chars().take(5).collect()
        }
        (Some((day, _)), _) => day.chars().skip(5).collect(),
        _ => stamp.to_owned(),
    }
}

fn draw_diff(buffer: &mut Buffer, area: Rect, diff: &DiffView, styles: &Styles) {
    let block = pane(diff.title.clone(), styles);
    let lines: Vec<Line> = if diff.lines.is_empty() {
        vec![Line::from("no changes")]
    } else {
        diff.lines
            .iter()
            .skip(diff.scroll)
            .map(|line| {
                let style = if line.starts_with("+++") || line.starts_with("---") {
                    Style::default().add_modifier(Modifier::BOLD)
                } else if line.starts_with('+') {
                    styles.fg(Color::Green)
                } else if line.starts_with('-') {
                    styles.fg(Color::Red)
                } else if line.starts_with("@@") {
                    styles.fg(Color::Cyan)
                } else if line.starts_with("diff ") {
                    Style::default().add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                };
                Line::styled(line.replace('\t', "    "), style)
            })
            .collect()
    };
    Paragraph::new(lines).block(block).render_into(buffer, area);
}

/// A buffer's text, one line per row, without trailing blanks.
pub fn buffer_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
