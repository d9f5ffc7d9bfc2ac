//! What managing deployments can fail with, and the one place each failure
//! becomes an HTTP status (through [`ApiError`], whose `{ "error" }` body
//! the SDK's `CloudApiError` reads).

use crate::error::ApiError;

/// A failure of a `/v1/endpoints` route.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeployError {
    /// A body field is missing or wrong; `message` says what is expected.
    #[error("`{field}` {message}")]
    Invalid {
        /// The field's path in the body, e.g. `target.adapter.step`.
        field: String,
        /// What is wrong and what to send instead.
        message: String,
    },
    /// Another deployment (of any org: the slug is the URL) has this slug.
    #[error("slug \"{0}\" is already taken by another deployment; pick another (the slug is the URL, so it is unique on this server)")]
    SlugTaken(String),
    /// No deployment with this id in the caller's project.
    #[error("deployment {0} not found in this project")]
    NotFound(String),
    /// No key with this id on the deployment.
    #[error("key {key} not found on deployment {deployment}")]
    KeyNotFound {
        /// The deployment.
        deployment: String,
        /// The key id asked for.
        key: String,
    },
    /// The target names a job the caller's org does not have.
    #[error("`target.adapter.jobId`: job {0} not found")]
    JobNotFound(String),
    /// A scope or auth failure from the shared route helpers.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// SQLite failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The job store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl DeployError {
    /// A [`DeployError::Invalid`] for `field`.
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::Api(e) => e,
            e @ DeployError::Invalid { .. } => ApiError::BadRequest(e.to_string()),
            e @ DeployError::SlugTaken(_) => ApiError::Conflict(e.to_string()),
            e @ (DeployError::NotFound(_) | DeployError::KeyNotFound { .. } | DeployError::JobNotFound(_)) => {
                ApiError::NotFound(e.to_string())
            }
            e @ DeployError::Database(_) => ApiError::Internal(e.to_string()),
            DeployError::Store(e) => e.into(),
        }
    }
}

/// Result of the deployment routes and store.
pub(crate) type DeployResult<T> = Result<T, DeployError>;
