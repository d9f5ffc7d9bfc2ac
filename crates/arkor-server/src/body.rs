//! Request bodies: read up to the server's limit, parsed as JSON, every
//! failure a `{ "error" }` answer (axum's own rejections are plain text).

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::Value;

use crate::error::ApiError;
use crate::limits::human_bytes;
use crate::AppState;

/// The JSON body of a request; `None` when it is empty.
pub struct JsonBody(pub Option<Value>);

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "the request body is over this server's {} limit; send less (fewer or shorter `messages`, a smaller `config`)",
        human_bytes(limit as u64)
    ))
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.rules.limits.body_bytes;
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large(limit));
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
            if is_length_limit(&e) {
                too_large(limit)
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {e}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| Self(Some(v)))
            .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
    }
}

impl JsonBody {
    /// The body as an object, else a 400 that says what was expected.
    pub fn object(self, expected: &str) -> Result<serde_json::Map<String, Value>, ApiError> {
        match self.0 {
            Some(Value::Object(o)) => Ok(o),
            _ => Err(ApiError::BadRequest(format!("the request body must be a JSON object {expected}"))),
        }
    }
}
