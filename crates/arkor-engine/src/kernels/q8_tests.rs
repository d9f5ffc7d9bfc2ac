//! Tests of the Q8 product: the VNNI kernel against the portable loop, rows alone and
//! among others, accuracy against the f32 product, requantisation.

use super::*;
use crate::rng::SplitMix64;

fn random(rng: &mut SplitMix64, len: usize, scale: f64) -> Vec<f32> {
    (0..len).map(|_| (scale * rng.next_normal()) as f32).collect()
}

/// Odd row counts, `k` off the block size, panels that do not fill, M = 1..16.
const SHAPES: [(usize, usize); 6] = [(1, 32), (17, 40), (33, 96), (100, 640), (640, 2048), (2048, 640)];

/// The AVX-512 activation quantisation gives the portable loop's values, scales and
/// biases, ties, zeros, NaN and infinities included.
#[test]
fn quantize_equals_portable_bit_for_bit() {
    let mut rng = SplitMix64::new(5);
    for k in [32, 40, 640, 2048] {
        let mut x = random(&mut rng, 3 * k, 2.0);
        // Row 1: values that land on .5 ties after scaling by 127 / 127, a zero block.
        for (i, v) in x[k..2 * k].iter_mut().enumerate() {
            *v = if i < 32 { 0.0 } else { ((i % 255) as f32 - 127.0) / 2.0 + if i % 3 == 0 { 0.5 } else { 0.0 } };
        }
        x[2 * k + 1] = f32::NAN;
        x[2 * k + k / 2] = f32::INFINITY;
        x[2 * k + k - 1] = -0.0;
        let (a, b) = (Q8Rows::quantize(&x, 3, k), Q8Rows::quantize_portable(&x, 3, k));
        assert_eq!(a.q, b.q, "k = {k}: values");
        assert_eq!(a.bias, b.bias, "k = {k}: biases");
        assert!(a.d.iter().zip(&b.d).all(|(x, y)| x.to_bits() == y.to_bits()), "k = {k}: scales");
    }
}

/// With VNNI the dispatched product is the VNNI kernel; without, it must fall back to
/// the portable loop: the same bits either way.
#[test]
fn vnni_equals_portable_bit_for_bit() {
    let mut rng = SplitMix64::new(11);
    for &(n, k) in &SHAPES {
        let w = Q8Matrix::from_f32(&random(&mut rng, n * k, 0.05), n, k);
        for m in (1..=16).chain([25, 37]) {
            if n * k > 1 << 20 && m % 5 != 1 {
                continue;
            }
            let x = random(&mut rng, m * k, 1.0);
            for accumulate in [false, true] {
                let init = random(&mut rng, m * n, 1.0);
                let (mut a, mut b) = (init.clone(), init);
                w.matmul_t(&x, m, &mut a, accumulate);
                w.matmul_t_portable(&x, m, &mut b, accumulate);
                let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{n}x{k}, m = {m}, accumulate {accumulate}: paths differ");
            }
        }
    }
}

#[test]
fn a_rows_output_does_not_depend_on_the_batch() {
    let mut rng = SplitMix64::new(12);
    for &(n, k) in &SHAPES[..5] {
        let w = Q8Matrix::from_f32(&random(&mut rng, n * k, 0.05), n, k);
        let m = 13;
        let x = random(&mut rng, m * k, 1.0);
        let mut all = vec![0f32; m * n];
        w.matmul_t(&x, m, &mut all, false);
        for r in 0..m {
            let mut one = vec![0f32; n];
            w.matmul_t(&x[r * k..(r + 1) * k], 1, &mut one, false);
            assert!(one.iter().zip(&all[r * n..(r + 1) * n]).all(|(a, b)| a.to_bits() == b.to_bits()), "{n}x{k} row {r}");
            // The same row among other rows, at another position of the batch.
            let mut other = random(&mut rng, 3 * k, 1.0);
            other[k..2 * k].copy_from_slice(&x[r * k..(r + 1) * k]);
            let mut three = vec![0f32; 3 * n];
            w.matmul_t(&other, 3, &mut three, false);
            assert!(one.iter().zip(&three[n..2 * n]).all(|(a, b)| a.to_bits() == b.to_bits()), "{n}x{k} row {r} in 3");
        }
    }
}

#[test]
fn tracks_the_f32_product() {
    let mut rng = SplitMix64::new(13);
    for &(n, k) in &SHAPES {
        let wf = random(&mut rng, n * k, 0.05);
        let w = Q8Matrix::from_f32(&wf, n, k);
        let m = 3;
        let x = random(&mut rng, m * k, 1.0);
        let mut got = vec![0f32; m * n];
        w.matmul_t(&x, m, &mut got, false);
        for r in 0..m {
            for c in 0..n {
                let want: f64 = (0..k).map(|i| x[r * k + i] as f64 * wf[c * k + i] as f64).sum();
                // Each factor carries at most half a quantisation step (max/254) of error:
                // with normal entries the sum's error stays within ~2% of sqrt(k) |x| |w|.
                let norm: f64 = (0..k).map(|i| (x[r * k + i] as f64 * wf[c * k + i] as f64).powi(2)).sum::<f64>().sqrt();
                let err = (got[r * n + c] as f64 - want).abs();
                assert!(err <= 0.03 * norm * (k as f64).sqrt().max(1.0) / 4.0 + 1e-6, "{n}x{k} [{r},{c}]: {} vs {want} (norm {norm})", got[r * n + c]);
            }
        }
    }
}

#[test]
fn rounding_is_ties_to_even() {
    for v in [-127.4f32, -126.5, -0.5, 0.5, 1.5, 2.5, 126.5, 0.49999997, -3.7, 126.99999] {
        assert_eq!(round_ties_even(v), v.round_ties_even(), "{v}");
    }
}

#[test]
fn q8_0_weights_survive_requantisation() {
    // Values that are exact multiples of an f16 scale with 127 the largest: what a
    // Q8_0 tensor dequantises to. They must come back exactly.
    let mut rng = SplitMix64::new(14);
    let (n, k) = (5, 64);
    let mut w = vec![0f32; n * k];
    for row in 0..n {
        for b in 0..2 {
            let d = f16::from_f32((0.001 + 0.01 * rng.next_f64()) as f32).to_f32();
            for i in 0..QK {
                let q = if i == 7 { -127 } else { (rng.next_f64() * 254.0 - 127.0).round() as i32 };
                w[row * k + b * QK + i] = q as f32 * d;
            }
        }
    }
    let m = Q8Matrix::from_f32(&w, n, k);
    for row in 0..n {
        assert_eq!(m.dequantize_row(row), w[row * k..(row + 1) * k].to_vec(), "row {row}");
    }
}
