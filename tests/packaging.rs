//! The install and uninstall scripts know every executable the workspace
//! builds, and every executable has a man page.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn binaries() -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(name) = line.strip_prefix("name = ") {
                names.push(name.trim_matches('"').to_owned());
            }
        }
    }
    names
}

fn loop_words(script: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("scripts").join(script)).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("for binary in "))
        .expect("a `for binary in` loop");
    line.trim_start_matches("for binary in ")
        .trim_end_matches("; do")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn scripts_install_and_remove_every_executable() {
    let built = binaries();
    assert_eq!(built.len(), 6, "{built:?}");
    let installed = loop_words("install.sh");
    let removed = loop_words("uninstall.sh");
    for binary in &built {
        assert!(installed.contains(binary), "install.sh misses {binary}");
        assert!(removed.contains(binary), "uninstall.sh misses {binary}");
        assert!(
            root().join("man").join(format!("{binary}.1")).exists(),
            "no man page for {binary}"
        );
    }
    assert!(removed.contains(&"claude-parallel".to_owned()));
}
