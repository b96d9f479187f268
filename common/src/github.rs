//! Publishing a sandbox's branch: pushing it to the repository's remote
//! with the git CLI (the user's own credentials and configuration), and
//! opening a pull request through GitHub's REST API (`GITHUB_TOKEN`;
//! `GITHUB_API_URL` for GitHub Enterprise).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

use crate::UserError;

/// The owner and name of a repository, read from a remote URL: the last
/// two path components, without `.git` (`git@github.com:o/r.git`,
/// `https://github.com/o/r`, `ssh://git@host/o/r.git`, `/srv/o/r.git`).
pub fn owner_and_name(url: &str) -> Option<(String, String)> {
    let url = url.trim().trim_end_matches('/');
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/').map(|(_, p)| p).unwrap_or("")
    } else if let Some((host, rest)) = url.split_once(':') {
        if host.contains('/') {
            url
        } else {
            rest
        }
    } else {
        url
    };
    let mut parts = path
        .split('/')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
        .rev();
    let name = parts.next()?.trim_end_matches(".git").to_owned();
    let owner = parts.next()?.to_owned();
    (!name.is_empty() && !owner.is_empty()).then_some((owner, name))
}

/// The URL of a remote of the repository.
pub fn remote_url(repo: &Path, remote: &str) -> Result<String> {
    let repository = git2::Repository::open(repo)?;
    let found = repository.find_remote(remote).map_err(|_| {
        UserError::with_hint(
            format!("the repository has no remote '{remote}' to push to"),
            "add one with 'git remote add origin URL'",
        )
    })?;
    Ok(found.url().unwrap_or_default().to_owned())
}

/// Pushes a branch to a remote with the git CLI.
pub fn push(repo: &Path, remote: &str, branch: &str) -> Result<()> {
    push_refspec(
        repo,
        remote,
        &format!("refs/heads/{branch}:refs/heads/{branch}"),
    )
}

/// Pushes `commit` to the remote's `branch` with the git CLI; the remote
/// refuses it unless it is a fast-forward there.
pub fn push_commit(repo: &Path, remote: &str, commit: &str, branch: &str) -> Result<()> {
    push_refspec(repo, remote, &format!("{commit}:refs/heads/{branch}"))
}

fn push_refspec(repo: &Path, remote: &str, refspec: &str) -> Result<()> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["push", "--quiet", remote, refspec])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|err| UserError::new(format!("cannot run git push: {err}")))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        let line = text
            .lines()
            .find(|l| l.contains("[rejected]") || l.contains("[remote rejected]"))
            .or_else(|| text.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or("failed");
        return Err(UserError::new(format!("git push to {remote} failed: {}", line.trim())).into());
    }
    Ok(())
}

/// An opened pull request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    pub number: i64,
    pub url: String,
}

/// Opens a pull request of `head` into `base`.
pub fn open_pull_request(
    token: &str,
    owner: &str,
    name: &str,
    head: &str,
    base: &str,
    title: &str,
    body: &str,
) -> Result<PullRequest> {
    let api = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "https://api.github.com".to_owned());
    let url = format!("{}/repos/{owner}/{name}/pulls", api.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let request = json!({"title": title, "head": head, "base": base, "body": body, "draft": false});
    let mut response = agent
        .post(&url)
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header(
            "User-Agent",
            format!("parallel-cc/{}", env!("CARGO_PKG_VERSION")),
        )
        .send_json(&request)
        .map_err(|err| UserError::new(format!("cannot reach the GitHub API: {err}")))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 201 {
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        let hint = match status {
            401 => " (check GITHUB_TOKEN)",
            403 | 404 => " (GITHUB_TOKEN may lack access to the repository)",
            _ => "",
        };
        return Err(UserError::new(format!(
            "GitHub refused the pull request: HTTP {status}: {message}{hint}"
        ))
        .into());
    }
    Ok(PullRequest {
        number: value.get("number").and_then(Value::as_i64).unwrap_or(0),
        url: value
            .get("html_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_name_from_remote_urls() {
        let expect = Some(("octo".to_owned(), "widgets".to_owned()));
        for url in [
            "git@github.com:octo/widgets.git",
            "https://github.com/octo/widgets",
            "https://github.com/octo/widgets.git/",
            "ssh://git@github.example.com:22/octo/widgets.git",
            "/srv/git/octo/widgets.git",
            "file:///srv/git/octo/widgets.git",
        ] {
            assert_eq!(owner_and_name(url), expect, "{url}");
        }
        assert_eq!(owner_and_name("widgets"), None);
    }
}
