//! The state of the screen apart from drawing it: the snapshot shown, what
//! is selected, the diff being read, a question waiting for y/n, and the
//! last action's outcome; and what each key does (bound here, in one
//! place).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pcc::top::{RunView, SessionRow, Snapshot};

/// Which list the selection keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Sessions,
    Runs,
}

/// A diff being read.
#[derive(Debug, Clone)]
pub struct DiffView {
    pub title: String,
    pub lines: Vec<String>,
    /// The first line shown.
    pub scroll: usize,
}

/// An action that changes something, asked about before it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Release { session_id: String },
    Kill { run_id: String },
}

/// What a key asks the event loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Nothing,
    Quit,
    /// Show the selected session's diff.
    Diff,
    Release {
        session_id: String,
    },
    Cleanup {
        repo_path: String,
    },
    Kill {
        run_id: String,
    },
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
pub struct App {
    pub snapshot: Snapshot,
    pub focus: Focus,
    /// Index into [`App::sessions`].
    pub selected: usize,
    /// Index into the snapshot's sandbox runs.
    pub selected_run: usize,
    pub diff: Option<DiffView>,
    pub pending: Option<Pending>,
    /// The outcome of the last action, or an error.
    pub message: Option<String>,
    /// Whether colours may be used (`NO_COLOR` unset).
    pub color: bool,
    /// Whether the help line and messages are drawn (not for `--once`).
    pub interactive: bool,
}

impl App {
    pub fn new(snapshot: Snapshot, color: bool, interactive: bool) -> App {
        App {
            snapshot,
            focus: Focus::Sessions,
            selected: 0,
            selected_run: 0,
            diff: None,
            pending: None,
            message: None,
            color,
            interactive,
        }
    }

    /// Every session row, in the order shown.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionRow> {
        self.snapshot.repositories.iter().flat_map(|r| &r.sessions)
    }

    pub fn selected_session(&self) -> Option<&SessionRow> {
        self.sessions().nth(self.selected)
    }

    pub fn selected_run(&self) -> Option<&RunView> {
        self.snapshot.sandbox_runs.get(self.selected_run)
    }

    /// Shows a new snapshot, keeping the same session (and run) selected
    /// when it is still there.
    pub fn replace(&mut self, snapshot: Snapshot) {
        let session = self.selected_session().map(|s| s.session_id.clone());
        let run = self.selected_run().map(|r| r.session_id.clone());
        self.snapshot = snapshot;
        if let Some(id) = session {
            let found = self.sessions().position(|s| s.session_id == id);
            if let Some(index) = found {
                self.selected = index;
            }
        }
        if let Some(id) = run {
            if let Some(index) = self
                .snapshot
                .sandbox_runs
                .iter()
                .position(|r| r.session_id == id)
            {
                self.selected_run = index;
            }
        }
        self.selected = self.selected.min(self.sessions().count().saturating_sub(1));
        self.selected_run = self
            .selected_run
            .min(self.snapshot.sandbox_runs.len().saturating_sub(1));
    }

    /// What `key` does in the current view.
    pub fn key(&mut self, key: KeyEvent, page: usize) -> Command {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Command::Quit;
        }
        if let Some(pending) = self.pending.take() {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => match pending {
                    Pending::Release { session_id } => Command::Release { session_id },
                    Pending::Kill { run_id } => Command::Kill { run_id },
                },
                _ => {
                    self.message = Some("nothing done".to_owned());
                    Command::Nothing
                }
            };
        }
        if let Some(diff) = &mut self.diff {
            let last = diff.lines.len().saturating_sub(1);
            match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => self.diff = None,
                KeyCode::Down | KeyCode::Char('j') => diff.scroll = (diff.scroll + 1).min(last),
                KeyCode::Up | KeyCode::Char('k') => diff.scroll = diff.scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => {
                    diff.scroll = (diff.scroll + page).min(last)
                }
                KeyCode::PageUp | KeyCode::Char('b') => {
                    diff.scroll = diff.scroll.saturating_sub(page)
                }
                KeyCode::Home | KeyCode::Char('g') => diff.scroll = 0,
                KeyCode::End | KeyCode::Char('G') => diff.scroll = last,
                _ => {}
            }
            return Command::Nothing;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => Command::Quit,
            KeyCode::Down | KeyCode::Char('j') => {
                self.step(1);
                Command::Nothing
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.step(-1);
                Command::Nothing
            }
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Sessions if !self.snapshot.sandbox_runs.is_empty() => Focus::Runs,
                    _ => Focus::Sessions,
                };
                Command::Nothing
            }
            KeyCode::Enter => match self.selected_session() {
                Some(_) => Command::Diff,
                None => Command::Nothing,
            },
            KeyCode::Char('r') => {
                match self.selected_session().cloned() {
                    Some(session) => {
                        self.message = Some(format!(
                            "release session {} (pid {})? held work is kept [y/n]",
                            crate::render::short_id(&session.session_id),
                            session.pid
                        ));
                        self.pending = Some(Pending::Release {
                            session_id: session.session_id,
                        });
                    }
                    None => self.message = Some("no session selected".to_owned()),
                }
                Command::Nothing
            }
            KeyCode::Char('c') => {
                let repo = self
                    .selected_session()
                    .map(|s| s.repo_path.clone())
                    .or_else(|| {
                        (self.snapshot.repo_path != "all").then(|| self.snapshot.repo_path.clone())
                    });
                match repo {
                    Some(repo_path) => Command::Cleanup { repo_path },
                    None => {
                        self.message = Some("no repository selected".to_owned());
                        Command::Nothing
                    }
                }
            }
            KeyCode::Char('x') => {
                match self.selected_run().cloned() {
                    Some(run) => {
                        self.focus = Focus::Runs;
                        self.message = Some(format!(
                            "kill sandbox run {}? [y/n]",
                            crate::render::short_id(&run.session_id)
                        ));
                        self.pending = Some(Pending::Kill {
                            run_id: run.session_id,
                        });
                    }
                    None => self.message = Some("no sandbox run going on".to_owned()),
                }
                Command::Nothing
            }
            _ => Command::Nothing,
        }
    }

    fn step(&mut self, by: isize) {
        let count = match self.focus {
            Focus::Sessions => self.sessions().count(),
            Focus::Runs => self.snapshot.sandbox_runs.len(),
        };
        let index = match self.focus {
            Focus::Sessions => &mut self.selected,
            Focus::Runs => &mut self.selected_run,
        };
        if count == 0 {
            return;
        }
        *index = index.saturating_add_signed(by).min(count - 1);
    }
}
