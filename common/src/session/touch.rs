//! The heartbeat's one statement, built from what the hook asks for: an
//! `UPDATE … RETURNING` that records the beat, writes the reported state
//! when there is one (see [`UPDATE_STATE`]), and returns the session's
//! fields, more of them when the change is observed.

use std::borrow::Cow;

use super::state::{OBSERVED_STATE_AT, UPDATE_STATE, UPDATE_STATE_AT};

/// What the beat alone sets.
const BEAT_ONLY: &str = "last_heartbeat = datetime('now')";

/// The columns a beat returns, and those an observed change adds.
const RETURNING: &str = "id, pid, last_heartbeat";
const RETURNING_OBSERVED: &str = "id, pid, last_heartbeat, repo_path, worktree_path, \
                                  is_main_repo, branch, waiting_for, last_message";

/// How many columns [`RETURNING`] has: a row with more carries a change.
pub(super) const BEAT_COLUMNS: usize = 3;

/// A heartbeat statement to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Touch {
    /// Write the hook's state too (parameters `?2` on, see
    /// [`super::state::StateUpdate::params`]).
    pub state: bool,
    /// Learn the previous state through the statement's function, and
    /// return the fields a change reports.
    pub observe: bool,
}

impl Touch {
    /// The statement for the sessions `condition` (on `?1`) selects.
    pub fn sql(self, condition: &str) -> String {
        let set = match (self.state, self.observe) {
            (false, _) => Cow::Borrowed(BEAT_ONLY),
            (true, false) => Cow::Borrowed(UPDATE_STATE),
            (true, true) => Cow::Owned(UPDATE_STATE.replace(UPDATE_STATE_AT, OBSERVED_STATE_AT)),
        };
        let returning = if self.observe {
            RETURNING_OBSERVED
        } else {
            RETURNING
        };
        format!("UPDATE sessions SET {set} WHERE {condition} RETURNING {returning}")
    }

    /// The same statement without the state, for a database from before
    /// session states.
    pub fn beat_only(self) -> Touch {
        Touch {
            state: false,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_beat_sets_and_returns_what_it_needs() {
        let plain = Touch {
            state: false,
            observe: false,
        };
        assert_eq!(
            plain.sql("id = ?1"),
            "UPDATE sessions SET last_heartbeat = datetime('now') WHERE id = ?1 \
             RETURNING id, pid, last_heartbeat"
        );
        let state = Touch {
            state: true,
            observe: false,
        };
        assert!(state.sql("pid = ?1").contains(UPDATE_STATE));
        let observed = Touch {
            state: true,
            observe: true,
        };
        let sql = observed.sql("id = ?1");
        assert!(sql.contains(OBSERVED_STATE_AT) && !sql.contains(UPDATE_STATE_AT));
        assert!(sql.ends_with(RETURNING_OBSERVED));
        assert_eq!(RETURNING.split(", ").count(), BEAT_COLUMNS);
        let fallback = observed.beat_only().sql("id = ?1");
        assert!(fallback.contains(BEAT_ONLY) && fallback.ends_with(RETURNING_OBSERVED));
    }
}
