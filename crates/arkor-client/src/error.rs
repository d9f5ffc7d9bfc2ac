//! The one error type of the client core.

use std::path::PathBuf;

/// Everything that can go wrong between the SDK and a backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The backend answered with a non-2xx status.
    #[error("{message}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The body's `error` field, else the body text, else `cloud-api <status>`.
        message: String,
    },
    /// The request never produced a response (connection refused, reset, ...).
    #[error("request to {url} failed: {source}")]
    Http {
        /// The URL that was requested.
        url: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// A response arrived but its body was not the expected shape.
    #[error("unexpected response from {what}: {detail}")]
    Decode {
        /// The endpoint or file that was read.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Reading or writing a local file failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The operation that failed (`read`, `write`, ...).
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The caller passed something unusable; the message names the field.
    #[error("{0}")]
    InvalidInput(String),
    /// `.arkor/state.json` cannot be used with these credentials.
    #[error("{0}")]
    ProjectState(String),
    /// The job's event stream kept failing past `maxReconnectAttempts`
    /// (upstream's message; the last failure is its `cause` in JS).
    #[error("Trainer SSE stream failed {attempts} consecutive times; giving up.")]
    StreamGaveUp {
        /// How many consecutive failures were seen.
        attempts: u32,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },
    /// An event stream answered 200 and ended without a parseable frame
    /// (upstream's message for a stream that made no progress).
    #[error("SSE stream closed without emitting any frame")]
    NoFrames {
        /// The stream.
        what: String,
    },
    /// An event stream stayed open but sent no bytes, not even a ping.
    #[error("no data on the {what} for {}s (not even a keepalive ping); reconnecting", idle.as_secs_f64())]
    StreamIdle {
        /// The stream.
        what: String,
        /// How long it was silent.
        idle: std::time::Duration,
    },
    /// The caller's abort signal fired.
    #[error("the operation was aborted")]
    Aborted,
    /// A user callback threw; the JS layer holds the thrown value itself.
    #[error("a trainer callback failed")]
    CallbackFailed,
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Node-style errno name for file errors, so JS callers can branch
    /// on `err.code` as they would for `fs` errors.
    pub fn io_code(&self) -> Option<&'static str> {
        let Error::Io { source, .. } = self else { return None };
        use std::io::ErrorKind as K;
        Some(match source.kind() {
            K::NotFound => "ENOENT",
            K::PermissionDenied => "EACCES",
            K::IsADirectory => "EISDIR",
            K::NotADirectory => "ENOTDIR",
            K::AlreadyExists => "EEXIST",
            _ => "EIO",
        })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }
}
