//! Spending of sandbox runs against the configured limits: a run's cost is
//! the agent's own reported cost plus the sandbox's time at the configured
//! hourly rate; spending is added up per day, week (from Monday) and
//! calendar month in `budget_tracking`; the monthly limit
//! (`budget.monthlyLimit`) and the per-run limit (`--budget`, else
//! `budget.perSessionDefault`) stop runs, with warnings at the fractions of
//! `budget.warningThresholds`. `budget status` also lists every run that
//! spends money, as the TypeScript tool did: its E2B sessions (rows of
//! `sessions`) and our sandbox runs.

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::config::Config;
use crate::time;
use crate::UserError;

/// A budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Daily, Period::Weekly, Period::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    pub fn parse(text: &str) -> Result<Period> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| {
                UserError::new(format!(
                    "unknown period '{text}': expected daily, weekly or monthly"
                ))
                .into()
            })
    }

    /// The first day (`YYYY-MM-DD`) of the period holding `unix`.
    pub fn start(self, unix: i64) -> String {
        let day = unix.div_euclid(86_400);
        let first = match self {
            Period::Daily => day,
            // 1970-01-01 was a Thursday: Monday is day 4 of that week.
            Period::Weekly => day - (day + 3).rem_euclid(7),
            Period::Monthly => {
                let date = time::format_sqlite_datetime(day * 86_400);
                let day_of_month: i64 = date[8..10].parse().unwrap_or(1);
                day - (day_of_month - 1)
            }
        };
        time::format_sqlite_datetime(first * 86_400)[..10].to_owned()
    }
}

/// The period as the TypeScript tool described it (`currentPeriod`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentPeriod {
    pub period: Period,
    /// The first day of the period.
    pub start: String,
    /// The monthly limit; absent for the other periods and without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    pub spent: f64,
    /// The limit less what was spent (below zero once it is passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<f64>,
}

/// A run that spends money: an E2B session the TypeScript tool recorded,
/// or one of our sandbox runs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetSession {
    pub session_id: String,
    pub sandbox_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_limit: Option<f64>,
    /// What it cost (its estimate while it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_estimate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub created_at: String,
}

/// Spending in one period, with the TypeScript tool's fields
/// (`currentPeriod`, `sessions`, `totalSpent`, `remainingBudget`) beside
/// ours.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStatus {
    pub current_period: CurrentPeriod,
    /// Every run that spends money, newest first.
    pub sessions: Vec<BudgetSession>,
    /// What was spent in the period.
    pub total_spent: f64,
    /// `currentPeriod.remaining`, when there is a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_budget: Option<f64>,
    /// The TypeScript tool's names for these are printed instead
    /// (`currentPeriod.period`, `.start`, `totalSpent`, `currentPeriod.limit`).
    #[serde(skip)]
    pub period: Period,
    #[serde(skip)]
    pub period_start: String,
    #[serde(skip)]
    pub spent: f64,
    pub runs: i64,
    /// The monthly limit (only the monthly period has one).
    #[serde(skip)]
    pub limit: Option<f64>,
    /// What is left of the limit, never below zero (`remainingBudget` goes
    /// below zero once the limit is passed).
    pub remaining: Option<f64>,
    /// Fraction of the limit spent.
    pub used: Option<f64>,
    pub per_run_default: Option<f64>,
    pub warning_thresholds: Vec<f64>,
    pub warnings: Vec<String>,
    /// The period's sandbox runs by agent.
    pub by_agent: Vec<AgentSpending>,
}

/// What one agent's sandbox runs spent in a period.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpending {
    pub agent: String,
    pub runs: i64,
    /// USD: what the agents reported or what their tokens were estimated
    /// at, with the sandbox's time.
    pub spent: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Runs whose agent cost is an estimate from tokens (config
    /// `agents.prices`).
    pub estimated_runs: i64,
    /// Runs that reported tokens but no cost, with no price to estimate it.
    pub unpriced_runs: i64,
}

/// The sandbox runs created since `since` (`YYYY-MM-DD`), by agent (a run
/// from before agents were recorded is Claude Code's).
fn spending_by_agent(conn: &Connection, since: &str) -> Result<Vec<AgentSpending>> {
    let mut stmt = conn.prepare(
        "SELECT COALESCE(agent, 'claude'), COUNT(*), COALESCE(SUM(COALESCE(actual_cost, agent_cost)), 0),
                COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
                COALESCE(SUM(cost_source = 'estimated'), 0), COALESCE(SUM(cost_source = 'tokens'), 0)
         FROM sandbox_runs WHERE created_at >= ?1 GROUP BY 1 ORDER BY 1",
    )?;
    let rows = stmt.query_map([since], |row| {
        Ok(AgentSpending {
            agent: row.get(0)?,
            runs: row.get(1)?,
            spent: row.get(2)?,
            input_tokens: row.get(3)?,
            output_tokens: row.get(4)?,
            estimated_runs: row.get(5)?,
            unpriced_runs: row.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What was spent in the period holding `unix`.
pub fn spent(conn: &Connection, period: Period, unix: i64) -> Result<(f64, i64)> {
    let row: Option<(f64, i64)> = conn
        .query_row(
            "SELECT spent, runs FROM budget_tracking WHERE period = ?1 AND period_start = ?2",
            params![period.as_str(), period.start(unix)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(row.unwrap_or((0.0, 0)))
}

/// Spending against limits for one period.
pub fn status(conn: &Connection, config: &Config, period: Period) -> Result<BudgetStatus> {
    let now = time::unix_now();
    let (spent, runs) = spent(conn, period, now)?;
    let limit = (period == Period::Monthly)
        .then(|| config.number("budget.monthlyLimit"))
        .flatten();
    let thresholds = config.number_list("budget.warningThresholds");
    let used = limit.filter(|l| *l > 0.0).map(|l| spent / l);
    let warnings = match (limit, used) {
        (Some(limit), Some(used)) => threshold_warnings(&thresholds, 0.0, used, spent, limit),
        _ => Vec::new(),
    };
    Ok(BudgetStatus {
        current_period: CurrentPeriod {
            period,
            start: period.start(now),
            limit,
            spent,
            remaining: limit.map(|l| l - spent),
        },
        sessions: spending_sessions(conn)?,
        total_spent: spent,
        remaining_budget: limit.map(|l| l - spent),
        period,
        period_start: period.start(now),
        spent,
        runs,
        limit,
        remaining: limit.map(|l| (l - spent).max(0.0)),
        used,
        per_run_default: config.number("budget.perSessionDefault"),
        warning_thresholds: thresholds,
        warnings,
        by_agent: spending_by_agent(conn, &period.start(now))?,
    })
}

/// The E2B sessions the TypeScript tool recorded and our sandbox runs,
/// newest first.
fn spending_sessions(conn: &Connection) -> Result<Vec<BudgetSession>> {
    let mut sessions: Vec<BudgetSession> = crate::legacy_runs::list(conn, None)?
        .into_iter()
        .map(|run| BudgetSession {
            session_id: run.id,
            sandbox_id: run.sandbox_id,
            budget_limit: run.budget_limit,
            cost_estimate: run.cost_estimate,
            status: run.status,
            created_at: run.created_at,
        })
        .collect();
    let mut stmt = conn.prepare(
        "SELECT id, sandbox_id, budget_limit, COALESCE(actual_cost, agent_cost), status, created_at
         FROM sandbox_runs ORDER BY created_at DESC, rowid DESC",
    )?;
    let runs = stmt.query_map([], |row| {
        Ok(BudgetSession {
            session_id: row.get(0)?,
            sandbox_id: row.get(1)?,
            budget_limit: row.get(2)?,
            cost_estimate: row.get(3)?,
            status: row.get(4)?,
            created_at: row.get(5)?,
        })
    })?;
    for run in runs {
        sessions.push(run?);
    }
    // Stable: rows of one second keep their order.
    sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(sessions)
}

/// Warnings for the thresholds passed going from `before` to `after`
/// (fractions of the limit); only the highest is given.
pub fn threshold_warnings(
    thresholds: &[f64],
    before: f64,
    after: f64,
    spent: f64,
    limit: f64,
) -> Vec<String> {
    thresholds
        .iter()
        .filter(|t| after >= **t && (before < **t || before == 0.0))
        .fold(None::<f64>, |top, t| Some(top.map_or(*t, |m| m.max(*t))))
        .map(|t| {
            vec![format!(
                "budget: {:.0}% of the ${limit:.2} limit used (${spent:.2})",
                t.max(after.min(1.0)) * 100.0
            )]
        })
        .unwrap_or_default()
}

/// The money a run may still spend this month, when a monthly limit is
/// set. Refuses when the month's limit is already reached.
pub fn monthly_remaining(conn: &Connection, config: &Config) -> Result<Option<f64>> {
    let Some(limit) = config.number("budget.monthlyLimit") else {
        return Ok(None);
    };
    let (spent, _) = spent(conn, Period::Monthly, time::unix_now())?;
    if spent >= limit {
        return Err(UserError::with_hint(
            format!("the monthly budget of ${limit:.2} is used up (${spent:.2} spent)"),
            "raise it with 'git pcc config set budget.monthlyLimit USD'",
        )
        .into());
    }
    Ok(Some(limit - spent))
}

/// Adds a run's cost to every period. Returns warnings for monthly
/// thresholds this crossed.
pub fn record(conn: &Connection, config: &Config, cost: f64) -> Result<Vec<String>> {
    let now = time::unix_now();
    let (before, _) = spent(conn, Period::Monthly, now)?;
    for period in Period::ALL {
        let limit = (period == Period::Monthly)
            .then(|| config.number("budget.monthlyLimit"))
            .flatten();
        conn.execute(
            "INSERT INTO budget_tracking (id, period, period_start, spent, budget_limit, runs)
             VALUES (?1, ?2, ?3, ?4, ?5, 1)
             ON CONFLICT (period, period_start) DO UPDATE SET
                spent = spent + excluded.spent, runs = runs + 1,
                budget_limit = excluded.budget_limit, updated_at = datetime('now')",
            params![
                uuid::Uuid::new_v4().to_string(),
                period.as_str(),
                period.start(now),
                cost.max(0.0),
                limit
            ],
        )?;
    }
    let Some(limit) = config.number("budget.monthlyLimit").filter(|l| *l > 0.0) else {
        return Ok(Vec::new());
    };
    let after = before + cost.max(0.0);
    Ok(threshold_warnings(
        &config.number_list("budget.warningThresholds"),
        before / limit,
        after / limit,
        after,
        limit,
    ))
}

/// The cost of a run: the agent's own plus the sandbox's time.
pub fn run_cost(agent_cost: Option<f64>, seconds: f64, hourly_rate: f64) -> f64 {
    agent_cost.unwrap_or(0.0) + seconds / 3600.0 * hourly_rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_starts() {
        // 2026-11-25 12:00 UTC is a Wednesday.
        let t = 1_795_608_000;
        assert_eq!(time::format_sqlite_datetime(t), "2026-11-25 12:00:00");
        assert_eq!(Period::Daily.start(t), "2026-11-25");
        assert_eq!(Period::Weekly.start(t), "2026-11-23");
        assert_eq!(Period::Monthly.start(t), "2026-11-01");
    }

    #[test]
    fn the_highest_threshold_crossed_is_reported_once() {
        let w = threshold_warnings(&[0.5, 0.8], 0.4, 0.85, 8.5, 10.0);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("85%"), "{w:?}");
        assert!(threshold_warnings(&[0.5, 0.8], 0.55, 0.6, 6.0, 10.0).is_empty());
    }
}
