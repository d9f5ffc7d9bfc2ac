//! Reading Gemma 3 GGUF files: metadata → `ModelConfig`, tensors dequantized to f32
//! under Hugging Face names, tokenizer from `tokenizer.ggml.*`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};

use crate::error::{io_err, Error, Result};
use crate::model::config::ModelConfig;
use crate::model::gemma3::Gemma3;
use crate::model::tokenizer::{TokenKind, Tokenizer};

/// llama.cpp tensor name suffix → Hugging Face suffix inside `model.layers.N.`.
const LAYER_NAMES: [(&str, &str); 13] = [
    ("attn_norm", "input_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("attn_q_norm", "self_attn.q_norm"),
    ("attn_k_norm", "self_attn.k_norm"),
    ("post_attention_norm", "post_attention_layernorm"),
    ("ffn_norm", "pre_feedforward_layernorm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
    ("post_ffw_norm", "post_feedforward_layernorm"),
];

/// Reads the GGUF header (metadata and tensor directory) only.
pub fn read_content(path: &Path) -> Result<Content> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    Content::read(&mut f).map_err(|e| Error::ModelFormat {
        path: path.to_path_buf(),
        message: format!("not a readable GGUF file: {e}"),
    })
}

/// The model configuration from GGUF metadata.
pub fn config_from_gguf(path: &Path, content: &Content) -> Result<ModelConfig> {
    let bad = |m: String| Error::ModelFormat { path: path.to_path_buf(), message: m };
    let md = &content.metadata;
    let arch = md
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .ok_or_else(|| bad("missing general.architecture".into()))?;
    if arch != "gemma3" {
        return Err(bad(format!("architecture {arch} is not gemma3")));
    }
    let get = |k: &str| md.get(&format!("gemma3.{k}"));
    let u = |k: &str| -> Result<usize> {
        get(k)
            .and_then(|v| v.to_u32().ok().map(|x| x as usize).or_else(|| v.to_u64().ok().map(|x| x as usize)))
            .ok_or_else(|| bad(format!("missing gemma3.{k}")))
    };
    let f = |k: &str, d: f64| get(k).and_then(|v| v.to_f32().ok()).map_or(d, |x| x as f64);
    let head_dim = u("attention.key_length")?;
    let vocab = content
        .tensor_infos
        .get("token_embd.weight")
        .map(|t| t.shape.dims()[0])
        .ok_or_else(|| bad("missing token_embd.weight".into()))?;
    let mut c = ModelConfig {
        vocab_size: vocab,
        hidden_size: u("embedding_length")?,
        intermediate_size: u("feed_forward_length")?,
        num_hidden_layers: u("block_count")?,
        num_attention_heads: u("attention.head_count")?,
        num_key_value_heads: u("attention.head_count_kv")?,
        head_dim,
        rms_norm_eps: f("attention.layer_norm_rms_epsilon", 1e-6),
        rope_theta: f("rope.freq_base", 1_000_000.0),
        // GGUF has no key for the local base; every Gemma 3 size uses 10000.
        rope_local_base_freq: 10_000.0,
        rope_scaling_factor: get("rope.scaling.factor").and_then(|v| v.to_f32().ok()).map(|x| x as f64),
        sliding_window: u("attention.sliding_window").unwrap_or(512),
        sliding_window_pattern: 6,
        layer_types: vec![],
        // Gemma 3 scales queries by head_dim^-0.5 for every published size but 27B.
        query_pre_attn_scalar: head_dim as f64,
        final_logit_softcapping: get("final_logit_softcapping").and_then(|v| v.to_f32().ok()).map(|x| x as f64),
        attn_logit_softcapping: get("attn_logit_softcapping").and_then(|v| v.to_f32().ok()).map(|x| x as f64),
        max_position_embeddings: u("context_length").unwrap_or(32_768),
        bos_token_id: md.get("tokenizer.ggml.bos_token_id").and_then(|v| v.to_u32().ok()).unwrap_or(2),
        eos_token_id: md.get("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok()).unwrap_or(1),
        pad_token_id: md.get("tokenizer.ggml.padding_token_id").and_then(|v| v.to_u32().ok()).unwrap_or(0),
    };
    if c.rope_scaling_factor == Some(1.0) {
        c.rope_scaling_factor = None;
    }
    c.fill_layer_types();
    c.validate()?;
    Ok(c)
}

/// The tokenizer stored in GGUF metadata.
pub fn tokenizer_from_gguf(path: &Path, content: &Content) -> Result<Tokenizer> {
    let bad = |m: String| Error::ModelFormat { path: path.to_path_buf(), message: m };
    let md = &content.metadata;
    let arr = |k: &str| -> Result<&Vec<Value>> {
        md.get(k).and_then(|v| v.to_vec().ok()).ok_or_else(|| bad(format!("missing {k}")))
    };
    let pieces = arr("tokenizer.ggml.tokens")?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(|e| bad(format!("tokenizer.ggml.tokens: {e}")))?;
    let scores = match md.get("tokenizer.ggml.scores").and_then(|v| v.to_vec().ok()) {
        Some(a) => a.iter().map(|v| v.to_f32().unwrap_or(0.0)).collect(),
        None => vec![0.0; pieces.len()],
    };
    let kinds = match md.get("tokenizer.ggml.token_type").and_then(|v| v.to_vec().ok()) {
        Some(a) => a.iter().map(|v| TokenKind::from_gguf(v.to_i32().unwrap_or(1))).collect(),
        None => vec![TokenKind::Normal; pieces.len()],
    };
    Tokenizer::from_vocab(pieces, scores, kinds)
}

/// Loads a Gemma 3 GGUF: every tensor dequantized to f32 (training needs them dense).
pub fn load_gguf(path: &Path, device: &Device) -> Result<(Gemma3, Tokenizer)> {
    let content = read_content(path)?;
    let config = config_from_gguf(path, &content)?;
    let tokenizer = tokenizer_from_gguf(path, &content)?;
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for name in content.tensor_infos.keys() {
        let hf = if name == "token_embd.weight" {
            "model.embed_tokens.weight".to_string()
        } else if name == "output_norm.weight" {
            "model.norm.weight".to_string()
        } else if let Some(rest) = name.strip_prefix("blk.") {
            let (layer, rest) = rest.split_once('.').unwrap_or((rest, ""));
            let base = rest.strip_suffix(".weight").unwrap_or(rest);
            match LAYER_NAMES.iter().find(|(g, _)| *g == base) {
                Some((_, h)) => format!("model.layers.{layer}.{h}.weight"),
                None => continue,
            }
        } else {
            continue;
        };
        let q = content.tensor(&mut f, name, device).map_err(|e| Error::ModelFormat {
            path: path.to_path_buf(),
            message: format!("tensor {name}: {e}"),
        })?;
        let t = q.dequantize(device).map_err(|e| Error::ModelFormat {
            path: path.to_path_buf(),
            message: format!("dequantizing {name}: {e}"),
        })?;
        tensors.insert(hf, t);
    }
    // llama.cpp's converter stores Gemma norm weights with the +1 already added.
    let weights = Gemma3::from_tensors(config, tensors, false, device)?;
    Ok((weights, tokenizer))
}
