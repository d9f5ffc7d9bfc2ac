//! The HTTP routes of the Arkor cloud API (SPEC §3–§4).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::{new_id, Org};
use crate::AppState;

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/auth/anonymous", post(anonymous))
        .route("/v1/me", get(me))
        .route("/v1/projects", get(list_projects).post(create_project))
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/cancel", post(cancel_job))
        .route("/v1/jobs/{id}/events/stream", get(stream_job))
        .route("/v1/inference/chat", post(chat))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
}

/// `?orgSlug=..&projectSlug=..`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeQuery {
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

fn project(state: &AppState, caller: &Org, q: &ScopeQuery) -> ApiResult<String> {
    check_org(caller, q)?;
    let slug = q.project_slug.as_deref().ok_or_else(|| ApiError::BadRequest("query parameter `projectSlug` is required".into()))?;
    state.store.project_id(caller, slug)?.ok_or_else(|| ApiError::NotFound(format!("project \"{slug}\" not found in org \"{}\"", caller.slug)))
}

/// A job of the caller's org, else 404 (never revealing other orgs' jobs).
fn own_job(state: &AppState, caller: &Org, id: &str) -> ApiResult<crate::store::Job> {
    state.store.job(id)?.filter(|j| j.org_id == caller.id).ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))
}

fn org_json(o: &Org) -> Value {
    json!({ "id": o.id, "slug": o.slug, "name": o.name })
}

async fn anonymous(State(state): State<AppState>, body: Option<Json<Value>>) -> ApiResult<Response> {
    let kind = body.as_ref().and_then(|b| b.get("kind")).and_then(Value::as_str).unwrap_or("cli").to_owned();
    if !matches!(kind.as_str(), "cli" | "web") {
        return Err(ApiError::BadRequest("`kind` must be \"cli\" or \"web\"".into()));
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

#[derive(Deserialize)]
struct NewProject {
    name: Option<String>,
    slug: Option<String>,
}

async fn create_project(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>, body: Option<Json<NewProject>>) -> ApiResult<Response> {
    check_org(&org, &q)?;
    let body = body.ok_or_else(|| ApiError::BadRequest("body must be JSON { name, slug }".into()))?;
    let slug = body.slug.clone().filter(|s| !s.is_empty()).ok_or_else(|| ApiError::BadRequest("`slug` is required".into()))?;
    if slug.len() > 64 || !slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(ApiError::BadRequest("`slug` must be 1-64 characters of a-z, 0-9 and -".into()));
    }
    let name = body.name.clone().unwrap_or_else(|| slug.clone());
    let project = state.store.create_project(&org, &name, &slug)?;
    Ok((StatusCode::CREATED, Json(json!({ "project": project }))).into_response())
}

async fn list_projects(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>) -> ApiResult<Json<Value>> {
    check_org(&org, &q)?;
    let projects = state.store.list_projects(&org)?;
    Ok(Json(json!({ "org": org_json(&org), "projects": projects })))
}

async fn create_job(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>, body: Option<Json<Value>>) -> ApiResult<Response> {
    let project_id = project(&state, &org, &q)?;
    let Json(body) = body.ok_or_else(|| ApiError::BadRequest("body must be JSON { name, config }".into()))?;
    let name = match body.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(ApiError::BadRequest("`name` must be a non-empty string".into())),
    };
    let config = body.get("config").cloned().unwrap_or(Value::Null);
    crate::config::plan(&config)?;
    let job = state.store.create_job(&org, &project_id, &name, &config, state.queue.owner())?;
    state.queue.notify();
    Ok((StatusCode::CREATED, Json(json!({ "job": job.to_json() }))).into_response())
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

async fn chat(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>, body: Option<Json<Value>>) -> ApiResult<Response> {
    check_org(&org, &q)?;
    let Json(body) = body.ok_or_else(|| ApiError::BadRequest("body must be JSON".into()))?;
    crate::inference::chat(state, org, body).await
}
