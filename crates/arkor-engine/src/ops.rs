//! Training-time operators that stock candle autograd makes expensive on CPU
//! (see shared notes/engine-performance.md):
//! - a linear through a frozen weight whose backward computes only the input gradient
//!   (candle's matmul backward always builds the weight gradient too);
//! - a softmax with a backward pass (candle-nn's fused softmax has none);
//! - the tied-head cross-entropy computed chunk by chunk on supervised rows only, with
//!   its gradient produced in the same pass, so the full logits tensor never exists.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Shape,
    Storage, Tensor, D,
};
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

use crate::bf16::PackedBf16;
use crate::lowrank;
use crate::simd;

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

/// `dst (m, n) = alpha * dst + beta * lhs (m, k) @ rhs (k, n)` in f32 with the gemm crate
/// (the kernel candle's CPU matmul uses), on rayon. Strides are `(row, column)` in elements.
/// When `accumulate` is false `dst` is only written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    beta: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() > (m - 1) * dst_rs + (n - 1) * dst_cs);
    if k > 0 {
        assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
        assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    }
    let threads = rayon::current_num_threads();
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the asserts above keep every access inside the three slices, and `dst`
    // is borrowed mutably so it cannot alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            par,
        )
    }
}

fn cpu_f32<'a>(t: &'a Tensor) -> candle_core::Result<impl std::ops::Deref<Target = Storage> + 'a> {
    if !t.is_contiguous() || t.dtype() != DType::F32 || !t.device().is_cpu() {
        candle_core::bail!("arkor-engine ops need contiguous f32 CPU tensors");
    }
    Ok(t.storage_and_layout().0)
}

/// Borrows the f32 contents of a contiguous CPU tensor for the duration of `f`.
fn read_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let t = if t.is_contiguous() { t.clone() } else { t.contiguous()? };
    let g = cpu_f32(&t)?;
    match &*g {
        Storage::Cpu(cs) => Ok(f(contiguous_f32(cs, t.layout())?)),
        _ => candle_core::bail!("expected a CPU tensor"),
    }
}

/// bf16 copies of a frozen weight `W (out, in)` for [`crate::bf16`]'s GEMM: `fwd` packs
/// `W` (for `x W^T`, inference and training), [`Self::bwd`] packs `W^T` (for `g W`,
/// training's input gradients) on first use, so inference never pays for it.
#[derive(Debug)]
pub struct Bf16Weight {
    /// `W` as `(out, in)`.
    pub fwd: PackedBf16,
    bwd: OnceLock<PackedBf16>,
    w: Tensor,
}

impl Bf16Weight {
    /// Packs a contiguous f32 CPU weight `(out, in)`; None without AVX512_BF16.
    pub fn new(w: &Tensor) -> candle_core::Result<Option<Self>> {
        let (out, inp) = w.dims2()?;
        let w = w.contiguous()?;
        let fwd = read_f32(&w, |v| PackedBf16::new(v, out, inp, inp, 1))?;
        Ok(fwd.map(|fwd| Self { fwd, bwd: OnceLock::new(), w }))
    }

    /// `W^T` as `(in, out)`, packed on the first call.
    pub fn bwd(&self) -> &PackedBf16 {
        self.bwd.get_or_init(|| {
            let (out, inp) = (self.fwd.n(), self.fwd.k());
            // `w` is the contiguous f32 CPU tensor `fwd` was packed from, and `fwd`
            // exists only on CPUs with AVX512_BF16: neither step can fail here.
            read_f32(&self.w, |v| PackedBf16::new(v, inp, out, 1, inp))
                .expect("a packed weight is a contiguous f32 CPU tensor")
                .expect("fwd was packed, so the CPU has AVX512_BF16")
        })
    }

    /// Bytes held by the copies made so far.
    pub fn bytes(&self) -> usize {
        self.fwd.bytes() + self.bwd.get().map_or(0, PackedBf16::bytes)
    }
}

/// `x (n, in) @ w (out, in)^T` with a frozen `w`: the backward computes only `dL/dx`.
struct FrozenLinear {
    w: Tensor,
    bf16: Option<Arc<Bf16Weight>>,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "arkor-frozen-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l)?;
        let (n, inp) = l.shape().dims2()?;
        let out = self.w.dim(0)?;
        let mut y = vec![0f32; n * out];
        match &self.bf16 {
            Some(p) => p.fwd.matmul_t(x, n, &mut y, false),
            None => read_f32(&self.w, |w| sgemm(n, out, inp, &mut y, (out, 1), false, x, (inp, 1), w, (1, inp), 1.0))?,
        }
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, inp) = x.dims2()?;
        let out = self.w.dim(0)?;
        let mut dx = vec![0f32; n * inp];
        match &self.bf16 {
            Some(p) => read_f32(g, |g| p.bwd().matmul_t(g, n, &mut dx, false))?,
            None => read_f32(g, |g| {
                read_f32(&self.w, |w| sgemm(n, inp, out, &mut dx, (inp, 1), false, g, (out, 1), w, (inp, 1), 1.0))
            })??,
        }
        Ok(Some(Tensor::from_vec(dx, (n, inp), x.device())?))
    }
}

/// `x (n, in) @ w (out, in)^T`. When `x` is part of a graph and runs on CPU, the
/// backward computes only `dL/dx`: the frozen weight never gets a gradient.
pub fn frozen_linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    frozen_linear_bf16(x, w, None)
}

/// [`frozen_linear`], with the products through `w` in bf16 ([`crate::bf16`]) when
/// `bf16` holds its packed copies (on CPU, in a graph or not).
pub fn frozen_linear_bf16(x: &Tensor, w: &Tensor, bf16: Option<&Arc<Bf16Weight>>) -> candle_core::Result<Tensor> {
    if (x.track_op() || bf16.is_some()) && x.device().is_cpu() && x.dtype() == DType::F32 && w.is_contiguous() {
        x.contiguous()?.apply_op1(FrozenLinear { w: w.clone(), bf16: bf16.cloned() })
    } else {
        x.matmul(&w.t()?)
    }
}

/// `y = x W^T + s (x A^T) B^T` for a frozen `W (out, in)` and trainable `A (r, in)`,
/// `B (out, r)`, as one op: the backward makes `dx`, `dA` and `dB` with thin products
/// ([`crate::lowrank`]) and never a gradient for `W`.
struct LoraLinear {
    w: Tensor,
    scale: f32,
    bf16: Option<Arc<Bf16Weight>>,
    /// `(A^T, B^T)` when the caller holds them (adapters that no longer train).
    transposed: Option<(Tensor, Tensor)>,
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        "arkor-lora-linear"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sa: &CpuStorage,
        la: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, a, b) = (contiguous_f32(sx, lx)?, contiguous_f32(sa, la)?, contiguous_f32(sb, lb)?);
        let (n, inp) = lx.shape().dims2()?;
        let (r, out) = (la.shape().dims2()?.0, lb.shape().dims2()?.0);
        // u = x A^T; y = s u B^T, then the dense product accumulates onto y.
        let mut y = vec![0f32; n * out];
        let mut lora = |at: &[f32], bt: &[f32]| {
            let mut u = vec![0f32; n * r];
            lowrank::project(x, n, inp, at, r, 1.0, &mut u);
            lowrank::expand(&u, n, r, bt, out, self.scale, &mut y);
        };
        match &self.transposed {
            Some((at, bt)) => read_f32(at, |at| read_f32(bt, |bt| lora(at, bt)))??,
            None => lora(&lowrank::transpose(a, r, inp), &lowrank::transpose(b, out, r)),
        }
        match &self.bf16 {
            Some(p) => p.fwd.matmul_t(x, n, &mut y, true),
            None => read_f32(&self.w, |w| sgemm(n, out, inp, &mut y, (out, 1), true, x, (inp, 1), w, (1, inp), 1.0))?,
        }
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, inp) = x.dims2()?;
        let (r, out) = (a.dim(0)?, b.dim(0)?);
        let s = self.scale;
        let mut u = vec![0f32; n * r];
        let mut gu = vec![0f32; n * r];
        let mut da_t = vec![0f32; inp * r];
        let mut db = vec![0f32; out * r];
        let mut dx = vec![0f32; n * inp];
        read_f32(x, |x| {
            read_f32(a, |a| {
                read_f32(b, |b| {
                    read_f32(g, |g| {
                        read_f32(&self.w, |w| {
                            // u = x A^T, gu = s g B
                            lowrank::project(x, n, inp, &lowrank::transpose(a, r, inp), r, 1.0, &mut u);
                            lowrank::project(g, n, out, b, r, s, &mut gu);
                            // dB = s g^T u, dA^T = x^T gu
                            lowrank::gram(g, n, out, &u, r, s, &mut db);
                            lowrank::gram(x, n, inp, &gu, r, 1.0, &mut da_t);
                            // dx = gu A + g W
                            lowrank::expand(&gu, n, r, a, inp, 1.0, &mut dx);
                            match &self.bf16 {
                                Some(p) => p.bwd().matmul_t(g, n, &mut dx, true),
                                None => sgemm(n, inp, out, &mut dx, (inp, 1), true, g, (out, 1), w, (inp, 1), 1.0),
                            }
                        })
                    })
                })
            })
        })?????;
        let da = lowrank::transpose(&da_t, inp, r);
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, (n, inp), dev)?),
            Some(Tensor::from_vec(da, (r, inp), dev)?),
            Some(Tensor::from_vec(db, (out, r), dev)?),
        ))
    }
}

/// `x (n, in) @ w^T + scale * (x @ a^T) @ b^T`, one op with a hand-written backward on
/// CPU in f32 (the frozen `w` gets no gradient); the plain composition elsewhere.
pub fn lora_linear(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    lora_linear_bf16(x, w, a, b, scale, None, None)
}

/// [`lora_linear`], with the products through the frozen `w` (forward and `dx`) in bf16
/// when `bf16` holds its packed copies; the LoRA factors and their gradients stay f32.
/// `transposed` may hold `(A^T, B^T)` for an adapter that no longer trains (see
/// [`crate::LoraAdapter::pair_transposed`]), saving a transpose per call.
pub fn lora_linear_bf16(
    x: &Tensor,
    w: &Tensor,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
    bf16: Option<&Arc<Bf16Weight>>,
    transposed: Option<(&Tensor, &Tensor)>,
) -> candle_core::Result<Tensor> {
    let fused = x.device().is_cpu()
        && [x, w, a, b].iter().all(|t| t.dtype() == DType::F32)
        && w.is_contiguous();
    if fused {
        let x = x.contiguous()?;
        let (a, b) = (a.contiguous()?, b.contiguous()?);
        let transposed = transposed.map(|(at, bt)| (at.clone(), bt.clone()));
        x.apply_op3(&a, &b, LoraLinear { w: w.clone(), scale: scale as f32, bf16: bf16.cloned(), transposed })
    } else {
        let y = frozen_linear(x, w)?;
        y + (x.matmul(&a.t()?)?.matmul(&b.t()?)? * scale)?
    }
}

const ELEMWISE_CHUNK: usize = 8192;

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
        read_f32(gate, |g| {
            read_f32(up, |u| {
                read_f32(grad, |d| {
                    dg.par_chunks_mut(ELEMWISE_CHUNK)
                        .zip(du.par_chunks_mut(ELEMWISE_CHUNK))
                        .zip(g.par_chunks(ELEMWISE_CHUNK).zip(u.par_chunks(ELEMWISE_CHUNK)))
                        .zip(d.par_chunks(ELEMWISE_CHUNK))
                        .for_each(|(((dg, du), (g, u)), d)| simd::gelu_mul_bwd(dg, du, g, u, d))
                })
            })
        })???;
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
        read_f32(&self.scale, |w| {
            let rows = (ELEMWISE_CHUNK / d).max(1) * d;
            y.par_chunks_mut(rows).zip(x.par_chunks(rows)).for_each(|(y, x)| {
                for (y, x) in y.chunks_mut(d).zip(x.chunks(d)) {
                    let ms = x.iter().map(|v| v * v).sum::<f32>() / d as f32;
                    let r = 1.0 / (ms + eps).sqrt();
                    for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
                        *y = x * r * w;
                    }
                }
            })
        })?;
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let d = x.dim(D::Minus1)?;
        let mut dx = vec![0f32; x.elem_count()];
        let eps = self.eps;
        read_f32(x, |x| {
            read_f32(g, |g| {
                read_f32(&self.scale, |w| {
                    let rows = (ELEMWISE_CHUNK / d).max(1) * d;
                    dx.par_chunks_mut(rows).zip(x.par_chunks(rows).zip(g.par_chunks(rows))).for_each(
                        |(dx, (x, g))| {
                            for ((dx, x), g) in dx.chunks_mut(d).zip(x.chunks(d)).zip(g.chunks(d)) {
                                let ms = x.iter().map(|v| v * v).sum::<f32>() / d as f32;
                                let r = 1.0 / (ms + eps).sqrt();
                                // dx = r * (g w - xhat * mean(g w xhat)), xhat = x r
                                let dot: f32 =
                                    x.iter().zip(g).zip(w).map(|((&x, &g), &w)| g * w * x * r).sum();
                                let m = dot / d as f32;
                                for (((dx, &x), &g), &w) in dx.iter_mut().zip(x).zip(g).zip(w) {
                                    *dx = r * (g * w - x * r * m);
                                }
                            }
                        },
                    )
                })
            })
        })???;
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
        read_f32(&self.cos, |c| read_f32(&self.sin, |s| rope_rows(x, &mut y, c, s, hd, t, false)))??;
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (t, hd) = self.cos.dims2()?;
        let mut dx = vec![0f32; x.elem_count()];
        read_f32(g, |g| {
            read_f32(&self.cos, |c| read_f32(&self.sin, |s| rope_rows(g, &mut dx, c, s, hd, t, true)))
        })???;
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
        read_f32(y, |y| {
            read_f32(g, |g| {
                dx.par_chunks_mut(tk).zip(y.par_chunks(tk).zip(g.par_chunks(tk))).for_each(
                    |(dx, (y, g))| {
                        let dot = simd::dot(y, g);
                        for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                            *dx = scale * y * (g - dot);
                        }
                    },
                )
            })
        })??;
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
pub fn head_cross_entropy(
    hidden: &Tensor,
    head: &Tensor,
    targets: &[u32],
    denom: f64,
    softcap: Option<f64>,
) -> candle_core::Result<(Tensor, f64)> {
    head_cross_entropy_bf16(hidden, head, targets, denom, softcap, None)
}

/// [`head_cross_entropy`] with the two head products (logits and `dL/dx`) in bf16 when
/// `bf16` holds the head's packed copies; the softmax, loss and gradient stay f32.
pub fn head_cross_entropy_bf16(
    hidden: &Tensor,
    head: &Tensor,
    targets: &[u32],
    denom: f64,
    softcap: Option<f64>,
    bf16: Option<&Bf16Weight>,
) -> candle_core::Result<(Tensor, f64)> {
    let (n, h) = hidden.dims2()?;
    let vocab = head.dim(0)?;
    if n != targets.len() {
        candle_core::bail!("head_cross_entropy: {n} rows for {} targets", targets.len());
    }
    if targets.iter().any(|&t| t as usize >= vocab) {
        candle_core::bail!("head_cross_entropy: target outside the vocabulary");
    }
    let inv_denom = (1.0 / denom) as f32;
    let cpu = hidden.device().is_cpu()
        && hidden.dtype() == DType::F32
        && head.dtype() == DType::F32
        && head.is_contiguous();
    let (total, grad) = if cpu {
        let mut grad = vec![0f32; n * h];
        let mut z = vec![0f32; HEAD_CHUNK_ROWS.min(n) * vocab];
        let total = read_f32(hidden, |x| {
            read_f32(head, |w| {
                let mut total = 0f64;
                for start in (0..n).step_by(HEAD_CHUNK_ROWS) {
                    let rows = HEAD_CHUNK_ROWS.min(n - start);
                    let z = &mut z[..rows * vocab];
                    let xs = &x[start * h..(start + rows) * h];
                    // logits = x W^T, then in place: dL/dlogits
                    match bf16 {
                        Some(p) => p.fwd.matmul_t(xs, rows, z, false),
                        None => sgemm(rows, vocab, h, z, (vocab, 1), false, xs, (h, 1), w, (1, h), 1.0),
                    }
                    total += fused_rows(z, vocab, &targets[start..start + rows], inv_denom, softcap);
                    // dL/dx = dL/dlogits @ W
                    let gs = &mut grad[start * h..(start + rows) * h];
                    match bf16 {
                        Some(p) => p.bwd().matmul_t(z, rows, gs, false),
                        None => sgemm(rows, h, vocab, gs, (h, 1), false, z, (vocab, 1), w, (h, 1), 1.0),
                    }
                }
                total
            })
        })??;
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
