//! Gemma 3 text-model configuration, field for field as in Hugging Face's
//! `Gemma3TextConfig`, so a `config.json` next to safetensors weights reads directly.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which attention a decoder layer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerType {
    /// Local attention over the last `sliding_window` positions, rope base `rope_local_base_freq`.
    SlidingAttention,
    /// Global causal attention, rope base `rope_theta`.
    FullAttention,
}

/// Gemma 3 text-model hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Vocabulary size (rows of the tied embedding / head).
    pub vocab_size: usize,
    /// Residual stream width.
    pub hidden_size: usize,
    /// MLP inner width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Width of one attention head.
    pub head_dim: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// Rope base of global (full-attention) layers.
    pub rope_theta: f64,
    /// Rope base of sliding-window layers.
    pub rope_local_base_freq: f64,
    /// Linear rope scaling factor applied to global layers only (None for 270M).
    #[serde(default)]
    pub rope_scaling_factor: Option<f64>,
    /// Window of sliding-attention layers, in positions (the query sees keys with `q - k < window`).
    pub sliding_window: usize,
    /// Every `sliding_window_pattern`-th layer is global; used when `layer_types` is absent.
    #[serde(default = "default_pattern")]
    pub sliding_window_pattern: usize,
    /// Attention kind per layer; derived from `sliding_window_pattern` when empty.
    #[serde(default)]
    pub layer_types: Vec<LayerType>,
    /// Attention scores are scaled by `query_pre_attn_scalar ^ -0.5`.
    pub query_pre_attn_scalar: f64,
    /// Optional tanh soft-capping of the final logits (None in Gemma 3).
    #[serde(default)]
    pub final_logit_softcapping: Option<f64>,
    /// Optional tanh soft-capping of attention scores (None in Gemma 3).
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
    /// Longest context the model was trained for.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Beginning-of-sequence id.
    #[serde(default = "default_bos")]
    pub bos_token_id: u32,
    /// End-of-sequence id.
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
    /// Padding id.
    #[serde(default)]
    pub pad_token_id: u32,
}

fn default_pattern() -> usize {
    6
}
fn default_max_pos() -> usize {
    32768
}
fn default_bos() -> u32 {
    2
}
fn default_eos() -> u32 {
    1
}

impl ModelConfig {
    /// `google/gemma-3-270m`.
    pub fn gemma3_270m() -> Self {
        let mut c = Self {
            vocab_size: 262_144,
            hidden_size: 640,
            intermediate_size: 2048,
            num_hidden_layers: 18,
            num_attention_heads: 4,
            num_key_value_heads: 1,
            head_dim: 256,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            rope_local_base_freq: 10_000.0,
            rope_scaling_factor: None,
            sliding_window: 512,
            sliding_window_pattern: 6,
            layer_types: vec![],
            query_pre_attn_scalar: 256.0,
            final_logit_softcapping: None,
            attn_logit_softcapping: None,
            max_position_embeddings: 32_768,
            bos_token_id: 2,
            eos_token_id: 1,
            pad_token_id: 0,
        };
        c.fill_layer_types();
        c
    }

    /// Parses a Hugging Face `config.json` (either a text config or a multimodal one
    /// with `text_config`).
    pub fn from_hf_json(text: &str) -> Result<Self> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Config(format!("config.json: {e}")))?;
        let v = v.get("text_config").cloned().unwrap_or(v);
        let mut v = v;
        // HF stores the scaling as an object; we only support the linear kind Gemma 3 uses.
        let factor = v
            .get("rope_scaling")
            .and_then(|s| s.get("factor"))
            .and_then(|f| f.as_f64());
        if let Some(obj) = v.as_object_mut() {
            obj.remove("rope_scaling");
            if let Some(f) = factor {
                obj.insert("rope_scaling_factor".into(), f.into());
            }
            for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
                // Some configs list several eos ids; the first is the sequence end.
                if let Some(serde_json::Value::Array(a)) = obj.get(key).cloned() {
                    obj.insert(key.into(), a.first().cloned().unwrap_or(0.into()));
                }
                if obj.get(key).is_some_and(|x| x.is_null()) {
                    obj.remove(key);
                }
            }
        }
        let mut c: ModelConfig =
            serde_json::from_value(v).map_err(|e| Error::Config(format!("config.json: {e}")))?;
        c.fill_layer_types();
        c.validate()?;
        Ok(c)
    }

    /// Derives `layer_types` from `sliding_window_pattern` if it was not given
    /// (layer i is global when `(i + 1) % pattern == 0`, as in Gemma 3).
    pub fn fill_layer_types(&mut self) {
        if self.layer_types.len() != self.num_hidden_layers {
            let p = self.sliding_window_pattern.max(1);
            self.layer_types = (0..self.num_hidden_layers)
                .map(|i| {
                    if (i + 1) % p == 0 {
                        LayerType::FullAttention
                    } else {
                        LayerType::SlidingAttention
                    }
                })
                .collect();
        }
    }

    /// Whether layer `i` uses sliding-window attention.
    pub fn is_sliding(&self, i: usize) -> bool {
        self.layer_types.get(i) == Some(&LayerType::SlidingAttention)
    }

    /// Checks that the shapes are consistent.
    pub fn validate(&self) -> Result<()> {
        if self.num_attention_heads == 0
            || self.num_key_value_heads == 0
            || !self.num_attention_heads.is_multiple_of(self.num_key_value_heads)
        {
            return Err(Error::Config(format!(
                "num_attention_heads {} must be a positive multiple of num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            )));
        }
        if self.layer_types.len() != self.num_hidden_layers {
            return Err(Error::Config(format!(
                "layer_types has {} entries for {} layers",
                self.layer_types.len(),
                self.num_hidden_layers
            )));
        }
        if !self.head_dim.is_multiple_of(2) || self.hidden_size == 0 || self.vocab_size == 0 {
            return Err(Error::Config("head_dim must be even, sizes positive".into()));
        }
        Ok(())
    }
}
