//! Keeping secrets out of everything written: logs, results, reports,
//! database rows and `--json` output.
