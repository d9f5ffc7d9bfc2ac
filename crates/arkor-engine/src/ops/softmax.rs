//! Softmaxes over the last axis with a backward pass: the attention scores' masked,
//! scaled one and a plain one.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use super::{contiguous_f32, F32Slice};
use crate::kernels::simd;

/// Softmax of `scale * scores` over keys with the causal (and sliding-window) mask
/// applied from indices: scores `(.., t, tk)`, query `i` at absolute position
/// `offset + i` sees key `j` when `j <= offset + i` and `offset + i - j < window`.
struct MaskedSoftmax {
    scale: f32,
    offset: usize,
    window: Option<usize>,
}

impl CustomOp1 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "arkor-masked-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l)?;
        let dims = l.shape().dims();
        let (t, tk) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let mut out = vec![0f32; x.len()];
        let (scale, offset, window) = (self.scale, self.offset, self.window);
        out.par_chunks_mut(tk).zip(x.par_chunks(tk)).enumerate().for_each(|(row, (o, x))| {
            let qi = offset + row % t;
            let hi = (qi + 1).min(tk);
            let lo = window.map_or(0, |w| (qi + 1).saturating_sub(w)).min(hi);
            let m = simd::max_scaled(&x[lo..hi], scale);
            let sum = simd::exp_affine_sum(&mut o[lo..hi], &x[lo..hi], scale, -m);
            simd::scale(&mut o[lo..hi], 1.0 / sum);
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let tk = y.dim(D::Minus1)?;
        let mut dx = vec![0f32; y.elem_count()];
        let scale = self.scale;
        let (yc, gc) = (y.contiguous()?, g.contiguous()?);
        let (ys, gs) = (F32Slice::new(&yc)?, F32Slice::new(&gc)?);
        dx.par_chunks_mut(tk).zip(ys.par_chunks(tk).zip(gs.par_chunks(tk))).for_each(|(dx, (y, g))| {
            let dot = simd::dot(y, g);
            for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                *dx = scale * y * (g - dot);
            }
        });
        Ok(Some(Tensor::from_vec(dx, y.shape(), y.device())?))
    }
}

/// Masked, scaled softmax over the last axis of attention scores `(.., t, tk)`, with a
/// backward; see [`MaskedSoftmax`]. CPU f32 only (callers fall back otherwise).
pub fn masked_softmax(
    scores: &Tensor,
    scale: f64,
    offset: usize,
    window: Option<usize>,
) -> candle_core::Result<Tensor> {
    if !(scores.device().is_cpu() && scores.dtype() == DType::F32) {
        candle_core::bail!("masked_softmax runs on CPU f32 tensors");
    }
    scores.contiguous()?.apply_op1(MaskedSoftmax { scale: scale as f32, offset, window })
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
            let m = simd::max_scaled(x, 1.0);
            let sum = simd::exp_affine_sum(o, x, 1.0, -m);
            simd::scale(o, 1.0 / sum);
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
