//! Element-wise loops that LLVM leaves scalar, written out for AVX-512 and picked at run
//! time: `exp` (inside GELU and every softmax) does not auto-vectorise because of the
//! float-to-int conversion, and horizontal max/sum reductions never do under strict
//! float semantics. Each function has a portable scalar path with the same formulas,
//! used on CPUs without AVX-512F and for the tails the vector loop does not cover.

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044715;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Inputs of `exp` are clamped here: no infinities, no denormals.
const EXP_LO: f32 = -87.0;
const EXP_HI: f32 = 88.0;

/// Whether the AVX-512 paths run on this CPU.
pub(crate) fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `exp(x)` as `2^n * p(r)` with `x = n ln2 + r`, |r| <= ln2/2 and p a degree-6 Taylor
/// polynomial (relative error < 1e-7 before rounding); the vector path evaluates the
/// same polynomial.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer with plain adds.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(EXP_LO, EXP_HI);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    f32::from_bits(((n as i32 + 127) << 23) as u32) * p
}

/// tanh-approximated GELU (HF's `gelu_pytorch_tanh`) and its derivative, with
/// `tanh(u) = 1 - 2 / (exp(2u) + 1)`.
#[inline(always)]
pub(crate) fn gelu_parts(x: f32) -> (f32, f32) {
    let x2 = x * x;
    let inner = SQRT_2_OVER_PI * x * (1.0 + GELU_C * x2);
    let th = 1.0 - 2.0 / (exp(2.0 * inner) + 1.0);
    let gelu = 0.5 * x * (1.0 + th);
    let d = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x2);
    (gelu, d)
}

/// `o = gelu(g) * u`.
pub(crate) fn gelu_mul_fwd(o: &mut [f32], g: &[f32], u: &[f32]) {
    let n = o.len();
    assert!(g.len() == n && u.len() == n, "gelu_mul_fwd: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F checked; every access is below `n` (masked tail).
        return unsafe { x86::gelu_mul_fwd(o, g, u) };
    }
    for i in 0..n {
        o[i] = gelu_parts(g[i]).0 * u[i];
    }
}

/// `dg = d * u * gelu'(g)`, `du = d * gelu(g)`.
pub(crate) fn gelu_mul_bwd(dg: &mut [f32], du: &mut [f32], g: &[f32], u: &[f32], d: &[f32]) {
    let n = dg.len();
    assert!(du.len() == n && g.len() == n && u.len() == n && d.len() == n, "gelu_mul_bwd: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above.
        return unsafe { x86::gelu_mul_bwd(dg, du, g, u, d) };
    }
    for i in 0..n {
        let (gelu, dgelu) = gelu_parts(g[i]);
        dg[i] = d[i] * u[i] * dgelu;
        du[i] = d[i] * gelu;
    }
}

/// `max(a * x)`, `-inf` for an empty slice.
pub(crate) fn max_scaled(x: &[f32], a: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above.
        return unsafe { x86::max_scaled(x, a) };
    }
    x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(a * v))
}

/// `dst = exp(a * src + b)`, returning the sum of `dst`.
pub(crate) fn exp_affine_sum(dst: &mut [f32], src: &[f32], a: f32, b: f32) -> f32 {
    assert_eq!(dst.len(), src.len(), "exp_affine_sum: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above; `dst` and `src` are distinct borrows.
        return unsafe { x86::exp_affine_sum(dst.as_mut_ptr(), src.as_ptr(), dst.len(), a, b) };
    }
    let mut sum = 0f32;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = exp(a * s + b);
        sum += *d;
    }
    sum
}

/// `x = exp(a * x + b)` in place, returning the sum.
pub(crate) fn exp_affine_sum_in_place(x: &mut [f32], a: f32, b: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above; reading and writing the same element in one step is fine.
        return unsafe { x86::exp_affine_sum(x.as_mut_ptr(), x.as_ptr(), x.len(), a, b) };
    }
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = exp(a * *v + b);
        sum += *v;
    }
    sum
}

/// `x *= s`.
pub(crate) fn scale(x: &mut [f32], s: f32) {
    x.iter_mut().for_each(|v| *v *= s);
}

/// `sum(a * b)`.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as above.
        return unsafe { x86::dot(a, b) };
    }
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// `o += w * v`, the product rounded before the sum (no fused multiply-add), as the
/// scalar expression computes it.
pub(crate) fn add_scaled(o: &mut [f32], w: f32, v: &[f32]) {
    assert_eq!(o.len(), v.len(), "add_scaled: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F; the lengths are equal.
        return unsafe { x86::add_scaled(o, w, v) };
    }
    o.iter_mut().zip(v).for_each(|(o, v)| *o += w * v);
}

/// Index of the largest value (the first among equals; NaNs never win, unless the first
/// value is NaN, which then does): the greedy choice over a row of logits.
pub(crate) fn argmax(z: &[f32]) -> usize {
    match z.first() {
        None => return 0,
        Some(v) if v.is_nan() => return 0,
        _ => {}
    }
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        let m = unsafe { x86::max_not_nan(z) };
        return z.iter().position(|&v| v == m).unwrap_or(0);
    }
    let mut best = 0;
    for (i, &v) in z.iter().enumerate() {
        if v > z[best] {
            best = i;
        }
    }
    best
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// f32 lanes in a zmm register.
    pub(crate) const L: usize = 16;

    /// The first `min(left, 16)` lanes.
    #[inline]
    pub(crate) fn tail_mask(left: usize) -> __mmask16 {
        if left >= L {
            0xFFFF
        } else {
            (1u16 << left) - 1
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp16(x: __m512) -> __m512 {
        // max/min return their second operand when either is NaN: NaN stays NaN.
        let x = _mm512_min_ps(_mm512_set1_ps(EXP_HI), _mm512_max_ps(_mm512_set1_ps(EXP_LO), x));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(
            x,
            _mm512_set1_ps(LOG2E),
        ));
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(1.0 / 720.0);
        for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    /// `(gelu(x), tanh term)`: `th` is reused by the derivative.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn gelu16(x: __m512) -> (__m512, __m512, __m512) {
        let one = _mm512_set1_ps(1.0);
        let half = _mm512_set1_ps(0.5);
        let x2 = _mm512_mul_ps(x, x);
        let inner = _mm512_mul_ps(
            _mm512_mul_ps(_mm512_set1_ps(SQRT_2_OVER_PI), x),
            _mm512_fmadd_ps(_mm512_set1_ps(GELU_C), x2, one),
        );
        let e = exp16(_mm512_add_ps(inner, inner));
        let th = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0), _mm512_add_ps(e, one)));
        let gelu = _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, th));
        (gelu, th, x2)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gelu_mul_fwd(o: &mut [f32], g: &[f32], u: &[f32]) {
        let n = o.len();
        let mut i = 0;
        while i < n {
            let m = tail_mask(n - i);
            let gv = _mm512_maskz_loadu_ps(m, g.as_ptr().add(i));
            let uv = _mm512_maskz_loadu_ps(m, u.as_ptr().add(i));
            let (gelu, _, _) = gelu16(gv);
            _mm512_mask_storeu_ps(o.as_mut_ptr().add(i), m, _mm512_mul_ps(gelu, uv));
            i += L;
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gelu_mul_bwd(dg: &mut [f32], du: &mut [f32], g: &[f32], u: &[f32], d: &[f32]) {
        let n = dg.len();
        let one = _mm512_set1_ps(1.0);
        let half = _mm512_set1_ps(0.5);
        let mut i = 0;
        while i < n {
            let m = tail_mask(n - i);
            let x = _mm512_maskz_loadu_ps(m, g.as_ptr().add(i));
            let uv = _mm512_maskz_loadu_ps(m, u.as_ptr().add(i));
            let dv = _mm512_maskz_loadu_ps(m, d.as_ptr().add(i));
            let (gelu, th, x2) = gelu16(x);
            // d gelu/dx = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3c x^2)
            let sech2 = _mm512_fnmadd_ps(th, th, one);
            let poly = _mm512_fmadd_ps(_mm512_set1_ps(3.0 * GELU_C), x2, one);
            let t2 = _mm512_mul_ps(
                _mm512_mul_ps(_mm512_mul_ps(half, x), sech2),
                _mm512_mul_ps(_mm512_set1_ps(SQRT_2_OVER_PI), poly),
            );
            let dgelu = _mm512_fmadd_ps(half, _mm512_add_ps(one, th), t2);
            _mm512_mask_storeu_ps(dg.as_mut_ptr().add(i), m, _mm512_mul_ps(_mm512_mul_ps(dv, uv), dgelu));
            _mm512_mask_storeu_ps(du.as_mut_ptr().add(i), m, _mm512_mul_ps(dv, gelu));
            i += L;
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn max_scaled(x: &[f32], a: f32) -> f32 {
        let n = x.len();
        let av = _mm512_set1_ps(a);
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let mut acc = ninf;
        let mut i = 0;
        while i < n {
            let m = tail_mask(n - i);
            let v = _mm512_mask_loadu_ps(ninf, m, x.as_ptr().add(i));
            // Masked lanes keep -inf (a * -inf would be +inf for a negative a).
            acc = _mm512_max_ps(acc, _mm512_mask_mul_ps(ninf, m, v, av));
            i += L;
        }
        _mm512_reduce_max_ps(acc)
    }

    /// `dst = exp(a * src + b)`, sum returned; `dst` may equal `src`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn exp_affine_sum(dst: *mut f32, src: *const f32, n: usize, a: f32, b: f32) -> f32 {
        let (av, bv) = (_mm512_set1_ps(a), _mm512_set1_ps(b));
        let mut sum = _mm512_setzero_ps();
        let mut i = 0;
        while i < n {
            let m = tail_mask(n - i);
            let v = _mm512_maskz_loadu_ps(m, src.add(i));
            let e = _mm512_maskz_mov_ps(m, exp16(_mm512_fmadd_ps(av, v, bv)));
            _mm512_mask_storeu_ps(dst.add(i), m, e);
            sum = _mm512_add_ps(sum, e);
            i += L;
        }
        _mm512_reduce_add_ps(sum)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let mut acc = _mm512_setzero_ps();
        let mut i = 0;
        while i < n {
            let m = tail_mask(n - i);
            let x = _mm512_maskz_loadu_ps(m, a.as_ptr().add(i));
            let y = _mm512_maskz_loadu_ps(m, b.as_ptr().add(i));
            acc = _mm512_fmadd_ps(x, y, acc);
            i += L;
        }
        _mm512_reduce_add_ps(acc)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_scaled(o: &mut [f32], w: f32, v: &[f32]) {
        let n = o.len();
        let wv = _mm512_set1_ps(w);
        let mut i = 0;
        while i < n {
            let m = tail_mask(n - i);
            let x = _mm512_maskz_loadu_ps(m, o.as_ptr().add(i));
            let y = _mm512_maskz_loadu_ps(m, v.as_ptr().add(i));
            _mm512_mask_storeu_ps(o.as_mut_ptr().add(i), m, _mm512_add_ps(x, _mm512_mul_ps(wv, y)));
            i += L;
        }
    }

    /// The largest value that is not NaN (`-inf` when there is none).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn max_not_nan(z: &[f32]) -> f32 {
        let n = z.len();
        // `max(v, acc)` returns `acc` when `v` is NaN, so NaNs never enter.
        let mut acc = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
        let mut i = 0;
        while i + 4 * L <= n {
            for (a, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_max_ps(_mm512_loadu_ps(z.as_ptr().add(i + a * L)), *acc);
            }
            i += 4 * L;
        }
        while i < n {
            let m = tail_mask(n - i);
            let v = _mm512_mask_loadu_ps(_mm512_set1_ps(f32::NEG_INFINITY), m, z.as_ptr().add(i));
            acc[0] = _mm512_max_ps(v, acc[0]);
            i += L;
        }
        let all = _mm512_max_ps(_mm512_max_ps(acc[0], acc[1]), _mm512_max_ps(acc[2], acc[3]));
        _mm512_reduce_max_ps(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919) % 2001) as f32 / 100.0 - 10.0).collect()
    }

    /// The vector argmax picks what the scalar loop picks: the first of equal maxima,
    /// never a NaN unless it comes first, `-inf` rows, ties at ±0.
    #[test]
    fn argmax_matches_the_scalar_loop() {
        let scalar = |z: &[f32]| {
            let mut best = 0;
            for (i, &v) in z.iter().enumerate() {
                if v > z[best] {
                    best = i;
                }
            }
            best
        };
        let mut cases: Vec<Vec<f32>> = vec![vec![], vec![1.0], vec![f32::NAN, 5.0, 2.0], vec![f32::NEG_INFINITY; 70]];
        let base = inputs(262_147);
        let mut tied = base.clone();
        tied[200_000] = 100.0;
        tied[7] = 100.0;
        cases.push(tied);
        let mut nan = base.clone();
        nan[3] = f32::NAN;
        nan[100] = f32::NAN;
        cases.push(nan);
        cases.push(vec![-0.0, 0.0, -1.0, 0.0]);
        cases.push(vec![0.0, -0.0]);
        let mut masked = vec![f32::NEG_INFINITY; 1000];
        masked[999] = -3.0;
        masked[998] = f32::NAN;
        cases.push(masked);
        cases.push(base);
        for z in &cases {
            assert_eq!(argmax(z), scalar(z), "{:?}", &z[..z.len().min(8)]);
        }
    }

    #[test]
    fn add_scaled_rounds_as_the_scalar_expression() {
        let (v, o) = (inputs(37), inputs(74));
        let mut got = o[..37].to_vec();
        add_scaled(&mut got, 0.3, &v);
        let want: Vec<f32> = o[..37].iter().zip(&v).map(|(o, v)| o + 0.3 * v).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn exp_is_accurate() {
        for x in inputs(4001) {
            let (got, want) = (exp(x), (x as f64).exp());
            assert!(((got as f64 - want) / want).abs() < 3e-7, "exp({x}) = {got}, want {want}");
        }
        let mut v = inputs(1003);
        let want: Vec<f64> = v.iter().map(|&x| (0.5 * x as f64 - 1.0).exp()).collect();
        let sum = exp_affine_sum_in_place(&mut v, 0.5, -1.0);
        // a * x + b is rounded to f32 first (one fused rounding on the vector path).
        for (g, w) in v.iter().zip(&want) {
            assert!(((*g as f64 - w) / w).abs() < 1e-6, "{g} vs {w}");
        }
        let wsum: f64 = want.iter().sum();
        assert!(((sum as f64 - wsum) / wsum).abs() < 1e-5, "{sum} vs {wsum}");
    }

    #[test]
    fn vector_and_scalar_paths_agree() {
        // 1003 values: 62 full vectors and a masked tail of 11.
        let (g, u, d) = (inputs(1003), inputs(1003).iter().rev().copied().collect::<Vec<_>>(), inputs(1003));
        let mut o = vec![0f32; 1003];
        gelu_mul_fwd(&mut o, &g, &u);
        let (mut dg, mut du) = (vec![0f32; 1003], vec![0f32; 1003]);
        gelu_mul_bwd(&mut dg, &mut du, &g, &u, &d);
        for i in 0..1003 {
            let (gelu, dgelu) = gelu_parts(g[i]);
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
            assert!(close(o[i], gelu * u[i]), "fwd {i}: {} vs {}", o[i], gelu * u[i]);
            assert!(close(dg[i], d[i] * u[i] * dgelu), "dg {i}");
            assert!(close(du[i], d[i] * gelu), "du {i}");
        }
        let x = inputs(1003);
        assert_eq!(max_scaled(&x, 2.0), x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(2.0 * v)));
        assert_eq!(max_scaled(&x, -1.0), x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(-v)));
        assert_eq!(max_scaled(&[], 1.0), f32::NEG_INFINITY);
        let want: f64 = x.iter().zip(&d).map(|(a, b)| (a * b) as f64).sum();
        assert!((dot(&x, &d) as f64 - want).abs() < 1e-4 * want.abs().max(1.0));
    }
}
