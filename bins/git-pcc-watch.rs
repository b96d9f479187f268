//! `git-pcc-watch`: the merge detection daemon.

fn main() {
    pcc_cli::main_with(
        |args: &pcc_cli::watch::WatchArgs| args.json,
        pcc_cli::watch::run,
    )
}
