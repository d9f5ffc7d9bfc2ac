//! An int8 product for frozen weights, as GGUF's Q8_0: `out (m, n) [+]= x (m, k) · W^T`
//! with `W (n, k)` stored once as blocks of 32 int8 values with one f16 scale each
//! ([`Q8Matrix`]), and the activations `x` quantised the same way per call
//! ([`Q8Rows`]). The block dot products are exact integer sums (AVX-512 VNNI
//! `vpdpbusd`, or the portable loop); only the scales are floating point.
//!
//! Decoding reads every weight once per token, so a quarter of f32's bytes (an eighth of
//! the head's 671 MB) is most of the speed-up; the VNNI loop prefetches the weight
//! stream ahead of itself, which is what keeps it near the memory's bandwidth.
//!
//! Determinism: every output element is computed by the same sequence of operations
//! whatever `m`, whichever other rows share the call, however the work is split between
//! threads, and on either path: per block, `s = d_w * d_x` (f32), then
//! `acc = fma(s, dot as f32, acc)` over the blocks in order (the integer dot is exact, and
//! below 2^24 so its conversion is too). A batch of sequences decoded together therefore
//! gets bit-identical logits to each sequence decoded alone, and the portable path is
//! bit-identical to the VNNI one.
//!
//! Layout: panels of 16 weight rows. Inside a panel, per block, eight 64-byte lines
//! `[group of 4 k][row][4 bytes]`, so one load feeds one `vpdpbusd` that accumulates 16
//! rows at once (no horizontal sums); the panel's f16 scales are a separate array
//! `[panel][block][row]`. Weights are stored as `q + 128` (unsigned): `vpdpbusd`
//! multiplies unsigned by signed bytes, and `sum((q + 128) x) - 128 sum(x)` recovers
//! the signed dot, with `sum(x)` computed once per activation block.

use half::f16;
use rayon::prelude::*;

/// Values per block (GGUF's `QK8_0`).
pub const QK: usize = 32;
/// Weight rows per panel (one zmm of i32 lanes).
const LANES: usize = 16;
/// Bytes of one panel's block: 32 values of 16 rows.
const BLOCK_BYTES: usize = QK * LANES;
/// Below this many multiply-adds a product runs on the calling thread: waking a pool
/// thread costs more than it saves.
const INLINE_MACS: usize = 1 << 17;
/// Activation rows per micro-tile when there are several.
#[cfg(target_arch = "x86_64")]
const MR: usize = 8;
/// Activation values above which [`Q8Rows::quantize`] spreads its rows over the pool.
const PARALLEL_QUANTIZE: usize = 1 << 15;
/// Jobs per pool thread a product is split into.
const JOBS_PER_THREAD: usize = 4;
/// How many blocks (of 512 bytes) ahead of the one being read the one-row VNNI loop
/// prefetches the weights.
const PREFETCH_BLOCKS: usize = 8;
/// The same for a tile of several rows, which prefetches into L2 rather than L1 (see
/// `micro`).
const TILE_PREFETCH_BLOCKS: usize = 16;

/// Whether this CPU runs the VNNI path (else the portable one, same results).
pub fn vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A 64-byte aligned line, so each panel block starts on a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A frozen `W (n, k)` in Q8_0 blocks, in the kernel's layout (see the module docs).
/// Rows past `n` and values past `k` (to the next multiple of 32) are zero.
pub struct Q8Matrix {
    n: usize,
    k: usize,
    blocks: usize,
    /// `panels * blocks * 8` lines of `q + 128`.
    quants: Vec<Line>,
    /// `panels * blocks * 16` f16 scale bits.
    scales: Vec<u16>,
}

impl std::fmt::Debug for Q8Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Q8Matrix({}x{})", self.n, self.k)
    }
}

/// `v` rounded to the nearest integer, ties to even, for |v| < 2^22: adding and
/// subtracting 1.5 * 2^23 leaves no fraction bits. `f32::round_ties_even` is the same
/// function but becomes a libm call on baseline x86_64 (no SSE4.1 `roundss`).
#[inline(always)]
fn round_ties_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// Quantises one block as GGUF's Q8_0 does, with the scale rounded to f16 first and the
/// values divided by that rounded scale (so a block that came from Q8_0 comes back
/// unchanged: its values are exact multiples of the f16 scale, the largest 127 times it).
fn quantize_weight_block(src: &[f32], q: &mut [i8; QK]) -> u16 {
    let amax = src.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = f16::from_f32(amax / 127.0);
    let df = d.to_f32();
    q.fill(0);
    if df > 0.0 {
        for (o, &v) in q.iter_mut().zip(src) {
            *o = round_ties_even(v / df).clamp(-127.0, 127.0) as i8;
        }
    }
    d.to_bits()
}

impl Q8Matrix {
    /// Quantises a row-major `(n, k)` f32 matrix (a weight `(out, in)`).
    pub fn from_f32(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "w must be (n, k)");
        let blocks = k.div_ceil(QK);
        let panels = n.div_ceil(LANES);
        let mut quants = vec![Line([128; 64]); panels * blocks * (BLOCK_BYTES / 64)];
        let mut scales = vec![0u16; panels * blocks * LANES];
        quants
            .par_chunks_mut(blocks * (BLOCK_BYTES / 64))
            .zip(scales.par_chunks_mut(blocks * LANES))
            .enumerate()
            .for_each(|(p, (lines, sc))| {
                let mut src = [0f32; QK];
                let mut q = [0i8; QK];
                for r in 0..LANES {
                    let row = p * LANES + r;
                    if row >= n {
                        break;
                    }
                    for b in 0..blocks {
                        let (lo, hi) = (b * QK, ((b + 1) * QK).min(k));
                        src.fill(0.0);
                        src[..hi - lo].copy_from_slice(&w[row * k + lo..row * k + hi]);
                        sc[b * LANES + r] = quantize_weight_block(&src, &mut q);
                        for (i, &v) in q.iter().enumerate() {
                            let (g, j) = (i / 4, i % 4);
                            lines[b * 8 + g].0[r * 4 + j] = (v as i16 + 128) as u8;
                        }
                    }
                }
            });
        Self { n, k, blocks, quants, scales }
    }

    /// Rows of W (output columns of the product).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns of W (the reduction length).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.quants.len() * 64 + self.scales.len() * 2
    }

    /// The quantised value and the f32 scale of `W[row, col]`'s block.
    fn at(&self, row: usize, col: usize) -> (i32, f32) {
        let (p, r, b, i) = (row / LANES, row % LANES, col / QK, col % QK);
        let line = &self.quants[(p * self.blocks + b) * 8 + i / 4];
        let q = line.0[r * 4 + i % 4] as i32 - 128;
        let d = f16::from_bits(self.scales[(p * self.blocks + b) * LANES + r]).to_f32();
        (q, d)
    }

    /// Row `row` of W as the kernel sees it (`q * d` per value).
    pub fn dequantize_row(&self, row: usize) -> Vec<f32> {
        assert!(row < self.n, "row {row} of {}", self.n);
        (0..self.k)
            .map(|c| {
                let (q, d) = self.at(row, c);
                q as f32 * d
            })
            .collect()
    }

    /// `out (m, n) = [out +] x (m, k) · W^T`; `x` and `out` row-major and contiguous.
    /// Runs the VNNI kernel where the CPU has it, else [`Self::matmul_t_portable`]; both
    /// give the same bits.
    pub fn matmul_t(&self, x: &[f32], m: usize, out: &mut [f32], accumulate: bool) {
        let xq = Q8Rows::quantize(x, m, self.k);
        self.matmul_t_q(&xq, out, accumulate);
    }

    /// [`Self::matmul_t`] on activations already quantised (several products that read
    /// the same input, such as q, k and v, quantise it once).
    pub fn matmul_t_q(&self, xq: &Q8Rows, out: &mut [f32], accumulate: bool) {
        #[cfg(target_arch = "x86_64")]
        if vnni() {
            // SAFETY: the CPU has AVX-512F and VNNI; `run` checks the shapes.
            return self.run(xq, out, accumulate, |w, xq, r0, rows, p0, p1, out, acc| unsafe {
                x86::panels(w, xq, r0, rows, p0, p1, out, acc)
            });
        }
        self.run(xq, out, accumulate, portable_panels)
    }

    /// The portable product (no SIMD intrinsics), bit-identical to the VNNI one; used on
    /// CPUs without VNNI, and public so tests and benches can compare the two.
    pub fn matmul_t_portable(&self, x: &[f32], m: usize, out: &mut [f32], accumulate: bool) {
        let xq = Q8Rows::quantize(x, m, self.k);
        self.run(&xq, out, accumulate, portable_panels);
    }

    fn run(&self, xq: &Q8Rows, out: &mut [f32], accumulate: bool, kernel: PanelKernel) {
        run_many(xq, &mut [(self, out)], accumulate, kernel);
    }
}

/// `out_i (m, n_i) = [out_i +] x (m, k) · W_i^T` for several weights that read the same
/// activations (q, k and v; gate and up), quantised once, in one hand-off to the thread
/// pool instead of one per product. Each output is what [`Q8Matrix::matmul_t_q`]
/// would give it.
pub fn matmul_many(xq: &Q8Rows, products: &mut [(&Q8Matrix, &mut [f32])], accumulate: bool) {
    #[cfg(target_arch = "x86_64")]
    if vnni() {
        // SAFETY: the CPU has AVX-512F and VNNI; `run_many` checks the shapes.
        return run_many(xq, products, accumulate, |w, xq, r0, rows, p0, p1, out, acc| unsafe {
            x86::panels(w, xq, r0, rows, p0, p1, out, acc)
        });
    }
    run_many(xq, products, accumulate, portable_panels)
}

/// Splits the products' panels between rayon jobs in proportion to their work (or runs
/// them inline when they are small) and hands each job's panel range to `kernel`.
fn run_many(xq: &Q8Rows, products: &mut [(&Q8Matrix, &mut [f32])], accumulate: bool, kernel: PanelKernel) {
    let m = xq.m;
    for (w, out) in products.iter() {
        assert_eq!(xq.blocks, w.blocks, "activations have {} blocks, W {}", xq.blocks, w.blocks);
        assert_eq!(out.len(), m * w.n, "out must be (m, n)");
    }
    if m == 0 {
        return;
    }
    let threads = rayon::current_num_threads();
    let macs: usize = products.iter().map(|(w, _)| m * w.n * w.blocks * QK).sum();
    let panels: usize = products.iter().map(|(w, _)| w.n.div_ceil(LANES)).sum();
    if threads == 1 || macs < INLINE_MACS || panels <= 1 {
        for (w, out) in products.iter_mut() {
            kernel(w, xq, 0, m, 0, w.n.div_ceil(LANES), out.as_mut_ptr(), accumulate);
        }
        return;
    }
    // Jobs own contiguous runs of one product's panels, several per thread so that a
    // thread the OS deschedules holds back only a small part of the work; each product
    // gets jobs in proportion to its work.
    let target = JOBS_PER_THREAD * threads;
    let mut jobs: Vec<(usize, usize, usize)> = Vec::with_capacity(target + products.len());
    for (i, (w, _)) in products.iter().enumerate() {
        let p = w.n.div_ceil(LANES);
        let share = (target * m * w.n * w.blocks * QK).div_ceil(macs).clamp(1, p.max(1));
        jobs.extend((0..share).map(|j| (i, j * p / share, (j + 1) * p / share)).filter(|j| j.2 > j.1));
    }
    let outs: Vec<(&Q8Matrix, SendPtr)> = products.iter_mut().map(|(w, out)| (&**w, SendPtr(out.as_mut_ptr()))).collect();
    jobs.into_par_iter().for_each(|(i, p0, p1)| {
        let (w, ptr) = (outs[i].0, outs[i].1);
        // Jobs write disjoint column ranges of their product's `out`.
        kernel(w, xq, 0, m, p0, p1, ptr.0, accumulate);
    });
}

/// Writes output columns of panels `p0..p1` for activation rows `r0..r0 + rows`.
type PanelKernel = fn(&Q8Matrix, &Q8Rows, usize, usize, usize, usize, *mut f32, bool);

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Activations `x (m, k)` quantised per row and block of 32: `q` (values past `k` zero),
/// the f32 scale `d` and, per block, `-128 sum(q)` (what undoes the weights' `+ 128`).
pub struct Q8Rows {
    m: usize,
    blocks: usize,
    q: Vec<i8>,
    d: Vec<f32>,
    bias: Vec<i32>,
}

/// One row's share of [`Q8Rows::quantize_with`]'s work: its input `x`, and its slices of
/// `q`, `d` and `bias`.
type RowParts<'a> = ((&'a [f32], &'a mut [i8]), (&'a mut [f32], &'a mut [i32]));

impl Q8Rows {
    /// Quantises `x (m, k)`, each row on its own (so a row's values never depend on the
    /// others): `d = max|x| / 127`, `q = round_ties_even(x * (127 / max|x|))`. Whole
    /// blocks go through an AVX-512 loop where the CPU has it (a decode step quantises
    /// every projection's input, and the scalar loop was 4-5% of an 8-row step), with
    /// the same bits as [`Self::quantize_portable`].
    pub fn quantize(x: &[f32], m: usize, k: usize) -> Self {
        Self::quantize_with(x, m, k, crate::kernels::simd::avx512())
    }

    /// [`Self::quantize`] without SIMD intrinsics.
    pub fn quantize_portable(x: &[f32], m: usize, k: usize) -> Self {
        Self::quantize_with(x, m, k, false)
    }

    fn quantize_with(x: &[f32], m: usize, k: usize, simd: bool) -> Self {
        assert_eq!(x.len(), m * k, "x must be (m, k)");
        let blocks = k.div_ceil(QK);
        let mut q = vec![0i8; m * blocks * QK];
        let mut d = vec![0f32; m * blocks];
        let mut bias = vec![0i32; m * blocks];
        let row = |((x, q), (d, bias)): RowParts<'_>| {
            for b in 0..blocks {
                let (lo, hi) = (b * QK, ((b + 1) * QK).min(k));
                let src = &x[lo..hi];
                #[cfg(target_arch = "x86_64")]
                if simd && src.len() == QK {
                    // SAFETY: AVX-512F checked by the caller; 32 values in, 32 out.
                    let (amax, s) = unsafe { x86::quantize_block(src.as_ptr(), q[b * QK..].as_mut_ptr()) };
                    if amax > 0.0 {
                        d[b] = amax / 127.0;
                        bias[b] = -128 * s;
                    }
                    continue;
                }
                let amax = src.iter().fold(0f32, |a, v| a.max(v.abs()));
                if amax > 0.0 {
                    let id = 127.0 / amax;
                    let dst = &mut q[b * QK..b * QK + src.len()];
                    let mut s = 0i32;
                    for (o, &v) in dst.iter_mut().zip(src) {
                        *o = round_ties_even(v * id).clamp(-127.0, 127.0) as i8;
                        s += *o as i32;
                    }
                    d[b] = amax / 127.0;
                    bias[b] = -128 * s;
                }
            }
        };
        if k == 0 || m == 0 {
            return Self { m, blocks, q, d, bias };
        }
        // A prompt's activations (hundreds of rows) on the pool; rows are independent.
        if m * k >= PARALLEL_QUANTIZE {
            x.par_chunks(k)
                .zip(q.par_chunks_mut(blocks * QK))
                .zip(d.par_chunks_mut(blocks).zip(bias.par_chunks_mut(blocks)))
                .for_each(row);
        } else {
            x.chunks(k).zip(q.chunks_mut(blocks * QK)).zip(d.chunks_mut(blocks).zip(bias.chunks_mut(blocks))).for_each(row);
        }
        Self { m, blocks, q, d, bias }
    }

    /// Rows.
    pub fn m(&self) -> usize {
        self.m
    }
}

/// The portable kernel: the same per-element operations as the VNNI one.
// The same arguments as `x86::panels`, which it stands in for.
#[allow(clippy::too_many_arguments)]
fn portable_panels(
    w: &Q8Matrix,
    xq: &Q8Rows,
    r0: usize,
    rows: usize,
    p0: usize,
    p1: usize,
    out: *mut f32,
    accumulate: bool,
) {
    let n = w.n;
    for p in p0..p1 {
        for r in r0..r0 + rows {
            for lane in 0..LANES.min(n - p * LANES) {
                let mut acc = 0f32;
                for b in 0..w.blocks {
                    let lines = &w.quants[(p * w.blocks + b) * 8..][..8];
                    let xb = &xq.q[(r * xq.blocks + b) * QK..][..QK];
                    let mut dot = 0i32;
                    for (i, &xv) in xb.iter().enumerate() {
                        dot += lines[i / 4].0[lane * 4 + i % 4] as i32 * xv as i32;
                    }
                    let dot = dot + xq.bias[r * xq.blocks + b];
                    let dw = f16::from_bits(w.scales[(p * w.blocks + b) * LANES + lane]).to_f32();
                    let s = dw * xq.d[r * xq.blocks + b];
                    acc = s.mul_add(dot as f32, acc);
                }
                // SAFETY: callers give each call its own columns of an (m, n) `out`.
                unsafe {
                    let o = out.add(r * n + p * LANES + lane);
                    *o = if accumulate { *o + acc } else { acc };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// Panels `p0..p1` for rows `r0..r0 + rows`: one row streams the weights once
    /// ([`gemv`]); more rows take one panel at a time against tiles of up to `MR` rows.
    #[target_feature(enable = "avx512f,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panels(
        w: &Q8Matrix,
        xq: &Q8Rows,
        r0: usize,
        rows: usize,
        p0: usize,
        p1: usize,
        out: *mut f32,
        accumulate: bool,
    ) {
        if rows == 1 {
            return gemv(w, xq, r0, p0, p1, out, accumulate);
        }
        // Prefetches stop at the end of this call's panels (another job reads on); only
        // a panel's first tile of rows prefetches, the others find it in cache.
        let q_end = (w.quants.as_ptr() as *const u8).add(p1 * w.blocks * BLOCK_BYTES);
        let no_prefetch = w.quants.as_ptr() as *const u8;
        for p in p0..p1 {
            let mut r = r0;
            while r < r0 + rows {
                let rr = (r0 + rows - r).min(MR);
                let end = if r == r0 { q_end } else { no_prefetch };
                match rr {
                    8 => micro::<8>(w, xq, r, p, out, accumulate, end),
                    7 => micro::<7>(w, xq, r, p, out, accumulate, end),
                    6 => micro::<6>(w, xq, r, p, out, accumulate, end),
                    5 => micro::<5>(w, xq, r, p, out, accumulate, end),
                    4 => micro::<4>(w, xq, r, p, out, accumulate, end),
                    3 => micro::<3>(w, xq, r, p, out, accumulate, end),
                    2 => micro::<2>(w, xq, r, p, out, accumulate, end),
                    _ => micro::<1>(w, xq, r, p, out, accumulate, end),
                }
                r += rr;
            }
        }
    }

    /// One activation block of 32 values as [`Q8Rows::quantize_portable`] computes it,
    /// lane by lane: `max|x|` (NaNs ignored, as `f32::max` does), then per value
    /// `round_ties_even(x * (127 / max))` clamped to ±127 (a NaN becomes 0, as the
    /// saturating cast makes it). Writes the 32 values (zeros when `max` is 0) and returns
    /// `(max, sum of the values)`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_block(src: *const f32, dst: *mut i8) -> (f32, i32) {
        let v = [_mm512_loadu_ps(src), _mm512_loadu_ps(src.add(16))];
        // `max_ps` returns its second operand when either is NaN: the running max stays.
        let m = _mm512_max_ps(_mm512_abs_ps(v[1]), _mm512_max_ps(_mm512_abs_ps(v[0]), _mm512_setzero_ps()));
        let amax = _mm512_reduce_max_ps(m);
        if amax <= 0.0 {
            std::ptr::write_bytes(dst, 0, QK);
            return (amax, 0);
        }
        let (id, magic) = (_mm512_set1_ps(127.0 / amax), _mm512_set1_ps(12_582_912.0));
        let (lo, hi) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
        let mut sum = _mm512_setzero_si512();
        for (h, v) in v.iter().enumerate() {
            let y = _mm512_mul_ps(*v, id);
            let ord = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(y, y);
            let r = _mm512_sub_ps(_mm512_add_ps(y, magic), magic);
            let i = _mm512_maskz_cvtps_epi32(ord, _mm512_min_ps(_mm512_max_ps(r, lo), hi));
            _mm_storeu_si128(dst.add(16 * h) as *mut __m128i, _mm512_cvtsepi32_epi8(i));
            sum = _mm512_add_epi32(sum, i);
        }
        (amax, _mm512_reduce_add_epi32(sum))
    }

    /// Writes (or adds) the 16 sums of panel `p` for row `r`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store(w: &Q8Matrix, r: usize, p: usize, acc: __m512, out: *mut f32, accumulate: bool) {
        let c0 = p * LANES;
        let left = w.n - c0;
        let mask: __mmask16 = if left >= LANES { 0xFFFF } else { (1u16 << left) - 1 };
        let dst = out.add(r * w.n + c0);
        let v = if accumulate { _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), acc) } else { acc };
        _mm512_mask_storeu_ps(dst, mask, v);
    }

    /// One activation row against panels `p0..p1`, one panel after the other: a single
    /// linear stream through the weights (the memory system served it about twice as
    /// fast as four interleaved ones), fetched [`PREFETCH_BLOCKS`] blocks ahead. The
    /// block's integer dot is split over four accumulators (integer sums do not care
    /// about order) so the `vpdpbusd` latency does not serialise the loop.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn gemv(w: &Q8Matrix, xq: &Q8Rows, r: usize, p0: usize, p1: usize, out: *mut f32, accumulate: bool) {
        let blocks = w.blocks;
        let qbase = w.quants.as_ptr() as *const u8;
        let sbase = w.scales.as_ptr();
        // Prefetches stop at the end of this call's panels (another job reads on).
        let q_end = qbase.add(p1 * blocks * BLOCK_BYTES);
        let s_end = sbase.add(p1 * blocks * LANES) as *const u8;
        let dist = PREFETCH_BLOCKS * BLOCK_BYTES;
        let xrow = xq.q.as_ptr().add(r * xq.blocks * QK) as *const i32;
        let (xd, xs) = (xq.d.as_ptr().add(r * xq.blocks), xq.bias.as_ptr().add(r * xq.blocks));
        for p in p0..p1 {
            let mut acc = _mm512_setzero_ps();
            for b in 0..blocks {
                let wq = qbase.add((p * blocks + b) * BLOCK_BYTES);
                let ws = sbase.add((p * blocks + b) * LANES);
                let ahead = wq.wrapping_add(dist);
                if ahead < q_end {
                    for l in 0..8 {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.add(64 * l) as *const i8);
                    }
                }
                let sa = (ws as *const u8).wrapping_add(dist / 16);
                if sa < s_end {
                    _mm_prefetch::<_MM_HINT_T0>(sa as *const i8);
                }
                let xb = xrow.add(b * 8);
                let mut d = [_mm512_setzero_si512(); 4];
                for g in 0..8 {
                    let wv = _mm512_load_si512(wq.add(64 * g) as *const _);
                    d[g % 4] = _mm512_dpbusd_epi32(d[g % 4], wv, _mm512_set1_epi32(*xb.add(g)));
                }
                let dot = _mm512_add_epi32(_mm512_add_epi32(d[0], d[1]), _mm512_add_epi32(d[2], d[3]));
                let dot = _mm512_add_epi32(dot, _mm512_set1_epi32(*xs.add(b)));
                let dw = _mm512_cvtph_ps(_mm256_loadu_si256(ws as *const _));
                acc = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(*xd.add(b))), _mm512_cvtepi32_ps(dot), acc);
            }
            store(w, r, p, acc, out, accumulate);
        }
    }

    /// `R` activation rows from `r0` against panel `p`: each block's eight 64-byte weight
    /// lines are loaded once and feed the `vpdpbusd`s of all `R` rows, so the weights are
    /// read once per tile of rows. A row's block sum starts at its `-128 sum(x)` bias
    /// instead of zero (one subtraction fewer per row and block; integer, so exact) and
    /// runs as two chains (even and odd lines) so that it is not one long dependency.
    /// The first tile of a panel prefetches the weight stream [`TILE_PREFETCH_BLOCKS`]
    /// blocks ahead, up to `q_end`: without it, a product over weights that are not in
    /// cache (the head) ran at a third of the memory's speed. Into L2 (`T1`), not L1:
    /// a tile spends several times longer on a block than [`gemv`] does, so to cover
    /// the memory's latency more lines must be in flight than L1's miss buffers hold,
    /// and prefetches to L1 beyond them were lost (8 rows: the head took 10-15 ms
    /// prefetching to L1 8 blocks ahead, 6.5-8.5 ms to L2 16 ahead, against 5-8 ms for
    /// one row).
    #[target_feature(enable = "avx512f,avx512vnni")]
    #[inline]
    unsafe fn micro<const R: usize>(w: &Q8Matrix, xq: &Q8Rows, r0: usize, p: usize, out: *mut f32, accumulate: bool, q_end: *const u8) {
        let blocks = w.blocks;
        let wbase = (w.quants.as_ptr() as *const u8).add(p * blocks * BLOCK_BYTES);
        let sbase = w.scales.as_ptr().add(p * blocks * LANES);
        let s_end = (w.scales.as_ptr() as *const u8).wrapping_add(q_end.offset_from(w.quants.as_ptr() as *const u8) as usize / 16);
        let dist = TILE_PREFETCH_BLOCKS * BLOCK_BYTES;
        let x0 = xq.q.as_ptr().add(r0 * xq.blocks * QK) as *const i32;
        let (d0, bias0) = (xq.d.as_ptr().add(r0 * xq.blocks), xq.bias.as_ptr().add(r0 * xq.blocks));
        let stride = xq.blocks;
        // No closures in here: they would not inherit this function's target features.
        let mut acc = [_mm512_setzero_ps(); R];
        for b in 0..blocks {
            let wq = wbase.add(b * BLOCK_BYTES);
            let ahead = wq.wrapping_add(dist);
            if ahead < q_end {
                for l in 0..8 {
                    _mm_prefetch::<_MM_HINT_T1>(ahead.add(64 * l) as *const i8);
                }
                let sa = (sbase.add(b * LANES) as *const u8).wrapping_add(dist / 16);
                if sa < s_end {
                    _mm_prefetch::<_MM_HINT_T1>(sa as *const i8);
                }
            }
            let mut wv = [_mm512_setzero_si512(); 8];
            for (g, v) in wv.iter_mut().enumerate() {
                *v = _mm512_load_si512(wq.add(64 * g) as *const _);
            }
            let dw = _mm512_cvtph_ps(_mm256_loadu_si256(sbase.add(b * LANES) as *const _));
            for (i, acc) in acc.iter_mut().enumerate() {
                let k = i * stride + b;
                let xb = x0.add(k * 8);
                let mut e = _mm512_set1_epi32(*bias0.add(k));
                let mut o = _mm512_setzero_si512();
                for g in (0..8).step_by(2) {
                    e = _mm512_dpbusd_epi32(e, wv[g], _mm512_set1_epi32(*xb.add(g)));
                    o = _mm512_dpbusd_epi32(o, wv[g + 1], _mm512_set1_epi32(*xb.add(g + 1)));
                }
                let dot = _mm512_add_epi32(e, o);
                let s = _mm512_mul_ps(dw, _mm512_set1_ps(*d0.add(k)));
                *acc = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(dot), *acc);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            store(w, r0 + i, p, *acc, out, accumulate);
        }
    }
}

#[cfg(test)]
#[path = "q8_tests.rs"]
mod tests;
