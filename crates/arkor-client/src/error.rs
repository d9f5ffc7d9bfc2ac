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
    /// `createTrainer` named a model this release does not know.
    #[error(
        "Unsupported model \"{0}\". This arkor release supports: {list}. If the backend already accepts this model, upgrade arkor or submit through CloudApiClient.createJob.",
        list = crate::models::SUPPORTED_MODELS.join(", ")
    )]
    UnsupportedModel(String),
    /// The caller passed something unusable; the message names the field.
    #[error("{0}")]
    InvalidInput(String),
    /// `.arkor/state.json` belongs to another org than the anonymous
    /// identity; the file is left as it is.
    #[error("{}", crate::state::ANON_STATE_MISMATCH)]
    ProjectStateMismatch,
    /// OAuth credentials and no `.arkor/state.json` to say which project.
    #[error("{}", crate::state::OAUTH_MISSING_STATE)]
    MissingProjectState,
    /// `POST /v1/auth/anonymous` answered with a non-2xx status.
    #[error("Failed to acquire anonymous token ({status}): {body}")]
    AnonymousTokenRejected {
        /// HTTP status code.
        status: u16,
        /// The start of the response body (500 characters at most).
        body: String,
    },
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
            Error::Api { status, .. } | Error::AnonymousTokenRejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Node-style errno name for file errors, so JS callers can branch
    /// on `err.code` as they would for `fs` errors.
    ///
    /// For a transport failure, the socket error's name when the OS gave
    /// one (`ECONNREFUSED`, `ECONNRESET`, ...).
    pub fn io_code(&self) -> Option<&'static str> {
        use std::io::ErrorKind as K;
        match self {
            Error::Io { source, .. } => Some(match source.kind() {
                K::NotFound => "ENOENT",
                K::PermissionDenied => "EACCES",
                K::IsADirectory => "EISDIR",
                K::NotADirectory => "ENOTDIR",
                K::AlreadyExists => "EEXIST",
                _ => "EIO",
            }),
            Error::Http { source, .. } => {
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
                while let Some(c) = cause {
                    if let Some(io) = c.downcast_ref::<std::io::Error>() {
                        return match io.kind() {
                            K::ConnectionRefused => Some("ECONNREFUSED"),
                            K::ConnectionReset => Some("ECONNRESET"),
                            K::ConnectionAborted => Some("ECONNABORTED"),
                            K::TimedOut => Some("ETIMEDOUT"),
                            K::BrokenPipe => Some("EPIPE"),
                            _ => None,
                        };
                    }
                    cause = c.source();
                }
                None
            }
            _ => None,
        }
    }

    /// A transport failure after the answer had begun: its body broke off.
    pub fn is_body_failure(&self) -> bool {
        matches!(self, Error::Http { source, .. } if source.is_body() || source.is_decode())
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }
}
