//! The MCP server's protocol layer: newline-delimited JSON-RPC 2.0 over a
//! reader and a writer (stdin/stdout for `pcc-mcp`), synchronous, with no
//! async runtime. It negotiates the protocol version, answers `ping`,
//! `tools/list` and `tools/call` from a [`tools::Registry`], and turns every
//! malformed input into the JSON-RPC error the specification names, so no
//! input stops the server; end of input ends it cleanly.

pub mod analysis_tools;
pub mod claim_tools;
pub mod conflict_tools;
pub mod land_tools;
pub mod merge_tools;
pub mod sandbox_tools;
pub mod schema;
pub mod session_tools;
pub mod tools;

use std::io::{BufRead, Write};

use serde_json::{json, Map, Value};

/// Protocol versions we speak, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The longest line we parse; longer ones are answered with a parse error.
pub const MAX_LINE_BYTES: usize = 4 << 20;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// The registry of every tool the product offers.
pub fn all_tools(data_dir: std::path::PathBuf) -> tools::Registry {
    let mut registry = tools::Registry::default();
    session_tools::register(&mut registry, data_dir.clone());
    claim_tools::register(&mut registry, data_dir.clone());
    merge_tools::register(&mut registry, data_dir.clone());
    conflict_tools::register(&mut registry, data_dir.clone());
    analysis_tools::register(&mut registry, data_dir.clone());
    sandbox_tools::register(&mut registry, data_dir.clone());
    land_tools::register(&mut registry, data_dir);
    registry
}

/// A server over one registry of tools.
pub struct Server {
    registry: tools::Registry,
    version: Option<&'static str>,
}

impl Server {
    pub fn new(registry: tools::Registry) -> Server {
        Server {
            registry,
            version: None,
        }
    }

    /// Serves until `input` ends.
    pub fn serve(
        &mut self,
        input: &mut impl BufRead,
        output: &mut impl Write,
    ) -> std::io::Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let (read, truncated) = read_line_bounded(input, &mut line, MAX_LINE_BYTES)?;
            if read == 0 {
                return Ok(());
            }
            let response = if truncated {
                Some(error_response(
                    Value::Null,
                    PARSE_ERROR,
                    "message too large",
                ))
            } else {
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue;
                }
                self.handle_text(text.trim())
            };
            if let Some(response) = response {
                let mut bytes = serde_json::to_vec(&response).unwrap_or_default();
                bytes.push(b'\n');
                output.write_all(&bytes)?;
                output.flush()?;
            }
        }
    }

    /// Handles one line of input, returning the response to write, if any.
    pub fn handle_text(&mut self, text: &str) -> Option<Value> {
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(err) => {
                return Some(error_response(
                    Value::Null,
                    PARSE_ERROR,
                    &format!("parse error: {err}"),
                ))
            }
        };
        match message {
            Value::Array(batch) => self.handle_batch(batch),
            single => self.handle_message(single),
        }
    }

    fn batches_allowed(&self) -> bool {
        matches!(self.version, None | Some("2024-11-05") | Some("2025-03-26"))
    }

    fn handle_batch(&mut self, batch: Vec<Value>) -> Option<Value> {
        if !self.batches_allowed() {
            return Some(error_response(
                Value::Null,
                INVALID_REQUEST,
                "batches are not supported in this protocol version",
            ));
        }
        if batch.is_empty() {
            return Some(error_response(Value::Null, INVALID_REQUEST, "empty batch"));
        }
        let responses: Vec<Value> = batch
            .into_iter()
            .filter_map(|m| self.handle_message(m))
            .collect();
        (!responses.is_empty()).then_some(Value::Array(responses))
    }

    fn handle_message(&mut self, message: Value) -> Option<Value> {
        let Value::Object(object) = message else {
            return Some(error_response(
                Value::Null,
                INVALID_REQUEST,
                "a message must be a JSON object",
            ));
        };
        let id = object.get("id").cloned();
        if let Some(id) = &id {
            if !(id.is_string() || id.is_i64() || id.is_u64()) {
                return Some(error_response(
                    Value::Null,
                    INVALID_REQUEST,
                    "id must be a string or an integer",
                ));
            }
        }
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Some(error_response(
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "jsonrpc must be \"2.0\"",
            ));
        }
        let Some(method) = object.get("method").and_then(Value::as_str) else {
            if object.contains_key("result") || object.contains_key("error") {
                // A response to a request we never send; nothing to answer.
                return None;
            }
            return Some(error_response(
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "missing method",
            ));
        };
        let params = object.get("params").cloned().unwrap_or(Value::Null);
        let Some(id) = id else {
            // Notifications are never answered.
            return None;
        };
        let result = self.dispatch(method, &params);
        Some(match result {
            Ok(value) => json!({"jsonrpc": "2.0", "id": id, "result": value}),
            Err((code, message)) => error_response(id, code, &message),
        })
    }

    fn dispatch(&mut self, method: &str, params: &Value) -> Result<Value, (i64, String)> {
        if !(params.is_null() || params.is_object()) {
            return Err((INVALID_PARAMS, "params must be an object".to_owned()));
        }
        match method {
            "initialize" => Ok(self.initialize(params)),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({"tools": self.registry.descriptions()})),
            "tools/call" => self.call_tool(params),
            "resources/list" => Ok(json!({"resources": []})),
            "prompts/list" => Ok(json!({"prompts": []})),
            _ => Err((METHOD_NOT_FOUND, format!("method not found: {method}"))),
        }
    }

    fn initialize(&mut self, params: &Value) -> Value {
        let requested = params.get("protocolVersion").and_then(Value::as_str);
        let version = SUPPORTED_VERSIONS
            .iter()
            .find(|v| Some(**v) == requested)
            .copied()
            .unwrap_or(SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1]);
        self.version = Some(version);
        json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "parallel-cc", "version": env!("CARGO_PKG_VERSION")},
            "instructions": "parallel-cc coordinates several agent sessions working in one git repository. \
                Use get_parallel_status to see who else works where, and get_my_session for your own session."
        })
    }

    fn call_tool(&mut self, params: &Value) -> Result<Value, (i64, String)> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err((INVALID_PARAMS, "tools/call needs a tool name".to_owned()));
        };
        let Some(tool) = self.registry.find(name) else {
            return Err((INVALID_PARAMS, format!("unknown tool: {name}")));
        };
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err((INVALID_PARAMS, "arguments must be an object".to_owned())),
        };
        if let Err(problem) = schema::validate(&tool.input_schema, &arguments) {
            let message = format!("invalid arguments for {name}: {problem}");
            // Since 2025-11-25 argument errors are tool results the model can read.
            if self.version == Some("2025-11-25") {
                return Ok(tools::error_result(&message));
            }
            return Err((INVALID_PARAMS, message));
        }
        Ok(match (tool.handler)(&arguments) {
            Ok(value) => tools::success_result(value),
            Err(err) => tools::error_result(&format!("{err:#}")),
        })
    }
}

fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Reads one line (without its newline) into `line`, keeping at most
/// `limit` bytes and discarding the rest of a longer line. Returns the bytes
/// consumed and whether the line was cut.
fn read_line_bounded(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut truncated = false;
    loop {
        let buffer = match input.fill_buf() {
            Ok(buffer) => buffer,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buffer.is_empty() {
            return Ok((consumed, truncated));
        }
        let (chunk, done) = match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => (&buffer[..end], Some(end + 1)),
            None => (buffer, None),
        };
        if line.len() + chunk.len() > limit {
            truncated = true;
        } else if !truncated {
            line.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(buffer.len());
        input.consume(used);
        consumed += used;
        if done.is_some() {
            return Ok((consumed, truncated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_the_next_line_survives() {
        let text = format!("{}\n{{\"x\":1}}\n", "a".repeat(100));
        let mut input = std::io::BufReader::with_capacity(16, text.as_bytes());
        let mut line = Vec::new();
        assert_eq!(
            read_line_bounded(&mut input, &mut line, 50).unwrap(),
            (101, true)
        );
        line.clear();
        assert_eq!(
            read_line_bounded(&mut input, &mut line, 50).unwrap(),
            (8, false)
        );
        assert_eq!(line, b"{\"x\":1}");
    }
}
