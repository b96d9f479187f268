//! `pcc-mcp`: the MCP server agents use to see each other, on stdio.

use clap::{Parser, Subcommand};

use crate::Output;

/// The parallel-cc MCP server (newline-delimited JSON-RPC on stdin/stdout).
///
/// Claude Code starts it as a stdio MCP server (`git pcc install --mcp`).
/// The calling session is found from PARALLEL_CC_SESSION_ID, the server's
/// ancestor processes, or its working directory. Logs go to stderr.
#[derive(Debug, Parser)]
#[command(name = "pcc-mcp", version)]
pub struct McpArgs {
    /// Print results as JSON (accepted for symmetry; the protocol is JSON)
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<McpCommand>,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve MCP on stdin/stdout (the default)
    Serve,
    /// List the tools the server offers
    Tools,
}

pub fn run(args: McpArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    let registry = pcc::mcp::all_tools(data_dir);
    match args.command {
        Some(McpCommand::Tools) => {
            let names = registry.names();
            Ok(Output::new(
                &serde_json::json!({"tools": registry.descriptions()}),
                names.join("\n"),
            ))
        }
        None | Some(McpCommand::Serve) => {
            // The tools read what the current schema has: a database another
            // version (or the TypeScript tool) left is migrated once, here.
            // The server serves anyway when that fails; each tool reports.
            let _ = pcc::db::Database::open_existing_current(&crate::data_dir()?);
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            let mut server = pcc::mcp::Server::new(registry);
            server.serve(&mut stdin.lock(), &mut stdout.lock())?;
            Ok(Output::silent())
        }
    }
}
