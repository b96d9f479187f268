//! Keeping secrets out of everything written: logs, results, reports,
//! database rows and `--json` output. A [`Redactor`] knows the secret values
//! of one run (the values of its secret environment variables) and also
//! recognises the shapes of common tokens and private keys.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Prefixes of well-known token formats; the run of token characters after
/// one is a secret when the whole is long enough.
const TOKEN_PREFIXES: &[&str] = &[
    "sk-ant-",
    "sk-proj-",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "npm_",
    "xoxb-",
    "xoxp-",
    "e2b_",
    "AKIA",
];

/// Whether an environment variable's name says it carries a secret
/// (`AUTH` in it, but not as part of `AUTHOR`: git's author is no secret).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase().replace("AUTHOR", "");
    [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

/// Replaces secrets in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for the secret values among these environment variables
    /// (by name), longest first so that no part of one survives.
    pub fn for_environment<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut redactor = Redactor::default();
        for (name, value) in vars {
            if is_secret_name(name) {
                redactor.add(value);
            }
        }
        redactor
    }

    /// Adds one secret value. Very short values are ignored: masking them
    /// would garble ordinary text without protecting anything.
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() >= 6 && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_owned());
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// The text with every known secret value, token and private key masked.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out: Cow<'t, str> = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        if let Some(masked) = mask_private_keys(&out) {
            out = Cow::Owned(masked);
        }
        if let Some(masked) = mask_tokens(&out) {
            out = Cow::Owned(masked);
        }
        if let Some(masked) = mask_bearer(&out) {
            out = Cow::Owned(masked);
        }
        out
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Masks `<prefix><token characters>` runs of at least 16 characters.
fn mask_tokens(text: &str) -> Option<String> {
    if !TOKEN_PREFIXES.iter().any(|p| text.contains(p)) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    'scan: while !rest.is_empty() {
        for prefix in TOKEN_PREFIXES {
            if rest.starts_with(prefix) {
                let boundary = out.chars().last().is_none_or(|c| !is_token_char(c));
                let len = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
                if boundary && len >= 16 {
                    out.push_str(MASK);
                    rest = &rest[len..];
                    changed = true;
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    changed.then_some(out)
}

/// Masks the credential after `Bearer ` (as in an Authorization header).
fn mask_bearer(text: &str) -> Option<String> {
    const WORD: &str = "Bearer ";
    if !text.contains(WORD) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find(WORD) {
        out.push_str(&rest[..at + WORD.len()]);
        rest = &rest[at + WORD.len()..];
        let len = rest
            .find(|c: char| !(is_token_char(c) || c == '.' || c == '=' || c == '+' || c == '/'))
            .unwrap_or(rest.len());
        if len >= 8 {
            out.push_str(MASK);
            rest = &rest[len..];
            changed = true;
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Masks PEM private key blocks, whole or cut off.
fn mask_private_keys(text: &str) -> Option<String> {
    const BEGIN: &str = "-----BEGIN ";
    if !text.contains("PRIVATE KEY-----") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find(BEGIN) {
        let header_end = rest[at..].find("-----\n").map(|i| at + i);
        let is_private = rest[at..]
            .lines()
            .next()
            .is_some_and(|line| line.contains("PRIVATE KEY-----"));
        if !is_private {
            out.push_str(&rest[..at + BEGIN.len()]);
            rest = &rest[at + BEGIN.len()..];
            continue;
        }
        out.push_str(&rest[..at]);
        out.push_str(MASK);
        changed = true;
        let after = header_end.unwrap_or(at);
        rest = match rest[after..].find("-----END ") {
            Some(end) => {
                let end = after + end;
                match rest[end + 9..].find("-----") {
                    Some(close) => &rest[end + 9 + close + 5..],
                    None => "",
                }
            }
            None => "",
        };
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_told_from_git_identities() {
        for name in [
            "ANTHROPIC_AUTH_TOKEN",
            "OAUTH_CLIENT",
            "db_password",
            "E2B_API_KEY",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "AUTHORS_FILE",
            "PATH",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn known_values_and_token_shapes_are_masked() {
        let redactor =
            Redactor::for_environment([("ANTHROPIC_API_KEY", "abc123secret"), ("HOME", "/root")]);
        let text = "key=abc123secret home=/root gh=ghp_ABCDEFGHIJKLMNOPQRSTUVWX short=ghp_x";
        assert_eq!(
            redactor.redact(text),
            "key=[REDACTED] home=/root gh=[REDACTED] short=ghp_x"
        );
        assert_eq!(
            redactor.redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x"),
            "Authorization: Bearer [REDACTED]"
        );
    }

    #[test]
    fn private_key_blocks_are_masked_whole() {
        let redactor = Redactor::default();
        let text = "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\nafter";
        assert_eq!(redactor.redact(text), "before\n[REDACTED]\nafter");
        let cut = "x -----BEGIN RSA PRIVATE KEY-----\nAAAA";
        assert_eq!(redactor.redact(cut), "x [REDACTED]");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        let redactor = Redactor::for_environment([("GITHUB_TOKEN", "tok-123456")]);
        assert!(matches!(
            redactor.redact("nothing secret here"),
            Cow::Borrowed(_)
        ));
    }
}
