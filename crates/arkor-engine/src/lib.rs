//! arkor-engine: LoRA fine-tuning and generation for Gemma 3 with candle.
//!
//! The server's view of the crate:
//! - [`Model`] (`Arc`-shared, read-only): [`Model::tiny`], [`Model::from_gguf`] from a
//!   path it is given (installing and finding models is the `arkor-models` crate's);
//!   [`device::parse_device`] for where it runs.
//! - [`chat`]: Gemma chat rendering and example encoding.
//! - [`Trainer`]: step-by-step LoRA training with [`TrainObserver`] callbacks and a
//!   cancellation flag; PEFT checkpoints ([`LoraAdapter::save_peft`] / [`LoraAdapter::load_peft`]).
//! - [`Generator`]: streaming generation from the base model or an adapter; [`Batch`]:
//!   many [`Sequence`]s decoded together, joining and leaving between steps.
//! - [`data`]: dataset loading from files, `https://` URLs and the Hugging Face Hub.
//!
//! Inside, by concern: [`kernels`] (slice kernels: dense, bf16, low-rank, SIMD) under
//! [`ops`] (candle custom ops with hand-written backwards) under [`model`] (Gemma 3,
//! LoRA, tokenizer, GGUF), used by [`train`] and [`generate`].
//!
//! Everything runs in f32 on the CPU by default; the `cuda` feature builds candle's
//! CUDA backend.

#![warn(missing_docs)]

pub mod data;
pub mod device;
pub mod error;
pub mod generate;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod rng;
mod sharing;
pub mod train;

// The modules' paths from before they were grouped, which callers and benches use.
pub use kernels::bf16;
pub use model::{chat, config, gemma3, gguf, lora, tokenizer, tool_text};

pub use candle_core::Device;
pub use chat::{ChatMessage, EncodedExample, Example};
pub use config::{LayerType, ModelConfig};
pub use error::{Error, Result};
pub use generate::{
    generate, Batch, CompiledGrammar, ConstraintError, FinishReason, Generation, Generator, GrammarSpec, SamplingParams, SeqId, Sequence, TokenEvent, Update,
};
pub use generate::tools::{parse_tool_calls, tool_grammar, ParsedToolCall, ToolCallStream, ToolChoice, ToolSpec, ToolStreamEvent};
pub use lora::{LoraAdapter, LoraConfig, Target};
pub use model::frozen::{Frozen, Precision};
pub use model::{Model, GEMMA3_270M, TINY_MODEL};
pub use tokenizer::{SpecialTokens, StreamDecoder, Tokenizer};
pub use train::{EvalReport, LrScheduler, StepReport, TrainConfig, TrainLog, TrainObserver, TrainSummary, Trainer};
