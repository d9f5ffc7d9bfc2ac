//! Small file helpers shared by the credentials and state modules.

use std::path::Path;

use crate::error::{Error, Result};

/// Writes `contents` to `path` through a temporary file in the same folder and
/// a rename, so a reader never sees half a file. `mode` applies on Unix.
pub async fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await.map_err(|e| Error::io("create directory", dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.{:016x}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = async {
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(m) = mode {
            opts.mode(m);
        }
        let mut f = opts.open(&tmp).await.map_err(|e| Error::io("create", &tmp, e))?;
        tokio::io::AsyncWriteExt::write_all(&mut f, contents).await.map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().await.map_err(|e| Error::io("write", &tmp, e))?;
        #[cfg(unix)]
        if let Some(m) = mode {
            use std::os::unix::fs::PermissionsExt;
            // The umask may have narrowed or widened what `open` created.
            // Some network and overlay mounts refuse chmod: the contents are
            // written and about to land, so warn (as upstream does) rather
            // than fail a login that would otherwise work.
            if let Err(e) = tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m)).await {
                eprintln!("arkor: warning: could not set permissions on {}: {e}", path.display());
            }
        }
        tokio::fs::rename(&tmp, path).await.map_err(|e| Error::io("replace", path, e))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

/// Reads a file, `Ok(None)` when it does not exist.
pub async fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match tokio::fs::read(path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}
