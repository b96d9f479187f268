//! Processes as sessions see them: whether a PID is alive, when it started
//! (so a reused PID is not mistaken for the original), and its ancestors
//! (so a hook run deep inside an agent finds the session that owns it).

/// Whether some process (one this user may look at) has its working
/// directory at or under `dir`: an agent that works there without a
/// session, for one. Reads `/proc`; `false` where there is none.
pub fn any_works_in(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()));
        is_pid && std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
    })
}

/// Whether a process with this PID exists (it may belong to another user).
pub fn is_alive(pid: i64) -> bool {
    probe(pid).is_some()
}

/// Whether a session's process is still the one that registered: alive, and
/// when a start time was recorded, started at that same time.
pub fn is_same_process_alive(pid: i64, recorded_start: Option<u64>) -> bool {
    match (probe(pid), recorded_start) {
        (None, _) => false,
        (Some(current), Some(recorded)) => current.is_none_or(|start| start == recorded),
        (Some(_), None) => true,
    }
}

/// Checks that a process exists and is not a zombie, returning its start
/// time where the platform tells it (`Some(None)` when it does not).
fn probe(pid: i64) -> Option<Option<u64>> {
    if pid <= 0 || pid > i64::from(i32::MAX) {
        return None;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks for existence.
    let result = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if result != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return None;
    }
    probe_details(pid)
}

#[cfg(target_os = "linux")]
fn probe_details(pid: i64) -> Option<Option<u64>> {
    let Some(fields) = stat_fields(pid) else {
        // Either it ended between the two looks, or /proc is not mounted
        // and kill's answer is all we have.
        let has_procfs = std::path::Path::new("/proc/self/stat").exists();
        return if has_procfs { None } else { Some(None) };
    };
    if fields.first().is_some_and(|state| state == "Z") {
        return None;
    }
    // Field 22 of stat is the start time; after the name it is index 19.
    Some(fields.get(19).and_then(|v| v.parse().ok()))
}

#[cfg(not(target_os = "linux"))]
fn probe_details(_pid: i64) -> Option<Option<u64>> {
    Some(None)
}

/// The fields of `/proc/<pid>/stat` after the command name.
#[cfg(target_os = "linux")]
fn stat_fields(pid: i64) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// The process start time in clock ticks since boot, where the platform
/// exposes it.
#[cfg(target_os = "linux")]
pub fn start_time(pid: i64) -> Option<u64> {
    // Field 22 of stat; after the name, index 19.
    stat_fields(pid)?.get(19)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
pub fn start_time(_pid: i64) -> Option<u64> {
    None
}

/// The parent PID of a process.
#[cfg(target_os = "linux")]
pub fn parent_pid(pid: i64) -> Option<i64> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
pub fn parent_pid(pid: i64) -> Option<i64> {
    let output = std::process::Command::new("ps")
        .args(["-o", "ppid=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// This process's ancestors, nearest first, stopping before PID 1.
pub fn ancestors() -> Vec<i64> {
    let mut chain = Vec::new();
    let mut current = i64::from(std::process::id());
    while let Some(parent) = parent_pid(current) {
        if parent <= 1 || chain.contains(&parent) || chain.len() >= 64 {
            break;
        }
        chain.push(parent);
        current = parent;
    }
    chain
}

/// Programs that stand between an agent and the hooks it runs.
const INTERMEDIATES: &[&str] = &[
    "sh", "bash", "dash", "zsh", "fish", "ksh", "env", "timeout", "git-pcc",
];

/// The nearest ancestor that is not a shell or one of our programs: the
/// agent process that ran the hook.
pub fn agent_ancestor() -> Option<i64> {
    ancestors().into_iter().find(|pid| {
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        !INTERMEDIATES.contains(&name.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_has_ancestors() {
        let me = i64::from(std::process::id());
        assert!(is_alive(me));
        assert!(is_same_process_alive(me, start_time(me)));
        assert!(!is_same_process_alive(me, start_time(me).map(|t| t + 1)));
        assert!(!is_alive(-5));
        assert!(!is_alive(i64::from(i32::MAX) + 1));
        assert!(!ancestors().is_empty());
    }
}
