use std::path::Path;

/// Returns true when the path is inside the repository's .git directory.
pub fn is_git_internal(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == ".git")
}

/// Returns true when the path is a lock file written by git itself.
pub fn is_lock_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "lock")
}

/// Returns true when a path should never be claimed by a session.
pub fn is_ignored(path: &Path) -> bool {
    if is_git_internal(path) {
        return true;
    }
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("swp") | Some("tmp")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_dir_is_ignored() {
        assert!(is_ignored(Path::new(".git/index")));
    }
}
