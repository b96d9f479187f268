mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use support::TestEnv;

/// A repository holding every kind of file a workspace has. Returns its path.
///
/// Committed: README.md, src/lib.rs (then modified), src/nested/deep/mod.rs,
/// run.sh (executable), link (symlink to src/lib.rs), gone.txt (then
/// deleted), docs/guide.md, certs/server.key (a tracked secret) and
/// .gitignore. Left untracked: notes.txt, src/new.rs, .env, .env.local.
/// Ignored: target/debug/out.bin, app.log. A repository of its own:
/// vendor/other (untracked, with its own .git).
fn workspace(env: &TestEnv) -> PathBuf {
    let repo = env.repo_with(
        "app",
        &[
            ("README.md", "# app\n"),
            ("src/lib.rs", "pub fn one() -> u32 { 1 }\n"),
            ("src/nested/deep/mod.rs", "// deep\n"),
            ("run.sh", "#!/bin/sh\necho run\n"),
            ("gone.txt", "soon deleted\n"),
            ("docs/guide.md", "# guide\n"),
            ("certs/server.key", "-----BEGIN PRIVATE KEY-----\n"),
            (".gitignore", "target/\n*.log\n"),
        ],
    );
    std::fs::set_permissions(repo.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    symlink("src/lib.rs", repo.join("link")).unwrap();
    env.git(&repo, &["add", "run.sh", "link"]);
    env.git(&repo, &["commit", "-q", "-m", "script and link"]);

    std::fs::write(repo.join("src/lib.rs"), "pub fn one() -> u32 { 2 }\n").unwrap();
    std::fs::remove_file(repo.join("gone.txt")).unwrap();
    std::fs::write(repo.join("notes.txt"), "untracked notes\n").unwrap();
    std::fs::write(repo.join("src/new.rs"), "pub fn new() {}\n").unwrap();
    std::fs::write(repo.join(".env"), "API_KEY=abc\n").unwrap();
    std::fs::write(repo.join(".env.local"), "API_KEY=local\n").unwrap();
    std::fs::create_dir_all(repo.join("target/debug")).unwrap();
    std::fs::write(repo.join("target/debug/out.bin"), "binary\n").unwrap();
    std::fs::write(repo.join("app.log"), "log line\n").unwrap();
    let other = repo.join("vendor/other");
    std::fs::create_dir_all(&other).unwrap();
    env.git(&other, &["init", "-q"]);
    std::fs::write(other.join("lib.c"), "int x;\n").unwrap();
    repo
}

/// What a default pack of [`workspace`] holds.
const PACKED: &[&str] = &[
    ".gitignore",
    "README.md",
    "docs/guide.md",
    "link",
    "notes.txt",
    "run.sh",
    "src/lib.rs",
    "src/nested/deep/mod.rs",
    "src/new.rs",
];

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn pack(env: &TestEnv, repo: &Path, extra: &[&str]) -> std::process::Output {
    env.pcc("git-pcc-sandbox")
        .arg("pack")
        .arg("--repo")
        .arg(repo)
        .args(extra)
        .output()
        .unwrap()
}

fn pack_json(env: &TestEnv, repo: &Path, extra: &[&str]) -> serde_json::Value {
    let mut command = env.pcc("git-pcc-sandbox");
    command
        .args(["pack", "--json", "--repo"])
        .arg(repo)
        .args(extra);
    let (output, value) = env.json(&mut command);
    assert!(
        output.status.success(),
        "pack failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

/// The entries `tar -tzf` lists, in archive order.
fn tar_list(archive: &Path) -> Vec<String> {
    let output = Command::new("tar")
        .arg("-tzf")
        .arg(archive)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tar -tzf failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn extract(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let output = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tar -xzf failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn pack_holds_the_workspace_as_it_is_on_disk() {
    let env = TestEnv::new();
    let repo = workspace(&env);
    let archive = env.path().join("out.tgz");
    let value = pack_json(&env, &repo, &["--output", archive.to_str().unwrap()]);

    let listed = tar_list(&archive);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "entries are in path order");
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), set(PACKED));

    assert_eq!(value["files"], PACKED.len());
    assert_eq!(value["output"], archive.to_str().unwrap());
    assert_eq!(
        strings(&value["excluded"]),
        [".env", ".env.local", "certs/server.key"]
    );
    assert_eq!(
        value["compressedBytes"],
        std::fs::metadata(&archive).unwrap().len()
    );

    let out = env.path().join("extracted");
    extract(&archive, &out);
    let mut bytes = 0;
    for path in PACKED.iter().filter(|p| **p != "link") {
        let content = std::fs::read(out.join(path)).unwrap();
        assert_eq!(content, std::fs::read(repo.join(path)).unwrap(), "{path}");
        bytes += content.len();
    }
    assert_eq!(value["bytes"], bytes);
    assert_eq!(
        std::fs::read_to_string(out.join("src/lib.rs")).unwrap(),
        "pub fn one() -> u32 { 2 }\n",
        "the uncommitted change is packed"
    );
    assert_eq!(mode(&out.join("run.sh")), 0o755);
    assert_eq!(mode(&out.join("README.md")), 0o644);
    assert_eq!(mode(&out.join("src/new.rs")), 0o644);
    assert!(std::fs::symlink_metadata(out.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        Path::new("src/lib.rs")
    );
    assert!(!out.join(".git").exists());
    assert!(!out.join("gone.txt").exists());
    assert!(!out.join("target").exists());
    assert!(!out.join("vendor").exists());
}

#[test]
fn listing_names_the_files_and_what_is_left_out() {
    let env = TestEnv::new();
    let repo = workspace(&env);
    let value = pack_json(&env, &repo, &[]);
    assert_eq!(strings(&value["paths"]), PACKED);
    assert_eq!(value["files"], PACKED.len());
    assert_eq!(
        strings(&value["excluded"]),
        [".env", ".env.local", "certs/server.key"]
    );
    let bytes: u64 = PACKED
        .iter()
        .filter(|p| **p != "link")
        .map(|p| std::fs::metadata(repo.join(p)).unwrap().len())
        .sum();
    assert_eq!(value["bytes"], bytes);

    let output = pack(&env, &repo, &[]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("Files:     9 files ("), "{text}");
    assert!(
        text.contains("\nLeft out:\n  .env\n  .env.local\n  certs/server.key\n"),
        "{text}"
    );
    assert!(text.contains("\n  src/nested/deep/mod.rs\n"), "{text}");
    assert!(!text.contains("out.bin"), "{text}");
}

#[test]
fn include_brings_back_a_secret() {
    let env = TestEnv::new();
    let repo = workspace(&env);
    let archive = env.path().join("with-env.tgz");
    let value = pack_json(
        &env,
        &repo,
        &["--include", ".env", "--output", archive.to_str().unwrap()],
    );
    let mut expected = set(PACKED);
    expected.insert(".env".to_owned());
    assert_eq!(
        tar_list(&archive).into_iter().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(
        strings(&value["excluded"]),
        [".env.local", "certs/server.key"]
    );
    let out = env.path().join("extracted");
    extract(&archive, &out);
    assert_eq!(
        std::fs::read_to_string(out.join(".env")).unwrap(),
        "API_KEY=abc\n"
    );
}

#[test]
fn config_sandbox_exclude_leaves_files_out() {
    let env = TestEnv::new();
    let repo = workspace(&env);
    let set_output = env
        .pcc("git-pcc")
        .args(["config", "set", "sandbox.exclude", "docs/*"])
        .output()
        .unwrap();
    assert!(
        set_output.status.success(),
        "{}",
        String::from_utf8_lossy(&set_output.stderr)
    );
    let archive = env.path().join("no-docs.tgz");
    let value = pack_json(&env, &repo, &["--output", archive.to_str().unwrap()]);
    let mut expected = set(PACKED);
    expected.remove("docs/guide.md");
    assert_eq!(
        tar_list(&archive).into_iter().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(
        strings(&value["excluded"]),
        [".env", ".env.local", "certs/server.key", "docs/guide.md"]
    );

    // --include wins over config exclusions too.
    let value = pack_json(&env, &repo, &["--include", "docs/guide.md"]);
    assert!(strings(&value["paths"]).contains(&"docs/guide.md".to_owned()));
}

#[test]
fn output_dash_streams_the_archive_to_stdout() {
    let env = TestEnv::new();
    let repo = workspace(&env);
    let output = pack(&env, &repo, &["--output", "-"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        &output.stdout[..2],
        &[0x1f, 0x8b],
        "stdout is gzip, nothing else"
    );
    let archive = env.path().join("from-stdout.tgz");
    std::fs::write(&archive, &output.stdout).unwrap();
    assert_eq!(
        tar_list(&archive).into_iter().collect::<BTreeSet<_>>(),
        set(PACKED)
    );
}

#[test]
fn a_previous_pack_inside_the_repository_is_not_packed_again() {
    let env = TestEnv::new();
    let repo = workspace(&env);
    for _ in 0..2 {
        let output = env
            .pcc("git-pcc-sandbox")
            .current_dir(&repo)
            .args(["pack", "--output", "ws.tgz"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = String::from_utf8(output.stdout).unwrap();
        assert!(line.starts_with("Packed 9 files ("), "{line}");
        assert!(line.contains(" into ws.tgz; left out 3 files"), "{line}");
    }
    assert_eq!(
        tar_list(&repo.join("ws.tgz"))
            .into_iter()
            .collect::<BTreeSet<_>>(),
        set(PACKED)
    );
    let leftovers: Vec<String> = support::list_dir(&repo)
        .into_iter()
        .filter(|name| name.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_input_is_one_error_line_and_no_file() {
    let env = TestEnv::new();
    let plain = env.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let archive = env.path().join("never.tgz");
    let output = pack(&env, &plain, &["--output", archive.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: not a git repository"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    assert!(!archive.exists());

    let repo = workspace(&env);
    let blocker = env.path().join("a-file");
    std::fs::write(&blocker, "not a directory\n").unwrap();
    let unwritable = blocker.join("out.tgz");
    let output = pack(&env, &repo, &["--output", unwritable.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot write "), "{stderr}");
    assert_eq!(
        support::list_dir(&env.path()),
        ["a-file", "app", "home", "plain"]
    );

    let output = pack(&env, &repo, &["--output", repo.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is a directory"), "{stderr}");
}

/// A private key in OpenSSH's format (the body of a throwaway key).
const OPENSSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBpYXG0m3ddpIdGm4Z1ELNHLEj5CQ5w0qaQmOqDpWaWzAAAAJgm2m8RJtpv
-----END OPENSSH PRIVATE KEY-----
";

/// A PKCS#1 RSA private key (shortened body).
const RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw
7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFc
-----END RSA PRIVATE KEY-----
";

#[test]
fn private_keys_are_left_out_by_their_content_whatever_their_names() {
    let env = TestEnv::new();
    let repo = workspace(&env);
    // A key committed under a neutral name, and one left untracked.
    std::fs::write(repo.join("deploy_key"), OPENSSH_KEY).unwrap();
    env.git(&repo, &["add", "deploy_key"]);
    env.git(&repo, &["commit", "-q", "-m", "deploy key"]);
    std::fs::create_dir_all(repo.join("config")).unwrap();
    std::fs::write(repo.join("config/signing"), RSA_KEY).unwrap();
    // Public keys and certificates are packed.
    std::fs::write(
        repo.join("deploy_key.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlhcbSbd12kh0abhnUQs0csSPkJDnDSppCY6oOlZpbM ci@example\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("config/signing-public"),
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("config/ca-bundle"),
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut packed = set(PACKED);
    for public in [
        "deploy_key.pub",
        "config/signing-public",
        "config/ca-bundle",
    ] {
        packed.insert(public.to_owned());
    }
    let keys = ["config/signing", "deploy_key"];

    // The listing, as JSON and as text, says what is left out and why.
    let value = pack_json(&env, &repo, &[]);
    assert_eq!(
        strings(&value["paths"])
            .into_iter()
            .collect::<BTreeSet<_>>(),
        packed
    );
    assert_eq!(value["files"], packed.len());
    assert_eq!(
        strings(&value["excluded"]),
        [
            ".env",
            ".env.local",
            "certs/server.key",
            "config/signing",
            "deploy_key"
        ]
    );
    assert_eq!(strings(&value["privateKeys"]), keys);
    let output = pack(&env, &repo, &[]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(
            "\nLeft out:\n  .env\n  .env.local\n  certs/server.key\n  \
             config/signing (a private key, by its content)\n  \
             deploy_key (a private key, by its content)\n"
        ),
        "{text}"
    );
    assert!(text.contains("Left out:  5 files ("), "{text}");

    // The archive holds what the listing said.
    let archive = env.path().join("keys.tgz");
    let value = pack_json(&env, &repo, &["--output", archive.to_str().unwrap()]);
    assert_eq!(
        tar_list(&archive).into_iter().collect::<BTreeSet<_>>(),
        packed
    );
    assert_eq!(strings(&value["privateKeys"]), keys);
    assert_eq!(value["files"], packed.len());

    // --include brings a key in, as it brings in a secret by its name.
    let archive = env.path().join("with-key.tgz");
    let value = pack_json(
        &env,
        &repo,
        &[
            "--include",
            "deploy_key",
            "--output",
            archive.to_str().unwrap(),
        ],
    );
    packed.insert("deploy_key".to_owned());
    assert_eq!(
        tar_list(&archive).into_iter().collect::<BTreeSet<_>>(),
        packed
    );
    assert_eq!(strings(&value["privateKeys"]), ["config/signing"]);
    let out = env.path().join("extracted");
    extract(&archive, &out);
    assert_eq!(
        std::fs::read_to_string(out.join("deploy_key")).unwrap(),
        OPENSSH_KEY
    );
}
