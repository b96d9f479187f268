//! Conflict classification: what kind of conflict each hunk of a file is,
//! how severe, and inside which symbols — from the three versions of the
//! file, parsed with tree-sitter where the language is known and line by
//! line otherwise.
//!
//! The classes, in the order they are decided:
//! - SEMANTIC: one side removes, renames or re-signs a definition that the
//!   other side's changed lines use, and the hunk holds that definition or
//!   that use (wins over every other class);
//! - TRIVIAL: the sides differ only in formatting, or both only add
//!   imports;
//! - STRUCTURAL: a side adds, removes or reorders statements, parameters or
//!   members in a list the hunk reaches into;
//! - CONCURRENT_EDIT: both sides rewrite the same statements, each keeping
//!   their number;
//! - UNKNOWN: a version does not parse, or (in a language we do not parse)
//!   the hunk changes the number of lines.

use std::cell::OnceCell;
use std::collections::HashSet;
use std::ops::Range;

use anyhow::Result;
use serde::Serialize;

use crate::merge3::{self, Change, Hunk, Lines, Merge, Versions};
use crate::syntax::{self, Language, Parsed};

/// A class of conflict, with the seed's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConflictType {
    Trivial,
    ConcurrentEdit,
    Structural,
    Semantic,
    Unknown,
}

impl ConflictType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictType::Trivial => "TRIVIAL",
            ConflictType::ConcurrentEdit => "CONCURRENT_EDIT",
            ConflictType::Structural => "STRUCTURAL",
            ConflictType::Semantic => "SEMANTIC",
            ConflictType::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(text: &str) -> Option<ConflictType> {
        [
            ConflictType::Trivial,
            ConflictType::ConcurrentEdit,
            ConflictType::Structural,
            ConflictType::Semantic,
            ConflictType::Unknown,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }

    /// Which class names a file with hunks of several classes.
    fn rank(self) -> u8 {
        match self {
            ConflictType::Trivial => 0,
            ConflictType::ConcurrentEdit => 1,
            ConflictType::Structural => 2,
            ConflictType::Unknown => 3,
            ConflictType::Semantic => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// 1-based inclusive line numbers, as editors show them (`end < start`
/// for an empty range: an insertion before `start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineSpan {
    pub start: usize,
    pub end: usize,
}

impl From<Lines> for LineSpan {
    fn from(lines: Lines) -> LineSpan {
        LineSpan {
            start: lines.start + 1,
            end: lines.end,
        }
    }
}

/// What one hunk is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HunkAnalysis {
    pub conflict_type: ConflictType,
    pub severity: Severity,
    pub base_lines: LineSpan,
    pub ours_lines: LineSpan,
    pub theirs_lines: LineSpan,
    /// Enclosing definitions, outermost first.
    pub symbols: Vec<String>,
    pub reason: String,
    #[serde(skip)]
    pub hunk: Hunk,
    /// Only for TRIVIAL: whether it is import additions (else formatting).
    #[serde(skip)]
    pub imports_only: bool,
    /// Only for STRUCTURAL: whether both sides only insert.
    #[serde(skip)]
    pub additions_only: bool,
}

/// A definition one side changes that the other side's changes use.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SemanticIssue {
    pub symbol: String,
    /// `ours` or `theirs`: the side that changed the definition.
    pub changed_by: &'static str,
    /// `removed or renamed`, or `signature changed`.
    pub change: &'static str,
    /// 1-based line of the definition in the base.
    pub base_line: usize,
}

/// What one conflicting file is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileAnalysis {
    pub file_path: String,
    /// The parsed language, or `null` for line-level analysis.
    pub language: Option<&'static str>,
    pub conflict_type: ConflictType,
    pub severity: Severity,
    pub hunks: Vec<HunkAnalysis>,
    pub symbols: Vec<String>,
    pub semantic_issues: Vec<SemanticIssue>,
}

impl FileAnalysis {
    /// A file that cannot be analysed by its text (binary, deleted on one
    /// side).
    pub fn unknown(file_path: &str, reason: &str) -> FileAnalysis {
        FileAnalysis {
            file_path: file_path.to_owned(),
            language: None,
            conflict_type: ConflictType::Unknown,
            severity: Severity::High,
            hunks: vec![HunkAnalysis {
                conflict_type: ConflictType::Unknown,
                severity: Severity::High,
                base_lines: LineSpan { start: 1, end: 0 },
                ours_lines: LineSpan { start: 1, end: 0 },
                theirs_lines: LineSpan { start: 1, end: 0 },
                symbols: Vec::new(),
                reason: reason.to_owned(),
                hunk: Hunk {
                    base: Lines { start: 0, end: 0 },
                    ours: Lines { start: 0, end: 0 },
                    theirs: Lines { start: 0, end: 0 },
                },
                imports_only: false,
                additions_only: false,
            }],
            symbols: Vec::new(),
            semantic_issues: Vec::new(),
        }
    }
}

/// Classifies every conflict hunk of a file. `semantics` turns on the
/// search for definitions one side changes and the other uses.
pub fn analyze(
    file_path: &str,
    base: &str,
    ours: &str,
    theirs: &str,
    semantics: bool,
) -> Result<(FileAnalysis, Merge)> {
    let language = Language::of_path(file_path);
    let versions = Versions::new(base, ours, theirs);
    let merge = merge3::merge(&versions, base, ours, theirs)?;
    let issues = match language {
        Some(language) if semantics => semantic_issues(language, &versions, &merge),
        _ => Vec::new(),
    };
    let hunks: Vec<HunkAnalysis> = merge3::hunks(&merge.regions)
        .into_iter()
        .map(|hunk| classify_hunk(language, &versions, hunk, &issues))
        .collect();
    let conflict_type = hunks
        .iter()
        .map(|h| h.conflict_type)
        .max_by_key(|t| t.rank())
        .unwrap_or(ConflictType::Trivial);
    let severity = hunks
        .iter()
        .map(|h| h.severity)
        .max()
        .unwrap_or(Severity::Low);
    let mut symbols: Vec<String> = Vec::new();
    for hunk in &hunks {
        for symbol in &hunk.symbols {
            if !symbols.contains(symbol) {
                symbols.push(symbol.clone());
            }
        }
    }
    let analysis = FileAnalysis {
        file_path: file_path.to_owned(),
        language: language.map(Language::name),
        conflict_type,
        severity,
        hunks,
        symbols,
        semantic_issues: issues.into_iter().map(|i| i.issue).collect(),
    };
    Ok((analysis, merge))
}

/// A hunk's lines in each version.
pub struct HunkText<'a> {
    pub base: &'a [&'a str],
    pub ours: &'a [&'a str],
    pub theirs: &'a [&'a str],
}

impl<'a> HunkText<'a> {
    pub fn of(versions: &'a Versions<'a>, hunk: &Hunk) -> HunkText<'a> {
        HunkText {
            base: &versions.base[hunk.base.start..hunk.base.end],
            ours: &versions.ours[hunk.ours.start..hunk.ours.end],
            theirs: &versions.theirs[hunk.theirs.start..hunk.theirs.end],
        }
    }
}

fn classify_hunk(
    language: Option<Language>,
    versions: &Versions,
    hunk: Hunk,
    issues: &[Located],
) -> HunkAnalysis {
    let text = HunkText::of(versions, &hunk);
    let python = language.is_some_and(Language::is_python);
    let mut result = HunkAnalysis {
        conflict_type: ConflictType::Unknown,
        severity: Severity::High,
        base_lines: hunk.base.into(),
        ours_lines: hunk.ours.into(),
        theirs_lines: hunk.theirs.into(),
        symbols: Vec::new(),
        reason: String::new(),
        hunk: hunk.clone(),
        imports_only: false,
        additions_only: false,
    };
    let parsed = language.map(|language| HunkTrees::new(language, versions, &hunk));
    if let Some(ours) = parsed.as_ref().and_then(HunkTrees::ours) {
        result.symbols = ours.enclosing_symbols(ours.span(range(hunk.ours)));
    } else if let Some(base) = parsed.as_ref().and_then(HunkTrees::base) {
        result.symbols = base.enclosing_symbols(base.span(range(hunk.base)));
    }
    let decide = |result: &mut HunkAnalysis, class, severity, reason: String| {
        result.conflict_type = class;
        result.severity = severity;
        result.reason = reason;
    };
    if let Some(issue) = issues.iter().find(|issue| issue.touches(&hunk, &text)) {
        let reason = format!(
            "{} changes `{}` ({}) and {} uses it",
            issue.issue.changed_by,
            issue.issue.symbol,
            issue.issue.change,
            if issue.issue.changed_by == "ours" {
                "theirs"
            } else {
                "ours"
            }
        );
        decide(&mut result, ConflictType::Semantic, Severity::High, reason);
        return result;
    }
    let (ours_text, theirs_text) = (merge3::join(text.ours), merge3::join(text.theirs));
    if syntax::layout_free(&ours_text, python) == syntax::layout_free(&theirs_text, python) {
        let reason = "the sides differ only in whitespace or formatting".to_owned();
        decide(&mut result, ConflictType::Trivial, Severity::Low, reason);
        return result;
    }
    let imports = match &parsed {
        Some(trees) => match (trees.ours(), trees.theirs()) {
            (Some(ours), Some(theirs)) => {
                ours.all_imports(range(hunk.ours))
                    && theirs.all_imports(range(hunk.theirs))
                    && (text.base.iter().all(|l| l.trim().is_empty())
                        || trees
                            .base()
                            .is_some_and(|b| b.all_imports(range(hunk.base))))
            }
            _ => false,
        },
        None => [text.base, text.ours, text.theirs]
            .iter()
            .all(|lines| lines.iter().all(|l| looks_like_import(l))),
    };
    if imports && keeps_base(text.base, text.ours) && keeps_base(text.base, text.theirs) {
        result.imports_only = true;
        let reason = "both sides only add imports".to_owned();
        decide(&mut result, ConflictType::Trivial, Severity::Low, reason);
        return result;
    }
    let Some(parsed) = parsed else {
        // Line by line: same number of lines on every side is an edit.
        if !text.base.is_empty()
            && text.base.len() == text.ours.len()
            && text.base.len() == text.theirs.len()
        {
            let reason = "both sides rewrite the same lines".to_owned();
            decide(
                &mut result,
                ConflictType::ConcurrentEdit,
                Severity::Medium,
                reason,
            );
        } else {
            let reason = "the sides change different numbers of lines in a file that is not parsed"
                .to_owned();
            decide(&mut result, ConflictType::Unknown, Severity::High, reason);
        }
        return result;
    };
    let (Some(base), Some(ours), Some(theirs)) = (parsed.base(), parsed.ours(), parsed.theirs())
    else {
        let reason = "a version of the file does not parse".to_owned();
        decide(&mut result, ConflictType::Unknown, Severity::High, reason);
        return result;
    };
    let base_shape = base.shape(base.span(range(hunk.base)));
    let changes = [
        (
            "ours",
            shape_change(&base_shape, &ours.shape(ours.span(range(hunk.ours)))),
        ),
        (
            "theirs",
            shape_change(&base_shape, &theirs.shape(theirs.span(range(hunk.theirs)))),
        ),
    ];
    let structural: Vec<String> = changes
        .iter()
        .filter_map(|(side, change)| change.as_ref().map(|c| format!("{side} {c}")))
        .collect();
    if structural.is_empty() {
        let reason = "both sides rewrite the same statements, adding or removing none".to_owned();
        decide(
            &mut result,
            ConflictType::ConcurrentEdit,
            Severity::Medium,
            reason,
        );
    } else {
        let additions = keeps_base(text.base, text.ours) && keeps_base(text.base, text.theirs);
        result.additions_only = additions;
        let severity = if additions {
            Severity::Low
        } else {
            Severity::Medium
        };
        decide(
            &mut result,
            ConflictType::Structural,
            severity,
            structural.join("; "),
        );
    }
    result
}

/// A hunk's window parsed in each version, each only when a question
/// needs it: most hunks are decided before all three are asked.
struct HunkTrees<'v> {
    language: Language,
    versions: &'v Versions<'v>,
    hunk: &'v Hunk,
    base: OnceCell<Option<Parsed>>,
    ours: OnceCell<Option<Parsed>>,
    theirs: OnceCell<Option<Parsed>>,
}

impl<'v> HunkTrees<'v> {
    fn new(language: Language, versions: &'v Versions<'v>, hunk: &'v Hunk) -> HunkTrees<'v> {
        HunkTrees {
            language,
            versions,
            hunk,
            base: OnceCell::new(),
            ours: OnceCell::new(),
            theirs: OnceCell::new(),
        }
    }

    fn base(&self) -> Option<&Parsed> {
        self.parsed(&self.base, &self.versions.base, self.hunk.base)
    }

    fn ours(&self) -> Option<&Parsed> {
        self.parsed(&self.ours, &self.versions.ours, self.hunk.ours)
    }

    fn theirs(&self) -> Option<&Parsed> {
        self.parsed(&self.theirs, &self.versions.theirs, self.hunk.theirs)
    }

    fn parsed<'c>(
        &self,
        cell: &'c OnceCell<Option<Parsed>>,
        lines: &[&str],
        at: Lines,
    ) -> Option<&'c Parsed> {
        cell.get_or_init(|| {
            // The first version parsed lends its tree to the others.
            let similar = [&self.base, &self.ours, &self.theirs]
                .into_iter()
                .find_map(|other| other.get().and_then(Option::as_ref));
            syntax::parse_around_like(self.language, lines, range(at), similar)
        })
        .as_ref()
    }
}

fn range(lines: Lines) -> Range<usize> {
    lines.start..lines.end
}

/// Whether `side` keeps every line of `base`, in order (it only inserts).
pub fn keeps_base(base: &[&str], side: &[&str]) -> bool {
    let mut at = 0;
    for line in base {
        match side[at..]
            .iter()
            .position(|s| s.trim_end() == line.trim_end())
        {
            Some(found) => at += found + 1,
            None => return false,
        }
    }
    true
}

fn looks_like_import(line: &str) -> bool {
    let line = line.trim();
    line.is_empty()
        || [
            "import ",
            "from ",
            "use ",
            "#include ",
            "@import ",
            "require ",
        ]
        .iter()
        .any(|prefix| line.starts_with(prefix))
        || line.contains("require(")
}

type Shape = Vec<(&'static str, Vec<(String, String)>)>;

/// How a side's shape differs from the base's: `None` when it only rewrites.
fn shape_change(base: &Shape, side: &Shape) -> Option<String> {
    for ((base_kind, base_items), (side_kind, side_items)) in base.iter().zip(side) {
        let what = describe_list(base_kind);
        if base_kind != side_kind {
            return Some("changes the nesting of blocks".to_owned());
        }
        if base_items.len() < side_items.len() {
            return Some(format!("adds {what}"));
        }
        if base_items.len() > side_items.len() {
            return Some(format!("removes {what}"));
        }
        if base_items != side_items {
            let (mut a, mut b) = (base_items.clone(), side_items.clone());
            a.sort();
            b.sort();
            if a == b {
                return Some(format!("reorders {what}"));
            }
        }
    }
    (base.len() != side.len()).then(|| "changes the nesting of blocks".to_owned())
}

fn describe_list(kind: &str) -> &'static str {
    match kind {
        k if k.contains("param") => "parameters",
        "source_file" | "program" | "module" => "top-level items",
        "declaration_list"
        | "field_declaration_list"
        | "enum_variant_list"
        | "class_body"
        | "interface_body"
        | "object_type"
        | "enum_body"
        | "object"
        | "field_list"
        | "import_spec_list" => "members",
        _ => "statements",
    }
}

/// A semantic issue with where it lies.
struct Located {
    issue: SemanticIssue,
    /// The definition's line in the base and in the changing side.
    base_line: usize,
    side_line: Option<usize>,
    changed_by_ours: bool,
}

impl Located {
    /// Whether a hunk holds the changed definition, or a use of it on the
    /// other side.
    fn touches(&self, hunk: &Hunk, text: &HunkText) -> bool {
        let (side_lines, other_text) = if self.changed_by_ours {
            (hunk.ours, text.theirs)
        } else {
            (hunk.theirs, text.ours)
        };
        let holds_definition = (hunk.base.start..hunk.base.end).contains(&self.base_line)
            || self
                .side_line
                .is_some_and(|line| (side_lines.start..side_lines.end).contains(&line));
        holds_definition
            || other_text
                .iter()
                .any(|line| syntax::words(line).any(|word| word == self.issue.symbol))
    }
}

/// Definitions each side removes, renames or re-signs that the other side's
/// changed lines use.
fn semantic_issues(language: Language, versions: &Versions, merge: &Merge) -> Vec<Located> {
    let ours = side_symbols(language, versions, &versions.ours, &merge.our_changes);
    let theirs = side_symbols(language, versions, &versions.theirs, &merge.their_changes);
    let mut issues = Vec::new();
    for (changed, other, by_ours) in [(&ours, &theirs, true), (&theirs, &ours, false)] {
        for change in &changed.changed {
            if other.used.contains(&change.name) {
                issues.push(Located {
                    issue: SemanticIssue {
                        symbol: change.name.clone(),
                        changed_by: if by_ours { "ours" } else { "theirs" },
                        change: if change.side_line.is_some() {
                            "signature changed"
                        } else {
                            "removed or renamed"
                        },
                        base_line: change.base_line + 1,
                    },
                    base_line: change.base_line,
                    side_line: change.side_line,
                    changed_by_ours: by_ours,
                });
            }
        }
    }
    issues
}

struct ChangedDefinition {
    name: String,
    base_line: usize,
    /// Where the re-signed definition is; `None` when it is gone.
    side_line: Option<usize>,
}

struct SideSymbols {
    changed: Vec<ChangedDefinition>,
    /// Names used in the side's changed lines (not counting the
    /// definitions it changes).
    used: HashSet<String>,
}

fn side_symbols(
    language: Language,
    versions: &Versions,
    side: &[&str],
    changes: &[Change],
) -> SideSymbols {
    let mut changed = Vec::new();
    let mut used = HashSet::new();
    let mut defined = HashSet::new();
    for change in changes {
        let base_lines = &versions.base[change.base.start..change.base.end];
        // Parsing is only worth it where a definition may start.
        let base_defs = if may_define(language, base_lines) {
            parse_definitions(language, &versions.base, change.base)
        } else {
            Vec::new()
        };
        let side_defs = if base_defs.is_empty() {
            Vec::new()
        } else {
            parse_definitions(language, side, change.side)
        };
        for def in &side_defs {
            defined.insert(def.name.clone());
        }
        for def in &base_defs {
            match side_defs.iter().find(|d| d.name == def.name) {
                Some(same) if same.signature == def.signature => {}
                Some(other) => changed.push(ChangedDefinition {
                    name: def.name.clone(),
                    base_line: def.line,
                    side_line: Some(other.line),
                }),
                None => changed.push(ChangedDefinition {
                    name: def.name.clone(),
                    base_line: def.line,
                    side_line: None,
                }),
            }
        }
        for line in &side[change.side.start..change.side.end] {
            used.extend(syntax::words(line).map(str::to_owned));
        }
    }
    for name in &defined {
        used.remove(name);
    }
    SideSymbols { changed, used }
}

/// Whether lines may hold the start of a definition: a keyword that
/// introduces one, or (in JavaScript and TypeScript, whose methods have
/// none) a line that opens a block after a parameter list.
fn may_define(language: Language, lines: &[&str]) -> bool {
    let keywords: &[&str] = match language {
        Language::Rust => &[
            "fn",
            "struct",
            "enum",
            "trait",
            "type",
            "impl",
            "mod",
            "const",
            "static",
            "macro_rules",
        ],
        Language::Python => &["def", "class"],
        Language::Go => &["func", "type"],
        Language::TypeScript | Language::Tsx | Language::JavaScript => {
            &["function", "class", "interface", "type", "enum", "=>"]
        }
    };
    lines.iter().any(|line| {
        let trimmed = line.trim();
        syntax::words(line).any(|word| keywords.contains(&word))
            || trimmed.contains("=>")
            || (!matches!(language, Language::Rust | Language::Python | Language::Go)
                && trimmed.ends_with('{')
                && trimmed.contains('(')
                && !["if", "for", "while", "switch", "catch", "else", "return"]
                    .iter()
                    .any(|k| trimmed.starts_with(k)))
    })
}

fn parse_definitions(
    language: Language,
    lines: &[&str],
    changed: Lines,
) -> Vec<syntax::Definition> {
    if changed.is_empty() {
        return Vec::new();
    }
    syntax::parse_around(language, lines, range(changed))
        .map(|parsed: Parsed| parsed.definitions(parsed.span(range(changed))))
        .unwrap_or_default()
}

/// The definitions whose header lies in (or touches) `changed` lines of a
/// version: what a change there may rename, remove or re-sign.
pub fn definitions_in(
    language: Language,
    lines: &[&str],
    changed: Lines,
) -> Vec<syntax::Definition> {
    if !may_define(language, &lines[changed.start..changed.end]) {
        return Vec::new();
    }
    parse_definitions(language, lines, changed)
}
