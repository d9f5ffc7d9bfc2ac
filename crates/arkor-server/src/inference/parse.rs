//! The parse step: a chat body checked field by field into a [`ChatBody`],
//! before anything is looked up or loaded.

use arkor_engine::chat::message_from_json;
use arkor_engine::SamplingParams;
use serde_json::Value;

use super::constraint::{field_error, parse_constraints, OutputConstraint, ToolUse};
use crate::error::{ApiError, ApiResult};
use crate::limits::{human_bytes, Limits};

/// A chat body, checked field by field; nothing looked up yet.
#[derive(Debug, Clone)]
pub(crate) struct ChatBody {
    pub(crate) messages: Vec<arkor_engine::ChatMessage>,
    /// The grammar the answer must follow (`responseFormat` / `structuredOutputs`).
    pub(crate) constraint: Option<OutputConstraint>,
    /// Tools offered, and `toolChoice`.
    pub(crate) tools: Option<ToolUse>,
    pub(crate) params: SamplingParams,
    /// Texts that end the answer where they first appear; they are not part of it.
    pub(crate) stop: Vec<String>,
    pub(crate) stream: bool,
    pub(crate) target: Target,
}

/// The two spellings of a chat body: upstream's `infer` (camelCase, with the
/// target in the body) and OpenAI's chat completions (snake_case, with the
/// target fixed by the deployment). One parser serves both, so a limit or a
/// range check is written once; only the field names differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Arkor,
    OpenAi,
}

impl Dialect {
    fn top_p(self) -> &'static str {
        match self {
            Dialect::Arkor => "topP",
            Dialect::OpenAi => "top_p",
        }
    }

    /// The names a token budget may go by, preferred first.
    fn max_tokens(self) -> &'static [&'static str] {
        match self {
            Dialect::Arkor => &["maxTokens"],
            Dialect::OpenAi => &["max_completion_tokens", "max_tokens"],
        }
    }
}

/// Most stop texts a request may give, as OpenAI allows.
const MAX_STOP: usize = 4;

/// What a chat request runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// A base model by name.
    Base(String),
    /// A job's checkpoint at `Some(step)`, or its final adapter.
    Adapter { job_id: String, step: Option<u64> },
}

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Checks an upstream `infer` body against `limits`. Every error names its field.
pub(crate) fn parse_body(body: &Value, limits: &Limits) -> ApiResult<ChatBody> {
    if !body.is_object() {
        return Err(bad("the request body must be a JSON object { messages, adapter | baseModel, ... }"));
    }
    // `messages` is checked before the target, as it comes first in a body.
    let chat = parse_chat(body, limits, Dialect::Arkor, Target::Base(String::new()))?;
    Ok(ChatBody { target: parse_target(body)?, ..chat })
}

/// Checks the generation part of a body (everything but what to run) in
/// `dialect`'s field names; `target` comes from the body or the deployment.
pub(crate) fn parse_chat(body: &Value, limits: &Limits, dialect: Dialect, target: Target) -> ApiResult<ChatBody> {
    if !body.is_object() {
        return Err(bad("the request body must be a JSON object with `messages`"));
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
        let message = message_from_json(m).map_err(|(field, e)| field_error(&format!("messages[{i}].{field}"), &e))?;
        total += message.content.len() + message.tool_calls.iter().map(|c| c.arguments.len()).sum::<usize>();
        if total > limits.message_bytes {
            return Err(bad(format!(
                "`messages[{i}].content` brings the conversation over this server's {} of message text; send a shorter one",
                human_bytes(limits.message_bytes as u64)
            )));
        }
        messages.push(message);
    }
    let (constraint, tools) = parse_constraints(body, dialect)?;
    let num = |k: &str| -> ApiResult<Option<f64>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(bad(format!("`{k}` must be a number"))),
        }
    };
    // A knob the request leaves out keeps the engine's default: greedy decoding, so the
    // same prompt gives the same answer and checkpoints can be compared.
    let mut params = SamplingParams { precision: crate::config::inference_precision(), ..SamplingParams::default() };
    if let Some(t) = num("temperature")? {
        if t.is_nan() || t < 0.0 {
            return Err(bad("`temperature` must be >= 0"));
        }
        params.temperature = t;
    }
    let top_p = dialect.top_p();
    if let Some(p) = num(top_p)? {
        if !(p > 0.0 && p <= 1.0) {
            return Err(bad(format!("`{top_p}` must be in (0, 1]")));
        }
        params.top_p = p;
    }
    for &key in dialect.max_tokens() {
        let Some(m) = num(key)? else { continue };
        if m.is_nan() || m < 1.0 || m.fract() != 0.0 {
            return Err(bad(format!("`{key}` must be a whole number >= 1")));
        }
        // The model's context bounds it further, once the model is known.
        params.max_tokens = m.min(usize::MAX as f64) as usize;
        break;
    }
    if let Some(s) = num("seed")? {
        if s.is_nan() || s < 0.0 || s.fract() != 0.0 {
            return Err(bad("`seed` must be a whole number >= 0"));
        }
        params.seed = s as u64;
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`stream` must be true or false")),
    };
    let stop = parse_stop(body.get("stop"))?;
    Ok(ChatBody { messages, constraint, tools, params, stop, stream, target })
}

/// `stop`: a string or up to [`MAX_STOP`] non-empty strings.
fn parse_stop(v: Option<&Value>) -> ApiResult<Vec<String>> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, s)| s.as_str().map(str::to_owned).ok_or_else(|| bad(format!("`stop[{i}]` must be a string"))))
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(bad("`stop` must be a string or an array of strings")),
    };
    if list.len() > MAX_STOP {
        return Err(bad(format!("`stop` has {} entries; give at most {MAX_STOP}", list.len())));
    }
    if list.iter().any(String::is_empty) {
        return Err(bad("`stop` entries must not be empty"));
    }
    Ok(list)
}

/// What an upstream `infer` body names to run: `adapter` or `baseModel`.
fn parse_target(body: &Value) -> ApiResult<Target> {
    Ok(match (body.get("adapter").filter(|v| !v.is_null()), body.get("baseModel").filter(|v| !v.is_null())) {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn openai(body: Value) -> Result<ChatBody, String> {
        parse_chat(&body, &Limits::default(), Dialect::OpenAi, Target::Base("m".into())).map_err(|e| e.to_string())
    }

    #[test]
    fn openai_names_are_read_and_named_in_errors() {
        let b = openai(json!({ "messages": [{ "role": "user", "content": "hi" }], "top_p": 0.5, "max_tokens": 7, "stop": "\n" })).unwrap();
        assert_eq!((b.params.top_p, b.params.max_tokens, b.stop), (0.5, 7, vec!["\n".to_owned()]));
        // The newer name wins over the deprecated one.
        let b = openai(json!({ "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 7, "max_completion_tokens": 9 })).unwrap();
        assert_eq!(b.params.max_tokens, 9);
        let e = openai(json!({ "messages": [{ "role": "user", "content": "hi" }], "top_p": 2 })).unwrap_err();
        assert!(e.contains("`top_p`"), "{e}");
        let e = openai(json!({ "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 0 })).unwrap_err();
        assert!(e.contains("`max_tokens`"), "{e}");
    }

    #[test]
    fn stop_is_checked() {
        let msgs = json!([{ "role": "user", "content": "hi" }]);
        assert!(openai(json!({ "messages": msgs, "stop": ["a", ""] })).unwrap_err().contains("must not be empty"));
        assert!(openai(json!({ "messages": msgs, "stop": ["a", "b", "c", "d", "e"] })).unwrap_err().contains("at most 4"));
        assert!(openai(json!({ "messages": msgs, "stop": [1] })).unwrap_err().contains("`stop[0]`"));
    }

    #[test]
    fn upstream_bodies_keep_their_names() {
        let e = parse_body(&json!({ "messages": [{ "role": "user", "content": "hi" }], "baseModel": "nope" }), &Limits::default()).unwrap_err().to_string();
        assert!(e.contains("`baseModel`"), "{e}");
        let e = parse_body(&json!({ "messages": [], "baseModel": "x" }), &Limits::default()).unwrap_err().to_string();
        assert!(e.contains("`messages`"), "{e}");
    }
}
