//! `git-pcc-register`: register an agent session.

fn main() {
    pcc_cli::main_with(
        |args: &pcc_cli::register::RegisterArgs| args.json,
        pcc_cli::register::run,
    )
}
