//! `git-pcc`: the front door (`git pcc <command>`).

fn main() {
    pcc_cli::main_with(
        |args: &pcc_cli::front::FrontArgs| args.json,
        pcc_cli::front::run,
    )
}
