//! `git pcc statusline`: the line Claude Code's `statusLine` command
//! prints for a session. Claude Code runs it every few seconds, so it is
//! parsed on its own (as the hooks are), reads the JSON Claude Code gives
//! it on stdin, and whatever goes wrong prints at most one line on stderr
//! (Claude Code shows only stdout) and exits 0.

use clap::Args;
use pcc::session::HeartbeatTarget;
use pcc::statusline::{self, StatusLineInput};

use crate::Output;

#[derive(Debug, clap::Parser)]
#[command(
    name = "git-pcc statusline",
    bin_name = "git pcc statusline",
    version,
    about = "One line for Claude Code's status line (reads its JSON on stdin)"
)]
pub struct StatusLineCommand {
    /// Print results as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub args: StatusLineArgs,
}

#[derive(Debug, Args)]
pub struct StatusLineArgs {}

pub fn run(_args: StatusLineArgs) -> anyhow::Result<Output> {
    let input = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        // Run by hand: no JSON is coming.
        Vec::new()
    } else {
        crate::hook::read_input()
    };
    let input = StatusLineInput::parse(&input);
    let target = HeartbeatTarget {
        env_session_id: std::env::var("PARALLEL_CC_SESSION_ID")
            .ok()
            .filter(|id| !id.is_empty()),
        ancestors: true,
        cwd: input.directory().or_else(|| std::env::current_dir().ok()),
        ..HeartbeatTarget::default()
    };
    let found = crate::data_dir().and_then(|data_dir| statusline::statusline(&data_dir, &target));
    match found {
        Ok(Some(line)) => {
            let human = line.render();
            Ok(Output::new(&line, human))
        }
        Ok(None) => Ok(Output::new(&serde_json::Value::Null, String::new())),
        Err(err) => {
            eprintln!("parallel-cc statusline: {}", one_line(&format!("{err:#}")));
            Ok(Output::silent())
        }
    }
}

fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}
