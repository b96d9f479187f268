use std::fs;
use std::path::Path;

const REPORT_HEADER: &str = "# parallel-cc session report\n";

/// Reads the per-repository configuration, falling back to an empty one.
pub fn read_config(root: &Path) -> String {
    let path = root.join(".pcc").join("config.toml");
    fs::read_to_string(path).unwrap_or_default()
}

/// Writes the summary of a finished session next to the repository.
pub fn write_report(root: &Path, lines: &[String]) {
    let mut text = String::from(REPORT_HEADER);
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    fs::write(root.join("pcc-report.md"), text).expect("cannot write report");
}

pub fn report_exists(root: &Path) -> bool {
    root.join("pcc-report.md").is_file()
}
