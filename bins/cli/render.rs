//! Small helpers for human output: aligned tables, short forms, and
//! [`quoted`], which every path or other text from outside the program
//! goes through before it reaches a terminal line.
//!
//! Invariant: nothing printed through [`table`] holds a control character;
//! a cell that does is shown [`quoted`], so a newline cannot break a table
//! and an escape sequence cannot reach the terminal. `--json` output is
//! not made here and stays exact.

use std::borrow::Cow;

/// Text from outside the program (a path, a file name, a reason an agent
/// gave) made safe for one terminal line, the way git's `core.quotePath`
/// shows paths: as it is when it is plain, otherwise in double quotes with
/// C-style escapes (`\n`, `\t`, `\"`, `\\`, and octal bytes such as
/// `\033` for other control characters). Printable non-ASCII characters
/// stay as they are; the invisible ones that reorder or break lines
/// (bidirectional controls, line and paragraph separators) are escaped.
pub fn quoted(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| needs_escape(c) || c == '"' || c == '\\')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let mut bytes = [0; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    out.push_str(&format!("\\{byte:03o}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// Characters a terminal line must not show raw: control characters (C0,
/// DEL, C1) and invisible ones that reorder or break lines.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Formats rows as columns separated by two spaces, each as wide as its
/// widest cell (the last column is not padded). A cell holding a control
/// character is shown [`quoted`].
pub fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| {
                    if cell.chars().any(needs_escape) {
                        quoted(cell)
                    } else {
                        Cow::Borrowed(cell.as_str())
                    }
                })
                .collect()
        })
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in &rows {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[index] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The width lines should fit in: the terminal's when standard output is
/// one, else `$COLUMNS`; unbounded otherwise (output for a pipe keeps each
/// entry on one line, for grep).
pub fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ only writes the winsize struct it is given.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let on_terminal = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if on_terminal && size.ws_col > 0 {
        return usize::from(size.ws_col);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.trim().parse().ok())
        .filter(|columns: &usize| *columns > 0)
        .unwrap_or(usize::MAX)
}

/// Key-value lines that fit in `width`: the keys in a column, each value
/// broken at spaces into lines as wide as the rest of the line allows, its
/// further lines under its first (a word longer than that stays whole).
/// Cells holding control characters are shown [`quoted`].
pub fn wrapped_fields(pairs: &[(String, String)], width: usize) -> String {
    let safe = |text: &str| -> String {
        if text.chars().any(needs_escape) {
            quoted(text).into_owned()
        } else {
            text.to_owned()
        }
    };
    let key_width = pairs
        .iter()
        .map(|(key, _)| safe(key).chars().count())
        .max()
        .unwrap_or(0);
    let room = width.saturating_sub(key_width + 2).max(20);
    let mut out = String::new();
    for (key, value) in pairs {
        let key = safe(key);
        let mut lines = wrap(&safe(value), room).into_iter();
        let first = lines.next().unwrap_or_default();
        let padding = key_width - key.chars().count() + 2;
        out.push_str(format!("{key}{}{first}", " ".repeat(padding)).trim_end());
        out.push('\n');
        for line in lines {
            out.push_str(&" ".repeat(key_width + 2));
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Breaks `text` at spaces into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Key-value lines with the keys aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|(k, v)| vec![k.to_string(), v.clone()])
        .collect();
    table(&rows)
}

/// The first eight characters of an id.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Minutes as `5m`, `2h05m` or `3d4h`.
pub fn minutes(total: i64) -> String {
    match total {
        m if m < 60 => format!("{m}m"),
        m if m < 24 * 60 => format!("{}h{:02}m", m / 60, m % 60),
        m => format!("{}d{}h", m / (24 * 60), m % (24 * 60) / 60),
    }
}

/// A value as one word of a shell command: as it is when that is safe,
/// else quoted; with control characters, in bash's `$'...'` form so the
/// command can be pasted and shows no raw control character.
pub fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c));
    if plain {
        return value.to_owned();
    }
    if !value.chars().any(char::is_control) {
        return shell_quote(value);
    }
    let mut quoted = String::from("$'");
    for c in value.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '\'' => quoted.push_str("\\'"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => {
                let mut bytes = [0u8; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    quoted.push_str(&format!("\\{byte:03o}"));
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// Quotes a value for POSIX shells.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// `no files`, `1 file`, `2 files`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// A size for people: `512 B`, `1.5 KiB`, `23.4 MiB`, `1.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_come_back_byte_for_byte_through_bash() {
        for value in [
            "/plain/path",
            "two words",
            "it's",
            "a\nnew line and \u{1b}[31m and \\ and '",
            "tab\there",
        ] {
            let word = shell_word(value);
            assert!(!word.chars().any(char::is_control), "{word:?}");
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf %s {word}"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), value, "{word}");
        }
    }

    #[test]
    fn plain_text_is_kept_and_the_rest_quoted_as_git_does() {
        assert_eq!(
            quoted("/home/me/app-worktrees/parallel-1"),
            "/home/me/app-worktrees/parallel-1"
        );
        assert_eq!(quoted("dossier/été 2026.md"), "dossier/été 2026.md");
        assert_eq!(quoted("a\nb\tc"), "\"a\\nb\\tc\"");
        assert_eq!(quoted("red\u{1b}[31m"), "\"red\\033[31m\"");
        assert_eq!(quoted("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
        assert_eq!(quoted("bell\u{7}del\u{7f}"), "\"bell\\adel\\177\"");
        assert_eq!(quoted("csi\u{9b}"), "\"csi\\302\\233\"");
        assert_eq!(quoted("abc\u{202e}txt"), "\"abc\\342\\200\\256txt\"");
    }

    #[test]
    fn a_shell_word_with_a_control_character_is_ansi_c_quoted() {
        assert_eq!(shell_word("/a/b"), "/a/b");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("a\nb\u{1b}[31m'c"), "$'a\\nb\\033[31m\\'c'");
    }

    #[test]
    fn a_table_cell_with_a_control_character_is_quoted() {
        let rows = vec![
            vec!["PATH".to_owned(), "STATE".to_owned()],
            vec!["a\nb".to_owned(), "ok".to_owned()],
        ];
        assert_eq!(table(&rows), "PATH    STATE\n\"a\\nb\"  ok\n");
    }

    #[test]
    fn wrapped_fields_fit_the_width_and_keep_their_column() {
        let pairs = vec![
            ("a.key".to_owned(), "short (default)".to_owned()),
            (
                "longer.key".to_owned(),
                "one two three four five six seven".to_owned(),
            ),
        ];
        assert_eq!(
            wrapped_fields(&pairs, 32),
            "a.key       short (default)\nlonger.key  one two three four\n            five six seven\n"
        );
        for line in wrapped_fields(&pairs, 32).lines() {
            assert!(line.chars().count() <= 32, "{line}");
        }
    }
}
