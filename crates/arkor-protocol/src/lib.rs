//! The shapes both ends of the arkor API agree on, each field named once.
//!
//! - [`job::JobConfig`]: `POST /v1/jobs`'s `config` (and `TrainingJob.config`).
//!   The SDK (`arkor-client`) builds it from a [`job::TrainerInput`]; the
//!   local backend (`arkor-server`) reads it, checks each field and plans the
//!   run. Field names and types are upstream's (`packages/arkor/src/core/types.ts`).
//! - [`job::TERMINAL_STATUSES`]: the job statuses after which nothing changes.
//! - [`backend`]: the local backend's org, the event stream's keepalive and how long
//!   the server waits for a request's head.
//!
//! This crate holds shapes only: no HTTP, no checks beyond "is this JSON of
//! the field's type" ([`field::Field`]). It depends on serde alone, so the
//! server uses it without the SDK's HTTP stack and the SDK without the server.
//! `index.d.ts` restates these shapes for TypeScript; `tests/typings.rs`
//! holds the two to the same field lists.

#![warn(missing_docs)]

#[macro_use]
pub mod field;
pub mod backend;
pub mod job;

pub use field::{Field, FromWire, Named};
pub use backend::{LOCAL_ORG, PING_INTERVAL, REQUEST_HEAD_TIMEOUT};
pub use job::{DatasetSource, JobConfig, TrainerInput};
