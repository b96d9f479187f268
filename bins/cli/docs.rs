//! Man pages and shell completions, generated from the same clap
//! definitions the executables parse with, so the docs cannot drift.
//!
//! `git pcc` hands several commands to other executables (`sandbox`,
//! `watch`, `register`, `release`, `templates`, `mcp`); for its page and
//! its completions those commands carry the other executable's own
//! arguments ([`front_command`]), so that `git pcc sandbox run --<TAB>`
//! completes what `git-pcc-sandbox run` takes.

use std::path::Path;

use anyhow::{Context, Result};
use clap::builder::Resettable;
use clap::CommandFactory;

use crate::front::FrontArgs;
use crate::mcp::McpArgs;
use crate::register::RegisterArgs;
use crate::release::ReleaseArgs;
use crate::sandbox::SandboxArgs;
use crate::watch::WatchArgs;

/// The clap command of every executable, by binary name; `git-pcc` as
/// [`front_command`] gives it.
pub fn executables() -> Vec<clap::Command> {
    vec![
        front_command(),
        RegisterArgs::command(),
        ReleaseArgs::command(),
        McpArgs::command(),
        WatchArgs::command(),
        SandboxArgs::command(),
    ]
}

/// The commands `git pcc` hands to another executable, with that
/// executable's command (for `templates`, its subcommand).
fn delegated() -> Vec<(&'static str, clap::Command)> {
    let templates = SandboxArgs::command()
        .find_subcommand("templates")
        .cloned()
        .unwrap_or_else(|| clap::Command::new("templates"));
    vec![
        ("register", RegisterArgs::command()),
        ("release", ReleaseArgs::command()),
        ("sandbox", SandboxArgs::command()),
        ("templates", templates),
        ("watch", WatchArgs::command()),
        ("mcp", McpArgs::command()),
    ]
}

/// `git pcc` as people reach it: its own commands, and those it hands on
/// with the arguments of the executable that runs them (each keeps the
/// one-line summary `git pcc --help` shows).
pub fn front_command() -> clap::Command {
    let mut front = FrontArgs::command();
    for (name, real) in delegated() {
        front = front.mut_subcommand(name, |stub| {
            let long_about = real.get_long_about().or(real.get_about()).cloned();
            let mut command = real
                .name(name)
                .bin_name(Resettable::<String>::Reset)
                .display_name(Resettable::<String>::Reset)
                .display_order(stub.get_display_order());
            if let Some(about) = stub.get_about().cloned() {
                command = command.about(about);
            }
            if let Some(long_about) = long_about {
                command = command.long_about(long_about);
            }
            command
        });
    }
    front
}

/// Every man page as `(file name, roff text)`: one per executable and one
/// per `git pcc` subcommand (`git-pcc-status.1`). A command `git pcc`
/// hands on has its executable's page (`git-pcc-sandbox.1`), or, when
/// that is named otherwise, a page of its own (`git-pcc-mcp.1`).
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut pages = Vec::new();
    let names: Vec<String> = executables()
        .iter()
        .map(|c| c.get_name().to_owned())
        .collect();
    for command in executables() {
        let name = command.get_name().to_owned();
        let bin_name = command
            .get_bin_name()
            .map_or_else(|| name.clone(), str::to_owned);
        pages.push((
            format!("{name}.1"),
            render_man(command.clone().bin_name(bin_name))?,
        ));
        if name == "git-pcc" {
            for sub in command.get_subcommands() {
                let sub_name = format!("git-pcc-{}", sub.get_name());
                if sub.get_name() == "help" || names.contains(&sub_name) {
                    continue;
                }
                let page = sub
                    .clone()
                    .name(sub_name.clone())
                    .bin_name(format!("git pcc {}", sub.get_name()));
                pages.push((format!("{sub_name}.1"), render_man(page)?));
            }
        }
        if name == "git-pcc-sandbox" {
            for sub in command.get_subcommands() {
                if sub.get_name() == "templates" || sub.get_name() == "help" {
                    continue;
                }
                let sub_name = format!("git-pcc-sandbox-{}", sub.get_name());
                let page = sub
                    .clone()
                    .name(sub_name.clone())
                    .bin_name(format!("git pcc sandbox {}", sub.get_name()));
                pages.push((format!("{sub_name}.1"), render_man(page)?));
            }
        }
    }
    Ok(pages)
}

/// A page as clap_mangen renders one, but with a SYNOPSIS that names each
/// option's value (`[--repo PATH]`), which clap_mangen leaves out.
fn render_man(command: clap::Command) -> Result<Vec<u8>> {
    let mut command = command;
    command.build();
    let mut buffer = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut buffer)
        .context("cannot render a man page")?;
    let page = String::from_utf8(buffer).context("a man page is not UTF-8")?;
    let start = page
        .find(".SH SYNOPSIS\n")
        .context("a man page without a SYNOPSIS")?;
    let end = page[start + 1..]
        .find("\n.SH ")
        .map_or(page.len(), |at| start + 1 + at + 1);
    let mut page = page;
    page.replace_range(start..end, &synopsis(&command));
    Ok(page.into_bytes())
}

/// Text for roff: backslashes and hyphens escaped, and a leading dot or
/// quote kept from being read as a request.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// The SYNOPSIS section: the command, its options with their values,
/// its positional arguments, and its subcommand.
fn synopsis(command: &clap::Command) -> String {
    let name = command.get_bin_name().unwrap_or(command.get_name());
    let mut words = vec![format!("\\fB{}\\fR", roff_escape(name))];
    let mut options: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set() && !arg.is_positional())
        .collect();
    // Required options first, as usage lines put them.
    options.sort_by_key(|arg| !arg.is_required_set());
    for arg in options {
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => {
                format!("\\fB\\-{short}\\fR|\\fB\\-\\-{}\\fR", roff_escape(long))
            }
            (Some(short), None) => format!("\\fB\\-{short}\\fR"),
            (None, Some(long)) => format!("\\fB\\-\\-{}\\fR", roff_escape(long)),
            (None, None) => continue,
        };
        let value = if arg.get_action().takes_values() {
            format!(" \\fI{}\\fR", roff_escape(&value_name(arg)))
        } else {
            String::new()
        };
        let repeat = if matches!(
            arg.get_action(),
            clap::ArgAction::Append | clap::ArgAction::Count
        ) {
            "..."
        } else {
            ""
        };
        words.push(if arg.is_required_set() {
            format!("{flag}{value}{repeat}")
        } else {
            format!("[{flag}{value}]{repeat}")
        });
    }
    for arg in command.get_positionals().filter(|arg| !arg.is_hide_set()) {
        let value = format!("\\fI{}\\fR", roff_escape(&value_name(arg)));
        let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let repeat = if many { "..." } else { "" };
        words.push(if arg.is_required_set() {
            format!("{value}{repeat}")
        } else {
            format!("[{value}]{repeat}")
        });
    }
    if command.has_subcommands() {
        let name = "\\fIcommand\\fR";
        words.push(if command.is_subcommand_required_set() {
            name.to_owned()
        } else {
            format!("[{name}]")
        });
    }
    format!(".SH SYNOPSIS\n{}\n", words.join(" "))
}

/// An argument's value as help shows it: its value name, else its id in
/// capitals.
fn value_name(arg: &clap::Arg) -> String {
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => arg.get_id().as_str().to_uppercase(),
    }
}

/// Writes every man page into `dir`.
pub fn write_man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in man_pages()? {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    /// The executable to complete (git-pcc, git-pcc-register,
    /// git-pcc-release, git-pcc-watch, git-pcc-sandbox, pcc-mcp); with fish,
    /// `git` gives the part of git's own completion that completes `git
    /// pcc` (scripts/install.sh puts it in fish's vendor_conf.d)
    #[arg(long, value_name = "BIN", default_value = "git-pcc")]
    pub command: String,
}

/// Prints the completion script of one executable for one shell.
pub fn print_completions(args: CompletionArgs) -> Result<crate::Output> {
    let text = completion_script(args.shell, &args.command)?;
    Ok(crate::Output {
        json: String::new(),
        human: text,
        exit_code: 0,
    })
}

/// The completion script of executable `name` for `shell`. The bash
/// script of `git-pcc` also defines `_git_pcc`, the function git's own
/// completion calls for `git pcc`; zsh's git completion calls the
/// `_git-pcc` the zsh script defines; fish's takes `git` as `name`.
pub fn completion_script(shell: clap_complete::Shell, name: &str) -> Result<String> {
    use clap_complete::Shell;
    if name == "git" {
        return match shell {
            Shell::Fish => Ok(FISH_GIT_PCC.to_owned()),
            _ => Err(pcc::UserError::with_hint(
                format!("{shell} completes 'git pcc' with the git-pcc script"),
                format!("use 'git pcc completions {shell}'"),
            )
            .into()),
        };
    }
    let command = executables()
        .into_iter()
        .find(|c| c.get_name() == name)
        .ok_or_else(|| {
            pcc::UserError::with_hint(
                format!("no executable named {name}"),
                "name one of git-pcc, git-pcc-register, git-pcc-release, git-pcc-watch, git-pcc-sandbox, pcc-mcp",
            )
        })?;
    // Every command's name on the command line is the executable's: the
    // generators build their function names and case labels from them,
    // and a name kept from `git pcc ...` would make the two differ. The
    // bash generator also spells a `-` of the executable's name one way in
    // its case labels and another in the names it matches them against, so
    // for bash the script is made for a name without one, and the
    // `complete` lines then name the executable.
    let generated_for = match shell {
        Shell::Bash => name.replace('-', "__"),
        _ => name.to_owned(),
    };
    let mut command = with_bin_names(command, &generated_for);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, generated_for.clone(), &mut script);
    let mut text = String::from_utf8(script).context("completion script is not UTF-8")?;
    if shell == Shell::Bash {
        text = text
            .lines()
            .map(|line| match line.trim_start().starts_with("complete -F ") {
                true => match line.strip_suffix(&format!(" {generated_for}")) {
                    Some(start) => format!("{start} {name}"),
                    None => line.to_owned(),
                },
                false => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        if name == "git-pcc" {
            text.push_str(BASH_GIT_PCC);
        }
    }
    Ok(text)
}

/// `command` with `bin` as its name on the command line and each
/// subcommand's below it (`git-pcc status`, `git-pcc config set`).
fn with_bin_names(command: clap::Command, bin: &str) -> clap::Command {
    let bin = bin.to_owned();
    command
        .bin_name(bin.clone())
        .display_name(bin.clone())
        .mut_subcommands(move |sub| {
            let name = format!("{bin} {}", sub.get_name());
            with_bin_names(sub, &name)
        })
}

/// For bash: git's completion runs `_git_pcc` for `git pcc ...`; it
/// completes the words after `pcc` as those of `git-pcc`.
const BASH_GIT_PCC: &str = r#"
# 'git pcc <TAB>': git's completion calls _git_pcc, which completes the
# words after "pcc" as those of git-pcc.
_git_pcc() {
    local index=1
    while [[ $index -lt $COMP_CWORD && ${COMP_WORDS[index]} != pcc ]]; do
        index=$((index + 1))
    done
    local -a COMP_WORDS=(git-pcc "${COMP_WORDS[@]:index+1}")
    local COMP_CWORD=$((COMP_CWORD - index))
    _git__pcc git-pcc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    # git completes with -o nospace: end each finished word with a space.
    local i
    for i in "${!COMPREPLY[@]}"; do
        if [[ -d ${COMPREPLY[i]} ]]; then
            COMPREPLY[i]+=/
        elif [[ ${COMPREPLY[i]} != *[=/] ]]; then
            COMPREPLY[i]+=' '
        fi
    done
}
"#;

/// For fish: `git pcc ...` completes as `git-pcc ...`. Fish's own git
/// completion does not reach commands named `git-*` (as of fish 3.6), so
/// this goes to a vendor_conf.d directory, read when fish starts.
const FISH_GIT_PCC: &str = r#"# 'git pcc <TAB>' completes as 'git-pcc <TAB>' (parallel-cc).
# The conditions are git's own (its completion defines them before it
# completes anything for git).
function __pcc_git_complete
    set -l words (commandline -opc)
    set -l index (contains -i -- pcc $words)
    or return
    set -l rest $words[(math $index + 1)..-1]
    complete -C (string join ' ' -- git-pcc (string escape -- $rest))" "(commandline -ct)
end

complete -c git -f -n '__fish_git_using_command pcc' -a '(__pcc_git_complete)'
complete -c git -f -n __fish_git_needs_command -a pcc -d 'Coordinate parallel agent sessions (parallel-cc)'
"#;
