//! `POST /v1/inference/chat`: generation from a base model, a checkpoint of
//! a job, or a job's final adapter, in three steps that other front ends
//! (deployments' OpenAI API) reuse: [`parse`] checks the body, [`run`]
//! resolves and prepares it, [`scheduler`] decodes it in its model's batch
//! beside other requests (the answer's side in [`reply`]), [`render`] writes
//! the answer.

pub(crate) mod constraint;
pub(crate) mod parse;
pub(crate) mod render;
pub(crate) mod reply;
pub(crate) mod run;
pub(crate) mod scheduler;

use axum::response::Response;
use serde_json::Value;

// The OpenAI front end (deployments) builds on these as well as `chat`.
pub(crate) use parse::{parse_body, parse_chat, Dialect, Target};
pub(crate) use run::{resolve, start, Piece};
pub(crate) use scheduler::Batches;

use crate::error::ApiResult;
use crate::store::Org;
use crate::AppState;

/// Handles one upstream-style chat request.
pub async fn chat(state: AppState, org: Org, body: Value) -> ApiResult<Response> {
    let req = resolve(&state, &org, parse_body(&body, &state.rules.limits)?)?;
    let (label, stream) = (req.label.clone(), req.body.stream);
    let rx = start(&state, req)?;
    if stream {
        render::chunks(label, rx).await
    } else {
        render::completion(label, rx).await
    }
}
