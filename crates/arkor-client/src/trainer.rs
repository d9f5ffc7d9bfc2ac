//! `createTrainer`'s engine room: start a job, follow its event stream with
//! reconnects, and hand events to the caller's callbacks in order.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::credentials::{default_cloud_api_url, ensure_credentials, Credentials};
use crate::error::{Error, Result};
use crate::events::{apply_event, CallbackSet, Dispatch};
use crate::http::{CloudApiClient, ResponseStream, Scope};
use crate::job::{build_infer_body, build_job_config};
use crate::sse::{SseFrame, SseParser};
use crate::state::ensure_project_state;

/// A backend the SDK can start inside its own process when the user has not
/// pointed it anywhere (DESIGN.md, "The embedded default"). Implemented by
/// the Node addon with `arkor-server`; this crate only knows how to ask.
pub trait EmbeddedBackend: Send + Sync + std::fmt::Debug {
    /// Starts the backend once per process; resolves `(base_url, token)`.
    fn ensure_started(&self) -> Pin<Box<dyn Future<Output = Result<(String, String)>> + Send + '_>>;
}

/// The org the embedded backend's token belongs to.
pub const EMBEDDED_ORG: &str = "local";

/// The internal context upstream exposes as `createTrainer`'s second argument.
#[derive(Debug, Clone)]
pub struct TrainerContext {
    /// Backend URL; overrides every other source.
    pub base_url: Option<String>,
    /// Credentials; when absent they are read (or made) at `start()`.
    pub credentials: Option<Credentials>,
    /// Project directory holding `.arkor/state.json`.
    pub cwd: PathBuf,
    /// Delay before reconnecting a stream that closed cleanly; base of the backoff.
    pub reconnect_delay: Duration,
    /// Cap of the backoff.
    pub max_reconnect_delay: Duration,
    /// Consecutive failures tolerated; `None` is unlimited.
    pub max_reconnect_attempts: Option<u32>,
    /// Used when nothing names a backend: no `baseUrl`, no credentials given
    /// or stored, no `ARKOR_CLOUD_API_URL`.
    pub embedded: Option<std::sync::Arc<dyn EmbeddedBackend>>,
}

impl Default for TrainerContext {
    fn default() -> Self {
        Self {
            base_url: None,
            credentials: None,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            reconnect_delay: Duration::from_millis(1000),
            max_reconnect_delay: Duration::from_millis(60_000),
            max_reconnect_attempts: None,
            embedded: None,
        }
    }
}

/// Runs the user's callbacks for a batch of events, in order, each finished
/// before the next. Resolves `Err(Error::CallbackFailed)` when one of them
/// threw: the stream then stops without reconnecting.
pub trait Dispatcher: Send {
    /// Runs `batch`.
    fn dispatch(&mut self, batch: Vec<Dispatch>) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>>;
}

/// What `wait()` resolves with: the job as last seen and the final artifacts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainingResult {
    /// The job.
    pub job: Value,
    /// Artifacts of `training.completed`, else empty.
    pub artifacts: Vec<Value>,
}

#[derive(Debug, Clone)]
struct Session {
    client: CloudApiClient,
    scope: Scope,
    job: Value,
}

/// One training run: created by `createTrainer`, started at most once.
#[derive(Debug)]
pub struct Trainer {
    name: String,
    config: Value,
    ctx: TrainerContext,
    session: Mutex<Option<Session>>,
}

/// Statuses on which reconnecting cannot help.
const PERMANENT: [u16; 4] = [401, 403, 410, 426];

impl Trainer {
    /// Validates `input` (a `TrainerInput` without callbacks and signal) and
    /// builds its job config. Fails on an unsupported model.
    pub fn new(input: &Value, ctx: TrainerContext) -> Result<Self> {
        let config = build_job_config(input)?;
        let name = input.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(Self { name, config, ctx, session: Mutex::new(None) })
    }

    /// The run name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The job config sent on `start()`.
    pub fn config(&self) -> &Value {
        &self.config
    }

    async fn session(&self) -> Result<Session> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let (client, scope) = match self.embedded_backend().await? {
            Some(embedded) => embedded_session(embedded.as_ref(), &self.ctx.cwd).await?,
            None => {
                let credentials = match &self.ctx.credentials {
                    Some(c) => c.clone(),
                    None => ensure_credentials().await?,
                };
                let base_url = self.ctx.base_url.clone().unwrap_or_else(|| default_cloud_api_url(Some(&credentials)));
                let client = CloudApiClient::new(&base_url, &credentials);
                let state = ensure_project_state(&self.ctx.cwd, &client, &credentials).await?;
                (client, Scope { org_slug: state.org_slug, project_slug: state.project_slug })
            }
        };
        let created = client.create_job(&scope, &self.name, &self.config).await?;
        let session = Session { client, scope, job: created["job"].clone() };
        *guard = Some(session.clone());
        Ok(session)
    }

    /// The embedded backend, when this trainer should use it.
    async fn embedded_backend(&self) -> Result<Option<std::sync::Arc<dyn EmbeddedBackend>>> {
        let Some(embedded) = &self.ctx.embedded else { return Ok(None) };
        if self.ctx.base_url.is_some() || self.ctx.credentials.is_some() || std::env::var_os("ARKOR_CLOUD_API_URL").is_some() {
            return Ok(None);
        }
        // Stored credentials name a backend (theirs, or the hosted default).
        if crate::credentials::read_credentials().await?.is_some() {
            return Ok(None);
        }
        Ok(Some(embedded.clone()))
    }

    /// Creates the job (once; later calls return the same id).
    pub async fn start(&self) -> Result<String> {
        let s = self.session().await?;
        Ok(s.job["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Requests cancellation; a no-op before `start()`.
    pub async fn cancel(&self) -> Result<()> {
        let session = self.session.lock().await.clone();
        match session {
            Some(s) => s.client.cancel_job(s.job["id"].as_str().unwrap_or_default(), &s.scope).await,
            None => Ok(()),
        }
    }

    /// Sends an inference request against `adapter` (usually a checkpoint of
    /// this job) with `args` (`InferArgs` without its signal).
    pub async fn infer(&self, adapter: &Value, args: &Value) -> Result<ResponseStream> {
        let s = self.session.lock().await.clone().ok_or_else(|| {
            Error::InvalidInput("infer() needs a started trainer: call it from onCheckpoint".into())
        })?;
        let res = s.client.chat(&s.scope, &build_infer_body(args, adapter)).await?;
        Ok(ResponseStream::new(res))
    }

    /// Backoff before retry number `attempt` (0-based): exponential from the
    /// base delay, ±25% jitter, never above the cap.
    pub fn reconnect_delay(&self, attempt: u32) -> Duration {
        let base = self.ctx.reconnect_delay.as_secs_f64();
        let cap = self.ctx.max_reconnect_delay.as_secs_f64();
        let exp = (base * 2f64.powi(attempt.min(1000) as i32)).min(cap);
        let jitter = exp * (rand::random::<f64>() * 0.5 - 0.25);
        Duration::from_secs_f64((exp + jitter).clamp(0.0, cap))
    }

    /// Follows the job's events until it ends, dispatching callbacks. Starts
    /// the job first if needed. `abort` ends the wait with [`Error::Aborted`].
    pub async fn wait(&self, dispatcher: &mut dyn Dispatcher, callbacks: CallbackSet, abort: &CancellationToken) -> Result<TrainingResult> {
        let session = self.session().await?;
        let job_id = session.job["id"].as_str().unwrap_or_default().to_owned();
        let mut job = session.job.clone();
        let mut last_event_id: Option<String> = None;
        let mut attempt: u32 = 0;

        loop {
            let opened = tokio::select! {
                _ = abort.cancelled() => return Err(Error::Aborted),
                r = session.client.open_event_stream(&job_id, &session.scope, last_event_id.as_deref()) => r,
            };
            let res = match opened {
                Ok(r) => r,
                Err(e) if e.status().is_some_and(|s| PERMANENT.contains(&s)) => return Err(e),
                Err(e) => {
                    self.after_failure(&mut attempt, e, abort).await?;
                    continue;
                }
            };

            let mut body = res.bytes_stream();
            let mut parser = SseParser::new();
            let mut frames: Vec<SseFrame> = Vec::new();
            let mut received_any = false;
            // Ok(true): clean EOF; Err: transport failure mid-stream.
            let ended: Result<(), Error> = 'conn: loop {
                let first = tokio::select! {
                    _ = abort.cancelled() => return Err(Error::Aborted),
                    c = body.next() => c,
                };
                // Take everything the socket already delivered, so one trip
                // into JS carries many events when they arrive quickly.
                let mut end_of_body: Option<Result<(), Error>> = None;
                let mut chunk = first;
                loop {
                    match chunk {
                        None => {
                            end_of_body = Some(Ok(()));
                            break;
                        }
                        Some(Err(source)) => {
                            end_of_body = Some(Err(Error::Http { url: format!("event stream of job {job_id}"), source }));
                            break;
                        }
                        Some(Ok(bytes)) => parser.feed(&bytes, &mut frames),
                    }
                    match body.next().now_or_never() {
                        Some(c) => chunk = c,
                        None => break,
                    }
                }

                let mut batch = Vec::new();
                let mut outcome: Option<Vec<Value>> = None;
                for frame in frames.drain(..) {
                    if let Some(id) = frame.id {
                        last_event_id = Some(id);
                    }
                    match frame.event.as_deref() {
                        Some("ping") => continue,
                        Some("end") => {
                            outcome = Some(Vec::new());
                            break;
                        }
                        _ => {}
                    }
                    let Ok(ev) = serde_json::from_str::<Value>(&frame.data) else { continue };
                    received_any = true;
                    attempt = 0;
                    let applied = apply_event(&mut job, &ev, callbacks);
                    batch.extend(applied.dispatch);
                    if applied.terminal.is_some() {
                        outcome = applied.terminal;
                        break;
                    }
                }
                if !batch.is_empty() {
                    tokio::select! {
                        _ = abort.cancelled() => return Err(Error::Aborted),
                        r = dispatcher.dispatch(batch) => r?,
                    }
                }
                if let Some(artifacts) = outcome {
                    return Ok(TrainingResult { job, artifacts });
                }
                if let Some(end) = end_of_body {
                    break 'conn end;
                }
            };

            match ended {
                Ok(()) if received_any => sleep_or_abort(self.ctx.reconnect_delay, abort).await?,
                Ok(()) => {
                    let e = Error::Decode { what: format!("event stream of job {job_id}"), detail: "closed without sending any event".into() };
                    self.after_failure(&mut attempt, e, abort).await?
                }
                Err(e) => self.after_failure(&mut attempt, e, abort).await?,
            }
        }
    }

    async fn after_failure(&self, attempt: &mut u32, err: Error, abort: &CancellationToken) -> Result<()> {
        if abort.is_cancelled() {
            return Err(Error::Aborted);
        }
        if self.ctx.max_reconnect_attempts.is_some_and(|max| *attempt >= max) {
            return Err(Error::StreamGaveUp { attempts: *attempt + 1, last: Box::new(err) });
        }
        sleep_or_abort(self.reconnect_delay(*attempt), abort).await?;
        *attempt += 1;
        Ok(())
    }
}

/// Client and scope on the embedded backend: org `local`, the project named
/// after the working directory (created on first use), no files touched.
async fn embedded_session(embedded: &dyn EmbeddedBackend, cwd: &std::path::Path) -> Result<(CloudApiClient, Scope)> {
    let (url, token) = embedded.ensure_started().await?;
    let client = CloudApiClient::with_token(&url, &token);
    let slug = crate::state::project_slug_for(cwd);
    let name = cwd.file_name().and_then(|n| n.to_str()).unwrap_or("project");
    match client.create_project(EMBEDDED_ORG, name, &slug).await {
        Ok(_) => {}
        Err(e) if e.status() == Some(409) => {}
        Err(e) => return Err(e),
    }
    Ok((client, Scope { org_slug: EMBEDDED_ORG.to_owned(), project_slug: slug }))
}

async fn sleep_or_abort(d: Duration, abort: &CancellationToken) -> Result<()> {
    tokio::select! {
        _ = abort.cancelled() => Err(Error::Aborted),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trainer(base: u64, max: u64) -> Trainer {
        let ctx = TrainerContext {
            reconnect_delay: Duration::from_millis(base),
            max_reconnect_delay: Duration::from_millis(max),
            ..Default::default()
        };
        Trainer::new(&json!({"name": "n", "model": "arkor/tiny-gemma3", "dataset": {}}), ctx).unwrap()
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let t = trainer(100, 1000);
        for _ in 0..200 {
            let d0 = t.reconnect_delay(0).as_millis();
            assert!((75..=125).contains(&d0), "{d0}");
            let d2 = t.reconnect_delay(2).as_millis();
            assert!((300..=500).contains(&d2), "{d2}");
            assert!(t.reconnect_delay(10).as_millis() <= 1000);
            assert!(t.reconnect_delay(10).as_millis() >= 750);
            assert!(t.reconnect_delay(u32::MAX).as_millis() <= 1000);
        }
    }

    #[test]
    fn name_and_config() {
        let t = trainer(1, 1);
        assert_eq!(t.name(), "n");
        assert_eq!(t.config()["model"], "arkor/tiny-gemma3");
    }
}
