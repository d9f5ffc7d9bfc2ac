//! Bearer-token authentication.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::store::Org;
use crate::AppState;

/// The org the request's bearer token belongs to.
pub struct Caller(pub Org);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token: send `Authorization: Bearer <token>`".into()))?;
        match state.store.org_for_token(token)? {
            Some(org) => Ok(Caller(org)),
            None => Err(ApiError::Unauthorized("unknown or revoked token; sign in again (`arkor login --anonymous`)".into())),
        }
    }
}
