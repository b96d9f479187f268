//! What a worktree costs on disk and when it was last used, for `status
//! --disk` and `cleanup --older-than`. Sizes are measured only when asked:
//! walking a large tree is far slower than the rest of `status`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The bytes the files under `path` take on disk (allocated blocks, so
/// sparse and small files count as the filesystem counts them). Symbolic
/// links are not followed: a directory shared from the main checkout
/// (`worktree.symlink`) is the main checkout's, not the worktree's. A file
/// with several links inside the tree counts once.
pub fn usage(path: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = std::fs::symlink_metadata(path).map_or(0, |meta| meta.blocks() * 512);
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}

/// When a linked worktree was last used, in Unix seconds: the newest
/// change of its HEAD, index or reflog under `.git/worktrees/<name>/`, or
/// of its directory. `None` when none of them can be read.
pub fn last_activity(admin: Option<&Path>, path: &Path) -> Option<i64> {
    let mut candidates = vec![path.to_path_buf()];
    if let Some(admin) = admin {
        candidates.extend(
            ["HEAD", "index", "logs/HEAD"]
                .iter()
                .map(|file| admin.join(file)),
        );
    }
    candidates
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|meta| meta.mtime())
        .max()
}
