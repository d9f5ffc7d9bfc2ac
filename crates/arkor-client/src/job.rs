//! From the user's `TrainerInput` to the wire: the job config and the
//! inference request body.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// `TrainingJob.status` values after which a job never changes again.
pub const TERMINAL_STATUSES: [&str; 3] = ["completed", "failed", "cancelled"];

/// Whether a job with this status has ended.
pub fn is_terminal(status: &str) -> bool {
    TERMINAL_STATUSES.contains(&status)
}

/// Fields copied from the input under the same name when present.
const PASSTHROUGH: &[&str] = &[
    "maxSteps",
    "numTrainEpochs",
    "learningRate",
    "batchSize",
    "optim",
    "lrSchedulerType",
    "weightDecay",
    "warmupSteps",
    "loggingSteps",
    "saveSteps",
    "evalSteps",
    "trainOnResponsesOnly",
    "datasetFormat",
    "datasetSplit",
    "dryRun",
];

/// Builds the job config sent with `POST /v1/jobs` from a `TrainerInput`
/// object (callbacks and the abort signal already removed). Keys the user
/// left out stay out.
pub fn build_job_config(input: &Value) -> Result<Value> {
    let obj = input.as_object().ok_or_else(|| Error::InvalidInput("createTrainer: `input` must be an object".into()))?;
    let model = match obj.get("model") {
        Some(Value::String(m)) => m.as_str(),
        // Upstream compares whatever it was given with the list and quotes
        // it as JS would print it; so do we, for the same message.
        other => return Err(Error::UnsupportedModel(other.map_or_else(|| "undefined".to_owned(), js_string))),
    };
    crate::models::check_model(model)?;
    let mut config = Map::new();
    config.insert("model".into(), Value::from(model));
    config.insert("datasetSource".into(), obj.get("dataset").cloned().unwrap_or(Value::Null));
    if let Some(lora) = obj.get("lora").filter(|l| l.is_object()) {
        for (from, to) in [("r", "loraR"), ("alpha", "loraAlpha"), ("maxLength", "maxLength"), ("loadIn4bit", "loadIn4bit")] {
            if let Some(v) = lora.get(from) {
                config.insert(to.into(), v.clone());
            }
        }
    }
    for key in PASSTHROUGH {
        if let Some(v) = obj.get(*key) {
            config.insert((*key).into(), v.clone());
        }
    }
    Ok(Value::Object(config))
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
