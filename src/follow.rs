//! Event streams for the CLI: a job's events followed across reconnects
//! (`arkor logs --follow`), and the SSE decoder for other streamed bodies
//! (`arkor chat`). Both are the SDK's own stream code, so the CLI has no SSE
//! parser or reconnect loop of its own.

use std::sync::Arc;

use arkor_client::events::{Applier, Batch, CallbackSet, Parsed};
use arkor_client::sse::SseParser;
use arkor_client::stream::{Backend, EventStream, Read, StreamPolicy};
use arkor_client::{CloudApiClient, Credentials, Scope};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::abort::AbortHandle;
use crate::errors::IntoNapi;
use crate::objects::{CredentialsObject, ScopeObject};

/// Where a follower reads: the backend, the identity and the job.
#[napi(object)]
pub struct FollowTarget {
    /// Backend URL.
    pub base_url: String,
    /// Credentials as upstream shapes them.
    pub credentials: CredentialsObject,
    /// `{ orgSlug, projectSlug }`.
    pub scope: ScopeObject,
    /// The job.
    pub job_id: String,
    /// Resume after this event id (the last one already shown).
    pub last_event_id: Option<String>,
}

struct Following {
    stream: EventStream,
    /// Tells terminal events apart; runs no callbacks.
    applier: Applier,
    ended: bool,
}

/// A job's event stream, followed until the job ends.
#[napi]
pub struct EventFollower {
    inner: Arc<Mutex<Following>>,
}

#[napi]
impl EventFollower {
    /// Connects on the first `next()`.
    #[napi(constructor)]
    pub fn new(target: FollowTarget) -> Result<Self> {
        let credentials = Credentials::try_from(target.credentials)?;
        let scope = Scope::from(target.scope);
        let client = CloudApiClient::new(&target.base_url, &credentials);
        let what = format!("event stream of job {}", target.job_id);
        let mut stream = EventStream::new(Backend { client, scope, job_id: target.job_id }, what, StreamPolicy::default());
        stream.resume_after(target.last_event_id);
        let applier = Applier::new(Value::Null, CallbackSet(0));
        Ok(Self { inner: Arc::new(Mutex::new(Following { stream, applier, ended: false })) })
    }

    /// Resolves the data of the next events (JSON texts, each a job event),
    /// or `null` once the job has ended. Reconnects and backs off as
    /// `wait()` does.
    #[napi(ts_return_type = "Promise<string[] | null>")]
    pub fn next<'env>(&self, env: &'env Env, abort: &AbortHandle) -> Result<PromiseRaw<'env, Option<Vec<String>>>> {
        let inner = self.inner.clone();
        let token = abort.token.clone();
        env.spawn_future(async move {
            let mut f = inner.lock().await;
            if f.ended {
                return Ok(None);
            }
            let Following { stream, applier, ended } = &mut *f;
            let mut texts = Vec::new();
            let read = stream
                .next_batch(
                    &mut |data| {
                        let parsed = applier.apply(data, &mut Batch::default());
                        if parsed != Parsed::Malformed {
                            texts.push(data.to_owned());
                        }
                        parsed
                    },
                    1024,
                    &token,
                )
                .await
                .napi()?;
            if let Read::Ended(_) = read {
                *ended = true;
            }
            Ok(Some(texts))
        })
    }
}

/// Decodes a `text/event-stream` body chunk by chunk.
#[napi]
#[derive(Default)]
pub struct SseDecoder {
    parser: SseParser,
}

/// One decoded server-sent event.
#[napi(object)]
pub struct SseEvent {
    /// `event:`, `message` when absent.
    pub event: String,
    /// `id:`, if any.
    pub id: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[napi]
impl SseDecoder {
    /// A decoder at the start of a body.
    #[napi(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the events it completed.
    #[napi]
    pub fn feed(&mut self, chunk: Uint8Array) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.parser.feed(&chunk, |f| {
            out.push(SseEvent { event: f.event.unwrap_or("message").to_owned(), id: f.id.map(str::to_owned), data: f.data.to_owned() })
        });
        out
    }
}
