//! Line merging against git's own: thousands of random three-way merges of
//! small files (few distinct lines, so changes collide, repeat and slide),
//! each merged by us and by `git merge-file --diff-algorithm=histogram`;
//! the verdict, the number of conflicts and the merged text with markers
//! must be git's byte for byte.

mod support;

use std::process::Command;

use pcc::merge3::{self, Markers};
use support::TestEnv;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

const WORDS: &[&str] = &[
    "a", "b", "c", "d", "}", "", "fn x() {", "    y();", "e", "f",
];

fn line(random: &mut Random) -> String {
    format!("{}\n", WORDS[random.below(WORDS.len() as u64)])
}

fn base(random: &mut Random) -> Vec<String> {
    (0..random.below(24)).map(|_| line(random)).collect()
}

/// The base with a few random replacements, insertions and deletions.
fn edited(random: &mut Random, base: &[String]) -> Vec<String> {
    let mut lines = base.to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(lines.len() as u64 + 1);
        match random.below(3) {
            0 if at < lines.len() => lines[at] = line(random),
            1 => (0..1 + random.below(3)).for_each(|_| lines.insert(at, line(random))),
            _ if at < lines.len() => {
                let end = (at + 1 + random.below(3)).min(lines.len());
                lines.drain(at..end);
            }
            _ => lines.insert(at, line(random)),
        }
    }
    if random.below(8) == 0 {
        if let Some(last) = lines.last_mut() {
            last.pop();
        }
    }
    lines
}

#[test]
fn random_merges_match_git_merge_file_with_histogram() {
    let env = TestEnv::new();
    let dir = env.root.path();
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let (mut conflicted, mut clean) = (0, 0);
    for case in 0..1500 {
        let base_lines = base(&mut random);
        let (base, ours, theirs) = (
            base_lines.concat(),
            edited(&mut random, &base_lines).concat(),
            edited(&mut random, &base_lines).concat(),
        );
        for (name, text) in [("base", &base), ("ours", &ours), ("theirs", &theirs)] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let git = Command::new("git")
            .current_dir(dir)
            .args(["merge-file", "-p", "--diff-algorithm=histogram"])
            .args([
                "-L", "ours", "-L", "base", "-L", "theirs", "ours", "base", "theirs",
            ])
            .output()
            .unwrap();
        let git_conflicts = git.status.code().expect("git merge-file exited");
        let markers = Markers {
            ours: "ours",
            theirs: "theirs",
            size: 7,
            join_across_punctuation: true,
        };
        let (text, conflicts) = merge3::render_merge_style(
            base.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
            &markers,
        );
        let context = format!("case {case}\n--- base\n{base}--- ours\n{ours}--- theirs\n{theirs}");
        assert_eq!(
            String::from_utf8_lossy(&text),
            String::from_utf8_lossy(&git.stdout),
            "merged text, {context}"
        );
        assert_eq!(conflicts as i32, git_conflicts, "conflicts, {context}");
        assert_eq!(
            merge3::conflicts(base.as_bytes(), ours.as_bytes(), theirs.as_bytes()),
            git_conflicts > 0,
            "verdict, {context}"
        );
        if git_conflicts > 0 {
            conflicted += 1;
        } else {
            clean += 1;
        }
    }
    // The generator must give both outcomes often, or the test proves little.
    assert!(
        conflicted > 300 && clean > 300,
        "{conflicted} conflicted, {clean} clean"
    );
}
