//! Ending runs early: the interrupt of the running command and the
//! cancel a batch shares (fail-fast).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the signal handler of the running command: end every run.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Asks for every run of this process to end (fail-fast, interrupt).
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    reason: std::sync::Mutex<Option<String>>,
}

impl Cancel {
    pub fn cancel(&self, reason: &str) {
        let mut guard = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        guard.get_or_insert_with(|| reason.to_owned());
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst) || INTERRUPTED.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> String {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return "interrupted".to_owned();
        }
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "cancelled".to_owned())
    }
}
