//! The publish stage (`--git-live`): the run's branch is pushed and a
//! pull request opened.

use anyhow::Result;

use super::super::results::Collected;
use super::super::runs::RunStatus;
use super::bring_back::Work;
use super::{GitLive, Outcome, Plan, Run, Task};

impl Run<'_> {
    /// The publish stage, for work that came back on a branch. When it
    /// fails the run fails, its work still on the branch.
    pub(super) fn publish(&mut self, work: &mut Work, outcome: &mut Outcome) {
        let plan = self.plan;
        let (Some(live), Some(branch)) = (
            &plan.git_live,
            work.imported
                .commit
                .as_ref()
                .and(work.imported.branch.clone()),
        ) else {
            return;
        };
        match push_and_open_pull_request(plan, live, self.task, &branch, &work.collected) {
            Ok(url) => {
                self.log.line("[git-live] pull request: ", &url);
                work.imported.pull_request = Some(url);
            }
            Err(err) => {
                let message = plan.redactor.redact(&format!("{err:#}")).into_owned();
                self.log.line("[git-live] ", &message);
                outcome.status = RunStatus::Failed;
                outcome.error = Some(format!(
                    "the work is on branch {branch}, but publishing it failed: {message}"
                ));
            }
        }
    }
}

/// Pushes a run's branch and opens a pull request. Returns its URL.
fn push_and_open_pull_request(
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
