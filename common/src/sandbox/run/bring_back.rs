//! The bring back stage: what the agent left uncommitted is committed in
//! the sandbox, the work read, and, when the run completed, brought into
//! the user's repository on a branch or in a new worktree.

use std::time::{Duration, Instant};

use anyhow::Result;
use git2::Oid;

use super::super::local;
use super::super::results::{self, Collected, Imported};
use super::super::runs::RunStatus;
use super::super::Sandbox;
use super::record::{artifacts, Log};
use super::step::{run_step, sh};
use super::{Cancel, Outcome, Plan, Run, Task};

/// The work of a run, as it came back.
#[derive(Default)]
pub(super) struct Work {
    pub(super) collected: Collected,
    pub(super) imported: Imported,
    /// The path of `changes.patch`, when the agent changed something.
    pub(super) patch: Option<String>,
}

impl Run<'_> {
    /// The bring back stage. When the work cannot come back, a completed
    /// run fails (one that ended otherwise keeps its status) and the
    /// workspace is kept.
    pub(super) fn bring_back(
        &mut self,
        sandbox: &dyn Sandbox,
        baseline: Oid,
        outcome: &mut Outcome,
    ) -> Work {
        let (plan, task) = (self.plan, self.task);
        match collect_and_import(plan, task, sandbox, baseline, outcome.status, &mut self.log) {
            Ok((collected, imported)) => Work {
                collected,
                imported,
                patch: None,
            },
            Err(err) => {
                let message = plan.redactor.redact(&format!("{err:#}")).into_owned();
                self.log
                    .line("[sandbox] cannot bring the work back: ", &message);
                // A run that ended otherwise keeps its own status (a
                // killed cloud sandbox has nothing left to bring back).
                if outcome.status == RunStatus::Completed {
                    outcome.status = RunStatus::Failed;
                    outcome.error = Some(format!("cannot bring the work back: {message}"));
                }
                outcome.keep = true;
                Work::default()
            }
        }
    }

    /// Writes `changes.patch` when the agent changed something.
    pub(super) fn save_patch(&self, work: &mut Work) -> Result<()> {
        if !work.collected.patch.is_empty() {
            // Masked as it was read, as every path of the work is.
            let (_, _, patch_path) = artifacts(&self.plan.data_dir, &self.task.id);
            crate::config::write_atomically(&patch_path, work.collected.patch.as_bytes())?;
            work.patch = Some(patch_path.display().to_string());
        }
        Ok(())
    }

    /// Warns of the work a branch could not carry; a workspace on this
    /// machine that holds it is kept.
    pub(super) fn report_not_brought_back(
        &mut self,
        sandbox: &dyn Sandbox,
        work: &Work,
        outcome: &mut Outcome,
    ) {
        if work.collected.not_brought_back.is_empty() {
            return;
        }
        for line in &work.collected.not_brought_back {
            self.log.line("[results] warning: not brought back: ", line);
            self.warnings.push(format!("not brought back: {line}"));
        }
        // The one copy of that work stays where it is (a cloud
        // sandbox has no local workspace to keep).
        if sandbox.local_path("").is_some() {
            outcome.keep = true;
            let kept = format!(
                "the sandbox's workspace is kept: {}",
                sandbox.info().workspace
            );
            self.log.line("[results] ", &kept);
            self.warnings.push(kept);
        }
    }
}

/// Commits whatever the agent left uncommitted (ignored files stay out),
/// with git in the sandbox. The commit message is `$1`. First the bits
/// that hide changes from `git add -A` are cleared, as the libgit2 path
/// clears them: `assume-unchanged` on every file (`ls-files -v` tags it
/// `h`, or `s` when also `skip-worktree`), `skip-worktree` on files present
/// in the working tree (tag `S` or `s`). Repositories of their own with no
/// commit yet (not ignored, not inside another one) are left out of
/// `git add`, which would refuse them, and with them everything: the run
/// reports their work instead.
const LEFTOVER_SCRIPT: &str = "git ls-files -z -v \
    | xargs -0 sh -c 'for e; do case $e in h\\ *|s\\ *) printf \"%s\\0\" \"${e#??}\";; esac; done' sh \
    | git update-index -z --no-assume-unchanged --stdin \
    && git ls-files -z -v \
    | xargs -0 sh -c 'for e; do case $e in [Ss]\\ *) p=${e#??}; \
        if [ -e \"$p\" ] || [ -L \"$p\" ]; then printf \"%s\\0\" \"$p\"; fi;; esac; done' sh \
    | git update-index -z --no-skip-worktree --stdin \
    && find . -path ./.git -prune -o -name .git -prune -print | while IFS= read -r dotgit; do \
        dir=${dotgit%/.git}; dir=${dir#./}; up=$dir; \
        while [ \"${up%/*}\" != \"$up\" ]; do up=${up%/*}; [ -e \"$up/.git\" ] && continue 2; done; \
        git check-ignore -q -- \"$dir\" || git -C \"$dir\" rev-parse -q --verify HEAD >/dev/null \
            || printf ':(exclude)%s\\0' \"$dir\"; \
    done \
    | git -c core.hooksPath=/dev/null -c core.bigFileThreshold=1 -c advice.addEmbeddedRepo=false add -A \
        --pathspec-from-file=- --pathspec-file-nul \
    && { git diff --cached --quiet \
    || git -c core.hooksPath=/dev/null commit -q --no-verify -m \"$1\"; }";

/// The message of the commit of what the agent left uncommitted.
const LEFTOVER_MESSAGE: &str = "Uncommitted changes left by the agent";

/// Commits what the agent left uncommitted, reads the work and brings it
/// into the user's repository when the run completed.
fn collect_and_import(
    plan: &Plan,
    task: &Task,
    sandbox: &dyn Sandbox,
    baseline: Oid,
    status: RunStatus,
    log: &mut Log,
) -> Result<(Collected, Imported)> {
    let committed = sandbox
        .commit_leftovers(&plan.git_user, &plan.git_email, LEFTOVER_MESSAGE)
        .unwrap_or_else(|err| {
            // git in the sandbox may still manage (a repository state
            // libgit2 refuses): let it try.
            log.line("[results] ", &format!("{err:#}; trying git"));
            false
        });
    if !committed {
        let never = Cancel::default();
        let deadline = Instant::now() + Duration::from_secs(300);
        let exit = run_step(
            plan,
            sandbox,
            &sh(LEFTOVER_SCRIPT, &[LEFTOVER_MESSAGE]),
            log,
            "[results] ",
            deadline,
            &never,
            &mut Vec::new(),
        )?;
        if !exit.success() {
            anyhow::bail!("cannot commit what the agent left uncommitted");
        }
    }
    let nested = nested_work(plan, sandbox, log).unwrap_or_else(|err| {
        vec![plan
            .redactor
            .redact(&format!(
                "cannot tell whether repositories inside the workspace hold work: {err:#}"
            ))
            .into_owned()]
    });
    let local = match sandbox.local_path("") {
        Some(path) => path,
        None => {
            let dest = local::run_dir(&plan.data_dir, &task.id).join("result");
            if dest.exists() {
                std::fs::remove_dir_all(&dest)?;
            }
            sandbox.download(".git", &dest.join(".git"))?;
            dest
        }
    };
    let mut collected = results::collect(&local, baseline, &plan.redactor)?;
    collected.not_brought_back = nested;
    if status != RunStatus::Completed || collected.files.is_empty() {
        return Ok((collected, Imported::default()));
    }
    let imported = match plan.branch_for(task) {
        Some(branch) => results::import_branch(
            &plan.repo_path,
            &local,
            baseline,
            plan.base_commit,
            &branch,
            task.short_id(),
        )?,
        None => results::import_worktree(
            &plan.data_dir,
            &plan.repo_path,
            &plan.config,
            &local,
            baseline,
            plan.base_commit,
            &format!("sandbox-{}", task.short_id()),
            task.short_id(),
        )?,
    };
    Ok((collected, imported))
}

/// Finds the repositories of their own inside the workspace (submodules,
/// clones) that hold work, each as the line a run reports: in-process
/// where the workspace is on this machine, with git in the sandbox
/// otherwise.
fn nested_work(plan: &Plan, sandbox: &dyn Sandbox, log: &mut Log) -> Result<Vec<String>> {
    let found = match sandbox.local_path("") {
        Some(workspace) => results::nested_work(&workspace, &plan.repo_path, plan.base_commit)?,
        None => {
            let recorded = results::recorded_submodules(&plan.repo_path, plan.base_commit)?;
            let mut args = Vec::with_capacity(recorded.len() * 2);
            for (path, oid) in &recorded {
                args.push(path.clone());
                args.push(oid.to_string());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut stdout = Vec::new();
            let exit = run_step(
                plan,
                sandbox,
                &sh(NESTED_SCRIPT, &args),
                log,
                "[results] ",
                Instant::now() + Duration::from_secs(300),
                &Cancel::default(),
                &mut stdout,
            )?;
            if !exit.success() {
                anyhow::bail!("git failed");
            }
            stdout
                .iter()
                .filter_map(|line| parse_nested(line))
                .collect()
        }
    };
    Ok(found
        .iter()
        .map(|work| plan.redactor.redact(&work.describe()).into_owned())
        .collect())
}

/// Lists, with git in the sandbox, the repositories inside the workspace
/// that it does not ignore, as `NESTED <uncommitted> <commits> <path>`,
/// counted as [`results::nested_work`] counts them. The arguments are
/// pairs of a path and the commit the user's repository records there.
const NESTED_SCRIPT: &str = "recorded() { want=$1; shift; \
    while [ $# -ge 2 ]; do [ \"$1\" = \"$want\" ] && { printf %s \"$2\"; return; }; shift 2; done; }; \
    find . -path ./.git -prune -o -name .git -prune -print | while IFS= read -r dotgit; do \
        dir=${dotgit%/.git}; dir=${dir#./}; \
        git check-ignore -q -- \"$dir\" && continue; \
        files=$(( $(git -C \"$dir\" -c status.renames=false status --porcelain -z \
            --untracked-files=all --ignore-submodules=all 2>/dev/null | tr -cd '\\000' | wc -c) + 0 )); \
        commits=0; \
        if git -C \"$dir\" rev-parse -q --verify HEAD >/dev/null; then \
            base=$(recorded \"$dir\" \"$@\"); \
            if [ -n \"$base\" ] && git -C \"$dir\" cat-file -e \"$base^{commit}\" 2>/dev/null; then \
                commits=$(( $(git -C \"$dir\" rev-list --count HEAD --not --remotes \"$base\") + 0 )); \
            else \
                commits=$(( $(git -C \"$dir\" rev-list --count HEAD --not --remotes) + 0 )); \
            fi; \
        fi; \
        if [ \"$files\" -gt 0 ] || [ \"$commits\" -gt 0 ]; then \
            printf 'NESTED %s %s %s\\n' \"$files\" \"$commits\" \"$dir\"; \
        fi; \
    done";

/// One line of [`NESTED_SCRIPT`]'s output.
fn parse_nested(line: &str) -> Option<crate::held_work::SubmoduleWork> {
    let mut fields = line.strip_prefix("NESTED ")?.splitn(3, ' ');
    Some(crate::held_work::SubmoduleWork {
        uncommitted_files: fields.next()?.parse().ok()?,
        unrecorded_commits: fields.next()?.parse().ok()?,
        path: fields.next()?.to_owned(),
    })
}
