//! `git pcc sandbox pack`: what a sandbox run would upload.

use std::path::{Path, PathBuf};

use clap::Args;
use pcc::sandbox::pack::{self, PackManifest, PackOptions, Selection};
use pcc::UserError;
use serde::Serialize;

use crate::{render, Output};

#[derive(Debug, Args)]
pub struct PackArgs {
    /// The repository (default: the current directory)
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// Write the tar.gz here ('-' for standard output)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Pack files matching this pattern even if they are secrets or excluded (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Written<'a> {
    #[serde(flatten)]
    manifest: &'a PackManifest,
    output: String,
}

pub fn run(args: PackArgs) -> anyhow::Result<Output> {
    let config = pcc::config::Config::load(&pcc::paths::data_dir()?)?;
    let options = PackOptions {
        exclude: config.text_list("sandbox.exclude"),
        include: args.include,
    };
    if !args.repo.exists() {
        return Err(UserError::new(format!("no such directory: {}", args.repo.display())).into());
    }
    match args.output {
        None => {
            let listing = pack::list(&args.repo, &options)?;
            let human = listing_text(&listing);
            Ok(Output::new(&listing, human))
        }
        Some(output) if output.as_os_str() == "-" => {
            let selection = pack::select(&args.repo, &options)?;
            let stdout = std::io::stdout().lock();
            selection.write(stdout)?;
            Ok(Output::silent())
        }
        Some(output) => {
            let mut selection = pack::select(&args.repo, &options)?;
            let manifest = write_file(&mut selection, &output)?;
            let human = format!(
                "Packed {} ({}, {} compressed) into {}{}",
                render::count(manifest.files, "file", "files"),
                size(manifest.bytes),
                size(manifest.compressed_bytes),
                output.display(),
                if manifest.excluded.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; left out {}",
                        render::count(manifest.excluded.len(), "file", "files")
                    )
                }
            );
            let written = Written {
                manifest: &manifest,
                output: output.display().to_string(),
            };
            Ok(Output::new(&written, human))
        }
    }
}

/// Packs into a temporary file beside `output`, then renames it over
/// `output`: readers never see half an archive, and a failure leaves none.
fn write_file(selection: &mut Selection, output: &Path) -> anyhow::Result<PackManifest> {
    if output.is_dir() {
        return Err(UserError::new(format!("{} is a directory", output.display())).into());
    }
    let name = output
        .file_name()
        .ok_or_else(|| UserError::new(format!("not a file name: {}", output.display())))?;
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A previous pack inside the working tree is not part of the workspace.
    if let (Ok(dir), Ok(root)) = (parent.canonicalize(), selection.root().canonicalize()) {
        if let Ok(rel) = dir.join(name).strip_prefix(&root) {
            selection.remove(rel);
        }
    }
    let temp = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let cannot_write =
        |err: std::io::Error| UserError::new(format!("cannot write {}: {err}", output.display()));
    let file = std::fs::File::create(&temp).map_err(cannot_write)?;
    let result = selection.write(file).and_then(|manifest| {
        std::fs::rename(&temp, output).map_err(cannot_write)?;
        Ok(manifest)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn listing_text(listing: &pack::Listing) -> String {
    let mut text = render::fields(&[
        (
            "Files:",
            format!(
                "{} ({})",
                render::count(listing.files, "file", "files"),
                size(listing.bytes)
            ),
        ),
        (
            "Left out:",
            if listing.excluded.is_empty() {
                "nothing".to_owned()
            } else {
                format!(
                    "{} (secrets or sandbox.exclude; --include PATTERN packs them)",
                    render::count(listing.excluded.len(), "file", "files")
                )
            },
        ),
    ]);
    if !listing.excluded.is_empty() {
        text.push_str("\nLeft out:\n");
        for path in &listing.excluded {
            if listing.private_keys.contains(path) {
                text.push_str(&format!("  {path} (a private key, by its content)\n"));
            } else {
                text.push_str(&format!("  {path}\n"));
            }
        }
    }
    if !listing.paths.is_empty() {
        text.push_str("\nFiles:\n");
        for path in &listing.paths {
            text.push_str(&format!("  {path}\n"));
        }
    }
    text
}

/// Bytes as `512 B`, `3.4 KiB`, `12.0 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
