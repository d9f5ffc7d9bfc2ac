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
    napi::Error::from_reason(format!("{TAG}{}", payload(&err)))
}

/// The JSON that `lib/errors.js` rebuilds an error from; `cause` nests.
fn payload(err: &Error) -> serde_json::Value {
    let kind = match err {
        Error::Api { .. } => "api",
        Error::Io { .. } => "io",
        Error::Http { .. } => "transport",
        Error::Aborted => "aborted",
        Error::CallbackFailed => "callback",
        Error::InvalidInput(_) => "input",
        _ => "other",
    };
    // Upstream throws these as `Error` subclasses of its own, told apart by name.
    let name = match err {
        Error::ProjectStateMismatch => Some("ProjectStateMismatchError"),
        Error::AnonymousTokenRejected { .. } => Some("AnonymousTokenRejectedError"),
        _ => None,
    };
    let cause = match err {
        Error::StreamGaveUp { last, .. } => payload(last),
        _ => serde_json::Value::Null,
    };
    let mut message = err.to_string();
    if let Error::Http { source, .. } = err {
        // reqwest's own text stops at "error sending request"; what went
        // wrong (refused, reset, DNS) is further down its chain.
        let mut next = std::error::Error::source(source);
        while let Some(e) = next {
            let text = e.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            next = e.source();
        }
    }
    json!({
        "kind": kind,
        "name": name,
        "status": err.status(),
        "code": err.io_code(),
        "bodyBroken": err.is_body_failure(),
        "message": message,
        "cause": cause,
    })
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
