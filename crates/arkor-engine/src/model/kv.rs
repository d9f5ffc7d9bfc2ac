//! A sequence's keys and values in buffers allocated once ([`SeqCache`]), and attention
//! of one position's query heads over them ([`SeqCache::attend`]).

use candle_core::Device;

use crate::error::{Error, Result};
use crate::kernels::simd;
use crate::model::config::ModelConfig;
use crate::model::gemma3::KvCache;
use crate::ops::F32Slice;

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
    pub(crate) cap: usize,
    len: usize,
}

/// How one layer's attention reads the cache: the query heads per key/value head, the
/// score scale, the soft cap and (on sliding layers) the window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttnShape {
    pub group: usize,
    pub scale: f32,
    pub cap: Option<f32>,
    pub window: Option<usize>,
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
    pub(crate) fn reserve(&mut self, n: usize) {
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

    /// Writes layer `l`'s keys and values `(nkv, hd)` at position `pos` (at or past the
    /// counted ones; [`Self::reserve`] made room).
    pub(crate) fn write(&mut self, l: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (cap, hd) = (self.cap, self.hd);
        for h in 0..self.nkv {
            let at = h * cap * hd + pos * hd;
            self.k[l][at..at + hd].copy_from_slice(&k[h * hd..(h + 1) * hd]);
            self.v[l][at..at + hd].copy_from_slice(&v[h * hd..(h + 1) * hd]);
        }
    }

    /// Layer `l`'s first `n` values of keys and of values of the first key/value head.
    #[cfg(test)]
    pub(crate) fn layer_prefix(&self, l: usize, n: usize) -> (&[f32], &[f32]) {
        (&self.k[l][..n], &self.v[l][..n])
    }

    /// Counts the `n` positions the last successful pass wrote.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// Attention of the query heads `q (nh, hd)` at position `pos` over layer `l`'s
    /// keys and values up to and including `pos` (written already), into `out (nh, hd)`.
    /// The query heads that share a key/value head go together, so each cached key and
    /// value is read once for all of them. Per head the arithmetic is that of one head
    /// alone: scores `q.k * scale` (soft-capped), `exp(s - max)`, then `out += (p / sum) v`
    /// key after key; it depends on nothing but this position's query and the cache.
    pub(crate) fn attend(&self, l: usize, pos: usize, q: &[f32], a: &AttnShape, scores: &mut Vec<f32>, out: &mut [f32]) {
        let hd = self.hd;
        // Visible: j <= pos and, on sliding layers, pos - j < window.
        let lo = a.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let n = pos + 1 - lo;
        scores.clear();
        scores.resize(a.group * n, 0.0);
        for kvh in 0..self.nkv {
            let base = kvh * self.cap * hd;
            let (keys, values) = (&self.k[l][base..], &self.v[l][base..]);
            let heads = kvh * a.group..(kvh + 1) * a.group;
            for (j, key) in keys[lo * hd..(pos + 1) * hd].chunks_exact(hd).enumerate() {
                for (g, h) in heads.clone().enumerate() {
                    let z = simd::dot(&q[h * hd..(h + 1) * hd], key) * a.scale;
                    scores[g * n + j] = a.cap.map_or(z, |cap| (z / cap).tanh() * cap);
                }
            }
            let mut sums = [0f32; 16];
            let mut many;
            let sums: &mut [f32] = if a.group <= 16 {
                &mut sums[..a.group]
            } else {
                many = vec![0f32; a.group];
                &mut many
            };
            for (g, s) in scores.chunks_exact_mut(n).enumerate() {
                let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                sums[g] = simd::exp_affine_sum_in_place(s, 1.0, -max);
            }
            let o = &mut out[heads.start * hd..heads.end * hd];
            o.iter_mut().for_each(|o| *o = 0.0);
            for (j, value) in values[lo * hd..(pos + 1) * hd].chunks_exact(hd).enumerate() {
                for (g, o) in o.chunks_exact_mut(hd).enumerate() {
                    simd::add_scaled(o, scores[g * n + j] / sums[g], value);
                }
            }
        }
    }
}
