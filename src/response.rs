//! A streaming HTTP response handed to JS, which wraps it in a WHATWG `Response`.

use std::sync::Arc;

use arkor_client::{Error, ResponseStream};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::errors::IntoNapi;

/// Status line, headers, and a body to pull chunk by chunk.
#[napi]
pub struct NativeResponse {
    status: u16,
    status_text: String,
    headers: Vec<Vec<String>>,
    // `None` once cancelled: dropping the stream closes the connection.
    body: Arc<Mutex<Option<ResponseStream>>>,
    abort: CancellationToken,
}

/// A promise of the response `res` resolves, or of `AbortError` if `abort`
/// fires first; the response keeps `abort` to cancel its body later.
pub(crate) fn abortable<F>(env: &Env, abort: CancellationToken, res: F) -> Result<PromiseRaw<'_, NativeResponse>>
where
    F: std::future::Future<Output = arkor_client::Result<ResponseStream>> + Send + 'static,
{
    env.spawn_future(async move {
        let res = tokio::select! {
            _ = abort.cancelled() => Err(Error::Aborted),
            r = res => r,
        };
        Ok(NativeResponse::new(res.napi()?, abort))
    })
}

impl NativeResponse {
    pub(crate) fn new(stream: ResponseStream, abort: CancellationToken) -> Self {
        Self {
            status: stream.status,
            status_text: stream.status_text.clone(),
            headers: stream.headers.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect(),
            body: Arc::new(Mutex::new(Some(stream))),
            abort,
        }
    }
}

#[napi]
impl NativeResponse {
    /// HTTP status.
    #[napi(getter)]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Reason phrase.
    #[napi(getter)]
    pub fn status_text(&self) -> String {
        self.status_text.clone()
    }

    /// `[name, value]` pairs.
    #[napi(getter)]
    pub fn headers(&self) -> Vec<Vec<String>> {
        self.headers.clone()
    }

    /// The next body chunk, or `null` at the end.
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn read<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<Buffer>>> {
        let body = self.body.clone();
        let abort = self.abort.clone();
        env.spawn_future(async move {
            let mut guard = body.lock().await;
            let Some(stream) = guard.as_mut() else { return Err(Error::Aborted).napi() };
            let chunk = tokio::select! {
                _ = abort.cancelled() => Err(Error::Aborted),
                c = stream.next_chunk() => c,
            };
            if chunk.is_err() {
                *guard = None;
            }
            chunk.map(|c| c.map(|b| Buffer::from(b.to_vec()))).napi()
        })
    }

    /// Stops reading; a pending `read()` rejects and the connection closes.
    #[napi]
    pub fn cancel(&self) {
        self.abort.cancel();
        if let Ok(mut guard) = self.body.try_lock() {
            *guard = None;
        }
    }
}
