//! The agent stage: with `--multi`, the agent waits for a free slot; then
//! it runs, its output logged and parsed, and it is stopped when the runs
//! are cancelled, when it is killed from another process, at the timeout
//! or at the budget.

use std::time::{Duration, Instant};

use anyhow::Result;
use git2::Oid;

use super::super::runs::{self, RunStatus};
use super::super::{CommandSpec, Exit, Flow, OutputStream, ProcessHandle, RunEvent, Sandbox};
use super::slots::{Slot, Turn};
use super::{timeout_error, Outcome, Progress, Run};
use crate::config::Config;

/// Why the agent was stopped.
#[derive(Debug, Clone, PartialEq)]
enum StopReason {
    Killed,
    Cancelled,
    Timeout,
    Budget(f64),
}

impl Run<'_> {
    /// The agent stage, once the sandbox is prepared: how the agent ended,
    /// or why it never started.
    pub(super) fn agent(
        &mut self,
        sandbox: &dyn Sandbox,
        baseline: Oid,
        turn: &mut Turn,
    ) -> Result<Outcome> {
        let slot = self.wait_for_slot(turn);
        let killed = runs::kill_requested(self.db.conn(), &self.task.id)?;
        if self.cancel.is_cancelled() || killed {
            return Ok(self.stopped_before_agent(killed, baseline));
        }
        let (exit, stop) = self.run_agent(sandbox)?;
        let (status, error) = self.verdict(stop, exit)?;
        // Said before the slot is free, so that --fail-fast stops the next
        // task before its agent can start.
        self.report(Progress::Status(status));
        drop(slot);
        Ok(Outcome {
            status,
            exit: Some(exit),
            error,
            baseline: Some(baseline),
            keep: false,
        })
    }

    /// With --multi, waits for a free agent slot; the wait does not count
    /// against the run's timeout.
    fn wait_for_slot<'s>(&mut self, turn: &mut Turn<'s>) -> Option<Slot<'s>> {
        let waiting = Instant::now();
        turn.taken = true;
        let mut pending = false;
        let slot = turn.slots.and_then(|s| {
            s.acquire(turn.index, self.cancel, &mut || {
                // Prepared, waiting for a free slot: say so once; a kill
                // from another process ends the wait.
                if !pending {
                    pending = true;
                    let _ = runs::set_status(self.db.conn(), &self.task.id, RunStatus::Pending);
                    self.report(Progress::Status(RunStatus::Pending));
                }
                runs::kill_requested(self.db.conn(), &self.task.id).unwrap_or(false)
            })
        });
        self.waited = waiting.elapsed();
        self.deadline += self.waited;
        slot
    }

    /// Killed or cancelled while the agent waited for its slot.
    fn stopped_before_agent(&self, killed: bool, baseline: Oid) -> Outcome {
        Outcome {
            status: if killed {
                RunStatus::Killed
            } else {
                RunStatus::Cancelled
            },
            exit: None,
            error: Some(if killed {
                "killed".to_owned()
            } else {
                self.cancel.reason()
            }),
            baseline: Some(baseline),
            keep: false,
        }
    }

    /// Runs the agent under watch. Returns how it exited and, when it was
    /// stopped, why.
    fn run_agent(&mut self, sandbox: &dyn Sandbox) -> Result<(Exit, Option<StopReason>)> {
        let argv = self.plan.agent_argv(&self.task.prompt);
        let mut env = self.plan.env.clone();
        env.push(("PARALLEL_CC_SANDBOX_ID".to_owned(), self.task.id.clone()));
        let spec = CommandSpec { argv, env };
        let mut watch = Watch::new(&self.plan.config);
        let exit = sandbox.run(&spec, &mut |event| watch.observe(self, event))?;
        Ok((exit, watch.stop))
    }

    /// The agent started: recorded, so that another process can kill it.
    /// `true` when a kill was asked for already.
    fn agent_started(&mut self, handle: ProcessHandle) -> bool {
        self.report(Progress::Status(RunStatus::Running));
        match runs::set_agent(self.db.conn(), &self.task.id, handle) {
            Ok(killed) => killed,
            Err(err) => {
                self.log
                    .line("[sandbox] ", &format!("cannot record the agent: {err:#}"));
                false
            }
        }
    }

    /// A line of the agent's output: logged, and its stdout parsed for the
    /// activity and cost.
    fn agent_line(&mut self, stream: OutputStream, line: &str) {
        let prefix = if stream == OutputStream::Stderr {
            "[stderr] "
        } else {
            ""
        };
        self.log.line(prefix, line);
        if stream == OutputStream::Stdout {
            let clean = self.plan.redactor.redact(line);
            if let Some(activity) = self.state.observe(&clean) {
                self.report(Progress::Activity(activity));
            }
        }
    }

    /// The run's status and error once the agent has ended.
    fn verdict(&self, stop: Option<StopReason>, exit: Exit) -> Result<(RunStatus, Option<String>)> {
        let killed_elsewhere = runs::kill_requested(self.db.conn(), &self.task.id)?;
        Ok(match (&stop, killed_elsewhere) {
            (Some(StopReason::Killed), _) | (_, true) => {
                (RunStatus::Killed, Some("killed".to_owned()))
            }
            (Some(StopReason::Cancelled), _) => (RunStatus::Killed, Some(self.cancel.reason())),
            (Some(StopReason::Timeout), _) => (RunStatus::Timeout, Some(timeout_error(self.plan))),
            (Some(StopReason::Budget(limit)), _) => (
                RunStatus::BudgetExceeded,
                Some(format!("stopped at its budget of ${limit:.2}")),
            ),
            (None, false) => self.agent_ending(exit),
        })
    }

    /// The status and error of an agent that ended by itself.
    fn agent_ending(&self, exit: Exit) -> (RunStatus, Option<String>) {
        if exit.code == Some(0) && self.state.is_error != Some(true) {
            (RunStatus::Completed, None)
        } else if exit.code == Some(0) {
            (
                RunStatus::Failed,
                Some(format!(
                    "the agent reported an error: {}",
                    self.state
                        .result
                        .as_deref()
                        .map(one_line)
                        .unwrap_or_default()
                )),
            )
        } else {
            (
                RunStatus::Failed,
                Some(match (exit.code, exit.signal) {
                    (Some(code), _) => format!("the agent exited with code {code}"),
                    (None, Some(signal)) => format!("the agent was ended by signal {signal}"),
                    _ => "the agent ended abnormally".to_owned(),
                }),
            )
        }
    }
}

/// What watching the agent keeps from one event to the next.
struct Watch {
    stop: Option<StopReason>,
    last_write: Instant,
    /// The highest budget warning threshold given so far.
    warned: f64,
    last_kill_check: Instant,
    thresholds: Vec<f64>,
}

impl Watch {
    fn new(config: &Config) -> Watch {
        Watch {
            stop: None,
            last_write: Instant::now(),
            warned: 0.0,
            last_kill_check: Instant::now(),
            thresholds: config.number_list("budget.warningThresholds"),
        }
    }

    /// Takes in one event of the agent's; says whether it goes on.
    fn observe(&mut self, run: &mut Run, event: RunEvent) -> Flow {
        match event {
            RunEvent::Started(handle) => {
                if run.agent_started(handle) {
                    self.stop = Some(StopReason::Killed);
                }
            }
            RunEvent::Line(stream, line) => run.agent_line(stream, line),
            RunEvent::Tick => {}
        }
        if self.stop.is_none() {
            self.stop = self.stop_asked(run);
        }
        self.enforce_budget(run);
        self.save_progress(run);
        if self.stop.is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Whether the agent is to stop now: the runs are cancelled, the
    /// timeout is reached, or (asked every half second) it was killed from
    /// another process.
    fn stop_asked(&mut self, run: &Run) -> Option<StopReason> {
        if run.cancel.is_cancelled() {
            Some(StopReason::Cancelled)
        } else if Instant::now() >= run.deadline {
            Some(StopReason::Timeout)
        } else if self.last_kill_check.elapsed() >= Duration::from_millis(500) {
            self.last_kill_check = Instant::now();
            runs::kill_requested(run.db.conn(), &run.task.id)
                .unwrap_or(false)
                .then_some(StopReason::Killed)
        } else {
            None
        }
    }

    /// Warns as the cost passes each threshold of the budget, and stops the
    /// agent at the budget.
    fn enforce_budget(&mut self, run: &mut Run) {
        let cost = run.cost(run.working_seconds());
        let Some(limit) = run.budget_limit.filter(|l| *l > 0.0) else {
            return;
        };
        let used = cost / limit;
        if let Some(t) = self
            .thresholds
            .iter()
            .copied()
            .filter(|t| used >= *t && *t > self.warned)
            .reduce(f64::max)
        {
            self.warned = t;
            let message = format!(
                "run budget: {:.0}% of ${limit:.2} used (${cost:.4})",
                t * 100.0
            );
            run.log.line("[budget] ", &message);
            run.report(Progress::Warning(message));
        }
        if self.stop.is_none() && cost >= limit {
            self.stop = Some(StopReason::Budget(limit));
        }
    }

    /// Records the agent's last activity and cost, every half second.
    fn save_progress(&mut self, run: &Run) {
        if self.last_write.elapsed() >= Duration::from_millis(500) {
            self.last_write = Instant::now();
            let _ = runs::set_progress(
                run.db.conn(),
                &run.task.id,
                run.state.last_activity.as_deref(),
                run.state.agent_cost,
            );
        }
    }
}

fn one_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}
