//! One padded batch of encoded examples as the forward pass and the loss take it,
//! shared by the training step and the eval pass so both see the same tokens.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result, TensorContext};
use crate::model::chat::EncodedExample;
use crate::model::frozen::Frozen;
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

/// Right-padded ids of a batch and the positions whose next token is supervised.
pub(super) struct Batch {
    /// `(batch, t)` token ids.
    pub ids: Tensor,
    /// Flat `(b * t + p)` rows of the hidden states that predict a target.
    pub rows: Tensor,
    /// The target token of each row.
    pub targets: Vec<u32>,
    /// Tokens forwarded, padding included.
    pub tokens: usize,
}

impl Batch {
    pub(super) fn new(examples: &[&EncodedExample], pad: u32, dev: &Device) -> Result<Self> {
        let t = examples.iter().map(|e| e.ids.len()).max().unwrap_or(1);
        let mut ids = Vec::with_capacity(examples.len() * t);
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (k, e) in examples.iter().enumerate() {
            ids.extend(e.ids.iter().copied());
            ids.extend(std::iter::repeat_n(pad, t - e.ids.len()));
            for p in 1..e.ids.len() {
                if e.targets[p] {
                    rows.push((k * t + p - 1) as u32);
                    targets.push(e.ids[p]);
                }
            }
        }
        let n = targets.len();
        Ok(Self {
            ids: Tensor::from_vec(ids, (examples.len(), t), dev)?,
            rows: Tensor::from_vec(rows, n, dev)?,
            targets,
            tokens: examples.len() * t,
        })
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
        let (b, t) = self.ids.dims2()?;
        let hidden = w.forward_hidden(&self.ids, Some(adapter), None, &frozen)?;
        let hidden = hidden.reshape((b * t, w.config().hidden_size))?;
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
