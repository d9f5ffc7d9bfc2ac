//! The plain-text tool protocol (Gemma 3 has no tool tokens): how tool definitions,
//! an assistant's tool calls and tool results are written into the chat, and how the
//! OpenAI JSON shapes of those are read. `docs/PROTOCOL.md` § Tool calls describes it;
//! the generation side (the grammar a call is decoded under, reading calls back) is
//! [`crate::generate::tools`], built on the same pieces.
//!
//! - Definitions go first in the first user turn, after the system text:
//!   `<tools>` then one JSON object per line (`{"name","description","parameters"}`)
//!   then `</tools>` and one line saying how to call.
//! - A calling answer is nothing but calls, one per line:
//!   `<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>`.
//! - Results are a user turn of `<tool_response id="call_1" name="get_weather">` +
//!   the content + `</tool_response>` blocks, one per `tool` message in a row.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What opens a call in an answer.
pub const CALL_OPEN: &str = "<tool_call>";
/// What closes it.
pub const CALL_CLOSE: &str = "</tool_call>";
/// Between a call's arguments and the end of the call.
pub const CALL_TAIL: &str = "}</tool_call>";

/// A tool the model may call (OpenAI's `function` object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The function's name.
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of its arguments (an object schema; absent means any object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// A call an assistant made, as a chat message carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, which the `tool` message answering it names.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// The start of a call up to its arguments: `<tool_call>{"name":"N","arguments":`.
pub fn call_head(name: &str) -> String {
    format!("{CALL_OPEN}{{\"name\":{},\"arguments\":", json!(name))
}

/// One call as the model writes it; `arguments` is re-serialized compactly (so a
/// history turn reads exactly as the grammar would have made it) when it is JSON.
pub fn render_call(name: &str, arguments: &str) -> String {
    let args = serde_json::from_str::<Value>(arguments).map(|v| v.to_string()).unwrap_or_else(|_| arguments.to_owned());
    format!("{}{args}{CALL_TAIL}", call_head(name))
}

/// The text that introduces `tools` to the model (empty for no tools).
pub fn render_tool_definitions(tools: &[ToolSpec]) -> String {
    if tools.is_empty() {
        return String::new();
    }
    let mut s = String::from("You can call these tools:\n<tools>\n");
    for t in tools {
        s.push_str(&serde_json::to_string(t).expect("a tool spec serializes"));
        s.push('\n');
    }
    s.push_str("</tools>\nTo call tools, answer with nothing but one line per call: ");
    s.push_str(&render_call("NAME", "{\"ARGUMENT\":\"VALUE\"}"));
    s
}

/// A tool result as the model reads it.
pub fn render_tool_response(id: &str, name: Option<&str>, content: &str) -> String {
    let name = name.map(|n| format!(" name={}", json!(n))).unwrap_or_default();
    format!("<tool_response id={}{name}>\n{}\n</tool_response>", json!(id), content.trim())
}

/// Reads OpenAI's `tools` list (`[{type:"function", function:{name, description?,
/// parameters?}}]`). An error reads on from the list's name: `[2].function.name must
/// be ...` or ` must be an array ...`.
pub fn tools_from_json(v: &Value) -> Result<Vec<ToolSpec>, String> {
    let list = v.as_array().ok_or(" must be an array of { type: \"function\", function: { name, parameters? } }")?;
    let mut out: Vec<ToolSpec> = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        if t.get("type").and_then(Value::as_str).is_some_and(|ty| ty != "function") {
            return Err(format!("[{i}].type must be \"function\""));
        }
        let f = t.get("function").filter(|f| f.is_object()).ok_or_else(|| format!("[{i}].function must be an object"))?;
        let name = f.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or_else(|| format!("[{i}].function.name must be a non-empty string"))?;
        if out.iter().any(|o| o.name == name) {
            return Err(format!("[{i}].function.name {name:?} is given twice"));
        }
        let description = match f.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(format!("[{i}].function.description must be a string")),
        };
        let parameters = match f.get("parameters") {
            None | Some(Value::Null) => None,
            Some(p @ Value::Object(_)) => Some(p.clone()),
            Some(_) => return Err(format!("[{i}].function.parameters must be a JSON schema object")),
        };
        out.push(ToolSpec { name: name.to_owned(), description, parameters });
    }
    Ok(out)
}

/// Reads an assistant message's `tool_calls` (`[{id, type:"function", function:{name,
/// arguments}}]`, `arguments` a JSON string or, in datasets, an object); an error names
/// reads on from the list's name, as [`tools_from_json`]'s.
pub fn tool_calls_from_json(v: &Value) -> Result<Vec<ToolCall>, String> {
    let list = v.as_array().ok_or(" must be an array of { id, type: \"function\", function: { name, arguments } }")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let f = c.get("function").filter(|f| f.is_object()).ok_or_else(|| format!("[{i}].function must be an object"))?;
        let name = f.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or_else(|| format!("[{i}].function.name must be a non-empty string"))?;
        let arguments = match f.get("arguments") {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(s)) => {
                serde_json::from_str::<Value>(s).map_err(|e| format!("[{i}].function.arguments is not JSON: {e}"))?;
                s.clone()
            }
            Some(o @ Value::Object(_)) => o.to_string(),
            Some(_) => return Err(format!("[{i}].function.arguments must be a JSON string")),
        };
        let id = match c.get("id") {
            None | Some(Value::Null) => format!("call_{i}"),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("[{i}].id must be a string")),
        };
        out.push(ToolCall { id, name: name.to_owned(), arguments });
    }
    Ok(out)
}
