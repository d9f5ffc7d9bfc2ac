//! Training-time operators that stock candle autograd makes expensive on CPU
//! (see shared notes/engine-performance.md):
//! - a linear through a frozen weight whose backward computes only the input gradient
//!   (candle's matmul backward always builds the weight gradient too);
//! - a softmax with a backward pass (candle-nn's fused softmax has none);
//! - the tied-head cross-entropy computed chunk by chunk on supervised rows only, with
//!   its gradient produced in the same pass, so the full logits tensor never exists.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Shape,
    Storage, Tensor, D,
};
use rayon::prelude::*;

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let v = match s {
        CpuStorage::F32(v) => v,
        _ => candle_core::bail!("arkor-engine ops run in f32, got {:?}", s.dtype()),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("arkor-engine ops need contiguous inputs"),
    }
}

/// Runs `f` on the f32 contents of a CPU tensor (made contiguous first).
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(cs) => Ok(f(contiguous_f32(cs, l)?)),
        _ => candle_core::bail!("expected a CPU tensor"),
    }
}

/// `y` passes through unchanged; the backward sends `grad_y @ w` to `x` and nothing to `w`.
struct FrozenLinearGrad {
    w: Tensor,
}

impl CustomOp2 for FrozenLinearGrad {
    fn name(&self) -> &'static str {
        "arkor-frozen-linear"
    }

    fn cpu_fwd(
        &self,
        _s1: &CpuStorage,
        _l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = contiguous_f32(s2, l2)?;
        Ok((CpuStorage::F32(y.to_vec()), l2.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _y: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(&self.w)?), None))
    }
}

/// `x (n, in) @ w (out, in)^T`. When `x` is part of a graph and runs on CPU, the
/// backward computes only `dL/dx`: the frozen weight never gets a gradient.
pub fn frozen_linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    if x.track_op() && x.device().is_cpu() && x.dtype() == DType::F32 {
        let y = x.detach().matmul(&w.t()?)?;
        x.apply_op2(&y, FrozenLinearGrad { w: w.clone() })
    } else {
        x.matmul(&w.t()?)
    }
}

struct SoftmaxLast;

impl CustomOp1 for SoftmaxLast {
    fn name(&self) -> &'static str {
        "arkor-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l)?;
        let n = l.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(n).zip(x.par_chunks(n)).for_each(|(o, x)| {
            let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (o, &v) in o.iter_mut().zip(x) {
                *o = (v - m).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            o.iter_mut().for_each(|o| *o *= inv);
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let gy = (g * y)?;
        let s = gy.sum_keepdim(D::Minus1)?;
        Ok(Some((gy - y.broadcast_mul(&s)?)?))
    }
}

/// Softmax over the last dimension, differentiable, one pass per row on CPU.
pub fn softmax_last(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(SoftmaxLast)
    } else {
        candle_nn::ops::softmax(x, D::Minus1)
    }
}

/// Rows of hidden states per head chunk: 64 rows of a 262144-wide head is a 64 MiB
/// logits buffer, big enough for gemm efficiency, small enough to stay out of the way.
const HEAD_CHUNK_ROWS: usize = 64;

/// Cross-entropy of the tied head on selected rows.
///
/// `hidden` (n, h) are final-normed hidden states of positions whose next token is a
/// target, `targets[i]` that token. Returns `(loss, sum_nll)` where `loss` =
/// `sum_nll / denom` is a scalar tensor whose gradient with respect to `hidden` is exact.
/// The logits exist only one chunk at a time, and the gradient is formed in the same pass.
pub fn head_cross_entropy(
    hidden: &Tensor,
    head: &Tensor,
    targets: &[u32],
    denom: f64,
    softcap: Option<f64>,
) -> candle_core::Result<(Tensor, f64)> {
    let (n, _h) = hidden.dims2()?;
    let vocab = head.dim(0)?;
    if n != targets.len() {
        candle_core::bail!("head_cross_entropy: {n} rows for {} targets", targets.len());
    }
    let hd = hidden.detach();
    let inv_denom = (1.0 / denom) as f32;
    let mut total = 0f64;
    let mut grads = Vec::new();
    let head_t = head.t()?;
    for start in (0..n).step_by(HEAD_CHUNK_ROWS) {
        let rows = HEAD_CHUNK_ROWS.min(n - start);
        let logits = hd.narrow(0, start, rows)?.matmul(&head_t)?;
        let tg = &targets[start..start + rows];
        let g = if logits.device().is_cpu() {
            let (nll, g) = with_f32(&logits, |z| fused_rows(z, vocab, tg, inv_denom, softcap))?;
            total += nll;
            Tensor::from_vec(g, (rows, vocab), logits.device())?
        } else {
            let (nll, g) = generic_rows(&logits, tg, inv_denom, softcap)?;
            total += nll;
            g
        };
        grads.push(g.matmul(head)?);
    }
    let grad = Tensor::cat(&grads, 0)?;
    // A scalar equal to the loss whose derivative with respect to `hidden` is `grad`:
    // s - detach(s) is exactly zero in value but carries the gradient.
    let s = (hidden * &grad)?.sum_all()?;
    let loss_value = Tensor::new((total / denom) as f32, hidden.device())?;
    let loss = ((&s - s.detach())? + loss_value)?;
    Ok((loss, total))
}

/// One pass per row: log-sum-exp, the target's negative log-likelihood, and
/// `(softmax - onehot) / denom` (through the soft-cap's derivative when there is one).
fn fused_rows(
    z: &[f32],
    vocab: usize,
    targets: &[u32],
    inv_denom: f32,
    softcap: Option<f64>,
) -> (f64, Vec<f32>) {
    let mut g = vec![0f32; z.len()];
    let nll: f64 = g
        .par_chunks_mut(vocab)
        .zip(z.par_chunks(vocab))
        .zip(targets.par_iter())
        .map(|((g, z), &t)| {
            let cap = softcap.map(|c| c as f32);
            if let Some(c) = cap {
                for (g, &z) in g.iter_mut().zip(z) {
                    *g = c * (z / c).tanh();
                }
            } else {
                g.copy_from_slice(z);
            }
            let m = g.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for v in g.iter_mut() {
                *v = (*v - m).exp();
                sum += *v;
            }
            let t = t as usize;
            let nll = (sum.ln() as f64) - ((g[t].ln()) as f64);
            let scale = inv_denom / sum;
            g.iter_mut().for_each(|v| *v *= scale);
            g[t] -= inv_denom;
            if let Some(c) = cap {
                for (g, &z) in g.iter_mut().zip(z) {
                    let th = (z / c).tanh();
                    *g *= 1.0 - th * th;
                }
            }
            nll
        })
        .sum();
    (nll, g)
}

/// The same as `fused_rows` with tensor ops, for non-CPU devices.
fn generic_rows(
    logits: &Tensor,
    targets: &[u32],
    inv_denom: f32,
    softcap: Option<f64>,
) -> candle_core::Result<(f64, Tensor)> {
    let dev: &Device = logits.device();
    let z = match softcap {
        Some(c) => ((logits / c)?.tanh()? * c)?,
        None => logits.clone(),
    };
    let p = candle_nn::ops::softmax_last_dim(&z)?;
    let t = Tensor::from_slice(targets, (targets.len(), 1), dev)?;
    let pt = p.gather(&t, 1)?;
    let nll = pt.log()?.neg()?.sum_all()?.to_scalar::<f32>()? as f64;
    let ones = Tensor::ones((targets.len(), 1), DType::F32, dev)?;
    let mut g = (p.scatter_add(&t, &ones.neg()?, 1)? * inv_denom as f64)?;
    if let Some(c) = softcap {
        let th = (logits / c)?.tanh()?;
        g = (g * (1.0 - th.sqr()?)?)?;
    }
    Ok((nll, g))
}
