//! Which copy of the frozen weights the products through them read: f32 (the loaded
//! tensors), bf16 ([`Bf16Packs`]) or Q8_0 ([`Q8Packs`]). The copies are made once per
//! model, on first use, and shared by every training run and generation on it.
//!
//! [`Precision`] is the choice a caller makes (`SamplingParams::precision`);
//! [`Frozen`] is what a forward pass is handed ([`Gemma3::frozen`] turns one into the
//! other, falling back to f32 where a precision cannot run).

use std::sync::Arc;

use crate::error::Result;
use crate::kernels::q8::Q8Matrix;
use crate::model::gemma3::Gemma3;
use crate::model::lora::Target;
use crate::ops;

/// How the products through the frozen weights (the seven projections and the tied
/// head) are computed. Activations, LoRA factors, attention, norms and sampling are f32
/// in every case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 weights, f32 products: the reference (what `tests/reference.rs` checks
    /// against transformers).
    #[default]
    F32,
    /// bf16 copies of the weights, activations rounded to bf16, f32 sums
    /// ([`crate::kernels::bf16`]); on CPUs without AVX512_BF16 this runs as f32.
    Bf16,
    /// Q8_0 copies of the weights (blocks of 32 int8 with an f16 scale, as GGUF's Q8_0),
    /// activations quantised the same way per call, exact integer block sums
    /// ([`crate::kernels::q8`]): a quarter of f32's bytes per decoded token. AVX-512 VNNI
    /// where the CPU has it, a portable loop with identical results elsewhere. For
    /// inference only (it has no backward); off the CPU this runs as f32.
    Q8,
}

impl Precision {
    /// The name used in benches and logs: `f32`, `bf16`, `q8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Q8 => "q8",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "q8" | "q8_0" => Ok(Precision::Q8),
            _ => Err(format!("unknown precision {s:?}: use f32, bf16 or q8")),
        }
    }
}

/// The copies of the frozen weights a forward pass multiplies with. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub enum Frozen {
    /// The f32 tensors themselves.
    #[default]
    F32,
    /// bf16 copies.
    Bf16(Arc<Bf16Packs>),
    /// Q8_0 copies.
    Q8(Arc<Q8Packs>),
}

impl Frozen {
    /// The precision these copies compute in.
    pub fn precision(&self) -> Precision {
        match self {
            Frozen::F32 => Precision::F32,
            Frozen::Bf16(_) => Precision::Bf16,
            Frozen::Q8(_) => Precision::Q8,
        }
    }

    /// The bf16 copies, when these are they (training's head and backward use them).
    pub fn bf16(&self) -> Option<&Bf16Packs> {
        match self {
            Frozen::Bf16(p) => Some(p),
            _ => None,
        }
    }
}

/// bf16 copies of every frozen projection and of the head, for training with
/// `TrainConfig::bf16_matmul` and generation at [`Precision::Bf16`] (see
/// [`crate::kernels::bf16`]). Generation needs only the forward layout; training also packs the
/// transposes ([`Self::prepare_backward`]).
#[derive(Debug)]
pub struct Bf16Packs {
    /// Per layer, per [`Target`] in `Target::ALL` order.
    pub(crate) layers: Vec<Vec<Arc<ops::Bf16Weight>>>,
    pub(crate) head: Arc<ops::Bf16Weight>,
}

impl Bf16Packs {
    /// A layer's projection.
    pub fn proj(&self, layer: usize, t: Target) -> &Arc<ops::Bf16Weight> {
        &self.layers[layer][target_index(t)]
    }

    /// The head's packed copies.
    pub fn head(&self) -> &Arc<ops::Bf16Weight> {
        &self.head
    }

    /// Bytes held by the copies made so far.
    pub fn bytes(&self) -> usize {
        self.layers.iter().flatten().map(|p| p.bytes()).sum::<usize>() + self.head.bytes()
    }

    /// Packs every transposed copy now (training's first step would otherwise pay for
    /// them one by one).
    pub fn prepare_backward(&self) {
        use rayon::prelude::*;
        let all: Vec<&ops::Bf16Weight> =
            self.layers.iter().flatten().map(|p| p.as_ref()).chain(std::iter::once(self.head.as_ref())).collect();
        all.par_iter().for_each(|p| {
            p.bwd();
        });
    }
}

/// Q8_0 copies of every frozen projection and of the tied head, for generation at
/// [`Precision::Q8`]. Requantised from the loaded f32 weights: tensors the GGUF stores
/// as Q8_0 (the head `token_embd`) come back bit-exact, the Q5_0 / Q4_K / Q6_K ones
/// gain at most half a Q8 step of rounding. About 1.07 bytes per weight (242 MiB for
/// gemma-3-270m, of which 178 MiB is the head).
#[derive(Debug)]
pub struct Q8Packs {
    /// Per layer, per [`Target`] in `Target::ALL` order.
    layers: Vec<Vec<Arc<Q8Matrix>>>,
    head: Arc<Q8Matrix>,
}

impl Q8Packs {
    /// Quantises `weights`' projections and head (CPU f32 tensors).
    pub(crate) fn new(weights: &Gemma3) -> Result<Self> {
        let pack = |t: &candle_core::Tensor| -> Result<Arc<Q8Matrix>> {
            let (n, k) = t.dims2()?;
            let t = t.contiguous()?;
            let m = Q8Matrix::from_f32(&ops::F32Slice::new(&t)?, n, k);
            Ok(Arc::new(m))
        };
        let layers = (0..weights.config().num_hidden_layers)
            .map(|l| Target::ALL.iter().map(|&t| pack(weights.proj(l, t))).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, head: pack(weights.embed_tokens())? })
    }

    /// A layer's projection `(out, in)`.
    pub fn proj(&self, layer: usize, t: Target) -> &Arc<Q8Matrix> {
        &self.layers[layer][target_index(t)]
    }

    /// The tied head `(vocab, hidden)`.
    pub fn head(&self) -> &Arc<Q8Matrix> {
        &self.head
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.layers.iter().flatten().map(|p| p.bytes()).sum::<usize>() + self.head.bytes()
    }
}

fn target_index(t: Target) -> usize {
    Target::ALL.iter().position(|x| *x == t).unwrap_or(0)
}
