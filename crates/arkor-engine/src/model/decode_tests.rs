//! The decode pass against the full forward, and its rows against each other.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::*;
use crate::model::frozen::Precision;
use crate::model::gemma3::KvCache;
use crate::model::lora::LoraConfig;
use crate::model::Model;
use crate::rng::SplitMix64;

/// An adapter on every projection with random B (a fresh one has B = 0 and changes
/// nothing), snapshotted as loaded checkpoints are (with `A^T`, `B^T` held).
fn adapter(model: &Model, seed: u64) -> LoraAdapter {
    let cfg = LoraConfig { r: 4, alpha: 8.0, targets: Target::ALL.to_vec() };
    let (a, vars) = LoraAdapter::init_trainable(model.config(), cfg, "tiny", seed, &Device::Cpu).unwrap();
    let mut rng = SplitMix64::new(seed);
    for v in vars.iter().skip(1).step_by(2) {
        let n = v.elem_count();
        let b: Vec<f32> = (0..n).map(|_| 0.2 * rng.next_normal() as f32).collect();
        v.set(&Tensor::from_vec(b, v.shape(), &Device::Cpu).unwrap()).unwrap();
    }
    a.snapshot().unwrap()
}

fn prefill(w: &Gemma3, ids: &[u32], a: Option<&LoraAdapter>, frozen: &Frozen) -> SeqCache {
    let mut kv = KvCache::new();
    let input = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu).unwrap();
    w.forward_hidden(&input, a, Some(&mut kv), frozen).unwrap();
    let mut c = SeqCache::new(w.config(), ids.len() + 2);
    c.fill_from(&kv).unwrap();
    c
}

/// The logits of one pass over `rows`.
fn pass(w: &Gemma3, rows: &mut [Row<'_>]) -> Vec<f32> {
    let mut z = Vec::new();
    w.decode_rows(rows, &mut z).unwrap();
    z
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Prefill then one token at a time through the decode pass gives the logits of the
/// full forward at every position, past the sliding window (4 on the tiny model) and
/// beyond the cache's first capacity (it grows), base and adapted.
#[test]
fn decoding_matches_the_full_forward() {
    let model = Model::tiny(0).unwrap();
    let w = model.weights();
    let a = adapter(&model, 3);
    let ids: Vec<u32> = (0..19).map(|i| 40 + (i * 37 % 200) as u32).collect();
    let p = 5;
    for ad in [None, Some(&a)] {
        let full = w.forward(&Tensor::from_slice(&ids, (1, ids.len()), &Device::Cpu).unwrap(), ad).unwrap();
        let full = full.squeeze(0).unwrap();
        let mut cache = prefill(w, &ids[..p], ad, &Frozen::F32);
        for t in p..ids.len() {
            let mut rows = [Row { tokens: &ids[t..t + 1], cache: &mut cache, adapter: ad, frozen: &Frozen::F32, logits: true }];
            let z = pass(w, &mut rows);
            cache.commit(1);
            let want = full.get(t).unwrap().to_vec1::<f32>().unwrap();
            let d = max_abs_diff(&z, &want);
            assert!(d < 1e-4, "position {t}, adapter {}: max |diff| {d}", ad.is_some());
        }
        assert_eq!(cache.len(), ids.len());
        assert!(cache.cap >= ids.len());
    }
}

/// Each row's logits are bit for bit those of the same row decoded alone, whatever
/// shares the pass: base and adapted rows, two rows on one adapter, different
/// positions, in f32, bf16 and Q8.
#[test]
fn rows_do_not_depend_on_each_other() {
    let model = Arc::new(Model::tiny(0).unwrap());
    let w = model.weights();
    let (a, b) = (adapter(&model, 1), adapter(&model, 2));
    let precisions = [Precision::F32, Precision::Bf16, Precision::Q8].map(|p| w.frozen(p).unwrap());
    for frozen in &precisions {
        let prompts: [&[u32]; 5] = [&[2, 50, 60], &[2, 70, 80, 90, 100, 110, 120], &[2, 55], &[2, 99, 98, 97, 96], &[2, 61, 62, 63]];
        let adapters = [None, Some(&a), Some(&a), Some(&b), None];
        let mut caches: Vec<SeqCache> = prompts.iter().zip(adapters).map(|(p, ad)| prefill(w, p, ad, frozen)).collect();
        let mut tokens: Vec<u32> = vec![300, 301, 302, 303, 304];
        for _ in 0..7 {
            let mut alone = Vec::new();
            for i in 0..5 {
                let mut copy = caches[i].clone();
                let mut rows = [Row { tokens: &tokens[i..i + 1], cache: &mut copy, adapter: adapters[i], frozen, logits: true }];
                alone.push(pass(w, &mut rows));
            }
            let mut rows: Vec<Row> = caches
                .iter_mut()
                .zip(tokens.chunks(1))
                .zip(adapters)
                .map(|((cache, tokens), adapter)| Row { tokens, cache, adapter, frozen, logits: true })
                .collect();
            let vocab = model.config().vocab_size;
            let together: Vec<Vec<f32>> = pass(w, &mut rows).chunks(vocab).map(<[f32]>::to_vec).collect();
            for i in 0..5 {
                assert!(together[i] == alone[i], "row {i} ({}) differs in a batch: max |diff| {}", frozen.precision().as_str(), max_abs_diff(&together[i], &alone[i]));
                let argmax = together[i].iter().enumerate().fold(0, |m, (j, &v)| if v > together[i][m] { j } else { m });
                tokens[i] = argmax as u32;
            }
            caches.iter_mut().for_each(|c| c.commit(1));
        }
    }
}

/// A prompt fed through the pass in chunks (of 1, 3 and 5 tokens, beside other rows
/// that decode, and past the sliding window) leaves the same cache, bit for bit, and
/// gives the same logits after it as the prompt fed whole, in f32, bf16 and Q8; and the
/// whole prompt's logits match the full forward's (within 1e-4 in f32).
#[test]
fn a_prompt_fed_in_chunks_equals_it_fed_whole() {
    let model = Arc::new(Model::tiny(0).unwrap());
    let w = model.weights();
    let a = adapter(&model, 4);
    let ids: Vec<u32> = (0..17).map(|i| 30 + (i * 53 % 300) as u32).collect();
    let full = w.forward(&Tensor::from_slice(&ids, (1, ids.len()), &Device::Cpu).unwrap(), Some(&a)).unwrap();
    let want_last = full.squeeze(0).unwrap().get(ids.len() - 1).unwrap().to_vec1::<f32>().unwrap();
    for precision in [Precision::F32, Precision::Bf16, Precision::Q8] {
        let frozen = &w.frozen(precision).unwrap();
        let mut whole = SeqCache::new(w.config(), 4);
        let z_whole = pass(w, &mut [Row { tokens: &ids, cache: &mut whole, adapter: Some(&a), frozen, logits: true }]);
        whole.commit(ids.len());
        if precision == Precision::F32 {
            let d = max_abs_diff(&z_whole, &want_last);
            assert!(d < 1e-4, "the whole prompt through the pass against the full forward: max |diff| {d}");
        }
        for chunk in [1, 3, 5] {
            let mut cache = SeqCache::new(w.config(), 4);
            // A sequence that decodes beside the chunks, as in a batch.
            let mut other = prefill(w, &[2, 70, 80], None, frozen);
            let mut z = Vec::new();
            for (k, part) in ids.chunks(chunk).enumerate() {
                let last = (k + 1) * chunk >= ids.len();
                let t = [300 + k as u32];
                let mut rows = [
                    Row { tokens: &t, cache: &mut other, adapter: None, frozen, logits: true },
                    Row { tokens: part, cache: &mut cache, adapter: Some(&a), frozen, logits: last },
                ];
                z = pass(w, &mut rows);
                rows[0].cache.commit(1);
                rows[1].cache.commit(part.len());
            }
            let vocab = w.config().vocab_size;
            assert_eq!(z.len(), 2 * vocab);
            assert!(z[vocab..] == z_whole[..], "{}: chunks of {chunk}: the logits differ", precision.as_str());
            assert_eq!(cache.len(), whole.len());
            for l in 0..w.config().num_hidden_layers {
                let n = cache.len() * w.config().head_dim;
                assert!(cache.layer_prefix(l, n) == whole.layer_prefix(l, n), "{}: chunks of {chunk}: layer {l}'s cache differs", precision.as_str());
            }
        }
    }
}
