//! Products with a thin factor: LoRA's `x A^T`, `u B^T` and their gradients, where one
//! side of the product is only r (the LoRA rank, 8 to 64) wide.
//!
//! A general GEMM blocks for square-ish shapes; with r = 16 the gemm crate ran these at
//! 30–50 GFLOP/s (seven calls per projection, 882 per training step of gemma-3-270m,
//! ~0.3 s of a 2.5 s step). Here one zmm register holds a 16-wide row of the thin side,
//! so each kernel is a stream of broadcast-FMAs over the wide side. Without AVX-512F
//! every function falls back to [`crate::kernels::sgemm::sgemm`].

use rayon::prelude::*;

use super::sgemm::sgemm;
use super::simd::avx512;

/// `u (n, r) = s * x (n, k) · m (k, r)`, all row-major.
pub(crate) fn project(x: &[f32], n: usize, k: usize, m: &[f32], r: usize, s: f32, u: &mut [f32]) {
    assert!(x.len() == n * k && m.len() == k * r && u.len() == n * r, "project: shapes");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F checked; the kernels stay inside the asserted shapes.
        return unsafe { x86::project(x, n, k, m, r, s, u) };
    }
    sgemm(n, r, k, u, (r, 1), false, x, (k, 1), m, (r, 1), s);
}

/// `d (k, r) = s * x (n, k)^T · u (n, r)`, all row-major.
pub(crate) fn gram(x: &[f32], n: usize, k: usize, u: &[f32], r: usize, s: f32, d: &mut [f32]) {
    assert!(x.len() == n * k && u.len() == n * r && d.len() == k * r, "gram: shapes");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above.
        return unsafe { x86::gram(x, n, k, u, r, s, d) };
    }
    sgemm(k, r, n, d, (r, 1), false, x, (1, k), u, (r, 1), s);
}

/// `y (n, c) = s * u (n, r) · m (r, c)`, all row-major; `y` is overwritten, so a dense
/// product can then accumulate onto it (this pass replaces the zeroing of `y`).
pub(crate) fn expand(u: &[f32], n: usize, r: usize, m: &[f32], c: usize, s: f32, y: &mut [f32]) {
    assert!(u.len() == n * r && m.len() == r * c && y.len() == n * c, "expand: shapes");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above.
        return unsafe { x86::expand(u, n, r, m, c, s, y) };
    }
    sgemm(n, c, r, y, (c, 1), false, u, (r, 1), m, (c, 1), s);
}

/// `(rows, cols)` row-major into `(cols, rows)` row-major.
pub(crate) fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(a.len(), rows * cols, "transpose: shape");
    let mut t = vec![0f32; a.len()];
    for (i, row) in a.chunks_exact(cols.max(1)).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            t[j * rows + i] = v;
        }
    }
    t
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use crate::kernels::simd::x86::{tail_mask as mask, L};
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    struct Out(*mut f32);
    unsafe impl Send for Out {}
    unsafe impl Sync for Out {}

    /// Work items for two threads without tiny jobs: `len` split into chunks that are
    /// multiples of `align`, about `4 * threads` of them.
    fn chunk(len: usize, align: usize) -> usize {
        let jobs = 4 * rayon::current_num_threads();
        len.div_ceil(jobs).next_multiple_of(align).max(align)
    }

    /// Runs `f(0..jobs)` on rayon, or inline when the whole product is too small to pay
    /// for waking another thread (decoding one token: a few microseconds of work).
    fn for_each_job(jobs: usize, flops: usize, f: impl Fn(usize) + Sync + Send) {
        if flops < 1 << 20 {
            (0..jobs).for_each(f);
        } else {
            (0..jobs).into_par_iter().for_each(f);
        }
    }

    /// Covers `0..len` (rows of the output) in jobs; in each job, for every 16-lane group
    /// `g0` of r, `block(g0, i)` on runs of `B` rows starting at `i` and `one(g0, i)` on
    /// the rows left over.
    fn blocked<const B: usize>(
        len: usize,
        r: usize,
        flops: usize,
        block: impl Fn(usize, usize) + Sync + Send,
        one: impl Fn(usize, usize) + Sync + Send,
    ) {
        let rows = chunk(len, B);
        for_each_job(len.div_ceil(rows), flops, |job| {
            let (lo, hi) = (job * rows, ((job + 1) * rows).min(len));
            for g0 in (0..r).step_by(L) {
                let mut i = lo;
                while i + B <= hi {
                    block(g0, i);
                    i += B;
                }
                while i < hi {
                    one(g0, i);
                    i += 1;
                }
            }
        });
    }

    /// Rows `i0..i0+R` of `u`, lanes `g0..g0+16` of r.
    #[inline]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn project_micro<const R: usize>(
        x: *const f32,
        k: usize,
        m: *const f32,
        r: usize,
        g0: usize,
        s: f32,
        u: *mut f32,
        i0: usize,
    ) {
        let msk = mask(r - g0);
        let mut acc = [_mm512_setzero_ps(); R];
        let xr = x.add(i0 * k);
        for kk in 0..k {
            let mv = _mm512_maskz_loadu_ps(msk, m.add(kk * r + g0));
            for (i, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*xr.add(i * k + kk)), mv, *acc);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(u.add((i0 + i) * r + g0), msk, _mm512_mul_ps(*acc, _mm512_set1_ps(s)));
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn project(x: &[f32], n: usize, k: usize, m: &[f32], r: usize, s: f32, u: &mut [f32]) {
        const R: usize = 8;
        let out = Out(u.as_mut_ptr());
        // SAFETY (both kernels): each call writes its own rows of `u`.
        blocked::<R>(
            n,
            r,
            2 * n * k * r,
            |g0, i| unsafe { project_micro::<R>(x.as_ptr(), k, m.as_ptr(), r, g0, s, { out }.0, i) },
            |g0, i| unsafe { project_micro::<1>(x.as_ptr(), k, m.as_ptr(), r, g0, s, { out }.0, i) },
        );
    }

    /// Rows `k0..k0+C` of `d`, lanes `g0..g0+16` of r.
    #[inline]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn gram_micro<const C: usize>(
        x: *const f32,
        n: usize,
        k: usize,
        u: *const f32,
        r: usize,
        g0: usize,
        s: f32,
        d: *mut f32,
        k0: usize,
    ) {
        let msk = mask(r - g0);
        let mut acc = [_mm512_setzero_ps(); C];
        for i in 0..n {
            let uv = _mm512_maskz_loadu_ps(msk, u.add(i * r + g0));
            let xr = x.add(i * k + k0);
            for (c, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*xr.add(c)), uv, *acc);
            }
        }
        for (c, acc) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(d.add((k0 + c) * r + g0), msk, _mm512_mul_ps(*acc, _mm512_set1_ps(s)));
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gram(x: &[f32], n: usize, k: usize, u: &[f32], r: usize, s: f32, d: &mut [f32]) {
        const C: usize = 16;
        let out = Out(d.as_mut_ptr());
        // SAFETY (both kernels): each call writes its own rows of `d`.
        blocked::<C>(
            k,
            r,
            2 * n * k * r,
            |g0, c| unsafe { gram_micro::<C>(x.as_ptr(), n, k, u.as_ptr(), r, g0, s, { out }.0, c) },
            |g0, c| unsafe { gram_micro::<1>(x.as_ptr(), n, k, u.as_ptr(), r, g0, s, { out }.0, c) },
        );
    }

    /// Rows `i0..i0+R` of `y`, columns `c0..c0+32`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn expand_micro<const R: usize>(
        u: *const f32,
        r: usize,
        m: *const f32,
        c: usize,
        s: f32,
        y: *mut f32,
        i0: usize,
        c0: usize,
    ) {
        let (m0, m1) = (mask(c - c0), mask((c - c0).saturating_sub(L)));
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for j in 0..r {
            let w0 = _mm512_maskz_loadu_ps(m0, m.add(j * c + c0));
            let w1 = _mm512_maskz_loadu_ps(m1, m.add(j * c + c0 + L));
            for (i, acc) in acc.iter_mut().enumerate() {
                let b = _mm512_set1_ps(*u.add((i0 + i) * r + j));
                acc[0] = _mm512_fmadd_ps(b, w0, acc[0]);
                acc[1] = _mm512_fmadd_ps(b, w1, acc[1]);
            }
        }
        let sv = _mm512_set1_ps(s);
        for (i, acc) in acc.iter().enumerate() {
            let o = y.add((i0 + i) * c + c0);
            _mm512_mask_storeu_ps(o, m0, _mm512_mul_ps(acc[0], sv));
            _mm512_mask_storeu_ps(o.add(L), m1, _mm512_mul_ps(acc[1], sv));
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn expand(u: &[f32], n: usize, r: usize, m: &[f32], c: usize, s: f32, y: &mut [f32]) {
        const R: usize = 4;
        let rows = chunk(n, R);
        let out = Out(y.as_mut_ptr());
        for_each_job(n.div_ceil(rows), 2 * n * r * c, |job| {
            // Not redundant: the closure must capture the whole `Out` (Send + Sync), where
            // edition 2021 would capture only its raw-pointer field.
            #[allow(clippy::redundant_locals)]
            let out = out;
            let (lo, hi) = (job * rows, ((job + 1) * rows).min(n));
            let mut i = lo;
            // SAFETY: each job writes its own rows of `y`.
            unsafe {
                while i < hi {
                    let step = if i + R <= hi { R } else { 1 };
                    for c0 in (0..c).step_by(2 * L) {
                        if step == R {
                            expand_micro::<R>(u.as_ptr(), r, m.as_ptr(), c, s, out.0, i, c0);
                        } else {
                            expand_micro::<1>(u.as_ptr(), r, m.as_ptr(), c, s, out.0, i, c0);
                        }
                    }
                    i += step;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        (0..n).map(|_| rng.next_normal() as f32).collect()
    }

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, s: f32) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let sum: f64 = (0..k).map(|t| a[i * k + t] as f64 * b[t * n + j] as f64).sum();
                out[i * n + j] = s * sum as f32;
            }
        }
        out
    }

    fn assert_close(what: &str, got: &[f32], want: &[f32]) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
        }
    }

    #[test]
    fn thin_products_match_a_naive_product() {
        // Ranks below, at and above one register; sizes with row and column tails.
        for &(n, k, r) in &[(1, 1, 1), (13, 37, 8), (29, 70, 16), (33, 19, 40), (9, 130, 64)] {
            let (x, m, s) = (rand(n * k, 1), rand(k * r, 2), 0.5);
            let mut u = vec![f32::NAN; n * r];
            project(&x, n, k, &m, r, s, &mut u);
            assert_close("project", &u, &naive(&x, &m, n, k, r, s));

            let g = rand(n * r, 3);
            let mut d = vec![f32::NAN; k * r];
            gram(&x, n, k, &g, r, s, &mut d);
            assert_close("gram", &d, &naive(&transpose(&x, n, k), &g, k, n, r, s));

            let w = rand(r * k, 4);
            let mut y = vec![f32::NAN; n * k];
            expand(&g, n, r, &w, k, s, &mut y);
            assert_close("expand", &y, &naive(&g, &w, n, r, k, s));
        }
        assert_eq!(transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
