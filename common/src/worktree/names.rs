//! Names of new worktrees: a requested name (from `claude --worktree NAME`
//! or a sandbox task) becomes a safe directory name and, behind the branch
//! prefix, a valid branch name, whatever the agent asked for.

/// Turns a suggested name into a directory name that is also a valid last
/// component of a branch name (`git check-ref-format`): no `..`, no
/// component that starts with `.` or ends with `.lock`, no `@{`, nothing
/// but letters, digits, `-`, `_` and `.`. Empty when nothing usable is left.
pub fn sanitize(name: &str) -> String {
    let mut cleaned = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
            c
        } else {
            '-'
        };
        // Collapse runs of dots and dashes made from other characters.
        if (c == '.' || c == '-') && cleaned.ends_with(c) {
            continue;
        }
        cleaned.push(c);
    }
    let mut name: String = cleaned.chars().take(64).collect();
    loop {
        let trimmed = name.trim_matches(|c| c == '-' || c == '.');
        let trimmed = trimmed.strip_suffix(".lock").unwrap_or(trimmed);
        if trimmed.len() == name.len() {
            return name;
        }
        name = trimmed.to_owned();
    }
}

/// Whether `prefix` + `name` is a branch name git accepts.
pub fn is_valid_branch(branch: &str) -> bool {
    git2::Branch::name_is_valid(branch).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_names_become_valid_branch_names() {
        for (asked, expected) in [
            ("a..b", "a.b"),
            ("x.lock", "x"),
            ("x.lock.lock", "x"),
            (".hidden", "hidden"),
            ("feature/login", "feature-login"),
            ("ends.", "ends"),
            ("@{upstream}", "upstream"),
            ("spaces and\ttabs", "spaces-and-tabs"),
            ("ünïcode", "n-code"),
            ("...", ""),
        ] {
            let name = sanitize(asked);
            assert_eq!(name, expected, "{asked:?}");
            if !name.is_empty() {
                assert!(is_valid_branch(&format!("parallel/{name}")), "{name}");
            }
        }
    }
}
