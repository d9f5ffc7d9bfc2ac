//! Faults become answers: a panicking handler is a 500 with a message (and
//! the server keeps serving), and axum's plain-text rejections (a bad query
//! string, a wrong method) get the `{ "error" }` body every client reads.

use std::any::Any;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// The 500 answer for a handler that panicked.
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let msg = panic_message(payload.as_ref());
    tracing::error!("handler panicked: {msg}");
    crate::error::ApiError::Internal(format!("internal error while handling the request ({msg}); the server is still running, please report this"))
        .into_response()
}

/// Rewrites error answers that are not JSON into `{ "error": text }`.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let what = format!("{} {}", req.method(), req.uri().path());
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned()).unwrap_or_default();
    let text = match (text.is_empty(), status) {
        (false, _) => text,
        (true, StatusCode::METHOD_NOT_ALLOWED) => {
            match parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()) {
                Some(allow) => format!("`{what}` is not allowed; this route takes {allow}"),
                None => format!("`{what}` is not allowed; this route takes another method"),
            }
        }
        (true, s) => s.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = serde_json::json!({ "error": text }).to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
