//! Land items that reach a remote: `--push` pushes the target to the
//! remote (`land.remote`, default `origin`) as each item lands, with the
//! user's own git credentials and configuration (the git CLI), before the
//! local target moves, so a push the remote refuses leaves everything here
//! as it was; `--pr` lands nothing here: it pushes the item's branch and
//! opens one pull request per item through GitHub's REST API
//! (`GITHUB_TOKEN`, `GITHUB_API_URL`), with the conflict prediction against
//! the target's tip and the check's result in its body.

use std::sync::atomic::AtomicBool;

use anyhow::Result;
use git2::Oid;

use super::candidate::Built;
use super::check::{self, CheckJob};
use super::queue::{self, Ending, Item};
use super::runner::{self, RunContext};
use super::{pipeline, target, State};
use crate::analysis::FileAnalysis;
use crate::db::Database;
use crate::{github, UserError};

/// The remote items are pushed to.
pub(super) fn remote(context: &RunContext) -> String {
    remote_of(context.config)
}

fn remote_of(config: &crate::config::Config) -> String {
    config
        .text("land.remote")
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "origin".to_owned())
}

/// Whether the remote's `branch` is at `commit`.
pub(super) fn remote_has(context: &RunContext, branch: &str, commit: Oid) -> bool {
    target::remote_tip(context.repo_path, &remote(context), branch) == Some(commit)
}

/// What `--push` and `--pr` need, checked before anything is queued: the
/// remote, and for pull requests a token and a GitHub repository.
pub fn preflight(
    repo_path: &std::path::Path,
    config: &crate::config::Config,
    pull_requests: bool,
) -> Result<()> {
    let remote = remote_of(config);
    let url = github::remote_url(repo_path, &remote)?;
    if !pull_requests {
        return Ok(());
    }
    github_token()?;
    github::owner_and_name(&url).ok_or_else(|| {
        UserError::with_hint(
            format!("cannot tell the GitHub repository from remote '{remote}' ({url})"),
            "set land.remote to a remote whose URL names a GitHub repository",
        )
    })?;
    Ok(())
}

fn github_token() -> Result<String> {
    std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            UserError::with_hint(
                "--pr needs GITHUB_TOKEN in the environment",
                "create a token that may open pull requests, and export GITHUB_TOKEN",
            )
            .into()
        })
}

/// What the pull request's body says about the branch on the target.
struct Findings {
    prediction: String,
    check: String,
    conflicts: Option<Vec<FileAnalysis>>,
    log_path: Option<String>,
    check_passed: Option<bool>,
}

/// Opens the pull request of `item` (at `source`) and ends it `proposed`.
pub(super) fn propose(
    context: &RunContext,
    db: &mut Database,
    item: &Item,
    source: Oid,
) -> Result<()> {
    let token = github_token()?;
    let remote = remote(context);
    let url = github::remote_url(context.repo_path, &remote)?;
    let (owner, name) = github::owner_and_name(&url).ok_or_else(|| {
        UserError::new(format!(
            "cannot tell the GitHub repository from remote '{remote}' ({url})"
        ))
    })?;
    let Some(tip) = target::branch_tip(&context.repo, &item.target_branch) else {
        anyhow::bail!("there is no target branch named {}", item.target_branch);
    };
    let Some(findings) = find(context, db, item, source, tip)? else {
        let ending = Ending {
            reason: Some(format!(
                "already in {}: no pull request opened",
                item.target_branch
            )),
            landed_commit: Some(tip.to_string()),
            ..Ending::default()
        };
        return runner::finish(db, item, State::Landed, ending);
    };
    github::push(context.repo_path, &remote, &item.branch)?;
    let title = item
        .message
        .as_deref()
        .and_then(|m| m.lines().next())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Land {} into {}", item.branch, item.target_branch));
    let body = body(item, tip, &findings);
    let pr = github::open_pull_request(
        &token,
        &owner,
        &name,
        &item.branch,
        &item.target_branch,
        &title,
        &body,
    )?;
    let verdict = match findings.check_passed {
        Some(true) => "; its check passed",
        Some(false) => "; its check failed",
        None => "",
    };
    let conflict = if findings.conflicts.is_some() {
        "; it conflicts with the target"
    } else {
        ""
    };
    let ending = Ending {
        reason: Some(format!("pull request {}{verdict}{conflict}", pr.url)),
        conflicts: findings
            .conflicts
            .as_ref()
            .map(serde_json::to_value)
            .transpose()?,
        log_path: findings.log_path.clone(),
        pull_request_url: Some(pr.url),
        ..Ending::default()
    };
    runner::finish(db, item, State::Proposed, ending)
}

/// Builds the branch on the target's tip and checks it; `None` when the
/// target has it all already.
fn find(
    context: &RunContext,
    db: &mut Database,
    item: &Item,
    source: Oid,
    tip: Oid,
) -> Result<Option<Findings>> {
    let candidate = match runner::build(&context.repo, item, source, tip)? {
        Built::Ready(candidate) if candidate.already_in => return Ok(None),
        Built::Ready(candidate) => candidate,
        Built::Conflict(files) => {
            let list: Vec<String> = files
                .iter()
                .map(|f| {
                    format!(
                        "- `{}`: {} ({} hunk(s))",
                        f.file_path,
                        f.conflict_type.as_str(),
                        f.hunks.len()
                    )
                })
                .collect();
            return Ok(Some(Findings {
                prediction: format!(
                    "conflicts with `{}` in {} file(s):\n\n{}",
                    item.target_branch,
                    files.len(),
                    list.join("\n")
                ),
                check: "not run: the branch does not apply cleanly".to_owned(),
                conflicts: Some(files),
                log_path: None,
                check_passed: None,
            }));
        }
    };
    db.immediate(|tx| {
        queue::record_candidate(
            tx,
            &item.id,
            &source.to_string(),
            &candidate.commit,
            &tip.to_string(),
        )
    })?;
    let mut prediction = format!(
        "no conflict: it applies cleanly ({}",
        if candidate.commits_made == 0 {
            "a fast-forward".to_owned()
        } else {
            format!("{} commit(s) replayed", candidate.commits_made)
        }
    );
    if !candidate.fixes.is_empty() {
        prediction.push_str(&format!(
            "; conflicts fixed automatically: {}",
            candidate.fixes.join(", ")
        ));
    }
    prediction.push(')');
    let Some(command) = &item.check_command else {
        return Ok(Some(Findings {
            prediction,
            check: "none configured".to_owned(),
            conflicts: None,
            log_path: None,
            check_passed: None,
        }));
    };
    let job = CheckJob {
        data_dir: context.data_dir.to_path_buf(),
        repo_path: context.repo_path.to_path_buf(),
        item_id: item.id.clone(),
        commit: candidate.commit.clone(),
        command: command.clone(),
        timeout: pipeline::check_timeout(item),
    };
    let outcome = check::run(&job, &AtomicBool::new(false))?;
    let check = if outcome.passed {
        format!("`{command}` passed in {:.1} s", outcome.seconds)
    } else {
        format!(
            "`{command}` failed ({}) in {:.1} s; last line: `{}`",
            runner::how_it_failed(item, &outcome),
            outcome.seconds,
            runner::last_line(&outcome)
        )
    };
    Ok(Some(Findings {
        prediction,
        check,
        conflicts: None,
        check_passed: Some(outcome.passed),
        log_path: Some(outcome.log_path),
    }))
}

fn body(item: &Item, tip: Oid, findings: &Findings) -> String {
    let tip = tip.to_string();
    format!(
        "Opened by `git pcc land --pr` for branch `{}` onto `{}`.\n\n\
         **Conflict prediction** (against `{}` at `{}`): {}\n\n\
         **Check** (on the branch put on `{}` by {}): {}\n",
        item.branch,
        item.target_branch,
        item.target_branch,
        &tip[..7],
        findings.prediction,
        item.target_branch,
        item.strategy,
        findings.check
    )
}
