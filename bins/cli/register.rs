//! `git-pcc-register`: start a session for an agent process.

use std::path::PathBuf;

use clap::Parser;
use pcc::session::{self, Registration};

use crate::render::{self, shell_quote};
use crate::Output;

/// Register an agent session in a repository.
///
/// The first live session in a repository works in its main checkout; every
/// further one gets its own git worktree on its own branch, ready at once.
#[derive(Debug, Parser)]
#[command(
    name = "git-pcc-register",
    version,
    after_help = "Usually run by the claude-parallel wrapper, not by hand."
)]
pub struct RegisterArgs {
    /// Any path inside the repository (or one of its worktrees)
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// PID of the agent process that owns the session
    #[arg(long, value_name = "PID")]
    pub pid: i64,
    /// What a new worktree starts from: head (the main checkout's HEAD),
    /// fresh (fetch, then the remote's default branch) or any ref
    /// [default: $PARALLEL_CC_BASE, else config worktree.base]
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Re-enter the worktree the agent's conversation ID worked in (kept, its
    /// session's, or made again at the same path and on the same branch when
    /// it held nothing and was removed), as `claude --resume ID` needs; a new
    /// one when none is known
    #[arg(long, value_name = "ID", conflicts_with = "continue_latest")]
    pub resume: Option<String>,
    /// Re-enter the worktree most recently kept with a conversation, as
    /// `claude --continue` needs
    #[arg(long = "continue")]
    pub continue_latest: bool,
    /// The agent the session runs: claude, codex, gemini, aider, opencode,
    /// or one defined in config (agents.<name>)
    #[arg(long, value_name = "NAME", default_value = pcc::agents::DEFAULT_AGENT)]
    pub agent: String,
    /// Print the result as JSON
    #[arg(long, conflicts_with = "shell")]
    pub json: bool,
    /// Print shell assignments (session_id, worktree_path, ...) for eval
    #[arg(long)]
    pub shell: bool,
}

pub fn run(args: RegisterArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    // Read once for the warnings, the agent and the registration; a
    // settings file that cannot be read is reported by the registration
    // itself, with what is wrong with the data directory.
    let loaded = pcc::config::Config::load(&data_dir).ok();
    if let Some(config) = &loaded {
        crate::config::warn_about(config);
    }
    let defaults;
    let config = match &loaded {
        Some(config) => config,
        None => {
            defaults = pcc::config::Config::defaults(&data_dir);
            &defaults
        }
    };
    let agent = pcc::agents::find(config, &args.agent)?;
    let resume = match (&args.resume, args.continue_latest) {
        (Some(id), _) => Some(session::Resume::Conversation(id.clone())),
        (None, true) => Some(session::Resume::Latest),
        (None, false) => None,
    };
    let target = match &resume {
        Some(resume) => session::resume_target(&data_dir, &args.repo, resume)
            .map_err(|err| crate::scope::with_repo_hint(err, true))?,
        None => None,
    };
    let (repo, placement) = match &target {
        Some(session::ResumeTarget::Removed(removed)) => (
            args.repo.clone(),
            session::Placement::Recreate(removed.clone()),
        ),
        Some(found) => (found.path().to_path_buf(), session::Placement::Auto),
        None => (args.repo.clone(), session::Placement::Auto),
    };
    let request = session::Request {
        placement: &placement,
        patience: session::Patience::Command,
        base: args.base.as_deref(),
        agent: Some(&agent.name),
        config: loaded.as_ref(),
    };
    let mut registration = session::register_from(&data_dir, &repo, args.pid, &request)
        .map_err(|err| crate::scope::with_repo_hint(err, args.repo != std::path::Path::new(".")))?;
    registration.agent = registration.agent.clone().or(Some(agent.name.clone()));
    match (&target, &resume) {
        (Some(found), _) if registration.worktree_path == found.path().to_string_lossy() => {
            // The conversation goes on here; its SessionStart confirms it.
            let id = found.conversation();
            session::record_conversation(&data_dir, &registration.session_id, id)?;
            registration.resumed = Some(id.to_owned());
        }
        (Some(found), _) => registration.warnings.push(format!(
            "conversation {} worked in {}, which another session uses; this session got its own",
            found.conversation(),
            found.path().display()
        )),
        (None, Some(session::Resume::Conversation(id))) => registration.warnings.push(format!(
            "no worktree of conversation {id} is known here (it ran elsewhere, or its place is taken); starting as usual"
        )),
        _ => {}
    }
    // Warnings go to stderr: with --shell, stdout is evaluated.
    for warning in &registration.warnings {
        eprintln!("warning: {warning}");
    }
    for failure in &registration.cleanup_failures {
        eprintln!(
            "warning: could not clean up stale worktree {}: {}",
            failure.worktree_path, failure.error
        );
    }
    for failure in &registration.repaired.failed {
        eprintln!(
            "warning: could not repair the interrupted {} of {}: {}",
            failure.operation, failure.worktree_path, failure.error
        );
    }
    let human = if args.shell {
        shell_lines(&registration)
    } else {
        human(&registration)
    };
    Ok(Output::new(&registration, human))
}

fn shell_lines(r: &Registration) -> String {
    format!(
        "session_id={}\nworktree_path={}\nworktree_name={}\nis_main_repo={}\nis_new={}\nparallel_sessions={}\nresumed={}\nrecreated={}\n",
        shell_quote(&r.session_id),
        shell_quote(&r.worktree_path),
        shell_quote(r.worktree_name.as_deref().unwrap_or("")),
        u8::from(r.is_main_repo),
        u8::from(r.is_new),
        r.parallel_sessions,
        shell_quote(r.resumed.as_deref().unwrap_or("")),
        u8::from(r.recreated),
    )
}

fn human(r: &Registration) -> String {
    let resumed;
    let headline = match (r.is_new, r.is_main_repo, &r.resumed) {
        (false, _, _) => "already registered",
        (true, _, Some(id)) => {
            resumed = if r.recreated {
                format!("registered in the worktree conversation {id} worked in, made again (it held nothing and was removed)")
            } else {
                format!("registered in the worktree conversation {id} worked in")
            };
            resumed.as_str()
        }
        (true, true, None) => "registered in the main checkout",
        (true, false, None) => "registered in a new worktree",
    };
    let mut pairs = vec![
        ("session", r.session_id.clone()),
        ("agent", r.agent.clone().unwrap_or_default()),
        ("path", render::quoted(&r.worktree_path).into_owned()),
    ];
    if let Some(branch) = &r.branch {
        pairs.push(("branch", branch.clone()));
    }
    if let Some(base) = &r.base {
        pairs.push(("base", base.clone()));
    }
    pairs.push((
        "sessions",
        format!(
            "{} in {}",
            r.parallel_sessions,
            render::quoted(&r.repo_path)
        ),
    ));
    if !r.copied_files.is_empty() {
        let copied: Vec<_> = r.copied_files.iter().map(|f| render::quoted(f)).collect();
        pairs.push(("copied", copied.join(", ")));
    }
    if !r.linked_directories.is_empty() {
        let linked: Vec<_> = r
            .linked_directories
            .iter()
            .map(|f| render::quoted(f))
            .collect();
        pairs.push(("shared", linked.join(", ")));
    }
    for failure in &r.setup_failures {
        let code = failure
            .exit_code
            .map_or("a signal".to_owned(), |c| format!("exit {c}"));
        pairs.push((
            "setup failed",
            format!("{} ({code}; see the session log)", failure.command),
        ));
    }
    format!("{headline}\n{}", render::fields(&pairs))
}
