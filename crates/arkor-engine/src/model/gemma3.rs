//! The Gemma 3 text decoder with optional LoRA on the seven projections.
//!
//! Plain forward functions over f32 tensors. Norm weights are kept as the effective
//! scale (`1 + w` in Hugging Face's convention) so loaders from either convention
//! (HF adds one at run time, GGUF stores it added) meet in one place.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result, TensorContext};
use crate::model::config::ModelConfig;
pub use crate::model::frozen::{Bf16Packs, Frozen, Precision, Q8Packs};
use crate::model::lora::{LoraAdapter, Target};
use crate::ops;
use crate::rng::SplitMix64;

/// Weights of one decoder layer. Linear weights are `(out, in)`.
#[derive(Clone, Debug)]
pub struct Block {
    pub(crate) input_layernorm: Tensor,
    pub(crate) q_proj: Tensor,
    pub(crate) k_proj: Tensor,
    pub(crate) v_proj: Tensor,
    pub(crate) o_proj: Tensor,
    pub(crate) q_norm: Tensor,
    pub(crate) k_norm: Tensor,
    pub(crate) post_attention_layernorm: Tensor,
    pub(crate) pre_feedforward_layernorm: Tensor,
    pub(crate) gate_proj: Tensor,
    pub(crate) up_proj: Tensor,
    pub(crate) down_proj: Tensor,
    pub(crate) post_feedforward_layernorm: Tensor,
}

impl Block {
    pub(crate) fn proj(&self, t: Target) -> &Tensor {
        match t {
            Target::Q => &self.q_proj,
            Target::K => &self.k_proj,
            Target::V => &self.v_proj,
            Target::O => &self.o_proj,
            Target::Gate => &self.gate_proj,
            Target::Up => &self.up_proj,
            Target::Down => &self.down_proj,
        }
    }
}

/// Frozen Gemma 3 weights. Cheap to clone (tensors are reference counted) and safe to
/// share between threads: nothing here is ever written after loading (the bf16 and Q8
/// copies are made once, on first request, and shared by clones).
#[derive(Clone, Debug)]
pub struct Gemma3 {
    config: ModelConfig,
    /// `(vocab, hidden)`, also the output head (tied).
    embed_tokens: Tensor,
    layers: Vec<Block>,
    norm: Tensor,
    device: Device,
    bf16: Arc<OnceLock<Option<Arc<Bf16Packs>>>>,
    q8: Arc<OnceLock<Option<Arc<Q8Packs>>>>,
}

/// Per-layer key/value cache for incremental decoding of one sequence batch.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Layer `l`'s keys and values, `(b, nkv, len, head_dim)` each, once something is cached.
    pub(crate) fn layer(&self, l: usize) -> Option<&(Tensor, Tensor)> {
        self.layers.get(l)?.as_ref()
    }
}

impl Gemma3 {
    /// Builds the model from tensors named as in Hugging Face's `Gemma3ForCausalLM`
    /// (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`, ...),
    /// with norm weights in HF's convention (the model multiplies by `1 + w`) when
    /// `norms_are_offsets`, else already as scales (GGUF's convention).
    pub fn from_tensors(
        config: ModelConfig,
        mut t: HashMap<String, Tensor>,
        norms_are_offsets: bool,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let mut take = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let x = t
                .remove(name)
                .or_else(|| t.remove(&name.replacen("model.", "model.language_model.", 1)))
                .ok_or_else(|| Error::Config(format!("missing tensor {name}")))?;
            let x = x.to_dtype(DType::F32).ctx(|| format!("converting {name}"))?;
            let x = x.to_device(device).ctx(|| format!("moving {name}"))?;
            if x.dims() != shape {
                return Err(Error::Config(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    x.dims()
                )));
            }
            Ok(x)
        };
        let c = &config;
        let (h, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
        let (nq, nkv) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let norm = |x: Tensor| -> Result<Tensor> {
            if norms_are_offsets {
                Ok((x + 1.0)?)
            } else {
                Ok(x)
            }
        };
        let embed_tokens = take("model.embed_tokens.weight", &[c.vocab_size, h])?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for l in 0..c.num_hidden_layers {
            let p = format!("model.layers.{l}.");
            layers.push(Block {
                input_layernorm: norm(take(&format!("{p}input_layernorm.weight"), &[h])?)?,
                q_proj: take(&format!("{p}self_attn.q_proj.weight"), &[nq, h])?,
                k_proj: take(&format!("{p}self_attn.k_proj.weight"), &[nkv, h])?,
                v_proj: take(&format!("{p}self_attn.v_proj.weight"), &[nkv, h])?,
                o_proj: take(&format!("{p}self_attn.o_proj.weight"), &[h, nq])?,
                q_norm: norm(take(&format!("{p}self_attn.q_norm.weight"), &[hd])?)?,
                k_norm: norm(take(&format!("{p}self_attn.k_norm.weight"), &[hd])?)?,
                post_attention_layernorm: norm(take(
                    &format!("{p}post_attention_layernorm.weight"),
                    &[h],
                )?)?,
                pre_feedforward_layernorm: norm(take(
                    &format!("{p}pre_feedforward_layernorm.weight"),
                    &[h],
                )?)?,
                gate_proj: take(&format!("{p}mlp.gate_proj.weight"), &[i, h])?,
                up_proj: take(&format!("{p}mlp.up_proj.weight"), &[i, h])?,
                down_proj: take(&format!("{p}mlp.down_proj.weight"), &[h, i])?,
                post_feedforward_layernorm: norm(take(
                    &format!("{p}post_feedforward_layernorm.weight"),
                    &[h],
                )?)?,
            });
        }
        let norm = norm(take("model.norm.weight", &[h])?)?;
        Ok(Self { config, embed_tokens, layers, norm, device: device.clone(), bf16: Default::default(), q8: Default::default() })
    }

    /// A randomly initialised model, identical for identical `(config, seed)` on every
    /// platform. Scales are chosen so that the tied head can express confident
    /// predictions (unlike HF's 0.02 init, which makes a tiny model near-uniform).
    pub fn random(config: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut mk = |shape: &[usize], std: f64, mean: f64| -> Result<Tensor> {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| (mean + std * rng.next_normal()) as f32).collect();
            Ok(Tensor::from_vec(v, shape, device)?)
        };
        let c = &config;
        let (h, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
        let (nq, nkv) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let lin = |o: usize, n: usize| (o, n, 1.0 / (n as f64).sqrt());
        let embed_tokens = mk(&[c.vocab_size, h], 0.25, 0.0)?;
        let mut layers = Vec::new();
        for _ in 0..c.num_hidden_layers {
            let mut w = |(o, n, s): (usize, usize, f64)| mk(&[o, n], s, 0.0);
            let q_proj = w(lin(nq, h))?;
            let k_proj = w(lin(nkv, h))?;
            let v_proj = w(lin(nkv, h))?;
            let o_proj = w(lin(h, nq))?;
            let gate_proj = w(lin(i, h))?;
            let up_proj = w(lin(i, h))?;
            let down_proj = w(lin(h, i))?;
            let mut n = |d: usize| mk(&[d], 0.1, 1.0);
            layers.push(Block {
                input_layernorm: n(h)?,
                q_norm: n(hd)?,
                k_norm: n(hd)?,
                post_attention_layernorm: n(h)?,
                pre_feedforward_layernorm: n(h)?,
                post_feedforward_layernorm: n(h)?,
                q_proj,
                k_proj,
                v_proj,
                o_proj,
                gate_proj,
                up_proj,
                down_proj,
            });
        }
        let norm = mk(&[h], 0.1, 1.0)?;
        Ok(Self { config, embed_tokens, layers, norm, device: device.clone(), bf16: Default::default(), q8: Default::default() })
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The tied embedding / output head, `(vocab, hidden)`.
    pub fn embed_tokens(&self) -> &Tensor {
        &self.embed_tokens
    }

    /// The decoder layers, for the multi-sequence decode step (`model::decode`).
    pub(crate) fn blocks(&self) -> &[Block] {
        &self.layers
    }

    /// The final norm's effective scale.
    pub(crate) fn final_norm(&self) -> &Tensor {
        &self.norm
    }

    /// All frozen tensors with their HF names (norms as scales), for tests and exports.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("model.embed_tokens.weight".to_string(), self.embed_tokens.clone())];
        for (l, b) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{l}.");
            for (n, t) in [
                ("input_layernorm", &b.input_layernorm),
                ("self_attn.q_proj", &b.q_proj),
                ("self_attn.k_proj", &b.k_proj),
                ("self_attn.v_proj", &b.v_proj),
                ("self_attn.o_proj", &b.o_proj),
                ("self_attn.q_norm", &b.q_norm),
                ("self_attn.k_norm", &b.k_norm),
                ("post_attention_layernorm", &b.post_attention_layernorm),
                ("pre_feedforward_layernorm", &b.pre_feedforward_layernorm),
                ("mlp.gate_proj", &b.gate_proj),
                ("mlp.up_proj", &b.up_proj),
                ("mlp.down_proj", &b.down_proj),
                ("post_feedforward_layernorm", &b.post_feedforward_layernorm),
            ] {
                v.push((format!("{p}{n}.weight"), t.clone()));
            }
        }
        v.push(("model.norm.weight".into(), self.norm.clone()));
        v
    }

    /// Layer `layer`'s frozen projection `(out, in)`.
    pub fn proj(&self, layer: usize, t: Target) -> &Tensor {
        self.layers[layer].proj(t)
    }

    /// The copies of the frozen weights that compute at `precision`, made on first use:
    /// f32 where that precision cannot run here (bf16 without AVX512_BF16, anything
    /// but f32 off the CPU).
    pub fn frozen(&self, precision: Precision) -> Result<Frozen> {
        Ok(match precision {
            Precision::F32 => Frozen::F32,
            Precision::Bf16 => self.bf16_packs()?.map_or(Frozen::F32, Frozen::Bf16),
            Precision::Q8 => self.q8_packs()?.map_or(Frozen::F32, Frozen::Q8),
        })
    }

    /// Q8_0 copies of the frozen weights (made on the first call, ~1.07 bytes per
    /// weight). None off the CPU.
    pub fn q8_packs(&self) -> Result<Option<Arc<Q8Packs>>> {
        if let Some(p) = self.q8.get() {
            return Ok(p.clone());
        }
        let packs = if self.device.is_cpu() { Some(Arc::new(Q8Packs::new(self)?)) } else { None };
        // Two first requests racing both pack; one result is kept.
        Ok(self.q8.get_or_init(|| packs).clone())
    }

    /// bf16 copies of the frozen weights (the forward layout made on the first call, 2
    /// bytes per weight; training adds the transposes). None off CPU or without
    /// AVX512_BF16.
    pub fn bf16_packs(&self) -> Result<Option<Arc<Bf16Packs>>> {
        if let Some(p) = self.bf16.get() {
            return Ok(p.clone());
        }
        let packs = if self.device.is_cpu() && crate::kernels::bf16::available() {
            let mut layers = Vec::with_capacity(self.layers.len());
            for b in &self.layers {
                let mut v = Vec::with_capacity(7);
                for t in Target::ALL {
                    match ops::Bf16Weight::new(b.proj(t))? {
                        Some(p) => v.push(Arc::new(p)),
                        None => return Ok(None),
                    }
                }
                layers.push(v);
            }
            ops::Bf16Weight::new(&self.embed_tokens)?.map(|head| Arc::new(Bf16Packs { layers, head: Arc::new(head) }))
        } else {
            None
        };
        Ok(self.bf16.get_or_init(|| packs).clone())
    }

    /// Final-normed hidden states `(b, t, hidden)` for token ids `(b, t)` placed at
    /// positions `offset..offset + t`. Sequences are right-padded: causal attention
    /// keeps real tokens from ever seeing the padding after them. The frozen
    /// projections' products read `frozen`'s copies (in training, with bf16 copies,
    /// the backward's input gradients use them too).
    pub fn forward_hidden(
        &self,
        ids: &Tensor,
        lora: Option<&LoraAdapter>,
        mut cache: Option<&mut KvCache>,
        frozen: &Frozen,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, t) = ids.dims2().ctx(|| "input ids must be (batch, seq)".into())?;
        let offset = cache.as_ref().map_or(0, |c| c.len);
        if let Some(cache) = cache.as_mut() {
            if cache.layers.len() != c.num_hidden_layers {
                cache.layers = vec![None; c.num_hidden_layers];
            }
        }
        let x = self.embed(ids, (b, t))?;
        let h = self.decoder(x, BatchShape { b, t, offset, packed: None }, lora, cache.as_deref_mut(), frozen)?;
        if let Some(cache) = cache {
            cache.len += t;
        }
        Ok(h)
    }

    /// Final-normed hidden states `(1, n, hidden)` of a [`Packed`] batch's `n` real
    /// tokens, in its order; the same values as [`forward_hidden`](Self::forward_hidden)
    /// gives those tokens in the padded batch, without computing any padding's.
    pub fn forward_packed(&self, packed: &Packed, lora: Option<&LoraAdapter>, frozen: &Frozen) -> Result<Tensor> {
        let x = self.embed(&packed.ids, (1, packed.len))?;
        self.decoder(x, BatchShape { b: packed.b, t: packed.t, offset: 0, packed: Some(packed) }, lora, None, frozen)
    }

    /// Scaled embeddings `(b, t, hidden)` of ids with `b * t` elements.
    fn embed(&self, ids: &Tensor, (b, t): (usize, usize)) -> Result<Tensor> {
        let c = &self.config;
        let x = self
            .embed_tokens
            .index_select(&ids.flatten_all()?, 0)
            .ctx(|| "embedding lookup (token id out of range?)".into())?;
        // HF multiplies by sqrt(hidden) rounded to the activation dtype (f32 here).
        Ok((x * ((c.hidden_size as f32).sqrt() as f64))?.reshape((b, t, c.hidden_size))?)
    }

    /// The decoder layers and the final norm over embeddings `x`.
    fn decoder(
        &self,
        mut x: Tensor,
        shape: BatchShape<'_>,
        lora: Option<&LoraAdapter>,
        mut cache: Option<&mut KvCache>,
        frozen: &Frozen,
    ) -> Result<Tensor> {
        let c = &self.config;
        let rope_local = rope_tables(c, false, shape.offset, shape.t, &self.device)?;
        let rope_global = rope_tables(c, true, shape.offset, shape.t, &self.device)?;
        for (l, block) in self.layers.iter().enumerate() {
            let sliding = c.is_sliding(l);
            let rope = if sliding { &rope_local } else { &rope_global };
            let kv = cache.as_mut().map(|c| &mut c.layers[l]);
            let residual = &x;
            let h = rms_norm(&x, &block.input_layernorm, c.rms_norm_eps)?;
            let h = self.attention(l, block, &h, lora, rope, sliding, &shape, kv, frozen)?;
            let h = rms_norm(&h, &block.post_attention_layernorm, c.rms_norm_eps)?;
            let x1 = (residual + h)?;
            let h = rms_norm(&x1, &block.pre_feedforward_layernorm, c.rms_norm_eps)?;
            let gate = linear(&h, block, l, Target::Gate, lora, frozen)?;
            let up = linear(&h, block, l, Target::Up, lora, frozen)?;
            let h = ops::gelu_mul(&gate, &up)?;
            let h = linear(&h, block, l, Target::Down, lora, frozen)?;
            let h = rms_norm(&h, &block.post_feedforward_layernorm, c.rms_norm_eps)?;
            x = (x1 + h)?;
        }
        rms_norm(&x, &self.norm, c.rms_norm_eps)
    }

    /// Logits `(.., vocab)` from final-normed hidden states (soft-capped when
    /// configured), the head's product reading `frozen`'s copy.
    pub fn logits(&self, hidden: &Tensor, frozen: &Frozen) -> Result<Tensor> {
        let dims = hidden.dims().to_vec();
        let h = hidden.reshape(((), self.config.hidden_size))?;
        let z = match frozen {
            Frozen::F32 => h.matmul(&self.embed_tokens.t()?)?,
            Frozen::Bf16(p) => ops::frozen_linear(&h.detach(), &self.embed_tokens, Some(p.head()))?,
            Frozen::Q8(p) => ops::q8_linear(&h.detach(), p.head(), None)?,
        };
        let z = match self.config.final_logit_softcapping {
            Some(cap) => ((z / cap)?.tanh()? * cap)?,
            None => z,
        };
        let mut out = dims;
        *out.last_mut().unwrap() = self.config.vocab_size;
        Ok(z.reshape(out)?)
    }

    /// Logits for every position, `(b, t, vocab)`.
    pub fn forward(&self, ids: &Tensor, lora: Option<&LoraAdapter>) -> Result<Tensor> {
        let h = self.forward_hidden(ids, lora, None, &Frozen::F32)?;
        self.logits(&h, &Frozen::F32)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        l: usize,
        block: &Block,
        x: &Tensor,
        lora: Option<&LoraAdapter>,
        rope: &(Tensor, Tensor),
        sliding: bool,
        shape: &BatchShape<'_>,
        kv: Option<&mut Option<(Tensor, Tensor)>>,
        frozen: &Frozen,
    ) -> Result<Tensor> {
        let c = &self.config;
        let BatchShape { b, t, offset, packed } = *shape;
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        // Attention alone needs each sequence's positions: packed rows go to the
        // padded layout here and come back after it.
        let heads = |y: Tensor, n: usize| -> Result<Tensor> {
            let y = match packed {
                Some(p) => p.to_padded(&y)?,
                None => y,
            };
            Ok(y.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
        };
        let q = heads(linear(x, block, l, Target::Q, lora, frozen)?, nh)?;
        let k = heads(linear(x, block, l, Target::K, lora, frozen)?, nkv)?;
        let v = heads(linear(x, block, l, Target::V, lora, frozen)?, nkv)?;
        let q = ops::rope(&rms_norm(&q, &block.q_norm, c.rms_norm_eps)?, &rope.0, &rope.1)?;
        let k = ops::rope(&rms_norm(&k, &block.k_norm, c.rms_norm_eps)?, &rope.0, &rope.1)?;
        let (k, v) = match kv {
            Some(slot) => {
                let (k, v) = match slot.take() {
                    Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                    None => (k, v),
                };
                // Only decoding uses the cache: keep it free of any autograd graph.
                *slot = Some((k.detach(), v.detach()));
                (k, v)
            }
            None => (k, v),
        };
        let tk = k.dim(2)?;
        let g = nh / nkv;
        // Grouped-query attention without copying keys: query heads that share a
        // key/value head are stacked along the sequence axis.
        let qg = q.reshape((b, nkv, g * t, hd))?;
        let scale = 1.0 / c.query_pre_attn_scalar.sqrt();
        let window = if sliding { Some(c.sliding_window) } else { None };
        let scores = qg.matmul(&k.t()?)?;
        let p = if c.attn_logit_softcapping.is_none() && self.device.is_cpu() {
            // Scale, causal/sliding mask and softmax in one pass (and one backward pass).
            ops::masked_softmax(&scores.reshape((b, nh, t, tk))?, scale, offset, window)?
        } else {
            let scores = (scores * scale)?;
            let scores = match c.attn_logit_softcapping {
                Some(cap) => ((scores / cap)?.tanh()? * cap)?,
                None => scores,
            };
            let scores = scores.reshape((b, nh, t, tk))?;
            let scores = match attention_mask(t, tk, offset, window, &self.device)? {
                Some(m) => scores.broadcast_add(&m)?,
                None => scores,
            };
            ops::softmax_last(&scores)?
        };
        let o = p.reshape((b, nkv, g * t, tk))?.matmul(&v)?;
        let o = o.reshape((b, nh, t, hd))?.transpose(1, 2)?.reshape((b, t, nh * hd))?;
        let o = match packed {
            Some(p) => p.to_packed(&o)?,
            None => o,
        };
        linear(&o, block, l, Target::O, lora, frozen)
    }
}

/// How the decoder's activations are laid out: `b` sequences of `t` positions
/// starting at `offset`, either as `(b, t, ..)` tensors or, with `packed`, as the
/// real tokens alone.
#[derive(Clone, Copy)]
struct BatchShape<'a> {
    b: usize,
    t: usize,
    offset: usize,
    packed: Option<&'a Packed>,
}

/// Sequences of different lengths without their padding: the real tokens of a
/// right-padded `(b, t)` batch, sequence after sequence (position `p` of sequence `k`
/// is row `p` plus the lengths of the sequences before `k`).
///
/// Training batches rows of different lengths; padded, a quarter of the tokens of a
/// typical chat batch are padding. Packed, every product through a weight runs on real
/// tokens only, and attention gathers its rows into the padded layout and back (a
/// few hundred kilobytes a layer). The padding slots take a real row's values there,
/// which no real query sees (they come after it, causally) and whose outputs are
/// dropped, so their gradients are exactly zero.
pub struct Packed {
    /// `(n,)` the real token ids.
    ids: Tensor,
    /// For each `(b * t)` padded slot, its packed row (padding: row 0), and for each
    /// packed row, its padded slot; None when no sequence is padded.
    gather: Option<(Tensor, Tensor)>,
    b: usize,
    t: usize,
    len: usize,
}

impl Packed {
    /// Packs token sequences (at least one, none empty).
    pub fn new(seqs: &[&[u32]], device: &Device) -> Result<Self> {
        let b = seqs.len();
        let t = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if b == 0 || seqs.iter().any(|s| s.is_empty()) {
            return Err(Error::Config("a packed batch needs at least one sequence and no empty one".into()));
        }
        let ids: Vec<u32> = seqs.iter().flat_map(|s| s.iter().copied()).collect();
        let len = ids.len();
        let gather = if len == b * t {
            None
        } else {
            let (mut padded, mut packed) = (vec![0u32; b * t], Vec::with_capacity(len));
            let mut row = 0u32;
            for (k, s) in seqs.iter().enumerate() {
                for p in 0..s.len() {
                    padded[k * t + p] = row;
                    packed.push((k * t + p) as u32);
                    row += 1;
                }
            }
            Some((Tensor::from_vec(padded, b * t, device)?, Tensor::from_vec(packed, len, device)?))
        };
        Ok(Self { ids: Tensor::from_vec(ids, len, device)?, gather, b, t, len })
    }

    /// Real tokens in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: [`Packed::new`] refuses an empty batch.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(1, n, w)` packed rows to `(b * t, w)` padded ones.
    fn to_padded(&self, y: &Tensor) -> Result<Tensor> {
        let w = y.dim(candle_core::D::Minus1)?;
        let y = y.reshape((self.len, w))?;
        Ok(match &self.gather {
            Some((padded, _)) => y.index_select(padded, 0)?,
            None => y,
        })
    }

    /// `(b, t, w)` padded rows to `(1, n, w)` packed ones.
    fn to_packed(&self, y: &Tensor) -> Result<Tensor> {
        let w = y.dim(candle_core::D::Minus1)?;
        let y = y.reshape((self.b * self.t, w))?;
        let y = match &self.gather {
            Some((_, packed)) => y.index_select(packed, 0)?,
            None => y,
        };
        Ok(y.reshape((1, self.len, w))?)
    }
}

/// Frozen projection plus the LoRA update `scale * (x A^T) B^T` when the adapter has one,
/// the frozen product reading `frozen`'s copy of the weight. The one dispatch of the
/// products through frozen weights: the multi-sequence decode step calls it without an
/// adapter and adds each row's LoRA delta itself.
pub(crate) fn linear(
    x: &Tensor,
    block: &Block,
    layer: usize,
    target: Target,
    lora: Option<&LoraAdapter>,
    frozen: &Frozen,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let x2 = x.reshape(((), *dims.last().unwrap()))?;
    let w = block.proj(target);
    let pair = lora.and_then(|a| a.pair(layer, target));
    let transposed = lora.and_then(|l| l.pair_transposed(layer, target));
    let y = match (frozen, pair) {
        (Frozen::Q8(p), _) => ops::q8_linear(&x2, p.proj(layer, target), pair.map(|(a, b, s)| (a, b, s, transposed)))?,
        (_, Some((a, bm, scale))) => ops::lora_linear(&x2, w, a, bm, scale, frozen.bf16().map(|p| p.proj(layer, target)), transposed)?,
        (_, None) => ops::frozen_linear(&x2, w, frozen.bf16().map(|p| p.proj(layer, target)))?,
    };
    let mut out = dims;
    *out.last_mut().unwrap() = w.dim(0)?;
    Ok(y.reshape(out)?)
}

/// RMSNorm over the last axis with an effective scale (`1 + w` already applied).
fn rms_norm(x: &Tensor, scale: &Tensor, eps: f64) -> Result<Tensor> {
    Ok(ops::rms_norm(x, scale, eps)?)
}

/// `(cos, sin)` of shape `(t, head_dim)` for positions `offset..offset + t`, in HF's
/// half-split layout (frequencies repeated for both halves of the head).
fn rope_tables(
    c: &ModelConfig,
    global: bool,
    offset: usize,
    t: usize,
    dev: &Device,
) -> Result<(Tensor, Tensor)> {
    let hd = c.head_dim;
    let base = if global { c.rope_theta } else { c.rope_local_base_freq };
    let factor = if global { c.rope_scaling_factor.unwrap_or(1.0) } else { 1.0 };
    // Frequencies in f32 as HF computes them, angles in f64 for long positions.
    let inv: Vec<f32> = (0..hd / 2)
        .map(|i| (1.0 / base.powf((2 * i) as f64 / hd as f64) / factor) as f32)
        .collect();
    let mut cos = Vec::with_capacity(t * hd);
    let mut sin = Vec::with_capacity(t * hd);
    for p in offset..offset + t {
        for _half in 0..2 {
            for &f in &inv {
                let a = (p as f32) * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
    }
    Ok((Tensor::from_vec(cos, (t, hd), dev)?, Tensor::from_vec(sin, (t, hd), dev)?))
}

/// Additive mask `(t, tk)`: query `i` (absolute position `offset + i`) sees key `j` when
/// `j <= offset + i` and, for sliding layers, `offset + i - j < window`. None when every
/// key is visible (single-token decoding inside the window).
fn attention_mask(
    t: usize,
    tk: usize,
    offset: usize,
    window: Option<usize>,
    dev: &Device,
) -> Result<Option<Tensor>> {
    let mut any = false;
    let mut m = vec![0f32; t * tk];
    for i in 0..t {
        let qi = offset + i;
        for j in 0..tk {
            let visible = j <= qi && window.is_none_or(|w| qi - j < w);
            if !visible {
                m[i * tk + j] = f32::NEG_INFINITY;
                any = true;
            }
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(Tensor::from_vec(m, (t, tk), dev)?))
}
