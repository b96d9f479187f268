//! Sandbox templates: the built-ins shipped in `templates/` and the user's
//! own in `<data dir>/templates/`, as JSON files with the TypeScript tool's
//! fields (`name, description, e2bTemplate, setupCommands[], environment{},
//! metadata{}`).
//!
//! The built-ins are compiled into the executables, so an installed binary
//! has them wherever it runs. A user template is `<data dir>/templates/
//! <name>.json`; its file name is its name, and one with a built-in's name
//! takes that built-in's place (its [`TemplateEntry::overrides`] is true).
//!
//! Templates are read strictly: unknown fields, values of the wrong type,
//! names that could not be file names and environment variables that look
//! like secrets are refused with one line that says which file and what.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::UserError;

/// One template.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub e2b_template: Option<String>,
    #[serde(default)]
    pub setup_commands: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The agent its runs start (a profile's name; `--agent` and a task's
    /// own agent go before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// The fields a template file may have, in the order they are written.
pub const FIELDS: [&str; 7] = [
    "name",
    "description",
    "e2bTemplate",
    "setupCommands",
    "environment",
    "metadata",
    "agent",
];

/// The longest template name.
pub const MAX_NAME_LEN: usize = 64;

/// Words that make an environment variable look like it carries a secret.
const SECRET_WORDS: [&str; 4] = ["KEY", "TOKEN", "SECRET", "PASSWORD"];

/// The built-in templates: name and the JSON shipped in `templates/`.
const BUILTINS: [(&str, &str); 3] = [
    (
        "full-stack-nextjs",
        include_str!("../../templates/full-stack-nextjs.json"),
    ),
    (
        "node-20-typescript",
        include_str!("../../templates/node-20-typescript.json"),
    ),
    (
        "python-3.12-fastapi",
        include_str!("../../templates/python-3.12-fastapi.json"),
    ),
];

/// What a template file is read as: [`Template`]'s fields and no others.
#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "a template object"
)]
struct TemplateFile {
    name: String,
    description: String,
    #[serde(default)]
    e2b_template: Option<String>,
    #[serde(default)]
    setup_commands: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    agent: Option<String>,
}

impl From<TemplateFile> for Template {
    fn from(file: TemplateFile) -> Template {
        Template {
            name: file.name,
            description: file.description,
            e2b_template: file.e2b_template,
            setup_commands: file.setup_commands,
            environment: file.environment,
            metadata: file.metadata,
            agent: file.agent,
        }
    }
}

/// Where a template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateSource {
    /// Shipped with parallel-cc.
    Builtin,
    /// A file in `<data dir>/templates/`.
    User,
}

impl TemplateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateSource::Builtin => "builtin",
            TemplateSource::User => "user",
        }
    }
}

/// A template as [`list`] finds it.
///
/// A user template file that cannot be used (not JSON, unknown fields, a
/// secret-looking variable, a name that does not match its file name) does
/// not hide the others: it is listed with `template: None` and `error`
/// saying what is wrong, and [`find`] refuses it with that message.
///
/// As JSON it is the template's own fields followed by `source`
/// (`"builtin"` or `"user"`), `path` (the user file, `null` for built-ins),
/// `overrides` (a user template in a built-in's place) and, for a broken
/// file, `error` (then only `name` stands for the template).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateEntry {
    pub name: String,
    pub source: TemplateSource,
    pub path: Option<PathBuf>,
    pub overrides: bool,
    pub template: Option<Template>,
    pub error: Option<String>,
}

impl Serialize for TemplateEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = match self.template.as_ref().map(serde_json::to_value) {
            Some(Ok(Value::Object(fields))) => fields,
            _ => {
                let mut fields = Map::new();
                fields.insert("name".into(), self.name.clone().into());
                fields
            }
        };
        map.insert("source".into(), self.source.as_str().into());
        map.insert(
            "path".into(),
            match &self.path {
                Some(path) => path.to_string_lossy().into_owned().into(),
                None => Value::Null,
            },
        );
        map.insert("overrides".into(), self.overrides.into());
        if let Some(error) = &self.error {
            map.insert("error".into(), error.clone().into());
        }
        map.serialize(serializer)
    }
}

/// The directory of user templates inside a data directory.
pub fn templates_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("templates")
}

/// The file a user template of this name lives in.
pub fn user_path(data_dir: &Path, name: &str) -> PathBuf {
    templates_dir(data_dir).join(format!("{name}.json"))
}

/// Whether a built-in template has this name.
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|(builtin, _)| *builtin == name)
}

/// The built-in template of this name.
pub fn builtin(name: &str) -> Option<Template> {
    BUILTINS
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(builtin, text)| {
            parse(text, &format!("built-in template {builtin}"))
                .expect("the built-in templates are valid")
        })
}

/// Every built-in template, by name.
pub fn builtins() -> Vec<Template> {
    BUILTINS
        .iter()
        .filter_map(|(name, _)| builtin(name))
        .collect()
}

/// The template as it is written to a file: pretty JSON and a newline.
pub fn to_json(template: &Template) -> String {
    let mut text = serde_json::to_string_pretty(template).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads a template's JSON, refusing malformed JSON, unknown fields and
/// values of the wrong type; `origin` (a file name) starts the message.
/// The values are not checked: see [`validate`].
pub fn parse(text: &str, origin: &str) -> Result<Template> {
    use serde_json::error::Category;
    let file: TemplateFile = serde_json::from_str(text).map_err(|err| {
        let what = match err.classify() {
            Category::Syntax | Category::Eof | Category::Io => "is not valid JSON",
            Category::Data => "is not a valid template",
        };
        UserError::new(format!("{origin} {what}: {err}"))
    })?;
    Ok(file.into())
}

/// Reads a template file (see [`parse`]; the values are not checked).
pub fn read(path: &Path) -> Result<Template> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| UserError::new(format!("cannot read {}: {err}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// Checks a template name: 1 to 64 letters, digits, `.`, `_` or `-`, not
/// starting with `.` or `-` (so it is always a plain file name).
pub fn validate_name(name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_LEN
        && name.chars().all(allowed)
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(UserError::new(format!(
            "invalid template name '{}': use 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-', not starting with '.' or '-'",
            name.escape_debug()
        ))
        .into())
    }
}

/// Checks a template's values: its name (see [`validate_name`]), a
/// description, setup commands that are not empty, environment variable
/// names a shell accepts and none that looks like a secret (a name with
/// KEY, TOKEN, SECRET or PASSWORD in it; secrets belong in the
/// environment of the run, not in a plain-text file), and no NUL bytes.
pub fn validate(template: &Template) -> Result<()> {
    validate_name(&template.name)?;
    let name = &template.name;
    let refuse = |what: String| -> Result<()> {
        Err(UserError::new(format!("template '{name}': {what}")).into())
    };
    if template.description.trim().is_empty() {
        return refuse("the description is empty".into());
    }
    if template.description.contains('\0') {
        return refuse("the description contains a NUL byte".into());
    }
    if let Some(e2b) = &template.e2b_template {
        if e2b.trim().is_empty() {
            return refuse("e2bTemplate is empty (leave it out instead)".into());
        }
        if e2b.contains(|c: char| c.is_whitespace() || c == '\0') {
            return refuse(format!(
                "e2bTemplate '{}' contains whitespace",
                e2b.escape_debug()
            ));
        }
    }
    if let Some(agent) = &template.agent {
        if !crate::agents::is_valid_name(agent) {
            return refuse(format!(
                "agent '{}' is not an agent's name (lower-case letters, digits and -)",
                agent.escape_debug()
            ));
        }
    }
    for (index, command) in template.setup_commands.iter().enumerate() {
        if command.trim().is_empty() {
            return refuse(format!("setup command {} is empty", index + 1));
        }
        if command.contains('\0') {
            return refuse(format!("setup command {} contains a NUL byte", index + 1));
        }
    }
    for (key, value) in &template.environment {
        let mut chars = key.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return refuse(format!(
                "environment variable name '{}' is invalid: use letters, digits and '_', not starting with a digit",
                key.escape_debug()
            ));
        }
        let upper = key.to_ascii_uppercase();
        if let Some(word) = SECRET_WORDS.iter().find(|word| upper.contains(*word)) {
            return Err(UserError::with_hint(
                format!(
                    "template '{name}': environment variable '{key}' looks like a secret ({word}); templates are stored in plain text"
                ),
                "leave it out and pass secrets through the environment of the run",
            )
            .into());
        }
        if value.contains('\0') {
            return refuse(format!(
                "the value of environment variable '{key}' contains a NUL byte"
            ));
        }
    }
    Ok(())
}

/// Every template: the built-ins and the user's, one entry per name (a
/// user template in a built-in's place replaces it), sorted by name. A
/// broken user file is listed with its error (see [`TemplateEntry`]).
pub fn list(data_dir: &Path) -> Result<Vec<TemplateEntry>> {
    let mut entries: BTreeMap<String, TemplateEntry> = BUILTINS
        .iter()
        .map(|(name, _)| (name.to_string(), builtin_entry(name)))
        .collect();
    for (name, path) in user_files(data_dir)? {
        let entry = load_user(&name, path);
        entries.insert(name, entry);
    }
    Ok(entries.into_values().collect())
}

/// The template of this name, with where it comes from: the user's first,
/// then the built-ins. A broken user file is an error, not a fallback to
/// the built-in it was meant to replace.
pub fn lookup(data_dir: &Path, name: &str) -> Result<TemplateEntry> {
    if validate_name(name).is_ok() {
        let path = user_path(data_dir, name);
        if path.exists() {
            let entry = load_user(name, path);
            if let Some(error) = &entry.error {
                return Err(UserError::with_hint(
                    error.clone(),
                    format!("fix the file or remove it with 'git pcc templates delete {name}'"),
                )
                .into());
            }
            return Ok(entry);
        }
        if is_builtin(name) {
            return Ok(builtin_entry(name));
        }
    }
    Err(unknown(name))
}

/// Finds a template by name, the user's first, then the built-ins.
pub fn find(data_dir: &Path, name: &str) -> Result<Template> {
    let entry = lookup(data_dir, name)?;
    entry.template.ok_or_else(|| unknown(name))
}

/// Saves a user template after [`validate`], returning its file. An
/// existing user template of the same name, or a built-in's name, is
/// refused unless `force`.
pub fn create(data_dir: &Path, template: Template, force: bool) -> Result<PathBuf> {
    validate(&template)?;
    let name = &template.name;
    let path = user_path(data_dir, name);
    if !force {
        if path.exists() {
            return Err(UserError::with_hint(
                format!("template '{name}' already exists ({})", path.display()),
                "pass --force to replace it",
            )
            .into());
        }
        if is_builtin(name) {
            return Err(UserError::with_hint(
                format!("'{name}' is a built-in template"),
                "pass --force to put a template of your own in its place",
            )
            .into());
        }
    }
    crate::paths::ensure_data_dir(data_dir)?;
    let dir = templates_dir(data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::config::write_atomically(&path, to_json(&template).as_bytes())?;
    Ok(path)
}

/// Deletes a user template, returning the file removed. Built-ins cannot
/// be deleted; deleting a user template in a built-in's place brings the
/// built-in back.
pub fn delete(data_dir: &Path, name: &str) -> Result<PathBuf> {
    if validate_name(name).is_ok() {
        let path = user_path(data_dir, name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot delete {}", path.display()))?;
            return Ok(path);
        }
        if is_builtin(name) {
            return Err(UserError::with_hint(
                format!("'{name}' is a built-in template and cannot be deleted"),
                "create a template of the same name with --force to replace it",
            )
            .into());
        }
    }
    Err(unknown(name))
}

/// A template as pretty JSON (what [`import`] reads back).
pub fn export(data_dir: &Path, name: &str) -> Result<String> {
    Ok(to_json(&find(data_dir, name)?))
}

/// Saves a user template from JSON text (`origin` names it in messages):
/// [`parse`], [`validate`], then [`create`]. Nothing is written when any
/// step refuses it.
pub fn import(
    data_dir: &Path,
    text: &str,
    origin: &str,
    force: bool,
) -> Result<(Template, PathBuf)> {
    let template = parse(text, origin)?;
    validate(&template).map_err(|err| in_origin(err, origin))?;
    let path = create(data_dir, template.clone(), force)?;
    Ok((template, path))
}

/// [`import`] from a file.
pub fn import_file(data_dir: &Path, file: &Path, force: bool) -> Result<(Template, PathBuf)> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| UserError::new(format!("cannot read {}: {err}", file.display())))?;
    import(data_dir, &text, &file.display().to_string(), force)
}

fn unknown(name: &str) -> anyhow::Error {
    UserError::with_hint(
        format!("unknown template '{}'", name.escape_debug()),
        "run 'git pcc templates list'",
    )
    .into()
}

/// Puts `origin` in front of a user error's message, keeping its hint.
fn in_origin(err: anyhow::Error, origin: &str) -> anyhow::Error {
    match err.downcast::<UserError>() {
        Ok(user) => UserError {
            message: format!("{origin}: {}", user.message),
            hint: user.hint,
        }
        .into(),
        Err(other) => other.context(origin.to_owned()),
    }
}

fn builtin_entry(name: &str) -> TemplateEntry {
    TemplateEntry {
        name: name.to_owned(),
        source: TemplateSource::Builtin,
        path: None,
        overrides: false,
        template: builtin(name),
        error: None,
    }
}

/// The `*.json` files of the user template directory (hidden files, such
/// as half-written temporaries, and other names are not templates).
fn user_files(data_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir = templates_dir(data_dir);
    let read = match std::fs::read_dir(&dir) {
        Ok(read) => read,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(UserError::new(format!("cannot read {}: {err}", dir.display())).into())
        }
    };
    let mut files = Vec::new();
    for item in read {
        let item = item.with_context(|| format!("cannot read {}", dir.display()))?;
        let file_name = item.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(name) = file_name.strip_suffix(".json") else {
            continue;
        };
        if file_name.starts_with('.') || item.path().is_dir() {
            continue;
        }
        files.push((name.to_owned(), item.path()));
    }
    files.sort();
    Ok(files)
}

/// Reads one user template file into an entry, its error kept in it.
fn load_user(name: &str, path: PathBuf) -> TemplateEntry {
    let origin = path.display().to_string();
    let loaded = validate_name(name)
        .map_err(|_| {
            UserError::new(format!(
                "{origin}: the file name is not a valid template name"
            ))
            .into()
        })
        .and_then(|()| read(&path))
        .and_then(|template| {
            validate(&template).map_err(|err| in_origin(err, &origin))?;
            if template.name != name {
                return Err(UserError::new(format!(
                    "{origin} holds template '{}' but its file name says '{name}'",
                    template.name
                ))
                .into());
            }
            Ok(template)
        });
    let (template, error) = match loaded {
        Ok(template) => (Some(template), None),
        Err(err) => (None, Some(message(&err))),
    };
    TemplateEntry {
        name: name.to_owned(),
        source: TemplateSource::User,
        path: Some(path),
        overrides: is_builtin(name),
        template,
        error,
    }
}

fn message(err: &anyhow::Error) -> String {
    match err.downcast_ref::<UserError>() {
        Some(user) => user.message.clone(),
        None => format!("{err:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Template {
        Template {
            name: name.to_owned(),
            description: "a sample".to_owned(),
            e2b_template: Some("base".to_owned()),
            setup_commands: vec!["make setup".to_owned()],
            environment: BTreeMap::from([("LOG_LEVEL".to_owned(), "debug".to_owned())]),
            metadata: Map::new(),
            agent: None,
        }
    }

    /// A scratch data directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("pcc-templates-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn user_message(err: anyhow::Error) -> String {
        err.downcast::<UserError>().expect("a user error").message
    }

    #[test]
    fn builtins_parse_validate_and_match_their_file_names() {
        let all = builtins();
        assert_eq!(all.len(), BUILTINS.len());
        for (template, (name, _)) in all.iter().zip(BUILTINS) {
            assert_eq!(template.name, name);
            validate(template).unwrap();
            assert!(!template.setup_commands.is_empty());
            assert!(template.e2b_template.is_some());
            assert_eq!(template.metadata["version"], 1);
        }
    }

    #[test]
    fn names_are_plain_file_names() {
        for good in ["a", "node-20", "python-3.12_x", &"x".repeat(64)] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            ".hidden",
            "-flag",
            "a/b",
            "..",
            "a b",
            "naïve",
            &"x".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let mut secret = sample("s");
        secret
            .environment
            .insert("github_token".to_owned(), "x".to_owned());
        let err = validate(&secret)
            .unwrap_err()
            .downcast::<UserError>()
            .unwrap();
        assert!(err.message.contains("'github_token' looks like a secret"));
        assert!(err.hint.unwrap().contains("environment"));

        let mut bad_key = sample("k");
        bad_key.environment.insert("1X".to_owned(), "x".to_owned());
        assert!(user_message(validate(&bad_key).unwrap_err()).contains("'1X' is invalid"));

        let mut empty = sample("e");
        empty.setup_commands.push("  ".to_owned());
        assert!(user_message(validate(&empty).unwrap_err()).contains("setup command 2 is empty"));

        let mut nul = sample("n");
        nul.environment.insert("A".to_owned(), "a\0b".to_owned());
        assert!(user_message(validate(&nul).unwrap_err()).contains("NUL"));

        let mut blank = sample("b");
        blank.description = " ".to_owned();
        assert!(user_message(validate(&blank).unwrap_err()).contains("description is empty"));

        let mut agent = sample("a");
        agent.agent = Some("Codex CLI".to_owned());
        assert!(user_message(validate(&agent).unwrap_err())
            .contains("'Codex CLI' is not an agent's name"));
        agent.agent = Some("codex".to_owned());
        validate(&agent).unwrap();
        let again = parse(&to_json(&agent), "a.json").unwrap();
        assert_eq!(again.agent.as_deref(), Some("codex"));
    }

    #[test]
    fn parse_refuses_unknown_fields_and_bad_json_with_positions() {
        let err = user_message(
            parse(
                "{\"name\": \"a\", \"description\": \"d\", \"extra\": 1}",
                "a.json",
            )
            .unwrap_err(),
        );
        assert!(err.starts_with("a.json is not a valid template: unknown field `extra`"));
        assert!(err.contains("line 1 column"));

        let err = user_message(parse("{\"name\": \"a\",\n", "b.json").unwrap_err());
        assert!(err.starts_with("b.json is not valid JSON:"), "{err}");
        assert!(err.contains("line 2"), "{err}");

        let err = user_message(parse("[]", "c.json").unwrap_err());
        assert!(err.contains("expected a template object"), "{err}");
    }

    #[test]
    fn user_templates_override_and_broken_files_stay_listed() {
        let dir = Scratch::new("override");
        let data = dir.0.as_path();
        assert!(list(data)
            .unwrap()
            .iter()
            .all(|e| e.source == TemplateSource::Builtin));

        let mut mine = builtin("node-20-typescript").unwrap();
        mine.description = "mine".to_owned();
        assert!(create(data, mine.clone(), false).is_err());
        let path = create(data, mine.clone(), true).unwrap();
        assert_eq!(path, user_path(data, "node-20-typescript"));
        assert_eq!(find(data, "node-20-typescript").unwrap(), mine);

        std::fs::write(templates_dir(data).join("broken.json"), "{").unwrap();
        std::fs::write(templates_dir(data).join("notes.txt"), "not a template").unwrap();
        let entries = list(data).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "broken",
                "full-stack-nextjs",
                "node-20-typescript",
                "python-3.12-fastapi"
            ]
        );
        assert!(entries[0]
            .error
            .as_deref()
            .unwrap()
            .contains("not valid JSON"));
        assert!(entries[2].overrides);
        assert_eq!(entries[2].source, TemplateSource::User);
        assert!(find(data, "broken").is_err());

        delete(data, "node-20-typescript").unwrap();
        assert_eq!(
            find(data, "node-20-typescript").unwrap(),
            builtin("node-20-typescript").unwrap()
        );
        assert!(delete(data, "node-20-typescript").is_err());
        assert!(delete(data, "../escape").is_err());
    }

    #[test]
    fn a_file_must_hold_the_template_it_is_named_after() {
        let dir = Scratch::new("named");
        let data = dir.0.as_path();
        create(data, sample("one"), false).unwrap();
        std::fs::rename(user_path(data, "one"), user_path(data, "two")).unwrap();
        let err = user_message(find(data, "two").unwrap_err());
        assert!(err.contains("holds template 'one'"), "{err}");
    }
}
