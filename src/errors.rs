//! Rust errors → JS errors that `lib/errors.js` can rebuild faithfully.
//!
//! A napi error carries only a message, so the details `CloudApiError` and
//! `fs`-style errors need (status, errno code, kind) travel as a tagged JSON
//! reason that the JS side decodes.

use arkor_client::Error;
use serde_json::json;

/// Marks a reason produced here.
const TAG: &str = "\u{1}arkor-error:";

/// Converts an SDK error into a napi error with a tagged JSON reason.
pub fn to_napi(err: Error) -> napi::Error {
    let kind = match &err {
        Error::Api { .. } => "api",
        Error::Io { .. } => "io",
        Error::Aborted => "aborted",
        Error::CallbackFailed => "callback",
        Error::InvalidInput(_) => "input",
        _ => "other",
    };
    let payload = json!({
        "kind": kind,
        "status": err.status(),
        "code": err.io_code(),
        "message": err.to_string(),
    });
    napi::Error::from_reason(format!("{TAG}{payload}"))
}

/// `?`-friendly form of [`to_napi`].
pub trait IntoNapi<T> {
    /// Maps the error side with [`to_napi`].
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for Result<T, Error> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}

/// A bad argument from JS (malformed JSON, wrong shape).
pub fn bad_arg(what: &str, e: impl std::fmt::Display) -> napi::Error {
    to_napi(Error::InvalidInput(format!("{what}: {e}")))
}
