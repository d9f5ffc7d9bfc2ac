//! Row-local operators of Gemma's blocks, each one pass forward and one pass backward:
//! the GELU gate of the MLP, RMSNorm with a frozen scale, and the rotary embedding.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use super::{contiguous_f32, F32Slice, ELEMWISE_CHUNK};
use crate::kernels::simd;

/// `gelu_tanh(gate) * up`, one pass forward and one pass backward (both gradients).
struct GeluMul;

impl CustomOp2 for GeluMul {
    fn name(&self) -> &'static str {
        "arkor-gelu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, u) = (contiguous_f32(s1, l1)?, contiguous_f32(s2, l2)?);
        if l1.shape() != l2.shape() {
            candle_core::bail!("gelu_mul: shapes {:?} and {:?}", l1.shape(), l2.shape());
        }
        let mut out = vec![0f32; g.len()];
        out.par_chunks_mut(ELEMWISE_CHUNK)
            .zip(g.par_chunks(ELEMWISE_CHUNK).zip(u.par_chunks(ELEMWISE_CHUNK)))
            .for_each(|(o, (g, u))| simd::gelu_mul_fwd(o, g, u));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let n = gate.elem_count();
        let mut dg = vec![0f32; n];
        let mut du = vec![0f32; n];
        let (gate_c, up_c, grad_c) = (gate.contiguous()?, up.contiguous()?, grad.contiguous()?);
        let (g, u, d) = (F32Slice::new(&gate_c)?, F32Slice::new(&up_c)?, F32Slice::new(&grad_c)?);
        dg.par_chunks_mut(ELEMWISE_CHUNK)
            .zip(du.par_chunks_mut(ELEMWISE_CHUNK))
            .zip(g.par_chunks(ELEMWISE_CHUNK).zip(u.par_chunks(ELEMWISE_CHUNK)))
            .zip(d.par_chunks(ELEMWISE_CHUNK))
            .for_each(|(((dg, du), (g, u)), d)| simd::gelu_mul_bwd(dg, du, g, u, d));
        let (dev, shape) = (gate.device(), gate.shape());
        Ok((Some(Tensor::from_vec(dg, shape, dev)?), Some(Tensor::from_vec(du, shape, dev)?)))
    }
}

/// `gelu_tanh(gate) * up` (Gemma's MLP activation), fused on CPU in f32.
pub fn gelu_mul(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    if gate.device().is_cpu() && gate.dtype() == DType::F32 && up.dtype() == DType::F32 {
        gate.contiguous()?.apply_op2(&up.contiguous()?, GeluMul)
    } else {
        gate.gelu()? * up
    }
}

/// RMSNorm over the last axis with a frozen effective scale: `x / sqrt(mean(x^2) + eps) * w`.
struct RmsNorm {
    scale: Tensor,
    eps: f32,
}

impl CustomOp1 for RmsNorm {
    fn name(&self) -> &'static str {
        "arkor-rms-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l)?;
        let d = l.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut y = vec![0f32; x.len()];
        let eps = self.eps;
        let w = F32Slice::new(&self.scale)?;
        let rows = (ELEMWISE_CHUNK / d).max(1) * d;
        y.par_chunks_mut(rows).zip(x.par_chunks(rows)).for_each(|(y, x)| {
            for (y, x) in y.chunks_mut(d).zip(x.chunks(d)) {
                let ms = x.iter().map(|v| v * v).sum::<f32>() / d as f32;
                let r = 1.0 / (ms + eps).sqrt();
                for ((y, &x), &w) in y.iter_mut().zip(x).zip(w.iter()) {
                    *y = x * r * w;
                }
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let d = x.dim(D::Minus1)?;
        let mut dx = vec![0f32; x.elem_count()];
        let eps = self.eps;
        let (xc, gc) = (x.contiguous()?, g.contiguous()?);
        let (xs, gs, w) = (F32Slice::new(&xc)?, F32Slice::new(&gc)?, F32Slice::new(&self.scale)?);
        let w: &[f32] = &w;
        let rows = (ELEMWISE_CHUNK / d).max(1) * d;
        dx.par_chunks_mut(rows).zip(xs.par_chunks(rows).zip(gs.par_chunks(rows))).for_each(|(dx, (x, g))| {
            for ((dx, x), g) in dx.chunks_mut(d).zip(x.chunks(d)).zip(g.chunks(d)) {
                let ms = x.iter().map(|v| v * v).sum::<f32>() / d as f32;
                let r = 1.0 / (ms + eps).sqrt();
                // dx = r * (g w - xhat * mean(g w xhat)), xhat = x r
                let dot: f32 = x.iter().zip(g).zip(w).map(|((&x, &g), &w)| g * w * x * r).sum();
                let m = dot / d as f32;
                for (((dx, &x), &g), &w) in dx.iter_mut().zip(x).zip(g).zip(w) {
                    *dx = r * (g * w - x * r * m);
                }
            }
        });
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// RMSNorm over the last axis with a frozen effective scale (`1 + w` already applied).
pub fn rms_norm(x: &Tensor, scale: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && scale.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(RmsNorm { scale: scale.contiguous()?, eps: eps as f32 })
    } else {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        let y = x.broadcast_div(&(ms + eps)?.sqrt()?)?;
        y.broadcast_mul(scale)
    }
}

/// Rotary embedding in HF's half-split layout on `(.., t, head_dim)` with tables
/// `(t, head_dim)`; the backward is the inverse rotation.
struct Rope {
    cos: Tensor,
    sin: Tensor,
}

fn rope_rows(x: &[f32], y: &mut [f32], cos: &[f32], sin: &[f32], hd: usize, t: usize, inverse: bool) {
    let h2 = hd / 2;
    let rows = (ELEMWISE_CHUNK / hd).max(1);
    y.par_chunks_mut(rows * hd).zip(x.par_chunks(rows * hd)).enumerate().for_each(|(c, (y, x))| {
        for (i, (y, x)) in y.chunks_mut(hd).zip(x.chunks(hd)).enumerate() {
            let p = (c * rows + i) % t;
            let (cs, sn) = (&cos[p * hd..(p + 1) * hd], &sin[p * hd..(p + 1) * hd]);
            for j in 0..h2 {
                if inverse {
                    y[j] = x[j] * cs[j] + x[j + h2] * sn[j + h2];
                    y[j + h2] = x[j + h2] * cs[j + h2] - x[j] * sn[j];
                } else {
                    y[j] = x[j] * cs[j] - x[j + h2] * sn[j];
                    y[j + h2] = x[j + h2] * cs[j + h2] + x[j] * sn[j + h2];
                }
            }
        }
    });
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "arkor-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l)?;
        let (t, hd) = self.cos.dims2()?;
        let mut y = vec![0f32; x.len()];
        rope_rows(x, &mut y, &F32Slice::new(&self.cos)?, &F32Slice::new(&self.sin)?, hd, t, false);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (t, hd) = self.cos.dims2()?;
        let mut dx = vec![0f32; x.elem_count()];
        let g = g.contiguous()?;
        rope_rows(&F32Slice::new(&g)?, &mut dx, &F32Slice::new(&self.cos)?, &F32Slice::new(&self.sin)?, hd, t, true);
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// Rotary embedding of `x (.., t, head_dim)` with `(cos, sin)` tables `(t, head_dim)`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let hd = x.dim(D::Minus1)?;
    let t = x.dim(D::Minus2)?;
    let ok = x.device().is_cpu() && x.dtype() == DType::F32 && cos.dims() == [t, hd] && hd % 2 == 0;
    if ok {
        x.contiguous()?.apply_op1(Rope { cos: cos.contiguous()?, sin: sin.contiguous()? })
    } else {
        let x1 = x.narrow(D::Minus1, 0, hd / 2)?;
        let x2 = x.narrow(D::Minus1, hd / 2, hd / 2)?;
        let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        x.broadcast_mul(cos)? + rot.broadcast_mul(sin)?
    }
}
