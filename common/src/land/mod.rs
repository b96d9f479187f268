//! Land: a per-repository merge queue that takes finished branches into
//! their target branch, in the order they were asked for, each one checked.
//!
//! How the parts fit:
//! - [`queue`] owns the `land_queue` rows and the state machine
//!   ([`State`]): queued → checking → landed | conflict | failed | blocked,
//!   every change one short `BEGIN IMMEDIATE` transaction;
//! - [`candidate`] replays a branch onto the target's tip in memory
//!   (rebase, merge or squash), classifying conflicts and applying only
//!   auto-applicable fixes when asked;
//! - [`check`] runs the check command on a candidate in a scratch worktree
//!   of its own, with a timeout, its output to a log;
//! - [`target`] moves the target ref by compare-and-swap against the tip
//!   that was checked, under the repository's lock, and brings a clean
//!   checkout of the target forward (as `git merge --ff-only` does);
//! - [`notify`] records a landed item as a merge event (every other live
//!   session hears of it through its next hook) and tells the session of a
//!   stopped item why;
//! - [`runner`] processes the queue: one runner per repository at a time
//!   (a lock file), items in order, an item that stops never stopping the
//!   queue;
//! - [`pipeline`] is how the runner does it: up to `jobs` items at once,
//!   each built on the candidate of the one before it and checked at once
//!   (speculative checks), the first one landed when its check passed;
//! - [`publish`] pushes the target as each item lands (`--push`), or opens
//!   a pull request per item instead of landing it (`--pr`).
//!
//! Invariants: the target ref only ever points at its old tip or at a
//! candidate whose check passed on exactly that old tip (a speculative
//! candidate lands only once the one it stood on landed, and only when the
//! target is still there); an item is landed at most once (a candidate
//! already in the target is recorded as landed, never replayed again); an
//! item `checking` whose runner is dead goes back to `queued` when the
//! next runner starts.

pub mod candidate;
pub mod check;
pub mod notify;
pub mod pipeline;
pub mod publish;
pub mod queue;
pub mod request;
pub mod runner;
pub mod target;

use serde::Serialize;

pub use queue::{enqueue, items, Item, NewItem};
pub use runner::{dry_run, process, Outcome, RunOptions};

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for its turn.
    Queued,
    /// A runner is building, checking or landing it.
    Checking,
    /// In the target branch.
    Landed,
    /// Its changes collide with the target's; nothing was landed.
    Conflict,
    /// Its check failed, or it could not be taken (uncommitted changes).
    Failed,
    /// Checked, but the target's checkout has uncommitted changes.
    Blocked,
    /// A pull request is open for it (`--pr`); nothing was landed here.
    Proposed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Checking => "checking",
            State::Landed => "landed",
            State::Conflict => "conflict",
            State::Failed => "failed",
            State::Blocked => "blocked",
            State::Proposed => "proposed",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        Some(match text {
            "queued" => State::Queued,
            "checking" => State::Checking,
            "landed" => State::Landed,
            "conflict" => State::Conflict,
            "failed" => State::Failed,
            "blocked" => State::Blocked,
            "proposed" => State::Proposed,
            _ => return None,
        })
    }

    /// Whether the item is done with (nothing more happens unless asked).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Landed | State::Conflict | State::Failed | State::Proposed
        )
    }

    /// Every transition the queue makes, written once.
    pub fn can_become(self, next: State) -> bool {
        use State::*;
        matches!(
            (self, next),
            (Queued, Checking)
                | (Checking, Landed)
                | (Checking, Conflict)
                | (Checking, Failed)
                | (Checking, Blocked)
                | (Checking, Proposed)
                // A dead runner's item, a blocked item retried.
                | (Checking, Queued)
                | (Blocked, Queued)
                // Landed again on request: a stopped item asked again.
                | (Conflict, Queued)
                | (Failed, Queued)
                | (Proposed, Queued)
        )
    }
}

/// What an item does besides landing locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Publish {
    /// The target is pushed to the remote as the item lands.
    #[serde(rename = "push")]
    Push,
    /// A pull request of the branch is opened instead of landing it.
    #[serde(rename = "pr")]
    PullRequest,
}

impl Publish {
    pub fn as_str(self) -> &'static str {
        match self {
            Publish::Push => "push",
            Publish::PullRequest => "pr",
        }
    }

    pub fn parse(text: &str) -> Option<Publish> {
        match text {
            "push" => Some(Publish::Push),
            "pr" => Some(Publish::PullRequest),
            _ => None,
        }
    }
}

/// How a branch is put on its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Its commits replayed on the target's tip (a fast-forward when it is
    /// already on it).
    Rebase,
    /// A merge commit of the target's tip and the branch.
    Merge,
    /// One commit on the target's tip with the branch's changes.
    Squash,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Rebase => "rebase",
            Strategy::Merge => "merge",
            Strategy::Squash => "squash",
        }
    }

    pub fn parse(text: &str) -> Option<Strategy> {
        Some(match text {
            "rebase" => Strategy::Rebase,
            "merge" => Strategy::Merge,
            "squash" => Strategy::Squash,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_only_leave_when_asked_again() {
        assert!(State::Queued.can_become(State::Checking));
        assert!(!State::Queued.can_become(State::Landed));
        assert!(!State::Landed.can_become(State::Queued));
        assert!(State::Conflict.can_become(State::Queued));
        assert!(State::Blocked.can_become(State::Queued));
        for state in [
            "queued", "checking", "landed", "conflict", "failed", "blocked", "proposed",
        ] {
            assert_eq!(State::parse(state).unwrap().as_str(), state);
        }
    }
}
