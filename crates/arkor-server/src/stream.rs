//! `GET /v1/jobs/:id/events/stream`: the durable event log as server-sent
//! events, resumable with `Last-Event-ID`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::SinkExt;
use serde_json::Value;

use crate::store::{is_terminal_status, Store};
use crate::AppState;

/// How often a stream re-reads the store without a local wake-up: events of
/// a job trained by another process sharing `$ARKOR_HOME` (an `arkor start`
/// in another terminal, followed by `arkor logs --follow`) reach the store
/// without ticking this server's log.
const POLL_EVERY: Duration = Duration::from_millis(500);

const BATCH: usize = 512;

fn frame(id: i64, data: &str) -> String {
    format!("id: {id}\ndata: {data}\n\n")
}

/// The SSE response for `job_id`, starting after `Last-Event-ID`.
pub fn job_events(state: &AppState, job_id: String, headers: &HeaderMap) -> Response {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    let store = state.store.clone();
    let mut tick = state.log.subscribe();
    let ping_every = state.ping_every;
    tokio::spawn(async move {
        let _ = pump(store, &mut tick, job_id, after, tx, ping_every).await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(rx))
        .expect("valid response")
}

/// Sends events until the terminal one (then `end`), pinging while idle.
/// Returns when the job ended or the client went away.
async fn pump(
    store: Store,
    tick: &mut tokio::sync::watch::Receiver<u64>,
    job_id: String,
    mut after: i64,
    mut tx: mpsc::Sender<Result<Bytes, Infallible>>,
    ping_every: Duration,
) -> Result<(), mpsc::SendError> {
    // Pings are due after `ping_every` of silence on this stream, however
    // often other jobs' events wake the loop.
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        // Mark the current tick as seen before reading, so an append that
        // lands between the read and the wait still wakes us.
        tick.borrow_and_update();
        let events = store.events_after(&job_id, after, BATCH).unwrap_or_default();
        let mut out = String::new();
        let mut ended = false;
        for (id, data) in &events {
            out.push_str(&frame(*id, data));
            after = *id;
            let kind = serde_json::from_str::<Value>(data).ok().and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
            if matches!(kind.as_deref(), Some("training.completed" | "training.failed" | "training.cancelled")) {
                ended = true;
                break;
            }
        }
        if !ended && events.is_empty() {
            // A terminal job whose terminal event was already sent before
            // this connection's Last-Event-ID: just end.
            ended = store.job(&job_id).ok().flatten().is_none_or(|j| is_terminal_status(&j.status));
        }
        if ended {
            out.push_str("event: end\ndata: {}\n\n");
        }
        if !out.is_empty() {
            tx.send(Ok(Bytes::from(out))).await?;
            quiet_since = tokio::time::Instant::now();
        }
        if ended {
            return Ok(());
        }
        if events.len() == BATCH {
            continue;
        }
        tokio::select! {
            changed = tick.changed() => { if changed.is_err() { return Ok(()); } }
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = tokio::time::sleep_until(quiet_since + ping_every) => {
                tx.send(Ok(Bytes::from_static(b"event: ping\n\n"))).await?;
                quiet_since = tokio::time::Instant::now();
            }
        }
    }
}
