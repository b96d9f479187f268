//! scripts/install.sh and scripts/uninstall.sh as a new user runs them:
//! into a fresh temporary HOME and its `~/.local`, with the executables
//! built for the tests (`--from`). A new shell, started from an empty
//! environment with a login's PATH, must then find the alias, the wrapper
//! and a healthy `git pcc doctor`; after uninstall.sh the HOME holds what
//! it held before, file by file, but the data directory, which is kept and
//! named. Bash always; zsh and fish when they are installed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::TestEnv;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn installed(program: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// Every path under `dir` (directories end with `/`) with the bytes of
/// each file, skipping `skip`.
fn tree(dir: &Path, skip: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, skip: &Path, found: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == skip {
                continue;
            }
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            if path.is_dir() && !path.is_symlink() {
                found.push((format!("{rel}/"), Vec::new()));
                walk(base, &path, skip, found);
            } else {
                found.push((rel, std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, skip, &mut found);
    found.sort();
    found
}

/// A command with nothing of the test's environment but what a user has:
/// HOME, a login's PATH, the shell.
fn plain(env: &TestEnv, program: impl AsRef<std::ffi::OsStr>, shell: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("HOME", &env.home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("SHELL", shell)
        .env("TERM", "dumb")
        .env("LC_ALL", "C.UTF-8")
        .current_dir(&env.home)
        .stdin(std::process::Stdio::null());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        text(&output.stderr),
        text(&output.stdout)
    );
}

fn install_and_uninstall(shell_name: &str) {
    let Some(shell) = installed(shell_name) else {
        eprintln!("note: {shell_name} is not installed; install.sh not tested with it");
        return;
    };
    let env = TestEnv::new();
    let data_dir = env.home.join(".parallel-cc");
    let before = tree(&env.home, &data_dir);

    let output = plain(&env, "bash", &shell)
        .arg(script("install.sh"))
        .arg("--all")
        .arg("--from")
        .arg(support::bin_dir())
        .output()
        .unwrap();
    assert_success(&output, "install.sh --all");
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("as a new {shell_name} sees it")),
        "{stdout}"
    );
    assert!(stdout.contains("all essential checks passed"), "{stdout}");

    // A new shell: the alias resolves, the wrapper and git pcc are found,
    // doctor is healthy.
    let probe = "type claude; command -v claude-parallel; git pcc doctor --json";
    let mut new_shell = plain(&env, &shell, &shell);
    if shell_name != "fish" {
        new_shell.arg("-i");
    }
    let output = new_shell.args(["-c", probe]).output().unwrap();
    assert_success(&output, "a new shell");
    let stdout = text(&output.stdout);
    let bin = env.home.join(".local/bin");
    assert!(stdout.contains("claude-parallel"), "{stdout}");
    assert!(
        stdout.contains(&bin.join("claude-parallel").display().to_string()),
        "{stdout}"
    );
    let doctor: serde_json::Value =
        serde_json::from_str(&stdout[stdout.find('{').unwrap()..]).unwrap();
    assert_eq!(doctor["healthy"], true, "{doctor:#}");
    for check in doctor["checks"].as_array().unwrap() {
        if [
            "git-pcc",
            "wrapper",
            "git pcc",
            "alias",
            "hooks",
            "mcp server",
        ]
        .contains(&check["name"].as_str().unwrap())
        {
            assert_eq!(check["ok"], true, "{check}");
        }
    }
    // Sourcing the rc file again puts the directory on PATH once.
    let twice = match shell_name {
        "fish" => "source ~/.config/fish/config.fish; string join \\n $PATH",
        "zsh" => "source ~/.zshrc; print -rl -- $path",
        _ => "source ~/.bashrc; echo \"$PATH\" | tr : '\\n'",
    };
    let mut again = plain(&env, &shell, &shell);
    if shell_name != "fish" {
        again.arg("-i");
    }
    let output = again.args(["-c", twice]).output().unwrap();
    assert_success(&output, "sourcing the rc file twice");
    let listed = text(&output.stdout);
    assert_eq!(
        listed
            .lines()
            .filter(|l| *l == bin.display().to_string())
            .count(),
        1,
        "{listed}"
    );

    let output = plain(&env, "bash", &shell)
        .arg(script("uninstall.sh"))
        .output()
        .unwrap();
    assert_success(&output, "uninstall.sh");
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("your data is kept in {}", data_dir.display())),
        "{stdout}"
    );
    let after = tree(&env.home, &data_dir);
    let names = |entries: &[(String, Vec<u8>)]| -> Vec<String> {
        entries.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(names(&after), names(&before), "HOME after uninstall.sh");
    assert_eq!(after, before, "HOME after uninstall.sh");
    assert!(data_dir.join("coordinator.db").is_file());
    assert!(!data_dir.join("installed.json").exists());
}

#[test]
fn bash_user_installs_and_uninstalls() {
    install_and_uninstall("bash");
}

#[test]
fn zsh_user_installs_and_uninstalls() {
    install_and_uninstall("zsh");
}

#[test]
fn fish_user_installs_and_uninstalls() {
    install_and_uninstall("fish");
}

#[test]
fn without_the_rc_entry_install_says_a_new_shell_will_not_find_it() {
    let env = TestEnv::new();
    let bash = installed("bash").unwrap();
    let output = plain(&env, "bash", &bash)
        .arg(script("install.sh"))
        .arg("--from")
        .arg(support::bin_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("a new bash does not find parallel-cc"),
        "{stderr}"
    );
    assert!(stderr.contains("install.sh --all"), "{stderr}");
}
