//! Sparse worktrees (config `worktree.sparsePaths`): a new worktree checks
//! out only some directories, exactly as `git sparse-checkout set --cone
//! <dirs>` leaves one, so the agent can widen it with `git sparse-checkout
//! add` and every git command agrees on what is there.
//!
//! Cone mode keeps every file at the top level, every file under each named
//! directory, and the files directly inside each directory on the way to
//! one. Everything else is in the index, marked skip-worktree, and absent
//! from disk; held work already reads such files as unchanged. The
//! worktree's own `config.worktree` turns sparse checkout on (with
//! `extensions.worktreeConfig` in the repository's config, as git sets it),
//! and its `info/sparse-checkout` holds the cone patterns; both live under
//! `.git/worktrees/<name>/`, so undoing a creation removes them with it.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use git2::Repository;

use crate::UserError;

/// The directories a sparse worktree checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cone {
    /// Checked out recursively: `src/app`.
    directories: BTreeSet<String>,
    /// Whose own files are checked out: every parent of a directory.
    parents: BTreeSet<String>,
}

impl Cone {
    /// The cone of `paths` (repository-relative directories); `None` when
    /// there are none (a full checkout).
    pub fn new(paths: &[String]) -> Result<Option<Cone>> {
        let mut directories = BTreeSet::new();
        for raw in paths {
            let path = raw.trim().trim_matches('/');
            if path.is_empty() {
                continue;
            }
            let bad = path
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
                || path.contains(['*', '?', '[', '\\', '!', '\n']);
            if bad {
                return Err(UserError::with_hint(
                    format!("worktree.sparsePaths holds '{raw}', which is not a directory of the repository"),
                    "list directories relative to the top level, such as [\"src/app\", \"docs\"]",
                )
                .into());
            }
            directories.insert(path.to_owned());
        }
        // A directory inside another one adds nothing.
        let all: Vec<String> = directories.iter().cloned().collect();
        directories.retain(|d| {
            !all.iter()
                .any(|o| o != d && d.starts_with(&format!("{o}/")))
        });
        if directories.is_empty() {
            return Ok(None);
        }
        let mut parents = BTreeSet::new();
        for directory in &directories {
            let mut parent = directory.as_str();
            while let Some((up, _)) = parent.rsplit_once('/') {
                parents.insert(up.to_owned());
                parent = up;
            }
        }
        Ok(Some(Cone {
            directories,
            parents,
        }))
    }

    /// Whether the file at `path` (repository-relative) is checked out.
    pub fn includes(&self, path: &str) -> bool {
        let Some((dir, _)) = path.rsplit_once('/') else {
            return true;
        };
        self.parents.contains(dir)
            || self
                .directories
                .iter()
                .any(|d| dir == d || dir.starts_with(&format!("{d}/")))
    }

    /// The directories, as `git sparse-checkout list` prints them.
    pub fn directories(&self) -> impl Iterator<Item = &String> {
        self.directories.iter()
    }

    /// The patterns of `info/sparse-checkout`, as `git sparse-checkout set
    /// --cone` writes them.
    pub fn patterns(&self) -> String {
        let mut out = String::from("/*\n!/*/\n");
        for parent in &self.parents {
            out.push_str(&format!("/{parent}/\n!/{parent}/*/\n"));
        }
        for directory in &self.directories {
            out.push_str(&format!("/{directory}/\n"));
        }
        out
    }
}

/// Turns sparse checkout on for the worktree whose registration is
/// `admin` (`.git/worktrees/<name>`), with `cone`'s patterns.
pub fn configure(main: &Repository, admin: &Path, cone: &Cone) -> Result<()> {
    let mut config = main
        .config()
        .and_then(|c| c.open_level(git2::ConfigLevel::Local))
        .context("cannot open the repository's config")?;
    if !config
        .get_bool("extensions.worktreeConfig")
        .unwrap_or(false)
    {
        config
            .set_bool("extensions.worktreeConfig", true)
            .context("cannot set extensions.worktreeConfig")?;
    }
    std::fs::write(
        admin.join("config.worktree"),
        "[core]\n\tsparseCheckout = true\n\tsparseCheckoutCone = true\n",
    )
    .context("cannot write the worktree's config")?;
    std::fs::create_dir_all(admin.join("info"))?;
    std::fs::write(admin.join("info").join("sparse-checkout"), cone.patterns())
        .context("cannot write the sparse-checkout patterns")?;
    Ok(())
}

/// For a worktree libgit2 checked out in full (content filters): narrows
/// it with `git sparse-checkout set --cone`, which removes the rest.
pub fn narrow_with_git(workdir: &Path, cone: &Cone) -> Result<()> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(workdir)
        .args(["sparse-checkout", "set", "--cone", "--"])
        .args(cone.directories())
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run git sparse-checkout")?;
    if !output.status.success() {
        anyhow::bail!(
            "git sparse-checkout set failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cone(paths: &[&str]) -> Cone {
        Cone::new(&paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn cone_mode_keeps_the_top_the_directories_and_the_files_on_the_way() {
        let c = cone(&["a/b", "docs/", "a/b/c"]);
        assert!(c.includes("README.md"));
        assert!(c.includes("a/file.txt"));
        assert!(c.includes("a/b/c/d/e.txt"));
        assert!(c.includes("docs/x.md"));
        assert!(!c.includes("a/other/file.txt"));
        assert!(!c.includes("a/bb/file.txt"));
        assert!(!c.includes("src/main.rs"));
        assert_eq!(c.patterns(), "/*\n!/*/\n/a/\n!/a/*/\n/a/b/\n/docs/\n");
    }

    #[test]
    fn paths_that_are_not_directories_are_refused() {
        for bad in ["../up", "a//b", "src/*", "./a"] {
            assert!(Cone::new(&[bad.to_owned()]).is_err(), "{bad}");
        }
        assert_eq!(Cone::new(&["/".to_owned()]).unwrap(), None);
    }
}
