//! A bf16 GEMM for frozen weights on CPUs with AVX512_BF16 (`vdpbf16ps`), used by
//! training when `TrainConfig::bf16_matmul` is set.
//!
//! `out (m, n) [+]= x (m, k) · B^T` where `B (n, k)` is a fixed matrix packed once into
//! bf16 panels ([`PackedBf16`]); `x` is rounded to bf16 per call (round to nearest even),
//! products are summed in f32. Callers keep everything else (LoRA factors, optimiser,
//! loss) in f32. On CPUs without the instructions [`PackedBf16::new`] returns None and
//! callers stay on the f32 path.

use rayon::prelude::*;

/// Output columns per panel (one zmm of f32 lanes).
const LANES: usize = 16;
/// Panels per micro-tile (48 output columns).
const NP: usize = 3;
/// Rows of `x` per micro-tile.
const MR: usize = 8;
/// Pairs of `k` per cache block (1024 values of k).
const KC_PAIRS: usize = 512;

/// Whether this CPU has the AVX-512 subsets the kernel needs.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `B (n, k)` as bf16 in the kernel's layout: panels of 16 rows of B; inside a panel,
/// for each pair of k, the 16 rows' two values interleaved (`[kp][row][2]`), so one
/// 64-byte load feeds one `vdpbf16ps`. Rows past `n` and the odd k are zero.
pub struct PackedBf16 {
    n: usize,
    k: usize,
    k_pairs: usize,
    /// `panels * k_pairs * LANES` u32 words, each two bf16 (low half = even k).
    data: Vec<u32>,
}

impl std::fmt::Debug for PackedBf16 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedBf16({}x{})", self.n, self.k)
    }
}

#[inline]
fn bf16_bits(x: f32) -> u32 {
    half::bf16::from_f32(x).to_bits() as u32
}

impl PackedBf16 {
    /// Packs `b`, row-major `(n, k)` with row stride `rs` and column stride `cs`
    /// (elements), so both a weight `(out, in)` and its transpose can be packed without
    /// a copy. None when the CPU lacks AVX512_BF16.
    pub fn new(b: &[f32], n: usize, k: usize, rs: usize, cs: usize) -> Option<Self> {
        if !available() {
            return None;
        }
        let k_pairs = k.div_ceil(2);
        let panels = n.div_ceil(LANES);
        let mut data = vec![0u32; panels * k_pairs * LANES];
        data.par_chunks_mut(k_pairs * LANES).enumerate().for_each(|(p, panel)| {
            for j in 0..LANES {
                let row = p * LANES + j;
                if row >= n {
                    continue;
                }
                for kp in 0..k_pairs {
                    let k0 = 2 * kp;
                    let lo = bf16_bits(b[row * rs + k0 * cs]);
                    let hi = if k0 + 1 < k { bf16_bits(b[row * rs + (k0 + 1) * cs]) } else { 0 };
                    panel[kp * LANES + j] = lo | (hi << 16);
                }
            }
        });
        Some(Self { n, k, k_pairs, data })
    }

    /// Rows of B (output columns of the product).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns of B (the reduction length).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// `out (m, n) = [out +] x (m, k) · B^T`; `x` and `out` row-major and contiguous.
    pub fn matmul_t(&self, x: &[f32], m: usize, out: &mut [f32], accumulate: bool) {
        assert_eq!(x.len(), m * self.k, "x must be (m, k)");
        assert_eq!(out.len(), m * self.n, "out must be (m, n)");
        if m == 0 || self.n == 0 {
            return;
        }
        if !accumulate {
            out.iter_mut().for_each(|v| *v = 0.0);
        }
        if self.k == 0 {
            return;
        }
        let xp = pack_rows(x, m, self.k, self.k_pairs);
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `PackedBf16` exists only when `available()` said the CPU has the
            // instructions; the kernel stays inside the buffers checked above.
            unsafe { self.run(&xp, m, out) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = xp;
            unreachable!("PackedBf16 is never built off x86_64")
        }
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn run(&self, xp: &[u32], m: usize, out: &mut [f32]) {
        let n = self.n;
        let tile_cols = NP * LANES;
        let tiles = n.div_ceil(tile_cols);
        let out_ptr = SendPtr(out.as_mut_ptr());
        let k_pairs = self.k_pairs;
        // Few column tiles (a 640-wide output): split rows too so both threads work.
        let row_split = if tiles >= 4 * rayon::current_num_threads() { m } else { (m / 4).max(MR).next_multiple_of(MR) };
        let row_blocks = m.div_ceil(row_split);
        // Each job owns a contiguous run of (column tile, row block) items and walks the
        // whole reduction itself, k block by k block: no barrier between k blocks (the
        // head's input gradient has 256 of them), and a job's x block stays in its core's
        // cache across its tiles.
        let items = tiles * row_blocks;
        let jobs = items.min(4 * rayon::current_num_threads());
        (0..jobs).into_par_iter().for_each(|job| {
            let out = out_ptr;
            let (first, last) = (job * items / jobs, (job + 1) * items / jobs);
            for kb in (0..k_pairs).step_by(KC_PAIRS) {
                let kc = KC_PAIRS.min(k_pairs - kb);
                for item in first..last {
                    let (t, rb) = (item / row_blocks, item % row_blocks);
                    let c0 = t * tile_cols;
                    let cols = tile_cols.min(n - c0);
                    let (r_lo, r_hi) = (rb * row_split, ((rb + 1) * row_split).min(m));
                    let mut r = r_lo;
                    while r < r_hi {
                        let rows = MR.min(r_hi - r);
                        // SAFETY: jobs write disjoint (row range, column tile) blocks of `out`.
                        unsafe { tile(self, xp, k_pairs, kb, kc, r, rows, c0, cols, out.0, n) };
                        r += rows;
                    }
                }
            }
        });
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// `x (m, k)` rounded to bf16 pairs, `(m, k_pairs)` u32 words.
fn pack_rows(x: &[f32], m: usize, k: usize, k_pairs: usize) -> Vec<u32> {
    let mut xp = vec![0u32; m * k_pairs];
    xp.par_chunks_mut(k_pairs).zip(x.par_chunks(k)).for_each(|(dst, src)| {
        // SAFETY: only reached through a `PackedBf16`, which requires the features.
        #[cfg(target_arch = "x86_64")]
        let mut i = unsafe { pack_row_avx512(src, dst) };
        #[cfg(not(target_arch = "x86_64"))]
        let mut i = 0;
        while 2 * i < k {
            let lo = bf16_bits(src[2 * i]);
            let hi = if 2 * i + 1 < k { bf16_bits(src[2 * i + 1]) } else { 0 };
            dst[i] = lo | (hi << 16);
            i += 1;
        }
    });
    let _ = m;
    xp
}

/// Converts whole 32-value blocks with `vcvtne2ps2bf16`; returns the pairs written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_row_avx512(src: &[f32], dst: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    let blocks = src.len() / 32;
    for b in 0..blocks {
        let lo = _mm512_loadu_ps(src.as_ptr().add(32 * b));
        let hi = _mm512_loadu_ps(src.as_ptr().add(32 * b + 16));
        // Result: the 16 values of `hi` in the upper half, `lo` in the lower half,
        // element order preserved, so memory order is src[32b..32b+32] as bf16.
        let v = _mm512_cvtne2ps_pbh(hi, lo);
        _mm512_storeu_si512(dst.as_mut_ptr().add(16 * b) as *mut _, std::mem::transmute::<__m512bh, __m512i>(v));
    }
    blocks * 16
}

/// One block: rows `r..r+rows` of the output, columns `c0..c0+cols`, k pairs
/// `kb..kb+kc`, added to what `out` holds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    b: &PackedBf16,
    xp: &[u32],
    k_pairs: usize,
    kb: usize,
    kc: usize,
    r: usize,
    rows: usize,
    c0: usize,
    cols: usize,
    out: *mut f32,
    ldo: usize,
) {
    match rows {
        8 => micro::<8>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
        7 => micro::<7>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
        6 => micro::<6>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
        5 => micro::<5>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
        4 => micro::<4>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
        3 => micro::<3>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
        2 => micro::<2>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
        _ => micro::<1>(b, xp, k_pairs, kb, kc, r, c0, cols, out, ldo),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)]
// The indexed `acc[i][p]` loops are the form this kernel was tuned for; left as they are.
#[allow(clippy::needless_range_loop)]
#[inline]
unsafe fn micro<const R: usize>(
    b: &PackedBf16,
    xp: &[u32],
    k_pairs: usize,
    kb: usize,
    kc: usize,
    r: usize,
    c0: usize,
    cols: usize,
    out: *mut f32,
    ldo: usize,
) {
    use std::arch::x86_64::*;
    let panels = cols.div_ceil(LANES);
    let p0 = c0 / LANES;
    let panel_len = k_pairs * LANES;
    let mut acc = [[_mm512_setzero_ps(); NP]; R];
    let bp = b.data.as_ptr();
    let xrow = xp.as_ptr().add(r * k_pairs + kb);
    if panels == NP {
        let w0 = bp.add(p0 * panel_len + kb * LANES);
        let w1 = w0.add(panel_len);
        let w2 = w1.add(panel_len);
        for kp in 0..kc {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(w0.add(kp * LANES) as *const _));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(w1.add(kp * LANES) as *const _));
            let b2: __m512bh = std::mem::transmute(_mm512_loadu_si512(w2.add(kp * LANES) as *const _));
            for i in 0..R {
                let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(*xrow.add(i * k_pairs + kp) as i32));
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
                acc[i][2] = _mm512_dpbf16_ps(acc[i][2], a, b2);
            }
        }
    } else {
        for kp in 0..kc {
            for p in 0..panels {
                let w = bp.add((p0 + p) * panel_len + (kb + kp) * LANES);
                let bv: __m512bh = std::mem::transmute(_mm512_loadu_si512(w as *const _));
                for i in 0..R {
                    let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(*xrow.add(i * k_pairs + kp) as i32));
                    acc[i][p] = _mm512_dpbf16_ps(acc[i][p], a, bv);
                }
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        let o = out.add((r + i) * ldo + c0);
        for (p, acc) in acc.iter().enumerate().take(panels) {
            let left = cols - p * LANES;
            let mask: __mmask16 = if left >= LANES { 0xFFFF } else { (1u16 << left) - 1 };
            let dst = o.add(p * LANES);
            let prev = _mm512_maskz_loadu_ps(mask, dst);
            _mm512_mask_storeu_ps(dst, mask, _mm512_add_ps(prev, *acc));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], m: usize, b: &[f32], n: usize, k: usize) -> Vec<f32> {
        let r = |v: f32| half::bf16::from_f32(v).to_f32();
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for t in 0..k {
                    s += (r(x[i * k + t]) * r(b[j * k + t])) as f64;
                }
                out[i * n + j] = s as f32;
            }
        }
        out
    }

    #[test]
    fn matches_a_bf16_rounded_reference() {
        if !available() {
            // Nothing to multiply with: the packer must say so rather than pack.
            assert!(PackedBf16::new(&[1.0; 4], 2, 2, 2, 1).is_none());
            return;
        }
        let mut rng = crate::rng::SplitMix64::new(3);
        for &(m, n, k) in &[(1, 1, 1), (8, 48, 64), (13, 70, 33), (20, 100, 2100), (3, 17, 1025)] {
            let x: Vec<f32> = (0..m * k).map(|_| rng.next_normal() as f32).collect();
            let b: Vec<f32> = (0..n * k).map(|_| rng.next_normal() as f32).collect();
            let want = reference(&x, m, &b, n, k);
            let p = PackedBf16::new(&b, n, k, k, 1).unwrap();
            let mut got = vec![1f32; m * n];
            p.matmul_t(&x, m, &mut got, false);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-3 * (1.0 + w.abs()), "{m}x{n}x{k}: {g} vs {w}");
            }
            // Accumulating, and B given transposed (strides swapped).
            let bt: Vec<f32> = (0..k * n).map(|i| b[(i % n) * k + i / n]).collect();
            let pt = PackedBf16::new(&bt, n, k, 1, n).unwrap();
            let mut acc = want.clone();
            pt.matmul_t(&x, m, &mut acc, true);
            for (g, w) in acc.iter().zip(&want) {
                assert!((g - 2.0 * w).abs() <= 2e-3 * (1.0 + w.abs()), "{m}x{n}x{k} acc: {g} vs {}", 2.0 * w);
            }
        }
    }
}
