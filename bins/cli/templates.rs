//! `git pcc templates`: sandbox templates.

use clap::{Args, Subcommand};

use crate::Output;

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    #[command(subcommand)]
    pub command: TemplatesCommand,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List built-in and user templates
    List,
}

pub fn run(args: TemplatesArgs) -> anyhow::Result<Output> {
    let _ = args;
    anyhow::bail!("templates are not built yet")
}
