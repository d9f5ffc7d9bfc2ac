//! The held-out loss: the caller's eval rows through the current adapter, batched,
//! with no gradient kept, and the frozen products in bf16 exactly when training uses
//! them, so the number is comparable with the training loss.

use std::time::Instant;

use super::batch::{usable, Batch};
use super::report::EvalReport;
use crate::error::Result;
use crate::model::chat::EncodedExample;
use crate::model::frozen::Precision;
use crate::model::lora::LoraAdapter;
use crate::model::Model;

/// Encoded eval rows, shortest first so each batch's attention pads little.
pub(super) struct EvalSet {
    data: Vec<EncodedExample>,
}

impl EvalSet {
    pub(super) fn new(model: &Model, examples: Vec<EncodedExample>) -> Result<Self> {
        let mut data = usable(model, examples)?;
        data.sort_by_key(|e| e.ids.len());
        Ok(Self { data })
    }

    pub(super) fn len(&self) -> usize {
        self.data.len()
    }

    /// Mean NLL per supervised token over every row (HF's `eval_loss` up to its
    /// per-batch weighting, which this avoids so batch size cannot move it).
    pub(super) fn evaluate(&self, model: &Model, adapter: &LoraAdapter, batch_size: usize, bf16: bool) -> Result<EvalReport> {
        let t0 = Instant::now();
        let frozen = model.weights().frozen(if bf16 { Precision::Bf16 } else { Precision::F32 })?;
        // Batches side by side as a training step's parts run (crate::sharing), their
        // sums added in batch order so the result does not depend on timing.
        let chunks: Vec<&[EncodedExample]> = self.data.chunks(batch_size.max(1)).collect();
        let per_batch = crate::sharing::map_side_by_side(&chunks, |chunk| -> Result<(f64, usize, usize)> {
            let refs: Vec<&EncodedExample> = chunk.iter().collect();
            let b = Batch::new(&refs, model.device())?;
            Ok((b.nll(model, adapter, &frozen)?, b.targets.len(), b.tokens))
        });
        let (mut nll, mut targets, mut tokens) = (0.0, 0usize, 0usize);
        for r in per_batch {
            let (n, t, k) = r?;
            nll += n;
            targets += t;
            tokens += k;
        }
        Ok(EvalReport { loss: nll / targets.max(1) as f64, rows: self.data.len(), tokens, seconds: t0.elapsed().as_secs_f64() })
    }
}
