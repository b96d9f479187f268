//! Deterministic fault injection. `PARALLEL_CC_FAILPOINT=<name>` makes the
//! process kill itself with SIGKILL when it reaches the step called `<name>`
//! (`<name>@<n>`: the n-th time it does), so tests can stop a register,
//! release or cleanup between any two of its steps and check that the next
//! command repairs what it left. The variable is read once per process; an
//! unset variable costs one lookup.
//!
//! The steps, in the order a command reaches them:
//! - creating a worktree: `create:after-journal`, `create:after-branch`,
//!   `create:after-admin`, `create:during-checkout` (after each file written;
//!   use `@n`), `create:after-index`, `register:after-session`;
//! - removing one: `remove:after-journal`, `remove:after-rename`,
//!   `remove:after-unregister`, `remove:after-branch`, `remove:after-record`,
//!   `remove:during-purge` (after the trash is deleted, before its journal
//!   entry goes);
//! - `cleanup:between-sessions` after each stale session cleanup released;
//! - landing an item: `land:after-claim`, `land:after-candidate`,
//!   `land:during-check` (the check running), `land:after-check`,
//!   `land:after-push` (`--push`: the remote has it, the local target not
//!   yet), `land:before-ref`, `land:after-ref` (the target moved, not yet
//!   recorded), `land:after-record`.
//!
//! [`panic_at`] steps panic instead of dying, for code that must clean up
//! on a panic: `top:draw` before `git pcc top` draws a frame.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Every step a failpoint can name.
pub const STEPS: &[&str] = &[
    "create:after-journal",
    "create:after-branch",
    "create:after-admin",
    "create:during-checkout",
    "create:after-index",
    "register:after-session",
    "remove:after-journal",
    "remove:after-rename",
    "remove:after-unregister",
    "remove:after-branch",
    "remove:after-record",
    "remove:during-purge",
    "cleanup:between-sessions",
    "land:after-claim",
    "land:after-candidate",
    "land:during-check",
    "land:after-check",
    "land:after-push",
    "land:before-ref",
    "land:after-ref",
    "land:after-record",
];

struct Armed {
    step: String,
    nth: usize,
    seen: AtomicUsize,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var("PARALLEL_CC_FAILPOINT").ok()?;
            let (step, nth) = match value.split_once('@') {
                Some((step, nth)) => (step.to_owned(), nth.parse().unwrap_or(1)),
                None => (value, 1),
            };
            Some(Armed {
                step,
                nth: nth.max(1),
                seen: AtomicUsize::new(0),
            })
        })
        .as_ref()
}

/// Marks that the process reached `step`; dies there when it is armed.
pub fn hit(step: &str) {
    let Some(armed) = armed() else {
        return;
    };
    if armed.step == step && armed.seen.fetch_add(1, Ordering::SeqCst) + 1 == armed.nth {
        // SAFETY: sending a signal to ourselves has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Marks that the process reached `step`; panics there when it is armed.
pub fn panic_at(step: &str) {
    let Some(armed) = armed() else {
        return;
    };
    if armed.step == step && armed.seen.fetch_add(1, Ordering::SeqCst) + 1 == armed.nth {
        panic!("failpoint {step} reached");
    }
}
