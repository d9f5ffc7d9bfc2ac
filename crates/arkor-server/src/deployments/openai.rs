//! OpenAI's chat-completions wire, as a deployment speaks it: what OpenAI
//! clients send that the shared parser ([`crate::inference::parse_chat`]
//! in its OpenAI dialect) does not read (`n`, `stream_options`, text-part
//! contents, the `developer` role), the `chat.completion` /
//! `chat.completion.chunk` objects with `usage`, and OpenAI's error object.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::error::ApiError;

/// An error in OpenAI's shape: `{ error: { message, type, param, code } }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenAiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<&'static str>,
}

impl OpenAiError {
    /// A 400 about request field `param`.
    pub(crate) fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into(), param: Some(param.to_owned()), code: None }
    }

    /// Any status with a message and an OpenAI `code`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>, code: Option<&'static str>) -> Self {
        Self { status, message: message.into(), param: None, code }
    }

    /// OpenAI's `type` for the status.
    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            s if s >= 500 => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// The object itself, also sent as a frame when a stream fails midway.
    pub(crate) fn to_json(&self) -> Value {
        json!({ "error": { "message": self.message, "type": self.kind(), "param": self.param, "code": self.code } })
    }

    /// An error of the shared server paths (the body reader, the chat
    /// parser in OpenAI's dialect, inference).
    pub(crate) fn from_api(e: ApiError) -> Self {
        let status = e.status();
        let message = e.to_string();
        // The parsers name their field first, in backticks.
        let param = message.split('`').nth(1).filter(|p| !p.contains(' ')).map(str::to_owned);
        let code = match status.as_u16() {
            413 => Some("request_too_large"),
            s if s >= 500 => Some("internal_error"),
            _ => None,
        };
        Self { status, message, param: if status == StatusCode::BAD_REQUEST { param } else { None }, code }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.to_json())).into_response()
    }
}

/// What an OpenAI request asks beyond the shared chat body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRequest {
    /// The body as the shared parser reads it (OpenAI's names).
    pub(crate) body: Value,
    /// `stream_options.include_usage`: a last chunk with `usage`.
    pub(crate) include_usage: bool,
}

/// A message's `content`: a string, or OpenAI's array of `{ type: "text", text }` parts.
fn content(i: usize, v: Option<&Value>) -> Result<Value, OpenAiError> {
    let param = format!("messages[{i}].content");
    match v {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(v.cloned().unwrap_or(Value::Null)),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(t)) => text.push_str(t),
                    _ => return Err(OpenAiError::invalid(&param, format!("`{param}[{j}]` must be a {{ type: \"text\", text }} part; this deployment reads text only"))),
                }
            }
            Ok(Value::String(text))
        }
        Some(_) => Err(OpenAiError::invalid(&param, format!("`{param}` must be a string or an array of text parts"))),
    }
}

/// The messages with OpenAI-only forms made internal: text parts joined,
/// `developer` (OpenAI's newer name for `system`) renamed. Everything else
/// is left for the shared parser to judge.
fn messages(v: Option<&Value>) -> Result<Value, OpenAiError> {
    let Some(Value::Array(list)) = v else {
        return Err(OpenAiError::invalid("messages", "`messages` must be an array of { role, content }"));
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let Value::Object(m) = m else {
            return Err(OpenAiError::invalid(&format!("messages[{i}]"), format!("`messages[{i}]` must be an object {{ role, content }}")));
        };
        let mut m = m.clone();
        if m.get("role").and_then(Value::as_str) == Some("developer") {
            m.insert("role".into(), json!("system"));
        }
        let c = content(i, m.get("content"))?;
        m.insert("content".into(), c);
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

/// Checks and normalises what OpenAI clients send that the shared parser
/// does not know. `model` is ignored (the deployment pins what runs), as
/// upstream does; `response_format`, `tools` and `tool_choice` are left to
/// the shared parser, which owns what they mean.
pub(crate) fn parse_request(body: Option<&Value>) -> Result<ChatRequest, OpenAiError> {
    let Some(Value::Object(b)) = body else {
        return Err(OpenAiError::invalid("messages", "the request body must be a JSON object { messages, ... }"));
    };
    let given = |k: &str| b.get(k).filter(|v| !v.is_null());
    match given("n") {
        None => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => return Err(OpenAiError::invalid("n", "`n` must be 1: this deployment answers one choice per request")),
    }
    let stream = given("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = match given("stream_options") {
        None => false,
        Some(_) if !stream => return Err(OpenAiError::invalid("stream_options", "`stream_options` is only allowed with `stream: true`")),
        Some(o) => match o.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(u)) => *u,
            Some(_) => return Err(OpenAiError::invalid("stream_options.include_usage", "`stream_options.include_usage` must be true or false")),
        },
    };
    let mut body = b.clone();
    body.insert("messages".into(), messages(b.get("messages"))?);
    Ok(ChatRequest { body: Value::Object(body), include_usage })
}

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
}

impl Usage {
    fn to_json(self) -> Value {
        json!({ "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens })
    }
}

/// What every object of one completion shares.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) model: String,
}

impl Completion {
    /// A new completion of `model` (the deployment's slug).
    pub(crate) fn new(model: &str) -> Self {
        Self { id: crate::store::new_id("chatcmpl"), created: chrono::Utc::now().timestamp(), model: model.to_owned() }
    }

    /// The `chat.completion` object of a non-streamed answer.
    pub(crate) fn whole(&self, text: &str, finish: &str, usage: Usage) -> Value {
        json!({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "logprobs": null, "finish_reason": finish }],
            "usage": usage.to_json(),
        })
    }

    /// One `chat.completion.chunk`.
    pub(crate) fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] })
    }

    /// The chunk `stream_options.include_usage` asks for, after the last choice.
    pub(crate) fn usage_chunk(&self, usage: Usage) -> Value {
        json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": usage.to_json() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_only_forms_are_made_internal() {
        let body = json!({
            "model": "ignored", "messages": [{"role": "developer", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]},
                                              {"role": "user", "content": "hi"}],
            "n": 1, "stream": true, "stream_options": {"include_usage": true}, "top_p": 0.5,
        });
        let r = parse_request(Some(&body)).unwrap();
        assert!(r.include_usage);
        assert_eq!(r.body["messages"], json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]));
        assert_eq!((&r.body["top_p"], &r.body["model"]), (&json!(0.5), &json!("ignored")), "the rest is left to the shared parser");
        let e = OpenAiError::from_api(ApiError::BadRequest("`top_p` must be in (0, 1]".into()));
        assert_eq!((e.param.as_deref(), e.status.as_u16()), (Some("top_p"), 400));
        assert_eq!(e.to_json()["error"]["type"], "invalid_request_error");
        let e = OpenAiError::from_api(ApiError::NotFound("job j has no final adapter (status: running)".into()));
        assert_eq!((e.param.as_deref(), e.to_json()["error"]["type"].as_str()), (None, Some("not_found_error")));
    }

    #[test]
    fn unsupported_or_malformed_fields_are_refused_by_name() {
        let cases = [
            (json!({"messages": [], "n": 2}), "n"),
            (json!({"messages": [], "stream_options": {"include_usage": true}}), "stream_options"),
            (json!({"messages": [], "stream": true, "stream_options": {"include_usage": 1}}), "stream_options.include_usage"),
            (json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}), "messages[0].content"),
            (json!({"messages": ["hi"]}), "messages[0]"),
            (json!({"messages": "hi"}), "messages"),
        ];
        for (b, param) in cases {
            assert_eq!(parse_request(Some(&b)).unwrap_err().param.as_deref(), Some(param), "{b}");
        }
    }
}
