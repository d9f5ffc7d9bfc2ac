//! The run step: a checked [`ChatBody`] resolved to a model and adapter on
//! disk, then generated on its own thread as a stream of [`Piece`]s that any
//! renderer (upstream's `infer` answer, OpenAI's chat completions) consumes.

use std::path::PathBuf;
use std::sync::Arc;

use arkor_engine::{GrammarSpec, Generator, Model, ToolCallStream, ToolChoice, ToolStreamEvent};
use futures::channel::mpsc;
use futures::SinkExt;
use serde_json::Value;

use super::parse::{ChatBody, Target};
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

/// One thing the generation thread reports.
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

/// Finds what `body.target` names among `org`'s jobs.
pub(crate) fn resolve(state: &AppState, org: &Org, body: ChatBody) -> ApiResult<Resolved> {
    let (model, adapter_dir, label) = match &body.target {
        Target::Base(base) => (base.clone(), None, base.clone()),
        Target::Adapter { job_id, step } => {
            let job = state.store.job(job_id)?.filter(|j| j.org_id == org.id).ok_or_else(|| ApiError::NotFound(format!("job {job_id} not found")))?;
            let model = job.config.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
            let dir = Queue::job_dir(&state.home, job_id);
            let (sub, label) = match step {
                Some(step) => (format!("checkpoint-{step}"), format!("{job_id}:checkpoint-{step}")),
                None => ("final".to_owned(), format!("{job_id}:final")),
            };
            let d = dir.join(&sub);
            if !d.join("adapter_config.json").exists() {
                return Err(ApiError::NotFound(match step {
                    Some(step) => format!("job {job_id} has no checkpoint at step {step}"),
                    None => format!("job {job_id} has no final adapter (status: {})", job.status),
                }));
            }
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

/// Starts generating `req` on its own thread. Model and adapter loading
/// happen there too: they can take seconds and must not block the runtime.
/// Dropping the receiver stops the generation at the next token.
pub(crate) fn start(models: ModelCache, req: Resolved) -> ApiResult<mpsc::Receiver<Piece>> {
    let (mut tx, rx) = mpsc::channel::<Piece>(64);
    let send = |tx: &mut mpsc::Sender<Piece>, p: Piece| futures::executor::block_on(tx.send(p)).is_ok();
    std::thread::Builder::new()
        .name("arkor-generate".into())
        .spawn(move || {
            let run = |tx: &mut mpsc::Sender<Piece>| -> Result<(), String> {
                let model = models.model(&req.model).map_err(|e| e.to_string())?;
                let adapter = match req.adapter_dir.clone() {
                    Some(d) => Some(models.adapter(&model, d).map_err(|e| e.to_string())?),
                    None => None,
                };
                let tools = req.body.tools.as_ref();
                let messages = match tools {
                    Some(t) => arkor_engine::chat::with_tools(&req.body.messages, &t.tools),
                    None => req.body.messages.clone(),
                };
                let prompt = arkor_engine::chat::encode_chat_prompt(model.tokenizer(), &messages).map_err(|e| e.to_string())?;
                let context = model.config().max_position_embeddings;
                if let Err(why) = check_context(&req.model, context, prompt.len(), req.body.params.max_tokens) {
                    send(tx, Piece::Refused(why));
                    return Ok(());
                }
                let mut generator = Generator::new(Arc::clone(&model), adapter, &prompt, req.body.params.clone()).map_err(|e| e.to_string())?;
                match compile(&model, &req.body) {
                    Ok(Some(grammar)) => generator = generator.with_constraint(&grammar),
                    Ok(None) => {}
                    Err(why) => {
                        send(tx, Piece::Refused(why));
                        return Ok(());
                    }
                }
                let mut stops = StopScanner::new(&req.body.stop);
                // Calls are read out of the text only when the model may make them.
                let mut calls = tools.filter(|t| t.choice != ToolChoice::None).map(|_| ToolCallStream::new());
                let mut emit = |tx: &mut mpsc::Sender<Piece>, text: String| -> bool {
                    let Some(calls) = calls.as_mut() else { return text.is_empty() || send(tx, Piece::Text(text)) };
                    calls.push(&text).into_iter().all(|e| send(tx, call_piece(e)))
                };
                let generation = generator
                    .run(|tok| {
                        let (text, stopped) = stops.push(&tok.text);
                        emit(tx, text) && !stopped
                    })
                    .map_err(|e| e.to_string())?;
                let mut finish = if stops.stopped {
                    "stop"
                } else {
                    let rest = stops.finish();
                    emit(tx, rest);
                    generation.finish_reason.as_openai()
                };
                if let Some(c) = calls.as_mut() {
                    for e in c.finish() {
                        send(tx, call_piece(e));
                    }
                    if c.is_calls() && finish == "stop" {
                        finish = "tool_calls";
                    }
                }
                send(tx, Piece::Done { finish, prompt_tokens: generation.prompt_tokens, completion_tokens: generation.ids.len() });
                Ok(())
            };
            if let Err(e) = run(&mut tx) {
                send(&mut tx, Piece::Failed(e));
            }
        })
        .map_err(|e| ApiError::Internal(format!("cannot start generation: {e}")))?;
    Ok(rx)
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

/// A tool-call stream event as a piece of the answer; each call gets its id here.
fn call_piece(e: ToolStreamEvent) -> Piece {
    match e {
        ToolStreamEvent::Text(t) => Piece::Text(t),
        ToolStreamEvent::CallStart { index, name } => Piece::ToolCall { index, id: crate::store::new_id("call"), name },
        ToolStreamEvent::Arguments { index, delta } => Piece::ToolArguments { index, delta },
    }
}

/// Cuts the answer at the first stop text. Text that could still become a
/// stop text is held back until the next token decides.
struct StopScanner<'a> {
    stops: &'a [String],
    pending: String,
    stopped: bool,
}

impl<'a> StopScanner<'a> {
    fn new(stops: &'a [String]) -> Self {
        Self { stops, pending: String::new(), stopped: false }
    }

    /// Adds a token's text; returns what may be shown now, and whether a stop text was hit.
    fn push(&mut self, text: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (text.to_owned(), false);
        }
        self.pending.push_str(text);
        if let Some(at) = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min() {
            self.stopped = true;
            self.pending.truncate(at);
            return (std::mem::take(&mut self.pending), true);
        }
        // Hold back the longest tail that begins some stop text.
        let hold = (1..=self.pending.len())
            .rev()
            .filter(|&n| self.pending.is_char_boundary(self.pending.len() - n))
            .find(|&n| {
                let tail = &self.pending[self.pending.len() - n..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(0);
        let keep = self.pending.split_off(self.pending.len() - hold);
        (std::mem::replace(&mut self.pending, keep), false)
    }

    /// What was held back when the answer ends without a stop text.
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], tokens: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut sc = StopScanner::new(&stops);
        let mut out = String::new();
        for t in tokens {
            let (text, stopped) = sc.push(t);
            out.push_str(&text);
            if stopped {
                return (out, true);
            }
        }
        out.push_str(&sc.finish());
        (out, false)
    }

    #[test]
    fn cuts_at_a_stop_text_split_over_tokens() {
        assert_eq!(run(&["END"], &["hello E", "N", "D more"]), ("hello ".to_owned(), true));
    }

    #[test]
    fn releases_a_false_start() {
        assert_eq!(run(&["END"], &["a E", "Nx", " b"]), ("a ENx b".to_owned(), false));
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".to_owned(), true));
    }

    #[test]
    fn no_stops_passes_text_through() {
        assert_eq!(run(&[], &["é", "x"]), ("éx".to_owned(), false));
    }

    #[test]
    fn multibyte_text_is_held_on_char_boundaries() {
        assert_eq!(run(&["éé"], &["aé", "b"]), ("aéb".to_owned(), false));
        assert_eq!(run(&["éé"], &["aé", "é"]), ("a".to_owned(), true));
    }
}
