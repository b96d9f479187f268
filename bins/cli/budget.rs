//! `git pcc budget`: spending of sandbox runs against the limits.

use clap::{Args, Subcommand, ValueEnum};
use pcc::budget::{self, BudgetStatus, Period};
use pcc::config::Config;
use pcc::db::Database;

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct BudgetArgs {
    #[command(subcommand)]
    pub command: BudgetCommand,
}

#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Spending in the current period against the limits
    Status {
        /// The period to show
        #[arg(long, value_enum, default_value = "monthly")]
        period: PeriodArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    Daily,
    Weekly,
    Monthly,
}

pub fn run(args: BudgetArgs) -> anyhow::Result<Output> {
    let BudgetCommand::Status { period } = args.command;
    let period = match period {
        PeriodArg::Daily => Period::Daily,
        PeriodArg::Weekly => Period::Weekly,
        PeriodArg::Monthly => Period::Monthly,
    };
    let data_dir = crate::data_dir()?;
    let config = Config::load(&data_dir)?;
    crate::config::warn_about(&config);
    let db = Database::open(&data_dir)?;
    let status = budget::status(db.conn(), &config, period)?;
    Ok(Output::new(&status, human(&status)))
}

fn money(value: Option<f64>) -> String {
    value
        .map(|v| format!("${v:.2}"))
        .unwrap_or_else(|| "none".to_owned())
}

fn human(status: &BudgetStatus) -> String {
    let mut pairs = vec![
        (
            "period",
            format!("{} from {}", status.period.as_str(), status.period_start),
        ),
        ("spent", format!("${:.4}", status.spent)),
        ("runs", status.runs.to_string()),
    ];
    if status.period == Period::Monthly {
        pairs.push(("limit", money(status.limit)));
        if status.limit.is_some() {
            pairs.push(("remaining", money(status.remaining)));
            pairs.push((
                "used",
                format!("{:.0}%", status.used.unwrap_or(0.0) * 100.0),
            ));
        }
    }
    pairs.push(("per run", money(status.per_run_default)));
    let mut out = render::fields(&pairs);
    if !status.by_agent.is_empty() {
        let mut rows = vec![["AGENT", "RUNS", "SPENT", "TOKENS IN/OUT", "COST"]
            .map(String::from)
            .to_vec()];
        for agent in &status.by_agent {
            let cost = match (agent.estimated_runs, agent.unpriced_runs) {
                (0, 0) => "reported".to_owned(),
                (estimated, 0) => format!("{estimated} estimated"),
                (_, unpriced) => format!("{unpriced} without a price"),
            };
            rows.push(vec![
                agent.agent.clone(),
                agent.runs.to_string(),
                format!("${:.4}", agent.spent),
                format!("{}/{}", agent.input_tokens, agent.output_tokens),
                cost,
            ]);
        }
        out.push('\n');
        out.push_str(&render::table(&rows));
    }
    for warning in &status.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}
