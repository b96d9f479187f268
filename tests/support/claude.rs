//! The real Claude Code CLI against a scripted model server
//! (`tests/support/model_server.py`, a stand-in for Anthropic's API: the
//! only part of these tests that is not the real thing).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TestEnv;

/// The Claude Code executable: `$PCC_CLAUDE`, else the copy that
/// `scripts/test.sh` installs under `target/claude-code`.
pub fn claude_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PCC_CLAUDE") {
        return PathBuf::from(path);
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/claude-code/node_modules/.bin/claude");
    assert!(
        installed.exists(),
        "Claude Code is not installed at {}; run scripts/test.sh (it installs it) or set PCC_CLAUDE",
        installed.display()
    );
    installed
}

/// A running scripted model server.
pub struct ModelServer {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl ModelServer {
    /// Starts the server with `commands` run one after the other through the
    /// Bash tool, then `final_text`.
    pub fn start(env: &TestEnv, commands: &[String], final_text: &str) -> ModelServer {
        ModelServer::start_script(
            env,
            serde_json::json!({"commands": commands, "final": final_text}),
        )
    }

    /// Starts the server with a whole script (`commands`, `final`, `delay`:
    /// see `model_server.py`).
    pub fn start_script(env: &TestEnv, script_json: serde_json::Value) -> ModelServer {
        let dir = env.path().join("model-server");
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("script.json");
        std::fs::write(&script, script_json.to_string()).unwrap();
        let port_file = dir.join("port");
        let server =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/model_server.py");
        let child = Command::new("python3")
            .arg(server)
            .arg(&script)
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 model server");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                if let Ok(port) = text.trim().parse() {
                    break port;
                }
            }
            assert!(Instant::now() < deadline, "model server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut log = port_file.into_os_string();
        log.push(".log");
        ModelServer {
            child,
            port,
            log: PathBuf::from(log),
        }
    }

    /// Sets what Claude Code needs to talk to this server offline.
    pub fn configure(&self, command: &mut Command) {
        command
            .env(
                "ANTHROPIC_BASE_URL",
                format!("http://127.0.0.1:{}", self.port),
            )
            .env("ANTHROPIC_API_KEY", "sk-test-not-a-real-key")
            .env("IS_SANDBOX", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env_remove("CLAUDECODE")
            .env_remove("ANTHROPIC_AUTH_TOKEN");
    }

    /// Number of `/v1/messages` requests served.
    pub fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PATH with the built binaries, the scripts directory (claude-parallel)
/// and Claude Code's directory first.
pub fn path_with_claude(env: &TestEnv) -> String {
    let claude_dir = claude_bin().parent().unwrap().to_path_buf();
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts");
    format!(
        "{}:{}:{}",
        scripts.display(),
        claude_dir.display(),
        env.path_var()
    )
}

/// Waits for a child with a deadline, killing it when the deadline passes.
pub fn wait_for(child: &mut Child, seconds: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not finish within {seconds} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads every file in `dir` whose name starts with `prefix`.
pub fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    super::list_dir(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
        .collect()
}
