//! From the user's `TrainerInput` to the wire: the job config and the
//! inference request body.

use arkor_protocol::job::{JobConfig, TrainerInput};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

pub use arkor_protocol::job::{is_terminal, TERMINAL_STATUSES};

/// Builds the job config sent with `POST /v1/jobs` from a `TrainerInput`
/// object (callbacks and the abort signal already removed), as upstream's
/// `buildJobConfig` does ([`JobConfig::from_input`]). Keys the user left out
/// stay out; values are sent as given, for the backend to check.
pub fn build_job_config(input: &Value) -> Result<Value> {
    if !input.is_object() {
        return Err(Error::InvalidInput("createTrainer: `input` must be an object".into()));
    }
    let input = TrainerInput::deserialize(input).map_err(|e| Error::InvalidInput(format!("createTrainer: {e}")))?;
    let model = match input.model.get() {
        Ok(Some(m)) => m,
        // Upstream compares whatever it was given with the list and quotes
        // it as JS would print it; so do we, for the same message.
        _ => return Err(Error::UnsupportedModel(input.model.raw().map_or_else(|| "undefined".to_owned(), js_string))),
    };
    crate::models::check_model(model)?;
    Ok(serde_json::to_value(JobConfig::from_input(input)).expect("JSON in, JSON out"))
}

/// `String(value)` in JS, for the values JSON can hold.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(|i| if i.is_null() { String::new() } else { js_string(i) }).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_owned(),
        other => other.to_string(),
    }
}

/// `InferArgs` without its signal: what `infer` sends besides the adapter.
/// Absent fields stay out of the body (the backend applies its defaults).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferArgs {
    /// `[{ role, content }]`, as the user wrote them.
    pub messages: Value,
    /// Sampling temperature; 0 is greedy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Most tokens to generate (a JS number; whole ones are sent as integers, as `JSON.stringify` writes them).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "js_number")]
    pub max_tokens: Option<f64>,
    /// Function tools the model may call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    /// `auto`, `none`, `required` or `{ type: "function", function: { name } }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// `{ type: "text" | "json_object" | "json_schema", ... }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// One of `json`, `regex`, `choice`, `grammar`, `json_object`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_outputs: Option<Value>,
    /// Stream the answer; true unless the user says false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// Writes a JS number as `JSON.stringify` would: `4`, not `4.0`.
fn js_number<S: serde::Serializer>(v: &Option<f64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(n) if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 => s.serialize_i64(*n as i64),
        Some(n) => s.serialize_f64(*n),
        None => s.serialize_none(),
    }
}

/// The chat request body for `args` against `adapter`; `stream` defaults to true.
pub fn build_infer_body(args: &InferArgs, adapter: &Value) -> Value {
    let mut body = serde_json::to_value(InferArgs { stream: Some(args.stream.unwrap_or(true)), ..args.clone() }).expect("plain JSON");
    body["adapter"] = adapter.clone();
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_maps_lora_and_omits_absent_fields() {
        let input = json!({
            "name": "n", "model": "google/gemma-3-270m",
            "dataset": {"type": "blob", "url": "file:///d.jsonl"},
            "lora": {"r": 8, "alpha": 16},
            "maxSteps": 10, "warmupSteps": null
        });
        let c = build_job_config(&input).unwrap();
        assert_eq!(
            c,
            json!({"model": "google/gemma-3-270m", "datasetSource": {"type": "blob", "url": "file:///d.jsonl"},
                   "loraR": 8, "loraAlpha": 16, "maxSteps": 10, "warmupSteps": null})
        );
        // Upstream sets `datasetSource: input.dataset`, which JSON drops when undefined.
        assert_eq!(build_job_config(&json!({"model": "google/gemma-3-270m"})).unwrap(), json!({"model": "google/gemma-3-270m"}));
    }

    #[test]
    fn unknown_model_lists_supported() {
        let err = build_job_config(&json!({"model": "gpt-2"})).unwrap_err().to_string();
        assert!(err.contains("gpt-2") && err.contains("google/gemma-3-270m"), "{err}");
        for (input, shown) in [(json!({}), "undefined"), (json!({"model": 42}), "42"), (json!({"model": null}), "null"), (json!({"model": {}}), "[object Object]")] {
            let err = build_job_config(&input).unwrap_err().to_string();
            assert!(err.starts_with(&format!("Unsupported model \"{shown}\". This arkor release supports: ")), "{err}");
        }
    }

    #[test]
    fn infer_body_defaults_stream() {
        let adapter = json!({"kind": "checkpoint", "jobId": "j", "step": 5});
        let args = InferArgs { messages: json!([]), max_tokens: Some(4.0), ..Default::default() };
        assert_eq!(build_infer_body(&args, &adapter), json!({"messages": [], "adapter": adapter, "maxTokens": 4, "stream": true}));
        let args = InferArgs { messages: json!([]), stream: Some(false), top_p: Some(0.5), ..Default::default() };
        assert_eq!(build_infer_body(&args, &adapter), json!({"messages": [], "adapter": adapter, "topP": 0.5, "stream": false}));
    }
}
