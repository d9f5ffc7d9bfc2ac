//! Serving a deployment: which one a request addresses (its Host
//! `<slug>.localhost`, or the path `/deployments/<slug>`), its key check,
//! the chat completion itself through the shared inference run step, and
//! the run recorded when the answer is over.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::json;

use super::model::{AuthMode, Deployment, Run};
use super::openai::{self, OpenAiError};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::guard::Authority;
use crate::AppState;

/// The OpenAI routes, by Host and by path. A wrong method or another
/// OpenAI route under a deployment is answered in OpenAI's error shape too,
/// which is what an OpenAI client reads.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_by_host).fallback(wrong_method))
        .route("/v1/models", get(models_by_host).fallback(wrong_method))
        .route("/deployments/{slug}/v1/chat/completions", post(chat_by_path).fallback(wrong_method))
        .route("/deployments/{slug}/v1/models", get(models_by_path).fallback(wrong_method))
        .route("/deployments/{slug}/{*rest}", any(unknown_route))
}

async fn wrong_method(method: Method, uri: Uri) -> OpenAiError {
    let allowed = if uri.path().ends_with("/models") { "GET" } else { "POST" };
    OpenAiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("`{method} {}` is not allowed; use {allowed}", uri.path()), None)
}

async fn unknown_route(uri: Uri) -> OpenAiError {
    OpenAiError::new(
        StatusCode::NOT_FOUND,
        format!("{} is not served: a deployment answers POST .../v1/chat/completions and GET .../v1/models", uri.path()),
        Some("unknown_url"),
    )
}

/// The `<slug>` of `Host: <slug>.localhost[:port]`.
fn host_slug(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let a = Authority::parse(host)?;
    a.name.strip_suffix(".localhost").filter(|s| !s.is_empty() && !s.contains('.')).map(str::to_owned)
}

fn no_deployment_named() -> OpenAiError {
    OpenAiError::new(
        StatusCode::NOT_FOUND,
        "this address names no deployment: call http://<slug>.localhost:<port>/v1/chat/completions or \
         http://127.0.0.1:<port>/deployments/<slug>/v1/chat/completions (create one with `arkor endpoints create`)",
        Some("deployment_not_found"),
    )
}

/// The presented key: `Authorization: Bearer <key>`, or `x-api-key` as upstream also takes.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok())).map(str::trim).filter(|k| !k.is_empty())
}

/// The enabled deployment `slug` and the id of the key the caller passed
/// (none for an open deployment). A disabled one is a 404, as upstream's
/// edge answers; a wrong or revoked key a 401.
fn admit(state: &AppState, slug: &str, headers: &HeaderMap) -> Result<(Deployment, Option<String>), OpenAiError> {
    let internal = |e: super::error::DeployError| OpenAiError::from_api(ApiError::from(e));
    let d = state.store.deployment_by_slug(slug).map_err(internal)?.ok_or_else(|| {
        OpenAiError::new(StatusCode::NOT_FOUND, format!("no deployment \"{slug}\" on this server"), Some("deployment_not_found"))
    })?;
    if !d.enabled {
        return Err(OpenAiError::new(
            StatusCode::NOT_FOUND,
            format!("deployment \"{slug}\" is disabled; enable it again (updateDeployment with enabled: true) to serve it"),
            Some("deployment_disabled"),
        ));
    }
    if d.auth == AuthMode::None {
        return Ok((d, None));
    }
    let Some(key) = presented_key(headers) else {
        return Err(OpenAiError::new(
            StatusCode::UNAUTHORIZED,
            format!("deployment \"{slug}\" needs an API key: send `Authorization: Bearer <key>` (issue one with createDeploymentKey or `arkor endpoints keys {slug} create`)"),
            Some("missing_api_key"),
        ));
    };
    match state.store.use_key(&d.id, &super::keys::hash(key)).map_err(internal)? {
        Some(id) => Ok((d, Some(id))),
        None => Err(OpenAiError::new(
            StatusCode::UNAUTHORIZED,
            format!("this API key is not valid for deployment \"{slug}\" (unknown or revoked)"),
            Some("invalid_api_key"),
        )),
    }
}

async fn chat_by_host(State(state): State<AppState>, headers: HeaderMap, body: Result<JsonBody, ApiError>) -> Response {
    match host_slug(&headers) {
        Some(slug) => chat(state, slug, headers, body).await,
        None => no_deployment_named().into_response(),
    }
}

async fn chat_by_path(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap, body: Result<JsonBody, ApiError>) -> Response {
    chat(state, slug, headers, body).await
}

async fn models_by_host(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match host_slug(&headers) {
        Some(slug) => models(state, slug, headers),
        None => no_deployment_named().into_response(),
    }
}

async fn models_by_path(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    models(state, slug, headers)
}

/// `GET /v1/models`: the one model a deployment serves, named by its slug
/// (what its answers carry as `model`).
fn models(state: AppState, slug: String, headers: HeaderMap) -> Response {
    match admit(&state, &slug, &headers) {
        Ok((d, _)) => {
            let created = chrono::DateTime::parse_from_rfc3339(&d.created_at).map(|t| t.timestamp()).unwrap_or(0);
            axum::Json(json!({ "object": "list", "data": [{ "id": d.slug, "object": "model", "created": created, "owned_by": "arkor" }] }))
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Records the call as a run once it is answered, whatever way it ends.
pub(super) struct RunLog {
    state: AppState,
    deployment: Deployment,
    started: Instant,
    pub(super) run: Run,
    done: bool,
}

impl RunLog {
    fn new(state: AppState, deployment: Deployment, key_id: Option<String>, started: Instant) -> Self {
        Self { state, deployment, started, run: Run { key_id, ..Run::default() }, done: false }
    }

    /// Records the run with `status` (and `error`).
    pub(super) fn finish(mut self, status: StatusCode, error: Option<String>) {
        self.run.status = status.as_u16();
        self.run.error = error;
        self.write();
    }

    fn write(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.run.latency_ms = self.started.elapsed().as_millis() as u64;
        if let Err(e) = self.state.store.record_run(&self.deployment.id, self.deployment.retention, &self.run) {
            tracing::warn!("cannot record a run of deployment {}: {e}", self.deployment.slug);
        }
    }
}

/// What a run records when the client went away before any answer was
/// sent (nginx's "client closed request").
const CLIENT_CLOSED: u16 = 499;

impl Drop for RunLog {
    /// A call the client dropped midway is still a run.
    fn drop(&mut self) {
        if !self.done {
            if self.run.status == 0 {
                self.run.status = CLIENT_CLOSED;
            }
            self.run.error.get_or_insert_with(|| "the client disconnected before the answer ended".into());
            self.write();
        }
    }
}

async fn chat(state: AppState, slug: String, headers: HeaderMap, body: Result<JsonBody, ApiError>) -> Response {
    let started = Instant::now();
    let (d, key_id) = match admit(&state, &slug, &headers) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let log = RunLog::new(state.clone(), d.clone(), key_id, started);
    let fail = |log: RunLog, e: OpenAiError| {
        log.finish(e.status, Some(e.message.clone()));
        e.into_response()
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return fail(log, OpenAiError::from_api(e)),
    };
    let req = match openai::parse_request(body.0.as_ref()) {
        Ok(r) => r,
        Err(e) => return fail(log, e),
    };
    super::render::answer(state, d, req, log).await
}
