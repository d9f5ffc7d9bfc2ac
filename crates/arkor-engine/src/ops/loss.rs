//! The tied head's cross-entropy: logits, loss and `dL/dhidden` chunk by chunk, so the
//! `(rows, vocab)` logits of a whole batch never exist at once.

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{Bf16Weight, F32Slice};
use crate::kernels::sgemm::sgemm;
use crate::kernels::simd;

/// Rows of hidden states per head chunk: 64 rows of a 262144-wide head is a 64 MiB
/// logits buffer, big enough for gemm efficiency, small enough to stay out of the way.
const HEAD_CHUNK_ROWS: usize = 64;

/// A scalar whose value is a precomputed loss and whose gradient with respect to its
/// argument is a precomputed tensor (times the incoming scalar gradient).
struct InjectGrad {
    loss: f32,
    grad: Tensor,
}

impl CustomOp1 for InjectGrad {
    fn name(&self) -> &'static str {
        "arkor-inject-grad"
    }

    fn cpu_fwd(&self, _s: &CpuStorage, _l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(vec![self.loss]), Shape::from(())))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let s = g.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        Ok(Some(if s == 1.0 { self.grad.clone() } else { (&self.grad * s as f64)? }))
    }
}

/// Cross-entropy of the tied head on selected rows.
///
/// `hidden` (n, h) are final-normed hidden states of positions whose next token is a
/// target, `targets[i]` that token. Returns `(loss, sum_nll)` where `loss` =
/// `sum_nll / denom` is a scalar tensor whose gradient with respect to `hidden` is exact.
/// The logits exist only one chunk at a time, and the gradient is formed in the same pass.
/// With `bf16` (the head's packed copies) the two head products (logits and `dL/dx`)
/// run in bf16; the softmax, loss and gradient stay f32.
pub fn head_cross_entropy(
    hidden: &Tensor,
    head: &Tensor,
    targets: &[u32],
    denom: f64,
    softcap: Option<f64>,
    bf16: Option<&Bf16Weight>,
) -> candle_core::Result<(Tensor, f64)> {
    let (n, h, vocab, cpu) = head_shapes("head_cross_entropy", hidden, head, targets)?;
    let inv_denom = (1.0 / denom) as f32;
    let (total, grad) = if cpu {
        let mut grad = vec![0f32; n * h];
        let mut z = vec![0f32; HEAD_CHUNK_ROWS.min(n) * vocab];
        let xc = hidden.contiguous()?;
        let (x, w) = (F32Slice::new(&xc)?, F32Slice::new(head)?);
        let mut total = 0f64;
        for start in (0..n).step_by(HEAD_CHUNK_ROWS) {
            let rows = HEAD_CHUNK_ROWS.min(n - start);
            let z = &mut z[..rows * vocab];
            let xs = &x[start * h..(start + rows) * h];
            // logits = x W^T, then in place: dL/dlogits
            head_logits(xs, rows, z, &w, bf16, (vocab, h));
            total += fused_rows(z, vocab, &targets[start..start + rows], inv_denom, softcap);
            // dL/dx = dL/dlogits @ W
            let gs = &mut grad[start * h..(start + rows) * h];
            match bf16 {
                Some(p) => p.bwd().matmul_t(z, rows, gs, false),
                None => sgemm(rows, h, vocab, gs, (h, 1), false, z, (vocab, 1), &w, (h, 1), 1.0),
            }
        }
        (total, Tensor::from_vec(grad, (n, h), hidden.device())?)
    } else {
        let hd = hidden.detach();
        let head_t = head.t()?;
        let mut total = 0f64;
        let mut grads = Vec::new();
        for start in (0..n).step_by(HEAD_CHUNK_ROWS) {
            let rows = HEAD_CHUNK_ROWS.min(n - start);
            let logits = hd.narrow(0, start, rows)?.matmul(&head_t)?;
            let (nll, g) = generic_rows(&logits, &targets[start..start + rows], inv_denom, softcap)?;
            total += nll;
            grads.push(g.matmul(head)?);
        }
        (total, Tensor::cat(&grads, 0)?)
    };
    let loss_value = (total / denom) as f32;
    let loss = if hidden.device().is_cpu() {
        hidden.contiguous()?.apply_op1(InjectGrad { loss: loss_value, grad })?
    } else {
        // s - detach(s) is exactly zero in value but carries the gradient.
        let s = (hidden * &grad)?.sum_all()?;
        ((&s - s.detach())? + Tensor::new(loss_value, hidden.device())?)?
    };
    Ok((loss, total))
}

/// `(rows n, hidden h, vocab, whether the f32 CPU kernels apply)`, after checking that
/// every row has a target inside the vocabulary.
fn head_shapes(op: &str, hidden: &Tensor, head: &Tensor, targets: &[u32]) -> candle_core::Result<(usize, usize, usize, bool)> {
    let (n, h) = hidden.dims2()?;
    let vocab = head.dim(0)?;
    if n != targets.len() {
        candle_core::bail!("{op}: {n} rows for {} targets", targets.len());
    }
    if targets.iter().any(|&t| t as usize >= vocab) {
        candle_core::bail!("{op}: target outside the vocabulary");
    }
    let cpu = hidden.device().is_cpu() && hidden.dtype() == DType::F32 && head.dtype() == DType::F32 && head.is_contiguous();
    Ok((n, h, vocab, cpu))
}

/// `z = xs W^T` for `rows` hidden states: the head's logits, in bf16 with `bf16`.
fn head_logits(xs: &[f32], rows: usize, z: &mut [f32], w: &[f32], bf16: Option<&Bf16Weight>, (vocab, h): (usize, usize)) {
    match bf16 {
        Some(p) => p.fwd.matmul_t(xs, rows, z, false),
        None => sgemm(rows, vocab, h, z, (vocab, 1), false, xs, (h, 1), w, (1, h), 1.0),
    }
}

/// Summed negative log-likelihood of the tied head on selected rows, with nothing kept
/// for a backward pass: the evaluation twin of [`head_cross_entropy`] (same chunking,
/// same bf16 logits product when `bf16` is given, same soft-cap), at about half its
/// cost since the `dL/dx` product is skipped.
pub fn head_nll(
    hidden: &Tensor,
    head: &Tensor,
    targets: &[u32],
    softcap: Option<f64>,
    bf16: Option<&Bf16Weight>,
) -> candle_core::Result<f64> {
    let (n, h, vocab, cpu) = head_shapes("head_nll", hidden, head, targets)?;
    if !cpu {
        let hd = hidden.detach();
        let head_t = head.t()?;
        let mut total = 0f64;
        for start in (0..n).step_by(HEAD_CHUNK_ROWS) {
            let rows = HEAD_CHUNK_ROWS.min(n - start);
            let logits = hd.narrow(0, start, rows)?.matmul(&head_t)?;
            total += generic_rows(&logits, &targets[start..start + rows], 1.0, softcap)?.0;
        }
        return Ok(total);
    }
    let mut z = vec![0f32; HEAD_CHUNK_ROWS.min(n) * vocab];
    let xc = hidden.detach().contiguous()?;
    let (x, w) = (F32Slice::new(&xc)?, F32Slice::new(head)?);
    let mut total = 0f64;
    for start in (0..n).step_by(HEAD_CHUNK_ROWS) {
        let rows = HEAD_CHUNK_ROWS.min(n - start);
        let z = &mut z[..rows * vocab];
        head_logits(&x[start * h..(start + rows) * h], rows, z, &w, bf16, (vocab, h));
        total += nll_rows(z, vocab, &targets[start..start + rows], softcap);
    }
    Ok(total)
}

/// Each row's `log-sum-exp - target logit`, summed; `z` is scratch (overwritten).
fn nll_rows(z: &mut [f32], vocab: usize, targets: &[u32], softcap: Option<f64>) -> f64 {
    z.par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(g, &t)| {
            if let Some(c) = softcap.map(|c| c as f32) {
                for g in g.iter_mut() {
                    *g = c * (*g / c).tanh();
                }
            }
            let m = simd::max_scaled(g, 1.0);
            let zt = g[t as usize];
            let sum = simd::exp_affine_sum_in_place(g, 1.0, -m);
            (sum.ln() as f64) - ((zt - m) as f64)
        })
        .sum()
}

/// One pass per row, in place: log-sum-exp, the target's negative log-likelihood, and
/// `(softmax - onehot) / denom` (through the soft-cap's derivative when there is one).
/// `z` holds `rows * vocab` logits on entry and their gradient on return.
fn fused_rows(z: &mut [f32], vocab: usize, targets: &[u32], inv_denom: f32, softcap: Option<f64>) -> f64 {
    z.par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(g, &t)| {
            let cap = softcap.map(|c| c as f32);
            if let Some(c) = cap {
                for g in g.iter_mut() {
                    *g = c * (*g / c).tanh();
                }
            }
            let t = t as usize;
            let m = simd::max_scaled(g, 1.0);
            let zt = g[t];
            // The capped logit's derivative needs the capped value, kept per element in
            // `g` until it is overwritten below.
            let mut sum = 0f32;
            if let Some(c) = cap {
                for &v in g.iter() {
                    sum += (v - m).exp();
                }
                let scale = inv_denom / sum;
                for v in g.iter_mut() {
                    let th = *v / c;
                    *v = (*v - m).exp() * scale * (1.0 - th * th);
                }
                let tht = zt / c;
                g[t] -= inv_denom * (1.0 - tht * tht);
            } else {
                sum = simd::exp_affine_sum_in_place(g, 1.0, -m);
                simd::scale(g, inv_denom / sum);
                g[t] -= inv_denom;
            }
            (sum.ln() as f64) - ((zt - m) as f64)
        })
        .sum()
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
