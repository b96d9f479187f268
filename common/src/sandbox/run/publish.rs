//! The publish stage (`--git-live`): the run's branch is pushed and a
//! pull request opened.

use anyhow::Result;

use super::super::results::Collected;
use super::{GitLive, Plan, Task};

/// Pushes a run's branch and opens a pull request. Returns its URL.
pub(super) fn publish(
    plan: &Plan,
    live: &GitLive,
    task: &Task,
    branch: &str,
    collected: &Collected,
) -> Result<String> {
    crate::github::push(&plan.repo_path, &live.remote, branch)?;
    let title = format!(
        "Sandbox run {}: {}",
        task.short_id(),
        plan.redactor
            .redact(task.prompt.lines().next().unwrap_or(""))
            .chars()
            .take(60)
            .collect::<String>()
    );
    let mut body = format!(
        "Made by an unattended sandbox run ({}).\n\n**Prompt**\n\n{}\n\n**Files changed**\n\n",
        task.id,
        plan.redactor.redact(&task.prompt)
    );
    for file in &collected.files {
        body.push_str(&format!("- `{file}`\n"));
    }
    let pr = crate::github::open_pull_request(
        &live.token,
        &live.owner,
        &live.name,
        branch,
        &live.target_branch,
        &title,
        &body,
    )?;
    Ok(pr.url)
}
