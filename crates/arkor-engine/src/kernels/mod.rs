//! CPU kernels on plain slices, below candle: they know nothing of tensors or autograd.
//! [`crate::ops`] wraps them as differentiable operators.
//!
//! - `sgemm`: the dense f32 product (the gemm crate);
//! - [`bf16`]: a bf16 GEMM for frozen weights on CPUs with AVX512_BF16;
//! - [`q8`]: an int8 (GGUF Q8_0) product for frozen weights, AVX-512 VNNI or portable;
//! - `lowrank`: products with a thin (LoRA-rank) factor;
//! - `simd`: AVX-512 element-wise loops (exp, GELU, softmax rows).

pub mod bf16;
pub(crate) mod lowrank;
pub mod q8;
pub(crate) mod sgemm;
pub(crate) mod simd;
