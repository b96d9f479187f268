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
    if let Err(err) = {{crate_name}}::run(config) {
        eprintln!("{{project-name}}: {err:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
