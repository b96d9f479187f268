//! The baseline stage: the uploaded workspace becomes a git repository
//! whose first commit is everything packed, so that the agent's work is
//! what comes after it.

use std::time::Instant;

use anyhow::{Context, Result};
use git2::Oid;

use super::super::Sandbox;
use super::record::Log;
use super::step::{run_step, sh};
use super::{Cancel, Plan, Run};

/// Makes the workspace a git repository whose first commit is everything
/// packed (`-f`: tracked files the workspace's ignore rules would skip),
/// and prints that commit. Hooks never run; `core.bigFileThreshold=1`
/// writes the contents as one pack instead of a file per object.
/// The commit message is `$1`.
const BASELINE_SCRIPT: &str = "git -c core.hooksPath=/dev/null init -q -b main \
    && git -c core.hooksPath=/dev/null -c core.bigFileThreshold=1 add -A -f \
    && git -c core.hooksPath=/dev/null commit -q --no-verify --allow-empty -m \"$1\" \
    && git rev-parse HEAD";

/// The message of the baseline commit.
const BASELINE_MESSAGE: &str = "Workspace as packed by parallel-cc";

impl Run<'_> {
    /// The baseline stage. Returns the baseline commit.
    pub(super) fn baseline(&mut self, sandbox: &dyn Sandbox) -> Result<Oid> {
        commit_baseline(self.plan, sandbox, &mut self.log, self.deadline)
    }
}

/// Makes the workspace a git repository whose first commit is the packed
/// workspace. Returns that commit.
fn commit_baseline(
    plan: &Plan,
    sandbox: &dyn Sandbox,
    log: &mut Log,
    deadline: Instant,
) -> Result<Oid> {
    if let Some(commit) =
        sandbox.commit_baseline(&plan.git_user, &plan.git_email, BASELINE_MESSAGE)?
    {
        log.line("[baseline] ", &commit.to_string());
        return Ok(commit);
    }
    let never = Cancel::default();
    let mut stdout = Vec::new();
    let exit = run_step(
        plan,
        sandbox,
        &sh(BASELINE_SCRIPT, &[BASELINE_MESSAGE]),
        log,
        "[baseline] ",
        deadline,
        &never,
        &mut stdout,
    )?;
    if !exit.success() {
        anyhow::bail!("cannot prepare the sandbox workspace: git failed");
    }
    let head = stdout.last().map(|s| s.trim()).unwrap_or_default();
    Oid::from_str(head).context("cannot read the sandbox's baseline commit")
}
