//! LoRA fine-tuning: AdamW on the adapter only, HF-style schedules, gradient
//! accumulation, periodic logs and PEFT checkpoints.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::chat::{encode_example, EncodedExample, Example};
use crate::error::{Error, Result, TensorContext};
use crate::lora::{LoraAdapter, LoraConfig};
use crate::model::Model;
use crate::ops;
use crate::rng::SplitMix64;

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

impl FromStr for LrScheduler {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            "constant" | "constant_with_warmup" => Ok(Self::Constant),
            other => Err(Error::Config(format!(
                "lrSchedulerType {other:?} is not supported (linear, cosine, constant)"
            ))),
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
            seed: 42,
            train_on_responses_only: false,
            max_length: Some(2048),
            output_dir: None,
            bf16_matmul: false,
        }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
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
        if self.max_steps.is_none() && !(self.num_train_epochs > 0.0) {
            return bad("numTrainEpochs must be positive when maxSteps is not set");
        }
        if self.save_steps == Some(0) || self.logging_steps == 0 {
            return bad("saveSteps and loggingSteps must be at least 1");
        }
        if self.save_steps.is_some() && self.output_dir.is_none() {
            return bad("saveSteps needs an output directory");
        }
        Ok(())
    }
}

/// What one optimiser step did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// 1-based step number just completed.
    pub step: usize,
    /// Mean loss per supervised token over the step's micro-batches.
    pub loss: f64,
    /// Learning rate the update used.
    pub learning_rate: f64,
    /// Fractional epochs completed.
    pub epoch: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Examples consumed by the step.
    pub samples: usize,
    /// Tokens forwarded (including unsupervised ones).
    pub tokens: usize,
    /// Wall time of the step.
    pub seconds: f64,
}

/// A periodic training log (`training.log`).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainLog {
    /// Step just completed.
    pub step: usize,
    /// Mean of step losses since the previous log.
    pub loss: f64,
    /// Learning rate of the last update.
    pub learning_rate: f64,
    /// Fractional epochs completed.
    pub epoch: f64,
    /// Examples per second since training began.
    pub samples_per_second: f64,
    /// Tokens forwarded per second since training began (the steps'
    /// `StepReport::tokens` summed over wall time).
    pub tokens_per_second: f64,
    /// Gradient norm of the last step.
    pub grad_norm: f64,
}

/// Receives progress from `Trainer::run`. Called on the training thread.
pub trait TrainObserver {
    /// Every `logging_steps` steps.
    fn on_log(&mut self, _log: &TrainLog) {}
    /// After a checkpoint directory is complete on disk.
    fn on_checkpoint(&mut self, _step: usize, _dir: &Path) {}
}

/// Observer that ignores everything.
impl TrainObserver for () {}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// Steps completed.
    pub steps: usize,
    /// Loss of the last step.
    pub final_loss: Option<f64>,
    /// Mean loss over all steps.
    pub mean_loss: Option<f64>,
    /// Stopped by the cancellation flag.
    pub cancelled: bool,
    /// `output_dir/final` when an output directory was configured and the run finished.
    pub final_adapter: Option<PathBuf>,
    /// Wall time.
    pub seconds: f64,
}

struct AdamW {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: i32,
}

/// A LoRA training run that advances one optimiser step at a time.
pub struct Trainer {
    model: Arc<Model>,
    cfg: TrainConfig,
    data: Vec<EncodedExample>,
    adapter: LoraAdapter,
    vars: Vec<Var>,
    opt: AdamW,
    step: usize,
    total_steps: usize,
    batches_per_epoch: usize,
    micro_batches: usize,
    order: Vec<usize>,
    cursor: usize,
    rng: SplitMix64,
    started: Option<Instant>,
    samples_seen: usize,
    tokens_seen: usize,
    losses: Vec<f64>,
}

impl Trainer {
    /// Prepares a run: encodes and truncates the examples, initialises the adapter
    /// (B = 0, so step 0 is the base model) and the optimiser.
    pub fn new(model: Arc<Model>, examples: &[Example], cfg: TrainConfig) -> Result<Self> {
        let tok = model.tokenizer();
        let encoded = examples
            .iter()
            .map(|e| encode_example(tok, e, cfg.train_on_responses_only, cfg.max_length))
            .collect::<Result<Vec<_>>>()?;
        Self::from_encoded(model, encoded, cfg)
    }

    /// Like `new` for already encoded examples. Examples without any supervised token
    /// (for instance a response cut off by `max_length`) are dropped.
    pub fn from_encoded(
        model: Arc<Model>,
        examples: Vec<EncodedExample>,
        cfg: TrainConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        let vocab = model.config().vocab_size as u32;
        let total = examples.len();
        let mut data = Vec::with_capacity(total);
        for mut e in examples {
            if e.ids.iter().any(|&i| i >= vocab) {
                return Err(Error::Config("token id outside the model's vocabulary".into()));
            }
            if let Some(t) = e.targets.first_mut() {
                *t = false;
            }
            if e.num_targets() > 0 {
                data.push(e);
            }
        }
        if data.is_empty() {
            return Err(Error::NoTrainingData(format!(
                "none of the {total} examples has a token to train on"
            )));
        }
        let batches_per_epoch = data.len().div_ceil(cfg.batch_size);
        let updates_per_epoch = (batches_per_epoch / cfg.gradient_accumulation_steps).max(1);
        let total_steps = match cfg.max_steps {
            Some(s) => s,
            None => ((cfg.num_train_epochs * updates_per_epoch as f64).ceil() as usize).max(1),
        };
        let (adapter, vars) = LoraAdapter::init_trainable(
            model.config(),
            cfg.lora.clone(),
            model.name(),
            cfg.seed,
            model.device(),
        )?;
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        let opt = AdamW {
            m: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            t: 0,
        };
        let mut rng = SplitMix64::new(cfg.seed);
        let mut order: Vec<usize> = (0..data.len()).collect();
        rng.shuffle(&mut order);
        if cfg.bf16_matmul {
            // Both layouts now, so the first step is not the slow one.
            if let Some(p) = model.weights().bf16_packs()? {
                p.prepare_backward();
            }
        }
        Ok(Self {
            model,
            cfg,
            data,
            adapter,
            vars,
            opt,
            step: 0,
            total_steps,
            batches_per_epoch,
            micro_batches: 0,
            order,
            cursor: 0,
            rng,
            started: None,
            samples_seen: 0,
            tokens_seen: 0,
            losses: Vec::new(),
        })
    }

    /// Optimiser steps the run will take.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// Steps completed so far.
    pub fn current_step(&self) -> usize {
        self.step
    }

    /// Whether every step has run.
    pub fn is_finished(&self) -> bool {
        self.step >= self.total_steps
    }

    /// Examples actually used for training.
    pub fn num_examples(&self) -> usize {
        self.data.len()
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The live adapter (its tensors change with every step; see `LoraAdapter::snapshot`).
    pub fn adapter(&self) -> &LoraAdapter {
        &self.adapter
    }

    /// Fractional epochs consumed.
    pub fn epoch(&self) -> f64 {
        self.micro_batches as f64 / self.batches_per_epoch as f64
    }

    fn next_micro_batch(&mut self) -> Vec<usize> {
        if self.cursor >= self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.cursor = 0;
        }
        let end = (self.cursor + self.cfg.batch_size).min(self.order.len());
        let b = self.order[self.cursor..end].to_vec();
        self.cursor = end;
        self.micro_batches += 1;
        b
    }

    /// Sum of token NLLs of one micro-batch, and the loss tensor `sum / denom`.
    fn micro_batch_loss(&self, batch: &[usize], denom: f64) -> Result<(Tensor, f64, usize)> {
        let w = self.model.weights();
        let dev = self.model.device();
        let pad = self.model.tokenizer().specials().pad;
        let t = batch.iter().map(|&i| self.data[i].ids.len()).max().unwrap_or(1);
        let mut ids = Vec::with_capacity(batch.len() * t);
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (k, &i) in batch.iter().enumerate() {
            let e = &self.data[i];
            ids.extend(e.ids.iter().copied());
            ids.extend(std::iter::repeat_n(pad, t - e.ids.len()));
            for p in 1..e.ids.len() {
                if e.targets[p] {
                    rows.push((k * t + p - 1) as u32);
                    targets.push(e.ids[p]);
                }
            }
        }
        let ids = Tensor::from_vec(ids, (batch.len(), t), dev)?;
        let packs = if self.cfg.bf16_matmul { w.bf16_packs()? } else { None };
        let hidden = w.forward_hidden_bf16(&ids, Some(&self.adapter), None, packs.as_deref())?;
        let hidden = hidden.reshape((batch.len() * t, w.config().hidden_size))?;
        let rows = Tensor::from_vec(rows, targets.len(), dev)?;
        let sel = hidden.index_select(&rows, 0)?;
        let (loss, sum) = ops::head_cross_entropy_bf16(
            &sel,
            w.embed_tokens(),
            &targets,
            denom,
            w.config().final_logit_softcapping,
            packs.as_deref().map(|p| p.head().as_ref()),
        )
        .ctx(|| "loss".into())?;
        Ok((loss, sum, batch.len() * t))
    }

    /// Gradients of the step's loss with respect to the LoRA variables, summed over
    /// micro-batches. Exposed for tests of accumulation equivalence.
    fn gradients(&mut self) -> Result<(Vec<Tensor>, f64, usize, usize)> {
        let batches: Vec<Vec<usize>> =
            (0..self.cfg.gradient_accumulation_steps).map(|_| self.next_micro_batch()).collect();
        // HF normalises by the supervised tokens of the whole accumulated step, which
        // makes k micro-batches of n exactly equivalent to one batch of k*n.
        let denom: usize = batches.iter().flatten().map(|&i| self.data[i].num_targets()).sum();
        let mut grads: Vec<Option<Tensor>> = vec![None; self.vars.len()];
        let (mut nll, mut tokens, mut samples) = (0.0, 0, 0);
        for b in &batches {
            let (loss, sum, toks) = self.micro_batch_loss(b, denom as f64)?;
            let store = loss.backward().ctx(|| "backward pass".into())?;
            for (g, v) in grads.iter_mut().zip(&self.vars) {
                if let Some(x) = store.get(v.as_tensor()) {
                    *g = Some(match g.take() {
                        Some(acc) => (acc + x)?,
                        None => x.clone(),
                    });
                }
            }
            nll += sum;
            tokens += toks;
            samples += b.len();
        }
        let grads = grads
            .into_iter()
            .zip(&self.vars)
            .map(|(g, v)| g.map_or_else(|| v.as_tensor().zeros_like(), Ok))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((grads, nll / denom as f64, tokens, samples))
    }

    /// Runs one optimiser step (forward, backward, clip, AdamW).
    pub fn step(&mut self) -> Result<StepReport> {
        if self.is_finished() {
            return Err(Error::Config(format!("training already ran its {} steps", self.total_steps)));
        }
        let t0 = Instant::now();
        self.started.get_or_insert(t0);
        let (mut grads, loss, tokens, samples) = self.gradients()?;
        let mut sq = 0f64;
        for g in &grads {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
        let grad_norm = sq.sqrt();
        if let Some(max) = self.cfg.max_grad_norm {
            // torch.nn.utils.clip_grad_norm_'s rule.
            let coef = max / (grad_norm + 1e-6);
            if coef < 1.0 {
                for g in grads.iter_mut() {
                    *g = (&*g * coef)?;
                }
            }
        }
        let lr = self.cfg.learning_rate
            * self.cfg.lr_scheduler.factor(self.step, self.cfg.warmup_steps, self.total_steps);
        self.adamw(&grads, lr)?;
        self.step += 1;
        self.samples_seen += samples;
        self.tokens_seen += tokens;
        self.losses.push(loss);
        Ok(StepReport {
            step: self.step,
            loss,
            learning_rate: lr,
            epoch: self.epoch(),
            grad_norm,
            samples,
            tokens,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    fn adamw(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        let c = &self.cfg;
        let o = &mut self.opt;
        o.t += 1;
        let bc1 = 1.0 - c.adam_beta1.powi(o.t);
        let bc2 = 1.0 - c.adam_beta2.powi(o.t);
        for (i, (var, g)) in self.vars.iter().zip(grads).enumerate() {
            o.m[i] = ((&o.m[i] * c.adam_beta1)? + (g * (1.0 - c.adam_beta1))?)?;
            o.v[i] = ((&o.v[i] * c.adam_beta2)? + (g.sqr()? * (1.0 - c.adam_beta2))?)?;
            let denom = ((&o.v[i] / bc2)?.sqrt()? + c.adam_epsilon)?;
            let update = ((&o.m[i] / bc1)? / denom)?;
            let decayed = (var.as_tensor() * (1.0 - lr * c.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// Writes the current adapter as a PEFT checkpoint into `dir`.
    pub fn save_adapter(&self, dir: &Path) -> Result<()> {
        self.adapter.save_peft(dir)
    }

    /// Runs the remaining steps, reporting logs and checkpoints to `observer`, checking
    /// `cancel` before every step. Saves `output_dir/checkpoint-<step>` every
    /// `save_steps` and `output_dir/final` at the end.
    pub fn run(&mut self, observer: &mut dyn TrainObserver, cancel: &AtomicBool) -> Result<TrainSummary> {
        let t0 = Instant::now();
        let mut since_log = Vec::new();
        let mut last = None;
        while !self.is_finished() {
            if cancel.load(Ordering::Relaxed) {
                return Ok(self.summary(t0, true, None));
            }
            let r = self.step()?;
            since_log.push(r.loss);
            last = Some(r.clone());
            if r.step % self.cfg.logging_steps == 0 {
                let elapsed = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
                observer.on_log(&TrainLog {
                    step: r.step,
                    loss: since_log.iter().sum::<f64>() / since_log.len() as f64,
                    learning_rate: r.learning_rate,
                    epoch: r.epoch,
                    samples_per_second: self.samples_seen as f64 / elapsed.max(1e-9),
                    tokens_per_second: self.tokens_seen as f64 / elapsed.max(1e-9),
                    grad_norm: r.grad_norm,
                });
                since_log.clear();
            }
            if let (Some(every), Some(out)) = (self.cfg.save_steps, &self.cfg.output_dir) {
                if r.step % every == 0 {
                    let dir = out.join(format!("checkpoint-{}", r.step));
                    self.save_adapter(&dir)?;
                    observer.on_checkpoint(r.step, &dir);
                }
            }
        }
        let _ = last;
        let final_dir = match &self.cfg.output_dir {
            Some(out) => {
                let dir = out.join("final");
                self.save_adapter(&dir)?;
                Some(dir)
            }
            None => None,
        };
        Ok(self.summary(t0, false, final_dir))
    }

    fn summary(&self, t0: Instant, cancelled: bool, final_adapter: Option<PathBuf>) -> TrainSummary {
        TrainSummary {
            steps: self.step,
            final_loss: self.losses.last().copied(),
            mean_loss: if self.losses.is_empty() {
                None
            } else {
                Some(self.losses.iter().sum::<f64>() / self.losses.len() as f64)
            },
            cancelled,
            final_adapter,
            seconds: t0.elapsed().as_secs_f64(),
        }
    }
}

#[doc(hidden)]
impl Trainer {
    /// Test hook: the accumulated, unclipped gradients of the next step (consumes data).
    pub fn debug_gradients(&mut self) -> Result<Vec<Tensor>> {
        Ok(self.gradients()?.0)
    }

    /// Test hook: the trainable variables.
    pub fn debug_vars(&self) -> &[Var] {
        &self.vars
    }
}
