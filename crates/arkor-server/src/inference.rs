//! `POST /v1/inference/chat`: generation from a base model, a checkpoint of
//! a job, or a job's final adapter, streamed as OpenAI-style chunks.

use std::convert::Infallible;
use std::sync::Arc;

use arkor_engine::{ChatMessage, Generator, SamplingParams};
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::channel::mpsc;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::store::{new_id, Org};
use crate::worker::Queue;
use crate::AppState;

/// Defaults when the request leaves a knob out: greedy decoding, so the
/// same prompt gives the same answer and checkpoints can be compared.
const DEFAULT_MAX_TOKENS: usize = 256;

struct Request {
    model: String,
    adapter_dir: Option<std::path::PathBuf>,
    messages: Vec<ChatMessage>,
    params: SamplingParams,
    stream: bool,
    label: String,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

fn parse(state: &AppState, org: &Org, body: &Value) -> ApiResult<Request> {
    let msgs = body.get("messages").and_then(Value::as_array).ok_or_else(|| bad("`messages` must be an array of { role, content }"))?;
    if msgs.is_empty() {
        return Err(bad("`messages` must not be empty"));
    }
    let mut messages = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).ok_or_else(|| bad(format!("`messages[{i}].role` must be a string")))?;
        if !matches!(role, "system" | "user" | "assistant") {
            return Err(bad(format!("`messages[{i}].role` {role:?} is not supported here; use system, user or assistant")));
        }
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(_) => return Err(bad(format!("`messages[{i}].content` must be a string"))),
        };
        messages.push(ChatMessage::new(role, &content));
    }
    for unsupported in ["tools", "structuredOutputs"] {
        if body.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(bad(format!("`{unsupported}` is not supported by the local backend yet")));
        }
    }
    if let Some(rf) = body.get("responseFormat").filter(|v| !v.is_null()) {
        if rf.get("type").and_then(Value::as_str) != Some("text") {
            return Err(bad("`responseFormat` other than { type: \"text\" } is not supported by the local backend yet"));
        }
    }
    let num = |k: &str| -> ApiResult<Option<f64>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(bad(format!("`{k}` must be a number"))),
        }
    };
    let mut params = SamplingParams {
        max_tokens: DEFAULT_MAX_TOKENS,
        bf16_matmul: crate::config::bf16_enabled(),
        ..SamplingParams::default()
    };
    if let Some(t) = num("temperature")? {
        if t < 0.0 {
            return Err(bad("`temperature` must be >= 0"));
        }
        params.temperature = t;
    }
    if let Some(p) = num("topP")? {
        if !(p > 0.0 && p <= 1.0) {
            return Err(bad("`topP` must be in (0, 1]"));
        }
        params.top_p = p;
    }
    if let Some(m) = num("maxTokens")? {
        if m < 1.0 || m.fract() != 0.0 {
            return Err(bad("`maxTokens` must be a whole number >= 1"));
        }
        params.max_tokens = m as usize;
    }
    if let Some(s) = num("seed")? {
        params.seed = s as u64;
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);

    let (model, adapter_dir, label) = match (body.get("adapter").filter(|v| !v.is_null()), body.get("baseModel").and_then(Value::as_str)) {
        (Some(adapter), _) => {
            let job_id = adapter.get("jobId").and_then(Value::as_str).ok_or_else(|| bad("`adapter.jobId` must be a string"))?;
            let job = state.store.job(job_id)?.filter(|j| j.org_id == org.id).ok_or_else(|| ApiError::NotFound(format!("job {job_id} not found")))?;
            let model = job.config.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
            let dir = Queue::job_dir(&state.home, job_id);
            match adapter.get("kind").and_then(Value::as_str) {
                Some("checkpoint") => {
                    let step = adapter.get("step").and_then(Value::as_u64).ok_or_else(|| bad("`adapter.step` must be a whole number for a checkpoint adapter"))?;
                    let d = dir.join(format!("checkpoint-{step}"));
                    if !d.join("adapter_config.json").exists() {
                        return Err(ApiError::NotFound(format!("job {job_id} has no checkpoint at step {step}")));
                    }
                    (model, Some(d), format!("{job_id}:checkpoint-{step}"))
                }
                Some("final") => {
                    let d = dir.join("final");
                    if !d.join("adapter_config.json").exists() {
                        return Err(ApiError::NotFound(format!("job {job_id} has no final adapter (status: {})", job.status)));
                    }
                    (model, Some(d), format!("{job_id}:final"))
                }
                _ => return Err(bad("`adapter.kind` must be \"checkpoint\" or \"final\"")),
            }
        }
        (None, Some(base)) => {
            if !crate::config::LOCAL_MODELS.contains(&base) {
                return Err(bad(format!("`baseModel` {base:?} is not served here; use one of {}", crate::config::LOCAL_MODELS.join(", "))));
            }
            (base.to_owned(), None, base.to_owned())
        }
        (None, None) => return Err(bad("name what to run: `adapter` ({ kind, jobId, step? }) or `baseModel`")),
    };
    Ok(Request { model, adapter_dir, messages, params, stream, label })
}

enum Piece {
    Text(String),
    Done { finish: &'static str, prompt_tokens: usize, completion_tokens: usize },
    Failed(String),
}

/// Handles one chat request.
pub async fn chat(state: AppState, org: Org, body: Value) -> ApiResult<Response> {
    let req = parse(&state, &org, &body)?;
    let models = state.models.clone();
    let (mut tx, mut rx) = mpsc::channel::<Piece>(64);
    // Model and adapter loading happen on the generation thread too: they
    // can take seconds and must not block the async runtime.
    std::thread::Builder::new()
        .name("arkor-generate".into())
        .spawn(move || {
            let mut run = || -> Result<(), String> {
                let model = models.model(&req.model)?;
                let adapter = match req.adapter_dir.clone() {
                    Some(d) => Some(models.adapter(&model, d)?),
                    None => None,
                };
                let prompt = arkor_engine::chat::encode_chat_prompt(model.tokenizer(), &req.messages).map_err(|e| e.to_string())?;
                let generator = Generator::new(Arc::clone(&model), adapter, &prompt, req.params.clone()).map_err(|e| e.to_string())?;
                let generation = generator
                    .run(|tok| {
                        tok.text.is_empty() || futures::executor::block_on(futures::SinkExt::send(&mut tx, Piece::Text(tok.text.clone()))).is_ok()
                    })
                    .map_err(|e| e.to_string())?;
                let _ = futures::executor::block_on(futures::SinkExt::send(
                    &mut tx,
                    Piece::Done { finish: generation.finish_reason.as_openai(), prompt_tokens: generation.prompt_tokens, completion_tokens: generation.ids.len() },
                ));
                Ok(())
            };
            if let Err(e) = run() {
                let _ = futures::executor::block_on(futures::SinkExt::send(&mut tx, Piece::Failed(e)));
            }
        })
        .map_err(|e| ApiError::Internal(format!("cannot start generation: {e}")))?;

    let id = new_id("chatcmpl");
    let created = chrono::Utc::now().timestamp();
    let model_label = req.label.clone();
    if !req.stream {
        let mut text = String::new();
        use futures::StreamExt;
        while let Some(p) = rx.next().await {
            match p {
                Piece::Text(t) => text.push_str(&t),
                Piece::Failed(e) => return Err(ApiError::Internal(e)),
                Piece::Done { finish, prompt_tokens, completion_tokens } => {
                    let body = json!({
                        "id": id, "object": "chat.completion", "created": created, "model": model_label,
                        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": finish }],
                        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens },
                        "content": text,
                    });
                    return Ok((StatusCode::OK, axum::Json(body)).into_response());
                }
            }
        }
        return Err(ApiError::Internal("generation ended without a result".into()));
    }

    // The first piece decides the status: a load failure is still a proper
    // error answer rather than a broken stream.
    use futures::StreamExt;
    let first = rx.next().await;
    if let Some(Piece::Failed(e)) = first {
        return Err(ApiError::Internal(e));
    }
    let chunk = move |delta: Value, finish: Option<&str>| {
        let v = json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model_label,
                        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
        Ok::<Bytes, Infallible>(Bytes::from(format!("data: {v}\n\n")))
    };
    let head = futures::stream::iter(vec![chunk(json!({ "role": "assistant" }), None)]);
    let chunk2 = chunk.clone();
    let body = futures::stream::iter(first).chain(rx).map(move |p| match p {
        Piece::Text(t) => chunk2(json!({ "content": t }), None),
        Piece::Done { finish, .. } => {
            let last = chunk2(json!({}), Some(finish)).unwrap();
            let mut b = last.to_vec();
            b.extend_from_slice(b"data: [DONE]\n\n");
            Ok(Bytes::from(b))
        }
        Piece::Failed(e) => Ok(Bytes::from(format!("data: {}\n\ndata: [DONE]\n\n", json!({ "error": e })))),
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(head.chain(body)))
        .expect("valid response"))
}
