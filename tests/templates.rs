//! `git pcc templates`: the built-ins, user templates on disk, overriding,
//! export and import, and the one-line refusals of bad input.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::{json, Value};
use support::TestEnv;

const BUILTINS: [&str; 3] = [
    "full-stack-nextjs",
    "node-20-typescript",
    "python-3.12-fastapi",
];

/// Runs `git-pcc-sandbox templates <args>`.
fn templates(env: &TestEnv, args: &[&str]) -> Output {
    env.pcc("git-pcc-sandbox")
        .arg("templates")
        .args(args)
        .output()
        .expect("run git-pcc-sandbox")
}

/// Runs `git-pcc-sandbox templates <args> --json`, asserting success.
fn templates_json(env: &TestEnv, args: &[&str]) -> Value {
    let (output, value) = env.json(
        env.pcc("git-pcc-sandbox")
            .arg("templates")
            .args(args)
            .arg("--json"),
    );
    assert!(
        output.status.success(),
        "templates {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a failure with exit code 1 and exactly one `error:` line on
/// stderr containing every one of `needles`.
fn assert_one_line_error(output: &Output, needles: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for needle in needles {
        assert!(lines[0].contains(needle), "{needle:?} not in: {err}");
    }
}

fn user_file(env: &TestEnv, name: &str) -> PathBuf {
    env.data_dir.join("templates").join(format!("{name}.json"))
}

fn shipped(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The template fields of a `show --json` or list entry.
fn template_fields(entry: &Value) -> Value {
    let mut fields = serde_json::Map::new();
    for key in [
        "name",
        "description",
        "e2bTemplate",
        "setupCommands",
        "environment",
        "metadata",
    ] {
        fields.insert(key.to_owned(), entry[key].clone());
    }
    Value::Object(fields)
}

#[test]
fn builtins_are_listed_and_shown_without_touching_the_data_dir() {
    let env = TestEnv::new();
    let list = templates_json(&env, &["list"]);
    assert_eq!(list["total"], 3);
    let entries = list["templates"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BUILTINS);
    for entry in entries {
        assert_eq!(entry["source"], "builtin");
        assert_eq!(entry["path"], Value::Null);
        assert_eq!(entry["overrides"], false);
        assert_eq!(
            template_fields(entry),
            shipped(entry["name"].as_str().unwrap())
        );
    }

    let human = templates(&env, &["list"]);
    assert!(human.status.success());
    let text = stdout(&human);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("NAME "), "{text}");
    let source_column = lines[0].find("SOURCE").unwrap();
    let description_column = lines[0].find("DESCRIPTION").unwrap();
    for (line, name) in lines[1..].iter().zip(BUILTINS) {
        assert!(line.starts_with(name), "{line}");
        assert_eq!(&line[source_column..source_column + 7], "builtin");
        assert!(line[description_column..].len() > 10, "{line}");
    }

    let show = templates(&env, &["show", "python-3.12-fastapi"]);
    assert!(show.status.success(), "{}", stderr(&show));
    let text = stdout(&show);
    assert!(text.contains("e2b template  python-3.12"), "{text}");
    assert!(text.contains("PYTHONDONTWRITEBYTECODE=1"), "{text}");
    assert!(text.contains("setup commands:\n  1. "), "{text}");
    assert!(text.contains("python3 -m venv .venv"), "{text}");

    let shown = templates_json(&env, &["show", "node-20-typescript"]);
    assert_eq!(shown["source"], "builtin");
    assert_eq!(shown["e2bTemplate"], "node-20");
    assert_eq!(template_fields(&shown), shipped("node-20-typescript"));

    assert!(
        !env.data_dir.exists(),
        "reading templates created the data directory"
    );
}

#[test]
fn the_front_door_forwards_templates() {
    let env = TestEnv::new();
    let (output, list) = env.json(env.pcc("git-pcc").args(["templates", "list", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(list, templates_json(&env, &["list"]));

    let (output, global) = env.json(env.pcc("git-pcc").args(["--json", "templates", "list"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(global["total"], 3);

    let human = env
        .pcc("git-pcc")
        .args(["templates", "show", "full-stack-nextjs"])
        .output()
        .unwrap();
    assert!(human.status.success(), "{}", stderr(&human));
    assert!(stdout(&human).contains("NEXT_TELEMETRY_DISABLED=1"));

    let unknown = env
        .pcc("git-pcc")
        .args(["templates", "show", "missing"])
        .output()
        .unwrap();
    assert_one_line_error(&unknown, &["unknown template 'missing'"]);
}

#[test]
fn create_show_export_delete_import_round_trip() {
    let env = TestEnv::new();
    let created = templates_json(
        &env,
        &[
            "create",
            "rust-service",
            "--description",
            "Rust service with cargo",
            "--e2b-template",
            "base",
            "--setup",
            "cargo fetch",
            "--setup",
            "cargo build --locked",
            "--env",
            "RUST_LOG=debug",
            "--env",
            "CARGO_TERM_COLOR=never",
            "--metadata",
            "language=rust",
            "--metadata",
            "version=2",
        ],
    );
    let file = user_file(&env, "rust-service");
    assert_eq!(created["path"], file.to_str().unwrap());
    assert_eq!(created["overrides"], false);

    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        on_disk,
        json!({
            "name": "rust-service",
            "description": "Rust service with cargo",
            "e2bTemplate": "base",
            "setupCommands": ["cargo fetch", "cargo build --locked"],
            "environment": {"CARGO_TERM_COLOR": "never", "RUST_LOG": "debug"},
            "metadata": {"language": "rust", "version": 2}
        })
    );

    let shown = templates_json(&env, &["show", "rust-service"]);
    assert_eq!(shown["source"], "user");
    assert_eq!(shown["path"], file.to_str().unwrap());
    assert_eq!(template_fields(&shown), on_disk);
    let list = templates_json(&env, &["list"]);
    assert_eq!(list["total"], 4);

    let exported = templates(&env, &["export", "rust-service"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let exported_text = stdout(&exported);
    assert_eq!(
        serde_json::from_str::<Value>(&exported_text).unwrap(),
        on_disk
    );

    let export_file = env.path().join("exported.json");
    let written = templates_json(
        &env,
        &[
            "export",
            "rust-service",
            "--output",
            export_file.to_str().unwrap(),
        ],
    );
    assert_eq!(written["output"], export_file.to_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(&export_file).unwrap(),
        exported_text
    );

    let deleted = templates_json(&env, &["delete", "rust-service"]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["builtinRestored"], false);
    assert!(!file.exists());
    assert_one_line_error(
        &templates(&env, &["show", "rust-service"]),
        &["unknown template 'rust-service'"],
    );

    let imported = templates_json(&env, &["import", export_file.to_str().unwrap()]);
    assert_eq!(imported["name"], "rust-service");
    assert!(file.exists());
    let again = templates(&env, &["export", "rust-service"]);
    assert_eq!(stdout(&again), exported_text);

    // A second import of the same name needs --force.
    let twice = templates(&env, &["import", export_file.to_str().unwrap()]);
    assert_one_line_error(&twice, &["already exists", "--force"]);
    let mut changed = on_disk.clone();
    changed["description"] = json!("Changed");
    std::fs::write(&export_file, changed.to_string()).unwrap();
    templates_json(&env, &["import", "--force", export_file.to_str().unwrap()]);
    let shown = templates_json(&env, &["show", "rust-service"]);
    assert_eq!(shown["description"], "Changed");
}

#[test]
fn import_reads_standard_input() {
    let env = TestEnv::new();
    let mut child = env
        .pcc("git-pcc-sandbox")
        .args(["templates", "import", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"name": "piped", "description": "from stdin", "setupCommands": ["true"]}"#)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["name"], "piped");
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(user_file(&env, "piped")).unwrap()).unwrap();
    assert_eq!(on_disk["setupCommands"], json!(["true"]));
    assert_eq!(on_disk["description"], "from stdin");
}

#[test]
fn a_user_template_overrides_a_builtin_until_deleted() {
    let env = TestEnv::new();
    let refused = templates(
        &env,
        &["create", "node-20-typescript", "--description", "Mine"],
    );
    assert_one_line_error(
        &refused,
        &["'node-20-typescript' is a built-in template", "--force"],
    );
    assert!(!user_file(&env, "node-20-typescript").exists());

    // Start from the built-in's export, change it, force it in.
    let base = env.path().join("base.json");
    std::fs::write(
        &base,
        stdout(&templates(&env, &["export", "node-20-typescript"])),
    )
    .unwrap();
    let created = templates_json(
        &env,
        &[
            "create",
            "node-20-typescript",
            "--from-file",
            base.to_str().unwrap(),
            "--description",
            "Node with our registry",
            "--setup",
            "npm run build",
            "--env",
            "NPM_CONFIG_REGISTRY=https://registry.example.com",
            "--force",
        ],
    );
    assert_eq!(created["overrides"], true);
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(user_file(&env, "node-20-typescript")).unwrap(),
    )
    .unwrap();
    let builtin = shipped("node-20-typescript");
    assert_eq!(on_disk["description"], "Node with our registry");
    assert_eq!(on_disk["e2bTemplate"], builtin["e2bTemplate"]);
    let commands = on_disk["setupCommands"].as_array().unwrap();
    assert_eq!(
        commands.len(),
        builtin["setupCommands"].as_array().unwrap().len() + 1
    );
    assert_eq!(commands.last().unwrap(), "npm run build");
    assert_eq!(on_disk["environment"]["NODE_ENV"], "development");

    let list = templates_json(&env, &["list"]);
    assert_eq!(list["total"], 3, "one entry per name");
    let entry = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "node-20-typescript")
        .unwrap();
    assert_eq!(entry["source"], "user");
    assert_eq!(entry["overrides"], true);
    assert_eq!(entry["description"], "Node with our registry");
    let human = stdout(&templates(&env, &["list"]));
    let row = human
        .lines()
        .find(|l| l.starts_with("node-20-typescript"))
        .unwrap();
    assert!(row.contains("user (overrides builtin)"), "{row}");

    let shown = templates_json(&env, &["show", "node-20-typescript"]);
    assert_eq!(shown["description"], "Node with our registry");

    let deleted = templates_json(&env, &["delete", "node-20-typescript"]);
    assert_eq!(deleted["builtinRestored"], true);
    let shown = templates_json(&env, &["show", "node-20-typescript"]);
    assert_eq!(shown["source"], "builtin");
    assert_eq!(template_fields(&shown), builtin);
}

#[test]
fn builtins_cannot_be_deleted_and_unknown_names_are_one_line_errors() {
    let env = TestEnv::new();
    let refused = templates(&env, &["delete", "python-3.12-fastapi"]);
    assert_one_line_error(&refused, &["built-in template and cannot be deleted"]);
    assert!(stdout(&refused).is_empty());
    let shown = templates_json(&env, &["show", "python-3.12-fastapi"]);
    assert_eq!(shown["source"], "builtin");

    for args in [
        ["show", "no-such-template"],
        ["export", "no-such-template"],
        ["delete", "no-such-template"],
    ] {
        let output = templates(&env, &args);
        assert_one_line_error(
            &output,
            &[
                "unknown template 'no-such-template'",
                "git pcc templates list",
            ],
        );
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
    let (output, value) = env.json(env.pcc("git-pcc-sandbox").args([
        "templates",
        "show",
        "../../etc/passwd",
        "--json",
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(value["success"], false);
    assert_eq!(value["error"], "unknown template '../../etc/passwd'");
    assert!(!env.data_dir.exists());
}

#[test]
fn malformed_imports_are_refused_in_one_line_and_write_nothing() {
    let env = TestEnv::new();
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "truncated.json",
            "{\n  \"name\": \"half\",\n  \"description\": ",
            &["truncated.json is not valid JSON", "line 3 column"],
        ),
        (
            "extra.json",
            r#"{"name": "x", "description": "d", "postInstall": ["rm -rf /"]}"#,
            &[
                "extra.json is not a valid template",
                "unknown field `postInstall`",
            ],
        ),
        (
            "secret.json",
            r#"{"name": "x", "description": "d", "environment": {"OPENAI_API_KEY": "sk-1"}}"#,
            &[
                "secret.json",
                "'OPENAI_API_KEY' looks like a secret",
                "hint:",
            ],
        ),
        (
            "password.json",
            r#"{"name": "x", "description": "d", "environment": {"db_password": "hunter2"}}"#,
            &["'db_password' looks like a secret"],
        ),
        (
            "badname.json",
            r#"{"name": "../escape", "description": "d"}"#,
            &["badname.json", "invalid template name '../escape'"],
        ),
        (
            "wrongtype.json",
            r#"{"name": "x", "description": "d", "setupCommands": "npm ci"}"#,
            &["wrongtype.json is not a valid template", "invalid type"],
        ),
        (
            "emptycmd.json",
            r#"{"name": "x", "description": "d", "setupCommands": ["npm ci", " "]}"#,
            &["emptycmd.json", "setup command 2 is empty"],
        ),
    ];
    for (file_name, content, needles) in cases {
        let file = env.path().join(file_name);
        std::fs::write(&file, content).unwrap();
        let output = templates(&env, &["import", file.to_str().unwrap()]);
        assert_one_line_error(&output, needles);
        assert!(stdout(&output).is_empty(), "{file_name}");

        let (output, value) = env.json(
            env.pcc("git-pcc-sandbox")
                .args(["templates", "import", "--json"])
                .arg(&file),
        );
        assert_eq!(output.status.code(), Some(1), "{file_name}");
        assert_eq!(value["success"], false, "{file_name}");
        assert!(
            value["error"].as_str().unwrap().contains(needles[0]),
            "{value}"
        );
        assert!(
            !env.data_dir.exists(),
            "importing {file_name} wrote to the data directory"
        );
    }

    let missing = templates(&env, &["import", "/nonexistent/template.json"]);
    assert_one_line_error(&missing, &["cannot read /nonexistent/template.json"]);

    let secret = templates(
        &env,
        &[
            "create",
            "x",
            "--description",
            "d",
            "--env",
            "GITHUB_TOKEN=abc",
        ],
    );
    assert_one_line_error(&secret, &["'GITHUB_TOKEN' looks like a secret"]);
    let bad_env = templates(
        &env,
        &["create", "x", "--description", "d", "--env", "NOEQUALS"],
    );
    assert_one_line_error(&bad_env, &["--env expects KEY=VALUE"]);
    assert!(!env.data_dir.exists());
}

#[test]
fn a_broken_user_file_does_not_hide_the_others() {
    let env = TestEnv::new();
    templates_json(&env, &["create", "good", "--description", "Works"]);
    let dir = env.data_dir.join("templates");
    std::fs::write(dir.join("broken.json"), "{\"name\": \"broken\",").unwrap();
    std::fs::write(
        dir.join("misnamed.json"),
        r#"{"name": "other", "description": "d"}"#,
    )
    .unwrap();
    std::fs::write(dir.join("README.txt"), "not a template").unwrap();

    let list = templates_json(&env, &["list"]);
    let entries = list["templates"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "broken",
            "full-stack-nextjs",
            "good",
            "misnamed",
            "node-20-typescript",
            "python-3.12-fastapi"
        ]
    );
    assert!(entries[0]["error"]
        .as_str()
        .unwrap()
        .contains("is not valid JSON"));
    assert_eq!(entries[2]["description"], "Works");
    assert!(entries[2].get("error").is_none());
    assert!(entries[3]["error"]
        .as_str()
        .unwrap()
        .contains("holds template 'other'"));

    let human = templates(&env, &["list"]);
    assert!(human.status.success());
    assert!(stdout(&human).contains("error: "));

    assert_one_line_error(
        &templates(&env, &["show", "broken"]),
        &["broken.json is not valid JSON", "templates delete broken"],
    );
    templates_json(&env, &["delete", "broken"]);
    assert!(!dir.join("broken.json").exists());
}
