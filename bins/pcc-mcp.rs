//! `pcc-mcp`: the parallel-cc MCP server.

fn main() {
    pcc_cli::main_with(|args: &pcc_cli::mcp::McpArgs| args.json, pcc_cli::mcp::run)
}
