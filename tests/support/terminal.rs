//! A real terminal for full-screen programs: a tmux server of the test's
//! own with one pane, started with `new-session`, driven with `send-keys`
//! and read with `capture-pane`; the server is killed on drop.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The name of the one tmux session (and pane target).
const TARGET: &str = "pane";

pub struct Terminal {
    socket: String,
}

impl Terminal {
    /// Runs `program` in `cwd` in a `width`x`height` pane of a new tmux
    /// server named after `name`. `setup` adds to the command that starts
    /// the server (its environment is the server's and the program's).
    pub fn start<S: AsRef<OsStr>>(
        name: &str,
        (width, height): (u16, u16),
        cwd: &Path,
        program: impl IntoIterator<Item = S>,
        setup: impl FnOnce(&mut Command),
    ) -> Terminal {
        let terminal = Terminal {
            socket: format!("pcc-{name}-{}", std::process::id()),
        };
        let mut command = terminal.tmux();
        command.env("TERM", "xterm-256color");
        setup(&mut command);
        command
            .args(["new-session", "-d", "-s", TARGET])
            .args(["-x", &width.to_string(), "-y", &height.to_string(), "-c"])
            .arg(cwd)
            .args(program);
        let output = command.output().expect("start tmux");
        assert!(
            output.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        terminal
    }

    /// A tmux command for this server.
    pub fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]).env_remove("TMUX");
        command
    }

    /// Runs a tmux command that must succeed.
    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.tmux().args(args).output().expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// What the pane shows.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", TARGET]).stdout)
            .into_owned()
    }

    /// Types `keys` (tmux key names, or text after `-l`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", TARGET];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// A tmux format (`#{…}`) expanded for the pane.
    pub fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display", "-p", "-t", TARGET, format]).stdout)
            .trim()
            .to_owned()
    }

    /// Waits (30 s at most) until the screen satisfies `ready`, and
    /// returns it.
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The PID of the first child of the pane's process (a program a
    /// shell in the pane started).
    pub fn pane_child_pid(&self) -> i32 {
        let shell = self.display("#{pane_pid}");
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
        children.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// Whether tmux can be run.
pub fn has_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|output| output.status.success())
}
