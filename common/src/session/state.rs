//! What a session is doing, from its agent's hooks: `working`, `waiting`
//! for its user, `idle`, `compacting`, or `ended`. Every hook maps to at
//! most one [`Transition`], written once in [`transition`], so the hooks,
//! `status` and the MCP server cannot disagree about what an event means.
//!
//! A hook changes the state with one `UPDATE` (the statement the heartbeat
//! runs anyway, see [`UPDATE_STATE`]), under these rules:
//! - hooks can arrive out of order (a slow `Notification` after the
//!   `PostToolUse` that answered it, a `PostToolUse` after the turn's
//!   `Stop`): each carries the time its hook process started, in
//!   milliseconds, and one older than the hook that set the state last
//!   changes nothing but the heartbeat;
//! - `stateSince` is when the state began: hooks that keep the state
//!   (`PreToolUse` then `PostToolUse`) do not move it;
//! - a `Notification` of a permission prompt keeps the more precise
//!   `permission: Bash` a `PermissionRequest` of the same wait recorded;
//! - `PostCompact` ends a compaction only: it changes nothing in a session
//!   that is not compacting;
//! - hooks can be lost (Esc interrupts a turn and sends no hook): a session
//!   `working` with no hook for `session.idleAfterMinutes` is shown as
//!   `idle?` ([`shown`]).
//!
//! Texts that come from the agent (a notification's message, its last
//! message) may hold anything: only their first line is kept, with secrets
//! masked ([`crate::redact`]), cut to [`TEXT_LIMIT`] characters.

use serde::Deserialize;
use serde_json::Value;

use crate::redact::Redactor;
use crate::time;

/// What a session is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Working,
    Waiting,
    Idle,
    Compacting,
    Ended,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Working => "working",
            State::Waiting => "waiting",
            State::Idle => "idle",
            State::Compacting => "compacting",
            State::Ended => "ended",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        Some(match text {
            "working" => State::Working,
            "waiting" => State::Waiting,
            "idle" => State::Idle,
            "compacting" => State::Compacting,
            "ended" => State::Ended,
            _ => return None,
        })
    }
}

/// One hook, as far as the state is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `UserPromptSubmit`.
    PromptSubmitted,
    /// `PreToolUse`; `question` is the first question of an
    /// `AskUserQuestion`.
    ToolStarting {
        tool: String,
        question: Option<String>,
    },
    /// `PostToolUse`.
    ToolFinished,
    /// `PermissionRequest`.
    PermissionAsked { tool: String },
    /// `Notification`, with its `notification_type` and message.
    Notified { kind: String, message: String },
    /// `Stop`, with `last_assistant_message`.
    Stopped { last_message: Option<String> },
    /// `StopFailure`: the turn ended on an API error.
    StopFailed {
        error: Option<String>,
        last_message: Option<String>,
    },
    /// `PreCompact`.
    CompactStarting,
    /// `PostCompact`; `manual` for `/compact` (the agent then waits at its
    /// prompt), not for a compaction in the middle of a turn.
    CompactFinished { manual: bool },
    /// `SessionStart`, except after a compaction.
    Started,
    /// `SessionEnd`.
    Ended,
}

/// What an event does to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: State,
    /// What the session waits for (only while `waiting`).
    pub waiting_for: Option<String>,
    /// Keep what the session already waits for, when it is waiting.
    pub keep_waiting_for: bool,
    /// The first line of the agent's last message; `None` keeps the one
    /// recorded.
    pub last_message: Option<String>,
    /// The transition applies only to a session in this state.
    pub only_from: Option<State>,
}

impl Transition {
    fn to(state: State) -> Transition {
        Transition {
            state,
            waiting_for: None,
            keep_waiting_for: false,
            last_message: None,
            only_from: None,
        }
    }

    fn waiting(what: String) -> Transition {
        Transition {
            waiting_for: Some(what),
            ..Transition::to(State::Waiting)
        }
    }
}

/// The tool with which the agent asks its user a question.
const ASK_TOOL: &str = "AskUserQuestion";

/// What `event` does, or `None` when it does not concern the state (a
/// notification of another kind).
pub fn transition(event: &Event) -> Option<Transition> {
    Some(match event {
        Event::PromptSubmitted | Event::ToolFinished => Transition::to(State::Working),
        Event::ToolStarting { tool, question } if tool == ASK_TOOL => {
            Transition::waiting(match question {
                Some(question) => format!("question: {question}"),
                None => "question".to_owned(),
            })
        }
        Event::ToolStarting { .. } => Transition::to(State::Working),
        Event::PermissionAsked { tool } => Transition::waiting(format!("permission: {tool}")),
        Event::Notified { kind, message } => match kind.as_str() {
            // Gemini CLI's `ToolPermission`.
            "permission_prompt" | "elicitation_dialog" | "ToolPermission" => Transition {
                keep_waiting_for: true,
                ..Transition::waiting(message.clone())
            },
            "idle_prompt" => Transition::to(State::Idle),
            _ => return None,
        },
        Event::Stopped { last_message } => Transition {
            last_message: last_message.clone(),
            ..Transition::to(State::Idle)
        },
        Event::StopFailed {
            error,
            last_message,
        } => Transition {
            last_message: last_message.clone().or_else(|| {
                error
                    .as_ref()
                    .map(|error| format!("stopped on error: {error}"))
            }),
            ..Transition::to(State::Idle)
        },
        Event::CompactStarting => Transition::to(State::Compacting),
        Event::CompactFinished { manual } => Transition {
            only_from: Some(State::Compacting),
            ..Transition::to(if *manual { State::Idle } else { State::Working })
        },
        Event::Started => Transition::to(State::Idle),
        Event::Ended => Transition::to(State::Ended),
    })
}

/// The fields of a hook's JSON that the state reads; the rest (a tool's
/// input or output, of any size) is skipped without being kept.
#[derive(Debug, Default, Deserialize)]
pub struct HookPayload {
    #[serde(default)]
    pub hook_event_name: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub tool_name: Option<String>,
    #[serde(default)]
    pub tool_input: Option<ToolInput>,
    #[serde(default)]
    pub notification_type: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub last_assistant_message: Option<String>,
    /// Gemini CLI's `AfterAgent`: the agent's answer to the prompt.
    #[serde(default)]
    pub prompt_response: Option<String>,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub trigger: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// The parts of a tool's input that hooks read.
#[derive(Debug, Default, Deserialize)]
pub struct ToolInput {
    /// The file of an edit tool (`filePath` in OpenCode's tools).
    #[serde(default, alias = "filePath")]
    pub file_path: Option<String>,
    #[serde(default)]
    pub notebook_path: Option<String>,
    /// `AskUserQuestion`'s questions.
    #[serde(default)]
    pub questions: Option<Value>,
    /// A shell command (Codex CLI's `Bash`, which carries its
    /// `apply_patch`), or the patch of an `apply_patch` tool (OpenCode's
    /// `patchText`).
    #[serde(default, alias = "patchText")]
    pub command: Option<String>,
}

impl HookPayload {
    /// The payload in `input`; an empty one when it is not JSON (hooks
    /// never fail over their input).
    pub fn parse(input: &[u8]) -> HookPayload {
        serde_json::from_slice(input).unwrap_or_default()
    }
}

/// The event a hook named `hook_event` (Claude Code's name) reports.
pub fn event_of(hook_event: &str, payload: &HookPayload) -> Option<Event> {
    let text = |value: &Option<String>| value.as_deref().and_then(summary_line);
    Some(match hook_event {
        "UserPromptSubmit" => Event::PromptSubmitted,
        "PreToolUse" => Event::ToolStarting {
            tool: payload.tool_name.clone().unwrap_or_default(),
            question: payload
                .tool_input
                .as_ref()
                .and_then(|input| input.questions.as_ref())
                .and_then(|questions| questions.get(0)?.get("question")?.as_str())
                .and_then(summary_line),
        },
        "PostToolUse" => Event::ToolFinished,
        "PermissionRequest" => Event::PermissionAsked {
            tool: payload
                .tool_name
                .as_deref()
                .and_then(summary_line)
                .unwrap_or_else(|| "a tool".to_owned()),
        },
        "Notification" => Event::Notified {
            kind: payload.notification_type.clone().unwrap_or_default(),
            message: text(&payload.message).unwrap_or_else(|| "the user".to_owned()),
        },
        "Stop" => Event::Stopped {
            last_message: text(&payload.last_assistant_message)
                .or_else(|| text(&payload.prompt_response)),
        },
        "StopFailure" => Event::StopFailed {
            error: payload.error.as_ref().and_then(|error| match error {
                Value::String(text) => summary_line(text),
                other => summary_line(&other.to_string()),
            }),
            last_message: text(&payload.last_assistant_message),
        },
        "PreCompact" => Event::CompactStarting,
        "PostCompact" => Event::CompactFinished {
            manual: payload.trigger.as_deref() == Some("manual"),
        },
        "SessionStart" if payload.source.as_deref() == Some("compact") => return None,
        "SessionStart" => Event::Started,
        "SessionEnd" => Event::Ended,
        _ => return None,
    })
}

/// The longest text kept from the agent, in characters.
pub const TEXT_LIMIT: usize = 200;

/// The first line of `text` that holds anything, secrets masked, cut to
/// [`TEXT_LIMIT`] characters; `None` when there is none.
pub fn summary_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    // Masked before it is cut, so a cut cannot leave part of a secret
    // unrecognised.
    let masked = Redactor::default().redact(line).into_owned();
    if masked.chars().count() <= TEXT_LIMIT {
        return Some(masked);
    }
    let mut cut: String = masked.chars().take(TEXT_LIMIT - 1).collect();
    cut.push('…');
    Some(cut)
}

/// A transition with the time its hook fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateUpdate {
    pub transition: Transition,
    /// Milliseconds since the Unix epoch when the hook started.
    pub at_millis: i64,
}

impl StateUpdate {
    /// The update `event` makes at `at_millis`, if any.
    pub fn new(event: &Event, at_millis: i64) -> Option<StateUpdate> {
        transition(event).map(|transition| StateUpdate {
            transition,
            at_millis,
        })
    }

    /// The parameters `?2` to `?8` of [`UPDATE_STATE`].
    pub(crate) fn params(&self) -> [Box<dyn rusqlite::ToSql + '_>; 7] {
        let t = &self.transition;
        [
            Box::new(t.state.as_str()),
            Box::new(self.at_millis),
            Box::new(time::format_sqlite_datetime(
                self.at_millis.div_euclid(1000),
            )),
            Box::new(t.waiting_for.as_deref()),
            Box::new(t.keep_waiting_for),
            Box::new(t.last_message.as_deref()),
            Box::new(t.only_from.map(State::as_str)),
        ]
    }
}

/// The `SET` part of the heartbeat's `UPDATE` when a hook also reports a
/// state: `?2` state, `?3` the hook's time in milliseconds, `?4` that time
/// as text, `?5` what it waits for, `?6` whether to keep what a waiting
/// session already waits for, `?7` the last message (NULL keeps it), `?8`
/// the only state it applies to (NULL: any). SQLite reads every column on
/// the right-hand side as it was before the statement.
pub(crate) const UPDATE_STATE: &str = "
    last_heartbeat = datetime('now'),
    state = CASE WHEN ?3 >= COALESCE(state_at, 0) AND (?8 IS NULL OR state IS ?8)
        THEN ?2 ELSE state END,
    state_since = CASE WHEN ?3 >= COALESCE(state_at, 0) AND (?8 IS NULL OR state IS ?8)
        THEN CASE WHEN state IS ?2 AND state_since IS NOT NULL THEN state_since ELSE ?4 END
        ELSE state_since END,
    waiting_for = CASE WHEN ?3 >= COALESCE(state_at, 0) AND (?8 IS NULL OR state IS ?8)
        THEN CASE WHEN ?6 AND state IS ?2 AND waiting_for IS NOT NULL THEN waiting_for ELSE ?5 END
        ELSE waiting_for END,
    last_message = CASE WHEN ?3 >= COALESCE(state_at, 0) AND (?8 IS NULL OR state IS ?8)
        AND ?7 IS NOT NULL THEN ?7 ELSE last_message END,
    state_at = CASE WHEN ?3 >= COALESCE(state_at, 0) AND (?8 IS NULL OR state IS ?8)
        THEN ?3 ELSE state_at END";

/// The part of [`UPDATE_STATE`] that sets `state_at` when the update
/// applies, and what replaces it to learn the state the session had: the
/// function `pcc_previous_state` receives the row's old state and its
/// start (SQLite reads them before the statement changes them) and gives
/// back the new `state_at`. It is called only when the update applies.
pub(crate) const UPDATE_STATE_AT: &str = "THEN ?3 ELSE state_at END";
pub(crate) const OBSERVED_STATE_AT: &str =
    "THEN pcc_previous_state(state, state_since, ?3) ELSE state_at END";

/// Milliseconds since the Unix epoch: the time a hook stamps its update
/// with, taken as the hook starts.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The state a session's stored columns show at `now_millis`: `idle?` for
/// one `working` without a hook for `idle_after_minutes` (an interrupt
/// sends none), with the time of its last hook as its start.
pub fn shown(
    state: Option<&str>,
    state_since: Option<&str>,
    state_at: Option<i64>,
    now_millis: i64,
    idle_after_minutes: i64,
) -> Option<(String, Option<String>)> {
    let state = State::parse(state?)?;
    if state == State::Working {
        if let Some(at) = state_at {
            if now_millis - at > idle_after_minutes * 60_000 {
                return Some((
                    "idle?".to_owned(),
                    Some(time::format_sqlite_datetime(at.div_euclid(1000))),
                ));
            }
        }
    }
    Some((state.as_str().to_owned(), state_since.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn payload(json: &str) -> HookPayload {
        HookPayload::parse(json.as_bytes())
    }

    fn event(json: &str) -> Option<Event> {
        let payload = payload(json);
        let name = payload.hook_event_name.clone().unwrap_or_default();
        event_of(&name, &payload)
    }

    fn state_of(json: &str) -> Option<State> {
        transition(&event(json)?).map(|t| t.state)
    }

    #[test]
    fn each_hook_maps_to_its_state() {
        let cases = [
            (
                r#"{"hook_event_name":"UserPromptSubmit","prompt":"x"}"#,
                Some(State::Working),
            ),
            (
                r#"{"hook_event_name":"PreToolUse","tool_name":"Bash"}"#,
                Some(State::Working),
            ),
            (
                r#"{"hook_event_name":"PostToolUse","tool_name":"Bash"}"#,
                Some(State::Working),
            ),
            (
                r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash"}"#,
                Some(State::Waiting),
            ),
            (
                r#"{"hook_event_name":"Notification","notification_type":"permission_prompt","message":"m"}"#,
                Some(State::Waiting),
            ),
            (
                r#"{"hook_event_name":"Notification","notification_type":"elicitation_dialog","message":"m"}"#,
                Some(State::Waiting),
            ),
            (
                r#"{"hook_event_name":"Notification","notification_type":"idle_prompt","message":"m"}"#,
                Some(State::Idle),
            ),
            (
                r#"{"hook_event_name":"Notification","notification_type":"auth_success","message":"m"}"#,
                None,
            ),
            (
                r#"{"hook_event_name":"PreToolUse","tool_name":"AskUserQuestion"}"#,
                Some(State::Waiting),
            ),
            (r#"{"hook_event_name":"Stop"}"#, Some(State::Idle)),
            (
                r#"{"hook_event_name":"StopFailure","error":"rate_limit"}"#,
                Some(State::Idle),
            ),
            (
                r#"{"hook_event_name":"PreCompact","trigger":"auto"}"#,
                Some(State::Compacting),
            ),
            (
                r#"{"hook_event_name":"PostCompact","trigger":"auto"}"#,
                Some(State::Working),
            ),
            (
                r#"{"hook_event_name":"PostCompact","trigger":"manual"}"#,
                Some(State::Idle),
            ),
            (
                r#"{"hook_event_name":"SessionStart","source":"startup"}"#,
                Some(State::Idle),
            ),
            (
                r#"{"hook_event_name":"SessionStart","source":"compact"}"#,
                None,
            ),
            (
                r#"{"hook_event_name":"SessionEnd","reason":"exit"}"#,
                Some(State::Ended),
            ),
            (r#"{"hook_event_name":"SubagentStop"}"#, None),
            ("not json", None),
        ];
        for (json, expected) in cases {
            assert_eq!(state_of(json), expected, "{json}");
        }
    }

    #[test]
    fn what_a_session_waits_for() {
        let waits = |json: &str| transition(&event(json).unwrap()).unwrap().waiting_for;
        assert_eq!(
            waits(
                r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"rm -rf /"}}"#
            ),
            Some("permission: Bash".to_owned())
        );
        assert_eq!(
            waits(
                r#"{"hook_event_name":"Notification","notification_type":"permission_prompt","message":"Claude needs your permission to use Bash\nmore"}"#
            ),
            Some("Claude needs your permission to use Bash".to_owned())
        );
        assert_eq!(
            waits(
                r#"{"hook_event_name":"PreToolUse","tool_name":"AskUserQuestion","tool_input":{"questions":[{"question":"Which database?","header":"DB","options":[]}]}}"#
            ),
            Some("question: Which database?".to_owned())
        );
        assert_eq!(
            waits(
                r#"{"hook_event_name":"PreToolUse","tool_name":"AskUserQuestion","tool_input":{"questions":"odd"}}"#
            ),
            Some("question".to_owned())
        );
        assert_eq!(waits(r#"{"hook_event_name":"Stop"}"#), None);
    }

    #[test]
    fn texts_from_the_agent_keep_one_line_without_secrets() {
        let token = format!("ghp_{}", "a1B2".repeat(9));
        let stop = format!(
            r#"{{"hook_event_name":"Stop","last_assistant_message":"\n\n  Pushed with {token} done  \nsecond line"}}"#
        );
        let Some(Event::Stopped { last_message }) = event(&stop) else {
            panic!("not a stop");
        };
        let last_message = last_message.unwrap();
        assert_eq!(last_message, "Pushed with [REDACTED] done");
        assert!(!last_message.contains(&token));

        let long = format!("{} {token}", "x".repeat(TEXT_LIMIT));
        let cut = summary_line(&long).unwrap();
        assert_eq!(cut.chars().count(), TEXT_LIMIT);
        assert!(cut.ends_with('…'));
        // The token lies past the cut; what is left of it is not there.
        assert!(!cut.contains("ghp_"));
        // A token across the cut: masked whole before the cut, not cut
        // into a piece too short to be recognised.
        let secret_at_cut = format!("{} {token}", "y".repeat(TEXT_LIMIT - 10));
        assert!(!summary_line(&secret_at_cut).unwrap().contains("ghp_"));
        assert_eq!(summary_line(" \n\t\n"), None);
        assert_eq!(
            transition(
                &event(r#"{"hook_event_name":"StopFailure","error":"rate_limit"}"#).unwrap()
            )
            .unwrap()
            .last_message,
            Some("stopped on error: rate_limit".to_owned())
        );
    }

    /// A sessions table with the state columns, and one session.
    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE sessions (id TEXT PRIMARY KEY, last_heartbeat TEXT, state TEXT,
                 state_since TEXT, state_at INTEGER, waiting_for TEXT, last_message TEXT);
             INSERT INTO sessions (id, last_heartbeat) VALUES ('s', '2000-01-01 00:00:00');",
        )
        .unwrap();
        conn
    }

    /// Runs the hook `json` fired at `at` (milliseconds) against the table.
    fn fire(conn: &Connection, json: &str, at: i64) {
        let update = StateUpdate::new(&event(json).unwrap(), at).unwrap();
        let sql = format!("UPDATE sessions SET {UPDATE_STATE} WHERE id = ?1");
        let params = update.params();
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&"s"];
        all.extend(params.iter().map(|p| p.as_ref()));
        assert_eq!(conn.execute(&sql, all.as_slice()).unwrap(), 1);
    }

    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );

    /// state, state_since, waiting_for, last_message.
    fn row(conn: &Connection) -> Row {
        conn.query_row(
            "SELECT state, state_since, waiting_for, last_message FROM sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    fn state(conn: &Connection) -> String {
        row(conn).0.unwrap()
    }

    const T: i64 = 1_700_000_000_000;
    const PROMPT: &str = r#"{"hook_event_name":"UserPromptSubmit"}"#;
    const PRE_BASH: &str = r#"{"hook_event_name":"PreToolUse","tool_name":"Bash"}"#;
    const POST: &str = r#"{"hook_event_name":"PostToolUse","tool_name":"Bash"}"#;
    const PERMISSION: &str = r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash"}"#;
    const PROMPT_NOTICE: &str = r#"{"hook_event_name":"Notification","notification_type":"permission_prompt","message":"Claude needs your permission to use Bash"}"#;
    const STOP: &str =
        r#"{"hook_event_name":"Stop","last_assistant_message":"All done.\nDetails"}"#;

    #[test]
    fn a_turn_walks_through_the_states_and_keeps_when_each_began() {
        let conn = table();
        fire(&conn, PROMPT, T);
        fire(&conn, PRE_BASH, T + 1_000);
        fire(&conn, POST, T + 2_000);
        // Working since the prompt, not since the last tool.
        assert_eq!(
            row(&conn),
            (
                Some("working".into()),
                Some(time::format_sqlite_datetime(T / 1000)),
                None,
                None
            )
        );
        fire(&conn, PRE_BASH, T + 3_000);
        fire(&conn, PERMISSION, T + 4_000);
        fire(&conn, PROMPT_NOTICE, T + 4_500);
        // The notice keeps the precise reason of the same wait.
        assert_eq!(
            row(&conn),
            (
                Some("waiting".into()),
                Some(time::format_sqlite_datetime(T / 1000 + 4)),
                Some("permission: Bash".into()),
                None
            )
        );
        fire(&conn, POST, T + 9_000);
        assert_eq!(row(&conn).2, None, "working waits for nothing");
        fire(&conn, STOP, T + 10_000);
        assert_eq!(
            row(&conn),
            (
                Some("idle".into()),
                Some(time::format_sqlite_datetime(T / 1000 + 10)),
                None,
                Some("All done.".into())
            )
        );
        // A new prompt keeps the last message until the next stop.
        fire(&conn, PROMPT, T + 20_000);
        assert_eq!(row(&conn).3, Some("All done.".into()));
    }

    #[test]
    fn a_notification_alone_says_what_the_session_waits_for() {
        let conn = table();
        fire(&conn, PRE_BASH, T);
        fire(&conn, PROMPT_NOTICE, T + 1_000);
        assert_eq!(
            row(&conn).2,
            Some("Claude needs your permission to use Bash".into())
        );
    }

    #[test]
    fn a_late_hook_older_than_the_state_changes_nothing() {
        let conn = table();
        fire(&conn, PRE_BASH, T);
        fire(&conn, STOP, T + 2_000);
        // The turn's PostToolUse, its process started before the Stop's,
        // lands after it.
        fire(&conn, POST, T + 1_000);
        assert_eq!(state(&conn), "idle");
        // A notification of a prompt already answered, landing late.
        fire(&conn, PERMISSION, T + 3_000);
        fire(&conn, POST, T + 5_000);
        fire(&conn, PROMPT_NOTICE, T + 4_000);
        assert_eq!(state(&conn), "working");
        assert_eq!(row(&conn).2, None);
        // The heartbeat still moved.
        let beat: String = conn
            .query_row("SELECT last_heartbeat FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(beat, "2000-01-01 00:00:00");
        // Hooks of the same millisecond apply in the order they land.
        fire(&conn, STOP, T + 5_000);
        assert_eq!(state(&conn), "idle");
    }

    #[test]
    fn post_compact_ends_a_compaction_only() {
        let conn = table();
        fire(
            &conn,
            r#"{"hook_event_name":"PreCompact","trigger":"manual"}"#,
            T,
        );
        assert_eq!(state(&conn), "compacting");
        fire(
            &conn,
            r#"{"hook_event_name":"PostCompact","trigger":"manual"}"#,
            T + 1_000,
        );
        assert_eq!(state(&conn), "idle");
        fire(&conn, PROMPT, T + 2_000);
        fire(
            &conn,
            r#"{"hook_event_name":"PreCompact","trigger":"auto"}"#,
            T + 3_000,
        );
        fire(
            &conn,
            r#"{"hook_event_name":"PostCompact","trigger":"auto"}"#,
            T + 4_000,
        );
        assert_eq!(state(&conn), "working");
        // A PostCompact whose PreCompact was lost leaves an idle session idle.
        fire(&conn, STOP, T + 5_000);
        fire(
            &conn,
            r#"{"hook_event_name":"PostCompact","trigger":"auto"}"#,
            T + 6_000,
        );
        assert_eq!(state(&conn), "idle");
        // And the hook it ignored does not hold back the next ones.
        fire(&conn, PROMPT, T + 5_500);
        assert_eq!(state(&conn), "working");
    }

    #[test]
    fn a_session_ends_whatever_it_was_doing() {
        let conn = table();
        fire(&conn, PERMISSION, T);
        fire(
            &conn,
            r#"{"hook_event_name":"SessionEnd","reason":"exit"}"#,
            T + 1,
        );
        assert_eq!(row(&conn).0.as_deref(), Some("ended"));
        assert_eq!(row(&conn).2, None);
    }

    #[test]
    fn the_observed_update_differs_only_in_how_it_sets_state_at() {
        assert_eq!(UPDATE_STATE.matches(UPDATE_STATE_AT).count(), 1);
        let conn = table();
        fire(&conn, PROMPT, T);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let cell = seen.clone();
        conn.create_scalar_function(
            "pcc_previous_state",
            3,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            move |ctx| {
                let old: (Option<String>, Option<String>) = (ctx.get(0)?, ctx.get(1)?);
                cell.lock().unwrap().push(old);
                ctx.get::<i64>(2)
            },
        )
        .unwrap();
        let sql = format!(
            "UPDATE sessions SET {} WHERE id = ?1",
            UPDATE_STATE.replace(UPDATE_STATE_AT, OBSERVED_STATE_AT)
        );
        let run = |json: &str, at: i64| {
            let update = StateUpdate::new(&event(json).unwrap(), at).unwrap();
            let params = update.params();
            let mut all: Vec<&dyn rusqlite::ToSql> = vec![&"s"];
            all.extend(params.iter().map(|p| p.as_ref()));
            conn.execute(&sql, all.as_slice()).unwrap();
        };
        run(STOP, T + 5_000);
        assert_eq!(state(&conn), "idle");
        // A late hook does not apply, and the function is not called.
        run(POST, T + 1_000);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(
                Some("working".to_owned()),
                Some(time::format_sqlite_datetime(T / 1000))
            )]
        );
    }

    #[test]
    fn working_without_a_hook_for_long_shows_as_idle_maybe() {
        let since = "2023-11-14 22:13:20";
        let shown_at =
            |now: i64| shown(Some("working"), Some(since), Some(T), now, 5).map(|(state, _)| state);
        assert_eq!(shown_at(T + 5 * 60_000).as_deref(), Some("working"));
        assert_eq!(shown_at(T + 5 * 60_000 + 1).as_deref(), Some("idle?"));
        assert_eq!(
            shown(Some("working"), Some(since), Some(T), T + 3_600_000, 5)
                .unwrap()
                .1
                .as_deref(),
            Some(time::format_sqlite_datetime(T / 1000).as_str())
        );
        // Other states wait as long as they must.
        assert_eq!(
            shown(Some("waiting"), Some(since), Some(T), T + 3_600_000, 5)
                .unwrap()
                .0,
            "waiting"
        );
        assert_eq!(shown(None, None, None, T, 5), None);
        assert_eq!(shown(Some("bogus"), None, None, T, 5), None);
    }
}
