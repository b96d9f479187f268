//! `git-pcc-release`: release an agent session.

fn main() {
    pcc_cli::main_with(
        |args: &pcc_cli::release::ReleaseArgs| args.json,
        pcc_cli::release::run,
    )
}
