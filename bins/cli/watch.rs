//! `git-pcc-watch`: notices when parallel branches are merged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use pcc::merge;

use crate::Output;

/// Watch for merged branches of live sessions and of subscriptions.
///
/// Every interval (or once) each repository with live worktree sessions or
/// active subscriptions is checked, in parallel; a branch merged into its
/// target by fast-forward, merge commit, squash or rebase is recorded once
/// and the sessions that care are told at their next tool call.
#[derive(Debug, Parser)]
#[command(name = "git-pcc-watch", bin_name = "git pcc watch", version)]
pub struct WatchArgs {
    /// Print results as JSON (one line per poll)
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: WatchCommand,
}

#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Detect merges (a foreground daemon; SIGINT or SIGTERM stops it)
    Merges {
        /// Seconds between polls
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        interval: u64,
        /// Poll once and exit
        #[arg(long)]
        once: bool,
    },
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn run(args: WatchArgs) -> anyhow::Result<Output> {
    let WatchCommand::Merges { interval, once } = args.command;
    let data_dir = crate::data_dir()?;
    if once {
        let report = merge::poll(&data_dir)?;
        let human = describe(&report);
        return Ok(Output::new(&report, human));
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
    }
    eprintln!("git-pcc-watch: polling every {interval} s (Ctrl-C stops)");
    while !STOP.load(Ordering::SeqCst) {
        match merge::poll(&data_dir) {
            Ok(report) => {
                if args.json {
                    println!("{}", serde_json::to_string(&report).unwrap_or_default());
                } else if !report.new_events.is_empty() {
                    print!("{}", describe(&report));
                }
            }
            Err(err) => eprintln!("git-pcc-watch: poll failed: {err:#}"),
        }
        let until = Instant::now() + Duration::from_secs(interval);
        while Instant::now() < until && !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    eprintln!("git-pcc-watch: stopped");
    Ok(Output::silent())
}

fn describe(report: &merge::PollReport) -> String {
    let mut out = String::new();
    for event in &report.new_events {
        out.push_str(&format!(
            "merged  {} -> {} ({})  in {}\n",
            event.branch_name,
            event.target_branch,
            &event.source_commit[..7.min(event.source_commit.len())],
            event.repo_path
        ));
    }
    if out.is_empty() {
        out = format!(
            "no new merges ({} branches in {} repositories)\n",
            report.branches_checked, report.repositories
        );
    }
    out
}
