//! Deployments: upstream's `/v1/endpoints` API (create, list, get, update,
//! delete; keys; our runs route), and each deployment served as an
//! OpenAI-compatible chat-completions API at `http://<slug>.localhost:<port>/v1`
//! and `http://127.0.0.1:<port>/deployments/<slug>/v1`.

mod error;
mod input;
mod keys;
mod model;
mod openai;
mod render;
mod serve;
pub(crate) mod store;

use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::routes::{project, ScopeQuery};
use crate::store::{new_id, now, Org, Store};
use crate::AppState;
use error::{DeployError, DeployResult};
use model::{Deployment, Key, Target};

/// How many runs `GET .../runs` answers at most, and by default.
const RUNS_MAX: usize = 1000;
const RUNS_DEFAULT: usize = 100;

/// How often runs past their deployment's retention are deleted even when
/// nobody calls or lists that deployment.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The management routes and the serving routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/endpoints", get(list).post(create))
        .route("/v1/endpoints/{id}", get(get_one).patch(update).delete(remove))
        .route("/v1/endpoints/{id}/keys", get(list_keys).post(create_key))
        .route("/v1/endpoints/{id}/keys/{key_id}", delete(revoke_key))
        .route("/v1/endpoints/{id}/runs", get(list_runs))
        .merge(serve::routes())
}

/// Deletes expired runs every [`SWEEP_EVERY`], for as long as the server runs.
pub(crate) async fn sweep_runs(store: Store) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = store.prune_all_runs() {
            tracing::warn!("pruning deployment runs failed: {e}");
        }
    }
}

/// The caller's deployment named by the path's `{id}`, in the query's
/// project; else a 404 (another org's or project's deployment is not revealed).
struct Owned {
    org: Org,
    d: Deployment,
}

impl FromRequestParts<AppState> for Owned {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(org) = Caller::from_request_parts(parts, state).await?;
        let Query(q) = Query::<ScopeQuery>::from_request_parts(parts, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let id = params.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.to_owned()).unwrap_or_default();
        let project_id = project(state, &org, &q)?;
        let d = state
            .store
            .deployment(&id)
            .map_err(ApiError::from)?
            .filter(|d| d.org_id == org.id && d.project_id == project_id)
            .ok_or(DeployError::NotFound(id))?;
        Ok(Self { org, d })
    }
}

/// A target's job must be one of the caller's org. Its adapter need not exist
/// yet while the job can still save it (a final adapter appears when training
/// completes; a call before then is answered with a 404 saying so); once the job
/// has ended, a missing adapter never will, so the deployment is refused.
fn check_target(state: &AppState, org: &Org, target: &Target) -> DeployResult<()> {
    let (job_id, step) = match target {
        Target::Final { job_id } => (job_id, None),
        Target::Checkpoint { job_id, step } => (job_id, Some(*step)),
        Target::Base(_) => return Ok(()),
    };
    let job = state.store.job(job_id)?.filter(|j| j.org_id == org.id).ok_or_else(|| DeployError::JobNotFound(job_id.to_owned()))?;
    if job.is_terminal() {
        if let Err(why) = crate::inference::run::saved_adapter(state, &job, step) {
            let field = if step.is_some() { "target.adapter.step" } else { "target.adapter" };
            let fix = if step.is_some() { "pick a step it saved a checkpoint at" } else { "deploy one of its checkpoints" };
            return Err(DeployError::Invalid { field: field.into(), message: format!("cannot be served: {why}, and the job has ended; {fix}") });
        }
    }
    Ok(())
}

async fn list(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>) -> ApiResult<Json<Value>> {
    let project_id = project(&state, &org, &q)?;
    let all: Vec<Value> = state.store.list_deployments(&project_id)?.iter().map(Deployment::to_json).collect();
    Ok(Json(json!({ "deployments": all })))
}

async fn create(State(state): State<AppState>, Caller(org): Caller, Query(q): Query<ScopeQuery>, body: JsonBody) -> ApiResult<Response> {
    let project_id = project(&state, &org, &q)?;
    let input = input::create(body.0.as_ref())?;
    check_target(&state, &org, &input.target)?;
    let at = now();
    let d = Deployment {
        id: new_id("dep"),
        slug: input.slug,
        org_id: org.id.clone(),
        project_id,
        target: input.target,
        auth: input.auth,
        enabled: true,
        retention: input.retention,
        created_at: at.clone(),
        updated_at: at,
    };
    state.store.insert_deployment(&d)?;
    Ok((StatusCode::CREATED, Json(json!({ "deployment": d.to_json() }))).into_response())
}

async fn get_one(Owned { d, .. }: Owned) -> Json<Value> {
    Json(json!({ "deployment": d.to_json() }))
}

async fn update(State(state): State<AppState>, Owned { org, mut d }: Owned, body: JsonBody) -> ApiResult<Json<Value>> {
    let input = input::update(body.0.as_ref())?;
    if let Some(t) = input.target {
        check_target(&state, &org, &t)?;
        d.target = t;
    }
    d.auth = input.auth.unwrap_or(d.auth);
    d.enabled = input.enabled.unwrap_or(d.enabled);
    d.retention = input.retention.unwrap_or(d.retention);
    d.updated_at = now();
    state.store.update_deployment(&d)?;
    Ok(Json(json!({ "deployment": d.to_json() })))
}

async fn remove(State(state): State<AppState>, Owned { d, .. }: Owned) -> ApiResult<StatusCode> {
    state.store.delete_deployment(&d.id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_keys(State(state): State<AppState>, Owned { d, .. }: Owned) -> ApiResult<Json<Value>> {
    let all: Vec<Value> = state.store.list_keys(&d.id)?.iter().map(Key::to_json).collect();
    Ok(Json(json!({ "keys": all })))
}

async fn create_key(State(state): State<AppState>, Owned { d, .. }: Owned, body: JsonBody) -> ApiResult<Response> {
    let label = input::key_label(body.0.as_ref())?;
    let made = keys::generate();
    let key = Key { id: new_id("key"), label, prefix: made.prefix, enabled: true, created_at: now(), last_used_at: None };
    state.store.insert_key(&d.id, &key, &made.hash)?;
    let body = json!({ "key": { "id": key.id, "label": key.label, "plaintext": made.plaintext, "prefix": key.prefix, "createdAt": key.created_at } });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn revoke_key(State(state): State<AppState>, Owned { d, .. }: Owned, Path((_, key_id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    if !state.store.revoke_key(&d.id, &key_id)? {
        return Err(DeployError::KeyNotFound { deployment: d.id, key: key_id }.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `?limit=N` of the runs route.
#[derive(Deserialize)]
struct RunsQuery {
    limit: Option<String>,
}

async fn list_runs(State(state): State<AppState>, Owned { d, .. }: Owned, Query(r): Query<RunsQuery>) -> ApiResult<Json<Value>> {
    let limit = match r.limit.as_deref() {
        None => RUNS_DEFAULT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=RUNS_MAX).contains(n))
            .ok_or_else(|| DeployError::invalid("limit", format!("must be a whole number, 1-{RUNS_MAX}")))?,
    };
    let runs: Vec<Value> = state.store.list_runs(&d, limit)?.iter().map(|r| r.to_json()).collect();
    Ok(Json(json!({ "runs": runs, "runRetentionMode": d.retention.mode(), "runRetentionDays": d.retention.days() })))
}
