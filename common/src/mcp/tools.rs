//! The tool registry: each tool is one small unit — a name, a description
//! an agent can act on, JSON Schemas for its input and output, annotations,
//! and a handler — so tool families add tools without touching the protocol.

use anyhow::Result;
use serde_json::{json, Map, Value};

/// A tool's handler: validated arguments in, structured result out.
pub type Handler = Box<dyn Fn(&Map<String, Value>) -> Result<Value> + Send + Sync>;

/// One tool.
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    pub read_only: bool,
    pub handler: Handler,
}

/// The tools a server offers.
#[derive(Default)]
pub struct Registry {
    tools: Vec<Tool>,
}

impl Registry {
    pub fn add(&mut self, tool: Tool) {
        self.tools.push(tool);
    }

    pub fn find(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.name).collect()
    }

    /// The `tools/list` entries.
    pub fn descriptions(&self) -> Vec<Value> {
        self.tools
            .iter()
            .map(|tool| {
                let mut entry = json!({
                    "name": tool.name,
                    "title": tool.title,
                    "description": tool.description,
                    "inputSchema": tool.input_schema,
                    "annotations": {
                        "title": tool.title,
                        "readOnlyHint": tool.read_only,
                        "destructiveHint": false,
                        "openWorldHint": false
                    }
                });
                if let Some(schema) = &tool.output_schema {
                    entry["outputSchema"] = schema.clone();
                }
                entry
            })
            .collect()
    }
}

/// A successful `tools/call` result: the structure, and the same as text.
pub fn success_result(value: Value) -> Value {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    json!({"content": [{"type": "text", "text": text}], "structuredContent": value, "isError": false})
}

/// A failed `tools/call` result the agent can read and act on.
pub fn error_result(message: &str) -> Value {
    json!({"content": [{"type": "text", "text": message}], "isError": true})
}

/// A text argument, when given.
pub fn text(arguments: &Map<String, Value>, key: &str) -> Option<String> {
    arguments
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// An object schema with `properties` and `required`.
pub fn object_schema(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}
