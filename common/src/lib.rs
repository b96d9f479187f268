//! The parallel-cc library: everything the executables do, with no argument
//! parsing and no printing. Each module owns one concept; the binaries in
//! `bins/` parse flags, call one function here and render its result.

pub mod agents;
pub mod analysis;
pub mod autofix;
pub mod budget;
pub mod checkout;
pub mod claims;
pub mod config;
pub mod conflicts;
pub mod db;
pub mod error;
pub mod failpoint;
pub mod git;
pub mod github;
pub mod held_work;
pub mod hooks;
pub mod ids;
pub mod install;
pub mod land;
pub mod legacy_runs;
pub mod line_diff;
pub mod lock;
pub mod mcp;
pub mod merge;
pub mod merge3;
pub mod merge_names;
pub mod migrations;
pub mod notify;
pub mod paths;
pub mod process;
pub mod rebase;
pub mod redact;
pub mod repo_paths;
pub mod resolutions;
pub mod sandbox;
pub mod session;
pub mod statusline;
pub mod syntax;
pub mod templates;
pub mod time;
pub mod top;
pub mod tree_merge;
pub mod worktree;

pub use error::UserError;
