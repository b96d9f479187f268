//! `git pcc update` and `git pcc migrate`: bring the database schema up to
//! date, with a backup first.

use clap::Args;
use pcc::{db::Database, migrations};

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct UpdateArgs {}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Schema version to migrate to (default: the newest)
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
}

pub fn run(version: Option<&str>) -> anyhow::Result<Output> {
    if let Some(wanted) = version {
        // Refuse an unknown version before anything is created on disk.
        if !migrations::known_versions().contains(&wanted) {
            return Err(pcc::UserError::with_hint(
                format!("unknown schema version {wanted}"),
                format!(
                    "known versions: {}",
                    migrations::known_versions().join(", ")
                ),
            )
            .into());
        }
    }
    let data_dir = crate::data_dir()?;
    let db = Database::open_unmigrated(&data_dir)?;
    let report = migrations::migrate(db.conn(), db.path(), version)?;
    let human = if !report.repaired.is_empty() {
        let mut pairs = vec![("schema", report.to_version.clone())];
        if let Some(backup) = &report.backup_path {
            pairs.push(("backup", backup.clone()));
        }
        for missing in &report.repaired {
            pairs.push(("repaired", missing.clone()));
        }
        render::fields(&pairs)
    } else if report.applied.is_empty() {
        format!("schema already at {}\n", report.to_version)
    } else {
        let mut pairs = vec![
            (
                "from",
                report
                    .from_version
                    .clone()
                    .unwrap_or_else(|| "new database".to_owned()),
            ),
            ("to", report.to_version.clone()),
        ];
        if let Some(backup) = &report.backup_path {
            pairs.push(("backup", backup.clone()));
        }
        for step in &report.applied {
            pairs.push(("applied", step.clone()));
        }
        render::fields(&pairs)
    };
    Ok(Output::new(&report, human))
}
