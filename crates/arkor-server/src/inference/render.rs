//! The render step for `POST /v1/inference/chat`: upstream's `infer` answer,
//! an OpenAI `chat.completion` (plus a top-level `content`), or its
//! `chat.completion.chunk` stream ending in `[DONE]`; tool calls as OpenAI's
//! `tool_calls` (whole, or as deltas when streaming).

use std::convert::Infallible;

use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::StreamExt;
use serde_json::{json, Value};

use super::run::Piece;
use crate::error::{ApiError, ApiResult};
use crate::store::new_id;

/// Collects the whole answer into one JSON body.
pub(crate) async fn completion(label: String, mut rx: mpsc::Receiver<Piece>) -> ApiResult<Response> {
    let id = new_id("chatcmpl");
    let created = chrono::Utc::now().timestamp();
    let mut text = String::new();
    let mut calls = ToolCalls::default();
    while let Some(p) = rx.next().await {
        match p.into_error()? {
            Piece::Text(t) => text.push_str(&t),
            p @ (Piece::ToolCall { .. } | Piece::ToolArguments { .. }) => calls.push(&p),
            Piece::Done { finish, prompt_tokens, completion_tokens } => {
                let message = calls.message(&text);
                let body = json!({
                    "id": id, "object": "chat.completion", "created": created, "model": label,
                    "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
                    "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens },
                    "content": text,
                });
                return Ok((StatusCode::OK, axum::Json(body)).into_response());
            }
            Piece::Failed(_) | Piece::Refused(_) => unreachable!("into_error turned these into errors"),
        }
    }
    Err(ApiError::Internal("generation ended without a result".into()))
}

/// Streams the answer as chunks. The first piece decides the status, so a
/// load failure or a prompt that does not fit is still a proper error answer
/// rather than a broken stream.
pub(crate) async fn chunks(label: String, mut rx: mpsc::Receiver<Piece>) -> ApiResult<Response> {
    let first = match rx.next().await {
        Some(p) => Some(p.into_error()?),
        None => None,
    };
    let id = new_id("chatcmpl");
    let created = chrono::Utc::now().timestamp();
    let chunk = move |delta: Value, finish: Option<&str>| {
        Event::default().data(
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": label,
                    "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
            .to_string(),
        )
    };
    let head = chunk(json!({ "role": "assistant" }), None);
    let events = futures::stream::iter(first).chain(rx).flat_map(move |p| {
        let evs = match p {
            Piece::Text(t) => vec![chunk(json!({ "content": t }), None)],
            p @ (Piece::ToolCall { .. } | Piece::ToolArguments { .. }) => vec![chunk(tool_call_delta(&p), None)],
            Piece::Done { finish, .. } => vec![chunk(json!({}), Some(finish)), Event::default().data("[DONE]")],
            Piece::Failed(e) | Piece::Refused(e) => vec![Event::default().data(json!({ "error": e }).to_string()), Event::default().data("[DONE]")],
        };
        futures::stream::iter(evs)
    });
    let stream = futures::stream::iter([head]).chain(events).map(Ok::<_, Infallible>);
    Ok(Sse::new(stream).into_response())
}

/// The calls of a whole answer, gathered from its pieces.
#[derive(Debug, Default)]
pub(crate) struct ToolCalls(Vec<Value>);

impl ToolCalls {
    /// Takes a `ToolCall` or `ToolArguments` piece (others are ignored).
    pub(crate) fn push(&mut self, p: &Piece) {
        match p {
            Piece::ToolCall { id, name, .. } => self.0.push(json!({ "id": id, "type": "function", "function": { "name": name, "arguments": "" } })),
            Piece::ToolArguments { index, delta } => {
                if let Some(Value::String(a)) = self.0.get_mut(*index).and_then(|c| c.pointer_mut("/function/arguments")) {
                    a.push_str(delta);
                }
            }
            _ => {}
        }
    }

    /// The answer's assistant message: its text, or (as OpenAI's) no content and the calls.
    pub(crate) fn message(&self, text: &str) -> Value {
        if self.0.is_empty() {
            json!({ "role": "assistant", "content": text })
        } else {
            json!({ "role": "assistant", "content": Value::Null, "tool_calls": self.0 })
        }
    }
}

/// OpenAI's streamed tool-call delta for a `ToolCall` piece (the id, type and name, with
/// empty arguments) or a `ToolArguments` piece (the next piece of the arguments).
pub(crate) fn tool_call_delta(p: &Piece) -> Value {
    match p {
        Piece::ToolCall { index, id, name } => {
            json!({ "tool_calls": [{ "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }] })
        }
        Piece::ToolArguments { index, delta } => json!({ "tool_calls": [{ "index": index, "function": { "arguments": delta } }] }),
        _ => json!({}),
    }
}
