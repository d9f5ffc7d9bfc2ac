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
use crate::limits::{human_bytes, Limits};
use crate::store::{new_id, Org};
use crate::worker::Queue;
use crate::AppState;

/// Defaults when the request leaves a knob out: greedy decoding, so the
/// same prompt gives the same answer and checkpoints can be compared.
const DEFAULT_MAX_TOKENS: usize = 256;

/// A chat body, checked field by field; nothing looked up yet.
#[derive(Debug, Clone)]
pub(crate) struct ChatBody {
    pub(crate) messages: Vec<ChatMessage>,
    pub(crate) params: SamplingParams,
    pub(crate) stream: bool,
    pub(crate) target: Target,
}

/// What a chat request runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// A base model by name.
    Base(String),
    /// A job's checkpoint at `Some(step)`, or its final adapter.
    Adapter { job_id: String, step: Option<u64> },
}

struct Request {
    model: String,
    adapter_dir: Option<std::path::PathBuf>,
    body: ChatBody,
    label: String,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Checks a chat body against `limits`. Every error names its field.
pub(crate) fn parse_body(body: &Value, limits: &Limits) -> ApiResult<ChatBody> {
    if !body.is_object() {
        return Err(bad("the request body must be a JSON object { messages, adapter | baseModel, ... }"));
    }
    let msgs = body.get("messages").and_then(Value::as_array).ok_or_else(|| bad("`messages` must be an array of { role, content }"))?;
    if msgs.is_empty() {
        return Err(bad("`messages` must not be empty"));
    }
    if msgs.len() > limits.messages {
        return Err(bad(format!("`messages` has {} entries; this server takes at most {}", msgs.len(), limits.messages)));
    }
    let mut messages = Vec::with_capacity(msgs.len());
    let mut total = 0usize;
    for (i, m) in msgs.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).ok_or_else(|| bad(format!("`messages[{i}].role` must be a string")))?;
        if !matches!(role, "system" | "user" | "assistant") {
            return Err(bad(format!("`messages[{i}].role` {:?} is not supported here; use system, user or assistant", role.chars().take(40).collect::<String>())));
        }
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(_) => return Err(bad(format!("`messages[{i}].content` must be a string"))),
        };
        total += content.len();
        if total > limits.message_bytes {
            return Err(bad(format!(
                "`messages[{i}].content` brings the conversation over this server's {} of message text; send a shorter one",
                human_bytes(limits.message_bytes as u64)
            )));
        }
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
        if !(t >= 0.0) {
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
        if !(m >= 1.0) || m.fract() != 0.0 {
            return Err(bad("`maxTokens` must be a whole number >= 1"));
        }
        // The model's context bounds it further, once the model is known.
        params.max_tokens = m.min(usize::MAX as f64) as usize;
    }
    if let Some(s) = num("seed")? {
        if !(s >= 0.0) || s.fract() != 0.0 {
            return Err(bad("`seed` must be a whole number >= 0"));
        }
        params.seed = s as u64;
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`stream` must be true or false")),
    };
    let target = match (body.get("adapter").filter(|v| !v.is_null()), body.get("baseModel").filter(|v| !v.is_null())) {
        (Some(adapter), _) => {
            let job_id = adapter.get("jobId").and_then(Value::as_str).ok_or_else(|| bad("`adapter.jobId` must be a string"))?;
            let step = match adapter.get("kind").and_then(Value::as_str) {
                Some("checkpoint") => {
                    Some(adapter.get("step").and_then(Value::as_u64).ok_or_else(|| bad("`adapter.step` must be a whole number for a checkpoint adapter"))?)
                }
                Some("final") => None,
                _ => return Err(bad("`adapter.kind` must be \"checkpoint\" or \"final\"")),
            };
            Target::Adapter { job_id: job_id.to_owned(), step }
        }
        (None, Some(Value::String(base))) => {
            if !crate::config::is_local_model(base) {
                return Err(bad(format!(
                    "`baseModel` {:?} is not served here; use one of {}",
                    base.chars().take(80).collect::<String>(),
                    crate::config::local_models()
                )));
            }
            Target::Base(base.clone())
        }
        (None, Some(_)) => return Err(bad("`baseModel` must be a model name string")),
        (None, None) => return Err(bad("name what to run: `adapter` ({ kind, jobId, step? }) or `baseModel`")),
    };
    Ok(ChatBody { messages, params, stream, target })
}

/// Finds what `body.target` names among the caller's jobs.
fn resolve(state: &AppState, org: &Org, body: ChatBody) -> ApiResult<Request> {
    let (model, adapter_dir, label) = match &body.target {
        Target::Base(base) => (base.clone(), None, base.clone()),
        Target::Adapter { job_id, step } => {
            let job = state.store.job(job_id)?.filter(|j| j.org_id == org.id).ok_or_else(|| ApiError::NotFound(format!("job {job_id} not found")))?;
            let model = job.config.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
            let dir = Queue::job_dir(&state.home, job_id);
            match step {
                Some(step) => {
                    let d = dir.join(format!("checkpoint-{step}"));
                    if !d.join("adapter_config.json").exists() {
                        return Err(ApiError::NotFound(format!("job {job_id} has no checkpoint at step {step}")));
                    }
                    (model, Some(d), format!("{job_id}:checkpoint-{step}"))
                }
                None => {
                    let d = dir.join("final");
                    if !d.join("adapter_config.json").exists() {
                        return Err(ApiError::NotFound(format!("job {job_id} has no final adapter (status: {})", job.status)));
                    }
                    (model, Some(d), format!("{job_id}:final"))
                }
            }
        }
    };
    Ok(Request { model, adapter_dir, body, label })
}

/// `maxTokens` and the prompt must fit the model's context together.
fn check_context(model: &str, context: usize, prompt_tokens: usize, max_tokens: usize) -> Result<(), String> {
    if max_tokens > context {
        return Err(format!("`maxTokens` {max_tokens} is more than {model}'s context of {context} tokens; ask for at most {context}"));
    }
    if prompt_tokens + max_tokens > context {
        let room = context.saturating_sub(prompt_tokens);
        return Err(format!(
            "the prompt is {prompt_tokens} tokens, so `maxTokens` {max_tokens} does not fit {model}'s context of {context} tokens; ask for at most {room}, or send shorter `messages`"
        ));
    }
    Ok(())
}

enum Piece {
    Text(String),
    /// The request cannot run (it does not fit the model): a 400.
    Refused(String),
    Done { finish: &'static str, prompt_tokens: usize, completion_tokens: usize },
    Failed(String),
}

/// Handles one chat request.
pub async fn chat(state: AppState, org: Org, body: Value) -> ApiResult<Response> {
    let req = resolve(&state, &org, parse_body(&body, &state.rules.limits)?)?;
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
                let prompt = arkor_engine::chat::encode_chat_prompt(model.tokenizer(), &req.body.messages).map_err(|e| e.to_string())?;
                let context = model.config().max_position_embeddings;
                if let Err(why) = check_context(&req.model, context, prompt.len(), req.body.params.max_tokens) {
                    let _ = futures::executor::block_on(futures::SinkExt::send(&mut tx, Piece::Refused(why)));
                    return Ok(());
                }
                let generator = Generator::new(Arc::clone(&model), adapter, &prompt, req.body.params.clone()).map_err(|e| e.to_string())?;
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
    if !req.body.stream {
        let mut text = String::new();
        use futures::StreamExt;
        while let Some(p) = rx.next().await {
            match p {
                Piece::Text(t) => text.push_str(&t),
                Piece::Failed(e) => return Err(ApiError::Internal(e)),
                Piece::Refused(e) => return Err(ApiError::BadRequest(e)),
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
    match first {
        Some(Piece::Failed(e)) => return Err(ApiError::Internal(e)),
        Some(Piece::Refused(e)) => return Err(ApiError::BadRequest(e)),
        _ => {}
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
        Piece::Failed(e) | Piece::Refused(e) => Ok(Bytes::from(format!("data: {}\n\ndata: [DONE]\n\n", json!({ "error": e })))),
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(head.chain(body)))
        .expect("valid response"))
}
