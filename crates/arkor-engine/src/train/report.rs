//! What a training run tells its caller: per-step reports, periodic logs, the
//! observer that receives them, and the summary at the end.

use std::path::{Path, PathBuf};

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
    /// Tokens forwarded: the examples' tokens, supervised or not (padding is never
    /// forwarded).
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
    /// Loss on the eval rows after this step, on eval steps (`eval_steps` and the
    /// last step); None otherwise.
    pub eval_loss: Option<f64>,
}

/// One pass over the eval rows.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    /// Mean negative log-likelihood per supervised token.
    pub loss: f64,
    /// Rows evaluated.
    pub rows: usize,
    /// Tokens forwarded (the rows' own; padding is never forwarded).
    pub tokens: usize,
    /// Wall time of the pass.
    pub seconds: f64,
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
    /// Eval loss of the last eval pass, when the run evaluated.
    pub eval_loss: Option<f64>,
    /// Wall time spent in eval passes (part of `seconds`).
    pub eval_seconds: f64,
}
