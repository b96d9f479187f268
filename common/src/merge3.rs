//! Three-way merge of one file's text, line by line, as git merges files:
//! both sides' changes against the base are taken where they do not touch,
//! and where they change the same or adjacent base lines differently the
//! region is a conflict hunk. Unlike conflict markers, each hunk keeps where
//! it lies in all three versions, which classification and fixes need.

use anyhow::Result;

use crate::line_diff::{self, Interner};

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
    // `\n` is one byte that no other UTF-8 character contains, so each cut
    // falls on a character boundary.
    line_ends(text.as_bytes())
        .scan(0, |start, end| {
            let line = &text[*start..end];
            *start = end;
            Some(line)
        })
        .collect()
}

/// Splits bytes into lines that keep their `\n`.
pub fn split_byte_lines(text: &[u8]) -> Vec<&[u8]> {
    line_ends(text)
        .scan(0, |start, end| {
            let line = &text[*start..end];
            *start = end;
            Some(line)
        })
        .collect()
}

/// The end of each line of `text` (after its `\n`, or the end of the text
/// for a last line without one). Splitting every version of every file
/// into lines, each line searched for on its own, came to a tenth of a
/// detection; a vectorised search finds them all in one pass.
fn line_ends(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let unterminated = (!text.is_empty() && text.last() != Some(&b'\n')).then_some(text.len());
    memchr::memchr_iter(b'\n', text)
        .map(|at| at + 1)
        .chain(unterminated)
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

/// Merges three texts into clean and conflicting regions, as git's
/// `merge-ort` merges a file's lines: histogram diffs of each side against
/// the base, changes that overlap or touch taken as a conflict unless both
/// sides make the very same change, and a conflict whose two sides end up
/// with the same text taken as clean (git's "zealous" level).
pub fn merge(versions: &Versions, _base: &str, _ours: &str, _theirs: &str) -> Result<Merge> {
    fn bytes<'a>(lines: &[&'a str]) -> Vec<&'a [u8]> {
        lines.iter().map(|l| l.as_bytes()).collect()
    }
    let (base, ours, theirs) = (
        bytes(&versions.base),
        bytes(&versions.ours),
        bytes(&versions.theirs),
    );
    Ok(merge_lines(&base, &ours, &theirs))
}

/// [`merge`] over lines of bytes (each keeping its `\n`).
pub fn merge_lines(base: &[&[u8]], ours: &[&[u8]], theirs: &[&[u8]]) -> Merge {
    let (ids, our_changes, their_changes) = diffs(base, ours, theirs);
    let pieces = walk(&our_changes, &their_changes, &ids);
    let regions = regions(&pieces, &ids.1, &ids.2);
    Merge {
        regions,
        our_changes,
        their_changes,
    }
}

type Ids = (Vec<u32>, Vec<u32>, Vec<u32>);

/// The three versions' line ids and each side's changes against the base.
fn diffs(base: &[&[u8]], ours: &[&[u8]], theirs: &[&[u8]]) -> (Ids, Vec<Change>, Vec<Change>) {
    let mut interner = Interner::default();
    let ids = (interner.ids(base), interner.ids(ours), interner.ids(theirs));
    let our_changes = changes(&ids.0, &ids.1, base, ours);
    let their_changes = changes(&ids.0, &ids.2, base, theirs);
    (ids, our_changes, their_changes)
}

fn changes(base: &[u32], side: &[u32], base_lines: &[&[u8]], lines: &[&[u8]]) -> Vec<Change> {
    line_diff::diff(base, side, base_lines, lines)
        .into_iter()
        .map(|edit| Change {
            base: Lines {
                start: edit.a_start,
                end: edit.a_start + edit.a_len,
            },
            side: Lines {
                start: edit.b_start,
                end: edit.b_start + edit.b_len,
            },
        })
        .collect()
}

/// Who a piece of the merge comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Ours,
    Theirs,
    Both,
}

/// A piece of the merge in all three files: base, ours and theirs ranges.
#[derive(Debug, Clone, Copy)]
struct Piece {
    origin: Origin,
    base: Lines,
    ours: Lines,
    theirs: Lines,
}

fn lines(start: usize, len: usize) -> Lines {
    Lines {
        start,
        end: start + len,
    }
}

/// Adds a piece, joining it to the last when they overlap or touch in
/// either side (a join of two origins is a conflict).
fn append(pieces: &mut Vec<Piece>, piece: Piece) {
    if let Some(last) = pieces.last_mut() {
        if piece.ours.start <= last.ours.end || piece.theirs.start <= last.theirs.end {
            if last.origin != piece.origin {
                last.origin = Origin::Both;
            }
            last.base.end = piece.base.end;
            last.ours.end = piece.ours.end;
            last.theirs.end = piece.theirs.end;
            return;
        }
    }
    pieces.push(piece);
}

/// Walks both sides' changes in base order, as git pairs them: a change
/// that ends before the other side's next one begins is one side's alone;
/// two that overlap or touch conflict, unless they replace the same base
/// lines with the same lines.
fn walk(ours: &[Change], theirs: &[Change], ids: &Ids) -> Vec<Piece> {
    // Where a base line lies in a side, given that side's next change
    // (or, after its last change, the difference of the lengths).
    let (ours_shift, theirs_shift) = (
        ids.1.len() as isize - ids.0.len() as isize,
        ids.2.len() as isize - ids.0.len() as isize,
    );
    let shift = |next: Option<&Change>, last: isize| {
        next.map_or(last, |c| c.side.start as isize - c.base.start as isize)
    };
    // A change already paired with one of the other side's may map before
    // the file's start; it is then joined to that pair's conflict, which
    // only takes its end.
    let moved = |base: Lines, by: isize| {
        let start = base.start as isize + by;
        Lines {
            start: start.max(0) as usize,
            end: (start + base.len() as isize).max(0) as usize,
        }
    };
    let mut pieces = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < ours.len() || j < theirs.len() {
        let (o, t) = (ours.get(i), theirs.get(j));
        let ours_alone = t.is_none_or(|t| o.is_some_and(|o| o.base.end < t.base.start));
        let theirs_alone = o.is_none_or(|o| t.is_some_and(|t| t.base.end < o.base.start));
        if ours_alone || theirs_alone {
            let piece = if ours_alone {
                let o = ours[i];
                i += 1;
                Piece {
                    origin: Origin::Ours,
                    base: o.base,
                    ours: o.side,
                    theirs: moved(o.base, shift(t, theirs_shift)),
                }
            } else {
                let t = theirs[j];
                j += 1;
                Piece {
                    origin: Origin::Theirs,
                    base: t.base,
                    ours: moved(t.base, shift(o, ours_shift)),
                    theirs: t.side,
                }
            };
            append(&mut pieces, piece);
            continue;
        }
        let (o, t) = (ours[i], theirs[j]);
        let same =
            o.base == t.base && ids.1[o.side.start..o.side.end] == ids.2[t.side.start..t.side.end];
        if !same {
            let base = Lines {
                start: o.base.start.min(t.base.start),
                end: o.base.end.max(t.base.end),
            };
            // (A start before the file's is that of a change joined to the
            // conflict before, which keeps its own start.)
            let widen = |c: Change| Lines {
                start: c.side.start.saturating_sub(c.base.start - base.start),
                end: c.side.end + (base.end - c.base.end),
            };
            append(
                &mut pieces,
                Piece {
                    origin: Origin::Both,
                    base,
                    ours: widen(o),
                    theirs: widen(t),
                },
            );
        }
        if o.base.end >= t.base.end {
            j += 1;
        }
        if t.base.end >= o.base.end {
            i += 1;
        }
    }
    pieces
}

/// The merge's regions: between pieces our lines (both sides agree there),
/// each side's own change as that side has it, and each conflict piece a
/// conflict unless both sides hold the same lines in it (git leaves a
/// piece in conflict when either side of it is empty).
fn regions(pieces: &[Piece], ours: &[u32], theirs: &[u32]) -> Vec<Region> {
    let mut regions = Vec::new();
    let mut at = 0;
    for piece in pieces {
        if piece.ours.start > at {
            regions.push(Region::Clean {
                side: Side::Ours,
                lines: lines(at, piece.ours.start - at),
            });
        }
        let region = match piece.origin {
            Origin::Ours => Region::Clean {
                side: Side::Ours,
                lines: piece.ours,
            },
            Origin::Theirs => Region::Clean {
                side: Side::Theirs,
                lines: piece.theirs,
            },
            Origin::Both
                if !piece.ours.is_empty()
                    && !piece.theirs.is_empty()
                    && ours[piece.ours.start..piece.ours.end]
                        == theirs[piece.theirs.start..piece.theirs.end] =>
            {
                Region::Clean {
                    side: Side::Ours,
                    lines: piece.ours,
                }
            }
            Origin::Both => Region::Conflict(Hunk {
                base: piece.base,
                ours: piece.ours,
                theirs: piece.theirs,
            }),
        };
        if !matches!(&region, Region::Clean { lines, .. } if lines.is_empty()) {
            regions.push(region);
        }
        at = piece.ours.end;
    }
    if at < ours.len() {
        regions.push(Region::Clean {
            side: Side::Ours,
            lines: lines(at, ours.len() - at),
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

/// Whether git's merge of the three texts conflicts.
pub fn conflicts(base: &[u8], ours: &[u8], theirs: &[u8]) -> bool {
    let merge = merge_lines(
        &split_byte_lines(base),
        &split_byte_lines(ours),
        &split_byte_lines(theirs),
    );
    merge
        .regions
        .iter()
        .any(|region| matches!(region, Region::Conflict(_)))
}

/// The labels and marker length of merge-style conflict markers.
pub struct Markers<'a> {
    pub ours: &'a str,
    pub theirs: &'a str,
    pub size: usize,
    /// Conflicts with no more than three lines between them are joined;
    /// with this, also those with only lines without a letter or digit
    /// between them (`git merge-file` does it, a tree merge does not).
    pub join_across_punctuation: bool,
}

/// One conflict after refining: lines `ours` of our file against lines
/// `theirs` of theirs.
#[derive(Debug, Clone, Copy)]
struct Refined {
    origin: Origin,
    ours: Lines,
    theirs: Lines,
}

/// The pieces of a merge as git writes them: each conflict narrowed to
/// the lines where the two sides differ, a conflict whose sides agree
/// dropped, and conflicts close to each other joined.
fn refine(pieces: &[Piece], ours: &[&[u8]], theirs: &[&[u8]], markers: &Markers) -> Vec<Refined> {
    let mut refined: Vec<Refined> = Vec::new();
    for piece in pieces {
        if piece.origin != Origin::Both || piece.ours.is_empty() || piece.theirs.is_empty() {
            refined.push(Refined {
                origin: piece.origin,
                ours: piece.ours,
                theirs: piece.theirs,
            });
            continue;
        }
        let (o, t) = (
            &ours[piece.ours.start..piece.ours.end],
            &theirs[piece.theirs.start..piece.theirs.end],
        );
        let mut interner = Interner::default();
        let (io, it) = (interner.ids(o), interner.ids(t));
        let edits = line_diff::diff(&io, &it, o, t);
        if edits.is_empty() {
            refined.push(Refined {
                origin: Origin::Ours,
                ours: piece.ours,
                theirs: piece.theirs,
            });
        }
        for edit in edits {
            refined.push(Refined {
                origin: Origin::Both,
                ours: lines(piece.ours.start + edit.a_start, edit.a_len),
                theirs: lines(piece.theirs.start + edit.b_start, edit.b_len),
            });
        }
    }
    let mut joined: Vec<Refined> = Vec::new();
    for next in refined {
        if let Some(last) = joined.last_mut() {
            let gap = &ours[last.ours.end..next.ours.start];
            let close = gap.len() <= 3
                || markers.join_across_punctuation
                    && !gap.iter().any(|l| l.iter().any(u8::is_ascii_alphanumeric));
            if last.origin == Origin::Both && next.origin == Origin::Both && close {
                last.ours.end = next.ours.end;
                last.theirs.end = next.theirs.end;
                continue;
            }
        }
        joined.push(next);
    }
    joined
}

/// The merged text as git writes it with its default ("merge") conflict
/// style, and how many conflicts it holds.
pub fn render_merge_style(
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    markers: &Markers,
) -> (Vec<u8>, usize) {
    let (base, ours, theirs) = (
        split_byte_lines(base),
        split_byte_lines(ours),
        split_byte_lines(theirs),
    );
    let (ids, our_changes, their_changes) = diffs(&base, &ours, &theirs);
    let pieces = walk(&our_changes, &their_changes, &ids);
    let mut out = Vec::new();
    let marker = |out: &mut Vec<u8>, c: u8, label: &str| {
        out.extend(std::iter::repeat_n(c, markers.size));
        if !label.is_empty() {
            out.push(b' ');
            out.extend_from_slice(label.as_bytes());
        }
        out.push(b'\n');
    };
    let section = |out: &mut Vec<u8>, lines: &[&[u8]]| {
        lines.iter().for_each(|l| out.extend_from_slice(l));
        if lines.last().is_some_and(|l| !l.ends_with(b"\n")) {
            out.push(b'\n');
        }
    };
    let (mut at, mut conflicts) = (0, 0);
    for part in refine(&pieces, &ours, &theirs, markers) {
        ours[at..part.ours.start]
            .iter()
            .for_each(|l| out.extend_from_slice(l));
        if part.origin == Origin::Both {
            conflicts += 1;
            marker(&mut out, b'<', markers.ours);
            section(&mut out, &ours[part.ours.start..part.ours.end]);
            marker(&mut out, b'=', "");
            section(&mut out, &theirs[part.theirs.start..part.theirs.end]);
            marker(&mut out, b'>', markers.theirs);
        } else if part.origin == Origin::Theirs {
            theirs[part.theirs.start..part.theirs.end]
                .iter()
                .for_each(|l| out.extend_from_slice(l));
        } else {
            ours[part.ours.start..part.ours.end]
                .iter()
                .for_each(|l| out.extend_from_slice(l));
        }
        at = part.ours.end;
    }
    ours[at..].iter().for_each(|l| out.extend_from_slice(l));
    (out, conflicts)
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

    #[test]
    fn lines_are_split_as_split_inclusive_splits_them() {
        let long = "x".repeat(70);
        let texts = [
            String::new(),
            "\n".to_owned(),
            "a".to_owned(),
            "a\nb".to_owned(),
            "a\n\n\nb\n".to_owned(),
            format!("{long}\n{long}\n\u{e9}\u{1f600}\n{long}"),
            "\n".repeat(65),
            format!("{}\n", "y".repeat(31)),
            format!("{}\n", "y".repeat(32)),
        ];
        for text in &texts {
            let expected: Vec<&str> = text.split_inclusive('\n').collect();
            assert_eq!(split_lines(text), expected, "{text:?}");
            let expected: Vec<&[u8]> = text.as_bytes().split_inclusive(|b| *b == b'\n').collect();
            assert_eq!(split_byte_lines(text.as_bytes()), expected, "{text:?}");
        }
    }

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
