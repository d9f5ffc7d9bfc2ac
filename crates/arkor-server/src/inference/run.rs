//! The run step: a checked [`ChatBody`] resolved to a model and adapter on
//! disk, prepared as a sequence and decoded in its model's batch as a stream of
//! [`Piece`]s that any renderer (upstream's `infer` answer, OpenAI's chat
//! completions) consumes.

use std::path::PathBuf;
use std::sync::Arc;

use arkor_engine::{GrammarSpec, Model, Sequence, ToolChoice};
use futures::channel::mpsc;
use futures::SinkExt;
use serde_json::Value;

use super::parse::{ChatBody, Target};
use super::reply::Reply;
use super::scheduler::Admission;
use crate::error::{ApiError, ApiResult};
use crate::models::ModelCache;
use crate::store::Org;
use crate::worker::Queue;
use crate::AppState;

/// A request whose target was found: what to load, and how to name it.
pub(crate) struct Resolved {
    pub(crate) model: String,
    pub(crate) adapter_dir: Option<PathBuf>,
    pub(crate) body: ChatBody,
    /// The `model` field of the answer: the base model, or `job:checkpoint-N` / `job:final`.
    pub(crate) label: String,
}

/// One thing the generation of a request reports.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Text to append to the answer.
    Text(String),
    /// The answer calls a tool: call `index` (0-based) to `name`, whose id is `id`.
    ToolCall { index: usize, id: String, name: String },
    /// More of call `index`'s arguments (JSON text; the pieces concatenate).
    ToolArguments { index: usize, delta: String },
    /// The request cannot run (it does not fit the model): a 400.
    Refused(String),
    /// The answer is complete (`finish` is `tool_calls` when it called tools).
    Done { finish: &'static str, prompt_tokens: usize, completion_tokens: usize },
    /// Loading or generating failed.
    Failed(String),
}

impl Piece {
    /// The error a piece stands for, when the answer can still carry a status.
    pub(crate) fn into_error(self) -> Result<Piece, ApiError> {
        match self {
            Piece::Failed(e) => Err(ApiError::Internal(e)),
            Piece::Refused(e) => Err(ApiError::BadRequest(e)),
            p => Ok(p),
        }
    }
}

/// The directory of `job`'s checkpoint at `step` (its final adapter for `None`), or
/// why there is none yet.
pub(crate) fn saved_adapter(state: &AppState, job: &crate::store::Job, step: Option<u64>) -> Result<std::path::PathBuf, String> {
    let sub = step.map_or_else(|| "final".to_owned(), |s| format!("checkpoint-{s}"));
    let d = Queue::job_dir(&state.home, &job.id).join(sub);
    if d.join("adapter_config.json").exists() {
        return Ok(d);
    }
    Err(match step {
        Some(step) => format!("job {} has no checkpoint at step {step}", job.id),
        None => format!("job {} has no final adapter (status: {})", job.id, job.status),
    })
}

/// Finds what `body.target` names among `org`'s jobs.
pub(crate) fn resolve(state: &AppState, org: &Org, body: ChatBody) -> ApiResult<Resolved> {
    let (model, adapter_dir, label) = match &body.target {
        Target::Base(base) => (base.clone(), None, base.clone()),
        Target::Adapter { job_id, step } => {
            let job = state.store.job(job_id)?.filter(|j| j.org_id == org.id).ok_or_else(|| ApiError::NotFound(format!("job {job_id} not found")))?;
            let model = job.config.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
            let label = match step {
                Some(step) => format!("{job_id}:checkpoint-{step}"),
                None => format!("{job_id}:final"),
            };
            let d = saved_adapter(state, &job, *step).map_err(ApiError::NotFound)?;
            (model, Some(d), label)
        }
    };
    Ok(Resolved { model, adapter_dir, body, label })
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

/// Starts answering `req`. A thread of its own prepares it (loading a model or an
/// adapter takes seconds, compiling a grammar milliseconds: neither may hold up the
/// runtime or a running batch), then its model's batch decodes it
/// ([`super::scheduler`]). Dropping the receiver ends the sequence at the next step.
pub(crate) fn start(state: &AppState, req: Resolved) -> ApiResult<mpsc::Receiver<Piece>> {
    let (mut tx, rx) = mpsc::channel::<Piece>(64);
    let (models, batches) = (state.models.clone(), state.batches.clone());
    let fault = state.rules.faults.panic_inference_text.as_deref().is_some_and(|t| req.body.messages.iter().any(|m| m.content.contains(t)));
    std::thread::Builder::new()
        .name("arkor-admit".into())
        .spawn(move || match prepare(&models, &req) {
            Ok(Ok((model, seq))) => {
                let calls = req.body.tools.as_ref().is_some_and(|t| t.choice != ToolChoice::None);
                let reply = Reply::new(tx, req.body.stop.clone(), calls);
                batches.submit(model, Admission { seq, reply, fault });
            }
            Ok(Err(why)) => {
                let _ = futures::executor::block_on(tx.send(Piece::Refused(why)));
            }
            Err(e) => {
                let _ = futures::executor::block_on(tx.send(Piece::Failed(e)));
            }
        })
        .map_err(|e| ApiError::Internal(format!("cannot start generation: {e}")))?;
    Ok(rx)
}

/// `req` as a sequence of its model; `Ok(Err(why))` when it is refused (a 400).
fn prepare(models: &ModelCache, req: &Resolved) -> Result<Result<(Arc<Model>, Sequence), String>, String> {
    let model = models.model(&req.model).map_err(|e| e.to_string())?;
    // The weights' copies are made once per model, here rather than in the batch's
    // first step (about a second for gemma-3-270m), so they never hold up a batch.
    model.weights().frozen(req.body.params.precision).map_err(|e| e.to_string())?;
    let adapter = match req.adapter_dir.clone() {
        Some(d) => Some(models.adapter(&model, d).map_err(|e| e.to_string())?),
        None => None,
    };
    let messages = match req.body.tools.as_ref() {
        Some(t) => arkor_engine::chat::with_tools(&req.body.messages, &t.tools),
        None => req.body.messages.clone(),
    };
    let prompt = arkor_engine::chat::encode_chat_prompt(model.tokenizer(), &messages).map_err(|e| e.to_string())?;
    let context = model.config().max_position_embeddings;
    if let Err(why) = check_context(&req.model, context, prompt.len(), req.body.params.max_tokens) {
        return Ok(Err(why));
    }
    let mut seq = Sequence::new(Arc::clone(&model), adapter, &prompt, req.body.params.clone()).map_err(|e| e.to_string())?;
    match compile(&model, &req.body) {
        Ok(Some(grammar)) => seq = seq.with_constraint(&grammar),
        Ok(None) => {}
        Err(why) => return Ok(Err(why)),
    }
    Ok(Ok((model, seq)))
}

/// The compiled grammar for the request's constraint or tools; an error is the 400's
/// message, naming the field.
fn compile(model: &Model, body: &ChatBody) -> Result<Option<Arc<arkor_engine::CompiledGrammar>>, String> {
    // With tools, a constraint is only allowed under `toolChoice: "none"` (the parse step's rule).
    let (field, spec) = match (&body.tools, &body.constraint) {
        (_, Some(c)) => (c.field.clone(), c.spec.clone()),
        (Some(t), None) => ("tools".to_owned(), arkor_engine::tool_grammar(&t.tools, &t.choice)),
        (None, None) => return Ok(None),
    };
    let compiler = model.constraints().map_err(|e| e.to_string())?;
    match compiler.compile(&spec) {
        Ok(g) => Ok(Some(g)),
        Err(e) => {
            // A tool grammar fails on one tool's parameters: name that tool.
            // A structured-outputs `whitespace_pattern` travels inside the schema: when it is
            // the regex at fault, name it rather than the schema around it.
            if let Some(ws) = super::constraint::whitespace_pattern(&spec) {
                if let Err(e) = compiler.compile(&GrammarSpec::Regex(ws.to_owned())) {
                    let key = field.rsplit_once('.').map_or(field.as_str(), |(k, _)| k);
                    return Err(format!("`{key}.whitespace_pattern`: {e}"));
                }
            }
            if let Some(t) = body.tools.as_ref().filter(|_| field == "tools") {
                for (i, tool) in t.tools.iter().enumerate() {
                    if let Some(p) = &tool.parameters {
                        if let Err(e) = compiler.compile(&GrammarSpec::JsonSchema(p.clone())) {
                            return Err(format!("`tools[{i}].function.parameters`: {e}"));
                        }
                    }
                }
            }
            Err(format!("`{field}`: {e}"))
        }
    }
}

