//! Notifications: when a session starts waiting for its user, or turns idle
//! after working for at least `notify.idleAfterWorkingMinutes`, the user's
//! `notify.command` runs (and `notify-send`, with `notify.desktop`). Nothing
//! happens unless `notify.enabled` is true.
//!
//! Invariants: only the hooks that move a session to `waiting` or `idle`
//! look at the configuration, and only when it is on do they ask the
//! state's one statement for the state before ([`crate::session::StateChange`]);
//! the notifier is started detached (its own process group, no stdin or
//! output) and never waited for; what it is told goes in its environment
//! (`PARALLEL_CC_NOTIFY_REPO`, `_SESSION`, `_BRANCH`, `_WORKTREE`, `_STATE`,
//! `_MESSAGE`) and `notify-send`'s arguments, never through a shell; the
//! message is the first line the state keeps, with secrets masked.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::session::state::{State, StateUpdate};
use crate::session::StateChange;
use crate::time;

/// The configuration, when notifications are on and `update` may call for
/// one (it moves a session to `waiting` or `idle`).
pub fn wanted(data_dir: &Path, update: Option<&StateUpdate>) -> Option<Config> {
    let state = update?.transition.state;
    if !matches!(state, State::Waiting | State::Idle) {
        return None;
    }
    let config = Config::load(data_dir).ok()?;
    config.flag("notify.enabled").then_some(config)
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub repo_path: String,
    pub session_id: String,
    pub branch: Option<String>,
    pub worktree_path: String,
    pub state: State,
    pub message: Option<String>,
}

/// The notice `change` (made by `update`) calls for, if any: a session
/// that starts waiting, or turns idle from working that began at least
/// `idle_after_working_minutes` before the hook.
pub fn notice_for(
    session_id: &str,
    update: &StateUpdate,
    change: &StateChange,
    idle_after_working_minutes: i64,
) -> Option<Notice> {
    let previous = change.previous_state.as_deref().and_then(State::parse);
    let state = update.transition.state;
    let due = match state {
        State::Waiting => previous != Some(State::Waiting),
        State::Idle => {
            previous == Some(State::Working)
                && change
                    .previous_since
                    .as_deref()
                    .and_then(time::parse_sqlite_datetime)
                    .is_some_and(|since| {
                        update.at_millis - since * 1000 >= idle_after_working_minutes * 60_000
                    })
        }
        _ => false,
    };
    if !due {
        return None;
    }
    let branch = if change.is_main_repo {
        crate::session::read_head_branch(Path::new(&change.repo_path))
            .or_else(|| change.branch.clone())
    } else {
        change.branch.clone()
    };
    Some(Notice {
        repo_path: change.repo_path.clone(),
        session_id: session_id.to_owned(),
        branch,
        worktree_path: change.worktree_path.clone(),
        state,
        message: match state {
            State::Waiting => change.waiting_for.clone(),
            _ => change.last_message.clone(),
        },
    })
}

/// Starts the notifiers `config` names for `notice`, detached; returns
/// how many were started.
pub fn send(config: &Config, notice: &Notice) -> Result<usize> {
    let env = environment(notice);
    let mut started = 0;
    if let Some(words) = config.command_line("notify.command") {
        let (program, args) = words.split_first().context("notify.command is empty")?;
        spawn_detached(Command::new(program).args(args).envs(env.iter().cloned()))
            .with_context(|| format!("cannot run notify.command {program}"))?;
        started += 1;
    }
    if config.flag("notify.desktop") {
        if let Ok(notify_send) = which::which("notify-send") {
            spawn_detached(
                Command::new(notify_send)
                    .args(["--app-name", "parallel-cc", "--"])
                    .arg(title(notice))
                    .arg(notice.message.as_deref().unwrap_or_default())
                    .envs(env.iter().cloned()),
            )
            .context("cannot run notify-send")?;
            started += 1;
        }
    }
    Ok(started)
}

/// `app (parallel/1a2b) waits for you`, `app (main) is idle`.
fn title(notice: &Notice) -> String {
    let repo = Path::new(&notice.repo_path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| notice.repo_path.clone());
    let place = match &notice.branch {
        Some(branch) => format!("{repo} ({branch})"),
        None => repo,
    };
    match notice.state {
        State::Waiting => format!("{place} waits for you"),
        _ => format!("{place} is idle"),
    }
}

/// The variables a notifier gets.
fn environment(notice: &Notice) -> Vec<(&'static str, String)> {
    vec![
        ("PARALLEL_CC_NOTIFY_REPO", notice.repo_path.clone()),
        ("PARALLEL_CC_NOTIFY_SESSION", notice.session_id.clone()),
        (
            "PARALLEL_CC_NOTIFY_BRANCH",
            notice.branch.clone().unwrap_or_default(),
        ),
        ("PARALLEL_CC_NOTIFY_WORKTREE", notice.worktree_path.clone()),
        ("PARALLEL_CC_NOTIFY_STATE", notice.state.as_str().to_owned()),
        (
            "PARALLEL_CC_NOTIFY_MESSAGE",
            notice.message.clone().unwrap_or_default(),
        ),
    ]
}

/// Starts `command` in a process group of its own with no stdin or output
/// (the agent's hook runner waits for neither), and lets it go.
fn spawn_detached(command: &mut Command) -> Result<()> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    command.spawn()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::state::{event_of, HookPayload};

    fn update(json: &str, at_millis: i64) -> StateUpdate {
        let payload = HookPayload::parse(json.as_bytes());
        let name = payload.hook_event_name.clone().unwrap();
        StateUpdate::new(&event_of(&name, &payload).unwrap(), at_millis).unwrap()
    }

    fn change(previous: Option<&str>, since: Option<&str>) -> StateChange {
        StateChange {
            previous_state: previous.map(str::to_owned),
            previous_since: since.map(str::to_owned),
            repo_path: "/nowhere/app".into(),
            worktree_path: "/nowhere/app-worktrees/w".into(),
            is_main_repo: false,
            branch: Some("parallel/w".into()),
            waiting_for: Some("permission: Bash".into()),
            last_message: Some("Done.".into()),
        }
    }

    const T: i64 = 1_700_000_000_000;
    const PERMISSION: &str = r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash"}"#;
    const STOP: &str = r#"{"hook_event_name":"Stop","last_assistant_message":"Done."}"#;

    #[test]
    fn starting_to_wait_notifies_once() {
        let since = time::format_sqlite_datetime(T / 1000);
        let wait = update(PERMISSION, T);
        let notice = notice_for("s", &wait, &change(Some("working"), Some(&since)), 2).unwrap();
        assert_eq!(notice.state, State::Waiting);
        assert_eq!(notice.message.as_deref(), Some("permission: Bash"));
        assert_eq!(title(&notice), "app (parallel/w) waits for you");
        assert!(notice_for("s", &wait, &change(None, None), 2).is_some());
        // Already waiting (the prompt's Notification after its
        // PermissionRequest): nothing new.
        assert_eq!(
            notice_for("s", &wait, &change(Some("waiting"), Some(&since)), 2),
            None
        );
    }

    #[test]
    fn idle_notifies_after_working_long_enough() {
        let began = time::format_sqlite_datetime(T / 1000);
        let stop = |after_minutes: i64| update(STOP, T + after_minutes * 60_000);
        let working = change(Some("working"), Some(&began));
        assert_eq!(notice_for("s", &stop(1), &working, 2), None);
        let notice = notice_for("s", &stop(2), &working, 2).unwrap();
        assert_eq!(notice.state, State::Idle);
        assert_eq!(notice.message.as_deref(), Some("Done."));
        assert_eq!(
            notice_for("s", &stop(30), &change(Some("idle"), Some(&began)), 2),
            None,
            "idle already"
        );
        assert_eq!(
            notice_for("s", &stop(30), &change(Some("waiting"), Some(&began)), 2),
            None,
            "from waiting: the user was there"
        );
    }
}
