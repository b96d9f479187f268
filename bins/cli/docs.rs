//! Man pages and shell completions, generated from the same clap
//! definitions the executables parse with, so the docs cannot drift.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::front::FrontArgs;
use crate::mcp::McpArgs;
use crate::register::RegisterArgs;
use crate::release::ReleaseArgs;
use crate::sandbox::SandboxArgs;
use crate::watch::WatchArgs;

/// The clap command of every executable, by binary name.
pub fn executables() -> Vec<clap::Command> {
    vec![
        FrontArgs::command(),
        RegisterArgs::command(),
        ReleaseArgs::command(),
        McpArgs::command(),
        WatchArgs::command(),
        SandboxArgs::command(),
    ]
}

/// Every man page as `(file name, roff text)`: one per executable and one
/// per `git pcc` subcommand (`git-pcc-status.1`).
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut pages = Vec::new();
    for command in executables() {
        let name = command.get_name().to_owned();
        pages.push((format!("{name}.1"), render_man(command.clone())?));
        if name == "git-pcc" {
            for sub in command.get_subcommands() {
                // `git pcc templates` runs `git-pcc-sandbox templates`: its
                // page is that command's.
                let sub = if sub.get_name() == "templates" {
                    SandboxArgs::command()
                        .find_subcommand("templates")
                        .cloned()
                        .context("git-pcc-sandbox has no templates command")?
                } else {
                    sub.clone()
                };
                let sub_name = format!("git-pcc-{}", sub.get_name());
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

fn render_man(command: clap::Command) -> Result<Vec<u8>> {
    let mut buffer = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut buffer)
        .context("cannot render a man page")?;
    Ok(buffer)
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
    /// The executable to complete (git-pcc, git-pcc-register, git-pcc-release, git-pcc-watch, git-pcc-sandbox, pcc-mcp)
    #[arg(long, default_value = "git-pcc")]
    pub command: String,
}

/// Prints the completion script of one executable for one shell.
pub fn print_completions(args: CompletionArgs) -> Result<crate::Output> {
    let mut command = executables()
        .into_iter()
        .find(|c| c.get_name() == args.command)
        .ok_or_else(|| pcc::UserError::new(format!("no executable named {}", args.command)))?;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, args.command.clone(), &mut script);
    let text = String::from_utf8(script).context("completion script is not UTF-8")?;
    Ok(crate::Output {
        json: String::new(),
        human: text,
        exit_code: 0,
    })
}

/// Writes bash, zsh and fish completions of every executable into `dir`.
pub fn write_completions(dir: &Path) -> Result<()> {
    use clap_complete::Shell;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let shell_dir = dir.join(shell.to_string());
        std::fs::create_dir_all(&shell_dir)?;
        for mut command in executables() {
            let name = command.get_name().to_owned();
            clap_complete::generate_to(shell, &mut command, name, &shell_dir)?;
        }
    }
    Ok(())
}
