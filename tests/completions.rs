//! Shell completion as each shell runs it: the generated scripts laid out
//! where scripts/install.sh puts them (under `~/.local/share` of a
//! temporary HOME), and each shell's completion asked for real command
//! lines, below the first word too. Bash is driven with Debian's
//! bash-completion and git's own completion script, as a user's shell
//! loads them; zsh in a pseudo-terminal (zsh/zpty) with compinit and its
//! git completion; fish with `complete -C`. A shell that is not installed
//! is skipped with a note (scripts/test.sh installs all three).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::TestEnv;

const BINARIES: &[&str] = &[
    "git-pcc",
    "git-pcc-register",
    "git-pcc-release",
    "git-pcc-watch",
    "git-pcc-sandbox",
    "pcc-mcp",
];

/// A HOME with the completion scripts installed as install.sh installs
/// them into `~/.local`, and a PATH holding the built executables.
struct Shells {
    env: TestEnv,
    share: PathBuf,
}

impl Shells {
    fn new() -> Shells {
        let env = TestEnv::new();
        let share = env.home.join(".local/share");
        let script = |shell: &str, binary: &str| -> Vec<u8> {
            let output = env
                .pcc("git-pcc")
                .args(["completions", shell, "--command", binary])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "completions {shell} {binary}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            output.stdout
        };
        for (dir, name) in [
            ("bash-completion/completions", "{}"),
            ("zsh/site-functions", "_{}"),
            ("fish/vendor_completions.d", "{}.fish"),
        ] {
            std::fs::create_dir_all(share.join(dir)).unwrap();
            let shell = dir.split(['/', '-']).next().unwrap();
            for binary in BINARIES {
                std::fs::write(
                    share.join(dir).join(name.replace("{}", binary)),
                    script(shell, binary),
                )
                .unwrap();
            }
        }
        std::fs::create_dir_all(share.join("fish/vendor_conf.d")).unwrap();
        std::fs::write(
            share.join("fish/vendor_conf.d/git-pcc.fish"),
            script("fish", "git"),
        )
        .unwrap();
        Shells { env, share }
    }

    /// A shell started as a user's would be: only HOME and a PATH that
    /// finds our executables and the system's.
    fn shell(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("HOME", &self.env.home)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", support::bin_dir().display()),
            )
            .env("TERM", "dumb")
            .env("LC_ALL", "C.UTF-8")
            .current_dir(self.env.path());
        command
    }
}

fn installed(program: &str) -> bool {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(program).is_file())
}

fn run(mut command: Command, what: &str) -> Vec<String> {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let mut words: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The lines asked about, and words each completion must offer.
const CASES: &[(&str, &[&str])] = &[
    ("git-pcc st", &["status"]),
    (
        "git-pcc status --",
        &["--all", "--json", "--repo", "--sandbox-only"],
    ),
    ("git-pcc config ", &["get", "list", "set"]),
    ("git-pcc sandbox run --pro", &["--prompt", "--prompt-file"]),
    ("git-pcc-sandbox run --pro", &["--prompt", "--prompt-file"]),
    ("git-pcc-watch merges --", &["--interval", "--once"]),
    ("git-pcc-release --", &["--force", "--pid", "--session-id"]),
    ("git pcc st", &["status"]),
    ("git pcc status --", &["--all", "--repo", "--sandbox-only"]),
    ("git pcc config s", &["set"]),
    ("git pcc sandbox run --pro", &["--prompt", "--prompt-file"]),
    ("git pcc watch merges --", &["--interval", "--once"]),
    ("git pcc top --", &["--all", "--once", "--repo"]),
];

fn assert_offers(shell: &str, line: &str, found: &[String], expected: &[&str]) {
    let words: Vec<&str> = found
        .iter()
        .map(|w| w.split('\t').next().unwrap_or("").trim_end())
        .collect();
    for word in expected {
        assert!(
            words.contains(word),
            "{shell}: '{line}<TAB>' does not offer {word}: {found:?}"
        );
    }
}

#[test]
fn bash_completes_every_word_of_our_commands_and_of_git_pcc() {
    if !Path::new("/usr/share/bash-completion/bash_completion").is_file() {
        eprintln!("note: bash-completion is not installed; bash completion not tested");
        return;
    }
    let shells = Shells::new();
    // The function bash calls for the first word, with COMP_* as bash sets
    // them; the scripts are found by bash-completion's loader, and git's
    // completion finds _git_pcc through it.
    let driver = r#"
source /usr/share/bash-completion/bash_completion
line=$1
COMP_LINE=$line
COMP_POINT=${#line}
read -r -a COMP_WORDS <<< "$line"
[[ $line == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_completion_loader "${COMP_WORDS[0]}" >/dev/null 2>&1
spec=$(complete -p "${COMP_WORDS[0]}") || { echo "no completion for ${COMP_WORDS[0]}" >&2; exit 1; }
function=${spec#*-F }
function=${function%% *}
COMPREPLY=()
"$function" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    for (line, expected) in CASES {
        let mut command = shells.shell("bash");
        command.args(["-c", driver, "driver", line]);
        let found = run(command, line);
        assert_offers("bash", line, &found, expected);
        if line.starts_with("git pcc") {
            // git completes with -o nospace: a finished word ends with one.
            assert!(
                found.iter().any(|w| w.ends_with(' ')),
                "bash: '{line}': {found:?}"
            );
        }
    }
}

#[test]
fn zsh_completes_every_word_of_our_commands_and_of_git_pcc() {
    if !installed("zsh") {
        eprintln!("note: zsh is not installed; zsh completion not tested");
        return;
    }
    let shells = Shells::new();
    let zdotdir = shells.env.path().join("zdotdir");
    std::fs::create_dir_all(&zdotdir).unwrap();
    let out = shells.env.path().join("zsh-completions.txt");
    // An interactive zsh in a pseudo-terminal, with compinit and our
    // functions on fpath; compadd is wrapped to write down what each call
    // would offer, and TAB is bound to a widget that completes the line
    // and then says it is done.
    std::fs::write(
        zdotdir.join(".zshrc"),
        format!(
            r#"
fpath=({site} $fpath)
autoload -Uz compinit && compinit -u -d {dump}
unsetopt beep
PS1='> '
compadd() {{
    if (( ${{@[(I)-[OAD]]}} )); then
        builtin compadd "$@"
        return
    fi
    local -a found
    builtin compadd -O found "$@"
    (( ${{#found}} )) && print -rl -- $found >> {out}
    builtin compadd "$@"
}}
pcc-complete() {{
    zle complete-word
    print -r -- '<done>' >> {out}
}}
zle -N pcc-complete
bindkey '^I' pcc-complete
"#,
            site = shells.share.join("zsh/site-functions").display(),
            dump = shells.env.path().join("zcompdump").display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let driver = r#"
zmodload zsh/zpty
zpty shell zsh -i
zpty -w -n shell "$1"$'\t'
for i in {1..400}; do
    [[ -f $2 ]] && grep -q '<done>' $2 && break
    sleep 0.05
done
zpty -d shell
grep -v '<done>' $2
"#;
    for (line, expected) in CASES {
        let _ = std::fs::remove_file(&out);
        let mut command = shells.shell("zsh");
        command
            .env("ZDOTDIR", &zdotdir)
            .args(["-f", "-c", driver, "driver", line])
            .arg(&out);
        let found = run(command, line);
        assert_offers("zsh", line, &found, expected);
    }
}

#[test]
fn fish_completes_every_word_of_our_commands_and_of_git_pcc() {
    if !installed("fish") {
        eprintln!("note: fish is not installed; fish completion not tested");
        return;
    }
    let shells = Shells::new();
    for (line, expected) in CASES {
        let mut command = shells.shell("fish");
        command.args(["-c", "complete -C $argv[1]", line]);
        let found = run(command, line);
        assert_offers("fish", line, &found, expected);
    }
}
