//! Products through a frozen weight `W (out, in)`: `x W^T` alone ([`frozen_linear`]) or
//! with a LoRA pair beside it ([`lora_linear`]). Neither ever forms a gradient for `W`;
//! both run the products through `W` in bf16 when given its packed copies.
//! [`q8_linear`] is the inference-only form over `W`'s Q8_0 copy.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};

use super::{contiguous_f32, F32Slice};
use crate::kernels::bf16::PackedBf16;
use crate::kernels::lowrank;
use crate::kernels::q8::Q8Matrix;
use crate::kernels::sgemm::sgemm;

/// bf16 copies of a frozen weight `W (out, in)` for [`crate::kernels::bf16`]'s GEMM: `fwd` packs
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
        let fwd = PackedBf16::new(&F32Slice::new(&w)?, out, inp, inp, 1);
        Ok(fwd.map(|fwd| Self { fwd, bwd: OnceLock::new(), w }))
    }

    /// `W^T` as `(in, out)`, packed on the first call.
    pub fn bwd(&self) -> &PackedBf16 {
        self.bwd.get_or_init(|| {
            let (out, inp) = (self.fwd.n(), self.fwd.k());
            // `w` is the contiguous f32 CPU tensor `fwd` was packed from, and `fwd`
            // exists only on CPUs with AVX512_BF16: neither step can fail here.
            let w = F32Slice::new(&self.w).expect("a packed weight is a contiguous f32 CPU tensor");
            PackedBf16::new(&w, inp, out, 1, inp).expect("fwd was packed, so the CPU has AVX512_BF16")
        })
    }

    /// Bytes held by the copies made so far.
    pub fn bytes(&self) -> usize {
        self.fwd.bytes() + self.bwd.get().map_or(0, PackedBf16::bytes)
    }
}

/// `y (n, out) (+)= x (n, in) W^T` through `bf16`'s packed copy or in f32 from `w`.
fn dense_fwd(w: &[f32], bf16: Option<&Bf16Weight>, x: &[f32], n: usize, y: &mut [f32], accumulate: bool) {
    let (out, inp) = (y.len() / n.max(1), x.len() / n.max(1));
    match bf16 {
        Some(p) => p.fwd.matmul_t(x, n, y, accumulate),
        None => sgemm(n, out, inp, y, (out, 1), accumulate, x, (inp, 1), w, (1, inp), 1.0),
    }
}

/// `dx (n, in) (+)= g (n, out) W`, through `bf16`'s packed `W^T` or in f32 from `w`.
fn dense_bwd(w: &[f32], bf16: Option<&Bf16Weight>, g: &[f32], n: usize, dx: &mut [f32], accumulate: bool) {
    let (out, inp) = (g.len() / n.max(1), dx.len() / n.max(1));
    match bf16 {
        Some(p) => p.bwd().matmul_t(g, n, dx, accumulate),
        None => sgemm(n, inp, out, dx, (inp, 1), accumulate, g, (out, 1), w, (inp, 1), 1.0),
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
        let n = l.shape().dims2()?.0;
        let out = self.w.dim(0)?;
        let mut y = vec![0f32; n * out];
        dense_fwd(&F32Slice::new(&self.w)?, self.bf16.as_deref(), x, n, &mut y, false);
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, inp) = x.dims2()?;
        let mut dx = vec![0f32; n * inp];
        let g = g.contiguous()?;
        dense_bwd(&F32Slice::new(&self.w)?, self.bf16.as_deref(), &F32Slice::new(&g)?, n, &mut dx, false);
        Ok(Some(Tensor::from_vec(dx, (n, inp), x.device())?))
    }
}

/// `x (n, in) @ w (out, in)^T`. When `x` is part of a graph and runs on CPU, the
/// backward computes only `dL/dx`: the frozen weight never gets a gradient. With
/// `bf16` (the weight's packed copies) the products through `w` run in bf16
/// ([`crate::kernels::bf16`]), in a graph or not.
pub fn frozen_linear(x: &Tensor, w: &Tensor, bf16: Option<&Arc<Bf16Weight>>) -> candle_core::Result<Tensor> {
    if (x.track_op() || bf16.is_some()) && x.device().is_cpu() && x.dtype() == DType::F32 && w.is_contiguous() {
        x.contiguous()?.apply_op1(FrozenLinear { w: w.clone(), bf16: bf16.cloned() })
    } else {
        x.matmul(&w.t()?)
    }
}

/// `y = x W^T + s (x A^T) B^T` for a frozen `W (out, in)` and trainable `A (r, in)`,
/// `B (out, r)`, as one op: the backward makes `dx`, `dA` and `dB` with thin products
/// ([`crate::kernels`]' low-rank kernels) and never a gradient for `W`.
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
        let mut u = vec![0f32; n * r];
        match &self.transposed {
            Some((at, bt)) => {
                lowrank::project(x, n, inp, &F32Slice::new(at)?, r, 1.0, &mut u);
                lowrank::expand(&u, n, r, &F32Slice::new(bt)?, out, self.scale, &mut y);
            }
            None => {
                lowrank::project(x, n, inp, &lowrank::transpose(a, r, inp), r, 1.0, &mut u);
                lowrank::expand(&u, n, r, &lowrank::transpose(b, out, r), out, self.scale, &mut y);
            }
        }
        dense_fwd(&F32Slice::new(&self.w)?, self.bf16.as_deref(), x, n, &mut y, true);
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
        let (xt, at, bt, gt) = (x.contiguous()?, a.contiguous()?, b.contiguous()?, g.contiguous()?);
        let (x, a, b, g) = (F32Slice::new(&xt)?, F32Slice::new(&at)?, F32Slice::new(&bt)?, F32Slice::new(&gt)?);
        // u = x A^T, gu = s g B
        let mut u = vec![0f32; n * r];
        let mut gu = vec![0f32; n * r];
        lowrank::project(&x, n, inp, &lowrank::transpose(&a, r, inp), r, 1.0, &mut u);
        lowrank::project(&g, n, out, &b, r, s, &mut gu);
        // dB = s g^T u, dA^T = x^T gu
        let mut db = vec![0f32; out * r];
        let mut da_t = vec![0f32; inp * r];
        lowrank::gram(&g, n, out, &u, r, s, &mut db);
        lowrank::gram(&x, n, inp, &gu, r, 1.0, &mut da_t);
        // dx = gu A + g W
        let mut dx = vec![0f32; n * inp];
        lowrank::expand(&gu, n, r, &a, inp, 1.0, &mut dx);
        dense_bwd(&F32Slice::new(&self.w)?, self.bf16.as_deref(), &g, n, &mut dx, true);
        let da = lowrank::transpose(&da_t, inp, r);
        let dev = xt.device();
        Ok((
            Some(Tensor::from_vec(dx, (n, inp), dev)?),
            Some(Tensor::from_vec(da, (r, inp), dev)?),
            Some(Tensor::from_vec(db, (out, r), dev)?),
        ))
    }
}

/// `x (n, in) @ w^T + scale * (x @ a^T) @ b^T`, one op with a hand-written backward on
/// CPU in f32 (the frozen `w` gets no gradient); the plain composition elsewhere.
///
/// With `bf16` (the packed copies of `w`) the products through `w` (forward and `dx`)
/// run in bf16; the LoRA factors and their gradients stay f32. `transposed` may hold
/// `(A^T, B^T)` for an adapter that no longer trains (see
/// [`crate::LoraAdapter::pair_transposed`]), saving a transpose per call.
pub fn lora_linear(
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
        let transposed = transposed.map(|(at, bt)| Ok::<_, candle_core::Error>((at.contiguous()?, bt.contiguous()?))).transpose()?;
        x.apply_op3(&a, &b, LoraLinear { w: w.clone(), scale: scale as f32, bf16: bf16.cloned(), transposed })
    } else {
        let y = frozen_linear(x, w, None)?;
        y + (x.matmul(&a.t()?)?.matmul(&b.t()?)? * scale)?
    }
}

/// A LoRA pair for [`q8_linear`]: `(A (r, in), B (out, r), scale, (A^T, B^T) when the
/// adapter holds them)`.
pub type Q8Lora<'a> = (&'a Tensor, &'a Tensor, f64, Option<(&'a Tensor, &'a Tensor)>);

/// `x (n, in) @ W^T [+ scale (x A^T) B^T]` through `W`'s Q8_0 copy, for inference: there
/// is no backward, so `x` must not be part of a graph. The LoRA pair ([`Q8Lora`]) stays
/// f32 and unmerged: `s u B^T` is written first and the quantised product adds onto it,
/// so a row's result depends on that row alone (see [`crate::kernels::q8`]).
pub fn q8_linear(
    x: &Tensor,
    w: &Q8Matrix,
    lora: Option<Q8Lora<'_>>,
) -> candle_core::Result<Tensor> {
    if x.track_op() {
        candle_core::bail!("the Q8 product is for inference: it has no backward");
    }
    let x = x.contiguous()?;
    let (n, inp) = x.dims2()?;
    if inp != w.k() {
        candle_core::bail!("q8_linear: x has {inp} columns, the weight {}", w.k());
    }
    let out = w.n();
    let xs = F32Slice::new(&x)?;
    let mut y = vec![0f32; n * out];
    if let Some((a, b, scale, transposed)) = lora {
        let r = a.dim(0)?;
        let mut u = vec![0f32; n * r];
        match transposed {
            Some((at, bt)) => {
                let (at, bt) = (at.contiguous()?, bt.contiguous()?);
                lowrank::project(&xs, n, inp, &F32Slice::new(&at)?, r, 1.0, &mut u);
                lowrank::expand(&u, n, r, &F32Slice::new(&bt)?, out, scale as f32, &mut y);
            }
            None => {
                let (a, b) = (a.contiguous()?, b.contiguous()?);
                lowrank::project(&xs, n, inp, &lowrank::transpose(&F32Slice::new(&a)?, r, inp), r, 1.0, &mut u);
                lowrank::expand(&u, n, r, &lowrank::transpose(&F32Slice::new(&b)?, out, r), out, scale as f32, &mut y);
            }
        }
        w.matmul_t(&xs, n, &mut y, true);
    } else {
        w.matmul_t(&xs, n, &mut y, false);
    }
    Tensor::from_vec(y, (n, out), x.device())
}
