//! `createTrainer` over the client core's `Trainer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arkor_client::events::{Batch, CallbackSet};
use arkor_client::stream::StreamPolicy;
use arkor_client::{Credentials, Dispatcher, Error, Trainer, TrainerContext};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use serde_json::Value;

use crate::abort::AbortHandle;
use crate::errors::IntoNapi;
use crate::objects::{millis, CredentialsObject, InferArgsObject};
use crate::response::{abortable, NativeResponse};

/// One batch of callbacks for JS, in the layout of
/// [`arkor_client::events::Batch`]: `kinds` codes, the numbers of each
/// `training.log` context in `metrics`, JSON text for the rest.
#[napi(object)]
pub struct EventBatch {
    /// One item code per entry (`lib/trainer.js` names them).
    pub kinds: Uint8Array,
    /// Seven numbers per log entry; NaN stands for null.
    pub metrics: Float64Array,
    /// JSON text per entry that has one (job updates and rare events).
    pub texts: Vec<String>,
}

/// The JS dispatcher: runs a batch and answers whether every callback
/// succeeded, synchronously or through a promise.
type DispatchFn = ThreadsafeFunction<EventBatch, Either<bool, Promise<bool>>, EventBatch, Status, false>;

/// The upstream internal context (`createTrainer`'s second argument), plus
/// `streamIdleTimeoutMs`.
#[napi(object)]
#[derive(Default)]
pub struct TrainerContextInput {
    /// Backend URL; overrides every other source.
    pub base_url: Option<String>,
    /// Credentials as upstream shapes them (`mode: "anon" | "oauth"`).
    pub credentials: Option<CredentialsObject>,
    /// Project directory.
    pub cwd: Option<String>,
    /// Base reconnect delay (1000).
    pub reconnect_delay_ms: Option<f64>,
    /// Backoff cap (60000).
    pub max_reconnect_delay_ms: Option<f64>,
    /// Consecutive failures tolerated (unlimited).
    pub max_reconnect_attempts: Option<f64>,
    /// Silence after which the event stream is dropped and resumed (45000).
    pub stream_idle_timeout_ms: Option<f64>,
}


/// One `createTrainer` instance.
#[napi]
pub struct NativeTrainer {
    inner: Arc<Trainer>,
}

#[napi]
impl NativeTrainer {
    /// `input`: the `TrainerInput` (read as upstream reads it, see
    /// [`crate::objects::trainer_input`]); `context`: the internal context.
    /// Throws on a bad model.
    #[napi(constructor, ts_args_type = "input: object, context?: TrainerContextInput | undefined | null")]
    pub fn new(env: &Env, input: Unknown, context: Option<TrainerContextInput>) -> Result<Self> {
        let input = crate::objects::trainer_input(env, input)?;
        let c = context.unwrap_or_default();
        let credentials: Option<Credentials> = c.credentials.map(Credentials::try_from).transpose()?;
        let defaults = TrainerContext::default();
        let policy = StreamPolicy::default();
        let ctx = TrainerContext {
            base_url: c.base_url.map(|u| u.trim_end_matches('/').to_owned()),
            credentials,
            cwd: c.cwd.map(Into::into).unwrap_or(defaults.cwd),
            stream: StreamPolicy {
                reconnect_delay: millis(c.reconnect_delay_ms, policy.reconnect_delay),
                max_reconnect_delay: millis(c.max_reconnect_delay_ms, policy.max_reconnect_delay),
                max_reconnect_attempts: c.max_reconnect_attempts.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as u32),
                idle_timeout: millis(c.stream_idle_timeout_ms, policy.idle_timeout),
            },
            embedded: Some(Arc::new(crate::embedded::EmbeddedServer)),
        };
        Ok(Self { inner: Arc::new(Trainer::new(&input, ctx).napi()?) })
    }

    /// Creates the job once; resolves its id.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn start<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, String>> {
        let t = self.inner.clone();
        env.spawn_future(async move { t.start().await.napi() })
    }

    /// Requests cancellation of the started job.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn cancel<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let t = self.inner.clone();
        env.spawn_future(async move { t.cancel().await.napi() })
    }

    /// Follows the job to its end, calling `dispatch` with batches of
    /// callback invocations. `callbacks` is the bit set of registered
    /// callbacks. Resolves the `TrainingResult`.
    #[napi(ts_args_type = "dispatch: (batch: EventBatch) => boolean | Promise<boolean>, callbacks: number, abort: AbortHandle", ts_return_type = "Promise<{ job: any; artifacts: any[] }>")]
    pub fn wait<'env>(&self, env: &'env Env, dispatch: DispatchFn, callbacks: u32, abort: &AbortHandle) -> Result<PromiseRaw<'env, Value>> {
        let t = self.inner.clone();
        let token = abort.token.clone();
        env.spawn_future(async move {
            let mut d = JsDispatcher { dispatch };
            let result = t.wait(&mut d, CallbackSet(callbacks), &token).await.napi()?;
            // Dropping `d` releases the threadsafe function, so nothing of
            // this wait keeps Node's event loop alive once it settles.
            drop(d);
            Ok(serde_json::json!({ "job": result.job, "artifacts": result.artifacts }))
        })
    }

    /// Sends `args` to the chat endpoint against `adapter` (the checkpoint
    /// context's adapter object); resolves a streaming response.
    #[napi(ts_return_type = "Promise<NativeResponse>")]
    pub fn infer<'env>(&self, env: &'env Env, adapter: Value, args: InferArgsObject, abort: &AbortHandle) -> Result<PromiseRaw<'env, NativeResponse>> {
        let t = self.inner.clone();
        let args = arkor_client::job::InferArgs::from(args);
        abortable(env, abort.token.clone(), async move { t.infer(&adapter, &args).await })
    }
}

struct JsDispatcher {
    dispatch: DispatchFn,
}

impl Dispatcher for JsDispatcher {
    fn dispatch(&mut self, batch: Batch) -> Pin<Box<dyn Future<Output = arkor_client::Result<()>> + Send + '_>> {
        Box::pin(async move {
            let batch = EventBatch { kinds: Uint8Array::new(batch.kinds), metrics: Float64Array::new(batch.metrics), texts: batch.texts };
            let ok = match self.dispatch.call_async(batch).await {
                Ok(Either::A(ok)) => ok,
                Ok(Either::B(promise)) => promise.await.unwrap_or(false),
                Err(_) => false,
            };
            if ok {
                Ok(())
            } else {
                Err(Error::CallbackFailed)
            }
        })
    }
}

/// The layout of [`EventBatch`] and the callback bits, so `lib/trainer.js`
/// reads them from here instead of restating them.
#[napi(object)]
pub struct EventBatchLayout {
    /// Item codes by name (`JOB`, `LOG`, ...).
    pub kinds: std::collections::HashMap<String, u32>,
    /// Bit of each callback in `wait()`'s `callbacks` mask.
    pub callbacks: std::collections::HashMap<String, u32>,
    /// The numbers of a log entry, in order.
    pub log_fields: Vec<String>,
}

/// See [`EventBatchLayout`].
#[napi]
pub fn event_batch_layout() -> EventBatchLayout {
    use arkor_client::events::{item, Callback, LOG_FIELDS};
    let kinds = [
        ("JOB", item::JOB),
        ("STARTED", item::STARTED),
        ("LOG", item::LOG),
        ("LOG_TEXT", item::LOG_TEXT),
        ("CHECKPOINT", item::CHECKPOINT),
        ("COMPLETED", item::COMPLETED),
        ("FAILED", item::FAILED),
    ];
    let callbacks = [Callback::Started, Callback::Log, Callback::Checkpoint, Callback::Completed, Callback::Failed];
    EventBatchLayout {
        kinds: kinds.iter().map(|(k, v)| ((*k).to_owned(), u32::from(*v))).collect(),
        callbacks: callbacks.iter().map(|c| (c.js_name().to_owned(), *c as u32)).collect(),
        log_fields: LOG_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
    }
}
