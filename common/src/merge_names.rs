//! What each side of a merge renames, removes or re-signs, across every
//! file it changes: the names a fix must not keep or add from the other
//! side. A fix that is safe within its file can still break the build when
//! it keeps an import or a call of a name the other side renamed away in
//! another file.
//!
//! A side changes a name when the base defines it (with some header) in a
//! stretch of a file that the side changes, and the side's changed stretches
//! (in any file) define no item of that name with that same header: it was
//! renamed, removed or given another signature. Moving a definition to
//! another file unchanged is no change. Only languages that are parsed
//! count.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::Result;
use git2::{Delta, DiffOptions, Repository, Tree};

use crate::analysis;
use crate::merge3::{self, Versions};
use crate::syntax::Language;

/// Names each side changes, each with the first file it changes it in.
#[derive(Debug, Clone, Default)]
pub struct MergeNames {
    pub ours: BTreeMap<String, String>,
    pub theirs: BTreeMap<String, String>,
}

/// One file a side changes: its path, the base text and the side's text
/// (empty when absent).
pub struct ChangedFile<'a> {
    pub path: &'a str,
    pub base: &'a str,
    pub side: &'a str,
}

impl MergeNames {
    /// No name changed on either side (a merge whose other files are not
    /// known).
    pub fn none() -> MergeNames {
        MergeNames::default()
    }

    /// The names each side changes, from the files it changes.
    pub fn of_changes(ours: &[ChangedFile], theirs: &[ChangedFile]) -> MergeNames {
        MergeNames {
            ours: changed_names(ours),
            theirs: changed_names(theirs),
        }
    }

    /// The names each side changes in a merge of `ours` and `theirs` trees
    /// over `base`, read from the repository.
    pub fn of_trees(repo: &Repository, base: &Tree, ours: &Tree, theirs: &Tree) -> Result<Self> {
        let (our_texts, their_texts) = (
            side_texts(repo, base, ours)?,
            side_texts(repo, base, theirs)?,
        );
        Ok(MergeNames::of_changes(
            &files(&our_texts),
            &files(&their_texts),
        ))
    }

    /// The names `side` changes (`ours` or `theirs`).
    pub fn changed_by(&self, ours: bool) -> &BTreeMap<String, String> {
        if ours {
            &self.ours
        } else {
            &self.theirs
        }
    }
}

fn files(texts: &[(String, String, String)]) -> Vec<ChangedFile<'_>> {
    texts
        .iter()
        .map(|(path, base, side)| ChangedFile { path, base, side })
        .collect()
}

/// (path, base text, side text) of every file in a parsed language that
/// `side` changes against `base`.
fn side_texts(
    repo: &Repository,
    base: &Tree,
    side: &Tree,
) -> Result<Vec<(String, String, String)>> {
    let mut options = DiffOptions::new();
    options.skip_binary_check(true);
    let diff = repo.diff_tree_to_tree(Some(base), Some(side), Some(&mut options))?;
    let text = |id: git2::Oid| -> Result<String> {
        if id.is_zero() {
            return Ok(String::new());
        }
        let blob = repo.find_blob(id)?;
        Ok(std::str::from_utf8(blob.content())
            .map(str::to_owned)
            .unwrap_or_default())
    };
    let mut files = Vec::new();
    for delta in diff.deltas() {
        if !matches!(
            delta.status(),
            Delta::Modified | Delta::Deleted | Delta::Added
        ) {
            continue;
        }
        let Some(path) = delta
            .old_file()
            .path()
            .or_else(|| delta.new_file().path())
            .and_then(Path::to_str)
        else {
            continue;
        };
        if Language::of_path(path).is_none() {
            continue;
        }
        files.push((
            path.to_owned(),
            text(delta.old_file().id())?,
            text(delta.new_file().id())?,
        ));
    }
    Ok(files)
}

/// The names the files' changes rename, remove or re-sign.
fn changed_names(files: &[ChangedFile]) -> BTreeMap<String, String> {
    // name -> headers, in the base's and the side's changed stretches.
    let mut before: Vec<(String, String, &str)> = Vec::new();
    let mut after: HashMap<String, HashSet<String>> = HashMap::new();
    for file in files {
        let Some(language) = Language::of_path(file.path) else {
            continue;
        };
        let Ok(merge) = merge3::merge(
            &Versions::new(file.base, file.side, file.base),
            file.base,
            file.side,
            file.base,
        ) else {
            continue;
        };
        let (base_lines, side_lines) = (
            merge3::split_lines(file.base),
            merge3::split_lines(file.side),
        );
        for change in &merge.our_changes {
            for definition in analysis::definitions_in(language, &base_lines, change.base) {
                before.push((definition.name, definition.signature, file.path));
            }
            for definition in analysis::definitions_in(language, &side_lines, change.side) {
                after
                    .entry(definition.name)
                    .or_default()
                    .insert(definition.signature);
            }
        }
    }
    let mut changed = BTreeMap::new();
    for (name, signature, path) in before {
        let kept = after.get(&name).is_some_and(|s| s.contains(&signature));
        if !kept {
            changed.entry(name).or_insert_with(|| path.to_owned());
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_and_new_signatures_count_but_moves_do_not() {
        let base = "def load(path):\n    return 1\n\n\ndef keep(a):\n    return a\n";
        let renamed = "def read(path):\n    return 1\n\n\ndef keep(a, b):\n    return a\n";
        let names = MergeNames::of_changes(
            &[ChangedFile {
                path: "m.py",
                base,
                side: renamed,
            }],
            &[
                ChangedFile {
                    path: "a.py",
                    base,
                    side: "",
                },
                ChangedFile {
                    path: "b.py",
                    base: "",
                    side: base,
                },
            ],
        );
        assert_eq!(names.ours.keys().collect::<Vec<_>>(), vec!["keep", "load"]);
        assert!(names.theirs.is_empty(), "{:?}", names.theirs);
    }
}
