//! The parse step for what constrains an answer: `responseFormat`,
//! `structuredOutputs`, `tools` and `toolChoice` (upstream's shapes, vLLM's
//! snake_case inside `structuredOutputs`). Only shapes are checked here; a
//! schema, regex or grammar is compiled against the model's vocabulary by the
//! run step, whose error still comes before any token (a 400 naming the field).

use arkor_engine::tool_text::tools_from_json;
use arkor_engine::{GrammarSpec, ToolChoice, ToolSpec};
use serde_json::{json, Value};

use super::parse::{bad, Dialect};
use crate::error::{ApiError, ApiResult};

/// A grammar the answer must follow, with the request field it came from (which
/// a compile error names).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputConstraint {
    pub(crate) field: String,
    pub(crate) spec: GrammarSpec,
}

/// Tools offered to the model, and whether it must call them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolUse {
    pub(crate) tools: Vec<ToolSpec>,
    pub(crate) choice: ToolChoice,
}

impl Dialect {
    fn response_format(self) -> &'static str {
        match self {
            Dialect::Arkor => "responseFormat",
            Dialect::OpenAi => "response_format",
        }
    }

    fn structured_outputs(self) -> &'static str {
        match self {
            Dialect::Arkor => "structuredOutputs",
            Dialect::OpenAi => "structured_outputs",
        }
    }

    fn tool_choice(self) -> &'static str {
        match self {
            Dialect::Arkor => "toolChoice",
            Dialect::OpenAi => "tool_choice",
        }
    }
}

fn present<'a>(body: &'a Value, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

/// `responseFormat` / `structuredOutputs` (at most one constrains) and `tools` /
/// `toolChoice`, in `dialect`'s names.
pub(crate) fn parse_constraints(body: &Value, dialect: Dialect) -> ApiResult<(Option<OutputConstraint>, Option<ToolUse>)> {
    let rf_key = dialect.response_format();
    let so_key = dialect.structured_outputs();
    let from_rf = present(body, rf_key).map(|v| response_format(v, rf_key)).transpose()?.flatten();
    let from_so = present(body, so_key).map(|v| structured_outputs(v, so_key)).transpose()?;
    if from_rf.is_some() && from_so.is_some() {
        return Err(bad(format!("give `{rf_key}` or `{so_key}`, not both: each constrains the whole answer")));
    }
    let constraint = from_rf.or(from_so);
    let tools = tool_use(body, dialect)?;
    if let (Some(c), Some(t)) = (&constraint, &tools) {
        if t.choice != ToolChoice::None {
            return Err(bad(format!(
                "`{}` cannot be combined with `tools` here; set `{}` to \"none\" for a constrained text answer, or drop `{}`",
                c.field.split('.').next().unwrap_or_default(),
                dialect.tool_choice(),
                c.field.split('.').next().unwrap_or_default()
            )));
        }
    }
    Ok((constraint, tools))
}

/// OpenAI's `response_format`: `text` constrains nothing.
fn response_format(v: &Value, key: &str) -> ApiResult<Option<OutputConstraint>> {
    let kinds = "{ type: \"text\" | \"json_object\" | \"json_schema\" }";
    let ty = v.get("type").and_then(Value::as_str).ok_or_else(|| bad(format!("`{key}` must be an object {kinds}")))?;
    match ty {
        "text" => Ok(None),
        "json_object" => Ok(Some(OutputConstraint { field: key.to_owned(), spec: GrammarSpec::JsonObject })),
        "json_schema" => {
            let js = v.get("json_schema").filter(|j| j.is_object()).ok_or_else(|| {
                bad(format!("`{key}.json_schema` must be an object {{ name, schema, description?, strict? }}"))
            })?;
            if !js.get("name").is_some_and(Value::is_string) {
                return Err(bad(format!("`{key}.json_schema.name` must be a string")));
            }
            if js.get("description").is_some_and(|d| !d.is_null() && !d.is_string()) {
                return Err(bad(format!("`{key}.json_schema.description` must be a string")));
            }
            if js.get("strict").is_some_and(|s| !s.is_null() && !s.is_boolean()) {
                return Err(bad(format!("`{key}.json_schema.strict` must be true or false")));
            }
            let schema = js.get("schema").filter(|s| s.is_object()).ok_or_else(|| bad(format!("`{key}.json_schema.schema` must be a JSON schema object")))?;
            Ok(Some(OutputConstraint { field: format!("{key}.json_schema.schema"), spec: GrammarSpec::JsonSchema(schema.clone()) }))
        }
        other => Err(bad(format!("`{key}.type` {:?} is not one of text, json_object, json_schema", other.chars().take(40).collect::<String>()))),
    }
}

const KINDS: [&str; 5] = ["json", "regex", "choice", "grammar", "json_object"];
const OPTIONS: [&str; 3] = ["disable_any_whitespace", "disable_additional_properties", "whitespace_pattern"];

/// vLLM's structured outputs: exactly one kind, plus the JSON layout options.
fn structured_outputs(v: &Value, key: &str) -> ApiResult<OutputConstraint> {
    let o = v.as_object().ok_or_else(|| bad(format!("`{key}` must be an object with one of {}", KINDS.join(", "))))?;
    if let Some(k) = o.keys().find(|k| !KINDS.contains(&k.as_str()) && !OPTIONS.contains(&k.as_str())) {
        return Err(bad(format!("`{key}.{k}` is not a structured-outputs field; use one of {} (and {})", KINDS.join(", "), OPTIONS.join(", "))));
    }
    let given: Vec<&str> = KINDS.iter().copied().filter(|k| o.get(*k).is_some_and(|x| !x.is_null())).collect();
    let [kind] = given[..] else {
        return Err(bad(format!("`{key}` needs exactly one of {}; it has {}", KINDS.join(", "), if given.is_empty() { "none".to_owned() } else { given.join(", ") })));
    };
    let x = &o[kind];
    let field = format!("{key}.{kind}");
    let spec = match kind {
        "json" => GrammarSpec::JsonSchema(x.as_object().map(|_| x.clone()).ok_or_else(|| bad(format!("`{field}` must be a JSON schema object")))?),
        "regex" => GrammarSpec::Regex(x.as_str().ok_or_else(|| bad(format!("`{field}` must be a string")))?.to_owned()),
        "grammar" => GrammarSpec::Lark(x.as_str().ok_or_else(|| bad(format!("`{field}` must be a string (Lark, as llguidance reads it)")))?.to_owned()),
        "choice" => {
            let list = x.as_array().filter(|a| !a.is_empty()).ok_or_else(|| bad(format!("`{field}` must be a non-empty array of strings")))?;
            let options = list
                .iter()
                .enumerate()
                .map(|(i, s)| s.as_str().map(str::to_owned).ok_or_else(|| bad(format!("`{field}[{i}]` must be a string"))))
                .collect::<ApiResult<Vec<_>>>()?;
            GrammarSpec::Choice(options)
        }
        _ => {
            if x != &json!(true) {
                return Err(bad(format!("`{field}` must be true")));
            }
            GrammarSpec::JsonObject
        }
    };
    let spec = json_options(spec, o, key)?;
    Ok(OutputConstraint { field, spec })
}

/// The schema key under which llguidance reads its extensions, `whitespace_pattern`
/// among them.
const GUIDANCE: &str = "x-guidance";

/// The `whitespace_pattern` a JSON constraint carries ([`json_options`] put it there).
pub(crate) fn whitespace_pattern(spec: &GrammarSpec) -> Option<&str> {
    match spec {
        GrammarSpec::JsonSchema(s) => s.get(GUIDANCE)?.get("whitespace_pattern")?.as_str(),
        _ => None,
    }
}

/// Applies the JSON layout options to a JSON constraint. JSON is compact by default
/// (`disable_any_whitespace` is then what happens anyway).
fn json_options(spec: GrammarSpec, o: &serde_json::Map<String, Value>, key: &str) -> ApiResult<GrammarSpec> {
    let flag = |k: &str| -> ApiResult<bool> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(bad(format!("`{key}.{k}` must be true or false"))),
        }
    };
    flag("disable_any_whitespace")?;
    let closed = flag("disable_additional_properties")?;
    let ws = match o.get("whitespace_pattern") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad(format!("`{key}.whitespace_pattern` must be a string (a regex)"))),
    };
    let mut schema = match spec {
        GrammarSpec::JsonSchema(s) => s,
        GrammarSpec::JsonObject => json!({"type": "object"}),
        other => return Ok(other),
    };
    if closed {
        close_objects(&mut schema);
    }
    if let (Some(ws), Value::Object(m)) = (ws, &mut schema) {
        m.insert(GUIDANCE.into(), json!({"whitespace_pattern": ws}));
    }
    Ok(GrammarSpec::JsonSchema(schema))
}

/// `additionalProperties: false` on every object schema that does not say otherwise.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("object") || m.contains_key("properties") {
                m.entry("additionalProperties").or_insert(Value::Bool(false));
            }
            m.values_mut().for_each(close_objects);
        }
        Value::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// `tools` and `toolChoice` (default `auto` when there are tools, as OpenAI's).
fn tool_use(body: &Value, dialect: Dialect) -> ApiResult<Option<ToolUse>> {
    let choice_key = dialect.tool_choice();
    let tools = match present(body, "tools") {
        None => Vec::new(),
        Some(v) => tools_from_json(v).map_err(|e| field_error("tools", &e))?,
    };
    let choice = match present(body, choice_key) {
        None => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => return Err(bad(format!("`{choice_key}` {:?} is not auto, none, required or {{ type: \"function\", function: {{ name }} }}", other.chars().take(40).collect::<String>()))),
        },
        Some(v) => {
            if v.get("type").and_then(Value::as_str) != Some("function") {
                return Err(bad(format!("`{choice_key}.type` must be \"function\"")));
            }
            let name = v.pointer("/function/name").and_then(Value::as_str).ok_or_else(|| bad(format!("`{choice_key}.function.name` must be a string")))?;
            if !tools.iter().any(|t| t.name == name) {
                return Err(bad(format!("`{choice_key}.function.name` {:?} is not among `tools`", name.chars().take(80).collect::<String>())));
            }
            ToolChoice::Function(name.to_owned())
        }
    };
    if tools.is_empty() {
        return match choice {
            ToolChoice::Auto | ToolChoice::None => Ok(None),
            _ => Err(bad(format!("`{choice_key}` asks for a tool call but `tools` is empty or missing"))),
        };
    }
    Ok(Some(ToolUse { tools, choice }))
}

/// An error from the engine's readers (`[0].function.name must be ...`) under `prefix`.
pub(crate) fn field_error(prefix: &str, e: &str) -> ApiError {
    let (path, rest) = if e.starts_with(' ') { ("", e.trim_start()) } else { e.split_once(' ').unwrap_or((e, "")) };
    bad(format!("`{prefix}{path}` {rest}"))
}
