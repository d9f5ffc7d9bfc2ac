//! `createTrainer` over the client core's `Trainer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arkor_client::events::{CallbackSet, Dispatch};
use arkor_client::{Credentials, Dispatcher, Error, Trainer, TrainerContext};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::Value;

use crate::abort::AbortHandle;
use crate::errors::{bad_arg, IntoNapi};
use crate::response::NativeResponse;

/// The JS dispatcher: takes a JSON array of `{cb, ctx}` and answers whether
/// every callback succeeded, synchronously or through a promise.
type DispatchFn = ThreadsafeFunction<String, Either<bool, Promise<bool>>, String, Status, false>;

/// The upstream internal context, as JSON from JS.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ContextInput {
    base_url: Option<String>,
    credentials: Option<Credentials>,
    cwd: Option<String>,
    reconnect_delay_ms: Option<f64>,
    max_reconnect_delay_ms: Option<f64>,
    max_reconnect_attempts: Option<f64>,
}

fn millis(v: Option<f64>, default: u64) -> Duration {
    v.filter(|x| x.is_finite() && *x >= 0.0).map(|x| Duration::from_secs_f64(x / 1000.0)).unwrap_or(Duration::from_millis(default))
}

/// One `createTrainer` instance.
#[napi]
pub struct NativeTrainer {
    inner: Arc<Trainer>,
}

#[napi]
impl NativeTrainer {
    /// `input`: the `TrainerInput` as JSON (callbacks and signal removed);
    /// `context`: the internal context as JSON. Throws on a bad model.
    #[napi(constructor)]
    pub fn new(input: String, context: String) -> Result<Self> {
        let input: Value = serde_json::from_str(&input).map_err(|e| bad_arg("createTrainer input", e))?;
        let c: ContextInput = serde_json::from_str(&context).map_err(|e| bad_arg("createTrainer context", e))?;
        let defaults = TrainerContext::default();
        let ctx = TrainerContext {
            base_url: c.base_url.map(|u| u.trim_end_matches('/').to_owned()),
            credentials: c.credentials,
            cwd: c.cwd.map(Into::into).unwrap_or(defaults.cwd),
            reconnect_delay: millis(c.reconnect_delay_ms, 1000),
            max_reconnect_delay: millis(c.max_reconnect_delay_ms, 60_000),
            max_reconnect_attempts: c.max_reconnect_attempts.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as u32),
            embedded: Some(Arc::new(crate::embedded::EmbeddedServer)),
        };
        Ok(Self { inner: Arc::new(Trainer::new(&input, ctx).napi()?) })
    }

    /// The job config that `start()` sends, as JSON.
    #[napi(getter)]
    pub fn config(&self) -> String {
        self.inner.config().to_string()
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
    /// callbacks. Resolves the `TrainingResult` as JSON.
    #[napi(ts_args_type = "dispatch: (batch: string) => boolean | Promise<boolean>, callbacks: number, abort: AbortHandle", ts_return_type = "Promise<string>")]
    pub fn wait<'env>(&self, env: &'env Env, dispatch: DispatchFn, callbacks: u32, abort: &AbortHandle) -> Result<PromiseRaw<'env, String>> {
        let t = self.inner.clone();
        let token = abort.token.clone();
        env.spawn_future(async move {
            let mut d = JsDispatcher { dispatch };
            let result = t.wait(&mut d, CallbackSet(callbacks), &token).await.napi()?;
            // Dropping `d` releases the threadsafe function, so nothing of
            // this wait keeps Node's event loop alive once it settles.
            drop(d);
            Ok(serde_json::to_string(&result).expect("result serialises"))
        })
    }

    /// Sends `args` (InferArgs as JSON, without signal) to the chat endpoint
    /// against `adapter` (JSON); resolves a streaming response.
    #[napi(ts_return_type = "Promise<NativeResponse>")]
    pub fn infer<'env>(&self, env: &'env Env, adapter: String, args: String, abort: &AbortHandle) -> Result<PromiseRaw<'env, NativeResponse>> {
        let t = self.inner.clone();
        let token = abort.token.clone();
        let adapter: Value = serde_json::from_str(&adapter).map_err(|e| bad_arg("adapter", e))?;
        let args: Value = serde_json::from_str(&args).map_err(|e| bad_arg("infer args", e))?;
        env.spawn_future(async move {
            let res = tokio::select! {
                _ = token.cancelled() => Err(Error::Aborted),
                r = t.infer(&adapter, &args) => r,
            };
            Ok(NativeResponse::new(res.napi()?, token))
        })
    }
}

struct JsDispatcher {
    dispatch: DispatchFn,
}

impl Dispatcher for JsDispatcher {
    fn dispatch(&mut self, batch: Vec<Dispatch>) -> Pin<Box<dyn Future<Output = arkor_client::Result<()>> + Send + '_>> {
        Box::pin(async move {
            let json = serde_json::to_string(&batch).expect("batch serialises");
            let ok = match self.dispatch.call_async(json).await {
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
