//! Writing job events: durable first, then a wake-up for open streams.

use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::store::{now, Store, Transition};

/// Appends events to the store and wakes the streams that follow them.
#[derive(Clone)]
pub struct EventLog {
    store: Store,
    // A counter rather than a payload: streams re-read the store, which is the
    // single source of truth, so a missed wake-up can never lose an event.
    tick: watch::Sender<u64>,
}

impl EventLog {
    /// A log over `store`.
    pub fn new(store: Store) -> Self {
        Self { store, tick: watch::Sender::new(0) }
    }

    /// Something to await for the next append.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }

    /// Appends `{type, jobId, timestamp, ..fields}`; returns whether it was
    /// written (nothing is written after a job's terminal event).
    pub fn emit(&self, job_id: &str, kind: &str, fields: Value, transition: Option<Transition>) -> bool {
        let mut data = Map::new();
        data.insert("type".into(), json!(kind));
        data.insert("jobId".into(), json!(job_id));
        data.insert("timestamp".into(), json!(now()));
        if let Value::Object(f) = fields {
            data.extend(f);
        }
        let written = matches!(self.store.append_event(job_id, &Value::Object(data), transition), Ok(Some(_)));
        if written {
            self.tick.send_modify(|n| *n += 1);
        }
        written
    }
}
