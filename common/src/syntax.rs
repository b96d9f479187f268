//! What conflict analysis knows of source code: which languages it parses
//! (with tree-sitter grammars), how to parse only the part of a file around
//! a change, and the few questions it asks of a syntax tree — which lists
//! of statements, parameters or members a range of lines touches, which
//! definitions it holds and with what signature, whether a line is an
//! import — plus a tokenizer that ignores formatting.
//!
//! Parsing a whole file for every hunk would cost more than the merge
//! itself, so a hunk is parsed within its window: from the top-level line
//! that starts the item it is in to the line that starts the next item.
//! A window that does not parse cleanly is widened to the whole file.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

use tree_sitter::{InputEdit, Node, Parser, Point, Tree, TreeCursor};

/// A language whose files are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    TypeScript,
    Tsx,
    JavaScript,
    Python,
    Go,
}

impl Language {
    /// The language of a path, by its extension.
    pub fn of_path(path: &str) -> Option<Language> {
        let extension = path.rsplit_once('.').map(|(_, e)| e)?;
        Some(match extension {
            "rs" => Language::Rust,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "js" | "jsx" | "mjs" | "cjs" => Language::JavaScript,
            "py" | "pyi" => Language::Python,
            "go" => Language::Go,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::JavaScript => "javascript",
            Language::Python => "python",
            Language::Go => "go",
        }
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
        }
    }

    /// Whether indentation is syntax.
    pub fn is_python(self) -> bool {
        self == Language::Python
    }
}

/// Node kinds that hold a list of statements, parameters or members.
const CONTAINERS: &[&str] = &[
    // whole files
    "source_file",
    "program",
    "module",
    // statement lists
    "block",
    "statement_block",
    "statement_list",
    "switch_body",
    "match_block",
    // members
    "declaration_list",
    "field_declaration_list",
    "enum_variant_list",
    "class_body",
    "interface_body",
    "object_type",
    "enum_body",
    "object",
    "field_list",
    "import_spec_list",
    // parameters
    "parameters",
    "formal_parameters",
    "parameter_list",
    "type_parameters",
];

/// Node kinds that define a named symbol.
const DEFINITIONS: &[&str] = &[
    "function_item",
    "function_signature_item",
    "struct_item",
    "enum_item",
    "trait_item",
    "type_item",
    "mod_item",
    "const_item",
    "static_item",
    "macro_definition",
    "function_declaration",
    "generator_function_declaration",
    "function_signature",
    "class_declaration",
    "abstract_class_declaration",
    "method_definition",
    "method_signature",
    "interface_declaration",
    "type_alias_declaration",
    "enum_declaration",
    "function_definition",
    "class_definition",
    "method_declaration",
    "type_spec",
];

/// Node kinds that import.
const IMPORTS: &[&str] = &[
    "use_declaration",
    "extern_crate_declaration",
    "import_statement",
    "import_from_statement",
    "future_import_statement",
    "import_declaration",
    "import_spec",
];

/// A named definition: its name, its header as tokens, and the file line
/// (0-based) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub signature: String,
    pub line: usize,
}

/// What the questions asked of a tree need to know of each node kind of a
/// grammar, by kind id: looking a kind up by its name on every node costs
/// more than the walk itself.
struct Kinds {
    container: Vec<Option<&'static str>>,
    comment: Vec<bool>,
}

impl Kinds {
    fn of(language: Language) -> &'static Kinds {
        static TABLES: [OnceLock<Kinds>; 6] = [const { OnceLock::new() }; 6];
        TABLES[language as usize].get_or_init(|| {
            let grammar = language.grammar();
            let names: Vec<&str> = (0..grammar.node_kind_count())
                .map(|id| {
                    u16::try_from(id)
                        .ok()
                        .and_then(|id| grammar.node_kind_for_id(id))
                })
                .map(Option::unwrap_or_default)
                .collect();
            Kinds {
                container: names.iter().map(|name| container_named(name)).collect(),
                comment: names.iter().map(|name| name.contains("comment")).collect(),
            }
        })
    }

    /// The container kind of a node, as [`CONTAINERS`] names it.
    fn container(&self, node: Node) -> Option<&'static str> {
        match self.container.get(usize::from(node.kind_id())) {
            Some(kind) => *kind,
            None => container_named(node.kind()),
        }
    }

    fn is_comment(&self, node: Node) -> bool {
        match self.comment.get(usize::from(node.kind_id())) {
            Some(comment) => *comment,
            None => node.kind().contains("comment"),
        }
    }
}

/// A parsed stretch of lines of one version of a file.
pub struct Parsed {
    pub tree: Tree,
    kinds: &'static Kinds,
    /// The parsed text.
    pub text: String,
    /// The first line of the file that the text starts with.
    pub first_line: usize,
    /// Byte offset in `text` of each line start (relative lines).
    line_starts: Vec<usize>,
}

/// Parses `text` in `language`; `None` when the grammar cannot be loaded.
/// Each thread keeps one parser per language: a conflict is parsed in many
/// small windows, and making a parser costs about as much as parsing one.
pub fn parse(language: Language, text: &str) -> Option<Tree> {
    parse_reusing(language, text, None)
}

/// Parses `text`, reusing the parts of `old` (a tree edited to match it)
/// that the edit leaves alone.
fn parse_reusing(language: Language, text: &str, old: Option<&Tree>) -> Option<Tree> {
    thread_local! {
        static PARSERS: RefCell<[Option<Parser>; 6]> = const { RefCell::new([const { None }; 6]) };
    }
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let slot = &mut parsers[language as usize];
        if slot.is_none() {
            let mut parser = Parser::new();
            parser.set_language(&language.grammar()).ok()?;
            *slot = Some(parser);
        }
        slot.as_mut()?.parse(text, old)
    })
}

/// Whether `text` parses without a syntax error.
pub fn parses_cleanly(language: Language, text: &str) -> bool {
    parse(language, text).is_some_and(|tree| !tree.root_node().has_error())
}

/// Parses the window of `lines` around `range` (whole lines), widening it to
/// the whole file when the window has syntax errors. `None` when even the
/// whole file does not parse cleanly.
pub fn parse_around(language: Language, lines: &[&str], range: Range<usize>) -> Option<Parsed> {
    parse_around_like(language, lines, range, None)
}

/// [`parse_around`], reusing the tree of `similar`, the same stretch of
/// another version of the file: the versions of a conflict differ in a few
/// lines, and what they share is not parsed again. A window that does not
/// parse cleanly that way is parsed afresh before anything is concluded.
pub fn parse_around_like(
    language: Language,
    lines: &[&str],
    range: Range<usize>,
    similar: Option<&Parsed>,
) -> Option<Parsed> {
    let window = window(lines, range);
    let whole = 0..lines.len();
    if let Some(similar) = similar {
        let parsed = parse_lines_reusing(language, lines, window.clone(), Some(similar))?;
        if !parsed.tree.root_node().has_error() {
            return Some(parsed);
        }
    }
    let parsed = parse_lines(language, lines, window.clone())?;
    if !parsed.tree.root_node().has_error() {
        return Some(parsed);
    }
    if window == whole {
        return None;
    }
    let parsed = parse_lines(language, lines, whole)?;
    (!parsed.tree.root_node().has_error()).then_some(parsed)
}

fn parse_lines(language: Language, lines: &[&str], range: Range<usize>) -> Option<Parsed> {
    parse_lines_reusing(language, lines, range, None)
}

fn parse_lines_reusing(
    language: Language,
    lines: &[&str],
    range: Range<usize>,
    similar: Option<&Parsed>,
) -> Option<Parsed> {
    let text: String = lines[range.clone()].concat();
    let mut line_starts = Vec::with_capacity(range.len() + 1);
    let mut at = 0;
    for line in &lines[range.clone()] {
        line_starts.push(at);
        at += line.len();
    }
    line_starts.push(at);
    let old = similar.map(|similar| {
        let mut tree = similar.tree.clone();
        tree.edit(&edit_between(&similar.text, &text));
        tree
    });
    let tree = parse_reusing(language, &text, old.as_ref())?;
    Some(Parsed {
        tree,
        kinds: Kinds::of(language),
        text,
        first_line: range.start,
        line_starts,
    })
}

/// The edit that turns `old` into `new`: everything between their common
/// start and their common end, cut at character boundaries.
fn edit_between(old: &str, new: &str) -> InputEdit {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let mut start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while !(old.is_char_boundary(start) && new.is_char_boundary(start)) {
        start -= 1;
    }
    let most = a.len().min(b.len()) - start;
    let mut common_end = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(most)
        .take_while(|(x, y)| x == y)
        .count();
    while !(old.is_char_boundary(a.len() - common_end)
        && new.is_char_boundary(b.len() - common_end))
    {
        common_end -= 1;
    }
    let (old_end, new_end) = (a.len() - common_end, b.len() - common_end);
    InputEdit {
        start_byte: start,
        old_end_byte: old_end,
        new_end_byte: new_end,
        start_position: point_at(old, start),
        old_end_position: point_at(old, old_end),
        new_end_position: point_at(new, new_end),
    }
}

/// The row and column (in bytes) of a byte offset.
fn point_at(text: &str, byte: usize) -> Point {
    let before = &text.as_bytes()[..byte];
    let row = before.iter().filter(|&&c| c == b'\n').count();
    let column = before.len()
        - before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
    Point { row, column }
}

/// The lines from the start of the top-level item holding `range` to the
/// start of the next item after it.
fn window(lines: &[&str], range: Range<usize>) -> Range<usize> {
    let starts_item = |line: &str| {
        // A decorator or an attribute starts a window cleanly too: it
        // belongs to the item that follows.
        line.chars()
            .next()
            .is_some_and(|first| !first.is_whitespace() && !matches!(first, '}' | ')' | ']'))
    };
    let mut start = range.start.min(lines.len());
    while start > 0 && !(start < lines.len() && starts_item(lines[start])) {
        start -= 1;
    }
    let mut end = range.end.max(range.start + 1).min(lines.len());
    while end < lines.len() && !starts_item(lines[end]) {
        end += 1;
    }
    start..end
}

impl Parsed {
    /// The byte span in `text` of file lines `range`: from the first
    /// non-blank character to the end of the last non-blank one; an empty
    /// range (or blank lines only) is the point at the start of its line.
    pub fn span(&self, range: Range<usize>) -> Range<usize> {
        let relative = |line: usize| {
            line.saturating_sub(self.first_line)
                .min(self.line_starts.len() - 1)
        };
        let (from, to) = (
            self.line_starts[relative(range.start)],
            self.line_starts[relative(range.end)],
        );
        let slice = &self.text[from..to];
        let leading = slice.len() - slice.trim_start().len();
        let trailing = slice.len() - slice.trim_end().len();
        if leading == slice.len() {
            from..from
        } else {
            from + leading..to - trailing
        }
    }

    /// The kind and text of the named children of every statement,
    /// parameter or member list that `span` reaches into, outermost first:
    /// the shape a hunk has in this version.
    pub fn shape(&self, span: Range<usize>) -> Vec<(&'static str, Vec<(String, String)>)> {
        let mut shape = Vec::new();
        let mut cursor = self.tree.walk();
        self.collect_shape(&mut cursor, true, &span, &mut shape);
        shape
    }

    /// One walk of the nodes the span reaches, with one cursor: a node's
    /// parent and kind are not looked up again for each node, and the
    /// children before the span are skipped, not visited one by one.
    fn collect_shape(
        &self,
        cursor: &mut TreeCursor,
        is_root: bool,
        span: &Range<usize>,
        shape: &mut Vec<(&'static str, Vec<(String, String)>)>,
    ) {
        let node = cursor.node();
        if let Some(kind) = self.kinds.container(node) {
            if is_root || reaches_into(inner_range(node), span) {
                let mut children = Vec::new();
                // An empty span overlaps no child.
                if !span.is_empty() {
                    for child in named_children_within(cursor, span) {
                        if !self.kinds.is_comment(child) {
                            children.push((
                                child.kind().to_owned(),
                                token_text(&self.text[child.byte_range()]),
                            ));
                        }
                    }
                }
                shape.push((kind, children));
            }
        }
        // The children a span reaches start before its end (a point: before
        // it) and end after its start.
        let stop = if span.is_empty() {
            span.start
        } else {
            span.end
        };
        if cursor.goto_first_child_for_byte(span.start).is_none() {
            return;
        }
        loop {
            let child = cursor.node();
            let range = child.byte_range();
            if range.start >= stop {
                break;
            }
            if child.is_named()
                && (overlaps(range.clone(), span)
                    || (span.is_empty() && range.start < span.start && span.start < range.end))
            {
                self.collect_shape(cursor, false, span, shape);
            }
            if !cursor.goto_next_sibling() {
                break;
            }
        }
        cursor.goto_parent();
    }

    /// Definitions whose header (name, parameters, return type) touches
    /// `span`.
    pub fn definitions(&self, span: Range<usize>) -> Vec<Definition> {
        let mut found = Vec::new();
        self.collect_definitions(self.tree.root_node(), &span, &mut found);
        found
    }

    fn collect_definitions(&self, node: Node, span: &Range<usize>, found: &mut Vec<Definition>) {
        let range = node.byte_range();
        let touches = overlaps(range.clone(), span)
            || (span.is_empty() && range.start <= span.start && span.start < range.end);
        if !touches {
            return;
        }
        if DEFINITIONS.contains(&node.kind()) {
            if let Some(name) = definition_name(node) {
                let header_end = node
                    .child_by_field_name("body")
                    .map(|b| b.start_byte())
                    .unwrap_or(range.end);
                let header = range.start..header_end;
                if overlaps(header.clone(), span) || span.is_empty() && header.contains(&span.start)
                {
                    found.push(self.definition(name, header, node));
                }
            }
        } else if node.kind() == "variable_declarator" {
            // `const f = (a) => ...`: a function by another name.
            if let (Some(name), Some(value)) = (
                node.child_by_field_name("name"),
                node.child_by_field_name("value"),
            ) {
                if matches!(
                    value.kind(),
                    "arrow_function" | "function_expression" | "function"
                ) {
                    let header_end = value
                        .child_by_field_name("body")
                        .map(|b| b.start_byte())
                        .unwrap_or(range.end);
                    let header = range.start..header_end;
                    if overlaps(header.clone(), span) {
                        found.push(self.definition(name, header, node));
                    }
                }
            }
        }
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            self.collect_definitions(child, span, found);
        }
    }

    fn definition(&self, name: Node, header: Range<usize>, node: Node) -> Definition {
        Definition {
            name: self.text[name.byte_range()].to_owned(),
            signature: token_text(&self.text[header]),
            line: self.first_line + node.start_position().row,
        }
    }

    /// Names of the definitions that enclose `span`, outermost first.
    pub fn enclosing_symbols(&self, span: Range<usize>) -> Vec<String> {
        let mut names = Vec::new();
        let mut node = self.tree.root_node();
        loop {
            let mut cursor = node.walk();
            let next = node.named_children(&mut cursor).find(|child| {
                let range = child.byte_range();
                range.start <= span.start && span.end <= range.end && range != span
            });
            let Some(child) = next else { break };
            if DEFINITIONS.contains(&child.kind()) || child.kind() == "impl_item" {
                if let Some(name) = definition_name(child) {
                    names.push(self.text[name.byte_range()].to_owned());
                }
            }
            node = child;
        }
        names
    }

    /// Whether every non-blank line of file lines `range` is part of an
    /// import.
    pub fn all_imports(&self, range: Range<usize>) -> bool {
        let mut any = false;
        for line in range {
            let span = self.span(line..line + 1);
            if span.is_empty() {
                continue;
            }
            any = true;
            let Some(mut node) = self
                .tree
                .root_node()
                .descendant_for_byte_range(span.start, span.start)
            else {
                return false;
            };
            loop {
                if IMPORTS.contains(&node.kind()) || is_require(node, &self.text) {
                    break;
                }
                match node.parent() {
                    Some(parent) => node = parent,
                    None => return false,
                }
            }
        }
        any
    }

    /// Names declared by the outermost items that lie wholly within
    /// `span` (not the locals inside them).
    pub fn declared_names(&self, span: Range<usize>) -> HashSet<String> {
        let mut names = HashSet::new();
        let mut stack = vec![self.tree.root_node()];
        while let Some(node) = stack.pop() {
            let range = node.byte_range();
            if !overlaps(range.clone(), &span) {
                continue;
            }
            if span.start <= range.start && range.end <= span.end {
                let mut declarations = vec![node];
                // `export ...`, `const a = 1, b = 2`, decorated definitions.
                while let Some(item) = declarations.pop() {
                    let field = match item.kind() {
                        k if DEFINITIONS.contains(&k) => definition_name(item),
                        "let_declaration" => item.child_by_field_name("pattern"),
                        "variable_declarator" => item.child_by_field_name("name"),
                        "short_var_declaration" | "assignment" => item.child_by_field_name("left"),
                        "var_spec" | "const_spec" => item.child_by_field_name("name"),
                        "export_statement"
                        | "lexical_declaration"
                        | "variable_declaration"
                        | "decorated_definition"
                        | "expression_statement"
                        | "var_declaration"
                        | "const_declaration"
                        | "type_declaration" => {
                            let mut cursor = item.walk();
                            declarations.extend(item.named_children(&mut cursor));
                            None
                        }
                        _ => None,
                    };
                    if let Some(name) = field {
                        names.extend(words(&self.text[name.byte_range()]).map(str::to_owned));
                    }
                }
                continue;
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
        names
    }

    /// Whether the named children of containers that `span` touches lie
    /// either wholly inside it or wholly outside: the span is made of whole
    /// items.
    pub fn holds_whole_items(&self, span: Range<usize>) -> bool {
        if span.is_empty() {
            return true;
        }
        let mut whole = true;
        self.check_whole(self.tree.root_node(), &span, &mut whole);
        whole
    }

    fn check_whole(&self, node: Node, span: &Range<usize>, whole: &mut bool) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            let range = child.byte_range();
            if !overlaps(range.clone(), span) {
                continue;
            }
            let inside = span.start <= range.start && range.end <= span.end;
            if inside {
                continue;
            }
            if container_kind(node).is_some() && !child.kind().contains("comment") {
                // A child that straddles the span is only fine when the
                // span lies within one of its own lists.
                let holds = container_descendant_holding(child, span);
                if !holds {
                    *whole = false;
                    return;
                }
            }
            self.check_whole(child, span, whole);
        }
    }
}

fn container_descendant_holding(node: Node, span: &Range<usize>) -> bool {
    if container_kind(node).is_some() && {
        let inner = inner_range(node);
        inner.start <= span.start && span.end <= inner.end
    } {
        return true;
    }
    let mut cursor = node.walk();
    let children: Vec<Node> = node.named_children(&mut cursor).collect();
    children.into_iter().any(|child| {
        let range = child.byte_range();
        range.start <= span.start
            && span.end <= range.end
            && container_descendant_holding(child, span)
    })
}

fn is_require(node: Node, text: &str) -> bool {
    node.kind() == "lexical_declaration" && text[node.byte_range()].contains("require(")
}

fn container_kind(node: Node) -> Option<&'static str> {
    container_named(node.kind())
}

fn container_named(kind: &str) -> Option<&'static str> {
    CONTAINERS.iter().copied().find(|k| *k == kind)
}

/// The named children of the cursor's node that overlap a non-empty
/// `span`, the cursor left on that node.
fn named_children_within<'t>(cursor: &mut TreeCursor<'t>, span: &Range<usize>) -> Vec<Node<'t>> {
    let mut children = Vec::new();
    if cursor.goto_first_child_for_byte(span.start).is_some() {
        loop {
            let child = cursor.node();
            if child.start_byte() >= span.end {
                break;
            }
            if child.is_named() && overlaps(child.byte_range(), span) {
                children.push(child);
            }
            if !cursor.goto_next_sibling() {
                break;
            }
        }
        cursor.goto_parent();
    }
    children
}

fn definition_name(node: Node) -> Option<Node> {
    node.child_by_field_name("name")
        .or_else(|| node.child_by_field_name("type"))
        .or_else(|| {
            // Python decorators and Go type declarations wrap the definition.
            let mut cursor = node.walk();
            let inner = node
                .named_children(&mut cursor)
                .find(|c| DEFINITIONS.contains(&c.kind()));
            inner.and_then(|c| c.child_by_field_name("name"))
        })
}

/// A container's range inside its brackets, when it has them.
fn inner_range(node: Node) -> Range<usize> {
    let range = node.byte_range();
    let (mut start, mut end) = (range.start, range.end);
    if let Some(first) = node.child(0) {
        if !first.is_named() && matches!(first.kind(), "{" | "(" | "[" | "<") {
            start = first.end_byte();
        }
    }
    if let Some(last) = node.child(node.child_count().saturating_sub(1)) {
        if !last.is_named()
            && matches!(last.kind(), "}" | ")" | "]" | ">")
            && last.start_byte() >= start
        {
            end = last.start_byte();
        }
    }
    start..end
}

/// Whether a span (a point when empty) reaches into a range.
fn reaches_into(range: Range<usize>, span: &Range<usize>) -> bool {
    if span.is_empty() {
        range.start <= span.start && span.start <= range.end
    } else {
        overlaps(range, span)
    }
}

fn overlaps(range: Range<usize>, span: &Range<usize>) -> bool {
    !span.is_empty() && range.start < span.end && span.start < range.end
}

/// Every name-like word of the text, inside strings too (template strings
/// and format strings call code).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|word| is_identifier(word))
}

/// Whether a token is a name.
pub fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
}

/// The tokens of source text: names and numbers, string literals whole,
/// and every other non-blank character on its own. Formatting (spaces,
/// line breaks) does not change the tokens.
pub fn tokens(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        if c.is_ascii_whitespace() {
            at += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = at;
            while at < bytes.len()
                && (bytes[at].is_ascii_alphanumeric()
                    || bytes[at] == b'_'
                    || bytes[at] == b'$'
                    || bytes[at] >= 0x80)
            {
                at += 1;
            }
            tokens.push(&text[start..at]);
        } else if c == b'"' || c == b'\'' || c == b'`' {
            let start = at;
            at += 1;
            while at < bytes.len() && bytes[at] != c && !(c != b'`' && bytes[at] == b'\n') {
                if bytes[at] == b'\\' {
                    at += 1;
                }
                at += 1;
            }
            at = (at + 1).min(bytes.len());
            tokens.push(&text[start..at]);
        } else {
            tokens.push(&text[at..at + 1]);
            at += 1;
        }
    }
    tokens
}

/// Tokens joined by single spaces: text compared without its formatting.
pub fn token_text(text: &str) -> String {
    tokens(text).join(" ")
}

/// The formatting-free form of a hunk's text: its tokens, and for Python
/// also the indentation of each line that starts a statement.
pub fn layout_free(text: &str, python: bool) -> Vec<String> {
    if !python {
        return tokens(text).into_iter().map(str::to_owned).collect();
    }
    let mut out = Vec::new();
    let mut depth = 0i32;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if depth == 0 {
            out.push(format!("\u{0}indent{}", line.len() - trimmed.len()));
        }
        for token in tokens(line) {
            match token {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                _ => {}
            }
            out.push(token.to_owned());
        }
    }
    out
}

/// The names a file's top-level imports bind (`use`, `import`, `from …
/// import`, `require`, Go import specs: an alias, or the last element of
/// the path without a major version). Empty when the file does not parse.
pub fn imported_names(language: Language, text: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let Some(tree) = parse(language, text) else {
        return names;
    };
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.kind() == "import_spec" {
            names.extend(go_import_name(node, text));
        } else if IMPORTS.contains(&node.kind()) && node.kind() != "import_declaration"
            || is_require(node, text)
        {
            names.extend(import_bound_names(&text[node.byte_range()]));
        } else if node.parent().is_none() || node.kind().contains("import") {
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
    }
    names
}

fn go_import_name(spec: Node, text: &str) -> Option<String> {
    if let Some(alias) = spec.child_by_field_name("name") {
        return Some(text[alias.byte_range()].to_owned());
    }
    let path = spec.child_by_field_name("path")?;
    let path = text[path.byte_range()].trim_matches(|c| c == '"' || c == '`');
    let mut segments = path.rsplit('/');
    let mut last = segments.next()?;
    let is_version = |s: &str| {
        s.strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    if is_version(last) {
        last = segments.next()?;
    }
    // gopkg.in/yaml.v3 is package yaml.
    let last = last.split_once(".v").map_or(last, |(name, _)| name);
    Some(last.replace('-', "_"))
}

/// The names an import statement binds: a name followed by `,`, `}`, `)`,
/// `;`, `from` or the end, or following `as`; for `import a.b`, `a`.
pub fn import_bound_names(statement: &str) -> Vec<String> {
    let tokens = tokens(statement);
    let mut names = Vec::new();
    if tokens.first() == Some(&"import") && !tokens.contains(&"from") {
        // Python `import a.b, c as d`: the first name of each path.
        let mut at_start = true;
        for (index, token) in tokens.iter().enumerate().skip(1) {
            match *token {
                "," => at_start = true,
                "as" => {
                    if let Some(alias) = tokens.get(index + 1) {
                        names.pop();
                        names.push((*alias).to_owned());
                    }
                    at_start = false;
                }
                name if at_start && is_identifier(name) => {
                    names.push(name.to_owned());
                    at_start = false;
                }
                _ => {}
            }
        }
        if !names.is_empty() {
            return names;
        }
    }
    for (index, token) in tokens.iter().enumerate() {
        if !is_identifier(token)
            || matches!(
                *token,
                "self" | "as" | "import" | "use" | "from" | "pub" | "const" | "let" | "var"
            )
        {
            continue;
        }
        let next = tokens.get(index + 1).copied();
        let previous = index.checked_sub(1).map(|i| tokens[i]);
        if matches!(next, None | Some("," | "}" | ")" | ";" | "from" | "="))
            || previous == Some("as")
        {
            names.push((*token).to_owned());
        }
    }
    names
}

/// The names the top-level items of a file declare, once per declaration
/// (a name declared twice is listed twice); empty when it does not parse.
pub fn top_level_names(language: Language, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(parsed) = parse_lines(language, &lines, 0..lines.len()) else {
        return Vec::new();
    };
    let root = parsed.tree.root_node();
    let mut cursor = root.walk();
    let children: Vec<Node> = root.named_children(&mut cursor).collect();
    let mut names = Vec::new();
    for child in children {
        let mut found: Vec<String> = parsed
            .declared_names(child.byte_range())
            .into_iter()
            .collect();
        found.sort();
        names.extend(found);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_ignore_formatting_but_not_strings() {
        assert_eq!(
            tokens("let x=f( a,b );"),
            vec!["let", "x", "=", "f", "(", "a", ",", "b", ")", ";"]
        );
        assert_eq!(token_text("x = \"a  b\""), "x = \"a  b\"");
        assert_ne!(token_text("letx"), token_text("let x"));
    }

    #[test]
    fn python_indentation_counts() {
        assert_ne!(
            layout_free("if a:\n    b()\nc()\n", true),
            layout_free("if a:\n    b()\n    c()\n", true)
        );
        assert_eq!(
            layout_free("f(a,\n  b)\n", true),
            layout_free("f(a, b)\n", true)
        );
    }

    #[test]
    fn shapes_count_statements_and_parameters() {
        let lines = |t: &'static str| t.split_inclusive('\n').collect::<Vec<_>>();
        let base = lines("fn a(x: u32) {\n    f(x);\n}\n");
        let more = lines("fn a(x: u32, y: u32) {\n    f(x);\n}\n");
        let parsed_base = parse_around(Language::Rust, &base, 0..1).unwrap();
        let parsed_more = parse_around(Language::Rust, &more, 0..1).unwrap();
        let shape_base = parsed_base.shape(parsed_base.span(0..1));
        let shape_more = parsed_more.shape(parsed_more.span(0..1));
        let params = |s: &Vec<(&str, Vec<(String, String)>)>| {
            s.iter()
                .find(|(k, _)| *k == "parameters")
                .map(|(_, c)| c.len())
        };
        assert_eq!(params(&shape_base), Some(1));
        assert_eq!(params(&shape_more), Some(2));
        assert_eq!(parsed_more.definitions(parsed_more.span(0..1))[0].name, "a");
    }

    #[test]
    fn imports_are_recognised() {
        let go = "package x\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc f() {}\n"
            .split_inclusive('\n')
            .collect::<Vec<_>>();
        let parsed = parse_around(Language::Go, &go, 0..go.len()).unwrap();
        assert!(parsed.all_imports(3..5));
        assert!(!parsed.all_imports(7..8));
    }
}
