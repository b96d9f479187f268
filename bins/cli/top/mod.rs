//! `git pcc top`: the live terminal view of sessions, their states and
//! conflicts, claims, merges and sandbox runs, refreshed about once a
//! second. The data of a frame is `pcc::top`'s snapshot; `app` holds the
//! screen's state and key bindings, `draw` renders a frame (the same one
//! `--once` prints as text), and this module runs the event loop and owns
//! the terminal: raw mode and the alternate screen are left again on every
//! way out (quitting, an error, a panic, SIGTERM, SIGHUP, SIGINT).

pub mod app;
pub mod draw;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use crossterm::event::{self, Event, KeyEventKind};
use crossterm::{cursor, execute, terminal};
use pcc::session::{self, CleanupScope, Patience, SessionSelector};
use pcc::top::{self as frame_data, Snapshot};
use pcc::UserError;
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::Terminal;

use self::app::{App, Command, DiffView};
use self::draw::Heights;
use crate::render;
use crate::scope::Scope;
use crate::Output;

/// How often the screen is gathered again.
const REFRESH: Duration = Duration::from_secs(1);
/// How long one wait for a key lasts at most, so a signal is acted on soon.
const TICK: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The repository containing this path (default: the one around the
    /// working directory; every repository outside one)
    #[arg(long, value_name = "PATH", conflicts_with = "all")]
    pub repo: Option<PathBuf>,
    /// Every repository parallel-cc knows
    #[arg(long)]
    pub all: bool,
    /// Print one frame as text and exit (with --json: the frame's data)
    #[arg(long)]
    pub once: bool,
    /// With --once: gather this many frames in one process, as the live
    /// view does, and print the last (scripts/bench/top.py times a refresh
    /// with it)
    #[arg(long, value_name = "N", default_value_t = 1, hide = true)]
    pub refreshes: usize,
}

pub fn run(args: TopArgs, json: bool) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    let scope = Scope::resolve(args.repo.as_deref(), args.all, None)?;
    let repo = scope.repository().map(Path::to_path_buf);
    let memory = std::cell::RefCell::new(frame_data::Memory::default());
    let gather = || {
        frame_data::snapshot_remembering(&data_dir, repo.as_deref(), &mut memory.borrow_mut())
            .map_err(|err| crate::scope::with_repo_hint(err, args.repo.is_some()))
    };
    if args.once || json {
        let mut snapshot = gather()?;
        for _ in 1..args.refreshes {
            snapshot = gather()?;
        }
        let text = once_text(
            &snapshot,
            color_allowed() && std::io::stdout().is_terminal(),
        );
        return Ok(Output::new(&snapshot, text));
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(UserError::with_hint(
            "git pcc top needs a terminal",
            "'git pcc top --once' prints one frame as text, '--once --json' its data",
        )
        .into());
    }
    let first = gather()?;
    live(&data_dir, first, gather)?;
    Ok(Output::silent())
}

/// Whether colours may be used: not when `NO_COLOR` is set to anything.
fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// One frame as text, tall enough for everything and as wide as the
/// terminal (80 columns when there is none).
pub fn once_text(snapshot: &Snapshot, color: bool) -> String {
    let app = App::new(snapshot.clone(), color, false);
    let width = match render::terminal_width() {
        usize::MAX => 80,
        columns => columns.clamp(40, 400) as u16,
    };
    let heights = Heights::to_fit(&app);
    render_text(&app, width, heights.total(&app), heights)
}

/// Renders `app` into a `width` x `height` test backend and returns the
/// text of the frame.
pub fn render_text(app: &App, width: u16, height: u16, heights: Heights) -> String {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(terminal) => terminal,
        Err(_) => return String::new(),
    };
    let _ = terminal.draw(|frame| draw::draw(frame, app, heights));
    draw::buffer_text(terminal.backend().buffer())
}

/// Set while the terminal is in raw mode on the alternate screen.
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);
/// The signal that asked us to stop, 0 for none.
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    SIGNALLED.store(signal, Ordering::SeqCst);
}

/// Takes the terminal: raw mode, the alternate screen, no cursor.
fn take_terminal() -> anyhow::Result<()> {
    terminal::enable_raw_mode()?;
    TERMINAL_TAKEN.store(true, Ordering::SeqCst);
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        cursor::Hide
    )?;
    Ok(())
}

/// Gives the terminal back as it was; safe to call more than once.
fn restore_terminal() {
    if TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

/// Restores the terminal when dropped (an error or an early return).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Stops on SIGTERM, SIGHUP (the ssh connection went) and SIGINT by
/// setting a flag the event loop reads; a panic restores the terminal
/// before its message is printed.
fn install_handlers() {
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        // SAFETY: the handler only stores into an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(
                signal,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

/// Ends the process the way the signal would have, now that the terminal
/// is restored.
fn die_of(signal: libc::c_int) -> ! {
    // SAFETY: resetting a handler and raising a signal at ourselves.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
    std::process::exit(128 + signal)
}

/// The screen's event loop: gather, draw, wait for a key or the next
/// refresh.
fn live(
    data_dir: &Path,
    first: Snapshot,
    gather: impl Fn() -> anyhow::Result<Snapshot>,
) -> anyhow::Result<()> {
    install_handlers();
    let _guard = TerminalGuard;
    take_terminal()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    let mut app = App::new(first, color_allowed(), true);
    let mut gathered = Instant::now();
    let mut kill: Option<(String, Child)> = None;
    loop {
        if let Some(signal) = std::num::NonZeroI32::new(SIGNALLED.load(Ordering::SeqCst)) {
            drop(terminal);
            restore_terminal();
            die_of(signal.get());
        }
        if gathered.elapsed() >= REFRESH {
            match gather() {
                Ok(snapshot) => app.replace(snapshot),
                Err(err) => app.message = Some(format!("error: {err:#}")),
            }
            gathered = Instant::now();
        }
        if let Some((run_id, child)) = &mut kill {
            if let Ok(Some(_)) = child.try_wait() {
                app.message = Some(kill_outcome(run_id, child));
                kill = None;
                gathered -= REFRESH;
            }
        }
        pcc::failpoint::panic_at("top:draw");
        let size = terminal.size()?;
        let heights = Heights::for_screen(size.height);
        terminal.draw(|frame| draw::draw(frame, &app, heights))?;
        let wait = REFRESH.saturating_sub(gathered.elapsed()).min(TICK);
        if !event::poll(wait).unwrap_or(false) {
            continue;
        }
        let key = match event::read() {
            Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => key,
            _ => continue,
        };
        let page = usize::from(size.height.saturating_sub(4)).max(1);
        let before = app.message.clone();
        let command = app.key(key, page);
        match command {
            Command::Nothing => {
                if app.message == before && app.pending.is_none() {
                    app.message = None;
                }
            }
            Command::Quit => break,
            Command::Diff => open_diff(&mut app),
            Command::Release { session_id } => {
                app.message = Some(release(data_dir, &session_id));
                gathered -= REFRESH;
            }
            Command::Cleanup { repo_path } => {
                app.message = Some(cleanup(data_dir, &repo_path));
                gathered -= REFRESH;
            }
            Command::Kill { run_id } => match start_kill(&run_id) {
                Ok(child) => {
                    app.message = Some(format!("killing run {}...", render::short_id(&run_id)));
                    kill = Some((run_id, child));
                }
                Err(err) => app.message = Some(format!("error: {err:#}")),
            },
        }
    }
    drop(terminal);
    restore_terminal();
    Ok(())
}

/// Shows the selected session's diff against its base.
fn open_diff(app: &mut App) {
    let Some(session) = app.selected_session() else {
        return;
    };
    let against = session.base.clone().unwrap_or_else(|| "HEAD".to_owned());
    let title = format!(
        "Diff of {} ({}) against {}",
        render::short_id(&session.session_id),
        session.branch.as_deref().unwrap_or("-"),
        against
    );
    match frame_data::diff(Path::new(&session.worktree_path), session.base.as_deref()) {
        Ok(text) => {
            app.diff = Some(DiffView {
                title,
                lines: text.lines().map(str::to_owned).collect(),
                scroll: 0,
            })
        }
        Err(err) => app.message = Some(format!("error: {err:#}")),
    }
}

/// Releases a session (held work is kept) and says what happened.
fn release(data_dir: &Path, session_id: &str) -> String {
    let selector = SessionSelector::Id(session_id.to_owned());
    match session::release(data_dir, &selector, false, Patience::Command) {
        Ok(report) => {
            let mut text = format!(
                "released session {} (pid {})",
                render::short_id(&report.session_id),
                report.pid
            );
            if let Some(kept) = &report.kept {
                text.push_str(&format!("; kept its worktree: {}", kept.reason));
            } else if report.worktree_removed {
                text.push_str("; removed its worktree");
            }
            text
        }
        Err(err) => format!("error: {err:#}"),
    }
}

/// Cleans up a repository and says what happened.
fn cleanup(data_dir: &Path, repo_path: &str) -> String {
    let scope = CleanupScope::Repository(PathBuf::from(repo_path));
    match session::cleanup(data_dir, &scope, false, false) {
        Ok(report) => {
            let mut text = format!(
                "cleanup: {} removed, {} removed, {} kept",
                render::count(report.removed_sessions.len(), "session", "sessions"),
                render::count(report.removed_worktrees.len(), "worktree", "worktrees"),
                report.kept.len()
            );
            if !report.failures.is_empty() {
                text.push_str(&format!(", {} failed", report.failures.len()));
            }
            text
        }
        Err(err) => format!("error: {err:#}"),
    }
}

/// Starts `git-pcc-sandbox kill` for a run; the loop waits for it so the
/// screen stays live while the run ends.
fn start_kill(run_id: &str) -> anyhow::Result<Child> {
    let program = crate::front::find_subcommand("sandbox").ok_or_else(|| {
        UserError::with_hint("git-pcc-sandbox is not installed", "run scripts/install.sh")
    })?;
    Ok(std::process::Command::new(program)
        .args(["kill", "--session-id", run_id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?)
}

/// What a finished `sandbox kill` said.
fn kill_outcome(run_id: &str, child: &mut Child) -> String {
    use std::io::Read;
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.as_mut() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    match child.wait() {
        Ok(status) if status.success() => format!("killed run {}", render::short_id(run_id)),
        _ => stderr
            .lines()
            .next()
            .unwrap_or("error: sandbox kill failed")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcc::conflicts::{FileConflict, PairConflicts};
    use pcc::top::{RepositoryView, SessionRow};

    fn row(id: &str, branch: &str, state: Option<&str>) -> SessionRow {
        SessionRow {
            session_id: id.to_owned(),
            pid: 100,
            repo_path: "/src/app".to_owned(),
            worktree_path: format!("/src/app-worktrees/{id}"),
            branch: Some(branch.to_owned()),
            is_alive: true,
            state: state.map(str::to_owned),
            state_minutes: Some(2),
            age_minutes: 75,
            ahead: Some(1),
            behind: Some(0),
            changed_files: Some(3),
            conflicts: Some(1),
            ..SessionRow::default()
        }
    }

    fn snapshot() -> Snapshot {
        let mut waiting = row("bbbbbbbb-2", "parallel/bbbb", Some("waiting"));
        waiting.waiting_for = Some("permission: Bash".to_owned());
        let mut main = row("aaaaaaaa-1", "main", Some("working"));
        main.is_main_repo = true;
        (main.ahead, main.behind) = (None, None);
        Snapshot {
            repo_path: "/src/app".to_owned(),
            taken_at: "2026-01-01 10:00:00".to_owned(),
            repositories: vec![RepositoryView {
                repo_path: "/src/app".to_owned(),
                sessions: vec![waiting, main],
                pairs: vec![PairConflicts {
                    a: "aaaaaaaa-1".to_owned(),
                    b: "bbbbbbbb-2".to_owned(),
                    a_path: "/src/app".to_owned(),
                    b_path: "/src/app-worktrees/b".to_owned(),
                    has_conflicts: true,
                    conflicts: vec![FileConflict {
                        path: "src/lib.rs".to_owned(),
                        kind: "content".to_owned(),
                        base_lines: Vec::new(),
                    }],
                }],
                ..RepositoryView::default()
            }],
            total_sessions: 2,
            waiting_sessions: 1,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_frame_fits_80_by_24_with_the_waiting_session_first() {
        let app = App::new(snapshot(), false, true);
        let text = render_text(&app, 80, 24, Heights::for_screen(24));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 24, "{text}");
        assert!(lines.iter().all(|line| line.chars().count() <= 80));
        assert!(
            lines[0].starts_with("parallel-cc top  2 sessions  10:00:00  1 waiting"),
            "{text}"
        );
        let first = lines.iter().position(|l| l.contains("bbbbbbbb")).unwrap();
        let second = lines.iter().position(|l| l.contains("aaaaaaaa")).unwrap();
        assert!(first < second, "{text}");
        assert!(lines[first].starts_with(">!"), "{text}");
        assert!(lines[first].contains("waiting 2m"), "{text}");
        assert!(lines[first].contains("permission: Bash"), "{text}");
        assert!(lines[first].contains("+1/-0"), "{text}");
        assert!(lines[second].contains("main (main)"), "{text}");
        assert!(text.contains("aaaaaaaa x bbbbbbbb: src/lib.rs"), "{text}");
        assert_eq!(lines[23], draw::HELP);
    }

    #[test]
    fn keys_move_the_selection_and_ask_before_releasing() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        let mut app = App::new(snapshot(), false, true);
        assert_eq!(app.key(key(KeyCode::Char('j')), 10), Command::Nothing);
        assert_eq!(app.selected, 1);
        assert_eq!(app.key(key(KeyCode::Down), 10), Command::Nothing);
        assert_eq!(app.selected, 1, "the selection stops at the last row");
        app.key(key(KeyCode::Char('r')), 10);
        assert!(app.pending.is_some());
        assert_eq!(
            app.key(key(KeyCode::Char('y')), 10),
            Command::Release {
                session_id: "aaaaaaaa-1".to_owned()
            }
        );
        app.key(key(KeyCode::Char('r')), 10);
        assert_eq!(app.key(key(KeyCode::Char('n')), 10), Command::Nothing);
        assert_eq!(app.key(key(KeyCode::Char('x')), 10), Command::Nothing);
        assert_eq!(app.message.as_deref(), Some("no sandbox run going on"));
        assert_eq!(app.key(key(KeyCode::Enter), 10), Command::Diff);
        assert_eq!(app.key(key(KeyCode::Char('q')), 10), Command::Quit);
    }

    #[test]
    fn no_color_draws_without_colours() {
        let app = App::new(snapshot(), false, true);
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal
            .draw(|frame| draw::draw(frame, &app, Heights::for_screen(24)))
            .unwrap();
        let buffer = terminal.backend().buffer();
        assert!(buffer
            .content()
            .iter()
            .all(|cell| cell.fg == ratatui::style::Color::Reset
                && cell.bg == ratatui::style::Color::Reset));
        let colored = App::new(snapshot(), true, true);
        terminal
            .draw(|frame| draw::draw(frame, &colored, Heights::for_screen(24)))
            .unwrap();
        assert!(terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .any(|cell| cell.fg == ratatui::style::Color::Yellow));
    }
}
