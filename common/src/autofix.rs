//! Auto-fix suggestions for a conflicting file. Each strategy is small and
//! separate and fixes one hunk or declines:
//! - trivial merge: formatting-only differences keep ours; import
//!   additions become ours' imports followed by theirs' new ones;
//! - structural merge: when both sides only insert whole items declaring
//!   different names, each insertion point gets ours' lines, then theirs'
//!   (declined when half the smaller insertion's lines are also in the
//!   other's: much the same change made twice);
//! - concurrent edit: when one side's change contains the other's (the
//!   other is a step on the shortest token edit path from the base to it),
//!   the containing side wins; when both sides only change version
//!   numbers, the side with the newer ones wins if they are development
//!   versions (the main line's, against a release branch's bump). Containment also fixes a
//!   structural hunk inside items (no top-level item added or removed, no
//!   side emptied).
//!
//! A file's suggestion fixes every hunk or none; when a hunk has no safe
//! fix, the fallback explains why. A suggestion is auto-applicable only
//! when every hunk is fixed, no conflict marker is left, for a parsed
//! language the result parses, and no line the fix keeps from one side
//! names something the other side renames, removes or re-signs anywhere in
//! the merge (`merge_names`).
//!
//! Confidence is the product of documented factors, each in 0..1:
//! - strategy: how safe the weakest strategy used is (formatting 0.97,
//!   imports 0.93, structural insertions 0.85, contained edit 0.80);
//! - complexity: 1 − min(0.3, changed lines / 300);
//! - similarity (contained edits only): 0.8 + 0.2 × the token similarity
//!   of the two sides;
//! - parse validity: 1 when the result parses, 0.9 for a language we do not
//!   parse, 0 when it fails;
//! - track record: 0.8 + 0.2 × (kept + 1) / (applied + 2), from this
//!   strategy's applied fixes in `conflict_resolutions` (kept: not rolled
//!   back).

use serde::Serialize;

use crate::analysis::{ConflictType, FileAnalysis, HunkAnalysis, HunkText};
use crate::merge3::{self, Merge, Versions};
use crate::merge_names::MergeNames;
use crate::syntax::{self, Language};

/// How a suggestion resolves its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    TrivialMerge,
    StructuralMerge,
    ConcurrentEdit,
    Fallback,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::TrivialMerge => "TRIVIAL_MERGE",
            Strategy::StructuralMerge => "STRUCTURAL_MERGE",
            Strategy::ConcurrentEdit => "CONCURRENT_EDIT",
            Strategy::Fallback => "FALLBACK",
        }
    }

    fn weight(self) -> u8 {
        match self {
            Strategy::TrivialMerge => 0,
            Strategy::StructuralMerge => 2,
            Strategy::ConcurrentEdit => 1,
            Strategy::Fallback => 3,
        }
    }
}

/// One hunk fixed by one strategy.
#[derive(Debug, Clone)]
pub struct HunkFix {
    pub text: String,
    pub strategy: Strategy,
    /// The strategy factor of the confidence.
    pub safety: f64,
    /// The similarity factor (1 unless a contained edit).
    pub similarity: f64,
    pub explanation: String,
    pub risks: Vec<String>,
}

/// The factors a confidence is the product of.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfidenceFactors {
    pub strategy: f64,
    pub complexity: f64,
    pub similarity: f64,
    pub parse_validity: f64,
    pub track_record: f64,
}

/// Before and after, for a reader.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The conflicting hunks as git marks them.
    pub before: String,
    /// What replaces them.
    pub after: String,
    /// Lines of the file with conflict markers, and of the result.
    pub lines_before: usize,
    pub lines_after: usize,
}

/// A suggested resolution of one file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub file_path: String,
    pub conflict_type: ConflictType,
    pub strategy: Strategy,
    pub confidence: f64,
    pub confidence_factors: ConfidenceFactors,
    pub auto_applicable: bool,
    pub explanation: String,
    pub preview: Preview,
    pub risks: Vec<String>,
    /// The whole resolved file (with markers left where nothing is safe).
    #[serde(skip)]
    pub resolved: String,
}

/// Applied and kept counts of a strategy's past fixes.
pub type TrackRecord = dyn Fn(Strategy) -> (u32, u32);

/// The suggestions for one analysed file: the combined fix when every hunk
/// has one, otherwise the fallback.
pub fn suggest(
    analysis: &FileAnalysis,
    merge: &Merge,
    versions: &Versions,
    names: &MergeNames,
    track_record: &TrackRecord,
) -> Suggestion {
    let language = Language::of_path(&analysis.file_path);
    let mut fixes = Vec::new();
    let mut declined = Vec::new();
    for (index, hunk) in analysis.hunks.iter().enumerate() {
        match fix_hunk(language, versions, hunk) {
            Ok(fix) => fixes.push(fix),
            Err(why) => declined.push(format!(
                "hunk {} (base lines {}-{}, {}): {why}",
                index + 1,
                hunk.base_lines.start,
                hunk.base_lines.end,
                hunk.conflict_type.as_str()
            )),
        }
    }
    let marked = merge3::render(&merge.regions, versions, |_, _| None);
    let before: String = analysis
        .hunks
        .iter()
        .map(|h| {
            let mut out = String::new();
            let text = HunkText::of(versions, &h.hunk);
            out.push_str(&format!(
                "@@ base lines {}-{}\n",
                h.base_lines.start, h.base_lines.end
            ));
            out.push_str("<<<<<<< ours\n");
            out.push_str(&merge3::join(text.ours));
            out.push_str("=======\n");
            out.push_str(&merge3::join(text.theirs));
            out.push_str(">>>>>>> theirs\n");
            out
        })
        .collect();
    let changed_lines: usize = analysis
        .hunks
        .iter()
        .map(|h| h.hunk.ours.len() + h.hunk.theirs.len())
        .sum();
    let complexity = round(1.0 - (changed_lines as f64 / 300.0).min(0.3));
    if !declined.is_empty() || analysis.hunks.is_empty() {
        return Suggestion {
            file_path: analysis.file_path.clone(),
            conflict_type: analysis.conflict_type,
            strategy: Strategy::Fallback,
            confidence: 0.0,
            confidence_factors: ConfidenceFactors {
                strategy: 0.0,
                complexity,
                similarity: 1.0,
                parse_validity: 0.0,
                track_record: 1.0,
            },
            auto_applicable: false,
            explanation: format!(
                "No safe automatic fix: {}. Resolve by hand, keeping both sides' intent.",
                declined.join("; ")
            ),
            preview: Preview {
                before: before.clone(),
                after: before,
                lines_before: marked.lines().count(),
                lines_after: marked.lines().count(),
            },
            risks: vec!["nothing is changed automatically".to_owned()],
            resolved: marked,
        };
    }
    let resolved = merge3::render(&merge.regions, versions, |index, _| {
        Some(fixes[index].text.clone())
    });
    let after: String = fixes.iter().map(|f| f.text.clone()).collect();
    let markers_left = merge3::has_conflict_markers(&resolved);
    let parse_validity = match language {
        Some(language) if syntax::parses_cleanly(language, &resolved) => 1.0,
        Some(_) => 0.0,
        None => 0.9,
    };
    let weakest = fixes
        .iter()
        .max_by_key(|f| f.strategy.weight())
        .map(|f| f.strategy)
        .unwrap_or(Strategy::TrivialMerge);
    let (applied, kept) = track_record(weakest);
    let factors = ConfidenceFactors {
        strategy: fixes.iter().map(|f| f.safety).fold(1.0, f64::min),
        complexity,
        similarity: round(fixes.iter().map(|f| f.similarity).fold(1.0, f64::min)),
        parse_validity,
        track_record: round(0.8 + 0.2 * (f64::from(kept) + 1.0) / (f64::from(applied) + 2.0)),
    };
    let confidence = round(
        factors.strategy
            * factors.complexity
            * factors.similarity
            * factors.parse_validity
            * factors.track_record,
    );
    let mut explanation: Vec<String> = fixes.iter().map(|f| f.explanation.clone()).collect();
    explanation.dedup();
    let mut risks: Vec<String> = Vec::new();
    for risk in fixes.iter().flat_map(|f| f.risks.iter()) {
        if !risks.contains(risk) {
            risks.push(risk.clone());
        }
    }
    let lost_imports = match language {
        Some(language) if !markers_left => {
            let kept = syntax::imported_names(language, &resolved);
            syntax::imported_names(language, &versions.base.concat())
                .into_iter()
                .filter(|name| !kept.contains(name))
                .collect()
        }
        _ => std::collections::HashSet::new(),
    };
    let crossed = crossed_name(analysis, versions, &fixes, names, &lost_imports)
        .or_else(|| language.and_then(|language| declared_twice(language, versions, &resolved)));
    let auto_applicable = !markers_left && parse_validity > 0.0 && crossed.is_none();
    if let Some(crossed) = crossed {
        risks.push(format!("{crossed}; it is not applied automatically"));
    }
    if markers_left {
        risks.push(
            "the result still holds conflict markers; it is not applied automatically".to_owned(),
        );
    }
    if parse_validity == 0.0 {
        risks.push("the result does not parse; it is not applied automatically".to_owned());
    }
    if language.is_none() {
        risks.push("the language is not parsed, so the result could not be checked".to_owned());
    }
    Suggestion {
        file_path: analysis.file_path.clone(),
        conflict_type: analysis.conflict_type,
        strategy: weakest,
        confidence: if auto_applicable { confidence } else { 0.0 },
        confidence_factors: factors,
        auto_applicable,
        explanation: explanation.join(" "),
        preview: Preview {
            before,
            after,
            lines_before: marked.lines().count(),
            lines_after: resolved.lines().count(),
        },
        risks,
        resolved,
    }
}

/// The first name a fixed line keeps from one side that the other side
/// renames, removes or re-signs somewhere in the merge, or whose import the
/// base has and the merged file lost, described.
fn crossed_name(
    analysis: &FileAnalysis,
    versions: &Versions,
    fixes: &[HunkFix],
    names: &MergeNames,
    lost_imports: &std::collections::HashSet<String>,
) -> Option<String> {
    for (hunk, fix) in analysis.hunks.iter().zip(fixes) {
        let text = HunkText::of(versions, &hunk.hunk);
        let holds = |lines: &[&str], line: &str| lines.iter().any(|l| l.trim() == line.trim());
        for line in merge3::split_lines(&fix.text) {
            let (from_ours, from_theirs) = (holds(text.ours, line), holds(text.theirs, line));
            if from_ours == from_theirs {
                continue;
            }
            let (side, other) = if from_ours {
                ("ours", "theirs")
            } else {
                ("theirs", "ours")
            };
            let changed = names.changed_by(!from_ours);
            if let Some((name, path)) =
                syntax::words(line).find_map(|word| changed.get_key_value(word))
            {
                return Some(format!(
                    "the fix keeps `{name}` from {side}, which {other} renames, removes or re-signs (in {path})"
                ));
            }
            if let Some(name) = syntax::words(line).find(|word| lost_imports.contains(*word)) {
                return Some(format!(
                    "the fix keeps a use of `{name}` from {side}, but the merged file no longer imports it"
                ));
            }
        }
    }
    None
}

/// A top-level name the fix declares twice where neither side does (both
/// sides added the same item, at different places), described.
fn declared_twice(language: Language, versions: &Versions, resolved: &str) -> Option<String> {
    let counts = |text: &str| {
        let mut counts = std::collections::HashMap::new();
        for name in syntax::top_level_names(language, text) {
            *counts.entry(name).or_insert(0usize) += 1;
        }
        counts
    };
    let (ours, theirs) = (
        counts(&versions.ours.concat()),
        counts(&versions.theirs.concat()),
    );
    let mut twice: Vec<(String, usize)> = counts(resolved)
        .into_iter()
        .filter(|(name, count)| {
            *count
                > ours
                    .get(name)
                    .copied()
                    .unwrap_or(0)
                    .max(theirs.get(name).copied().unwrap_or(0))
        })
        .collect();
    twice.sort();
    twice.first().map(|(name, _)| {
        format!("the fix declares `{name}` more often than either side (both sides add it)")
    })
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// The first strategy that fixes the hunk, or why none does.
fn fix_hunk(
    language: Option<Language>,
    versions: &Versions,
    hunk: &HunkAnalysis,
) -> Result<HunkFix, String> {
    let text = HunkText::of(versions, &hunk.hunk);
    match hunk.conflict_type {
        ConflictType::Trivial => trivial_merge(hunk, &text),
        ConflictType::Structural => structural_merge(language, versions, hunk, &text)
            .or_else(|why| contained_inside_items(hunk, &text).ok_or(why)),
        ConflictType::ConcurrentEdit => {
            concurrent_edit(&text).or_else(|why| newer_version(&text).ok_or(why))
        }
        ConflictType::Semantic => Err(format!(
            "{}; merging the text would leave code that uses the old definition",
            hunk.reason
        )),
        ConflictType::Unknown => Err(format!("{}; nothing can be checked", hunk.reason)),
    }
}

/// A structural hunk inside items (statements, members or parameters
/// added or removed, blocks nested otherwise, but no top-level item added
/// or removed, and neither side emptied): the containing side wins, as for
/// a concurrent edit. Where a side adds or removes top-level items or
/// deletes the whole hunk, people often moved code elsewhere, which
/// containment cannot see; those are declined.
fn contained_inside_items(hunk: &HunkAnalysis, text: &HunkText) -> Option<HunkFix> {
    let emptied = |lines: &[&str]| lines.iter().all(|l| l.trim().is_empty());
    if hunk.reason.contains(TOP_LEVEL) || emptied(text.ours) || emptied(text.theirs) {
        return None;
    }
    concurrent_edit(text).ok()
}

/// How the classification names the file's outermost list.
const TOP_LEVEL: &str = "top-level items";

/// Formatting-only: ours. Imports: ours' lines, then theirs' lines ours
/// lacks.
fn trivial_merge(hunk: &HunkAnalysis, text: &HunkText) -> Result<HunkFix, String> {
    if hunk.imports_only {
        let added = |side: &[&str]| -> Vec<String> {
            side.iter()
                .filter(|line| !text.base.iter().any(|b| b.trim_end() == line.trim_end()))
                .flat_map(|line| bound_names(line))
                .collect()
        };
        let ours_names = added(text.ours);
        for line in text.theirs {
            if !text.ours.iter().any(|l| l.trim_end() == line.trim_end()) {
                if let Some(name) = bound_names(line)
                    .into_iter()
                    .find(|n| ours_names.contains(n))
                {
                    return Err(format!(
                        "both sides import a `{name}` from different places"
                    ));
                }
            }
        }
        let lines = unite_imports(text);
        return Ok(HunkFix {
            text: merge3::join(&lines),
            strategy: Strategy::TrivialMerge,
            safety: 0.93,
            similarity: 1.0,
            explanation: "Both sides only add imports: keep both sides' new imports, each where its side put it, in sorted order where the imports are sorted."
                .to_owned(),
            risks: vec!["an import may now be unused".to_owned()],
        });
    }
    Ok(HunkFix {
        text: merge3::join(text.ours),
        strategy: Strategy::TrivialMerge,
        safety: 0.97,
        similarity: 1.0,
        explanation: "The sides differ only in whitespace or formatting: keep ours.".to_owned(),
        risks: vec!["theirs' formatting of these lines is not kept".to_owned()],
    })
}

fn bound_names(line: &str) -> Vec<String> {
    syntax::import_bound_names(line)
}

/// Both sides' import lines, each side's new ones where that side put them
/// (before the same base line). Where both add before the same line and
/// each side's lines there are in order with their neighbours (sorted
/// within a group, as gofmt, isort and rustfmt keep them), the new lines are
/// merged in that order; otherwise ours' come first.
fn unite_imports<'a>(text: &HunkText<'a>) -> Vec<&'a str> {
    let (our_gaps, their_gaps) = (gaps(text.base, text.ours), gaps(text.base, text.theirs));
    let mut lines = Vec::new();
    for (index, (ours, theirs)) in our_gaps.iter().zip(&their_gaps).enumerate() {
        let ours = &text.ours[ours.start..ours.end];
        let theirs: Vec<&str> = text.theirs[theirs.start..theirs.end]
            .iter()
            .copied()
            .filter(|line| !ours.iter().any(|l| l.trim_end() == line.trim_end()))
            .collect();
        let before = index.checked_sub(1).map(|i| text.base[i]);
        let after = text.base.get(index).copied();
        let in_order = |side: &[&str]| {
            let run: Vec<&str> = before
                .into_iter()
                .chain(side.iter().copied())
                .chain(after)
                .filter(|l| !l.trim().is_empty())
                .collect();
            run.windows(2)
                .all(|pair| import_key(pair[0]) <= import_key(pair[1]))
        };
        if !ours.is_empty() && !theirs.is_empty() && in_order(ours) && in_order(&theirs) {
            let mut merged: Vec<&str> = ours.iter().copied().chain(theirs).collect();
            merged.sort_by_key(|line| import_key(line));
            lines.extend(merged);
        } else {
            lines.extend_from_slice(ours);
            lines.extend(theirs);
        }
        if let Some(line) = after {
            lines.push(line);
        }
    }
    lines
}

/// What imports are sorted by: the imported path, without the keyword,
/// quotes or case (isort ignores case; gofmt and rustfmt paths are
/// lowercase anyway).
fn import_key(line: &str) -> String {
    let line = line.trim();
    let line = ["pub use ", "use ", "from ", "import ", "extern crate "]
        .iter()
        .find_map(|keyword| line.strip_prefix(keyword))
        .unwrap_or(line);
    line.chars()
        .filter(|c| !matches!(c, '"' | '\'' | '`'))
        .collect::<String>()
        .to_lowercase()
}

/// Both sides only insert whole items with different names: at each
/// insertion point, ours' lines, then theirs'.
fn structural_merge(
    language: Option<Language>,
    versions: &Versions,
    hunk: &HunkAnalysis,
    text: &HunkText,
) -> Result<HunkFix, String> {
    if !hunk.additions_only {
        return Err(format!(
            "{}; only independent insertions can be merged safely",
            hunk.reason
        ));
    }
    let language = language.ok_or("the language is not parsed")?;
    let our_gaps = gaps(text.base, text.ours);
    let their_gaps = gaps(text.base, text.theirs);
    let mut declared = Vec::new();
    for (side_lines, side_range, side_gaps) in [
        (&versions.ours, hunk.hunk.ours, &our_gaps),
        (&versions.theirs, hunk.hunk.theirs, &their_gaps),
    ] {
        let offset = side_range.start;
        let parsed = syntax::parse_around(language, side_lines, side_range.start..side_range.end)
            .ok_or("a side does not parse")?;
        let mut names = std::collections::HashSet::new();
        let mut used = std::collections::HashSet::new();
        for gap in side_gaps {
            let lines = offset + gap.start..offset + gap.end;
            let span = parsed.span(lines.clone());
            if !parsed.holds_whole_items(span.clone()) {
                return Err("an insertion is not made of whole items".to_owned());
            }
            names.extend(parsed.declared_names(span));
            for line in &side_lines[lines] {
                used.extend(syntax::words(line).map(str::to_owned));
            }
        }
        declared.push((names, used));
    }
    if let Some(line) = same_code_inserted(text, &our_gaps, &their_gaps) {
        return Err(format!(
            "both sides insert much the same code (`{line}`); it may be one change made twice"
        ));
    }
    let (ours, theirs) = (&declared[0], &declared[1]);
    let clash: Vec<&String> = ours
        .0
        .iter()
        .filter(|name| theirs.1.contains(*name))
        .chain(theirs.0.iter().filter(|name| ours.1.contains(*name)))
        .collect();
    if let Some(name) = clash.first() {
        return Err(format!(
            "both sides' insertions involve `{name}`; their order or one of them may be wrong"
        ));
    }
    let mut lines: Vec<&str> = Vec::new();
    for (index, (ours, theirs)) in our_gaps.iter().zip(&their_gaps).enumerate() {
        lines.extend_from_slice(&text.ours[ours.start..ours.end]);
        lines.extend_from_slice(&text.theirs[theirs.start..theirs.end]);
        if index < text.base.len() {
            lines.push(text.base[index]);
        }
    }
    Ok(HunkFix {
        text: merge3::join(&lines),
        strategy: Strategy::StructuralMerge,
        safety: 0.85,
        similarity: 1.0,
        explanation:
            "Both sides insert different whole items at the same place: keep both, ours first."
                .to_owned(),
        risks: vec!["the items are placed ours first; check the order where it matters".to_owned()],
    })
}

/// A line both sides insert, when at least half the lines of the smaller
/// insertion are also in the other's (blank lines and lines of bare
/// punctuation aside): the sides made much the same change.
fn same_code_inserted(
    text: &HunkText,
    our_gaps: &[merge3::Lines],
    their_gaps: &[merge3::Lines],
) -> Option<String> {
    let inserted = |side: &[&str], gaps: &[merge3::Lines]| -> std::collections::BTreeSet<String> {
        gaps.iter()
            .flat_map(|gap| &side[gap.start..gap.end])
            .map(|line| line.trim().to_owned())
            .filter(|line| line.chars().any(char::is_alphanumeric))
            .collect()
    };
    let (ours, theirs) = (
        inserted(text.ours, our_gaps),
        inserted(text.theirs, their_gaps),
    );
    let shared: Vec<&String> = ours.intersection(&theirs).collect();
    let smaller = ours.len().min(theirs.len());
    (!shared.is_empty() && 2 * shared.len() >= smaller).then(|| shared[0].clone())
}

/// The lines a side inserts before each base line (and after the last), as
/// ranges of the side's hunk lines; the side keeps every base line.
fn gaps(base: &[&str], side: &[&str]) -> Vec<merge3::Lines> {
    let mut gaps = Vec::with_capacity(base.len() + 1);
    let mut at = 0;
    for line in base {
        let found = side[at..]
            .iter()
            .position(|s| s.trim_end() == line.trim_end())
            .map_or(side.len(), |p| at + p);
        gaps.push(merge3::Lines {
            start: at,
            end: found,
        });
        at = (found + 1).min(side.len());
    }
    gaps.push(merge3::Lines {
        start: at,
        end: side.len(),
    });
    gaps
}

/// One side's change contains the other's: the containing side wins.
fn concurrent_edit(text: &HunkText) -> Result<HunkFix, String> {
    let (base, ours, theirs) = (
        merge3::join(text.base),
        merge3::join(text.ours),
        merge3::join(text.theirs),
    );
    let (base_tokens, our_tokens, their_tokens) = (
        syntax::tokens(&base),
        syntax::tokens(&ours),
        syntax::tokens(&theirs),
    );
    let similarity = {
        let common = lcs(&our_tokens, &their_tokens).ok_or("the hunk is too large to compare")?;
        2.0 * common as f64 / (our_tokens.len() + their_tokens.len()).max(1) as f64
    };
    let contains = |inner: &[&str], outer: &[&str]| -> Option<bool> {
        let distance = |a: &[&str], b: &[&str]| Some(a.len() + b.len() - 2 * lcs(a, b)?);
        Some(
            distance(&base_tokens, inner)? + distance(inner, outer)?
                == distance(&base_tokens, outer)?,
        )
    };
    let (winner, text, other) = if contains(&our_tokens, &their_tokens).unwrap_or(false) {
        ("theirs", theirs, "ours")
    } else if contains(&their_tokens, &our_tokens).unwrap_or(false) {
        ("ours", ours, "theirs")
    } else {
        return Err(
            "both sides rewrite the same code in different ways and neither change contains the other".to_owned(),
        );
    };
    Ok(HunkFix {
        text,
        strategy: Strategy::ConcurrentEdit,
        safety: 0.8,
        similarity: 0.8 + 0.2 * similarity,
        explanation: format!(
            "{winner}' change contains every change {other} made here: keep {winner}."
        ),
        risks: vec![format!(
            "assumes {other} wanted nothing beyond what {winner} also did"
        )],
    })
}

/// Both sides only set version numbers, differently (a release branch's
/// bump against the main line's development version): the side whose every
/// changed version is the newer, and a development version, wins. Declines when anything else in the hunk differs, when a
/// side bumps a number the other leaves, or when each side is newer
/// somewhere.
fn newer_version(text: &HunkText) -> Option<HunkFix> {
    use std::cmp::Ordering;
    let (base, ours, theirs) = (
        merge3::join(text.base),
        merge3::join(text.ours),
        merge3::join(text.theirs),
    );
    let (base_rest, base_versions) = versions_in(&base);
    let (our_rest, our_versions) = versions_in(&ours);
    let (their_rest, their_versions) = versions_in(&theirs);
    if base_rest != our_rest || our_rest != their_rest {
        return None;
    }
    // Only on lines that say they hold a version: other dotted numbers
    // (timeouts, ratios, addresses) have no "newer".
    let changed_lines_say_version = [&ours, &theirs].iter().all(|side| {
        side.lines()
            .all(|line| versions_in(line).1.is_empty() || line.to_lowercase().contains("version"))
    });
    if !changed_lines_say_version {
        return None;
    }
    // Both sides bump the same numbers: a number only one side bumps is a
    // change of its own (a toolchain requirement next to the version), not
    // a newer release of the same thing.
    let same_numbers_bumped = base_versions
        .iter()
        .zip(our_versions.iter().zip(&their_versions))
        .all(|(base, (our, their))| (our != base) == (their != base));
    if !same_numbers_bumped {
        return None;
    }
    let mut newer = None;
    for (our, their) in our_versions.iter().zip(&their_versions) {
        let order = compare_versions(our, their)?;
        if order == Ordering::Equal {
            continue;
        }
        if newer.is_some_and(|n| n != order) {
            return None;
        }
        // The newer must be a development version (`8.2.0.dev0`,
        // `7.0-dev`): the main line's next release against a release
        // branch's bump. Two releases apart are someone's choice.
        let newest = if order == Ordering::Greater {
            our
        } else {
            their
        };
        if !pre_release(version_tag(newest)) {
            return None;
        }
        newer = Some(order);
    }
    let (winner, text, other) = match newer? {
        Ordering::Greater => ("ours", ours, "theirs"),
        _ => ("theirs", theirs, "ours"),
    };
    Some(HunkFix {
        text,
        strategy: Strategy::ConcurrentEdit,
        safety: 0.8,
        similarity: 1.0,
        explanation: format!(
            "Both sides only change version numbers here and {winner}' are the newer: keep {winner}."
        ),
        risks: vec![format!("{other}' older version number is not kept")],
    })
}

/// The text with each version number (`1.2`, `8.1.0.dev0`, `2.0-rc1`)
/// replaced by a placeholder, and the version numbers in order.
fn versions_in(text: &str) -> (String, Vec<&str>) {
    let bytes = text.as_bytes();
    let (mut rest, mut found) = (String::new(), Vec::new());
    let (mut at, mut copied) = (0, 0);
    while at < bytes.len() {
        let starts = bytes[at].is_ascii_digit()
            && (at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'.'));
        match starts.then(|| version_end(bytes, at)).flatten() {
            Some(end) => {
                rest.push_str(&text[copied..at]);
                rest.push('\u{0}');
                found.push(&text[at..end]);
                (at, copied) = (end, end);
            }
            None => at += 1,
        }
    }
    rest.push_str(&text[copied..]);
    (rest, found)
}

/// Where a version number starting at `at` ends: digits, at least one
/// `.digits`, then an optional tag (`dev0`, `-rc1`, `b2`, `.feature`).
fn version_end(bytes: &[u8], at: usize) -> Option<usize> {
    let digits = |from: usize| {
        from + bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut end = digits(at);
    let mut parts = 1;
    while end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
        end = digits(end + 1);
        parts += 1;
    }
    if parts < 2 {
        return None;
    }
    let mut tag = end;
    if tag < bytes.len() && matches!(bytes[tag], b'.' | b'-' | b'+') {
        tag += 1;
    }
    let word = bytes[tag..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    if word > 0 {
        tag += word;
        if tag < bytes.len() && bytes[tag] == b'.' {
            tag += 1;
        }
        end = digits(tag);
    }
    Some(end)
}

/// Tags that mark a pre-release: it comes before the untagged release.
const PRE_RELEASE: &[&str] = &["dev", "a", "alpha", "b", "beta", "pre", "rc"];

/// How two version numbers compare (a pre-release before its release), or
/// `None` for the same numbers tagged differently or with a tag that is no
/// pre-release (a branch's label: nothing says which is newer).
fn compare_versions(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let split = |v: &str| -> (Vec<u64>, String) {
        let numeric = &v[..v.len() - version_tag(v).len()];
        let mut parts: Vec<u64> = numeric
            .split('.')
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect();
        while parts.last() == Some(&0) {
            parts.pop();
        }
        (parts, version_tag(v).to_owned())
    };
    let ((a_parts, a_tag), (b_parts, b_tag)) = (split(a), split(b));
    match a_parts.cmp(&b_parts) {
        Ordering::Equal if a_tag == b_tag => Some(Ordering::Equal),
        Ordering::Equal if a_tag.is_empty() && pre_release(&b_tag) => Some(Ordering::Greater),
        Ordering::Equal if b_tag.is_empty() && pre_release(&a_tag) => Some(Ordering::Less),
        Ordering::Equal => None,
        order => Some(order),
    }
}

/// A version number's tag: what follows its dotted numbers (`.dev0` of
/// `8.1.0.dev0`), empty for a release.
fn version_tag(version: &str) -> &str {
    let numeric = version
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(version.len());
    let numeric = version[..numeric].trim_end_matches('.').len();
    &version[numeric..]
}

/// Whether a version's tag (`.dev0`, `-rc1`, `b2`) marks a pre-release.
fn pre_release(tag: &str) -> bool {
    let word: String = tag
        .trim_start_matches(['.', '-', '+'])
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    PRE_RELEASE.contains(&word.to_lowercase().as_str())
}

/// The length of the longest common subsequence, or `None` when the
/// inputs are too large to compare here.
fn lcs(a: &[&str], b: &[&str]) -> Option<usize> {
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        return None;
    }
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                previous[j + 1].max(current[j])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    Some(previous[b.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_follows_the_shortest_edit_path() {
        let text = |b: &'static str, o: &'static str, t: &'static str| (vec![b], vec![o], vec![t]);
        let (b, o, t) = text("retry(3);\n", "retry(5);\n", "retry(5, backoff);\n");
        let fix = concurrent_edit(&HunkText {
            base: &b,
            ours: &o,
            theirs: &t,
        })
        .unwrap();
        assert_eq!(fix.text, "retry(5, backoff);\n");
        let (b, o, t) = text("x = 1;\n", "x = 2;\n", "x = 3;\n");
        assert!(concurrent_edit(&HunkText {
            base: &b,
            ours: &o,
            theirs: &t
        })
        .is_err());
    }

    #[test]
    fn the_newer_version_number_wins() {
        let fix = |b: &'static str, o: &'static str, t: &'static str| {
            let (b, o, t) = (vec![b], vec![o], vec![t]);
            newer_version(&HunkText {
                base: &b,
                ours: &o,
                theirs: &t,
            })
            .map(|f| f.text)
        };
        let base = "__version__ = \"8.1.4.dev0\"\n";
        assert_eq!(
            fix(
                base,
                "__version__ = \"8.2.0.dev0\"\n",
                "__version__ = \"8.1.4\"\n"
            )
            .as_deref(),
            Some("__version__ = \"8.2.0.dev0\"\n")
        );
        assert_eq!(
            fix(
                base,
                "__version__ = \"8.1.4.dev1\"\n",
                "__version__ = \"8.1.5.dev0\"\n"
            )
            .as_deref(),
            Some("__version__ = \"8.1.5.dev0\"\n")
        );
        assert_eq!(
            fix(
                "version='0.7',\n",
                "version='1.1-dev',\n",
                "version='2.0-dev',\n"
            )
            .as_deref(),
            Some("version='2.0-dev',\n")
        );
        assert_eq!(
            fix(
                "VERSION = '1.9'\n",
                "VERSION = '1.10a1'\n",
                "VERSION = '1.9.1'\n"
            )
            .as_deref(),
            Some("VERSION = '1.10a1'\n")
        );
        // Two releases: which one to publish is someone's choice.
        assert_eq!(
            fix(
                "version = \"0.3.1\"\n",
                "version = \"0.3.2\"\n",
                "version = \"0.4.0\"\n"
            ),
            None
        );
        // A branch's label is a tag too; numbers still decide.
        assert_eq!(
            fix(
                "__version__ = '6.6'\n",
                "__version__ = '6.6.bashcompletion'\n",
                "__version__ = '7.0-dev'\n"
            )
            .as_deref(),
            Some("__version__ = '7.0-dev'\n")
        );
        // Anything else changed, the same release tagged differently, or a
        // label against its release: no fix.
        assert_eq!(fix("v = '1.0'\n", "w = '1.1'\n", "v = '1.2'\n"), None);
        assert_eq!(
            fix(
                "version = '1.0'\n",
                "version = '1.1a1'\n",
                "version = '1.1rc1'\n"
            ),
            None
        );
        assert_eq!(
            fix(
                "version = '1.0'\n",
                "version = '1.1.x'\n",
                "version = '1.1'\n"
            ),
            None
        );
        // A number only one side bumps is a change of its own.
        assert_eq!(
            fix(
                "version = \"0.3.1\"\nrust-version = \"1.82\"\n",
                "version = \"0.3.2\"\nrust-version = \"1.82\"\n",
                "version = \"0.4.0\"\nrust-version = \"1.85\"\n"
            ),
            None
        );
        // Dotted numbers on a line that holds no version have no newer one.
        assert_eq!(
            fix("timeout = 0.5\n", "timeout = 0.7\n", "timeout = 0.6\n"),
            None
        );
        assert_eq!(fix("x = 1\n", "x = 2\n", "x = 3\n"), None);
        // Each side newer in one place.
        assert_eq!(
            fix(
                "versions(1.0, 1.0)\n",
                "versions(1.1, 1.0)\n",
                "versions(1.0, 1.1)\n"
            ),
            None
        );
    }

    #[test]
    fn imports_are_united_in_sorted_order_where_they_are_sorted() {
        let base = ["\t\"fmt\"\n", "\t\"strings\"\n"];
        let ours = ["\t\"fmt\"\n", "\t\"os\"\n", "\t\"strings\"\n"];
        let theirs = ["\t\"fmt\"\n", "\t\"io\"\n", "\t\"strings\"\n"];
        let text = HunkText {
            base: &base,
            ours: &ours,
            theirs: &theirs,
        };
        assert_eq!(
            unite_imports(&text).concat(),
            "\t\"fmt\"\n\t\"io\"\n\t\"os\"\n\t\"strings\"\n"
        );
        // Unsorted imports: each side's where it put them, ours first.
        let base = ["import zlib\n"];
        let ours = ["import zlib\n", "import os\n"];
        let theirs = ["import zlib\n", "import abc\n"];
        let text = HunkText {
            base: &base,
            ours: &ours,
            theirs: &theirs,
        };
        assert_eq!(
            unite_imports(&text).concat(),
            "import zlib\nimport os\nimport abc\n"
        );
    }

    #[test]
    fn an_item_both_sides_add_is_not_declared_twice() {
        let base = "package p\n\nfunc A() {}\n";
        let ours = "package p\n\nfunc A() {}\n\nfunc B() {}\n";
        let versions = Versions::new(base, ours, ours);
        let twice = "package p\n\nfunc B() {}\n\nfunc A() {}\n\nfunc B() {}\n";
        assert!(declared_twice(Language::Go, &versions, twice)
            .unwrap()
            .contains("`B`"));
        assert_eq!(declared_twice(Language::Go, &versions, ours), None);
        // Type declarations too.
        let ours = "package p\n\ntype I interface {\n\tM()\n}\n";
        let versions = Versions::new("package p\n", ours, ours);
        let twice = "package p\n\ntype I interface {\n\tM()\n}\n\ntype I interface {\n\tM()\n}\n";
        assert!(declared_twice(Language::Go, &versions, twice)
            .unwrap()
            .contains("`I`"));
    }

    #[test]
    fn insertions_of_much_the_same_code_are_not_independent() {
        let base: [&str; 0] = [];
        let ours = ["if a {\n", "\tb()\n", "}\n", "if c {\n", "\td()\n", "}\n"];
        let theirs = ["if a {\n", "\tb()\n", "}\n", "if c {\n", "\te()\n", "}\n"];
        let text = HunkText {
            base: &base,
            ours: &ours,
            theirs: &theirs,
        };
        let (our_gaps, their_gaps) = (gaps(&base, &ours), gaps(&base, &theirs));
        assert!(same_code_inserted(&text, &our_gaps, &their_gaps).is_some());
        let theirs = [
            "fn f() {\n",
            "\tb()\n",
            "\tlet x = 1;\n",
            "\tg(x);\n",
            "}\n",
        ];
        let text = HunkText {
            base: &base,
            ours: &ours,
            theirs: &theirs,
        };
        let their_gaps = gaps(&base, &theirs);
        assert_eq!(same_code_inserted(&text, &our_gaps, &their_gaps), None);
    }

    #[test]
    fn gaps_split_insertions_around_kept_lines() {
        let base = ["a\n"];
        let side = ["x\n", "a\n", "y\n"];
        let found = gaps(&base, &side);
        assert_eq!((found[0].start, found[0].end), (0, 1));
        assert_eq!((found[1].start, found[1].end), (2, 3));
    }
}
