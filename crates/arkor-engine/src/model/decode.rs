//! One decode step for several sequences at once: each row feeds one token at its own
//! position, against its own key/value cache and, optionally, its own LoRA adapter.
//!
//! The products through the frozen weights (the seven projections and the head) run
//! once over all rows, through the same dispatch as every other forward
//! ([`super::gemma3::linear`], [`Gemma3::logits`]), so a step reads each weight once
//! however many sequences it advances. Everything else is per row: the norms, the
//! rotary embedding, attention over the row's own cache, and the LoRA deltas (rows
//! that share an adapter go through its thin products together).
//!
//! **Rows never see each other.** A request must decode the same text alone or in a
//! batch, so a row's arithmetic may not depend on the other rows:
//! - the bf16 GEMM ([`crate::kernels::bf16`]) computes each output row with the same
//!   instructions in the same order whatever the number of rows (its micro-tiles only
//!   repeat one row's work, and the reduction is blocked by a fixed size), and so
//!   does the Q8 product ([`crate::kernels::q8`]: each row quantised and summed on
//!   its own), so rows on the same bf16 or Q8 copies share one call;
//! - the f32 GEMM (the gemm crate) picks its kernel and blocking by the number of
//!   rows, so rows in f32 are multiplied one at a time;
//! - the low-rank kernels give each row the same FMA sequence on AVX-512; without it
//!   they fall back to the gemm crate, so each row then gets its own call;
//! - the element-wise parts here are written per row.

use std::ops::Deref;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::{lowrank, simd};
use crate::model::config::ModelConfig;
use crate::model::frozen::Frozen;
use crate::model::gemma3::{linear, Block, Gemma3, KvCache};
use crate::model::lora::{LoraAdapter, Target};
use crate::ops::F32Slice;

/// Attention work (cached positions times query heads, summed over the rows) above
/// which a layer's attention is spread over the thread pool; below it, waking threads
/// costs more than the few microseconds of work.
const PARALLEL_ATTENTION: usize = 4096;

/// The keys and values of one sequence, allocated once for the positions it may reach
/// rather than concatenated every step. Per layer, `(kv heads, capacity, head_dim)`
/// keys and the same for values. Allocated zeroed, so the operating system commits
/// pages only as positions fill.
#[derive(Debug, Clone)]
pub struct SeqCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    nkv: usize,
    hd: usize,
    cap: usize,
    len: usize,
}

impl SeqCache {
    /// Room for `capacity` positions of a `c`-shaped model.
    pub fn new(c: &ModelConfig, capacity: usize) -> Self {
        let (nkv, hd, cap) = (c.num_key_value_heads, c.head_dim, capacity.max(1));
        let buf = || (0..c.num_hidden_layers).map(|_| vec![0f32; nkv * cap * hd]).collect();
        Self { k: buf(), v: buf(), nkv, hd, cap, len: 0 }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Room for `n` positions, keeping what is cached; at least doubles, so a sequence
    /// that outgrows its estimate copies rarely.
    fn reserve(&mut self, n: usize) {
        if n <= self.cap {
            return;
        }
        let (cap, hd, len) = (n.max(2 * self.cap), self.hd, self.len);
        for buf in self.k.iter_mut().chain(self.v.iter_mut()) {
            let mut grown = vec![0f32; self.nkv * cap * hd];
            for h in 0..self.nkv {
                let (src, dst) = (h * self.cap * hd, h * cap * hd);
                grown[dst..dst + len * hd].copy_from_slice(&buf[src..src + len * hd]);
            }
            *buf = grown;
        }
        self.cap = cap;
    }

    /// Takes over the keys and values a one-sequence prefill left in `kv`.
    pub(crate) fn fill_from(&mut self, kv: &KvCache) -> Result<()> {
        let t = kv.len();
        self.reserve(t);
        let (cap, hd, nkv) = (self.cap, self.hd, self.nkv);
        for l in 0..self.k.len() {
            let (k, v) = kv.layer(l).ok_or_else(|| Error::Config(format!("the prefill left layer {l} uncached")))?;
            for (src, dst) in [(k, &mut self.k[l]), (v, &mut self.v[l])] {
                // (1, nkv, t, hd)
                let src = src.to_device(&Device::Cpu)?.contiguous()?;
                let s = F32Slice::new(&src)?;
                if s.len() != nkv * t * hd {
                    return Err(Error::Config(format!("the prefill's layer {l} cache has {} values, expected {}", s.len(), nkv * t * hd)));
                }
                for h in 0..nkv {
                    dst[h * cap * hd..h * cap * hd + t * hd].copy_from_slice(&s[h * t * hd..(h + 1) * t * hd]);
                }
            }
        }
        self.len = t;
        Ok(())
    }

    /// Writes layer `l`'s keys and values `(nkv, hd)` at the next position (not yet counted).
    fn write(&mut self, l: usize, k: &[f32], v: &[f32]) {
        let (cap, hd, pos) = (self.cap, self.hd, self.len);
        for h in 0..self.nkv {
            let at = h * cap * hd + pos * hd;
            self.k[l][at..at + hd].copy_from_slice(&k[h * hd..(h + 1) * hd]);
            self.v[l][at..at + hd].copy_from_slice(&v[h * hd..(h + 1) * hd]);
        }
    }

    /// Counts the position the last successful step wrote.
    pub(crate) fn commit(&mut self) {
        self.len += 1;
    }
}

/// One sequence in a decode step.
pub(crate) struct Row<'a> {
    /// The token fed at the cache's next position.
    pub token: u32,
    /// The sequence's keys and values.
    pub cache: &'a mut SeqCache,
    /// Its adapter, if any.
    pub adapter: Option<&'a LoraAdapter>,
    /// The copies of the frozen weights this row multiplies with.
    pub frozen: &'a Frozen,
}

/// `(cos, sin)` of one position for the half-split rotary layout (both halves share a
/// frequency), for the local (sliding) and the global layers.
struct Rotary {
    local: (Vec<f32>, Vec<f32>),
    global: (Vec<f32>, Vec<f32>),
}

impl Rotary {
    fn at(c: &ModelConfig, pos: usize) -> Self {
        let table = |global: bool| {
            let hd = c.head_dim;
            let base = if global { c.rope_theta } else { c.rope_local_base_freq };
            let factor = if global { c.rope_scaling_factor.unwrap_or(1.0) } else { 1.0 };
            // The same frequencies and angles as the prefill's tables (`gemma3::rope_tables`).
            (0..hd / 2)
                .map(|i| {
                    let f = (1.0 / base.powf((2 * i) as f64 / hd as f64) / factor) as f32;
                    let a = (pos as f32) * f;
                    (a.cos(), a.sin())
                })
                .unzip()
        };
        Self { local: table(false), global: table(true) }
    }
}

/// Rotates one head `x (head_dim)` in place.
fn rotate(x: &mut [f32], (cos, sin): &(Vec<f32>, Vec<f32>)) {
    let h2 = x.len() / 2;
    for j in 0..h2 {
        let (a, b) = (x[j], x[j + h2]);
        x[j] = a * cos[j] - b * sin[j];
        x[j + h2] = b * cos[j] + a * sin[j];
    }
}

/// RMSNorm of one row with an effective scale, as `ops::rms_norm` computes it.
fn rms_row(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + eps).sqrt();
    for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
        *y = x * r * w;
    }
}

/// [`rms_row`] in place.
fn rms_in_place(x: &mut [f32], w: &[f32], eps: f32) {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let r = 1.0 / (ms + eps).sqrt();
    for (x, &w) in x.iter_mut().zip(w) {
        *x = *x * r * w;
    }
}

/// RMSNorm of every row of `x (m, d)`.
fn rms_rows(x: &[f32], scale: &Tensor, eps: f32) -> Result<Vec<f32>> {
    let w = F32Slice::new(scale)?;
    let mut y = vec![0f32; x.len()];
    for (y, x) in y.chunks_mut(w.len()).zip(x.chunks(w.len())) {
        rms_row(x, &w, eps, y);
    }
    Ok(y)
}

/// `x += rms(h)`: a block's residual add after its output norm.
fn add_normed(x: &mut [f32], h: &[f32], scale: &Tensor, eps: f32) -> Result<()> {
    let normed = rms_rows(h, scale, eps)?;
    x.iter_mut().zip(&normed).for_each(|(x, h)| *x += h);
    Ok(())
}

/// A factor's f32 values, borrowed from the adapter or transposed for this call.
enum Factor<'a> {
    Held(F32Slice<'a>),
    Made(Vec<f32>),
}

impl Deref for Factor<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Factor::Held(s) => s,
            Factor::Made(v) => v,
        }
    }
}

/// `(A^T (in, r), B^T (r, out), r, scale)` of an adapted projection.
fn factors<'a>(a: &'a LoraAdapter, l: usize, t: Target) -> Result<Option<(Factor<'a>, Factor<'a>, usize, f32)>> {
    let Some((fa, fb, scale)) = a.pair(l, t) else { return Ok(None) };
    let (r, inp) = fa.dims2()?;
    let out = fb.dim(0)?;
    let (at, bt) = match a.pair_transposed(l, t) {
        Some((at, bt)) => (Factor::Held(F32Slice::new(at)?), Factor::Held(F32Slice::new(bt)?)),
        None => {
            // A training adapter: transposed per call, as `ops::lora_linear` does.
            let (fa, fb) = (fa.contiguous()?, fb.contiguous()?);
            let at = lowrank::transpose(&F32Slice::new(&fa)?, r, inp);
            let bt = lowrank::transpose(&F32Slice::new(&fb)?, out, r);
            (Factor::Made(at), Factor::Made(bt))
        }
    };
    Ok(Some((at, bt, r, scale as f32)))
}

impl Gemma3 {
    /// Logits `(rows, vocab)` for one token per row, each at its cache's next position.
    /// The rows' keys and values are written there but not counted: the caller commits
    /// them ([`SeqCache::commit`]) once it accepts the step, so a failed step can run again.
    /// CPU only.
    pub(crate) fn decode_rows(&self, rows: &mut [Row<'_>]) -> Result<Tensor> {
        let c = self.config().clone();
        let (m, h, eps) = (rows.len(), c.hidden_size, c.rms_norm_eps as f32);
        if m == 0 {
            return Err(Error::Config("a decode step needs at least one sequence".into()));
        }
        if !self.device().is_cpu() {
            return Err(Error::Config("the multi-sequence decode step runs on the CPU only".into()));
        }
        let mut x = vec![0f32; m * h];
        {
            let embed = F32Slice::new(self.embed_tokens())?;
            // HF multiplies by sqrt(hidden) rounded to the activation dtype (f32 here).
            let s = (h as f32).sqrt();
            for (row, x) in rows.iter().zip(x.chunks_mut(h)) {
                let id = row.token as usize;
                if id >= c.vocab_size {
                    return Err(Error::Config(format!("token id {id} is outside the vocabulary of {}", c.vocab_size)));
                }
                x.iter_mut().zip(&embed[id * h..(id + 1) * h]).for_each(|(x, e)| *x = e * s);
            }
        }
        for row in rows.iter_mut() {
            row.cache.reserve(row.cache.len() + 1);
        }
        let rotary: Vec<Rotary> = rows.iter().map(|r| Rotary::at(&c, r.cache.len())).collect();
        for (l, block) in self.blocks().iter().enumerate() {
            let hn = rms_rows(&x, &block.input_layernorm, eps)?;
            let attn = self.attention_rows(l, block, &hn, rows, &rotary)?;
            add_normed(&mut x, &attn, &block.post_attention_layernorm, eps)?;
            let hn = rms_rows(&x, &block.pre_feedforward_layernorm, eps)?;
            let gate = self.project(l, block, Target::Gate, &hn, rows)?;
            let up = self.project(l, block, Target::Up, &hn, rows)?;
            let i = c.intermediate_size;
            let mut act = vec![0f32; m * i];
            for ((a, g), u) in act.chunks_mut(i).zip(gate.chunks(i)).zip(up.chunks(i)) {
                simd::gelu_mul_fwd(a, g, u);
            }
            let down = self.project(l, block, Target::Down, &act, rows)?;
            add_normed(&mut x, &down, &block.post_feedforward_layernorm, eps)?;
        }
        let hn = rms_rows(&x, self.final_norm(), eps)?;
        let dev = Device::Cpu;
        match shared_frozen(rows) {
            Some(f) => self.logits(&Tensor::from_vec(hn, (m, h), &dev)?, f),
            None => {
                let per_row = rows
                    .iter()
                    .zip(hn.chunks(h))
                    .map(|(r, hn)| self.logits(&Tensor::from_slice(hn, (1, h), &dev)?, r.frozen))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Tensor::cat(&per_row, 0)?)
            }
        }
    }

    /// Self-attention of layer `l` for every row: projections over all rows, then per
    /// row the q/k norms, rotary embedding, the cache write and attention over its cache.
    fn attention_rows(&self, l: usize, block: &Block, hn: &[f32], rows: &mut [Row<'_>], rotary: &[Rotary]) -> Result<Vec<f32>> {
        let c = self.config();
        let (nh, nkv, hd, eps) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps as f32);
        let sliding = c.is_sliding(l);
        let mut q = self.project(l, block, Target::Q, hn, rows)?;
        let mut k = self.project(l, block, Target::K, hn, rows)?;
        let v = self.project(l, block, Target::V, hn, rows)?;
        {
            let (qn, kn) = (F32Slice::new(&block.q_norm)?, F32Slice::new(&block.k_norm)?);
            for (i, row) in rows.iter_mut().enumerate() {
                let rot = if sliding { &rotary[i].local } else { &rotary[i].global };
                for head in q[i * nh * hd..(i + 1) * nh * hd].chunks_mut(hd) {
                    rms_in_place(head, &qn, eps);
                    rotate(head, rot);
                }
                let ks = &mut k[i * nkv * hd..(i + 1) * nkv * hd];
                for head in ks.chunks_mut(hd) {
                    rms_in_place(head, &kn, eps);
                    rotate(head, rot);
                }
                row.cache.write(l, ks, &v[i * nkv * hd..(i + 1) * nkv * hd]);
            }
        }
        let window = sliding.then_some(c.sliding_window);
        let scale = (1.0 / c.query_pre_attn_scalar.sqrt()) as f32;
        let cap = c.attn_logit_softcapping.map(|x| x as f32);
        let group = nh / nkv;
        let caches: Vec<&SeqCache> = rows.iter().map(|r| &*r.cache).collect();
        let work = caches.iter().map(|c| c.len() + 1).sum::<usize>() * nh;
        let mut o = vec![0f32; rows.len() * nh * hd];
        let head = |(idx, out): (usize, &mut [f32])| {
            let (i, hq) = (idx / nh, idx % nh);
            attend(caches[i], l, hq / group, &q[idx * hd..(idx + 1) * hd], window, scale, cap, out);
        };
        if work >= PARALLEL_ATTENTION {
            o.par_chunks_mut(hd).enumerate().for_each(head);
        } else {
            o.chunks_mut(hd).enumerate().for_each(head);
        }
        self.project(l, block, Target::O, &o, rows)
    }

    /// `x (m, in)` through projection `t` of layer `l`, plus each row's LoRA delta.
    fn project(&self, l: usize, block: &Block, t: Target, x: &[f32], rows: &[Row<'_>]) -> Result<Vec<f32>> {
        let m = rows.len();
        let inp = x.len() / m;
        let dev = Device::Cpu;
        let mut y = match shared_frozen(rows) {
            Some(f) => linear(&Tensor::from_slice(x, (m, inp), &dev)?, block, l, t, None, f)?.flatten_all()?.to_vec1::<f32>()?,
            None => {
                let mut y = Vec::new();
                for (row, x) in rows.iter().zip(x.chunks(inp)) {
                    let yi = linear(&Tensor::from_slice(x, (1, inp), &dev)?, block, l, t, None, row.frozen)?;
                    y.extend(yi.flatten_all()?.to_vec1::<f32>()?);
                }
                y
            }
        };
        add_lora(&mut y, x, inp, l, t, rows)?;
        Ok(y)
    }
}

/// The copies every row multiplies with, when all rows use the same bf16 or Q8 copies
/// (they then share one row-independent call); None when any row runs in f32.
fn shared_frozen<'a>(rows: &[Row<'a>]) -> Option<&'a Frozen> {
    let first = rows.first()?.frozen;
    let same = |f: &Frozen| match (f, first) {
        (Frozen::Bf16(a), Frozen::Bf16(b)) => std::sync::Arc::ptr_eq(a, b),
        (Frozen::Q8(a), Frozen::Q8(b)) => std::sync::Arc::ptr_eq(a, b),
        _ => false,
    };
    rows.iter().all(|r| same(r.frozen)).then_some(first)
}

/// `y (m, out) += s (x A^T) B^T` for each row with an adapter; rows that share an
/// adapter go through its thin products together (one call per row without AVX-512,
/// where those products fall back to the gemm crate).
fn add_lora(y: &mut [f32], x: &[f32], inp: usize, l: usize, t: Target, rows: &[Row<'_>]) -> Result<()> {
    let out = y.len() / rows.len();
    let mut groups: Vec<(&LoraAdapter, Vec<usize>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(a) = row.adapter else { continue };
        match groups.iter_mut().find(|g| std::ptr::eq(g.0, a)) {
            Some(g) => g.1.push(i),
            None => groups.push((a, vec![i])),
        }
    }
    for (adapter, members) in groups {
        let Some((at, bt, r, scale)) = factors(adapter, l, t)? else { continue };
        let calls: Vec<Vec<usize>> = if simd::avx512() { vec![members] } else { members.into_iter().map(|i| vec![i]).collect() };
        for call in calls {
            let n = call.len();
            let xg: Vec<f32> = call.iter().flat_map(|&i| x[i * inp..(i + 1) * inp].iter().copied()).collect();
            let mut u = vec![0f32; n * r];
            lowrank::project(&xg, n, inp, &at, r, 1.0, &mut u);
            let mut d = vec![0f32; n * out];
            lowrank::expand(&u, n, r, &bt, out, scale, &mut d);
            for (&i, d) in call.iter().zip(d.chunks(out)) {
                y[i * out..(i + 1) * out].iter_mut().zip(d).for_each(|(y, d)| *y += d);
            }
        }
    }
    Ok(())
}

/// One query head `q` attending over key/value head `kvh` of layer `l` in `cache`, up to
/// and including the position being written; `out` gets the weighted values.
#[allow(clippy::too_many_arguments)]
fn attend(cache: &SeqCache, l: usize, kvh: usize, q: &[f32], window: Option<usize>, scale: f32, cap: Option<f32>, out: &mut [f32]) {
    let (hd, pos) = (cache.hd, cache.len);
    let base = kvh * cache.cap * hd;
    let (keys, values) = (&cache.k[l][base..], &cache.v[l][base..]);
    // Visible: j <= pos and, on sliding layers, pos - j < window.
    let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w));
    let mut s: Vec<f32> = (lo..=pos)
        .map(|j| {
            let z = simd::dot(q, &keys[j * hd..(j + 1) * hd]) * scale;
            cap.map_or(z, |cap| (z / cap).tanh() * cap)
        })
        .collect();
    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum = simd::exp_affine_sum_in_place(&mut s, 1.0, -max);
    out.iter_mut().for_each(|o| *o = 0.0);
    for (j, p) in (lo..=pos).zip(&s) {
        let w = p / sum;
        out.iter_mut().zip(&values[j * hd..(j + 1) * hd]).for_each(|(o, v)| *o += w * v);
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
