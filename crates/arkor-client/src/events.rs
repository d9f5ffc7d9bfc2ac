//! What each job event means for the job and for the user's callbacks.

use serde_json::{json, Map, Value};

/// The five trainer callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// `training.started`
    Started = 1,
    /// `training.log`
    Log = 2,
    /// `checkpoint.saved`
    Checkpoint = 4,
    /// `training.completed`
    Completed = 8,
    /// `training.failed`
    Failed = 16,
}

impl Callback {
    /// The name of the callback in `TrainerCallbacks`.
    pub fn js_name(self) -> &'static str {
        match self {
            Callback::Started => "onStarted",
            Callback::Log => "onLog",
            Callback::Checkpoint => "onCheckpoint",
            Callback::Completed => "onCompleted",
            Callback::Failed => "onFailed",
        }
    }
}

/// Which callbacks the user registered, as a bit set of [`Callback`] values.
/// Events whose callback is absent still move the job's state but cost no
/// context building or crossing into JS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallbackSet(pub u32);

impl CallbackSet {
    /// Every callback registered.
    pub const ALL: CallbackSet = CallbackSet(31);

    /// Whether `cb` is registered.
    pub fn has(self, cb: Callback) -> bool {
        self.0 & cb as u32 != 0
    }
}

/// One callback invocation: which callback and its context object (for
/// `onCheckpoint`, without `infer`, which the JS layer attaches).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dispatch {
    /// Callback name (`onLog`, ...).
    #[serde(rename = "cb")]
    pub callback: &'static str,
    /// The context argument.
    #[serde(rename = "ctx")]
    pub context: Value,
}

/// What an event did.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// The callback to run, if registered.
    pub dispatch: Option<Dispatch>,
    /// `Some(artifacts)` when the event ended the job.
    pub terminal: Option<Vec<Value>>,
}

fn metric(ev: &Value, key: &str) -> Value {
    match ev.get(key) {
        Some(v) if v.is_number() => v.clone(),
        _ => Value::Null,
    }
}

fn with_fields(job: &Value, fields: &[(&str, Option<&Value>)]) -> Value {
    let mut m = job.as_object().cloned().unwrap_or_default();
    for (k, v) in fields {
        match v {
            Some(v) => m.insert((*k).to_owned(), (*v).clone()),
            None => m.remove(*k),
        };
    }
    Value::Object(m)
}

/// Applies one parsed event (`data` of a frame) to `job` and returns what to
/// dispatch. Unknown event types change nothing.
pub fn apply_event(job: &mut Value, ev: &Value, callbacks: CallbackSet) -> Applied {
    let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
    let ts = ev.get("timestamp");
    let mut out = Applied::default();
    let callback = match kind {
        "training.started" => {
            *job = with_fields(job, &[("status", Some(&json!("running"))), ("startedAt", ts)]);
            Callback::Started
        }
        "training.log" => Callback::Log,
        "checkpoint.saved" => Callback::Checkpoint,
        "training.completed" => {
            *job = with_fields(job, &[("status", Some(&json!("completed"))), ("completedAt", ts)]);
            let artifacts = ev.get("artifacts").and_then(Value::as_array).cloned().unwrap_or_default();
            out.terminal = Some(artifacts);
            Callback::Completed
        }
        "training.failed" => {
            *job = with_fields(job, &[("status", Some(&json!("failed"))), ("error", ev.get("error")), ("completedAt", ts)]);
            out.terminal = Some(Vec::new());
            Callback::Failed
        }
        // Not an upstream event: the local backend's word that a cancel
        // took effect. No callback exists for it; it only ends the wait
        // with the job's true status.
        "training.cancelled" => {
            *job = with_fields(job, &[("status", Some(&json!("cancelled"))), ("completedAt", ts)]);
            out.terminal = Some(Vec::new());
            return out;
        }
        _ => return out,
    };
    if !callbacks.has(callback) {
        return out;
    }
    let mut ctx = Map::new();
    match callback {
        Callback::Log => {
            ctx.insert("step".into(), ev.get("step").cloned().unwrap_or(Value::Null));
            for k in ["loss", "evalLoss", "learningRate", "epoch", "samplesPerSecond"] {
                ctx.insert(k.into(), metric(ev, k));
            }
            // The local backend also reports trained tokens per second. Not
            // an upstream field: the JS layer hands it to the CLI's progress
            // display and removes it before user callbacks see the context.
            if let Some(v) = ev.get("tokensPerSecond").filter(|v| v.is_number()) {
                ctx.insert("tokensPerSecond".into(), v.clone());
            }
        }
        Callback::Checkpoint => {
            let step = ev.get("step").cloned().unwrap_or(Value::Null);
            let job_id = job.get("id").cloned().unwrap_or(Value::Null);
            ctx.insert("step".into(), step.clone());
            ctx.insert("adapter".into(), json!({ "kind": "checkpoint", "jobId": job_id, "step": step }));
            if let Some(a) = ev.get("artifacts") {
                ctx.insert("artifacts".into(), a.clone());
            }
        }
        Callback::Completed => {
            ctx.insert("artifacts".into(), Value::Array(out.terminal.clone().unwrap_or_default()));
        }
        Callback::Failed => {
            ctx.insert("error".into(), ev.get("error").cloned().unwrap_or(Value::Null));
        }
        Callback::Started => {}
    }
    ctx.insert("job".into(), job.clone());
    out.dispatch = Some(Dispatch { callback: callback.js_name(), context: Value::Object(ctx) });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Value {
        json!({"id": "j1", "status": "queued", "name": "n"})
    }

    #[test]
    fn started_sets_running_and_timestamp() {
        let mut j = job();
        let a = apply_event(&mut j, &json!({"type": "training.started", "timestamp": "T"}), CallbackSet::ALL);
        assert_eq!(j["status"], "running");
        assert_eq!(j["startedAt"], "T");
        let d = a.dispatch.unwrap();
        assert_eq!(d.callback, "onStarted");
        assert_eq!(d.context, json!({"job": j}));
        assert!(a.terminal.is_none());
    }

    #[test]
    fn log_metrics_default_to_null() {
        let mut j = job();
        let a = apply_event(&mut j, &json!({"type": "training.log", "step": 3, "loss": 1.5}), CallbackSet::ALL);
        let c = a.dispatch.unwrap().context;
        assert_eq!(c["step"], 3);
        assert_eq!(c["loss"], 1.5);
        assert_eq!(c["evalLoss"], Value::Null);
        assert_eq!(c["samplesPerSecond"], Value::Null);
    }

    #[test]
    fn checkpoint_has_adapter() {
        let mut j = job();
        let a = apply_event(&mut j, &json!({"type": "checkpoint.saved", "step": 10}), CallbackSet::ALL);
        let c = a.dispatch.unwrap().context;
        assert_eq!(c["adapter"], json!({"kind": "checkpoint", "jobId": "j1", "step": 10}));
        assert!(c.get("artifacts").is_none());
    }

    #[test]
    fn terminal_events() {
        let mut j = job();
        let a = apply_event(&mut j, &json!({"type": "training.completed", "timestamp": "E", "artifacts": [1]}), CallbackSet::ALL);
        assert_eq!(a.terminal, Some(vec![json!(1)]));
        assert_eq!(j["status"], "completed");
        let mut j = job();
        let a = apply_event(&mut j, &json!({"type": "training.failed", "error": "oom"}), CallbackSet(0));
        assert_eq!(a.terminal, Some(vec![]));
        assert!(a.dispatch.is_none());
        assert_eq!(j["error"], "oom");
        assert_eq!(j["status"], "failed");
    }

    #[test]
    fn cancelled_ends_without_callback() {
        let mut j = job();
        let a = apply_event(&mut j, &json!({"type": "training.cancelled", "timestamp": "C"}), CallbackSet::ALL);
        assert_eq!(a.terminal, Some(vec![]));
        assert!(a.dispatch.is_none());
        assert_eq!(j["status"], "cancelled");
    }

    #[test]
    fn unknown_types_are_ignored() {
        let mut j = job();
        assert_eq!(apply_event(&mut j, &json!({"type": "x.y"}), CallbackSet::ALL), Applied::default());
        assert_eq!(j, job());
    }
}
