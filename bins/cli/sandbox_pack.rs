//! `git pcc sandbox pack`: what a sandbox run would upload.

use std::path::PathBuf;

use clap::Args;

use crate::Output;

#[derive(Debug, Args)]
pub struct PackArgs {
    /// The repository (default: the current directory)
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// Write the tar.gz here ('-' for standard output)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Pack files matching this pattern even if they are secrets or excluded (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
}

pub fn run(args: PackArgs) -> anyhow::Result<Output> {
    let _ = args;
    anyhow::bail!("packing is not built yet")
}
