//! The agent's output stream as Claude Code writes it with
//! `--output-format stream-json`: one JSON object per line (`system` init,
//! `assistant` messages with text and tool calls, `user` tool results, and a
//! final `result` with the cost). Lines that are not such objects are plain
//! output and only logged. The other agents' output is read by
//! `agent_streams` into the same state, as their profile's [`Output`] says.

use serde::Serialize;
use serde_json::Value;

use crate::agents::{self, Output};
use crate::config::Config;

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
    /// Tokens the agent reported (every turn's, summed).
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// `reported` when the agent gave its cost in USD, `estimated` when it
    /// came from its tokens and config `agents.prices`, `tokens` when only
    /// tokens are known (no price for its model).
    pub cost_source: Option<&'static str>,
    /// How the output is read.
    #[serde(skip)]
    pub format: Option<Output>,
}

const ACTIVITY_WIDTH: usize = 72;

impl StreamState {
    /// The state of an agent whose output is in `format`.
    pub fn for_output(format: Output) -> StreamState {
        StreamState {
            format: Some(format),
            ..StreamState::default()
        }
    }

    /// Takes one line of output. Returns the new activity when the line
    /// shows one.
    pub fn observe(&mut self, line: &str) -> Option<String> {
        let format = self.format.unwrap_or(Output::ClaudeStreamJson);
        if format == Output::Text {
            let activity = self.observe_text(line);
            if let Some(activity) = &activity {
                self.last_activity = Some(activity.clone());
            }
            return activity;
        }
        let trimmed = line.trim();
        if !trimmed.starts_with('{') {
            return None;
        }
        let event: Value = serde_json::from_str(trimmed).ok()?;
        let activity = match format {
            Output::CodexJson => self.observe_codex(&event),
            Output::GeminiStreamJson => self.observe_gemini(&event),
            Output::OpencodeJson => self.observe_opencode(&event),
            Output::ClaudeStreamJson | Output::Text => return self.observe_claude(&event),
        };
        if let Some(activity) = &activity {
            self.last_activity = Some(activity.clone());
        }
        activity
    }

    /// What the run's agent cost: the cost it reported; else its tokens at
    /// the price config `agents.prices` gives its model (`model` when the
    /// output did not name one), marked as an estimate.
    pub fn settle_cost(&mut self, config: &Config, model: Option<&str>) {
        if self.agent_cost.is_some() {
            self.cost_source = Some("reported");
            return;
        }
        if self.input_tokens.is_none() && self.output_tokens.is_none() {
            return;
        }
        match self.estimated_cost(config, model) {
            Some(cost) => {
                self.agent_cost = Some(cost);
                self.cost_source = Some("estimated");
            }
            None => self.cost_source = Some("tokens"),
        }
    }

    /// The agent's cost so far: reported, else estimated from its tokens
    /// (see [`StreamState::settle_cost`]).
    pub fn cost_so_far(&self, config: &Config, model: Option<&str>) -> Option<f64> {
        self.agent_cost
            .or_else(|| self.estimated_cost(config, model))
    }

    fn estimated_cost(&self, config: &Config, model: Option<&str>) -> Option<f64> {
        // No model named: only a price for every model (`*`) applies.
        let model = self.model.as_deref().or(model).unwrap_or("");
        let price = agents::price_of(config, model)?;
        let input = self.input_tokens.unwrap_or(0) as f64;
        let output = self.output_tokens.unwrap_or(0) as f64;
        let cost = (input * price.input + output * price.output) / 1_000_000.0;
        Some((cost * 1_000_000.0).round() / 1_000_000.0)
    }

    /// An event of Claude Code's stream-json.
    fn observe_claude(&mut self, event: &Value) -> Option<String> {
        let event = event.clone();
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
pub(super) fn tool_detail(input: &Value) -> Option<String> {
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
pub(super) fn one_line(text: &str) -> String {
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
