//! The headless output of the agents other than Claude Code, read into
//! the same [`StreamState`]:
//! - `codex exec --json`: `thread.started`, `item.started`/`item.completed`
//!   (`command_execution`, `file_change`, `agent_message`, `error`) and
//!   `turn.completed` with `usage` in tokens (summed over turns);
//! - Gemini CLI's `--output-format stream-json`: `init` (model), `tool_use`,
//!   `message`, `result` with `stats` (tokens, `tool_calls`);
//! - `opencode run --format json`: parts of `tool_use`, `text` and
//!   `step_finish` (its `cost` in USD and `tokens`);
//! - plain text (Aider): each line is activity; its `Tokens: 2.1k sent, 340
//!   received. Cost: $0.01 message, $0.03 session.` lines give tokens and
//!   its cost.
//!
//! None but OpenCode and Aider report a cost in USD; for the others the
//! run's cost is estimated from the tokens ([`StreamState::settle_cost`]).

use serde_json::Value;

use super::stream::{one_line, tool_detail, StreamState};

impl StreamState {
    /// A line of `codex exec --json`.
    pub(super) fn observe_codex(&mut self, event: &Value) -> Option<String> {
        match event.get("type").and_then(Value::as_str)? {
            "thread.started" => {
                self.agent_session = text(event, "thread_id");
                Some("started".to_owned())
            }
            "turn.completed" => {
                self.turns = Some(self.turns.unwrap_or(0) + 1);
                self.add_tokens(
                    event.pointer("/usage/input_tokens"),
                    event.pointer("/usage/output_tokens"),
                );
                None
            }
            "turn.failed" | "error" => {
                let message = event
                    .pointer("/error/message")
                    .or_else(|| event.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                if event.get("type").and_then(Value::as_str) == Some("turn.failed") {
                    self.is_error = Some(true);
                }
                Some(one_line(message))
            }
            "item.started" | "item.completed" => {
                let item = event.get("item")?;
                let started = event.get("type").and_then(Value::as_str) == Some("item.started");
                match item.get("type").and_then(Value::as_str)? {
                    "command_execution" if started => {
                        self.tool_calls += 1;
                        Some(one_line(&format!("shell {}", text(item, "command")?)))
                    }
                    "file_change" if started => {
                        self.tool_calls += 1;
                        let files: Vec<&str> = item
                            .get("changes")?
                            .as_array()?
                            .iter()
                            .filter_map(|change| change.get("path").and_then(Value::as_str))
                            .collect();
                        Some(one_line(&format!("patch {}", files.join(" "))))
                    }
                    "agent_message" if !started => {
                        let message = text(item, "text")?;
                        self.result = Some(message.clone());
                        if self.is_error.is_none() {
                            self.is_error = Some(false);
                        }
                        Some(one_line(&message))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A line of the Gemini CLI's `--output-format stream-json`.
    pub(super) fn observe_gemini(&mut self, event: &Value) -> Option<String> {
        match event.get("type").and_then(Value::as_str)? {
            "init" => {
                self.agent_session = text(event, "session_id");
                self.model = text(event, "model");
                Some("started".to_owned())
            }
            "tool_use" => {
                self.tool_calls += 1;
                let name = text(event, "tool_name").unwrap_or_else(|| "tool".to_owned());
                Some(match event.get("parameters").and_then(tool_detail) {
                    Some(detail) => one_line(&format!("{name} {detail}")),
                    None => name,
                })
            }
            "message" if text(event, "role").as_deref() == Some("assistant") => {
                let piece = text(event, "content")?;
                let whole = match (&self.result, event.get("delta").and_then(Value::as_bool)) {
                    (Some(before), Some(true)) => format!("{before}{piece}"),
                    _ => piece,
                };
                self.result = Some(whole.clone());
                Some(one_line(&whole)).filter(|t| !t.is_empty())
            }
            "result" => {
                let failed = text(event, "status").as_deref() != Some("success");
                self.is_error = Some(failed);
                self.turns = Some(1);
                self.add_tokens(
                    event.pointer("/stats/input_tokens"),
                    event.pointer("/stats/output_tokens"),
                );
                Some(if failed { "failed" } else { "finished" }.to_owned())
            }
            _ => None,
        }
    }

    /// A line of `opencode run --format json`.
    pub(super) fn observe_opencode(&mut self, event: &Value) -> Option<String> {
        let part = event.get("part").unwrap_or(event);
        match event.get("type").and_then(Value::as_str)? {
            "tool_use" => {
                self.tool_calls += 1;
                let name = text(part, "tool").unwrap_or_else(|| "tool".to_owned());
                Some(match part.pointer("/state/input").and_then(tool_detail) {
                    Some(detail) => one_line(&format!("{name} {detail}")),
                    None => name,
                })
            }
            "text" => {
                let message = text(part, "text")?;
                self.result = Some(message.clone());
                self.is_error.get_or_insert(false);
                Some(one_line(&message))
            }
            "step_finish" => {
                self.turns = Some(self.turns.unwrap_or(0) + 1);
                // A model without a price in OpenCode's catalogue costs 0
                // there: that is no cost reported, and the tokens tell.
                if let Some(cost) = part
                    .get("cost")
                    .and_then(Value::as_f64)
                    .filter(|c| *c > 0.0)
                {
                    self.agent_cost = Some(self.agent_cost.unwrap_or(0.0) + cost);
                }
                self.add_tokens(
                    part.pointer("/tokens/input"),
                    part.pointer("/tokens/output"),
                );
                None
            }
            "error" => {
                self.is_error = Some(true);
                Some(one_line(&event.to_string()))
            }
            _ => None,
        }
    }

    /// A line of plain output (Aider).
    pub(super) fn observe_text(&mut self, line: &str) -> Option<String> {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Tokens: ") {
            let (sent, received) = aider_tokens(rest)?;
            self.input_tokens = Some(self.input_tokens.unwrap_or(0) + sent);
            self.output_tokens = Some(self.output_tokens.unwrap_or(0) + received);
            if let Some(session) = rest
                .split_once("Cost: ")
                .and_then(|(_, cost)| cost.split(", $").nth(1))
                .and_then(|session| session.split_whitespace().next())
                .and_then(|amount| amount.parse::<f64>().ok())
            {
                self.agent_cost = Some(session);
            }
            return None;
        }
        Some(one_line(line)).filter(|t| !t.is_empty())
    }

    fn add_tokens(&mut self, input: Option<&Value>, output: Option<&Value>) {
        if let Some(input) = input.and_then(Value::as_u64) {
            self.input_tokens = Some(self.input_tokens.unwrap_or(0) + input);
        }
        if let Some(output) = output.and_then(Value::as_u64) {
            self.output_tokens = Some(self.output_tokens.unwrap_or(0) + output);
        }
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `2.1k sent, 340 received. ...` as numbers of tokens.
fn aider_tokens(rest: &str) -> Option<(u64, u64)> {
    let number = |word: &str| -> Option<u64> {
        let word = word.trim().replace(',', "");
        match word.strip_suffix('k') {
            Some(thousands) => thousands
                .parse::<f64>()
                .ok()
                .map(|n| (n * 1000.0).round() as u64),
            None => word.parse().ok(),
        }
    };
    let (sent, rest) = rest.split_once(" sent")?;
    let received = rest.trim_start_matches(',').split_whitespace().next()?;
    Some((number(sent)?, number(received)?))
}

#[cfg(test)]
mod tests {
    use crate::agents::Output;

    use super::*;

    fn read(format: Output, lines: &str) -> StreamState {
        let mut state = StreamState::for_output(format);
        for line in lines.lines() {
            state.observe(line);
        }
        state
    }

    /// What Codex CLI 0.169.0 printed for a run of one shell command
    /// against the stand-in.
    #[test]
    fn codex_json_gives_activity_tool_calls_and_tokens() {
        let state = read(
            Output::CodexJson,
            r#"{"type":"thread.started","thread_id":"01a23536-3a9a-7221-b00c-816a5850bd73"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `gpt-5` not found."}}
{"type":"turn.started"}
{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo hello > b.txt'","aggregated_output":"","exit_code":null,"status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo hello > b.txt'","aggregated_output":"","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"all done"}}
{"type":"turn.completed","usage":{"input_tokens":200,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":40,"reasoning_output_tokens":0}}"#,
        );
        assert_eq!(state.tool_calls, 1);
        assert_eq!(state.result.as_deref(), Some("all done"));
        assert_eq!(state.last_activity.as_deref(), Some("all done"));
        assert_eq!(
            (state.input_tokens, state.output_tokens),
            (Some(200), Some(40))
        );
        assert_eq!(state.agent_cost, None);
        assert_eq!(state.is_error, Some(false));
    }

    /// What Gemini CLI 0.61.0 printed for a run of one shell command
    /// against the stand-in.
    #[test]
    fn gemini_stream_json_gives_activity_tool_calls_and_tokens() {
        let state = read(
            Output::GeminiStreamJson,
            r#"{"type":"init","timestamp":"2026-12-02T05:41:23.767Z","session_id":"aad08e4c","model":"gemini-2.5-flash"}
{"type":"message","timestamp":"2026-12-02T05:41:23.770Z","role":"user","content":"make b"}
{"type":"tool_use","timestamp":"2026-12-02T05:41:24.006Z","tool_name":"run_shell_command","tool_id":"t0","parameters":{"command":"echo hello > b.txt"}}
{"type":"tool_result","timestamp":"2026-12-02T05:41:24.198Z","tool_id":"t0","status":"success","output":""}
{"type":"message","timestamp":"2026-12-02T05:41:24.258Z","role":"assistant","content":"all ","delta":true}
{"type":"message","timestamp":"2026-12-02T05:41:24.258Z","role":"assistant","content":"done","delta":true}
{"type":"result","timestamp":"2026-12-02T05:41:24.319Z","status":"success","stats":{"total_tokens":240,"input_tokens":200,"output_tokens":40,"cached":0,"input":200,"duration_ms":552,"tool_calls":1}}"#,
        );
        assert_eq!(state.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(state.tool_calls, 1);
        assert_eq!(state.result.as_deref(), Some("all done"));
        assert_eq!(
            (state.input_tokens, state.output_tokens),
            (Some(200), Some(40))
        );
        assert_eq!(state.last_activity.as_deref(), Some("finished"));
    }

    /// What OpenCode 1.18.33 printed for a run of one shell command
    /// against the stand-in (ids shortened).
    #[test]
    fn opencode_json_gives_activity_tool_calls_and_tokens() {
        let state = read(
            Output::OpencodeJson,
            r#"{"type":"step_start","timestamp":1796192808214,"sessionID":"ses_1","part":{"id":"prt_1","messageID":"msg_1","sessionID":"ses_1","type":"step-start"}}
{"type":"tool_use","timestamp":1796192810783,"sessionID":"ses_1","part":{"type":"tool","tool":"bash","callID":"call_0000","state":{"status":"completed","input":{"command":"echo hello > b.txt","description":"scripted step"},"output":"(no output)","metadata":{"output":"(no output)","exit":0,"truncated":false},"title":"echo hello > b.txt"},"id":"prt_2","sessionID":"ses_1","messageID":"msg_1"}}
{"type":"step_finish","timestamp":1796192811644,"sessionID":"ses_1","part":{"id":"prt_3","reason":"tool-calls","messageID":"msg_1","sessionID":"ses_1","type":"step-finish","tokens":{"total":120,"input":100,"output":20,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0}}
{"type":"text","timestamp":1796192813598,"sessionID":"ses_1","part":{"id":"prt_4","messageID":"msg_2","sessionID":"ses_1","type":"text","text":"all done"}}
{"type":"step_finish","timestamp":1796192815061,"sessionID":"ses_1","part":{"id":"prt_5","reason":"stop","messageID":"msg_2","sessionID":"ses_1","type":"step-finish","tokens":{"total":120,"input":100,"output":20,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0.0125}}"#,
        );
        assert_eq!(state.tool_calls, 1);
        assert_eq!(state.result.as_deref(), Some("all done"));
        assert_eq!(
            (state.input_tokens, state.output_tokens),
            (Some(200), Some(40))
        );
        assert_eq!(state.turns, Some(2));
        assert_eq!(state.agent_cost, Some(0.0125));
    }

    /// What Aider 0.86.2 printed for a `--message` run against the
    /// stand-in (a model without a price: no `Cost:`).
    #[test]
    fn aider_output_gives_its_edits_and_tokens() {
        let state = read(
            Output::Text,
            "I will create the notes.\n\nnotes.md\n```\nnotes from aider\n```\n\nTokens: 767 sent, 17 received.\n\nnotes.md\nApplied edit to notes.md\n",
        );
        assert_eq!(
            (state.input_tokens, state.output_tokens),
            (Some(767), Some(17))
        );
        assert_eq!(state.agent_cost, None);
        assert_eq!(
            state.last_activity.as_deref(),
            Some("Applied edit to notes.md")
        );
    }

    #[test]
    fn aider_summary_lines_give_tokens_and_its_cost() {
        let state = read(
            Output::Text,
            "Aider v0.86.1\nApplied edit to notes.md\nTokens: 2.1k sent, 340 received. Cost: $0.01 message, $0.03 session.\n",
        );
        assert_eq!(
            (state.input_tokens, state.output_tokens),
            (Some(2100), Some(340))
        );
        assert_eq!(state.agent_cost, Some(0.03));
        assert_eq!(
            state.last_activity.as_deref(),
            Some("Applied edit to notes.md")
        );
    }
}
