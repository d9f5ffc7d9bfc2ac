//! The arkor SDK core in plain Rust.
//!
//! Everything the `arkor` Node package does that is not about JavaScript
//! lives here: the HTTP client for the Arkor cloud API, parsing the job event
//! stream and reconnecting it, turning events into callback contexts,
//! credentials and project state on disk, and the project bootstrap. The
//! napi layer in the root crate only converts values and errors.
//!
//! ```no_run
//! # async fn demo() -> arkor_client::Result<()> {
//! use arkor_client::{Trainer, TrainerContext};
//! let input = serde_json::json!({
//!     "name": "triage", "model": "google/gemma-3-270m",
//!     "dataset": { "type": "blob", "url": "file:///data/triage.jsonl" },
//! });
//! let trainer = Trainer::new(&input, TrainerContext::default())?;
//! let job_id = trainer.start().await?;
//! println!("started {job_id}");
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod credentials;
pub mod deployments;
pub mod deprecation;
pub mod error;
pub mod events;
mod fsutil;
pub mod http;
pub mod job;
pub mod models;
pub mod retry;
pub mod sse;
pub mod state;
pub mod stream;
pub mod trainer;
pub mod upgrade;
pub mod wire;

pub use credentials::Credentials;
pub use error::{Error, Result};
pub use http::{CloudApiClient, ResponseStream, Scope};
pub use retry::RetryPolicy;
pub use state::ProjectState;
pub use trainer::{Dispatcher, EmbeddedBackend, Trainer, TrainerContext, TrainingResult};

/// The SDK version sent in `X-Arkor-Client`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
