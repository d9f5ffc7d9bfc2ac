//! The napi face of the arkor SDK.
//!
//! Only conversions live here: JSON strings in and out, Rust errors into
//! tagged JS errors, Rust futures into promises, and the trainer's event
//! batches into calls of one JS dispatcher function. The behaviour itself is
//! in the `arkor-client` crate; `index.js` and `lib/` give it the JS shape
//! users expect (`Response`, `AbortSignal`, `CloudApiError`).

#![deny(clippy::all)]
// `#[napi]` registers exports with Node only outside test builds, so under
// `cargo test` the exported functions look unused to rustc.
#![cfg_attr(test, allow(dead_code))]

mod abort;
mod candle_threads;
mod client;
mod deployments;
mod embedded;
mod errors;
mod follow;
mod models;
mod objects;
mod response;
mod serve;
mod studio;
mod trainer;

use napi_derive::napi;

/// The SDK version, as sent in `X-Arkor-Client`.
#[napi]
pub fn sdk_version() -> &'static str {
    arkor_client::SDK_VERSION
}

/// The models `createTrainer` accepts.
#[napi]
pub fn supported_models() -> Vec<&'static str> {
    arkor_client::models::SUPPORTED_MODELS.to_vec()
}

/// `TrainingJob.status` values after which a job never changes again.
#[napi]
pub fn terminal_job_statuses() -> Vec<String> {
    arkor_client::job::TERMINAL_STATUSES.iter().map(|s| (*s).to_owned()).collect()
}
