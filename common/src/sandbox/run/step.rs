//! Commands of our own in the sandbox (setup, git), their output logged.

use std::time::Instant;

use anyhow::Result;

use super::super::{CommandSpec, Exit, Flow, OutputStream, RunEvent, Sandbox};
use super::record::Log;
use super::{Cancel, Plan};

/// Runs one preparation step in the sandbox, logging its output.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_step(
    plan: &Plan,
    sandbox: &dyn Sandbox,
    argv: &[String],
    log: &mut Log,
    prefix: &str,
    deadline: Instant,
    cancel: &Cancel,
    stdout: &mut Vec<String>,
) -> Result<Exit> {
    let spec = CommandSpec {
        argv: argv.to_vec(),
        env: plan.env.clone(),
    };
    sandbox.run(&spec, &mut |event| {
        if let RunEvent::Line(stream, line) = event {
            log.line(prefix, line);
            if stream == OutputStream::Stdout {
                stdout.push(line.to_owned());
            }
        }
        if cancel.is_cancelled() || Instant::now() >= deadline {
            Flow::Stop
        } else {
            Flow::Continue
        }
    })
}

/// A fixed script of ours (never user text) for the sandbox's shell, with
/// its positional arguments.
pub(super) fn sh(script: &str, args: &[&str]) -> Vec<String> {
    ["sh", "-c", script, "sh"]
        .iter()
        .chain(args)
        .map(|word| (*word).to_owned())
        .collect()
}
