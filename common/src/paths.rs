//! Where parallel-cc keeps its state, and how paths are compared: the data
//! directory (`$PARALLEL_CC_DATA_DIR`, else `~/.parallel-cc`) holds
//! `coordinator.db`, `config.json`, `logs/` and `locks/`. Repository and
//! worktree paths are stored canonicalised so one repository has one name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::UserError;

/// The data directory, from the environment (not created).
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PARALLEL_CC_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    Ok(home_dir()?.join(".parallel-cc"))
}

/// The user's home directory.
pub fn home_dir() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            UserError::with_hint("HOME is not set", "set HOME or PARALLEL_CC_DATA_DIR").into()
        })
}

/// The database file inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("coordinator.db")
}

/// The config file inside a data directory.
pub fn config_path(data_dir: &Path) -> PathBuf {
    data_dir.join("config.json")
}

/// The log directory inside a data directory.
pub fn logs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Creates the data directory (and its parents) when missing, with a clear
/// error when something that is not a directory stands in the way.
pub fn ensure_data_dir(data_dir: &Path) -> Result<()> {
    match std::fs::metadata(data_dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(UserError::with_hint(
            format!("data directory {} is not a directory", data_dir.display()),
            "move the file away or point PARALLEL_CC_DATA_DIR at a directory",
        )
        .into()),
        Err(_) => std::fs::create_dir_all(data_dir).map_err(|err| {
            UserError::new(format!(
                "cannot create data directory {}: {err}",
                data_dir.display()
            ))
            .into()
        }),
    }
}

/// Canonicalises an existing path (symlinks resolved, no trailing slash),
/// failing with a user error when it does not exist.
pub fn canonicalize_existing(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            UserError::new(format!("path does not exist: {}", path.display())).into()
        } else {
            anyhow::Error::new(err).context(format!("cannot resolve {}", path.display()))
        }
    })
}

/// Canonicalises a path that may no longer exist by resolving its nearest
/// existing ancestor, so stored paths of removed worktrees still compare.
pub fn canonicalize_lenient(path: &Path) -> PathBuf {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return canonical;
    }
    let mut tail = Vec::new();
    let mut current = path;
    while let Some(parent) = current.parent() {
        if let Some(name) = current.file_name() {
            tail.push(name.to_owned());
        }
        if let Ok(canonical) = std::fs::canonicalize(parent) {
            let mut result = canonical;
            for name in tail.iter().rev() {
                result.push(name);
            }
            return result;
        }
        current = parent;
    }
    path.to_path_buf()
}

/// Expands a leading `~/` to the home directory.
pub fn expand_home(path: &str) -> Result<PathBuf> {
    if path == "~" {
        return home_dir();
    }
    if let Some(rest) = path.strip_prefix("~/") {
        return Ok(home_dir()?.join(rest));
    }
    Ok(PathBuf::from(path))
}

/// Converts a path to the string stored in the database.
pub fn to_db_string(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("path is not valid UTF-8: {}", path.display()))
}
