//! A cancellation token JS can trip when its `AbortSignal` fires.

use napi_derive::napi;
use tokio_util::sync::CancellationToken;

/// Wraps a cancellation token; `abort()` ends every operation given this handle.
#[napi]
#[derive(Default)]
pub struct AbortHandle {
    pub(crate) token: CancellationToken,
}

#[napi]
impl AbortHandle {
    /// A fresh, untripped handle.
    #[napi(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Trips the handle.
    #[napi]
    pub fn abort(&self) {
        self.token.cancel();
    }
}
