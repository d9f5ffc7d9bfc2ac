//! Tool calls in plain text (Gemma 3 has no tool tokens), on the generation side: the
//! grammar a tool call is decoded under, and reading calls back out of the text, whole
//! or while it streams. The prompt side (tool definitions, past calls and tool results
//! in the chat) is [`crate::chat`]'s; both follow `docs/PROTOCOL.md` § Tool calls.
//!

use serde_json::{json, Value};

use super::constraint::{compact_json, GrammarSpec};
use crate::model::tool_text::{call_head, CALL_CLOSE, CALL_OPEN, CALL_TAIL};
pub use crate::model::tool_text::ToolSpec;

/// Whether and which tool the model must call (OpenAI's `tool_choice`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// Free text or calls; the model decides by how it starts.
    Auto,
    /// Free text only (the tools stay in the prompt).
    None,
    /// At least one call, to any of the tools.
    Required,
    /// Calls to this tool only.
    Function(String),
}

/// A call read back from the model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedToolCall {
    /// The tool's name.
    pub name: String,
    /// The arguments, as compact JSON text.
    pub arguments: String,
}

/// Free text that does not start a call: anything but a text beginning with the marker
/// (which has no regex metacharacters).
fn text_rule() -> String {
    format!("TEXT: /(?s:.*)/ & ~/{CALL_OPEN}(?s:.*)/\n")
}

/// The grammar an answer is decoded under, given the tools and the choice; the names of
/// `choice` must be among `tools` (the caller checks, to name the field).
pub fn tool_grammar(tools: &[ToolSpec], choice: &ToolChoice) -> GrammarSpec {
    let callable: Vec<&ToolSpec> = match choice {
        ToolChoice::Function(name) => tools.iter().filter(|t| t.name == *name).collect(),
        _ => tools.iter().collect(),
    };
    let mut g = String::new();
    let start = match choice {
        ToolChoice::None => "start: TEXT\n",
        ToolChoice::Auto => "start: calls | TEXT\n",
        ToolChoice::Required | ToolChoice::Function(_) => "start: calls\n",
    };
    g.push_str(start);
    if !matches!(choice, ToolChoice::None) {
        g.push_str("calls: call (\"\\n\" call)*\n");
        let alts: Vec<String> = (0..callable.len()).map(|i| format!("call_{i}")).collect();
        g.push_str(&format!("call: {}\n", alts.join(" | ")));
        for (i, t) in callable.iter().enumerate() {
            let params = compact_json(t.parameters.clone().unwrap_or_else(|| json!({"type": "object"})));
            g.push_str(&format!("call_{i}: {} %json {params} {}\n", json!(call_head(&t.name)), json!(CALL_TAIL)));
        }
    }
    if !matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) {
        g.push_str(&text_rule());
    }
    GrammarSpec::Lark(g)
}

/// The calls in a finished answer, or None when it is text (does not start with a call,
/// or a call does not parse).
pub fn parse_tool_calls(text: &str) -> Option<Vec<ParsedToolCall>> {
    // No leading space: the grammar lets text through unless it starts with the marker.
    let mut rest = text.trim_end();
    if !rest.starts_with(CALL_OPEN) {
        return None;
    }
    let mut calls = Vec::new();
    while !rest.is_empty() {
        let body = rest.strip_prefix(CALL_OPEN)?;
        let end = body.find(CALL_CLOSE)?;
        calls.push(parse_call(&body[..end])?);
        rest = body[end + CALL_CLOSE.len()..].trim_start();
    }
    Some(calls)
}

fn parse_call(json_text: &str) -> Option<ParsedToolCall> {
    let v: Value = serde_json::from_str(json_text).ok()?;
    let name = v.get("name")?.as_str()?.to_owned();
    let arguments = v.get("arguments").cloned().unwrap_or_else(|| json!({}));
    Some(ParsedToolCall { name, arguments: arguments.to_string() })
}

/// What a streamed answer turned out to hold, as it arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolStreamEvent {
    /// Plain text.
    Text(String),
    /// Call number `index` to `name` begins.
    CallStart {
        /// 0-based, in answer order.
        index: usize,
        /// The tool's name.
        name: String,
    },
    /// More of call `index`'s arguments text.
    Arguments {
        /// The call.
        index: usize,
        /// The next piece of its JSON arguments.
        delta: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamState {
    /// Not yet known whether the answer is text or calls.
    Undecided,
    Text,
    /// Between calls (after `</tool_call>`, or before the first).
    BetweenCalls,
    /// Inside `<tool_call>` before the arguments start.
    Head,
    /// Streaming call `n`'s arguments.
    Arguments,
}

/// Splits a streamed answer into text or tool-call events, holding back only what could
/// still turn out to be a marker. It assumes the layout [`tool_grammar`] enforces.
#[derive(Debug)]
pub struct ToolCallStream {
    buf: String,
    state: StreamState,
    calls: usize,
}

impl Default for ToolCallStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ToolCallStream {
    /// A stream with nothing seen yet.
    pub fn new() -> Self {
        Self { buf: String::new(), state: StreamState::Undecided, calls: 0 }
    }

    /// Whether the answer is calls (known once it has started one).
    pub fn is_calls(&self) -> bool {
        !matches!(self.state, StreamState::Undecided | StreamState::Text)
    }

    /// Feeds the next piece of text; returns what became certain.
    pub fn push(&mut self, delta: &str) -> Vec<ToolStreamEvent> {
        self.buf.push_str(delta);
        let mut out = Vec::new();
        loop {
            match self.state {
                StreamState::Undecided => {
                    let t = self.buf.as_str();
                    if t.starts_with(CALL_OPEN) {
                        self.state = StreamState::BetweenCalls;
                    } else if CALL_OPEN.starts_with(t) {
                        return out;
                    } else {
                        self.state = StreamState::Text;
                    }
                }
                StreamState::Text => {
                    if !self.buf.is_empty() {
                        out.push(ToolStreamEvent::Text(std::mem::take(&mut self.buf)));
                    }
                    return out;
                }
                StreamState::BetweenCalls => {
                    let t = self.buf.trim_start();
                    if let Some(rest) = t.strip_prefix(CALL_OPEN) {
                        self.buf = rest.to_owned();
                        self.state = StreamState::Head;
                    } else {
                        return out;
                    }
                }
                StreamState::Head => {
                    // `{"name":"N","arguments":` then the arguments.
                    let Some(colon) = self.buf.find("\"arguments\":") else { return out };
                    let head = format!("{}}}", &self.buf[..colon].trim_end_matches(','));
                    let name = serde_json::from_str::<Value>(&head)
                        .ok()
                        .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or_default();
                    out.push(ToolStreamEvent::CallStart { index: self.calls, name });
                    self.buf.drain(..colon + "\"arguments\":".len());
                    self.state = StreamState::Arguments;
                }
                StreamState::Arguments => {
                    let close = CALL_TAIL;
                    if let Some(end) = self.buf.find(close) {
                        let args: String = self.buf[..end].to_owned();
                        if !args.is_empty() {
                            out.push(ToolStreamEvent::Arguments { index: self.calls, delta: args });
                        }
                        self.buf.drain(..end + close.len());
                        self.calls += 1;
                        self.state = StreamState::BetweenCalls;
                        continue;
                    }
                    // Hold back a tail that could be the start of `}</tool_call>`.
                    let keep = (1..close.len().min(self.buf.len() + 1))
                        .rev()
                        .find(|&k| self.buf.is_char_boundary(self.buf.len() - k) && close.starts_with(&self.buf[self.buf.len() - k..]))
                        .unwrap_or(0);
                    let cut = self.buf.len() - keep;
                    if cut > 0 {
                        out.push(ToolStreamEvent::Arguments { index: self.calls, delta: self.buf[..cut].to_owned() });
                        self.buf.drain(..cut);
                    }
                    return out;
                }
            }
        }
    }

    /// The end of the answer: whatever was held back (text that only looked like the
    /// start of a call).
    pub fn finish(&mut self) -> Vec<ToolStreamEvent> {
        let rest = std::mem::take(&mut self.buf);
        match self.state {
            StreamState::Undecided | StreamState::Text if !rest.is_empty() => vec![ToolStreamEvent::Text(rest)],
            StreamState::Arguments if !rest.is_empty() => {
                vec![ToolStreamEvent::Arguments { index: self.calls, delta: rest }]
            }
            _ => Vec::new(),
        }
    }
}
