//! Concatenating a model's chunks into its GGUF while hashing them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{io_err, Error, Result};
use crate::progress::{report, OnProgress, Phase};

/// How often, in bytes, the verify phase reports progress.
const REPORT_EVERY: u64 = 16 << 20;

/// Concatenates `parts` into `dest` while hashing, and keeps the result only if the
/// SHA-256 matches `sha256`: it is written under a temporary name, renamed on a match
/// and deleted otherwise, so `dest` is either complete and verified or absent.
pub fn assemble_parts(parts: &[PathBuf], sha256: &str, dest: &Path) -> Result<()> {
    assemble(parts, sha256, dest, None)
}

/// [`assemble_parts`], reporting [`Phase::Verify`] progress.
pub(crate) fn assemble(parts: &[PathBuf], sha256: &str, dest: &Path, mut on: OnProgress<'_>) -> Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut total = 0;
    for p in parts {
        total += std::fs::metadata(p).map_err(io_err(p))?.len();
    }
    let tmp = dest.with_extension("partial");
    let result = copy_hashing(parts, &tmp, total, &mut on);
    let got = match result {
        Ok(got) => got,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if got != sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Checksum { path: dest.to_path_buf(), got, expected: sha256.to_owned() });
    }
    std::fs::rename(&tmp, dest).map_err(io_err(dest))?;
    report(&mut on, Phase::Verify, total, total);
    Ok(())
}

/// Writes the concatenation of `parts` to `out`; returns its SHA-256 in hex.
fn copy_hashing(parts: &[PathBuf], out_path: &Path, total: u64, on: &mut OnProgress<'_>) -> Result<String> {
    let mut out = std::fs::File::create(out_path).map_err(io_err(out_path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut done, mut reported) = (0u64, 0u64);
    report(on, Phase::Verify, 0, total);
    for p in parts {
        let mut f = std::fs::File::open(p).map_err(io_err(p))?;
        loop {
            let n = f.read(&mut buf).map_err(io_err(p))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err(out_path))?;
            done += n as u64;
            if done - reported >= REPORT_EVERY {
                report(on, Phase::Verify, done, total);
                reported = done;
            }
        }
    }
    out.sync_all().map_err(io_err(out_path))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
