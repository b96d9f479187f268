//! `git-pcc-sandbox`: unattended agent runs, one or many in parallel.

fn main() {
    pcc_cli::main_with(
        |args: &pcc_cli::sandbox::SandboxArgs| args.json,
        pcc_cli::sandbox::run,
    )
}
