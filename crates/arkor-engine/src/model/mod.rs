//! The model side of the engine: a loaded [`Model`] (frozen Gemma 3 weights plus the
//! tokenizer that goes with them) and what it is made of.
//! - [`config`]: architecture hyper-parameters; [`gemma3`]: the forward pass;
//!   `decode`: one pass over several sequences at once, each feeding one token (a
//!   decode step) or a chunk of its prompt (the batched generation's), and `kv`: a
//!   sequence's preallocated keys and values, and attention over them;
//! - [`frozen`]: the precision of the frozen weights' products and their bf16 / Q8 copies;
//! - [`lora`]: adapters and their PEFT files; [`gguf`]: loading weights from a GGUF;
//! - [`tokenizer`] and [`chat`]: text to ids and Gemma's chat template; [`tool_text`]:
//!   the plain-text tool protocol the template writes tool turns in;
//! - `tiny`: the seeded `arkor/tiny-gemma3` for tests.

pub mod chat;
pub mod config;
pub(crate) mod decode;
pub mod frozen;
pub mod gemma3;
pub mod gguf;
pub(crate) mod kv;
pub mod lora;
mod tiny;
pub mod tokenizer;
pub mod tool_text;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use candle_core::Device;

use crate::error::{Error, Result};
use crate::generate::ConstraintCompiler;
use config::ModelConfig;
use gemma3::Gemma3;
use tokenizer::Tokenizer;

/// Name of the seeded test model.
pub const TINY_MODEL: &str = "arkor/tiny-gemma3";
/// Name of the real 270M model.
pub const GEMMA3_270M: &str = "google/gemma-3-270m";

/// Frozen weights and tokenizer. Share it as `Arc<Model>`: training runs and any
/// number of generations read it concurrently; nothing mutates it after loading.
#[derive(Clone, Debug)]
pub struct Model {
    name: String,
    weights: Gemma3,
    tokenizer: Tokenizer,
    /// Built on the first constrained request: indexing 262k tokens takes a moment that
    /// unconstrained use should not pay.
    constraints: OnceLock<Arc<ConstraintCompiler>>,
}

impl Model {
    /// Assembles a model; the tokenizer's vocabulary must fit the embedding.
    pub fn new(name: impl Into<String>, weights: Gemma3, tokenizer: Tokenizer) -> Result<Self> {
        let name = name.into();
        if tokenizer.vocab_size() > weights.config().vocab_size {
            return Err(Error::Model {
                name,
                message: format!(
                    "tokenizer has {} tokens but the embedding only {} rows",
                    tokenizer.vocab_size(),
                    weights.config().vocab_size
                ),
            });
        }
        Ok(Self { name, weights, tokenizer, constraints: OnceLock::new() })
    }

    /// Loads a GGUF file (dequantized to f32) with its embedded tokenizer.
    pub fn from_gguf(name: impl Into<String>, path: &Path, device: &Device) -> Result<Self> {
        let (weights, tokenizer) = gguf::load_gguf(path, device)?;
        Self::new(name, weights, tokenizer)
    }

    /// The model's name (`google/gemma-3-270m`, `arkor/tiny-gemma3`, or a path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Architecture hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        self.weights.config()
    }

    /// The frozen weights.
    pub fn weights(&self) -> &Gemma3 {
        &self.weights
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Constrained decoding for this model's vocabulary (built once, then shared): compile
    /// grammars with it and pass them to [`crate::Generator::with_constraint`].
    pub fn constraints(&self) -> Result<&ConstraintCompiler> {
        if let Some(c) = self.constraints.get() {
            return Ok(c);
        }
        let built = Arc::new(ConstraintCompiler::new(&self.tokenizer, self.config().vocab_size)?);
        // Two first requests racing both build; one result is kept.
        Ok(self.constraints.get_or_init(|| built))
    }

    /// The device the weights are on.
    pub fn device(&self) -> &Device {
        self.weights.device()
    }
}
