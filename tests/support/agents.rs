//! The real Codex CLI and Gemini CLI against the scripted model server
//! (`tests/support/model_server.py`, a stand-in for the OpenAI Responses
//! API and the Gemini API: the only part of these tests that is not the
//! real thing), and Aider and OpenCode against its Chat Completions
//! stand-in. `scripts/test.sh` installs the pinned CLIs under
//! `target/codex`, `target/gemini-cli`, `target/opencode` and (a Python
//! virtual environment) `target/aider`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::claude::ModelServer;
use super::TestEnv;

fn installed(dir: &str, name: &str, variable: &str) -> PathBuf {
    installed_at(&format!("{dir}/node_modules/.bin"), name, variable)
}

/// `$variable`, else `target/<dir>/<name>`, which must be there.
fn installed_at(dir: &str, name: &str, variable: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(dir)
        .join(name);
    assert!(
        path.exists(),
        "{name} is not installed at {}; run scripts/test.sh (it installs it) or set {variable}",
        path.display()
    );
    path
}

/// The Codex CLI: `$PCC_CODEX`, else `target/codex`.
pub fn codex_bin() -> PathBuf {
    installed("codex", "codex", "PCC_CODEX")
}

/// OpenCode: `$PCC_OPENCODE`, else `target/opencode`.
pub fn opencode_bin() -> PathBuf {
    installed("opencode", "opencode", "PCC_OPENCODE")
}

/// OpenCode's config for the stand-in: an OpenAI-compatible provider whose
/// base URL is the server, its one model the default (for
/// `OPENCODE_CONFIG_CONTENT`).
pub fn opencode_config(server: &ModelServer) -> String {
    serde_json::json!({
        "autoupdate": false,
        "share": "disabled",
        "provider": {"standin": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "scripted stand-in",
            "options": {"baseURL": format!("http://127.0.0.1:{}/v1", server.port), "apiKey": "sk-test-opencode-standin"},
            "models": {"scripted": {"name": "scripted", "tool_call": true}}
        }},
        "model": "standin/scripted"
    })
    .to_string()
}

/// Aider: `$PCC_AIDER`, else the virtual environment `target/aider`.
pub fn aider_bin() -> PathBuf {
    installed_at("aider/bin", "aider", "PCC_AIDER")
}

/// The variables [`configure_aider`] sets, for a sandbox's `--env`.
pub const AIDER_VARIABLES: [&str; 5] = [
    "OPENAI_API_BASE",
    "AIDER_MODEL",
    "AIDER_MODEL_METADATA_FILE",
    "AIDER_EDIT_FORMAT",
    "LITELLM_LOCAL_MODEL_COST_MAP",
];

/// Points Aider at the stand-in, through its environment (Aider reads each
/// option from `AIDER_<OPTION>`; those the tests' environment has are
/// taken out): a model of an OpenAI-compatible API at
/// the server's base URL, the model's context size and prices from a
/// metadata file (so no model catalogue is fetched), and the whole-file
/// edit format the script's replies are written in. The file is outside
/// the HOME, which a confined sandbox hides.
pub fn configure_aider(env: &TestEnv, command: &mut Command, server: &ModelServer) {
    // None of the options of the environment the tests run in.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AIDER_") {
            command.env_remove(name);
        }
    }
    let metadata = env.path().join("aider-models.json");
    std::fs::write(
        &metadata,
        serde_json::json!({"openai/scripted": {
            "max_input_tokens": 128000,
            "max_output_tokens": 4096,
            "input_cost_per_token": 0.000002,
            "output_cost_per_token": 0.000008,
            "litellm_provider": "openai",
            "mode": "chat"
        }})
        .to_string(),
    )
    .unwrap();
    command
        .env(
            "OPENAI_API_BASE",
            format!("http://127.0.0.1:{}/v1", server.port),
        )
        .env("OPENAI_API_KEY", "sk-test-aider-standin")
        .env("AIDER_MODEL", "openai/scripted")
        .env("AIDER_MODEL_METADATA_FILE", &metadata)
        .env("AIDER_EDIT_FORMAT", "whole")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True");
}

/// The Gemini CLI: `$PCC_GEMINI`, else `target/gemini-cli`.
pub fn gemini_bin() -> PathBuf {
    installed("gemini-cli", "gemini", "PCC_GEMINI")
}

/// A PATH with the wrapper's directory, the agent's directory and our
/// binaries first.
pub fn path_with(env: &TestEnv, agent: &Path) -> String {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts");
    format!(
        "{}:{}:{}",
        scripts.display(),
        agent.parent().unwrap().display(),
        env.path_var()
    )
}

/// Points the Codex CLI of `env`'s HOME at the stand-in: a custom model
/// provider speaking the Responses API, in `~/.codex/config.toml`.
pub fn configure_codex_home(env: &TestEnv, server: &ModelServer) {
    let dir = env.home.join(".codex");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "model = \"gpt-5\"\nmodel_provider = \"standin\"\n\n[model_providers.standin]\n\
             name = \"scripted stand-in\"\nbase_url = \"http://127.0.0.1:{}/v1\"\n\
             wire_api = \"responses\"\nenv_key = \"OPENAI_API_KEY\"\n",
            server.port
        ),
    )
    .unwrap();
}

/// Sets what the Codex CLI needs to run offline.
pub fn configure_codex(command: &mut Command) {
    command
        .env("OPENAI_API_KEY", "sk-test-not-a-real-key")
        .env_remove("CODEX_HOME");
}

/// The Gemini CLI's settings in `env`'s HOME: API-key auth, no folder
/// trust prompts, no usage statistics.
pub fn configure_gemini_home(env: &TestEnv) {
    let dir = env.home.join(".gemini");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("settings.json"),
        serde_json::json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
            "privacy": {"usageStatisticsEnabled": false}
        })
        .to_string(),
    )
    .unwrap();
}

/// Sets what the Gemini CLI needs to talk to the stand-in offline.
pub fn configure_gemini(command: &mut Command, server: &ModelServer) {
    command
        .env("GEMINI_API_KEY", "test-gemini-key-not-real")
        .env(
            "GOOGLE_GEMINI_BASE_URL",
            format!("http://127.0.0.1:{}", server.port),
        )
        .env_remove("GOOGLE_API_KEY");
}

/// The requests the stand-in logged, as JSON.
pub fn logged_requests(server: &ModelServer) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&server.log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}
