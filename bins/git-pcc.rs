//! `git-pcc`: the front door (`git pcc <command>`).

fn main() {
    // The heartbeat hook is the hot path: parse only its own flags.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|sub| sub == "heartbeat")
    {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        let command = pcc_cli::parse_or_exit::<pcc_cli::heartbeat::HeartbeatCommand>(&args);
        let json = command.json;
        pcc_cli::finish(pcc_cli::heartbeat::run(command.args), json);
    }
    // So are the hooks, `git-pcc hook <event>` exactly as installed
    // (anything else gets the front door's parsing and messages).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.len() == 2 && args[0] == "hook" && pcc_cli::hook::is_event(&args[1]) {
        let command = pcc_cli::parse_or_exit::<pcc_cli::hook::HookCommand>(&args);
        pcc_cli::finish(pcc_cli::hook::run(command.args), false);
    }
    // And the status line, which Claude Code runs every few seconds.
    if args.first().is_some_and(|sub| sub == "statusline") {
        let command = pcc_cli::parse_or_exit::<pcc_cli::statusline::StatusLineCommand>(&args);
        let json = command.json;
        pcc_cli::finish(pcc_cli::statusline::run(command.args), json);
    }
    pcc_cli::main_with(pcc_cli::front::json_requested, pcc_cli::front::run)
}
