//! Picking the next token from the logits: greedy, or temperature with top-p.

use crate::model::frozen::Precision;
use crate::rng::SplitMix64;

/// Sampling settings of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// 0 means greedy (argmax, lowest id on ties).
    pub temperature: f64,
    /// Nucleus sampling mass in (0, 1]; 1 disables it.
    pub top_p: f64,
    /// Seed of the sampler; the same seed and inputs give the same text.
    pub seed: u64,
    /// Stop at `<end_of_turn>` as well as `<eos>` (the chat default).
    pub stop_at_end_of_turn: bool,
    /// How the products through the frozen weights (projections and head) are computed:
    /// f32 (the default), bf16 or Q8 ([`Precision`]). Activations, LoRA factors,
    /// attention and sampling stay f32 in every case.
    pub precision: Precision,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { max_tokens: 256, temperature: 0.0, top_p: 1.0, seed: 0, stop_at_end_of_turn: true, precision: Precision::F32 }
    }
}

/// The next token from logits `z`: argmax (lowest id on ties) at temperature 0,
/// otherwise a draw from the tempered softmax restricted to the top-p nucleus.
pub(super) fn sample(z: &[f32], p: &SamplingParams, rng: &mut SplitMix64) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &v) in z.iter().enumerate() {
            if v > z[best] {
                best = i;
            }
        }
        best as u32
    };
    if p.temperature <= 0.0 {
        return argmax();
    }
    let inv_t = 1.0 / p.temperature;
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut probs: Vec<(f64, u32)> =
        z.iter().enumerate().map(|(i, &v)| (((v as f64 - m) * inv_t).exp(), i as u32)).collect();
    if p.top_p < 1.0 {
        probs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
        let total: f64 = probs.iter().map(|x| x.0).sum();
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (k, x) in probs.iter().enumerate() {
            acc += x.0 / total;
            if acc >= p.top_p {
                keep = k + 1;
                break;
            }
        }
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().map(|x| x.0).sum();
    let mut u = rng.next_f64() * total;
    for &(w, i) in &probs {
        if u < w {
            return i;
        }
        u -= w;
    }
    probs.last().map_or_else(argmax, |x| x.1)
}
