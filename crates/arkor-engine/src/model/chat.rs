//! Gemma chat rendering and training-example encoding. Tool turns (definitions, calls,
//! results) are written in the plain-text protocol of [`super::tool_text`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::tokenizer::Tokenizer;
use crate::model::tool_text::{render_call, render_tool_definitions, render_tool_response, tool_calls_from_json, ToolCall, ToolSpec};

/// One chat message (`role` is `system`, `user`, `assistant` or `tool`; `model` is
/// accepted for `assistant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: String,
    /// What they say (for `tool`, the tool's result).
    pub content: String,
    /// The calls an assistant turn makes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `tool`: the id of the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message.
    pub fn new(role: &str, content: &str) -> Self {
        Self { role: role.into(), content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    /// An assistant turn that calls tools (after `content`, which may be empty).
    pub fn assistant_calls(content: &str, calls: Vec<ToolCall>) -> Self {
        Self { tool_calls: calls, ..Self::new("assistant", content) }
    }

    /// A tool's result, answering call `call_id`.
    pub fn tool_result(call_id: &str, content: &str) -> Self {
        Self { tool_call_id: Some(call_id.into()), ..Self::new("tool", content) }
    }
}

/// Reads one message in OpenAI's shape: `{role, content}`, an assistant's `tool_calls`
/// (then `content` may be null), a tool's `tool_call_id`. An error is `(field, rest)`,
/// the field under the message and what reads on from its name (` must be ...`,
/// `[0].function.name must be ...`), for the caller to place.
pub fn message_from_json(x: &Value) -> std::result::Result<ChatMessage, (&'static str, String)> {
    let role = x.get("role").and_then(Value::as_str).ok_or(("role", " must be a string".to_string()))?;
    if !matches!(role, "system" | "user" | "assistant" | "model" | "tool") {
        let shown: String = role.chars().take(40).collect();
        return Err(("role", format!(" {shown:?} is not supported; use system, user, assistant or tool")));
    }
    let calls = match x.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) if matches!(role, "assistant" | "model") => tool_calls_from_json(v).map_err(|e| ("tool_calls", e))?,
        Some(_) => return Err(("tool_calls", " is only for assistant messages".into())),
    };
    let content = match x.get("content") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) if !calls.is_empty() => String::new(),
        _ => return Err(("content", " must be a string".into())),
    };
    let mut m = ChatMessage { tool_calls: calls, ..ChatMessage::new(role, &content) };
    if role == "tool" {
        let id = x.get("tool_call_id").and_then(Value::as_str).ok_or(("tool_call_id", " must be the id of the call this message answers".to_string()))?;
        m.tool_call_id = Some(id.to_owned());
    }
    Ok(m)
}

/// `messages` with `tools` introduced at the head of the system text (one is added when
/// there is none), which is where the template puts them: the same for a prompt and
/// for a training row.
pub fn with_tools(messages: &[ChatMessage], tools: &[ToolSpec]) -> Vec<ChatMessage> {
    let defs = render_tool_definitions(tools);
    let mut out = messages.to_vec();
    if defs.is_empty() {
        return out;
    }
    match out.first_mut() {
        Some(m) if m.role == "system" => m.content = format!("{}\n\n{defs}", m.content.trim()),
        _ => out.insert(0, ChatMessage::new("system", &defs)),
    }
    out
}

/// A training example after format detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Example {
    /// A conversation (also what prompt/completion and alpaca rows become).
    Chat(Vec<ChatMessage>),
    /// Plain text: `<bos>text<eos>`, every token supervised.
    Text(String),
}

/// Token ids with, for each position, whether that token is a training target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedExample {
    /// Token ids, starting with `<bos>`.
    pub ids: Vec<u32>,
    /// `targets[i]`: token `i` contributes to the loss (predicted from position `i - 1`).
    pub targets: Vec<bool>,
}

impl EncodedExample {
    /// Number of supervised tokens.
    pub fn num_targets(&self) -> usize {
        self.targets.iter().filter(|&&t| t).count()
    }
}

/// Gemma's role name for a message role.
fn turn_role(role: &str) -> Result<&'static str> {
    match role {
        "user" | "tool" => Ok("user"),
        "assistant" | "model" => Ok("model"),
        other => Err(Error::Config(format!(
            "chat role {other:?} is not supported (use system, user, assistant or tool)"
        ))),
    }
}

/// A message's text in its turn: an assistant's calls follow its content one per line,
/// a tool result is wrapped with the id and name of the call it answers.
fn message_text(m: &ChatMessage, earlier: &[ChatMessage]) -> String {
    if m.role == "tool" {
        let id = m.tool_call_id.as_deref().unwrap_or("");
        let name = earlier.iter().rev().flat_map(|e| e.tool_calls.iter()).find(|c| c.id == id).map(|c| c.name.as_str());
        return render_tool_response(id, name, &m.content);
    }
    let mut parts: Vec<String> = Vec::new();
    if !m.content.trim().is_empty() {
        parts.push(m.content.trim().to_string());
    }
    parts.extend(m.tool_calls.iter().map(|c| render_call(&c.name, &c.arguments)));
    parts.join("\n")
}

/// Turns a message list into Gemma turns `(role, text)`: a leading system message is
/// folded into the first user turn followed by a blank line, as Gemma 3's template does;
/// contents are trimmed, as the template does; `tool` messages in a row share one user turn.
fn turns(messages: &[ChatMessage]) -> Result<Vec<(&'static str, String)>> {
    let (system, rest) = match messages.first() {
        Some(m) if m.role == "system" => (Some(m.content.trim().to_string()), &messages[1..]),
        _ => (None, messages),
    };
    let mut out: Vec<(&'static str, String)> = Vec::with_capacity(rest.len());
    let mut system = system;
    for (i, m) in rest.iter().enumerate() {
        let role = turn_role(&m.role)?;
        let mut text = message_text(m, &rest[..i]);
        if m.role == "tool" && i > 0 && rest[i - 1].role == "tool" {
            let last = out.last_mut().expect("the previous tool message made a turn");
            last.1 = format!("{}\n{text}", last.1);
            continue;
        }
        if let Some(s) = system.take() {
            text = format!("{s}\n\n{text}");
        }
        out.push((role, text));
    }
    if let Some(s) = system {
        // A conversation that is only a system message: keep it as a user turn.
        out.push(("user", format!("{s}\n\n")));
    }
    Ok(out)
}

/// The chat as text in Gemma's format: `<bos><start_of_turn>user\n...<end_of_turn>\n`
/// per turn, ending with `<start_of_turn>model\n` when `add_generation_prompt`.
pub fn render_chat(messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
    let mut s = String::from("<bos>");
    for (role, text) in turns(messages)? {
        s.push_str(&format!("<start_of_turn>{role}\n{text}<end_of_turn>\n"));
    }
    if add_generation_prompt {
        s.push_str("<start_of_turn>model\n");
    }
    Ok(s)
}

/// Token ids of a chat prompt, ready for generation.
pub fn encode_chat_prompt(tok: &Tokenizer, messages: &[ChatMessage]) -> Result<Vec<u32>> {
    Ok(encode_chat(tok, messages, true)?.ids)
}

fn encode_chat(
    tok: &Tokenizer,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
) -> Result<EncodedExample> {
    let sp = tok.specials();
    let mut ids = vec![sp.bos];
    let mut resp = vec![false];
    let nl = tok.encode("\n", false);
    for (role, text) in turns(messages)? {
        let answer = role == "model";
        ids.push(sp.start_of_turn);
        resp.push(false);
        // Header and content are encoded apart, so the response boundary falls on a
        // token boundary (contents are trimmed and never begin with a newline).
        let head = tok.encode(&format!("{role}\n"), false);
        resp.extend(std::iter::repeat_n(false, head.len()));
        ids.extend(head);
        let body = tok.encode(&text, false);
        resp.extend(std::iter::repeat_n(answer, body.len() + 1 + nl.len()));
        ids.extend(body);
        ids.push(sp.end_of_turn);
        ids.extend(nl.iter().copied());
    }
    if add_generation_prompt {
        ids.push(sp.start_of_turn);
        ids.extend(tok.encode("model\n", false));
        resp.resize(ids.len(), false);
    }
    Ok(EncodedExample { ids, targets: resp })
}

/// Encodes a training example. With `train_on_responses_only`, only assistant turns
/// (their text, `<end_of_turn>` and the newline after it) are targets; otherwise every
/// token after `<bos>`. Sequences longer than `max_length` are cut at the end.
pub fn encode_example(
    tok: &Tokenizer,
    example: &Example,
    train_on_responses_only: bool,
    max_length: Option<usize>,
) -> Result<EncodedExample> {
    let mut e = match example {
        Example::Chat(messages) => {
            let mut e = encode_chat(tok, messages, false)?;
            if !train_on_responses_only {
                e.targets = (0..e.ids.len()).map(|i| i > 0).collect();
            }
            e
        }
        Example::Text(text) => {
            let mut ids = tok.encode(text, true);
            ids.push(tok.specials().eos);
            let targets = (0..ids.len()).map(|i| i > 0).collect();
            EncodedExample { ids, targets }
        }
    };
    if let Some(m) = max_length {
        if m < 2 {
            return Err(Error::Config(format!("maxLength {m} is too small (need at least 2)")));
        }
        e.ids.truncate(m);
        e.targets.truncate(m);
    }
    Ok(e)
}
