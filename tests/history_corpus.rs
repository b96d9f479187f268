//! The history corpus: real conflicts from public history
//! (`scripts/conflict-corpus.py` builds it under `target/history-corpus`
//! from clones of the repositories its checked-in manifest names, or
//! wherever `PCC_HISTORY_CORPUS` points). Every auto-applicable fix must
//! equal what people committed (exactly or but for whitespace), or be listed
//! with a reason in `tests/history_corpus/exceptions.json`. The figures
//! (detection agreement with git, fix coverage, agreement with people) are
//! printed, and written as JSON to `PCC_HISTORY_REPORT` when it is set
//! (`scripts/bench/history.py` reads them). With `PCC_HISTORY_DUMP=DIR`,
//! each case's hunks (class, reason), git-style conflicted text and fix are
//! written to DIR as JSON, for studying the cases a fix misses.
//!
//! Where the corpus has not been built, only the checked-in manifest and
//! exceptions are checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pcc::analysis;
use pcc::autofix;
use pcc::merge3::{self, Versions};
use pcc::merge_names::{ChangedFile, MergeNames};
use serde_json::{json, Value};

fn checked_in(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/history_corpus")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PCC_HISTORY_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/history-corpus"));
    dir.join("manifest.json").is_file().then_some(dir)
}

/// Reviewed fixes that differ from the human resolution: id -> reason.
fn exceptions() -> BTreeMap<String, String> {
    checked_in("exceptions.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agreement {
    Exact,
    Whitespace,
    Differs,
}

fn agreement(fix: &str, human: &str) -> Agreement {
    if fix == human {
        return Agreement::Exact;
    }
    // Whitespace anywhere (blank lines, indentation, line breaks) aside.
    let normal = |text: &str| -> String { text.split_whitespace().collect() };
    if normal(fix) == normal(human) {
        Agreement::Whitespace
    } else {
        Agreement::Differs
    }
}

struct Outcome {
    id: String,
    path: String,
    conflicted: bool,
    hunks: usize,
    git_hunks: usize,
    class: &'static str,
    auto: Option<(&'static str, Agreement)>,
    refused_across_files: bool,
    fix: String,
    human: String,
}

/// What each side of the case's merge renames, removes or re-signs.
fn names_of(dir: &Path, id: &str) -> Arc<MergeNames> {
    static CACHE: Mutex<BTreeMap<PathBuf, Arc<MergeNames>>> = Mutex::new(BTreeMap::new());
    let repository = id.split('/').next().unwrap();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(id).join("case.json")).unwrap())
            .unwrap();
    let file = dir.join(repository).join(meta["changes"].as_str().unwrap());
    if let Some(names) = CACHE.lock().unwrap().get(&file) {
        return names.clone();
    }
    let changes: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let side = |name: &str| -> Vec<ChangedFile<'_>> {
        changes[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| ChangedFile {
                path: f["path"].as_str().unwrap(),
                base: f["base"].as_str().unwrap(),
                side: f["side"].as_str().unwrap(),
            })
            .collect()
    };
    let names = Arc::new(MergeNames::of_changes(&side("ours"), &side("theirs")));
    CACHE.lock().unwrap().insert(file, names.clone());
    names
}

fn evaluate(dir: &Path, case: &Value) -> Outcome {
    let id = case["id"].as_str().unwrap();
    let path = case["path"].as_str().unwrap();
    let ext = Path::new(path).extension().unwrap().to_string_lossy();
    let read = |version: &str| {
        std::fs::read_to_string(dir.join(id).join(format!("{version}.{ext}"))).unwrap()
    };
    let (base, ours, theirs, human) = (read("base"), read("ours"), read("theirs"), read("human"));
    let names = names_of(dir, id);
    let (analysis, merge) = analysis::analyze(path, &base, &ours, &theirs, true).unwrap();
    let versions = Versions::new(&base, &ours, &theirs);
    let mut outcome = Outcome {
        id: id.to_owned(),
        path: path.to_owned(),
        conflicted: !analysis.hunks.is_empty(),
        hunks: analysis.hunks.len(),
        git_hunks: case["gitHunks"].as_u64().unwrap() as usize,
        class: analysis.conflict_type.as_str(),
        auto: None,
        refused_across_files: false,
        fix: String::new(),
        human: human.clone(),
    };
    if analysis.hunks.is_empty() {
        return outcome;
    }
    let suggestion = autofix::suggest(&analysis, &merge, &versions, &names, &|_| (0, 0));
    let alone = autofix::suggest(&analysis, &merge, &versions, &MergeNames::none(), &|_| {
        (0, 0)
    });
    outcome.refused_across_files = alone.auto_applicable && !suggestion.auto_applicable;
    if let Some(dump) = std::env::var_os("PCC_HISTORY_DUMP") {
        let marked = merge3::render(&merge.regions, &versions, |_, _| None);
        let hunks: Vec<Value> = analysis
            .hunks
            .iter()
            .map(|h| {
                json!({"class": h.conflict_type.as_str(), "reason": h.reason,
                       "imports": h.imports_only, "additions": h.additions_only})
            })
            .collect();
        let record = json!({"id": id, "path": path, "hunks": hunks, "marked": marked,
            "auto": suggestion.auto_applicable, "fix": suggestion.resolved,
            "alone": alone.auto_applicable, "explanation": suggestion.explanation,
            "risks": suggestion.risks});
        let file = Path::new(&dump).join(format!("{}.json", id.replace('/', "_")));
        std::fs::write(file, serde_json::to_string(&record).unwrap()).unwrap();
    }
    if suggestion.auto_applicable {
        outcome.auto = Some((
            suggestion.strategy.as_str(),
            agreement(&suggestion.resolved, &human),
        ));
        outcome.fix = suggestion.resolved;
    }
    outcome
}

fn percent(part: usize, whole: usize) -> f64 {
    (1000.0 * part as f64 / whole.max(1) as f64).round() / 10.0
}

fn report(outcomes: &[Outcome], exceptions: &BTreeMap<String, String>) -> Value {
    let total = outcomes.len();
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let auto = count(&|o| o.auto.is_some());
    let exact = count(&|o| matches!(o.auto, Some((_, Agreement::Exact))));
    let whitespace = count(&|o| matches!(o.auto, Some((_, Agreement::Whitespace))));
    let mut classes = BTreeMap::new();
    let mut strategies = BTreeMap::new();
    for outcome in outcomes {
        *classes.entry(outcome.class).or_insert(0) += 1;
        if let Some((strategy, _)) = outcome.auto {
            *strategies.entry(strategy).or_insert(0) += 1;
        }
    }
    let differing: Vec<Value> = outcomes
        .iter()
        .filter(|o| matches!(o.auto, Some((_, Agreement::Differs))))
        .map(|o| {
            json!({
                "id": o.id,
                "path": o.path,
                "strategy": o.auto.unwrap().0,
                "reviewed": exceptions.get(&o.id),
            })
        })
        .collect();
    json!({
        "cases": total,
        "detection": {
            "gitConflictedFiles": total,
            "conflictedHere": count(&|o| o.conflicted),
            "sameHunkCount": count(&|o| o.hunks == o.git_hunks),
            "filesAgreement": percent(count(&|o| o.conflicted), total),
            "hunksAgreement": percent(count(&|o| o.hunks == o.git_hunks), total),
        },
        "classes": classes,
        "fixes": {
            "autoApplicable": auto,
            "coverage": percent(auto, total),
            "strategies": strategies,
            "exact": exact,
            "whitespaceOnly": whitespace,
            "differs": auto - exact - whitespace,
            "humanAgreement": percent(exact + whitespace, auto),
            "refusedAcrossFiles": count(&|o| o.refused_across_files),
            "differing": differing,
        },
    })
}

#[test]
fn exceptions_are_reviewed_cases_of_the_manifest() {
    let manifest = checked_in("manifest.json");
    let ids: Vec<&str> = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= 100, "{} cases", ids.len());
    for repository in manifest["repositories"].as_array().unwrap() {
        let commit = repository["commit"].as_str().unwrap();
        assert_eq!(commit.len(), 40, "{repository}: pinned by full commit id");
        assert!(repository["licence"].as_str().is_some(), "{repository}");
    }
    for (id, reason) in exceptions() {
        assert!(ids.contains(&id.as_str()), "exception {id} is no case");
        assert!(reason.len() >= 20, "exception {id}: give the reason");
    }
}

#[test]
fn fixes_of_real_conflicts_agree_with_people() {
    let Some(dir) = corpus_dir() else {
        eprintln!("history corpus not built: scripts/conflict-corpus.py builds it");
        return;
    };
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    // Two workers, each taking every other run of three cases (a merge's
    // cases are neighbours, and share their names).
    let mut outcomes: Vec<(usize, Outcome)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let dir = &dir;
                scope.spawn(move || {
                    cases
                        .iter()
                        .enumerate()
                        .filter(|(index, _)| index / 3 % 2 == worker)
                        .map(|(index, case)| (index, evaluate(dir, case)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    outcomes.sort_by_key(|(index, _)| *index);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let exceptions = exceptions();
    let report = report(&outcomes, &exceptions);
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    if let Some(path) = std::env::var_os("PCC_HISTORY_REPORT") {
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    if std::env::var_os("PCC_HISTORY_SHOW").is_some() {
        for outcome in outcomes
            .iter()
            .filter(|o| matches!(o.auto, Some((_, Agreement::Differs))))
        {
            println!(
                "=== {} {}\n--- fix\n{}\n--- human\n{}",
                outcome.id, outcome.path, outcome.fix, outcome.human
            );
        }
    }
    let unreviewed: Vec<&str> = outcomes
        .iter()
        .filter(|o| {
            matches!(o.auto, Some((_, Agreement::Differs))) && !exceptions.contains_key(&o.id)
        })
        .map(|o| o.id.as_str())
        .collect();
    assert!(
        unreviewed.is_empty(),
        "auto-applicable fixes that differ from the human resolution: {unreviewed:?}"
    );
}
