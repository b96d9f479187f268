//! The agent's output stream as Claude Code writes it with
//! `--output-format stream-json`: one JSON object per line (`system` init,
//! `assistant` messages with text and tool calls, `user` tool results, and a
//! final `result` with the cost). Lines that are not such objects are plain
//! output and only logged.

use serde::Serialize;
use serde_json::Value;

/// What has been learnt from the stream so far.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamState {
    /// The agent's last visible step, short enough for one line.
    pub last_activity: Option<String>,
    /// The agent's own reported cost in USD.
    pub agent_cost: Option<f64>,
    pub tool_calls: u64,
    pub turns: Option<u64>,
    /// The final `result` text.
    pub result: Option<String>,
    /// Whether the final `result` reports an error.
    pub is_error: Option<bool>,
    /// The agent's own session id.
    pub agent_session: Option<String>,
    pub model: Option<String>,
}

const ACTIVITY_WIDTH: usize = 72;

impl StreamState {
    /// Takes one line of output. Returns the new activity when the line
    /// shows one.
    pub fn observe(&mut self, line: &str) -> Option<String> {
        let trimmed = line.trim();
        if !trimmed.starts_with('{') {
            return None;
        }
        let event: Value = serde_json::from_str(trimmed).ok()?;
        if let Some(cost) = event
            .get("total_cost_usd")
            .or_else(|| event.get("cost_usd"))
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0)
        {
            self.agent_cost = Some(cost);
        }
        let activity = match event.get("type").and_then(Value::as_str)? {
            "system" => {
                if let Some(id) = event.get("session_id").and_then(Value::as_str) {
                    self.agent_session = Some(id.to_owned());
                }
                if let Some(model) = event.get("model").and_then(Value::as_str) {
                    self.model = Some(model.to_owned());
                }
                (event.get("subtype").and_then(Value::as_str) == Some("init"))
                    .then(|| "started".to_owned())
            }
            "assistant" => self.assistant(&event),
            "result" => {
                self.turns = event.get("num_turns").and_then(Value::as_u64);
                let is_error = event.get("is_error").and_then(Value::as_bool).unwrap_or(
                    event
                        .get("subtype")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s != "success"),
                );
                self.is_error = Some(is_error);
                self.result = event
                    .get("result")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Some(if is_error {
                    let subtype = event
                        .get("subtype")
                        .and_then(Value::as_str)
                        .unwrap_or("error");
                    format!("failed ({subtype})")
                } else {
                    "finished".to_owned()
                })
            }
            _ => None,
        };
        if let Some(activity) = &activity {
            self.last_activity = Some(activity.clone());
        }
        activity
    }

    fn assistant(&mut self, event: &Value) -> Option<String> {
        let content = event.pointer("/message/content")?.as_array()?;
        let mut activity = None;
        for block in content {
            match block.get("type").and_then(Value::as_str) {
                Some("tool_use") => {
                    self.tool_calls += 1;
                    let name = block.get("name").and_then(Value::as_str).unwrap_or("tool");
                    let detail = block.get("input").and_then(tool_detail);
                    activity = Some(match detail {
                        Some(detail) => one_line(&format!("{name} {detail}")),
                        None => name.to_owned(),
                    });
                }
                Some("text") if activity.is_none() => {
                    activity = block
                        .get("text")
                        .and_then(Value::as_str)
                        .map(one_line)
                        .filter(|t| !t.is_empty());
                }
                _ => {}
            }
        }
        activity
    }
}

/// The most telling argument of a tool call.
fn tool_detail(input: &Value) -> Option<String> {
    [
        "file_path",
        "path",
        "notebook_path",
        "command",
        "pattern",
        "url",
        "description",
    ]
    .iter()
    .find_map(|key| input.get(*key).and_then(Value::as_str))
    .map(str::to_owned)
}

/// The first line of a text, cut to the activity width.
fn one_line(text: &str) -> String {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if first.chars().count() <= ACTIVITY_WIDTH {
        first.to_owned()
    } else {
        let cut: String = first.chars().take(ACTIVITY_WIDTH - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_text_and_the_result_are_read() {
        let mut state = StreamState::default();
        assert_eq!(
            state.observe(r#"{"type":"system","subtype":"init","session_id":"s1","model":"m"}"#),
            Some("started".to_owned())
        );
        assert_eq!(
            state.observe(r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Let me look.\nmore"},{"type":"tool_use","name":"Edit","input":{"file_path":"src/a.rs"}}]}}"#),
            Some("Edit src/a.rs".to_owned())
        );
        assert_eq!(state.observe("plain output"), None);
        assert_eq!(
            state.observe(r#"{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"done","total_cost_usd":0.0421}"#),
            Some("finished".to_owned())
        );
        assert_eq!(state.agent_cost, Some(0.0421));
        assert_eq!(state.tool_calls, 1);
        assert_eq!(state.turns, Some(3));
        assert_eq!(state.is_error, Some(false));
        assert_eq!(state.agent_session.as_deref(), Some("s1"));
    }

    #[test]
    fn an_error_result_is_a_failure() {
        let mut state = StreamState::default();
        state.observe(r#"{"type":"result","subtype":"error_max_turns","is_error":true}"#);
        assert_eq!(state.is_error, Some(true));
        assert_eq!(
            state.last_activity.as_deref(),
            Some("failed (error_max_turns)")
        );
    }
}
