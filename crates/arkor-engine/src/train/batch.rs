//! One batch of encoded examples as the forward pass and the loss take it,
//! shared by the training step and the eval pass so both see the same tokens.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result, TensorContext};
use crate::model::chat::EncodedExample;
use crate::model::frozen::Frozen;
use crate::model::gemma3::Packed;
use crate::model::Model;
use crate::ops;

/// Keeps the examples a run can learn from: checks every id against the vocabulary,
/// unmarks the first token (nothing predicts it) and drops examples left without a
/// supervised token (a response cut off by `max_length`, say).
pub(super) fn usable(model: &Model, examples: Vec<EncodedExample>) -> Result<Vec<EncodedExample>> {
    let vocab = model.config().vocab_size as u32;
    let mut out = Vec::with_capacity(examples.len());
    for mut e in examples {
        if e.ids.iter().any(|&i| i >= vocab) {
            return Err(Error::Config("token id outside the model's vocabulary".into()));
        }
        if let Some(t) = e.targets.first_mut() {
            *t = false;
        }
        if e.num_targets() > 0 {
            out.push(e);
        }
    }
    Ok(out)
}

/// A batch's tokens, packed (no padding is forwarded), and the positions whose next
/// token is supervised.
pub(super) struct Batch {
    packed: Packed,
    /// Packed rows of the hidden states that predict a target.
    pub rows: Tensor,
    /// The target token of each row.
    pub targets: Vec<u32>,
    /// Tokens forwarded.
    pub tokens: usize,
}

impl Batch {
    pub(super) fn new(examples: &[&EncodedExample], dev: &Device) -> Result<Self> {
        let seqs: Vec<&[u32]> = examples.iter().map(|e| e.ids.as_slice()).collect();
        let packed = Packed::new(&seqs, dev)?;
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        let mut start = 0;
        for e in examples {
            for p in 1..e.ids.len() {
                if e.targets[p] {
                    rows.push((start + p - 1) as u32);
                    targets.push(e.ids[p]);
                }
            }
            start += e.ids.len();
        }
        let n = targets.len();
        Ok(Self { rows: Tensor::from_vec(rows, n, dev)?, targets, tokens: packed.len(), packed })
    }

    /// Final-normed hidden states of the rows that predict a target, through the base
    /// weights plus `adapter`, the frozen products reading `frozen`'s copies.
    pub(super) fn hidden(
        &self,
        model: &Model,
        adapter: &crate::model::lora::LoraAdapter,
        frozen: &Frozen,
    ) -> Result<Tensor> {
        let w = model.weights();
        let hidden = w.forward_packed(&self.packed, Some(adapter), frozen)?;
        let hidden = hidden.reshape((self.packed.len(), w.config().hidden_size))?;
        hidden.index_select(&self.rows, 0).ctx(|| "selecting the supervised positions".into())
    }

    /// Summed NLL of the batch's targets, without gradients.
    pub(super) fn nll(
        &self,
        model: &Model,
        adapter: &crate::model::lora::LoraAdapter,
        frozen: &Frozen,
    ) -> Result<f64> {
        let w = model.weights();
        let sel = self.hidden(model, adapter, frozen)?;
        ops::head_nll(&sel, w.embed_tokens(), &self.targets, w.config().final_logit_softcapping, frozen.bf16().map(|p| p.head().as_ref()))
            .ctx(|| "eval loss".into())
    }
}
