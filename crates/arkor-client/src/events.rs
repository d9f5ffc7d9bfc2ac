//! What each job event means for the job and for the user's callbacks, and
//! the compact batch that carries the callbacks across into JS.
//!
//! `training.log` is by far the most frequent event, so its context travels
//! as numbers ([`Batch::metrics`]) that JS turns into objects without a
//! `JSON.parse`; the rarer events travel as JSON text. The job object is
//! sent only when an event changes it (`training.started`, `.completed`,
//! `.failed`), and JS shares it between contexts, as upstream does.

use serde::Deserialize;
use serde_json::value::RawValue;
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

/// Item codes of [`Batch::kinds`].
pub mod item {
    /// The job changed: the next text is the job object. Contexts after it
    /// share that object.
    pub const JOB: u8 = 0;
    /// `onStarted({ job })`: no payload.
    pub const STARTED: u8 = 1;
    /// `onLog`: the next [`super::LOG_FIELDS`] numbers of `metrics`.
    pub const LOG: u8 = 2;
    /// `onLog` whose `step` is not a number: the next text is the context.
    pub const LOG_TEXT: u8 = 3;
    /// `onCheckpoint`: the next text is `{ step, adapter, artifacts? }`.
    pub const CHECKPOINT: u8 = 4;
    /// `onCompleted`: the next text is `{ artifacts }`.
    pub const COMPLETED: u8 = 5;
    /// `onFailed`: the next text is `{ error }`.
    pub const FAILED: u8 = 6;
}

/// The numbers of one [`item::LOG`], in order; `NaN` stands for `null`
/// (JSON has no NaN, so the two cannot be confused). `tokensPerSecond` is
/// the local backend's extra for the CLI's progress line, not an upstream
/// field: JS hands it to the progress hook only.
pub const LOG_FIELDS: [&str; 7] = {
    let mut names = [""; 7];
    let mut i = 0;
    while i < names.len() {
        names[i] = LOG_LAYOUT[i].0;
        i += 1;
    }
    names
};

/// Where a wire event holds one [`LOG_FIELDS`] number.
type LogField = for<'a> fn(&WireEvent<'a>) -> Option<&'a RawValue>;

/// [`LOG_FIELDS`] with where each is read: the one table a batch's `metrics` follow.
const LOG_LAYOUT: [(&str, LogField); 7] = [
    ("step", |e| e.step),
    ("loss", |e| e.loss),
    ("evalLoss", |e| e.eval_loss),
    ("learningRate", |e| e.learning_rate),
    ("epoch", |e| e.epoch),
    ("samplesPerSecond", |e| e.samples_per_second),
    ("tokensPerSecond", |e| e.tokens_per_second),
];

/// The [`LOG_FIELDS`] only the CLI's progress hook sees, at the end of the table.
const PROGRESS_ONLY_FIELDS: usize = 1;

/// One trip into JS: the callbacks to run, in order, each finished before
/// the next.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// One [`item`] code per entry.
    pub kinds: Vec<u8>,
    /// [`LOG_FIELDS`] numbers per [`item::LOG`].
    pub metrics: Vec<f64>,
    /// One JSON text per entry that has one.
    pub texts: Vec<String>,
}

impl Batch {
    /// Entries in the batch (job updates included).
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    fn push_text(&mut self, kind: u8, text: String) {
        self.kinds.push(kind);
        self.texts.push(text);
    }
}

/// A frame's data, read without building a tree: only the fields the
/// trainer uses, each kept as raw JSON.
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    step: Option<&'a RawValue>,
    #[serde(borrow, default)]
    loss: Option<&'a RawValue>,
    #[serde(rename = "evalLoss", borrow, default)]
    eval_loss: Option<&'a RawValue>,
    #[serde(rename = "learningRate", borrow, default)]
    learning_rate: Option<&'a RawValue>,
    #[serde(borrow, default)]
    epoch: Option<&'a RawValue>,
    #[serde(rename = "samplesPerSecond", borrow, default)]
    samples_per_second: Option<&'a RawValue>,
    #[serde(rename = "tokensPerSecond", borrow, default)]
    tokens_per_second: Option<&'a RawValue>,
    #[serde(borrow, default)]
    artifacts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// What one frame's data was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not JSON: skipped, and not progress.
    Malformed,
    /// JSON (a known event, an unknown one, or not even an object, which is
    /// skipped): the stream is alive.
    Event,
    /// The job ended; the wait resolves with these artifacts.
    Terminal(Vec<Value>),
}

/// A JSON number as f64; anything else (null, absent, a string) is NaN,
/// which JS reads back as `null`.
fn number(raw: Option<&RawValue>) -> f64 {
    // A JSON number is valid f64 syntax; strings, objects and null are not.
    raw.and_then(|r| {
        r.get().parse::<f64>().ok()
    })
    .unwrap_or(f64::NAN)
}

fn value(raw: Option<&RawValue>) -> Option<Value> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

/// Follows one job's events: keeps the job as last seen and turns events
/// into [`Batch`] entries for the registered callbacks.
#[derive(Debug)]
pub struct Applier {
    job: Map<String, Value>,
    callbacks: CallbackSet,
    /// The job has not been sent to JS yet.
    job_unsent: bool,
}

impl Applier {
    /// Starts from `job` as `POST /v1/jobs` returned it.
    pub fn new(job: Value, callbacks: CallbackSet) -> Self {
        let job = match job {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Self { job, callbacks, job_unsent: true }
    }

    /// The job as last seen.
    pub fn job(&self) -> Value {
        Value::Object(self.job.clone())
    }

    fn set(&mut self, fields: &[(&str, Option<Value>)]) {
        for (k, v) in fields {
            match v {
                Some(v) => self.job.insert((*k).to_owned(), v.clone()),
                None => self.job.remove(*k),
            };
        }
        self.job_unsent = true;
    }

    fn sync_job(&mut self, out: &mut Batch) {
        if self.job_unsent {
            out.push_text(item::JOB, serde_json::to_string(&self.job).expect("a JSON map serialises"));
            self.job_unsent = false;
        }
    }

    /// Applies one frame's data, appending to `out` what JS must run.
    pub fn apply(&mut self, data: &str, out: &mut Batch) -> Parsed {
        let ev: WireEvent<'_> = match serde_json::from_str(data) {
            Ok(ev) => ev,
            // Valid JSON that is not an event object (`null`, `42`, a
            // non-string `type`): alive, but nothing to do.
            Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(data).is_ok() => return Parsed::Event,
            Err(_) => return Parsed::Malformed,
        };
        let ts = value(ev.timestamp);
        let (callback, terminal) = match ev.kind.as_deref().unwrap_or("") {
            "training.started" => {
                self.set(&[("status", Some(json!("running"))), ("startedAt", ts)]);
                (Callback::Started, None)
            }
            "training.log" => (Callback::Log, None),
            "checkpoint.saved" => (Callback::Checkpoint, None),
            "training.completed" => {
                self.set(&[("status", Some(json!("completed"))), ("completedAt", ts)]);
                let artifacts = match value(ev.artifacts) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                (Callback::Completed, Some(artifacts))
            }
            "training.failed" => {
                self.set(&[("status", Some(json!("failed"))), ("error", value(ev.error)), ("completedAt", ts)]);
                (Callback::Failed, Some(Vec::new()))
            }
            // Not an upstream event: the local backend's word that a cancel
            // took effect. No callback exists for it; it only ends the wait
            // with the job's true status.
            "training.cancelled" => {
                self.set(&[("status", Some(json!("cancelled"))), ("completedAt", ts)]);
                return Parsed::Terminal(Vec::new());
            }
            _ => return Parsed::Event,
        };
        if self.callbacks.has(callback) {
            self.sync_job(out);
            self.push(callback, &ev, terminal.as_deref(), out);
        }
        match terminal {
            Some(artifacts) => Parsed::Terminal(artifacts),
            None => Parsed::Event,
        }
    }

    fn push(&self, callback: Callback, ev: &WireEvent<'_>, artifacts: Option<&[Value]>, out: &mut Batch) {
        match callback {
            Callback::Started => out.kinds.push(item::STARTED),
            Callback::Log => {
                let step = number(ev.step);
                let step_is_null = ev.step.is_none_or(|r| r.get() == "null");
                if step.is_nan() && !step_is_null {
                    // A step that is not a number goes through unchanged.
                    let mut ctx = Map::new();
                    ctx.insert("step".into(), value(ev.step).unwrap_or(Value::Null));
                    for (k, get) in LOG_LAYOUT[..LOG_LAYOUT.len() - PROGRESS_ONLY_FIELDS].iter().filter(|(k, _)| *k != "step") {
                        let n = number(get(ev));
                        ctx.insert((*k).into(), if n.is_nan() { Value::Null } else { json!(n) });
                    }
                    out.push_text(item::LOG_TEXT, Value::Object(ctx).to_string());
                    return;
                }
                out.kinds.push(item::LOG);
                out.metrics.extend(LOG_LAYOUT.iter().map(|(_, get)| number(get(ev))));
            }
            Callback::Checkpoint => {
                let step = value(ev.step).unwrap_or(Value::Null);
                let job_id = self.job.get("id").cloned().unwrap_or(Value::Null);
                let mut ctx = Map::new();
                ctx.insert("step".into(), step.clone());
                ctx.insert("adapter".into(), json!({ "kind": "checkpoint", "jobId": job_id, "step": step }));
                if let Some(a) = value(ev.artifacts) {
                    ctx.insert("artifacts".into(), a);
                }
                out.push_text(item::CHECKPOINT, Value::Object(ctx).to_string());
            }
            Callback::Completed => out.push_text(item::COMPLETED, json!({ "artifacts": artifacts.unwrap_or_default() }).to_string()),
            Callback::Failed => out.push_text(item::FAILED, json!({ "error": value(ev.error).unwrap_or(Value::Null) }).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Value {
        json!({"id": "j1", "status": "queued", "name": "n"})
    }

    fn apply(a: &mut Applier, ev: Value) -> (Parsed, Batch) {
        let mut b = Batch::default();
        let p = a.apply(&ev.to_string(), &mut b);
        (p, b)
    }

    fn texts(b: &Batch) -> Vec<Value> {
        b.texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect()
    }

    #[test]
    fn the_job_is_sent_once_then_only_when_it_changes() {
        let mut a = Applier::new(job(), CallbackSet::ALL);
        let (_, b) = apply(&mut a, json!({"type": "training.log", "step": 1}));
        assert_eq!(b.kinds, vec![item::JOB, item::LOG]);
        assert_eq!(texts(&b), vec![job()]);
        let (_, b) = apply(&mut a, json!({"type": "training.log", "step": 2}));
        assert_eq!(b.kinds, vec![item::LOG]);
        let (_, b) = apply(&mut a, json!({"type": "training.started", "timestamp": "T"}));
        assert_eq!(b.kinds, vec![item::JOB, item::STARTED]);
        assert_eq!(texts(&b)[0], json!({"id": "j1", "status": "running", "name": "n", "startedAt": "T"}));
    }

    #[test]
    fn log_metrics_are_numbers_and_nan_for_null() {
        let mut a = Applier::new(job(), CallbackSet::ALL);
        let (p, b) = apply(&mut a, json!({"type": "training.log", "step": 3, "loss": 1.5, "evalLoss": null, "epoch": "x", "tokensPerSecond": 7}));
        assert_eq!(p, Parsed::Event);
        assert_eq!(b.metrics.len(), LOG_FIELDS.len());
        assert_eq!(b.metrics[0], 3.0);
        assert_eq!(b.metrics[1], 1.5);
        assert!(b.metrics[2].is_nan() && b.metrics[3].is_nan() && b.metrics[4].is_nan() && b.metrics[5].is_nan());
        assert_eq!(b.metrics[6], 7.0);
        let (_, b) = apply(&mut a, json!({"type": "training.log", "loss": -2e-3}));
        assert!(b.metrics[0].is_nan());
        assert_eq!(b.metrics[1], -2e-3);
    }

    #[test]
    fn a_step_that_is_not_a_number_goes_through_as_text() {
        let mut a = Applier::new(job(), CallbackSet::ALL);
        let (_, b) = apply(&mut a, json!({"type": "training.log", "step": "7", "loss": 1}));
        assert_eq!(b.kinds, vec![item::JOB, item::LOG_TEXT]);
        assert_eq!(
            texts(&b)[1],
            json!({"step": "7", "loss": 1.0, "evalLoss": null, "learningRate": null, "epoch": null, "samplesPerSecond": null})
        );
    }

    #[test]
    fn checkpoint_has_adapter() {
        let mut a = Applier::new(job(), CallbackSet::ALL);
        let (_, b) = apply(&mut a, json!({"type": "checkpoint.saved", "step": 10}));
        assert_eq!(b.kinds, vec![item::JOB, item::CHECKPOINT]);
        assert_eq!(texts(&b)[1], json!({"step": 10, "adapter": {"kind": "checkpoint", "jobId": "j1", "step": 10}}));
        let (_, b) = apply(&mut a, json!({"type": "checkpoint.saved", "step": 20, "artifacts": [{"a": 1}]}));
        assert_eq!(texts(&b)[0]["artifacts"], json!([{"a": 1}]));
    }

    #[test]
    fn terminal_events() {
        let mut a = Applier::new(job(), CallbackSet::ALL);
        let (p, b) = apply(&mut a, json!({"type": "training.completed", "timestamp": "E", "artifacts": [1]}));
        assert_eq!(p, Parsed::Terminal(vec![json!(1)]));
        assert_eq!(b.kinds, vec![item::JOB, item::COMPLETED]);
        assert_eq!(texts(&b)[1], json!({"artifacts": [1]}));
        assert_eq!(a.job()["status"], "completed");
        assert_eq!(a.job()["completedAt"], "E");

        let mut a = Applier::new(job(), CallbackSet(0));
        let (p, b) = apply(&mut a, json!({"type": "training.failed", "error": "oom"}));
        assert_eq!(p, Parsed::Terminal(vec![]));
        assert!(b.is_empty());
        assert_eq!(a.job()["error"], "oom");
        assert_eq!(a.job()["status"], "failed");
    }

    #[test]
    fn cancelled_ends_without_callback() {
        let mut a = Applier::new(job(), CallbackSet::ALL);
        let (p, b) = apply(&mut a, json!({"type": "training.cancelled", "timestamp": "C"}));
        assert_eq!(p, Parsed::Terminal(vec![]));
        assert!(b.is_empty());
        assert_eq!(a.job()["status"], "cancelled");
    }

    #[test]
    fn unknown_non_object_and_malformed_data() {
        let mut a = Applier::new(job(), CallbackSet::ALL);
        for data in ["{\"type\":\"x.y\"}", "null", "42", "[1]", "{\"type\":5}", "\"s\""] {
            let mut b = Batch::default();
            assert_eq!(a.apply(data, &mut b), Parsed::Event, "{data}");
            assert!(b.is_empty());
        }
        for data in ["", "{", "not json", "{\"type\":\"training.log\""] {
            assert_eq!(a.apply(data, &mut Batch::default()), Parsed::Malformed, "{data}");
        }
        assert_eq!(a.job(), job());
    }

    #[test]
    fn unregistered_callbacks_cost_nothing_but_still_move_the_job() {
        let mut a = Applier::new(job(), CallbackSet(Callback::Log as u32));
        let (_, b) = apply(&mut a, json!({"type": "training.started", "timestamp": "T"}));
        assert!(b.is_empty());
        let (_, b) = apply(&mut a, json!({"type": "training.log", "step": 1}));
        assert_eq!(b.kinds, vec![item::JOB, item::LOG]);
        assert_eq!(texts(&b)[0]["status"], "running");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn data() -> impl Strategy<Value = String> {
            let field = prop_oneof![
                Just("\"type\":\"training.log\"".to_owned()),
                Just("\"type\":\"checkpoint.saved\"".to_owned()),
                Just("\"type\":\"training.completed\"".to_owned()),
                Just("\"type\":\"training.failed\"".to_owned()),
                Just("\"type\":7".to_owned()),
                "\"(step|loss|evalLoss|epoch|artifacts|error|timestamp)\":(1|-2.5e3|null|\"x\"|\\[1\\]|\\{\\}|true)",
                "[ -~]{0,10}",
            ];
            proptest::collection::vec(field, 0..6).prop_map(|f| format!("{{{}}}", f.join(",")))
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

            /// Whatever a frame holds: no panic, one metrics row of the
            /// right width per log entry, one text per entry that needs one.
            #[test]
            fn any_frame_data_is_applied_or_skipped(data in data()) {
                let mut a = Applier::new(json!({"id": "j"}), CallbackSet::ALL);
                let mut b = Batch::default();
                let _ = a.apply(&data, &mut b);
                let logs = b.kinds.iter().filter(|k| **k == item::LOG).count();
                prop_assert_eq!(b.metrics.len(), logs * LOG_FIELDS.len());
                let with_text = b.kinds.iter().filter(|k| ![item::LOG, item::STARTED].contains(k)).count();
                prop_assert_eq!(b.texts.len(), with_text);
                for t in &b.texts {
                    prop_assert!(serde_json::from_str::<Value>(t).is_ok());
                }
            }
        }
    }
}
