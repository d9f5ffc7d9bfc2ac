//! A deployment's answer: the shared parse and run steps of
//! [`crate::inference`] on the deployment's target, rendered as OpenAI's
//! `chat.completion` or its chunk stream, and recorded as a run when it ends.

use std::convert::Infallible;

use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::StreamExt;
use serde_json::json;

use super::model::Deployment;
use super::openai::{ChatRequest, Completion, OpenAiError, Usage};
use super::serve::RunLog;
use crate::error::ApiError;
use crate::inference::render::{tool_call_delta, ToolCalls};
use crate::inference::{parse_chat, resolve, start, Dialect, Piece};
use crate::AppState;

fn fail(log: RunLog, e: OpenAiError) -> Response {
    log.finish(e.status, Some(e.message.clone()));
    e.into_response()
}

/// Answers `req` with deployment `d`; `log` records the run.
pub(super) async fn answer(state: AppState, d: Deployment, req: ChatRequest, mut log: RunLog) -> Response {
    let body = match parse_chat(&req.body, &state.rules.limits, Dialect::OpenAi, d.target.to_inference()) {
        Ok(b) => b,
        Err(e) => return fail(log, OpenAiError::from_api(e)),
    };
    log.run.stream = body.stream;
    let org = match state.store.org_of(&d) {
        Ok(o) => o,
        Err(e) => return fail(log, OpenAiError::from_api(ApiError::from(e))),
    };
    let rx = match resolve(&state, &org, body).and_then(|r| {
        let stream = r.body.stream;
        start(&state, r).map(|rx| (rx, stream))
    }) {
        Ok(x) => x,
        Err(e) => return fail(log, OpenAiError::from_api(e)),
    };
    let completion = Completion::new(&d.slug);
    match rx {
        (rx, true) => chunks(completion, rx, req.include_usage, log).await,
        (rx, false) => whole(completion, rx, log).await,
    }
}

/// Notes a finished generation in the run.
fn done(log: &mut RunLog, finish: &str, prompt_tokens: usize, completion_tokens: usize) -> Usage {
    let usage = Usage { prompt_tokens: prompt_tokens as u64, completion_tokens: completion_tokens as u64 };
    log.run.finish_reason = Some(finish.to_owned());
    log.run.prompt_tokens = usage.prompt_tokens;
    log.run.completion_tokens = usage.completion_tokens;
    usage
}

fn ended_early() -> OpenAiError {
    OpenAiError::from_api(ApiError::Internal("generation ended without a result".into()))
}

async fn whole(c: Completion, mut rx: mpsc::Receiver<Piece>, mut log: RunLog) -> Response {
    let mut text = String::new();
    let mut calls = ToolCalls::default();
    while let Some(p) = rx.next().await {
        match p.into_error() {
            Ok(Piece::Text(t)) => text.push_str(&t),
            Ok(p @ (Piece::ToolCall { .. } | Piece::ToolArguments { .. })) => calls.push(&p),
            Ok(Piece::Done { finish, prompt_tokens, completion_tokens }) => {
                let usage = done(&mut log, finish, prompt_tokens, completion_tokens);
                log.finish(StatusCode::OK, None);
                let mut whole = c.whole(&text, finish, usage);
                whole["choices"][0]["message"] = calls.message(&text);
                return axum::Json(whole).into_response();
            }
            Ok(Piece::Failed(_) | Piece::Refused(_)) => unreachable!("into_error turned these into errors"),
            Err(e) => return fail(log, OpenAiError::from_api(e)),
        }
    }
    fail(log, ended_early())
}

/// Where a streamed answer is.
struct Streaming {
    /// The piece read to choose the status, sent before the rest.
    first: Option<Piece>,
    rx: mpsc::Receiver<Piece>,
    c: Completion,
    include_usage: bool,
    /// Taken when the run is recorded; dropped with the stream otherwise
    /// (the client went away), which records it too.
    log: Option<RunLog>,
}

impl Streaming {
    /// The events for the next piece; `None` once the answer has ended.
    async fn next(&mut self) -> Option<Vec<Event>> {
        let log = self.log.as_mut()?;
        let data = |v: serde_json::Value| Event::default().data(v.to_string());
        let piece = match self.first.take() {
            Some(p) => Some(p),
            None => self.rx.next().await,
        };
        let events = match piece {
            Some(Piece::Text(t)) => return Some(vec![data(self.c.chunk(json!({ "content": t }), None))]),
            Some(p @ (Piece::ToolCall { .. } | Piece::ToolArguments { .. })) => return Some(vec![data(self.c.chunk(tool_call_delta(&p), None))]),
            Some(Piece::Done { finish, prompt_tokens, completion_tokens }) => {
                let usage = done(log, finish, prompt_tokens, completion_tokens);
                self.log.take().expect("present").finish(StatusCode::OK, None);
                let mut evs = vec![data(self.c.chunk(json!({}), Some(finish)))];
                if self.include_usage {
                    evs.push(data(self.c.usage_chunk(usage)));
                }
                evs
            }
            // The status is sent already: the error goes in the stream, as OpenAI's does.
            Some(Piece::Failed(e)) => self.failed(OpenAiError::from_api(ApiError::Internal(e))),
            Some(Piece::Refused(e)) => self.failed(OpenAiError::from_api(ApiError::BadRequest(e))),
            None => self.failed(ended_early()),
        };
        Some(events.into_iter().chain([Event::default().data("[DONE]")]).collect())
    }

    fn failed(&mut self, e: OpenAiError) -> Vec<Event> {
        if let Some(log) = self.log.take() {
            log.finish(e.status, Some(e.message.clone()));
        }
        vec![Event::default().data(e.to_json().to_string())]
    }
}

/// Streams the answer. The first piece decides the status, so a load
/// failure or a prompt that does not fit the model is still an error answer.
async fn chunks(c: Completion, mut rx: mpsc::Receiver<Piece>, include_usage: bool, mut log: RunLog) -> Response {
    let first = match rx.next().await.map(Piece::into_error) {
        Some(Ok(p)) => p,
        Some(Err(e)) => return fail(log, OpenAiError::from_api(e)),
        None => return fail(log, ended_early()),
    };
    // From here the status is sent: a run cut short is still a 200.
    log.run.status = StatusCode::OK.as_u16();
    let head = Event::default().data(c.chunk(json!({ "role": "assistant", "content": "" }), None).to_string());
    let state = Streaming { first: Some(first), rx, c, include_usage, log: Some(log) };
    let events = futures::stream::unfold(state, |mut s| async move { s.next().await.map(|evs| (evs, s)) })
        .flat_map(futures::stream::iter);
    Sse::new(futures::stream::iter([head]).chain(events).map(Ok::<_, Infallible>)).into_response()
}
