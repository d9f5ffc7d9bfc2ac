//! Why a dataset could not be had.

use std::path::PathBuf;

/// A dataset that could not be located, fetched or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dataset as a whole is refused: too large, too many rows, a URL scheme
    /// that is not read, no file for the split, or a Hub answer that is not JSON.
    #[error("dataset {source_name}: {message}")]
    Dataset {
        /// The dataset URL, repo or path.
        source_name: String,
        /// What went wrong, and what to do about it.
        message: String,
    },
    /// An HTTP request failed or answered with a non-success status.
    #[error("HTTP {url}: {message}")]
    Http {
        /// The requested URL.
        url: String,
        /// The status or transport error.
        message: String,
    },
    /// A `file://` dataset could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes arrived but do not hold the rows the format asks for (the engine's
    /// parser names the file and row).
    #[error(transparent)]
    Parse(#[from] arkor_engine::Error),
}

/// This crate's results.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
