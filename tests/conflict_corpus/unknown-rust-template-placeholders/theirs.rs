//! Entry point generated for {{project-name}}.
use std::process::ExitCode;

use clap::Parser;
use {{crate_name}}::config::Config;

#[derive(Parser)]
#[command(name = "{{project-name}}", version, about = "{{description}}")]
struct Cli {
    /// Path to the configuration file.
    #[arg(long, default_value = "{{project-name}}.toml")]
    config: String,
    /// Print what would be done without doing it.
    #[arg(long)]
    dry_run: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{{project-name}}: {err}");
            return ExitCode::FAILURE;
        }
    };
    {{crate_name}}::run(config, cli.dry_run);
    ExitCode::SUCCESS
}
