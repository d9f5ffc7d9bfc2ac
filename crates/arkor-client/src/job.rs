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

/// Fields of `InferArgs` forwarded to `/v1/inference/chat` as they are.
const INFER_FIELDS: &[&str] =
    &["messages", "temperature", "topP", "maxTokens", "tools", "toolChoice", "responseFormat", "structuredOutputs"];

/// The chat request body for `args` (an `InferArgs` without its signal)
/// against `adapter`; `stream` defaults to true.
pub fn build_infer_body(args: &Value, adapter: &Value) -> Value {
    let mut body = Map::new();
    for key in INFER_FIELDS {
        if let Some(v) = args.get(*key) {
            body.insert((*key).into(), v.clone());
        }
        if *key == "messages" {
            body.insert("adapter".into(), adapter.clone());
        }
    }
    body.insert("stream".into(), args.get("stream").filter(|v| !v.is_null()).cloned().unwrap_or(Value::Bool(true)));
    Value::Object(body)
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
        let b = build_infer_body(&json!({"messages": [], "maxTokens": 4}), &adapter);
        assert_eq!(b, json!({"messages": [], "adapter": adapter, "maxTokens": 4, "stream": true}));
        let b = build_infer_body(&json!({"messages": [], "stream": false}), &adapter);
        assert_eq!(b["stream"], json!(false));
    }
}
