//! Training-time operators that stock candle autograd makes expensive on CPU
//! (see `crates/arkor-engine/README.md`), each a candle custom op over [`crate::kernels`]:
//! - [`linear`]: products through a frozen weight whose backward computes only the
//!   input gradient (candle's matmul backward always builds the weight gradient too),
//!   with or without a LoRA pair beside it, in f32 or bf16;
//! - [`elementwise`]: Gemma's GELU gate, RMSNorm and rotary embedding, one pass each way;
//! - [`softmax`]: softmaxes with a backward pass (candle-nn's fused softmax has none);
//! - [`loss`]: the tied-head cross-entropy computed chunk by chunk on supervised rows
//!   only, with its gradient produced in the same pass, so the full logits tensor never
//!   exists.

use std::ops::{Deref, Range};

use candle_core::{backend::BackendStorage, CpuStorage, Layout, Storage, StorageRef, Tensor};

pub mod elementwise;
pub mod linear;
pub mod loss;
pub mod softmax;

pub use elementwise::{gelu_mul, rms_norm, rope};
pub use linear::{frozen_linear, lora_linear, q8_linear, Bf16Weight};
pub use loss::{head_cross_entropy, head_nll};
pub use softmax::{masked_softmax, softmax_last};

/// Elements per rayon task in the element-wise loops.
const ELEMWISE_CHUNK: usize = 8192;

/// The f32 slice of a CPU storage under a contiguous layout (a custom op's inputs).
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

/// The f32 contents of a contiguous CPU tensor, read-locked while this lives. Make a
/// tensor contiguous first (`t.contiguous()?`, free when it already is).
pub(crate) struct F32Slice<'a> {
    storage: StorageRef<'a>,
    range: Range<usize>,
}

impl<'a> F32Slice<'a> {
    /// Borrows `t`'s elements; an error for a strided, non-f32 or non-CPU tensor.
    pub(crate) fn new(t: &'a Tensor) -> candle_core::Result<Self> {
        let (storage, layout) = t.storage_and_layout();
        let range = match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(_)), Some((start, end))) => start..end,
            (Storage::Cpu(CpuStorage::F32(_)), None) => candle_core::bail!("arkor-engine ops need contiguous inputs"),
            (Storage::Cpu(cs), _) => candle_core::bail!("arkor-engine ops run in f32, got {:?}", cs.dtype()),
            _ => candle_core::bail!("arkor-engine ops need CPU tensors, got one on {:?}", t.device().location()),
        };
        Ok(Self { storage, range })
    }
}

impl Deref for F32Slice<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match &*self.storage {
            Storage::Cpu(CpuStorage::F32(v)) => &v[self.range.clone()],
            // `new` accepted only f32 CPU storage, and storage never changes type.
            _ => unreachable!("F32Slice over f32 CPU storage"),
        }
    }
}
