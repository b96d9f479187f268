//! The conflict corpus (`tests/conflict_corpus/`): every case is classified
//! as expected, every safe case's suggestion reproduces the expected merge
//! exactly, and no unsafe case gets an auto-applicable suggestion.

use std::path::{Path, PathBuf};

use pcc::analysis;
use pcc::autofix;
use pcc::merge3::Versions;
use serde_json::Value;

struct Case {
    name: String,
    file_name: String,
    base: String,
    ours: String,
    theirs: String,
    class: String,
    safe: bool,
    merged: Option<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conflict_corpus")
}

fn load_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let find = |stem: &str| -> Option<PathBuf> {
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_stem().is_some_and(|s| s == stem)
                        && p.extension().is_some_and(|e| e != "json")
                })
        };
        let base = find("base").unwrap_or_else(|| panic!("{name}: no base file"));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        let expected: Value = serde_json::from_str(&read(&dir.join("expected.json"))).unwrap();
        cases.push(Case {
            file_name: format!("{name}.{}", base.extension().unwrap().to_string_lossy()),
            base: read(&base),
            ours: read(&find("ours").unwrap()),
            theirs: read(&find("theirs").unwrap()),
            class: expected["class"].as_str().unwrap().to_owned(),
            safe: expected["safe"].as_bool().unwrap(),
            merged: find("merged").map(|p| read(&p)),
            name,
        });
    }
    cases
}

#[test]
fn corpus_covers_every_class_in_three_languages() {
    let cases = load_cases();
    for class in [
        "TRIVIAL",
        "CONCURRENT_EDIT",
        "STRUCTURAL",
        "SEMANTIC",
        "UNKNOWN",
    ] {
        let of_class: Vec<&Case> = cases.iter().filter(|c| c.class == class).collect();
        assert!(of_class.len() >= 5, "{class}: {} cases", of_class.len());
        let mut languages: Vec<&str> = of_class
            .iter()
            .map(|c| c.file_name.rsplit('.').next().unwrap())
            .collect();
        languages.sort();
        languages.dedup();
        assert!(languages.len() >= 3, "{class}: languages {languages:?}");
    }
    for case in &cases {
        assert_eq!(
            case.safe,
            case.merged.is_some(),
            "{}: safe cases have merged files",
            case.name
        );
    }
}

#[test]
fn corpus_is_classified_and_fixed_as_expected() {
    let mut failures = Vec::new();
    for case in load_cases() {
        let (analysis, merge) =
            analysis::analyze(&case.file_name, &case.base, &case.ours, &case.theirs, true).unwrap();
        let class = analysis.conflict_type.as_str();
        if class != case.class {
            let reasons: Vec<&str> = analysis.hunks.iter().map(|h| h.reason.as_str()).collect();
            failures.push(format!(
                "{}: classified {class}, expected {} ({reasons:?})",
                case.name, case.class
            ));
            continue;
        }
        let versions = Versions::new(&case.base, &case.ours, &case.theirs);
        let suggestion = autofix::suggest(
            &analysis,
            &merge,
            &versions,
            &pcc::merge_names::MergeNames::none(),
            &|_| (0, 0),
        );
        match (&case.merged, suggestion.auto_applicable) {
            (Some(expected), true) if &suggestion.resolved == expected => {}
            (Some(expected), true) => failures.push(format!(
                "{}: the safe fix differs from the expected merge:\n--- got\n{}\n--- expected\n{}",
                case.name, suggestion.resolved, expected
            )),
            (Some(_), false) => failures.push(format!(
                "{}: expected a safe fix, got none: {}",
                case.name, suggestion.explanation
            )),
            (None, true) => failures.push(format!(
                "{}: a fix is offered as safe where none is: {}",
                case.name, suggestion.explanation
            )),
            (None, false) => {}
        }
        if suggestion.auto_applicable {
            assert!(
                !pcc::merge3::has_conflict_markers(&suggestion.resolved),
                "{}",
                case.name
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
