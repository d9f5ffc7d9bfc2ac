//! What a training run is asked to do: [`TrainConfig`] and its learning-rate schedule.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::lora::LoraConfig;

/// Learning-rate schedule after warmup (Hugging Face `lr_scheduler_type` names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrScheduler {
    /// Linear decay to zero at the last step.
    #[default]
    Linear,
    /// Half-cosine decay to zero at the last step.
    Cosine,
    /// Constant (after warmup, if any).
    Constant,
}

impl LrScheduler {
    /// The names [`FromStr`] accepts (`constant_with_warmup` is `constant`).
    pub const NAMES: [&'static str; 4] = ["linear", "cosine", "constant", "constant_with_warmup"];
}

impl FromStr for LrScheduler {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            "constant" | "constant_with_warmup" => Ok(Self::Constant),
            other => Err(Error::Config(format!("lrSchedulerType {other:?} is not supported ({})", Self::NAMES.join(", ")))),
        }
    }
}

impl LrScheduler {
    /// Multiplier of the peak learning rate for update `step` (0-based) of `total`,
    /// exactly as transformers' `get_*_schedule_with_warmup` lambdas.
    pub fn factor(self, step: usize, warmup: usize, total: usize) -> f64 {
        if step < warmup {
            return step as f64 / warmup.max(1) as f64;
        }
        let span = total.saturating_sub(warmup).max(1) as f64;
        match self {
            Self::Constant => 1.0,
            Self::Linear => (total.saturating_sub(step) as f64 / span).max(0.0),
            Self::Cosine => {
                let progress = (step - warmup) as f64 / span;
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
        }
    }
}

/// Training hyper-parameters (the job config's names in camelCase on the wire).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Adapter rank, alpha and targets.
    pub lora: LoraConfig,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub gradient_accumulation_steps: usize,
    /// Optimiser steps; when set it wins over `num_train_epochs`.
    pub max_steps: Option<usize>,
    /// Passes over the data when `max_steps` is not set (may be fractional).
    pub num_train_epochs: f64,
    /// Linear warmup from zero over this many steps.
    pub warmup_steps: usize,
    /// Decay after warmup.
    pub lr_scheduler: LrScheduler,
    /// Decoupled weight decay (AdamW).
    pub weight_decay: f64,
    /// AdamW beta1.
    pub adam_beta1: f64,
    /// AdamW beta2.
    pub adam_beta2: f64,
    /// AdamW epsilon.
    pub adam_epsilon: f64,
    /// Clip the global gradient norm to this (HF default 1.0); None disables clipping.
    pub max_grad_norm: Option<f64>,
    /// Report a log every this many steps.
    pub logging_steps: usize,
    /// Save a checkpoint every this many steps (needs `output_dir`).
    pub save_steps: Option<usize>,
    /// Compute the eval loss every this many steps and after the last one (needs eval
    /// rows, see `Trainer::with_eval`); None never evaluates.
    pub eval_steps: Option<usize>,
    /// Seeds the adapter init and the data order.
    pub seed: u64,
    /// Loss only on assistant turns.
    pub train_on_responses_only: bool,
    /// Truncate examples to this many tokens.
    pub max_length: Option<usize>,
    /// Where `checkpoint-<step>/` and `final/` adapters go.
    pub output_dir: Option<PathBuf>,
    /// Products through the frozen weights (projections and head, forward and input
    /// gradients) in bf16 with f32 sums, on CPUs with AVX512_BF16; LoRA factors,
    /// optimiser state and the loss stay f32. Costs a one-time bf16 copy of the weights
    /// (two layouts, about 1 GB for gemma-3-270m). Ignored where unsupported.
    pub bf16_matmul: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lora: LoraConfig::default(),
            learning_rate: 2e-4,
            batch_size: 4,
            gradient_accumulation_steps: 1,
            max_steps: None,
            num_train_epochs: 1.0,
            warmup_steps: 0,
            lr_scheduler: LrScheduler::Linear,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: Some(1.0),
            logging_steps: 1,
            save_steps: None,
            eval_steps: None,
            seed: 42,
            train_on_responses_only: false,
            max_length: Some(2048),
            output_dir: None,
            bf16_matmul: false,
        }
    }
}

impl TrainConfig {
    pub(super) fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.batch_size == 0 {
            return bad("batchSize must be at least 1");
        }
        if self.gradient_accumulation_steps == 0 {
            return bad("gradient accumulation steps must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate >= 0.0) {
            return bad("learningRate must be a non-negative number");
        }
        if self.max_steps == Some(0) {
            return bad("maxSteps must be at least 1");
        }
        if self.max_steps.is_none() && (self.num_train_epochs.is_nan() || self.num_train_epochs <= 0.0) {
            return bad("numTrainEpochs must be positive when maxSteps is not set");
        }
        if self.save_steps == Some(0) || self.logging_steps == 0 {
            return bad("saveSteps and loggingSteps must be at least 1");
        }
        if self.eval_steps == Some(0) {
            return bad("evalSteps must be at least 1");
        }
        if self.save_steps.is_some() && self.output_dir.is_none() {
            return bad("saveSteps needs an output directory");
        }
        Ok(())
    }
}
