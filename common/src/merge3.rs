//! Three-way merge of one file's text, line by line, as git merges files:
//! both sides' changes against the base are taken where they do not touch,
//! and where they change the same or adjacent base lines differently the
//! region is a conflict hunk. Unlike conflict markers, each hunk keeps where
//! it lies in all three versions, which classification and fixes need.

use anyhow::Result;
use git2::{DiffOptions, Patch};

/// A half-open range of line indexes (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    pub start: usize,
    pub end: usize,
}

impl Lines {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A region both sides change differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub base: Lines,
    pub ours: Lines,
    pub theirs: Lines,
}

/// A piece of the merged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Region {
    /// Lines taken as they are: from `ours` or `theirs` (whichever changed
    /// them, or both when unchanged) — stored as a range of the side.
    Clean {
        side: Side,
        lines: Lines,
    },
    Conflict(Hunk),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Ours,
    Theirs,
}

/// The three versions of a file, split into lines (each keeping its line
/// terminator, so joining them gives the text back exactly).
#[derive(Debug, Clone)]
pub struct Versions<'a> {
    pub base: Vec<&'a str>,
    pub ours: Vec<&'a str>,
    pub theirs: Vec<&'a str>,
}

impl<'a> Versions<'a> {
    pub fn new(base: &'a str, ours: &'a str, theirs: &'a str) -> Versions<'a> {
        Versions {
            base: split_lines(base),
            ours: split_lines(ours),
            theirs: split_lines(theirs),
        }
    }

    pub fn side(&self, side: Side) -> &[&'a str] {
        match side {
            Side::Ours => &self.ours,
            Side::Theirs => &self.theirs,
        }
    }
}

/// Splits text into lines that keep their `\n`.
pub fn split_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// One change of a side: base lines replaced by side lines.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub base: Lines,
    pub side: Lines,
}

/// A three-way merge: its regions, and each side's changes against the base.
#[derive(Debug, Clone)]
pub struct Merge {
    pub regions: Vec<Region>,
    pub our_changes: Vec<Change>,
    pub their_changes: Vec<Change>,
}

/// The changes turning `base` into `side`, from libgit2's line diff.
fn changes(base: &str, side: &str) -> Result<Vec<Change>> {
    let mut options = DiffOptions::new();
    options.context_lines(0);
    let patch = Patch::from_buffers(
        base.as_bytes(),
        None,
        side.as_bytes(),
        None,
        Some(&mut options),
    )?;
    let mut changes = Vec::with_capacity(patch.num_hunks());
    for index in 0..patch.num_hunks() {
        let (hunk, _) = patch.hunk(index)?;
        let range = |start: u32, count: u32| {
            // An insertion's start names the line after which it goes.
            let start = if count == 0 { start } else { start - 1 } as usize;
            Lines {
                start,
                end: start + count as usize,
            }
        };
        changes.push(Change {
            base: range(hunk.old_start(), hunk.old_lines()),
            side: range(hunk.new_start(), hunk.new_lines()),
        });
    }
    Ok(changes)
}

/// Merges three texts into clean and conflicting regions.
pub fn merge(versions: &Versions, base: &str, ours: &str, theirs: &str) -> Result<Merge> {
    let our_changes = changes(base, ours)?;
    let their_changes = changes(base, theirs)?;
    let regions = combine(versions.base.len(), &our_changes, &their_changes, versions);
    Ok(Merge {
        regions,
        our_changes,
        their_changes,
    })
}

fn combine(
    base_lines: usize,
    ours: &[Change],
    theirs: &[Change],
    versions: &Versions,
) -> Vec<Region> {
    let mut regions = Vec::new();
    let (mut i, mut j) = (0, 0);
    // Offsets from base line numbers to each side's, before the cursor.
    let (mut our_delta, mut their_delta) = (0isize, 0isize);
    let mut base_at = 0usize;
    let shift = |line: usize, delta: isize| (line as isize + delta) as usize;
    while i < ours.len() || j < theirs.len() {
        // The next group: changes of either side that overlap or touch.
        let first_base = match (ours.get(i), theirs.get(j)) {
            (Some(a), Some(b)) => a.base.start.min(b.base.start),
            (Some(a), None) => a.base.start,
            (None, Some(b)) => b.base.start,
            (None, None) => unreachable!(),
        };
        if first_base > base_at {
            regions.push(Region::Clean {
                side: Side::Ours,
                lines: Lines {
                    start: shift(base_at, our_delta),
                    end: shift(first_base, our_delta),
                },
            });
        }
        let (group_start, mut group_end) = (first_base, first_base);
        let (i0, j0) = (i, j);
        loop {
            let mut grew = false;
            while let Some(change) = ours.get(i) {
                if change.base.start <= group_end {
                    group_end = group_end.max(change.base.end);
                    i += 1;
                    grew = true;
                } else {
                    break;
                }
            }
            while let Some(change) = theirs.get(j) {
                if change.base.start <= group_end {
                    group_end = group_end.max(change.base.end);
                    j += 1;
                    grew = true;
                } else {
                    break;
                }
            }
            if !grew {
                break;
            }
        }
        let side_range = |changes: &[Change], from: usize, to: usize, delta: isize| {
            let inner: isize = changes[from..to]
                .iter()
                .map(|c| c.side.len() as isize - c.base.len() as isize)
                .sum();
            (
                Lines {
                    start: shift(group_start, delta),
                    end: shift(group_end, delta + inner),
                },
                delta + inner,
            )
        };
        let (our_lines, next_our_delta) = side_range(ours, i0, i, our_delta);
        let (their_lines, next_their_delta) = side_range(theirs, j0, j, their_delta);
        let base = Lines {
            start: group_start,
            end: group_end,
        };
        let region = match (i > i0, j > j0) {
            (true, false) => Region::Clean {
                side: Side::Ours,
                lines: our_lines,
            },
            (false, true) => Region::Clean {
                side: Side::Theirs,
                lines: their_lines,
            },
            _ if versions.ours[our_lines.start..our_lines.end]
                == versions.theirs[their_lines.start..their_lines.end] =>
            {
                Region::Clean {
                    side: Side::Ours,
                    lines: our_lines,
                }
            }
            _ => Region::Conflict(Hunk {
                base,
                ours: our_lines,
                theirs: their_lines,
            }),
        };
        regions.push(region);
        our_delta = next_our_delta;
        their_delta = next_their_delta;
        base_at = group_end;
    }
    if base_at < base_lines {
        regions.push(Region::Clean {
            side: Side::Ours,
            lines: Lines {
                start: shift(base_at, our_delta),
                end: shift(base_lines, our_delta),
            },
        });
    }
    regions
}

/// The conflict hunks of a merge.
pub fn hunks(regions: &[Region]) -> Vec<Hunk> {
    regions
        .iter()
        .filter_map(|region| match region {
            Region::Conflict(hunk) => Some(hunk.clone()),
            Region::Clean { .. } => None,
        })
        .collect()
}

/// Joins lines back into text.
pub fn join(lines: &[&str]) -> String {
    lines.concat()
}

/// The merged text, each conflict hunk replaced by what `resolve` gives for
/// it (its index among the hunks and the hunk): `None` writes git's diff3
/// conflict markers instead.
pub fn render(
    regions: &[Region],
    versions: &Versions,
    mut resolve: impl FnMut(usize, &Hunk) -> Option<String>,
) -> String {
    let mut out = String::new();
    let mut conflict_index = 0;
    for region in regions {
        match region {
            Region::Clean { side, lines } => {
                out.push_str(&join(&versions.side(*side)[lines.start..lines.end]));
            }
            Region::Conflict(hunk) => {
                match resolve(conflict_index, hunk) {
                    Some(text) => out.push_str(&text),
                    None => push_markers(&mut out, hunk, versions),
                }
                conflict_index += 1;
            }
        }
    }
    out
}

/// The conflict hunks alone, each with git's diff3 markers.
pub fn render_conflicts(regions: &[Region], versions: &Versions) -> String {
    let mut out = String::new();
    for region in regions {
        if let Region::Conflict(hunk) = region {
            push_markers(&mut out, hunk, versions);
        }
    }
    out
}

/// git's diff3-style markers for one hunk.
fn push_markers(out: &mut String, hunk: &Hunk, versions: &Versions) {
    let mut section = |marker: &str, lines: &[&str]| {
        out.push_str(marker);
        out.push('\n');
        for line in lines {
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push('\n');
            }
        }
    };
    section(
        "<<<<<<< ours",
        &versions.ours[hunk.ours.start..hunk.ours.end],
    );
    section(
        "||||||| base",
        &versions.base[hunk.base.start..hunk.base.end],
    );
    section(
        "=======",
        &versions.theirs[hunk.theirs.start..hunk.theirs.end],
    );
    out.push_str(">>>>>>> theirs\n");
}

/// Whether text holds a line that looks like a conflict marker.
pub fn has_conflict_markers(text: &str) -> bool {
    text.lines().any(|line| {
        let marker = |c: char| line.len() >= 7 && line.chars().take(7).all(|x| x == c);
        (marker('<') || marker('>') || marker('|')) && line.chars().nth(7).is_none_or(|c| c == ' ')
            || line == "======="
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(base: &str, ours: &str, theirs: &str) -> Vec<Region> {
        merge(&Versions::new(base, ours, theirs), base, ours, theirs)
            .unwrap()
            .regions
    }

    fn conflict_texts(base: &str, ours: &str, theirs: &str) -> Vec<(String, String, String)> {
        let regions = regions(base, ours, theirs);
        let versions = Versions::new(base, ours, theirs);
        hunks(&regions)
            .iter()
            .map(|h| {
                (
                    join(&versions.base[h.base.start..h.base.end]),
                    join(&versions.ours[h.ours.start..h.ours.end]),
                    join(&versions.theirs[h.theirs.start..h.theirs.end]),
                )
            })
            .collect()
    }

    #[test]
    fn separate_changes_merge_cleanly() {
        let base = "a\nb\nc\nd\ne\n";
        let ours = "A\nb\nc\nd\ne\n";
        let theirs = "a\nb\nc\nd\nE\n";
        let regions = regions(base, ours, theirs);
        assert!(hunks(&regions).is_empty());
        let versions = Versions::new(base, ours, theirs);
        assert_eq!(render(&regions, &versions, |_, _| None), "A\nb\nc\nd\nE\n");
    }

    #[test]
    fn same_line_changed_twice_conflicts() {
        let hunks = conflict_texts("a\nb\nc\n", "a\nB\nc\nx\n", "a\nbb\nc\n");
        assert_eq!(hunks, vec![("b\n".into(), "B\n".into(), "bb\n".into())]);
    }

    #[test]
    fn insertions_at_one_place_conflict_and_render_markers() {
        let base = "a\nz\n";
        let ours = "a\nb\nz\n";
        let theirs = "a\nc\nz\n";
        assert_eq!(
            conflict_texts(base, ours, theirs),
            vec![("".into(), "b\n".into(), "c\n".into())]
        );
        let regions = regions(base, ours, theirs);
        let text = render(&regions, &Versions::new(base, ours, theirs), |_, _| None);
        assert_eq!(
            text,
            "a\n<<<<<<< ours\nb\n||||||| base\n=======\nc\n>>>>>>> theirs\nz\n"
        );
        assert!(has_conflict_markers(&text));
        assert!(!has_conflict_markers("a ======= b\n"));
    }

    #[test]
    fn identical_changes_are_clean_and_offsets_carry() {
        let base = "1\n2\n3\n4\n5\n6\n";
        let ours = "0\n1\n2\nX\n4\n5\nO\n";
        let theirs = "1\n2\nX\n4\n5\nT\n";
        let regions = regions(base, ours, theirs);
        let versions = Versions::new(base, ours, theirs);
        assert_eq!(
            conflict_texts(base, ours, theirs),
            vec![("6\n".into(), "O\n".into(), "T\n".into())]
        );
        assert_eq!(
            render(&regions, &versions, |_, _| Some("R\n".into())),
            "0\n1\n2\nX\n4\n5\nR\n"
        );
    }
}
