//! Line diff as git computes it for merges: the histogram algorithm (git's
//! default for `merge-ort`), falling back to libgit2's Myers diff where
//! every common line is too frequent, then each changed group slid as git
//! slides it (up as far as it goes, then down, lined up with the other
//! file's changes when it can be). Merges depend on where a change lies —
//! two changes that touch conflict — so the same algorithm is what makes
//! our verdict git's.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use git2::{DiffOptions, Patch};

/// A fast hash for lines and line ids (a multiply-rotate over 8-byte
/// words): hashing every line of three versions dominated the merge with
/// the standard library's SipHash.
#[derive(Default)]
pub struct LineHasher(u64);

impl LineHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for LineHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ bytes.len() as u64);
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<LineHasher>>;

/// Lines of the three versions of a file as small integers: equal lines get
/// equal ids, so comparisons are integer comparisons.
#[derive(Debug, Default)]
pub struct Interner<'a> {
    ids: FastMap<&'a [u8], u32>,
}

impl<'a> Interner<'a> {
    pub fn ids(&mut self, lines: &[&'a [u8]]) -> Vec<u32> {
        lines
            .iter()
            .map(|line| {
                let next = self.ids.len() as u32;
                *self.ids.entry(line).or_insert(next)
            })
            .collect()
    }
}

/// One change: `a[a_start..a_start + a_len]` replaced by
/// `b[b_start..b_start + b_len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub a_start: usize,
    pub a_len: usize,
    pub b_start: usize,
    pub b_len: usize,
}

/// The edits turning `a` into `b` (ids from one [`Interner`]; `a_lines` and
/// `b_lines` are the lines themselves, for the Myers fallback).
pub fn diff(a: &[u32], b: &[u32], a_lines: &[&[u8]], b_lines: &[&[u8]]) -> Vec<Edit> {
    let mut changed = Changed::new(a.len(), b.len());
    let mut context = Histogram {
        a,
        b,
        a_lines,
        b_lines,
        changed: &mut changed,
    };
    context.diff(1, a.len(), 1, b.len());
    compact(&mut changed.a, &mut changed.b, a);
    compact(&mut changed.b, &mut changed.a, b);
    script(&changed)
}

/// Which lines of each file are changed, with a false sentinel before the
/// first line and after the last (index `i + 1` holds line `i`).
struct Changed {
    a: Vec<bool>,
    b: Vec<bool>,
}

impl Changed {
    fn new(a: usize, b: usize) -> Changed {
        Changed {
            a: vec![false; a + 2],
            b: vec![false; b + 2],
        }
    }
}

/// The chains longer than this make the histogram give up on a region.
const MAX_CHAIN: u32 = 64;

struct Histogram<'x> {
    a: &'x [u32],
    b: &'x [u32],
    a_lines: &'x [&'x [u8]],
    b_lines: &'x [&'x [u8]],
    changed: &'x mut Changed,
}

/// The longest common region found, 1-based inclusive (`a_begin == 0`: none).
#[derive(Default)]
struct Region {
    a_begin: usize,
    a_end: usize,
    b_begin: usize,
    b_end: usize,
}

/// The occurrences of each line of a's region: its first position, how
/// many times it occurs, and the next position of the same line.
struct Index {
    first: FastMap<u32, (usize, u32)>,
    next: Vec<usize>,
    count_at: Vec<u32>,
    start: usize,
    best_count: u32,
    has_common: bool,
}

impl Histogram<'_> {
    /// Diffs 1-based `a[a_line..a_line + a_count]` against `b`'s region.
    fn diff(
        &mut self,
        mut a_line: usize,
        mut a_count: usize,
        mut b_line: usize,
        mut b_count: usize,
    ) {
        loop {
            if a_count == 0 {
                (b_line..b_line + b_count).for_each(|i| self.changed.b[i] = true);
                return;
            }
            if b_count == 0 {
                (a_line..a_line + a_count).for_each(|i| self.changed.a[i] = true);
                return;
            }
            let (region, fall_back) = self.longest_common(a_line, a_count, b_line, b_count);
            if fall_back {
                self.myers(a_line, a_count, b_line, b_count);
                return;
            }
            if region.a_begin == 0 && region.b_begin == 0 {
                (a_line..a_line + a_count).for_each(|i| self.changed.a[i] = true);
                (b_line..b_line + b_count).for_each(|i| self.changed.b[i] = true);
                return;
            }
            self.diff(
                a_line,
                region.a_begin - a_line,
                b_line,
                region.b_begin - b_line,
            );
            let (a_end, b_end) = (a_line + a_count - 1, b_line + b_count - 1);
            a_count = a_end - region.a_end;
            a_line = region.a_end + 1;
            b_count = b_end - region.b_end;
            b_line = region.b_end + 1;
        }
    }

    fn a_at(&self, line: usize) -> u32 {
        self.a[line - 1]
    }

    fn b_at(&self, line: usize) -> u32 {
        self.b[line - 1]
    }

    /// The longest common region with the rarest lines, and whether the
    /// region must be diffed by Myers instead (all its common lines occur
    /// more than [`MAX_CHAIN`] times).
    fn longest_common(
        &self,
        a_line: usize,
        a_count: usize,
        b_line: usize,
        b_count: usize,
    ) -> (Region, bool) {
        let mut index = Index {
            first: FastMap::with_capacity_and_hasher(a_count, Default::default()),
            next: vec![0; a_count],
            count_at: vec![0; a_count],
            start: a_line,
            best_count: MAX_CHAIN + 1,
            has_common: false,
        };
        for line in (a_line..a_line + a_count).rev() {
            let entry = index.first.entry(self.a_at(line)).or_insert((0, 0));
            index.next[line - a_line] = entry.0;
            *entry = (line, entry.1.saturating_add(1));
        }
        for line in a_line..a_line + a_count {
            index.count_at[line - a_line] = index.first[&self.a_at(line)].1;
        }
        let mut region = Region::default();
        let mut b_ptr = b_line;
        while b_ptr < b_line + b_count {
            b_ptr = self.try_common(
                &mut index,
                &mut region,
                b_ptr,
                a_line,
                a_count,
                b_line,
                b_count,
            );
        }
        let fall_back = index.has_common && MAX_CHAIN < index.best_count;
        (region, fall_back)
    }

    /// Extends every match of b's line `b_ptr` in a into a common region,
    /// keeping the best; returns the next line of b to try.
    #[allow(clippy::too_many_arguments)]
    fn try_common(
        &self,
        index: &mut Index,
        region: &mut Region,
        b_ptr: usize,
        a_line: usize,
        a_count: usize,
        b_line: usize,
        b_count: usize,
    ) -> usize {
        let mut b_next = b_ptr + 1;
        let Some(&(first, count)) = index.first.get(&self.b_at(b_ptr)) else {
            return b_next;
        };
        index.has_common = true;
        if count > index.best_count {
            return b_next;
        }
        let (a_last, b_last) = (a_line + a_count - 1, b_line + b_count - 1);
        let count_of = |index: &Index, line: usize| index.count_at[line - index.start];
        let mut a_start = first;
        loop {
            let mut next = index.next[a_start - a_line];
            let (mut a_s, mut b_s, mut a_e, mut b_e) = (a_start, b_ptr, a_start, b_ptr);
            let mut rarest = count;
            while a_line < a_s && b_line < b_s && self.a_at(a_s - 1) == self.b_at(b_s - 1) {
                a_s -= 1;
                b_s -= 1;
                if rarest > 1 {
                    rarest = rarest.min(count_of(index, a_s));
                }
            }
            while a_e < a_last && b_e < b_last && self.a_at(a_e + 1) == self.b_at(b_e + 1) {
                a_e += 1;
                b_e += 1;
                if rarest > 1 {
                    rarest = rarest.min(count_of(index, a_e));
                }
            }
            if b_next <= b_e {
                b_next = b_e + 1;
            }
            if region.a_end - region.a_begin < a_e - a_s || rarest < index.best_count {
                *region = Region {
                    a_begin: a_s,
                    a_end: a_e,
                    b_begin: b_s,
                    b_end: b_e,
                };
                index.best_count = rarest;
            }
            if next == 0 {
                return b_next;
            }
            while next <= a_e {
                next = index.next[next - a_line];
                if next == 0 {
                    return b_next;
                }
            }
            a_start = next;
        }
    }

    /// The region diffed with libgit2's Myers diff.
    fn myers(&mut self, a_line: usize, a_count: usize, b_line: usize, b_count: usize) {
        let a_text = self.a_lines[a_line - 1..a_line - 1 + a_count].concat();
        let b_text = self.b_lines[b_line - 1..b_line - 1 + b_count].concat();
        let mut options = DiffOptions::new();
        options.context_lines(0);
        let patch = Patch::from_buffers(&a_text, None, &b_text, None, Some(&mut options));
        let Ok(patch) = patch else {
            (a_line..a_line + a_count).for_each(|i| self.changed.a[i] = true);
            (b_line..b_line + b_count).for_each(|i| self.changed.b[i] = true);
            return;
        };
        for hunk in 0..patch.num_hunks() {
            let Ok((hunk, _)) = patch.hunk(hunk) else {
                continue;
            };
            // A hunk's start is 1-based, or names the line after which an
            // insertion goes (then its count is 0).
            let mark = |changed: &mut [bool], offset: usize, start: u32, count: u32| {
                let first = if count == 0 { start + 1 } else { start } as usize;
                for line in first..first + count as usize {
                    changed[offset + line - 1] = true;
                }
            };
            mark(
                &mut self.changed.a,
                a_line,
                hunk.old_start(),
                hunk.old_lines(),
            );
            mark(
                &mut self.changed.b,
                b_line,
                hunk.new_start(),
                hunk.new_lines(),
            );
        }
    }
}

/// A run of changed lines `[start, end)` of one file, in `changed`'s
/// indexes (line `i` at `i + 1`).
struct Group {
    start: usize,
    end: usize,
}

fn first_group(changed: &[bool]) -> Group {
    let mut end = 1;
    while changed[end] {
        end += 1;
    }
    Group { start: 1, end }
}

/// Moves to the next group; false after the last.
fn next_group(changed: &[bool], group: &mut Group) -> bool {
    if group.end == changed.len() - 1 {
        return false;
    }
    group.start = group.end + 1;
    group.end = group.start;
    while changed[group.end] {
        group.end += 1;
    }
    true
}

fn previous_group(changed: &[bool], group: &mut Group) -> bool {
    if group.start == 1 {
        return false;
    }
    group.end = group.start - 1;
    group.start = group.end;
    while changed[group.start - 1] {
        group.start -= 1;
    }
    true
}

fn slide_up(changed: &mut [bool], lines: &[u32], group: &mut Group) -> bool {
    if group.start > 1 && lines[group.start - 2] == lines[group.end - 2] {
        group.start -= 1;
        group.end -= 1;
        changed[group.start] = true;
        changed[group.end] = false;
        while changed[group.start - 1] {
            group.start -= 1;
        }
        true
    } else {
        false
    }
}

fn slide_down(changed: &mut [bool], lines: &[u32], group: &mut Group) -> bool {
    if group.end < changed.len() - 1 && lines[group.start - 1] == lines[group.end - 1] {
        changed[group.start] = false;
        changed[group.end] = true;
        group.start += 1;
        group.end += 1;
        while changed[group.end] {
            group.end += 1;
        }
        true
    } else {
        false
    }
}

/// Slides each group of changed lines of one file as git does without the
/// indent heuristic: merged with the groups it bumps into, and lined up
/// with the other file's last change it can reach, else as low as it goes.
fn compact(changed: &mut [bool], other: &mut [bool], lines: &[u32]) {
    let mut group = first_group(changed);
    let mut other_group = first_group(other);
    loop {
        if group.end != group.start {
            let mut earliest_end;
            let mut end_matching_other;
            loop {
                let size = group.end - group.start;
                end_matching_other = None;
                while slide_up(changed, lines, &mut group) {
                    previous_group(other, &mut other_group);
                }
                earliest_end = group.end;
                if other_group.end > other_group.start {
                    end_matching_other = Some(group.end);
                }
                while slide_down(changed, lines, &mut group) {
                    next_group(other, &mut other_group);
                    if other_group.end > other_group.start {
                        end_matching_other = Some(group.end);
                    }
                }
                if size == group.end - group.start {
                    break;
                }
            }
            if group.end != earliest_end && end_matching_other.is_some() {
                while other_group.end == other_group.start {
                    slide_up(changed, lines, &mut group);
                    previous_group(other, &mut other_group);
                }
            }
        }
        if !next_group(changed, &mut group) {
            break;
        }
        next_group(other, &mut other_group);
    }
}

/// The edits that the changed lines of both files make up.
fn script(changed: &Changed) -> Vec<Edit> {
    let (a_len, b_len) = (changed.a.len() - 2, changed.b.len() - 2);
    let mut edits = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a_len || j < b_len {
        if changed.a[i + 1] || changed.b[j + 1] {
            let (a_start, b_start) = (i, j);
            while changed.a[i + 1] {
                i += 1;
            }
            while changed.b[j + 1] {
                j += 1;
            }
            edits.push(Edit {
                a_start,
                a_len: i - a_start,
                b_start,
                b_len: j - b_start,
            });
        } else {
            i += 1;
            j += 1;
        }
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(a: &str, b: &str) -> Vec<(usize, usize, usize, usize)> {
        let (a, b): (Vec<&[u8]>, Vec<&[u8]>) = (
            a.split_inclusive('\n').map(str::as_bytes).collect(),
            b.split_inclusive('\n').map(str::as_bytes).collect(),
        );
        let mut interner = Interner::default();
        let (ia, ib) = (interner.ids(&a), interner.ids(&b));
        diff(&ia, &ib, &a, &b)
            .into_iter()
            .map(|e| (e.a_start, e.a_len, e.b_start, e.b_len))
            .collect()
    }

    #[test]
    fn equal_texts_have_no_edits() {
        assert!(edits("a\nb\n", "a\nb\n").is_empty());
        assert!(edits("", "").is_empty());
    }

    #[test]
    fn replacements_insertions_and_deletions() {
        assert_eq!(edits("a\nb\nc\n", "a\nB\nc\n"), vec![(1, 1, 1, 1)]);
        assert_eq!(edits("a\nc\n", "a\nb\nc\n"), vec![(1, 0, 1, 1)]);
        assert_eq!(edits("a\nb\nc\n", "a\nc\n"), vec![(1, 1, 1, 0)]);
        assert_eq!(edits("", "a\n"), vec![(0, 0, 0, 1)]);
    }

    #[test]
    fn an_inserted_repeat_slides_down_as_far_as_it_goes() {
        // "b" inserted among equal lines is placed after the last "b".
        assert_eq!(edits("a\nb\nc\n", "a\nb\nb\nc\n"), vec![(2, 0, 2, 1)]);
    }

    #[test]
    fn unique_lines_anchor_the_match() {
        // Histogram matches the rare line "x", not the frequent braces.
        let a = "}\n}\nx\n}\n";
        let b = "x\n}\n}\n}\n";
        assert_eq!(edits(a, b), vec![(0, 2, 0, 0), (4, 0, 2, 2)]);
    }
}
