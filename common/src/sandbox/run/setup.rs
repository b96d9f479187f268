//! The setup stage: the private files (OAuth credentials, an SSH key,
//! npm's config) written into the sandbox's home, and the template's setup
//! commands run. The private files go again as soon as the agent is done.

use std::time::Instant;

use anyhow::Result;
use git2::Oid;

use super::super::runs::RunStatus;
use super::super::{Exit, Sandbox};
use super::step::run_step;
use super::{timeout_error, Outcome, Run};

impl Run<'_> {
    /// The setup stage. An outcome when a setup command failed or was
    /// stopped: the run ends there.
    pub(super) fn setup(
        &mut self,
        sandbox: &dyn Sandbox,
        baseline: Oid,
    ) -> Result<Option<Outcome>> {
        let plan = self.plan;
        for (path, bytes) in &plan.private_files {
            sandbox.write_private_file(path, bytes)?;
            self.log
                .line("[sandbox] ", &format!("wrote ~/{path} (mode 600)"));
        }
        let Some(template) = &plan.template else {
            return Ok(None);
        };
        for command in &template.setup_commands {
            self.log.line("[setup] $ ", command);
            let exit = run_step(
                plan,
                sandbox,
                &["sh".to_owned(), "-c".to_owned(), command.clone()],
                &mut self.log,
                "[setup] ",
                self.deadline,
                self.cancel,
                &mut Vec::new(),
            )?;
            if !exit.success() {
                return Ok(Some(self.setup_failed(command, exit, baseline)));
            }
        }
        Ok(None)
    }

    /// The outcome of a setup command that failed, was stopped at the
    /// timeout or by a cancel.
    fn setup_failed(&self, command: &str, exit: Exit, baseline: Oid) -> Outcome {
        let timed_out = exit.stopped && Instant::now() >= self.deadline;
        let cancelled = exit.stopped && !timed_out && self.cancel.is_cancelled();
        Outcome {
            status: if timed_out {
                RunStatus::Timeout
            } else if cancelled {
                RunStatus::Killed
            } else {
                RunStatus::Failed
            },
            exit: Some(exit),
            error: Some(if timed_out {
                format!("{} (in setup command: {command})", timeout_error(self.plan))
            } else if cancelled {
                self.cancel.reason()
            } else {
                format!("setup command failed: {command}")
            }),
            baseline: Some(baseline),
            keep: false,
        }
    }

    /// Removes the private files from the sandbox; what cannot be removed
    /// is warned about.
    pub(super) fn remove_private_files(&mut self, sandbox: &dyn Sandbox) {
        for (path, _) in &self.plan.private_files {
            if let Err(err) = sandbox.remove_file(path) {
                self.warnings
                    .push(format!("cannot remove ~/{path} from the sandbox: {err:#}"));
            }
        }
    }
}
