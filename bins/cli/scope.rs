//! Which repositories a command acts on: the one named by `--repo`, every
//! one with `--all`, else the one the working directory is in. Outside any
//! repository a command that changes things acts only with `--all`.

use std::path::{Path, PathBuf};

use pcc::UserError;

/// The repositories a command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One repository, by any path inside it.
    Repository(PathBuf),
    /// Every repository: asked for with `--all`, or (for a command that
    /// only reads) because the working directory is in none.
    All { asked: bool },
}

impl Scope {
    /// The scope of `--repo` and `--all` as given, falling back to the
    /// repository around the working directory. `command` names the command
    /// for the error outside a repository; `None` allows every repository
    /// there (commands that only read).
    pub fn resolve(repo: Option<&Path>, all: bool, command: Option<&str>) -> anyhow::Result<Scope> {
        if let Some(path) = repo {
            return Ok(Scope::Repository(path.to_path_buf()));
        }
        if all {
            return Ok(Scope::All { asked: true });
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        if pcc::git::resolve_repository(&cwd).is_ok() {
            return Ok(Scope::Repository(cwd));
        }
        match command {
            None => Ok(Scope::All { asked: false }),
            Some(command) => Err(UserError::with_hint(
                format!("not inside a git repository, so it is not clear which repository '{command}' is for"),
                format!("'{command} --all' acts on every repository, '{command} --repo PATH' on one"),
            )
            .into()),
        }
    }

    /// The repository, `None` for all of them.
    pub fn repository(&self) -> Option<&Path> {
        match self {
            Scope::Repository(path) => Some(path),
            Scope::All { .. } => None,
        }
    }
}

/// The hint of an error about a path that is in no repository, for a
/// command with a `--repo PATH` flag: `given` says whether the path came
/// from that flag or from the working directory.
pub fn with_repo_hint(err: anyhow::Error, given: bool) -> anyhow::Error {
    if !pcc::git::is_not_a_repository(&err) {
        return err;
    }
    let Some(user) = err.downcast_ref::<UserError>() else {
        return err;
    };
    let hint = if given {
        "--repo must name a path inside a git checkout ('git init' makes one)"
    } else {
        "run it inside a git checkout, or pass --repo PATH"
    };
    UserError::with_hint(user.message.clone(), hint).into()
}
