//! Which process runs which job when several share one `$ARKOR_HOME`.
//!
//! Every server (the embedded one of each SDK process, or `arkor serve`)
//! holds an exclusive lock on its own file under `run/` for as long as it
//! lives. Jobs record the instance that accepted them; only that instance
//! trains them, and another instance may declare them dead only once it can
//! take that lock itself, which the OS allows only after the owner exited.
//! So two scripts training at once, or a CLI command beside a run, never
//! fail or steal each other's jobs.

use std::fs::File;
use std::path::{Path, PathBuf};

/// This process's server identity and the lock that proves it is alive.
#[derive(Debug)]
pub struct Instance {
    id: String,
    _lock: File,
}

fn lock_path(home: &Path, id: &str) -> PathBuf {
    home.join("run").join(format!("{id}.lock"))
}

impl Instance {
    /// Takes a fresh identity under `home/run/`.
    pub fn acquire(home: &Path) -> std::io::Result<Self> {
        let id = format!("srv_{}_{:08x}", std::process::id(), rand::random::<u32>());
        let path = lock_path(home, &id);
        std::fs::create_dir_all(path.parent().expect("run dir"))?;
        let file = File::create(&path)?;
        file.lock()?;
        Ok(Self { id, _lock: file })
    }

    /// The identity recorded on the jobs this instance accepts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the instance `owner` is gone (its lock file is missing or can
    /// be locked). Cleans up the lock file of a dead owner.
    pub fn is_dead(&self, home: &Path, owner: Option<&str>) -> bool {
        let Some(owner) = owner else { return true };
        if owner == self.id {
            return false;
        }
        let path = lock_path(home, owner);
        let Ok(file) = File::open(&path) else { return true };
        match file.try_lock() {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                true
            }
            Err(_) => false,
        }
    }
}
