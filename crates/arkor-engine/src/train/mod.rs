//! LoRA fine-tuning: AdamW on the adapter only, HF-style schedules, gradient
//! accumulation, periodic logs and PEFT checkpoints.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Tensor, Var};

use crate::error::{Error, Result, TensorContext};
use crate::model::chat::{encode_example, EncodedExample, Example};
use crate::model::frozen::Precision;
use crate::model::lora::LoraAdapter;
use crate::model::Model;
use crate::ops;
use crate::rng::SplitMix64;

mod batch;
mod config;
mod eval;
mod report;

use batch::{usable, Batch};
pub use config::{LrScheduler, TrainConfig};
use eval::EvalSet;
pub use report::{EvalReport, StepReport, TrainLog, TrainObserver, TrainSummary};

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
    eval: Option<EvalSet>,
    eval_loss: Option<f64>,
    eval_seconds: f64,
}

/// How many parts of a micro-batch run side by side, each its own forward and backward
/// on the pool's threads, their gradients summed in part order. Much of a step is
/// candle's graph work (element-wise ops, the backward's bookkeeping and copies), which
/// runs on one thread; two parts keep both cores of a small machine busy through it
/// (1.2-1.3x the steps per second on 2 cores, engine README), except while generation
/// shares the cores (`crate::sharing`: then they run in turn on one core). A constant,
/// not the core count, so a seed gives the same numbers on every machine.
const PARTS: usize = 2;

/// What one part of a micro-batch gives: each variable's gradient of the part's share
/// of the loss (None where it has none), its summed NLL and its tokens.
struct PartGradients {
    grads: Vec<Option<Tensor>>,
    nll: f64,
    tokens: usize,
}

/// The rows `items` (indices into `data`) dealt into at most `n` parts of about equal
/// tokens: longest first, each to the part with the fewest tokens so far.
fn balanced_parts(items: &[usize], data: &[EncodedExample], n: usize) -> Vec<Vec<usize>> {
    let n = n.clamp(1, items.len().max(1));
    let mut order = items.to_vec();
    order.sort_by_key(|&i| std::cmp::Reverse(data[i].ids.len()));
    let mut parts: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); n];
    for i in order {
        let lightest = parts.iter_mut().min_by_key(|(tokens, _)| *tokens).expect("n >= 1");
        lightest.0 += data[i].ids.len();
        lightest.1.push(i);
    }
    parts.into_iter().map(|(_, p)| p).filter(|p| !p.is_empty()).collect()
}

impl Trainer {
    /// Prepares a run: encodes and truncates the examples, initialises the adapter
    /// (B = 0, so step 0 is the base model) and the optimiser.
    pub fn new(model: Arc<Model>, examples: &[Example], cfg: TrainConfig) -> Result<Self> {
        let context = model.config().max_position_embeddings;
        if let Some(m) = cfg.max_length.filter(|&m| m > context) {
            // Attention's memory grows with the square of a row's length, so a row far
            // past the context could exhaust memory before anything else refused it.
            return Err(Error::Config(format!(
                "maxLength {m} is longer than {}'s context of {context} tokens: set it to at most {context}",
                model.name()
            )));
        }
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
        let total = examples.len();
        let data = usable(&model, examples)?;
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
            eval: None,
            eval_loss: None,
            eval_seconds: 0.0,
        })
    }

    /// Gives the run its eval rows (held out by the caller: they never enter a
    /// training batch, since the trainer only ever batches its own examples), encoded
    /// as the training rows are. Rows without a supervised token are dropped; none
    /// left is an error, since an eval loss of nothing means nothing.
    pub fn with_eval(self, examples: &[Example]) -> Result<Self> {
        let tok = self.model.tokenizer();
        let encoded = examples
            .iter()
            .map(|e| encode_example(tok, e, self.cfg.train_on_responses_only, self.cfg.max_length))
            .collect::<Result<Vec<_>>>()?;
        self.with_encoded_eval(encoded)
    }

    /// Like `with_eval` for already encoded rows.
    pub fn with_encoded_eval(mut self, examples: Vec<EncodedExample>) -> Result<Self> {
        let total = examples.len();
        let set = EvalSet::new(&self.model, examples)?;
        if set.len() == 0 {
            return Err(Error::NoTrainingData(format!("none of the {total} eval examples has a token to score")));
        }
        self.eval = Some(set);
        Ok(self)
    }

    /// Eval rows the run scores (after dropping unsupervised ones); 0 without eval.
    pub fn num_eval_examples(&self) -> usize {
        self.eval.as_ref().map_or(0, EvalSet::len)
    }

    /// Scores the eval rows with the adapter as it is now; None without eval rows.
    pub fn evaluate(&self) -> Result<Option<EvalReport>> {
        self.eval
            .as_ref()
            .map(|e| e.evaluate(&self.model, &self.adapter, self.cfg.batch_size, self.cfg.bf16_matmul))
            .transpose()
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
        let rows: Vec<&EncodedExample> = batch.iter().map(|&i| &self.data[i]).collect();
        let b = Batch::new(&rows, self.model.device())?;
        let frozen = w.frozen(if self.cfg.bf16_matmul { Precision::Bf16 } else { Precision::F32 })?;
        let sel = b.hidden(&self.model, &self.adapter, &frozen)?;
        let (loss, sum) = ops::head_cross_entropy(
            &sel,
            w.embed_tokens(),
            &b.targets,
            denom,
            w.config().final_logit_softcapping,
            frozen.bf16().map(|p| p.head().as_ref()),
        )
        .ctx(|| "loss".into())?;
        Ok((loss, sum, b.tokens))
    }

    /// One part of a micro-batch through forward and backward.
    fn part_gradients(&self, part: &[usize], denom: f64) -> Result<PartGradients> {
        let (loss, nll, tokens) = self.micro_batch_loss(part, denom)?;
        let store = loss.backward().ctx(|| "backward pass".into())?;
        Ok(PartGradients { grads: self.vars.iter().map(|v| store.get(v.as_tensor()).cloned()).collect(), nll, tokens })
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
            let parts = balanced_parts(b, &self.data, PARTS);
            let results = crate::sharing::map_side_by_side(&parts, |part| self.part_gradients(part, denom as f64));
            for r in results {
                let part = r?;
                for (g, x) in grads.iter_mut().zip(part.grads) {
                    if let Some(x) = x {
                        *g = Some(match g.take() {
                            Some(acc) => (acc + x)?,
                            None => x,
                        });
                    }
                }
                nll += part.nll;
                tokens += part.tokens;
            }
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
        let diverged = |what, value| Error::Diverged { step: self.step + 1, what, value };
        if !loss.is_finite() {
            return Err(diverged("loss", loss));
        }
        let mut sq = 0f64;
        for g in &grads {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
        let grad_norm = sq.sqrt();
        if !grad_norm.is_finite() {
            return Err(diverged("gradient norm", grad_norm));
        }
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
        // A finite loss and gradient can still take a step too large for f32 (a huge rate
        // or decay); the adapter would then be saved as infinities.
        let mut weights = 0f64;
        for v in &self.vars {
            weights += v.as_tensor().abs()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
        if !weights.is_finite() {
            return Err(Error::Diverged { step: self.step + 1, what: "adapter's weights' sum", value: weights });
        }
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
    ///
    /// With `eval_steps` set, every `eval_steps`-th step and the last one also score
    /// the eval rows and always log, with `eval_loss` set.
    pub fn run(&mut self, observer: &mut dyn TrainObserver, cancel: &AtomicBool) -> Result<TrainSummary> {
        if self.cfg.eval_steps.is_some() && self.eval.is_none() {
            return Err(Error::Config("evalSteps is set but the run was given no eval rows (Trainer::with_eval)".into()));
        }
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
            let eval_now = self.cfg.eval_steps.is_some_and(|every| r.step % every == 0 || self.is_finished());
            let eval_loss = if eval_now {
                let e = self.evaluate()?.expect("eval rows checked above");
                self.eval_seconds += e.seconds;
                self.eval_loss = Some(e.loss);
                Some(e.loss)
            } else {
                None
            };
            if r.step % self.cfg.logging_steps == 0 || eval_now {
                let elapsed = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
                observer.on_log(&TrainLog {
                    step: r.step,
                    loss: since_log.iter().sum::<f64>() / since_log.len() as f64,
                    learning_rate: r.learning_rate,
                    epoch: r.epoch,
                    samples_per_second: self.samples_seen as f64 / elapsed.max(1e-9),
                    tokens_per_second: self.tokens_seen as f64 / elapsed.max(1e-9),
                    grad_norm: r.grad_norm,
                    eval_loss,
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
            eval_loss: self.eval_loss,
            eval_seconds: self.eval_seconds,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_take_every_row_once_with_balanced_tokens() {
        let row = |n: usize| EncodedExample { ids: vec![2; n], targets: vec![true; n] };
        let data: Vec<EncodedExample> = [90, 10, 40, 50, 60].into_iter().map(row).collect();
        let parts = balanced_parts(&[0, 1, 2, 3, 4], &data, 2);
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        let tokens: Vec<usize> = parts.iter().map(|p| p.iter().map(|&i| data[i].ids.len()).sum()).collect();
        assert_eq!(tokens, vec![130, 120], "longest first, each to the lighter part: {parts:?}");
        assert_eq!(balanced_parts(&[3], &data, 2), vec![vec![3]], "one row is one part");
        assert_eq!(balanced_parts(&[], &data, 2), Vec::<Vec<usize>>::new());
    }

    /// A step's parts give the same numbers side by side as one after the other (what
    /// they do while generation shares the cores), so generation beside a job never
    /// changes what the job learns.
    #[test]
    fn parts_side_by_side_or_in_turn_give_the_same_step() {
        use crate::model::chat::ChatMessage;
        let model = Arc::new(Model::tiny(0).unwrap());
        let chat = |u: &str, a: &str| Example::Chat(vec![ChatMessage::new("user", u), ChatMessage::new("assistant", a)]);
        let data = [chat("Name a colour.", "Blue."), chat("Say hello.", "Hello! How are you?"), chat("Two plus two?", "Four."), chat("Who are you?", "A tiny model.")];
        // bf16 products as the local backend trains (ignored on CPUs without AVX512_BF16).
        let cfg = TrainConfig { batch_size: 4, max_steps: Some(3), learning_rate: 1e-2, bf16_matmul: true, ..TrainConfig::default() };
        let run = |in_turn: bool| -> Vec<f64> {
            let mut t = Trainer::new(model.clone(), &data, cfg.clone()).unwrap();
            (0..3)
                .map(|_| {
                    crate::sharing::ASSUME.with(|a| a.set(Some(in_turn)));
                    t.step().unwrap().loss
                })
                .collect()
        };
        let (in_turn, side_by_side) = (run(true), run(false));
        assert_eq!(in_turn, side_by_side);
        assert!(in_turn[2] < in_turn[0], "it learns: {in_turn:?}");
    }
}
