//! The pack and upload stage: the workspace, packed now (streamed into
//! the upload as it is packed) or earlier for a whole batch, goes into
//! the sandbox.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::mpsc;

use anyhow::{Context, Result};

use super::super::pack::{self, PackManifest};
use super::super::Sandbox;
use super::{Plan, Run, WorkspaceSource};

impl Run<'_> {
    /// The pack and upload stage.
    pub(super) fn pack_and_upload(
        &mut self,
        sandbox: &dyn Sandbox,
        source: &WorkspaceSource,
    ) -> Result<()> {
        let manifest = upload(self.plan, sandbox, source)?;
        self.uploaded_files = manifest.files;
        self.log.line(
            "[sandbox] ",
            &format!(
                "uploaded {} files ({} bytes); left out: {}",
                manifest.files,
                manifest.bytes,
                if manifest.excluded.is_empty() {
                    "nothing".to_owned()
                } else {
                    manifest.excluded.join(", ")
                }
            ),
        );
        Ok(())
    }
}

/// Packs (or reads) the workspace and uploads it.
fn upload(plan: &Plan, sandbox: &dyn Sandbox, source: &WorkspaceSource) -> Result<PackManifest> {
    match source {
        WorkspaceSource::Archive(path, manifest) => {
            let mut file = File::open(path)
                .with_context(|| format!("cannot read the packed workspace {}", path.display()))?;
            sandbox.upload(&mut file)?;
            Ok((*manifest).clone())
        }
        WorkspaceSource::Pack => {
            let (writer, mut reader) = pipe();
            let repo = plan.repo_path.clone();
            let options = plan.pack_options.clone();
            let packer = std::thread::spawn(move || pack::pack(&repo, &options, writer));
            let uploaded = sandbox.upload(&mut reader);
            drop(reader);
            let manifest = packer
                .join()
                .map_err(|_| anyhow::anyhow!("packing the workspace failed"))??;
            uploaded?;
            Ok(manifest)
        }
    }
}

/// An in-process pipe: what is written on one end is read on the other,
/// in chunks, so the workspace streams from the packer into the upload.
fn pipe() -> (PipeWriter, PipeReader) {
    let (sender, receiver) = mpsc::sync_channel(16);
    (
        PipeWriter { sender },
        PipeReader {
            receiver,
            chunk: Vec::new(),
            at: 0,
        },
    )
}

struct PipeWriter {
    sender: mpsc::SyncSender<Vec<u8>>,
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.sender
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload ended"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct PipeReader {
    receiver: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
