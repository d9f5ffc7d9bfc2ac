//! The fused CPU training ops against the same maths composed from plain candle ops:
//! forward values and every gradient, on random inputs.
mod common;

use arkor_engine::ops;
use candle_core::{DType, Device, Tensor, Var, D};

const TOL: f32 = 2e-4;

fn rand(shape: &[usize], seed: u64) -> Tensor {
    // A small LCG keeps the inputs identical on every run without a rand dependency.
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn assert_close(what: &str, ours: &Tensor, want: &Tensor) {
    assert_eq!(ours.dims(), want.dims(), "{what}: shape");
    let d = (ours - want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
    let scale = want.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    let d = d.to_scalar::<f32>().unwrap();
    assert!(d <= TOL * scale.max(1.0), "{what}: max |ours - reference| = {d} (scale {scale})");
}

/// `sum(y * r)` for a fixed random `r`, so every output element has its own gradient.
fn probe(y: &Tensor, seed: u64) -> Tensor {
    let r = rand(y.dims(), seed);
    (y * r).unwrap().sum_all().unwrap()
}

#[test]
fn lora_linear_matches_composition() {
    let x = Var::from_tensor(&rand(&[7, 12], 1)).unwrap();
    let w = rand(&[9, 12], 2);
    let a = Var::from_tensor(&rand(&[4, 12], 3)).unwrap();
    let b = Var::from_tensor(&rand(&[9, 4], 4)).unwrap();
    let ours = ops::lora_linear(x.as_tensor(), &w, a.as_tensor(), b.as_tensor(), 0.5, None, None).unwrap();
    let want = (x.matmul(&w.t().unwrap()).unwrap()
        + (x.matmul(&a.t().unwrap()).unwrap().matmul(&b.t().unwrap()).unwrap() * 0.5).unwrap())
    .unwrap();
    assert_close("lora_linear forward", &ours, &want);
    // An adapter that no longer trains hands over (A^T, B^T): same product.
    let (at, bt) = (a.t().unwrap().contiguous().unwrap(), b.t().unwrap().contiguous().unwrap());
    let (xd, ad, bd) = (x.as_tensor().detach(), a.as_tensor().detach(), b.as_tensor().detach());
    let with_t = ops::lora_linear(&xd, &w, &ad, &bd, 0.5, None, Some((&at, &bt))).unwrap();
    assert_close("lora_linear forward with (A^T, B^T)", &with_t, &want);
    let g1 = probe(&ours, 5).backward().unwrap();
    let g2 = probe(&want, 5).backward().unwrap();
    for (name, v) in [("dx", &x), ("dA", &a), ("dB", &b)] {
        assert_close(name, g1.get(v).unwrap(), g2.get(v).unwrap());
    }
}

#[test]
fn frozen_linear_gives_only_the_input_gradient() {
    let x = Var::from_tensor(&rand(&[5, 8], 6)).unwrap();
    let w = Var::from_tensor(&rand(&[3, 8], 7)).unwrap();
    let ours = ops::frozen_linear(x.as_tensor(), w.as_tensor(), None).unwrap();
    let want = x.matmul(&w.t().unwrap()).unwrap();
    assert_close("frozen_linear forward", &ours, &want);
    let g1 = probe(&ours, 8).backward().unwrap();
    let g2 = probe(&want, 8).backward().unwrap();
    assert_close("dx", g1.get(&x).unwrap(), g2.get(&x).unwrap());
    assert!(g1.get(&w).is_none(), "the frozen weight must not get a gradient");
}

/// GELU over a wide range (its tanh is computed through a polynomial exp).
#[test]
fn gelu_mul_is_accurate_over_a_wide_range() {
    let n = 4001;
    let g: Vec<f32> = (0..n).map(|i| -40.0 + 80.0 * i as f32 / (n - 1) as f32).collect();
    let g = Var::from_tensor(&Tensor::from_vec(g, n, &Device::Cpu).unwrap()).unwrap();
    let u = Var::from_tensor(&rand(&[n], 31)).unwrap();
    let ours = ops::gelu_mul(g.as_tensor(), u.as_tensor()).unwrap();
    let want = (g.gelu().unwrap() * u.as_tensor()).unwrap();
    let d = (&ours - &want).unwrap().abs().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(d <= 1e-5 * 40.0, "gelu_mul over [-40, 40]: max diff {d}");
    let g1 = probe(&ours, 32).backward().unwrap();
    let g2 = probe(&want, 32).backward().unwrap();
    assert_close("d gate (wide)", g1.get(&g).unwrap(), g2.get(&g).unwrap());
}

#[test]
fn gelu_mul_matches_composition() {
    let g = Var::from_tensor(&rand(&[6, 10], 9).affine(3.0, 0.0).unwrap()).unwrap();
    let u = Var::from_tensor(&rand(&[6, 10], 10)).unwrap();
    let ours = ops::gelu_mul(g.as_tensor(), u.as_tensor()).unwrap();
    let want = (g.gelu().unwrap() * u.as_tensor()).unwrap();
    assert_close("gelu_mul forward", &ours, &want);
    let g1 = probe(&ours, 11).backward().unwrap();
    let g2 = probe(&want, 11).backward().unwrap();
    assert_close("d gate", g1.get(&g).unwrap(), g2.get(&g).unwrap());
    assert_close("d up", g1.get(&u).unwrap(), g2.get(&u).unwrap());
}

#[test]
fn rms_norm_matches_composition() {
    let x = Var::from_tensor(&rand(&[2, 3, 16], 12)).unwrap();
    let scale = rand(&[16], 13).affine(1.0, 1.0).unwrap();
    let ours = ops::rms_norm(x.as_tensor(), &scale, 1e-6).unwrap();
    let ms = x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let want = x
        .broadcast_div(&(ms + 1e-6).unwrap().sqrt().unwrap())
        .unwrap()
        .broadcast_mul(&scale)
        .unwrap();
    assert_close("rms_norm forward", &ours, &want);
    let g1 = probe(&ours, 14).backward().unwrap();
    let g2 = probe(&want, 14).backward().unwrap();
    assert_close("dx", g1.get(&x).unwrap(), g2.get(&x).unwrap());
}

#[test]
fn rope_matches_composition() {
    let (t, hd) = (5, 8);
    let x = Var::from_tensor(&rand(&[2, 3, t, hd], 15)).unwrap();
    let angles = rand(&[t, hd / 2], 16).affine(3.0, 0.0).unwrap();
    let angles = Tensor::cat(&[&angles, &angles], 1).unwrap();
    let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
    let ours = ops::rope(x.as_tensor(), &cos, &sin).unwrap();
    let x1 = x.narrow(D::Minus1, 0, hd / 2).unwrap();
    let x2 = x.narrow(D::Minus1, hd / 2, hd / 2).unwrap();
    let rot = Tensor::cat(&[&x2.neg().unwrap(), &x1], D::Minus1).unwrap();
    let want = (x.broadcast_mul(&cos).unwrap() + rot.broadcast_mul(&sin).unwrap()).unwrap();
    assert_close("rope forward", &ours, &want);
    let g1 = probe(&ours, 17).backward().unwrap();
    let g2 = probe(&want, 17).backward().unwrap();
    assert_close("dx", g1.get(&x).unwrap(), g2.get(&x).unwrap());
}

/// Masked softmax with both a plain causal mask and a sliding window, with and
/// without a decoding offset, against scale + additive mask + softmax.
#[test]
fn masked_softmax_matches_composition() {
    for (t, offset, window) in [(6, 0, None), (6, 0, Some(3)), (3, 4, Some(4)), (1, 6, None)] {
        let tk = offset + t;
        let x = Var::from_tensor(&rand(&[2, 2, t, tk], 18 + t as u64)).unwrap();
        let ours = ops::masked_softmax(x.as_tensor(), 0.7, offset, window).unwrap();
        let mut mask = vec![0f32; t * tk];
        for i in 0..t {
            for j in 0..tk {
                let q = offset + i;
                let visible = j <= q && window.is_none_or(|w| q - j < w);
                if !visible {
                    mask[i * tk + j] = f32::NEG_INFINITY;
                }
            }
        }
        let mask = Tensor::from_vec(mask, (t, tk), &Device::Cpu).unwrap();
        let z = (x.as_tensor() * 0.7).unwrap().broadcast_add(&mask).unwrap();
        let want = candle_nn_free_softmax(&z);
        let what = format!("t={t} offset={offset} window={window:?}");
        assert_close(&format!("masked_softmax forward {what}"), &ours, &want);
        let g1 = probe(&ours, 19).backward().unwrap();
        let g2 = probe(&want, 19).backward().unwrap();
        assert_close(&format!("masked_softmax dx {what}"), g1.get(&x).unwrap(), g2.get(&x).unwrap());
    }
}

/// Softmax over the last axis from primitive ops (differentiable by candle).
fn candle_nn_free_softmax(z: &Tensor) -> Tensor {
    let m = z.max_keepdim(D::Minus1).unwrap().detach();
    let e = z.broadcast_sub(&m).unwrap().exp().unwrap();
    e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap()
}

#[test]
fn softmax_last_matches_composition() {
    let x = Var::from_tensor(&rand(&[3, 4, 9], 20).affine(4.0, 0.0).unwrap()).unwrap();
    let ours = ops::softmax_last(x.as_tensor()).unwrap();
    let want = candle_nn_free_softmax(x.as_tensor());
    assert_close("softmax_last forward", &ours, &want);
    let g1 = probe(&ours, 21).backward().unwrap();
    let g2 = probe(&want, 21).backward().unwrap();
    assert_close("dx", g1.get(&x).unwrap(), g2.get(&x).unwrap());
    assert_eq!(ours.dtype(), DType::F32);
}

/// The bf16 variants against the f32 ops: bf16 keeps 8 bits of mantissa, so products
/// agree to about 2^-8 relative; the LoRA gradients (`dA`, `dB`) stay f32 maths on the
/// same inputs but see the bf16 `dx` paths only through `x`, so they match f32 closely.
#[test]
fn bf16_linear_ops_track_f32() {
    if !common::has_bf16() {
        let w = rand(&[50, 70], 22);
        assert!(ops::Bf16Weight::new(&w).unwrap().is_none(), "no bf16 weight without AVX512_BF16");
        return;
    }
    let close = |what: &str, ours: &Tensor, want: &Tensor, tol: f32| {
        let d = (ours - want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
        let scale = want.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        let d = d.to_scalar::<f32>().unwrap();
        assert!(d <= tol * scale.max(1e-3), "{what}: max |bf16 - f32| = {d} (scale {scale})");
    };
    let x = Var::from_tensor(&rand(&[37, 70], 21)).unwrap();
    let w = rand(&[50, 70], 22);
    let a = Var::from_tensor(&rand(&[4, 70], 23)).unwrap();
    let b = Var::from_tensor(&rand(&[50, 4], 24)).unwrap();
    let packed = std::sync::Arc::new(ops::Bf16Weight::new(&w).unwrap().unwrap());
    let ours = ops::lora_linear(x.as_tensor(), &w, a.as_tensor(), b.as_tensor(), 0.5, Some(&packed), None).unwrap();
    let want = ops::lora_linear(x.as_tensor(), &w, a.as_tensor(), b.as_tensor(), 0.5, None, None).unwrap();
    close("lora_linear in bf16, forward", &ours, &want, 2e-2);
    let g1 = probe(&ours, 25).backward().unwrap();
    let g2 = probe(&want, 25).backward().unwrap();
    close("dx", g1.get(&x).unwrap(), g2.get(&x).unwrap(), 2e-2);
    close("dA", g1.get(&a).unwrap(), g2.get(&a).unwrap(), TOL);
    close("dB", g1.get(&b).unwrap(), g2.get(&b).unwrap(), TOL);
    let ours = ops::frozen_linear(x.as_tensor(), &w, Some(&packed)).unwrap();
    let want = ops::frozen_linear(x.as_tensor(), &w, None).unwrap();
    close("frozen_linear in bf16, forward", &ours, &want, 2e-2);
    let g1 = probe(&ours, 26).backward().unwrap();
    let g2 = probe(&want, 26).backward().unwrap();
    close("frozen dx", g1.get(&x).unwrap(), g2.get(&x).unwrap(), 2e-2);
    // The head: loss and gradient.
    let head = rand(&[300, 70], 27);
    let hp = ops::Bf16Weight::new(&head).unwrap().unwrap();
    let targets: Vec<u32> = (0..37).map(|i| (i * 7 % 300) as u32).collect();
    let (l1, s1) = ops::head_cross_entropy(x.as_tensor(), &head, &targets, 37.0, None, Some(&hp)).unwrap();
    let (l2, s2) = ops::head_cross_entropy(x.as_tensor(), &head, &targets, 37.0, None, None).unwrap();
    assert!((s1 - s2).abs() <= 1e-2 * s2.abs(), "head loss: bf16 {s1} vs f32 {s2}");
    let g1 = l1.backward().unwrap();
    let g2 = l2.backward().unwrap();
    close("head dx", g1.get(&x).unwrap(), g2.get(&x).unwrap(), 3e-2);
}
