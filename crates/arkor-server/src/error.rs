//! Errors of the server, and how each becomes an HTTP answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a route can fail with. Every variant maps to one status code and a
/// `{ "error": message }` body, the shape the SDK reads.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or unknown bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the server's policy refuses this (public mode, the Host guard).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource visible to this token.
    #[error("{0}")]
    NotFound(String),
    /// 409: the resource exists already.
    #[error("{0}")]
    Conflict(String),
    /// 413: the request body is over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 429: a rate limit; the client may retry after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests {
        /// What was limited and when to retry.
        message: String,
        /// Seconds until the next attempt can succeed.
        retry_after: u64,
    },
    /// 500: a fault of ours.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        let mut res = (self.status(), axum::Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        res
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(format!("database: {e}"))
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            e @ crate::store::StoreError::ProjectExists { .. } => ApiError::Conflict(e.to_string()),
            e @ crate::store::StoreError::Database(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crate::config::ConfigError> for ApiError {
    fn from(e: crate::config::ConfigError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Result of a route.
pub type ApiResult<T> = Result<T, ApiError>;
