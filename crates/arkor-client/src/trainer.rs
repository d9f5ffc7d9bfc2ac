//! `createTrainer`'s engine room: start a job, follow its event stream with
//! reconnects, and hand events to the caller's callbacks in order.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use arkor_protocol::LOCAL_ORG;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::credentials::{default_cloud_api_url, ensure_credentials, Credentials};
use crate::error::{Error, Result};
use crate::events::{Applier, Batch, CallbackSet};
use crate::http::{CloudApiClient, ResponseStream, Scope};
use crate::job::{build_infer_body, build_job_config, InferArgs};
use crate::stream::{Backend, EventStream, Read, StreamPolicy};
use crate::state::ensure_project_state;

/// What [`EmbeddedBackend::ensure_started`] returns: a future of `(base_url, token)`.
pub type EmbeddedStart<'a> = Pin<Box<dyn Future<Output = Result<(String, String)>> + Send + 'a>>;

/// A backend the SDK can start inside its own process when the user has not
/// pointed it anywhere (docs/ARCHITECTURE.md, "The embedded backend"). Implemented by
/// the Node addon with `arkor-server`; this crate only knows how to ask.
pub trait EmbeddedBackend: Send + Sync + std::fmt::Debug {
    /// Starts the backend once per process; resolves `(base_url, token)`.
    fn ensure_started(&self) -> EmbeddedStart<'_>;
}

/// The internal context upstream exposes as `createTrainer`'s second argument.
#[derive(Debug, Clone)]
pub struct TrainerContext {
    /// Backend URL; overrides every other source.
    pub base_url: Option<String>,
    /// Credentials; when absent they are read (or made) at `start()`.
    pub credentials: Option<Credentials>,
    /// Project directory holding `.arkor/state.json`.
    pub cwd: PathBuf,
    /// Reconnect, backoff and idle rules of the event stream.
    pub stream: StreamPolicy,
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
            stream: StreamPolicy::default(),
            embedded: None,
        }
    }
}

/// Runs the user's callbacks for a batch of events, in order, each finished
/// before the next. Resolves `Err(Error::CallbackFailed)` when one of them
/// threw: the stream then stops without reconnecting.
pub trait Dispatcher: Send {
    /// Runs `batch`.
    fn dispatch(&mut self, batch: Batch) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>>;
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
    /// Sent with `POST /v1/jobs`: one per trainer, so no retry makes a second job.
    idempotency_key: String,
}

impl Trainer {
    /// Validates `input` (a `TrainerInput` without callbacks and signal) and
    /// builds its job config. Fails on an unsupported model.
    pub fn new(input: &Value, ctx: TrainerContext) -> Result<Self> {
        let config = build_job_config(input)?;
        let name = input.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(Self { name, config, ctx, session: Mutex::new(None), idempotency_key: crate::retry::new_idempotency_key() })
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
        let created = client.create_job(&scope, &self.name, &self.config, &self.idempotency_key).await?;
        let session = Session { client, scope, job: created["job"].clone() };
        *guard = Some(session.clone());
        Ok(session)
    }

    /// The embedded backend, when this trainer should use it.
    async fn embedded_backend(&self) -> Result<Option<std::sync::Arc<dyn EmbeddedBackend>>> {
        let Some(embedded) = &self.ctx.embedded else { return Ok(None) };
        let named = !crate::backend::nothing_names_a_backend(self.ctx.base_url.as_deref(), self.ctx.credentials.as_ref()).await?;
        Ok((!named).then(|| embedded.clone()))
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
    /// this job) with `args`.
    pub async fn infer(&self, adapter: &Value, args: &InferArgs) -> Result<ResponseStream> {
        let s = self.session.lock().await.clone().ok_or_else(|| {
            Error::InvalidInput("Trainer scope is not initialized at checkpoint dispatch time".into())
        })?;
        let res = s.client.chat(&s.scope, &build_infer_body(args, adapter)).await?;
        Ok(ResponseStream::new(res))
    }

    /// Follows the job's events until it ends, dispatching callbacks. Starts
    /// the job first if needed. `abort` ends the wait with [`Error::Aborted`].
    ///
    /// Reading and parsing run in their own task, one batch ahead of the
    /// callbacks: while JS runs a batch, the next one is read and built, so
    /// the two costs overlap instead of adding up. A callback that fails
    /// drops the batch read ahead, unsent.
    pub async fn wait(&self, dispatcher: &mut dyn Dispatcher, callbacks: CallbackSet, abort: &CancellationToken) -> Result<TrainingResult> {
        // Job creation may be retrying a busy backend: the signal ends that too.
        let session = tokio::select! {
            _ = abort.cancelled() => return Err(Error::Aborted),
            s = self.session() => s?,
        };
        let job_id = session.job["id"].as_str().unwrap_or_default().to_owned();
        let backend = Backend { client: session.client.clone(), scope: session.scope.clone(), job_id: job_id.clone() };
        let stream = EventStream::new(backend, format!("event stream of job {job_id}"), self.ctx.stream.clone());
        let applier = Applier::new(session.job.clone(), callbacks);
        // Capacity 1: one batch waits while JS runs another and a third is
        // being read, which bounds memory and leaves the rest to TCP.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let stop = abort.child_token();
        let _stop_reader = stop.clone().drop_guard();
        tokio::spawn(read_ahead(stream, applier, tx, stop));
        loop {
            let msg = tokio::select! {
                _ = abort.cancelled() => return Err(Error::Aborted),
                m = rx.recv() => m,
            };
            match msg {
                Some(Ahead::Batch(batch)) => tokio::select! {
                    _ = abort.cancelled() => return Err(Error::Aborted),
                    r = dispatcher.dispatch(batch) => r?,
                },
                Some(Ahead::Done(result)) => return result,
                None => return Err(Error::Decode { what: format!("event stream of job {job_id}"), detail: "the reader stopped unexpectedly".into() }),
            }
        }
    }
}

/// What the read-ahead task hands to `wait()`.
enum Ahead {
    Batch(Batch),
    Done(Result<TrainingResult>),
}

/// Most frames in one batch: enough to amortise a trip into JS, small
/// enough that a batch stays in the low megabytes.
const MAX_BATCH_FRAMES: usize = 8192;

async fn read_ahead(mut stream: EventStream, mut applier: Applier, tx: tokio::sync::mpsc::Sender<Ahead>, stop: CancellationToken) {
    loop {
        let mut batch = Batch::default();
        let read = stream.next_batch(&mut |data| applier.apply(data, &mut batch), MAX_BATCH_FRAMES, &stop).await;
        if !batch.is_empty() && tx.send(Ahead::Batch(batch)).await.is_err() {
            return; // wait() is gone: a callback failed or it was aborted
        }
        let done = match read {
            Ok(Read::Frames) => continue,
            Ok(Read::Ended(artifacts)) => Ok(TrainingResult { job: applier.job(), artifacts }),
            Err(e) => Err(e),
        };
        let _ = tx.send(Ahead::Done(done)).await;
        return;
    }
}

/// Client and scope on the embedded backend: org `local`, the project named
/// after the working directory (created on first use), no files touched.
async fn embedded_session(embedded: &dyn EmbeddedBackend, cwd: &std::path::Path) -> Result<(CloudApiClient, Scope)> {
    let (url, token) = embedded.ensure_started().await?;
    let client = CloudApiClient::with_token(&url, &token);
    let slug = crate::backend::ensure_local_project(&client, cwd).await?;
    Ok((client, Scope { org_slug: LOCAL_ORG.to_owned(), project_slug: slug }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn name_and_config() {
        let t = Trainer::new(&json!({"name": "n", "model": "arkor/tiny-gemma3", "dataset": {}}), TrainerContext::default()).unwrap();
        assert_eq!(t.name(), "n");
        assert_eq!(t.config()["model"], "arkor/tiny-gemma3");
    }
}
