//! The agent slots of a batch (`--multi`): at most N agents at once,
//! started in task order.

use std::time::Duration;

use super::Cancel;

/// At most N agents at once (`--multi`): a task prepares its sandbox
/// first and holds a slot only while its agent runs. Agents start in task
/// order: a task's turn comes after every earlier task has started its
/// agent or given up its turn.
#[derive(Debug)]
pub struct AgentSlots {
    state: std::sync::Mutex<SlotState>,
    changed: std::sync::Condvar,
}

#[derive(Debug)]
struct SlotState {
    free: usize,
    /// The task (1-based) whose agent starts next.
    next: usize,
    /// Tasks that will not start an agent.
    passed: std::collections::BTreeSet<usize>,
}

impl SlotState {
    /// Moves the turn past the tasks that will not start an agent.
    fn skip_passed(&mut self) {
        while self.passed.remove(&self.next) {
            self.next += 1;
        }
    }
}

/// A taken slot, given back when dropped.
pub struct Slot<'a>(&'a AgentSlots);

impl AgentSlots {
    pub fn new(count: usize) -> AgentSlots {
        AgentSlots {
            state: std::sync::Mutex::new(SlotState {
                free: count.max(1),
                next: 1,
                passed: std::collections::BTreeSet::new(),
            }),
            changed: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for task `index`'s turn and a free slot; `None` (and the turn
    /// passed on) when the runs are cancelled meanwhile or `give_up` says
    /// so: it is asked only while the task waits, about ten times a
    /// second, and never with the slots locked.
    pub fn acquire(
        &self,
        index: usize,
        cancel: &Cancel,
        give_up: &mut dyn FnMut() -> bool,
    ) -> Option<Slot<'_>> {
        let granted = self.wait_for(
            |state| {
                if cancel.is_cancelled() {
                    return Some(false);
                }
                if state.next == index && state.free > 0 {
                    state.free -= 1;
                    state.next += 1;
                    self.changed.notify_all();
                    return Some(true);
                }
                None
            },
            give_up,
        );
        if granted == Some(true) {
            Some(Slot(self))
        } else {
            self.pass(index);
            None
        }
    }

    /// Waits until task `index` may begin preparing its sandbox: when the
    /// task a whole wave before it has started its agent (or given up), so
    /// that the first tasks get the machine to themselves. Returns early
    /// when `give_up` says so.
    pub fn wait_to_prepare(
        &self,
        index: usize,
        wave: usize,
        cancel: &Cancel,
        give_up: &mut dyn FnMut() -> bool,
    ) {
        self.wait_for(
            |state| {
                (cancel.is_cancelled() || index <= wave || state.next + wave > index).then_some(())
            },
            give_up,
        );
    }

    /// Waits until `ready` gives a value, asking it again whenever the
    /// slots change (and ten times a second). `None` when `give_up` says
    /// so: it is asked only once the task has waited, about ten times a
    /// second, and never with the slots locked.
    fn wait_for<T>(
        &self,
        mut ready: impl FnMut(&mut SlotState) -> Option<T>,
        give_up: &mut dyn FnMut() -> bool,
    ) -> Option<T> {
        let mut state = self.lock();
        let mut waited = false;
        loop {
            state.skip_passed();
            if let Some(value) = ready(&mut state) {
                return Some(value);
            }
            if waited {
                drop(state);
                if give_up() {
                    return None;
                }
                state = self.lock();
            }
            waited = true;
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Task `index` will not start an agent: later tasks need not wait for it.
    pub fn pass(&self, index: usize) {
        let mut state = self.lock();
        if index >= state.next {
            state.passed.insert(index);
        }
        self.changed.notify_all();
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        self.0.changed.notify_all();
    }
}

/// Gives up a task's turn when it ends without having taken a slot.
pub(super) struct Turn<'a> {
    pub(super) slots: Option<&'a AgentSlots>,
    pub(super) index: usize,
    pub(super) taken: bool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let (false, Some(slots)) = (self.taken, self.slots) {
            slots.pass(self.index);
        }
    }
}
