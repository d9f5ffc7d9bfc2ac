//! One pass of the model over several sequences at once, each feeding one or more
//! tokens at its own positions, against its own key/value cache ([`SeqCache`]) and,
//! optionally, its own LoRA adapter: the decode step of a batch (one token per
//! sequence), a chunk of a prompt (its prefill), or both in the same pass.
//!
//! The products through the frozen weights (the seven projections and the head) run
//! once over all the pass's tokens, so a pass reads each weight once however many
//! sequences and tokens it advances; the products that read the same input (q, k and v;
//! gate and up) share one quantisation and one hand-off to the thread pool. Only the
//! tokens whose logits are wanted (the last one of a sequence that samples next) go
//! through the head. Everything else is per token: the norms, the rotary embedding,
//! the cache write, attention over its sequence's cache up to its own position, and
//! the LoRA deltas (tokens that share an adapter go through its thin products together).
//!
//! **Tokens never see each other** except through the cache, as causality says. A
//! request must decode the same text alone or in a batch, and its prompt must give the
//! same cache whether it is prefilled whole or in chunks, so a token's arithmetic may
//! not depend on the other tokens of the pass:
//! - the bf16 GEMM ([`crate::kernels::bf16`]) computes each output row with the same
//!   instructions in the same order whatever the number of rows (its micro-tiles only
//!   repeat one row's work, and the reduction is blocked by a fixed size), and so
//!   does the Q8 product ([`crate::kernels::q8`]: each row quantised and summed on
//!   its own), so rows on the same bf16 or Q8 copies share one call;
//! - the f32 GEMM (the gemm crate) picks its kernel and blocking by the number of
//!   rows, so rows in f32 are multiplied one at a time (and the batch prefills f32
//!   sequences whole, through the tensor forward, rather than here);
//! - the low-rank kernels give each row the same FMA sequence on AVX-512; without it
//!   they fall back to the gemm crate, so each row then gets its own call;
//! - the element-wise parts and attention ([`SeqCache::attend`]) are written per token.

use std::borrow::Cow;
use std::ops::Deref;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::q8::{self, Q8Rows};
use crate::kernels::{lowrank, simd};
use crate::model::config::ModelConfig;
use crate::model::frozen::Frozen;
use crate::model::gemma3::{linear, Block, Gemma3};
use crate::model::kv::AttnShape;
pub use crate::model::kv::SeqCache;
use crate::model::lora::{LoraAdapter, Target};
use crate::ops::F32Slice;

/// Attention work (visible cached positions times query heads, summed over the
/// tokens) above which a layer's attention is spread over the thread pool; below it,
/// waking threads costs more than the work.
const PARALLEL_ATTENTION: usize = 1024;
/// Tokens in a pass above which the per-token element-wise work (norms, rotary, GELU)
/// is spread over the thread pool (a prompt's chunk; a decode step stays inline).
const PARALLEL_ROWS: usize = 32;

/// One sequence in a pass.
pub(crate) struct Row<'a> {
    /// The tokens fed at the cache's next positions (one when decoding; a prompt or a
    /// chunk of one when prefilling).
    pub tokens: &'a [u32],
    /// The sequence's keys and values.
    pub cache: &'a mut SeqCache,
    /// Its adapter, if any.
    pub adapter: Option<&'a LoraAdapter>,
    /// The copies of the frozen weights this row multiplies with.
    pub frozen: &'a Frozen,
    /// Whether the pass returns the logits after its last token.
    pub logits: bool,
}

/// A token of the pass: its sequence (index into the rows) and its position.
#[derive(Clone, Copy)]
struct Tok {
    seq: usize,
    pos: usize,
}

/// Which tokens multiply with which copies, and with which adapter.
struct Plan<'a> {
    /// Token indices per distinct set of copies (one group in the usual case).
    groups: Vec<(&'a Frozen, Vec<usize>)>,
    /// Each token's adapter.
    adapters: Vec<Option<&'a LoraAdapter>>,
}

impl<'a> Plan<'a> {
    fn new(frozen: impl Iterator<Item = &'a Frozen>, adapters: Vec<Option<&'a LoraAdapter>>) -> Self {
        let mut groups: Vec<(&'a Frozen, Vec<usize>)> = Vec::new();
        for (i, f) in frozen.enumerate() {
            match groups.iter_mut().find(|g| shares_calls(g.0, f)) {
                Some(g) => g.1.push(i),
                None => groups.push((f, vec![i])),
            }
        }
        Self { groups, adapters }
    }
}

/// Whether rows on `a` and rows on `b` may share one call: the same bf16 or Q8 copies
/// (row-independent kernels). f32 rows never share (see the module docs).
fn shares_calls(a: &Frozen, b: &Frozen) -> bool {
    match (a, b) {
        (Frozen::Bf16(a), Frozen::Bf16(b)) => std::sync::Arc::ptr_eq(a, b),
        (Frozen::Q8(a), Frozen::Q8(b)) => std::sync::Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// The rotary frequencies of the local (sliding) and global layers, for the half-split
/// layout (both halves of a head share a frequency).
struct Rotary {
    local: Vec<f32>,
    global: Vec<f32>,
}

impl Rotary {
    fn new(c: &ModelConfig) -> Self {
        let freqs = |global: bool| {
            let hd = c.head_dim;
            let base = if global { c.rope_theta } else { c.rope_local_base_freq };
            let factor = if global { c.rope_scaling_factor.unwrap_or(1.0) } else { 1.0 };
            // The same frequencies as the prefill's tables (`gemma3::rope_tables`).
            (0..hd / 2).map(|i| (1.0 / base.powf((2 * i) as f64 / hd as f64) / factor) as f32).collect()
        };
        Self { local: freqs(false), global: freqs(true) }
    }

    /// `(cos, sin)` per frequency at `pos`, into `table`.
    fn at(&self, global: bool, pos: usize, table: &mut Vec<(f32, f32)>) {
        let f = if global { &self.global } else { &self.local };
        table.clear();
        table.extend(f.iter().map(|&f| {
            let a = (pos as f32) * f;
            (a.cos(), a.sin())
        }));
    }
}

/// Rotates one head `x (head_dim)` in place.
fn rotate(x: &mut [f32], table: &[(f32, f32)]) {
    let h2 = x.len() / 2;
    for (j, &(cos, sin)) in table.iter().enumerate() {
        let (a, b) = (x[j], x[j + h2]);
        x[j] = a * cos - b * sin;
        x[j + h2] = b * cos + a * sin;
    }
}

/// RMSNorm of one row with an effective scale, as `ops::rms_norm` computes it except
/// for the order of the sum of squares: lane-wise partial sums ([`simd::dot`]), where the
/// one sequential chain of adds took 0.5 ms of an 8-row decode step (the norms run per
/// row, four per layer plus one per query and key head).
fn rms_row(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) {
    let ms = simd::dot(x, x) / x.len() as f32;
    let r = 1.0 / (ms + eps).sqrt();
    for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
        *y = x * r * w;
    }
}

/// [`rms_row`] in place.
fn rms_in_place(x: &mut [f32], w: &[f32], eps: f32) {
    let ms = simd::dot(x, x) / x.len() as f32;
    let r = 1.0 / (ms + eps).sqrt();
    for (x, &w) in x.iter_mut().zip(w) {
        *x = *x * r * w;
    }
}

/// `f` over `rows`-sized chunks of `y` and `x` together, on the pool when there are many.
fn per_row(y: &mut [f32], yw: usize, x: &[f32], xw: usize, f: impl Fn(&mut [f32], &[f32]) + Sync) {
    if y.len() / yw.max(1) >= PARALLEL_ROWS {
        y.par_chunks_mut(yw).zip(x.par_chunks(xw)).for_each(|(y, x)| f(y, x));
    } else {
        y.chunks_mut(yw).zip(x.chunks(xw)).for_each(|(y, x)| f(y, x));
    }
}

/// RMSNorm of every row of `x (m, d)`.
fn rms_rows(x: &[f32], scale: &Tensor, eps: f32) -> Result<Vec<f32>> {
    let w = F32Slice::new(scale)?;
    let mut y = vec![0f32; x.len()];
    per_row(&mut y, w.len(), x, w.len(), |y, x| rms_row(x, &w, eps, y));
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

/// The rows `idx` of `x (m, w)`, borrowed when they are all of them in order.
fn gather<'x>(x: &'x [f32], w: usize, idx: &[usize]) -> Cow<'x, [f32]> {
    if idx.len() * w == x.len() {
        return Cow::Borrowed(x);
    }
    Cow::Owned(idx.iter().flat_map(|&i| x[i * w..(i + 1) * w].iter().copied()).collect())
}

impl Gemma3 {
    /// The logits `(vocab)` after `ids`, computed as generation computes them: `ids`
    /// fed through the batched pass in one chunk, into a fresh cache (for a prompt in
    /// bf16 or Q8 this is the prefill a request gets; a chunked prefill gives the same
    /// bits). With `Frozen::F32` the products run one token at a time (slow: for
    /// checks). CPU only.
    pub fn next_logits(&self, ids: &[u32], lora: Option<&LoraAdapter>, frozen: &Frozen) -> Result<Vec<f32>> {
        let mut cache = SeqCache::new(self.config(), ids.len());
        let mut rows = [Row { tokens: ids, cache: &mut cache, adapter: lora, frozen, logits: true }];
        let mut z = Vec::new();
        self.decode_rows(&mut rows, &mut z)?;
        Ok(z)
    }

    /// One pass over `rows` (see the module docs): each row's tokens go in at its
    /// cache's next positions. Writes into `logits` the `(rows with logits, vocab)`
    /// logits after each such row's last token, in row order. The keys and values are
    /// written but not counted: the caller commits them ([`SeqCache::commit`]) once it
    /// accepts the pass, so a failed pass can run again. CPU only.
    pub(crate) fn decode_rows(&self, rows: &mut [Row<'_>], logits: &mut Vec<f32>) -> Result<()> {
        let c = self.config().clone();
        let (h, eps) = (c.hidden_size, c.rms_norm_eps as f32);
        if rows.is_empty() || rows.iter().any(|r| r.tokens.is_empty()) {
            return Err(Error::Config("a pass needs at least one sequence, each with at least one token".into()));
        }
        if !self.device().is_cpu() {
            return Err(Error::Config("the multi-sequence pass runs on the CPU only".into()));
        }
        let mut toks = Vec::new();
        for (i, row) in rows.iter_mut().enumerate() {
            let start = row.cache.len();
            row.cache.reserve(start + row.tokens.len());
            toks.extend((0..row.tokens.len()).map(|j| Tok { seq: i, pos: start + j }));
        }
        let ids: Vec<u32> = rows.iter().flat_map(|r| r.tokens.iter().copied()).collect();
        let mut x = vec![0f32; ids.len() * h];
        {
            let embed = F32Slice::new(self.embed_tokens())?;
            // HF multiplies by sqrt(hidden) rounded to the activation dtype (f32 here).
            let s = (h as f32).sqrt();
            for (&id, x) in ids.iter().zip(x.chunks_mut(h)) {
                let id = id as usize;
                if id >= c.vocab_size {
                    return Err(Error::Config(format!("token id {id} is outside the vocabulary of {}", c.vocab_size)));
                }
                x.iter_mut().zip(&embed[id * h..(id + 1) * h]).for_each(|(x, e)| *x = e * s);
            }
        }
        let plan = Plan::new(toks.iter().map(|t| rows[t.seq].frozen), toks.iter().map(|t| rows[t.seq].adapter).collect());
        let rotary = Rotary::new(&c);
        for (l, block) in self.blocks().iter().enumerate() {
            let hn = rms_rows(&x, &block.input_layernorm, eps)?;
            let attn = self.attention_rows(l, block, &hn, rows, &toks, &plan, &rotary)?;
            add_normed(&mut x, &attn, &block.post_attention_layernorm, eps)?;
            let hn = rms_rows(&x, &block.pre_feedforward_layernorm, eps)?;
            let [gate, up] = <[Vec<f32>; 2]>::try_from(self.products(l, block, &[Target::Gate, Target::Up], &hn, &plan)?)
                .map_err(|_| Error::Config("two products expected".into()))?;
            let i = c.intermediate_size;
            let mut act = vec![0f32; gate.len()];
            let gu: Vec<(&[f32], &[f32])> = gate.chunks(i).zip(up.chunks(i)).collect();
            if gu.len() >= PARALLEL_ROWS {
                act.par_chunks_mut(i).zip(gu.par_iter()).for_each(|(a, (g, u))| simd::gelu_mul_fwd(a, g, u));
            } else {
                act.chunks_mut(i).zip(&gu).for_each(|(a, (g, u))| simd::gelu_mul_fwd(a, g, u));
            }
            let down = self.products(l, block, &[Target::Down], &act, &plan)?.remove(0);
            add_normed(&mut x, &down, &block.post_feedforward_layernorm, eps)?;
        }
        // The last token of each row that samples next.
        let mut last = Vec::new();
        let mut end = 0;
        for row in rows.iter() {
            end += row.tokens.len();
            if row.logits {
                last.push(end - 1);
            }
        }
        let xs: Vec<f32> = last.iter().flat_map(|&t| x[t * h..(t + 1) * h].iter().copied()).collect();
        let hn = rms_rows(&xs, self.final_norm(), eps)?;
        let head_plan = Plan::new(last.iter().map(|&t| rows[toks[t].seq].frozen), Vec::new());
        self.head(&hn, &head_plan, logits)
    }

    /// Self-attention of layer `l` for every token: projections over all tokens, then
    /// per token the q/k norms, rotary embedding and the cache write, then attention
    /// of each token over its sequence's cache up to its position.
    #[allow(clippy::too_many_arguments)]
    fn attention_rows(&self, l: usize, block: &Block, hn: &[f32], rows: &mut [Row<'_>], toks: &[Tok], plan: &Plan<'_>, rotary: &Rotary) -> Result<Vec<f32>> {
        let c = self.config();
        let (nh, nkv, hd, eps) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps as f32);
        let sliding = c.is_sliding(l);
        let [mut q, mut k, v] = <[Vec<f32>; 3]>::try_from(self.products(l, block, &[Target::Q, Target::K, Target::V], hn, plan)?)
            .map_err(|_| Error::Config("three products expected".into()))?;
        {
            let (qn, kn) = (F32Slice::new(&block.q_norm)?, F32Slice::new(&block.k_norm)?);
            let prep = |(t, (q, k)): (&Tok, (&mut [f32], &mut [f32])), table: &mut Vec<(f32, f32)>| {
                rotary.at(!sliding, t.pos, table);
                for head in q.chunks_mut(hd) {
                    rms_in_place(head, &qn, eps);
                    rotate(head, table);
                }
                for head in k.chunks_mut(hd) {
                    rms_in_place(head, &kn, eps);
                    rotate(head, table);
                }
            };
            let qk = q.chunks_mut(nh * hd).zip(k.chunks_mut(nkv * hd));
            if toks.len() >= PARALLEL_ROWS {
                let qk: Vec<_> = qk.collect();
                toks.par_iter().zip(qk).for_each_init(Vec::new, |table, item| prep(item, table));
            } else {
                let mut table = Vec::new();
                toks.iter().zip(qk).for_each(|item| prep(item, &mut table));
            }
            for (i, t) in toks.iter().enumerate() {
                let kv = i * nkv * hd..(i + 1) * nkv * hd;
                rows[t.seq].cache.write(l, t.pos, &k[kv.clone()], &v[kv]);
            }
        }
        let shape = AttnShape {
            group: nh / nkv,
            scale: (1.0 / c.query_pre_attn_scalar.sqrt()) as f32,
            cap: c.attn_logit_softcapping.map(|x| x as f32),
            window: sliding.then_some(c.sliding_window),
        };
        let caches: Vec<&SeqCache> = rows.iter().map(|r| &*r.cache).collect();
        let visible = |t: &Tok| shape.window.map_or(t.pos + 1, |w| (t.pos + 1).min(w));
        let work = toks.iter().map(visible).sum::<usize>() * nh;
        let mut o = vec![0f32; toks.len() * nh * hd];
        let head = |scores: &mut Vec<f32>, (out, (t, q)): (&mut [f32], (&Tok, &[f32]))| {
            caches[t.seq].attend(l, t.pos, q, &shape, scores, out);
        };
        let items = o.chunks_mut(nh * hd).zip(toks.iter().zip(q.chunks(nh * hd)));
        if work >= PARALLEL_ATTENTION && toks.len() > 1 {
            let items: Vec<_> = items.collect();
            items.into_par_iter().for_each_init(Vec::new, head);
        } else {
            let mut scores = Vec::new();
            items.for_each(|item| head(&mut scores, item));
        }
        Ok(self.products(l, block, &[Target::O], &o, plan)?.remove(0))
    }

    /// `x (m, in)` through projections `ts` of layer `l` (which all read `x`), plus
    /// each token's LoRA delta; one output per projection.
    fn products(&self, l: usize, block: &Block, ts: &[Target], x: &[f32], plan: &Plan<'_>) -> Result<Vec<Vec<f32>>> {
        let m = plan.adapters.len();
        let inp = x.len() / m;
        let outs = ts.iter().map(|&t| Ok(block.proj(t).dim(0)?)).collect::<Result<Vec<usize>>>()?;
        let mut ys: Vec<Vec<f32>> = outs.iter().map(|&o| vec![0f32; m * o]).collect();
        for (frozen, idx) in &plan.groups {
            let xg = gather(x, inp, idx);
            let n = idx.len();
            let whole = n == m;
            let mut yg: Vec<Vec<f32>> = if whole { std::mem::take(&mut ys) } else { outs.iter().map(|&o| vec![0f32; n * o]).collect() };
            match frozen {
                Frozen::Q8(p) => {
                    let xq = Q8Rows::quantize(&xg, n, inp);
                    let mut jobs: Vec<_> = ts.iter().zip(yg.iter_mut()).map(|(&t, y)| (p.proj(l, t).as_ref(), y.as_mut_slice())).collect();
                    q8::matmul_many(&xq, &mut jobs, false);
                }
                Frozen::Bf16(p) => {
                    for (&t, y) in ts.iter().zip(yg.iter_mut()) {
                        p.proj(l, t).fwd.matmul_t(&xg, n, y, false);
                    }
                }
                Frozen::F32 => {
                    let dev = Device::Cpu;
                    for (r, xr) in xg.chunks(inp).enumerate() {
                        let xr = Tensor::from_slice(xr, (1, inp), &dev)?;
                        for ((&t, y), &o) in ts.iter().zip(yg.iter_mut()).zip(&outs) {
                            let yr = linear(&xr, block, l, t, None, frozen)?.flatten_all()?.to_vec1::<f32>()?;
                            y[r * o..(r + 1) * o].copy_from_slice(&yr);
                        }
                    }
                }
            }
            if whole {
                ys = yg;
            } else {
                for ((y, yg), &o) in ys.iter_mut().zip(&yg).zip(&outs) {
                    for (k, &i) in idx.iter().enumerate() {
                        y[i * o..(i + 1) * o].copy_from_slice(&yg[k * o..(k + 1) * o]);
                    }
                }
            }
        }
        for (&t, y) in ts.iter().zip(ys.iter_mut()) {
            add_lora(y, x, inp, l, t, &plan.adapters)?;
        }
        Ok(ys)
    }

    /// Logits `(m, vocab)` of the final-normed `hn (m, hidden)` into `out`, soft-capped
    /// as the model says.
    fn head(&self, hn: &[f32], plan: &Plan<'_>, out: &mut Vec<f32>) -> Result<()> {
        let c = self.config();
        let (h, vocab) = (c.hidden_size, c.vocab_size);
        let m = hn.len() / h;
        out.clear();
        out.resize(m * vocab, 0.0);
        for (frozen, idx) in &plan.groups {
            let xg = gather(hn, h, idx);
            let n = idx.len();
            if n == m {
                self.head_group(frozen, &xg, n, out)?;
            } else {
                let mut y = vec![0f32; n * vocab];
                self.head_group(frozen, &xg, n, &mut y)?;
                for (k, &i) in idx.iter().enumerate() {
                    out[i * vocab..(i + 1) * vocab].copy_from_slice(&y[k * vocab..(k + 1) * vocab]);
                }
            }
        }
        if let Some(cap) = c.final_logit_softcapping {
            let cap = cap as f32;
            out.iter_mut().for_each(|z| *z = (*z / cap).tanh() * cap);
        }
        Ok(())
    }
}

impl Gemma3 {
    /// `y (n, vocab) = x (n, hidden) · E^T` through `frozen`'s copy of the tied head.
    fn head_group(&self, frozen: &Frozen, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
        let (h, vocab) = (self.config().hidden_size, self.config().vocab_size);
        match frozen {
            Frozen::Q8(p) => p.head().matmul_t(x, n, y, false),
            Frozen::Bf16(p) => p.head().fwd.matmul_t(x, n, y, false),
            Frozen::F32 => {
                let w = self.embed_tokens().t()?;
                for (r, xr) in x.chunks(h).enumerate() {
                    let z = Tensor::from_slice(xr, (1, h), &Device::Cpu)?.matmul(&w)?.flatten_all()?.to_vec1::<f32>()?;
                    y[r * vocab..(r + 1) * vocab].copy_from_slice(&z);
                }
            }
        }
        Ok(())
    }
}

/// `y (m, out) += s (x A^T) B^T` for each token with an adapter; tokens that share an
/// adapter go through its thin products together (one call per token without AVX-512,
/// where those products fall back to the gemm crate).
fn add_lora(y: &mut [f32], x: &[f32], inp: usize, l: usize, t: Target, adapters: &[Option<&LoraAdapter>]) -> Result<()> {
    let out = y.len() / adapters.len();
    let mut groups: Vec<(&LoraAdapter, Vec<usize>)> = Vec::new();
    for (i, a) in adapters.iter().enumerate() {
        let Some(a) = *a else { continue };
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
            let xg = gather(x, inp, &call);
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

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
