//! Picking the next token from the logits: greedy, or temperature with top-p.

use crate::kernels::simd;
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
/// otherwise a draw from the tempered softmax restricted to the top-p nucleus (the most
/// likely tokens, most likely first and lower ids first among equals, until their mass
/// reaches `top_p` of the whole).
pub(super) fn sample(z: &[f32], p: &SamplingParams, rng: &mut SplitMix64) -> u32 {
    if p.temperature <= 0.0 {
        return argmax(z);
    }
    let inv_t = 1.0 / p.temperature;
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let weights: Vec<f64> = z.iter().map(|&v| ((v as f64 - m) * inv_t).exp()).collect();
    let total: f64 = weights.iter().sum();
    if p.top_p >= 1.0 {
        let mut u = rng.next_f64() * total;
        for (i, &w) in weights.iter().enumerate() {
            if u < w {
                return i as u32;
            }
            u -= w;
        }
        return argmax(z);
    }
    let kept = nucleus(&weights, total * p.top_p);
    let kept_total: f64 = kept.iter().map(|x| x.0).sum();
    let mut u = rng.next_f64() * kept_total;
    for &(w, i) in &kept {
        if u < w {
            return i;
        }
        u -= w;
    }
    kept.last().map_or_else(|| argmax(z), |x| x.1)
}

/// Most likely first, lower id first among equals.
fn by_weight(a: &(f64, u32), b: &(f64, u32)) -> std::cmp::Ordering {
    b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1))
}

/// The shortest run of the heaviest tokens (in [`by_weight`] order) whose weights sum to
/// `mass` or more. Sorting all 262,144 weights per token cost tens of milliseconds, more
/// than a decode step; a nucleus is usually a few dozen tokens, so only the heaviest `k`
/// are selected and sorted, `k` growing until they hold the mass.
fn nucleus(weights: &[f64], mass: f64) -> Vec<(f64, u32)> {
    let mut all: Vec<(f64, u32)> = weights.iter().enumerate().map(|(i, &w)| (w, i as u32)).collect();
    let n = all.len();
    let mut k = 64.min(n);
    loop {
        if k < n {
            all.select_nth_unstable_by(k - 1, by_weight);
        }
        let top = &mut all[..k];
        top.sort_by(by_weight);
        let mut acc = 0.0;
        if let Some(end) = top.iter().position(|x| {
            acc += x.0;
            acc >= mass
        }) {
            all.truncate(end + 1);
            return all;
        }
        if k == n {
            return all;
        }
        k = (k * 8).min(n);
    }
}

/// The first index of the largest logit ([`simd::argmax`]).
fn argmax(z: &[f32]) -> u32 {
    simd::argmax(z) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nucleus by a full sort, as it was computed before.
    fn nucleus_by_sorting(weights: &[f64], mass: f64) -> Vec<(f64, u32)> {
        let mut all: Vec<(f64, u32)> = weights.iter().enumerate().map(|(i, &w)| (w, i as u32)).collect();
        all.sort_by(by_weight);
        let mut acc = 0.0;
        let end = all.iter().position(|x| {
            acc += x.0;
            acc >= mass
        });
        all.truncate(end.map_or(all.len(), |e| e + 1));
        all
    }

    #[test]
    fn partial_selection_finds_the_sorted_nucleus() {
        let mut rng = SplitMix64::new(5);
        for (n, spread) in [(10, 1.0), (1000, 0.5), (5000, 8.0), (70_000, 3.0), (262_144, 6.0)] {
            // Repeated values check the tie order.
            let z: Vec<f64> = (0..n).map(|_| (spread * rng.next_normal() * 4.0).round() / 4.0).collect();
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let total: f64 = w.iter().sum();
            for top_p in [1e-6, 0.3, 0.9, 0.95, 0.999, 1.0] {
                let got = nucleus(&w, total * top_p);
                assert_eq!(got, nucleus_by_sorting(&w, total * top_p), "n {n}, top_p {top_p}");
                assert!(!got.is_empty());
            }
        }
    }
}
