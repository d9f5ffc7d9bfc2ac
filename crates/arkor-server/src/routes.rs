//! The HTTP routes of the Arkor cloud API (docs/PROTOCOL.md §2–§4, §6, §8).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::guard::HostPolicy;
use crate::limits::{IDEMPOTENCY_KEY_CHARS, SLUG_CHARS};
use crate::ratelimit::ClientIp;
use crate::store::{new_id, Org};
use crate::AppState;

/// All routes, behind the Host guard, with panics and rejections answered
/// as JSON errors.
pub fn router(state: AppState, hosts: HostPolicy) -> Router {
    let mut api = Router::new();
    if state.rules.faults.panic_route {
        api = api.route("/v1/__fault/panic", get(injected_panic));
    }
    let api = api
        .route("/v1/auth/anonymous", post(anonymous))
        .route("/v1/auth/cli/config", get(cli_config))
        .route("/v1/me", get(me))
        .route("/v1/projects", get(list_projects).post(create_project))
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/cancel", post(cancel_job))
        .route("/v1/jobs/{id}/events/stream", get(stream_job))
        .route("/v1/inference/chat", post(chat))
        .merge(crate::deployments::routes())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
        .layer(axum::middleware::from_fn(crate::fault::json_errors));
    hosts.apply(api).layer(tower_http::catch_panic::CatchPanicLayer::custom(crate::fault::panic_response))
}

/// `GET /v1/auth/cli/config`: the OAuth settings a CLI reads before it signs
/// in. This backend has no OAuth provider, so every field is empty and
/// `arkor login` goes the anonymous way, as upstream's CLI does on such a
/// deployment.
async fn cli_config() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "auth0Domain": null, "clientId": null, "audience": null, "callbackPorts": [] }))
}

/// The test-only route of [`crate::Faults::panic_route`].
async fn injected_panic() -> StatusCode {
    panic!("injected fault")
}

/// `?orgSlug=..&projectSlug=..`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScopeQuery {
    org_slug: Option<String>,
    project_slug: Option<String>,
}

fn check_org(caller: &Org, q: &ScopeQuery) -> ApiResult<()> {
    match q.org_slug.as_deref() {
        None => Err(ApiError::BadRequest("query parameter `orgSlug` is required".into())),
        Some(s) if s == caller.slug => Ok(()),
        Some(s) => Err(ApiError::NotFound(format!("org \"{s}\" not found"))),
    }
}

/// The id of the query's project in the caller's org, else 400 / 404.
pub(crate) fn project(state: &AppState, caller: &Org, q: &ScopeQuery) -> ApiResult<String> {
    check_org(caller, q)?;
    let slug = q.project_slug.as_deref().ok_or_else(|| ApiError::BadRequest("query parameter `projectSlug` is required".into()))?;
    state.store.project_id(caller, slug)?.ok_or_else(|| ApiError::NotFound(format!("project \"{slug}\" not found in org \"{}\"", caller.slug)))
}

/// A job of the caller's org, else 404 (never revealing other orgs' jobs).
fn own_job(state: &AppState, caller: &Org, id: &str) -> ApiResult<crate::store::Job> {
    state.store.job(id)?.filter(|j| j.org_id == caller.id).ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))
}

/// A `name` field within the server's length limit.
fn name_field(state: &AppState, v: Option<&Value>, what: &str) -> ApiResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let max = state.rules.limits.name_chars;
            let n = s.chars().count();
            if n > max {
                return Err(ApiError::BadRequest(format!("`name` of the {what} is {n} characters long; at most {max} are allowed")));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ApiError::BadRequest(format!("`name` of the {what} must be a string"))),
    }
}

fn org_json(o: &Org) -> Value {
    json!({ "id": o.id, "slug": o.slug, "name": o.name })
}

async fn anonymous(State(state): State<AppState>, ClientIp(ip): ClientIp, body: JsonBody) -> ApiResult<Response> {
    if !state.rules.access.anonymous_signup() {
        return Err(ApiError::Forbidden(format!(
            "anonymous sign-up is off on this public server; use the token its operator gave you (ARKOR_CLOUD_API_URL plus credentials), or restart it with `{}`",
            crate::access::ALLOW_ANONYMOUS_FLAG
        )));
    }
    let kind = match body.0.as_ref().and_then(|b| b.get("kind")) {
        None | Some(Value::Null) => "cli",
        Some(Value::String(k)) if matches!(k.as_str(), "cli" | "web") => k.as_str(),
        Some(_) => return Err(ApiError::BadRequest("`kind` must be \"cli\" or \"web\"".into())),
    }
    .to_owned();
    if let Some(ip) = ip {
        state.signups.take(ip).map_err(|retry_after| ApiError::TooManyRequests {
            message: format!("too many anonymous sign-ups from {ip}; try again in {retry_after} s, or reuse the token you already have"),
            retry_after,
        })?;
    }
    let anonymous_id = new_id("anon");
    let slug = format!("anon-{}", &anonymous_id[5..17]);
    let org = state.store.ensure_org(&slug, "Personal (anonymous)")?;
    let token = format!("arkor_{:032x}", rand::random::<u128>());
    state.store.add_token(&token, &org, Some(&anonymous_id), Some(&kind))?;
    let body = json!({ "token": token, "anonymousId": anonymous_id, "kind": kind, "personalOrg": org_json(&org) });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn me(Caller(org): Caller) -> Json<Value> {
    Json(json!({ "user": { "kind": "anonymous" }, "orgs": [org_json(&org)] }))
}

async fn create_project(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>, body: JsonBody) -> ApiResult<Response> {
    check_org(&org, &q)?;
    let body = body.object("{ name, slug }")?;
    let slug = match body.get("slug") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(ApiError::BadRequest("`slug` is required: 1-64 characters of a-z, 0-9 and -".into())),
    };
    if slug.len() > SLUG_CHARS || !slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(ApiError::BadRequest(format!("`slug` must be 1-{SLUG_CHARS} characters of a-z, 0-9 and -")));
    }
    let name = name_field(&state, body.get("name"), "project")?.unwrap_or_else(|| slug.clone());
    let project = state.store.create_project(&org, &name, &slug)?;
    Ok((StatusCode::CREATED, Json(json!({ "project": project }))).into_response())
}

async fn list_projects(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>) -> ApiResult<Json<Value>> {
    check_org(&org, &q)?;
    let projects = state.store.list_projects(&org)?;
    Ok(Json(json!({ "org": org_json(&org), "projects": projects })))
}

/// The `Idempotency-Key` header, when sent: one key per trainer, reused on
/// retries, so a retried create answers with the job it already made.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_CHARS);
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::BadRequest(format!("header `Idempotency-Key` must be 1-{IDEMPOTENCY_KEY_CHARS} visible ASCII characters"))
    })
}

async fn create_job(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>, headers: HeaderMap, body: JsonBody) -> ApiResult<Response> {
    let project_id = project(&state, &org, &q)?;
    let key = idempotency_key(&headers)?;
    let answer = |job: crate::store::Job| (StatusCode::CREATED, Json(json!({ "job": job.to_json() }))).into_response();
    // A retry: the job as it is now, whatever the body says this time.
    if let Some(job) = key.as_deref().map(|k| state.store.job_by_key(&org, &project_id, k)).transpose()?.flatten() {
        return Ok(answer(job));
    }
    let body = body.object("{ name, config }")?;
    let name = match name_field(&state, body.get("name"), "job")? {
        Some(s) if !s.trim().is_empty() => s,
        _ => return Err(ApiError::BadRequest("`name` must be a non-empty string".into())),
    };
    let config = body.get("config").cloned().unwrap_or(Value::Null);
    crate::config::plan(&config, &state.rules.access)?;
    let (job, created) = state.store.create_job_once(&org, &project_id, &name, &config, state.queue.owner(), key.as_deref())?;
    if created {
        state.queue.notify();
    }
    Ok(answer(job))
}

async fn list_jobs(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>) -> ApiResult<Json<Value>> {
    let project_id = project(&state, &org, &q)?;
    let jobs: Vec<Value> = state.store.list_jobs(&project_id)?.iter().map(|j| j.to_json()).collect();
    Ok(Json(json!({ "jobs": jobs })))
}

async fn get_job(State(state): State<AppState>, Caller(org): Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = own_job(&state, &org, &id)?;
    let events: Vec<Value> = state
        .store
        .events_after(&id, 0, usize::MAX >> 1)?
        .into_iter()
        .map(|(eid, data)| {
            let mut v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("id".into(), json!(eid));
            }
            v
        })
        .collect();
    Ok(Json(json!({ "job": job.to_json(), "events": events })))
}

async fn cancel_job(State(state): State<AppState>, Caller(org): Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = own_job(&state, &org, &id)?;
    state.queue.cancel(&job);
    let job = own_job(&state, &org, &id)?;
    Ok(Json(json!({ "job": job.to_json() })))
}

async fn stream_job(State(state): State<AppState>, Caller(org): Caller, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    own_job(&state, &org, &id)?;
    Ok(crate::stream::job_events(&state, id, &headers))
}

async fn chat(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>, body: JsonBody) -> ApiResult<Response> {
    check_org(&org, &q)?;
    let body = body.0.ok_or_else(|| ApiError::BadRequest("the request body must be JSON { messages, adapter | baseModel, ... }".into()))?;
    crate::inference::chat(state, org, body).await
}
