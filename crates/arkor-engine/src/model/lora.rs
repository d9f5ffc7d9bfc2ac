//! LoRA adapters and their PEFT on-disk layout.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Error, Result};
use crate::model::config::ModelConfig;
use crate::rng::SplitMix64;

/// A projection LoRA can adapt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// `self_attn.q_proj`
    #[serde(rename = "q_proj")]
    Q,
    /// `self_attn.k_proj`
    #[serde(rename = "k_proj")]
    K,
    /// `self_attn.v_proj`
    #[serde(rename = "v_proj")]
    V,
    /// `self_attn.o_proj`
    #[serde(rename = "o_proj")]
    O,
    /// `mlp.gate_proj`
    #[serde(rename = "gate_proj")]
    Gate,
    /// `mlp.up_proj`
    #[serde(rename = "up_proj")]
    Up,
    /// `mlp.down_proj`
    #[serde(rename = "down_proj")]
    Down,
}

impl Target {
    /// All seven projections, in PEFT's usual order.
    pub const ALL: [Target; 7] =
        [Target::Q, Target::K, Target::V, Target::O, Target::Gate, Target::Up, Target::Down];

    /// The module name PEFT uses in `target_modules`.
    pub fn module_name(self) -> &'static str {
        match self {
            Target::Q => "q_proj",
            Target::K => "k_proj",
            Target::V => "v_proj",
            Target::O => "o_proj",
            Target::Gate => "gate_proj",
            Target::Up => "up_proj",
            Target::Down => "down_proj",
        }
    }

    /// The path of the module inside a decoder layer.
    pub fn module_path(self) -> &'static str {
        match self {
            Target::Q => "self_attn.q_proj",
            Target::K => "self_attn.k_proj",
            Target::V => "self_attn.v_proj",
            Target::O => "self_attn.o_proj",
            Target::Gate => "mlp.gate_proj",
            Target::Up => "mlp.up_proj",
            Target::Down => "mlp.down_proj",
        }
    }

    /// Parses a PEFT module name.
    pub fn from_module_name(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.module_name() == s)
    }

    /// `(out, in)` of the projection.
    pub fn shape(self, c: &ModelConfig) -> (usize, usize) {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let (q, kv) = (c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim);
        match self {
            Target::Q => (q, h),
            Target::K | Target::V => (kv, h),
            Target::O => (h, q),
            Target::Gate | Target::Up => (i, h),
            Target::Down => (h, i),
        }
    }
}

/// Shape of a LoRA adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank.
    pub r: usize,
    /// Scaling numerator: the update is multiplied by `alpha / r`.
    pub alpha: f64,
    /// Adapted projections.
    pub targets: Vec<Target>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self { r: 16, alpha: 16.0, targets: Target::ALL.to_vec() }
    }
}

impl LoraConfig {
    /// `alpha / r`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }
}

/// One layer's `(A, B)` pairs (or their transposes), indexed as [`Target::ALL`]; None
/// for a target the adapter leaves alone.
type LayerPairs = [Option<(Tensor, Tensor)>; 7];

/// A LoRA adapter: per layer and target, `A (r, in)` and `B (out, r)`.
///
/// During training the tensors are candle `Var`s (updated in place by the optimiser);
/// adapters loaded from disk or snapshotted hold plain tensors.
#[derive(Clone, Debug)]
pub struct LoraAdapter {
    config: LoraConfig,
    /// `pairs[layer][target index in Target::ALL]`.
    pairs: Vec<LayerPairs>,
    base_model: String,
    /// `(A^T, B^T)` beside each pair, for adapters that no longer train (snapshots and
    /// loaded checkpoints): the CPU kernels read these layouts, and transposing on every
    /// call cost ~10% of a decoded token (126 adapted products per token).
    transposed: Option<Vec<LayerPairs>>,
}

/// `(A^T, B^T)` as contiguous tensors for every pair.
fn transposes(pairs: &[LayerPairs]) -> Result<Vec<LayerPairs>> {
    let mut out = Vec::with_capacity(pairs.len());
    for row in pairs {
        let mut r: LayerPairs = Default::default();
        for (i, p) in row.iter().enumerate() {
            if let Some((a, b)) = p {
                r[i] = Some((a.t()?.contiguous()?, b.t()?.contiguous()?));
            }
        }
        out.push(r);
    }
    Ok(out)
}

fn target_index(t: Target) -> usize {
    Target::ALL.iter().position(|x| *x == t).unwrap()
}

impl LoraAdapter {
    /// A fresh trainable adapter: `A` from PEFT's default init (Kaiming-uniform,
    /// bound `1/sqrt(in)`), `B` zero, so the adapted model starts equal to the base.
    /// Returns the adapter and its variables (in a fixed order) for the optimiser.
    pub fn init_trainable(
        model: &ModelConfig,
        config: LoraConfig,
        base_model: &str,
        seed: u64,
        device: &Device,
    ) -> Result<(Self, Vec<Var>)> {
        if config.r == 0 {
            return Err(Error::Config("LoRA rank r must be at least 1".into()));
        }
        if config.targets.is_empty() {
            return Err(Error::Config("LoRA needs at least one target module".into()));
        }
        // A rank wider than a projection adds nothing, and an absurd one would ask the
        // allocator for more than the machine has, which aborts instead of failing.
        if let Some((t, n)) = config.targets.iter().map(|&t| (t, { let (o, i) = t.shape(model); o.min(i) })).min_by_key(|&(_, n)| n) {
            if config.r > n {
                return Err(Error::Config(format!(
                    "LoRA rank r = {} is wider than the narrowest adapted projection ({} is {n} wide); use at most {n}",
                    config.r,
                    t.module_name()
                )));
            }
        }
        let mut rng = SplitMix64::new(seed ^ 0x4C6F_5241);
        let mut vars = Vec::new();
        let mut pairs = Vec::new();
        for _ in 0..model.num_hidden_layers {
            let mut row: LayerPairs = Default::default();
            for t in Target::ALL {
                if !config.targets.contains(&t) {
                    continue;
                }
                let (out, inp) = t.shape(model);
                let bound = 1.0 / (inp as f64).sqrt();
                let a: Vec<f32> = (0..config.r * inp)
                    .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                    .collect();
                let a = Var::from_vec(a, (config.r, inp), device)?;
                let b = Var::zeros((out, config.r), DType::F32, device)?;
                row[target_index(t)] = Some((a.as_tensor().clone(), b.as_tensor().clone()));
                vars.push(a);
                vars.push(b);
            }
            pairs.push(row);
        }
        Ok((Self { config, pairs, base_model: base_model.to_string(), transposed: None }, vars))
    }

    /// The adapter's configuration.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// The base model the adapter was trained on.
    pub fn base_model(&self) -> &str {
        &self.base_model
    }

    /// `(A, B, alpha / r)` for a layer's projection, if adapted.
    pub fn pair(&self, layer: usize, t: Target) -> Option<(&Tensor, &Tensor, f64)> {
        self.pairs
            .get(layer)?
            .get(target_index(t))?
            .as_ref()
            .map(|(a, b)| (a, b, self.config.scale()))
    }

    /// `(A^T, B^T)` for a layer's projection, when the adapter no longer trains.
    pub fn pair_transposed(&self, layer: usize, t: Target) -> Option<(&Tensor, &Tensor)> {
        self.transposed.as_ref()?.get(layer)?.get(target_index(t))?.as_ref().map(|(a, b)| (a, b))
    }

    /// A copy detached from training: later optimiser steps do not change it.
    pub fn snapshot(&self) -> Result<Self> {
        let mut pairs = Vec::with_capacity(self.pairs.len());
        for row in &self.pairs {
            let mut r: LayerPairs = Default::default();
            for (i, p) in row.iter().enumerate() {
                if let Some((a, b)) = p {
                    r[i] = Some((a.detach().copy()?, b.detach().copy()?));
                }
            }
            pairs.push(r);
        }
        let transposed = Some(transposes(&pairs)?);
        Ok(Self { config: self.config.clone(), pairs, base_model: self.base_model.clone(), transposed })
    }

    /// Tensors under PEFT's key names
    /// (`base_model.model.model.layers.{l}.self_attn.q_proj.lora_A.weight`, ...).
    pub fn peft_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (l, row) in self.pairs.iter().enumerate() {
            for t in Target::ALL {
                if let Some((a, b)) = &row[target_index(t)] {
                    let p = format!("base_model.model.model.layers.{l}.{}", t.module_path());
                    out.push((format!("{p}.lora_A.weight"), a.detach()));
                    out.push((format!("{p}.lora_B.weight"), b.detach()));
                }
            }
        }
        out
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` into `dir` (created
    /// if needed), loadable by Hugging Face PEFT. Files are written under temporary
    /// names and renamed, so a reader never sees half a checkpoint.
    pub fn save_peft(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let tensors: HashMap<String, Tensor> = self.peft_tensors().into_iter().collect();
        let tmp = dir.join("adapter_model.safetensors.tmp");
        candle_core::safetensors::save(&tensors, &tmp).map_err(|e| Error::Checkpoint {
            path: dir.to_path_buf(),
            message: format!("writing adapter_model.safetensors: {e}"),
        })?;
        std::fs::rename(&tmp, dir.join("adapter_model.safetensors")).map_err(io_err(&tmp))?;
        let cfg = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": self.base_model,
            "r": self.config.r,
            "lora_alpha": self.config.alpha,
            "lora_dropout": 0.0,
            "target_modules": self.config.targets.iter().map(|t| t.module_name()).collect::<Vec<_>>(),
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "modules_to_save": null,
            "use_rslora": false,
            "use_dora": false,
            "revision": null,
        });
        let tmp = dir.join("adapter_config.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&cfg).unwrap()).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, dir.join("adapter_config.json")).map_err(io_err(&tmp))?;
        Ok(())
    }

    /// Reads a PEFT adapter directory written by `save_peft` or by Hugging Face PEFT
    /// (LoRA only, no bias, no rsLoRA/DoRA), checking shapes against `model`.
    pub fn load_peft(dir: &Path, model: &ModelConfig, device: &Device) -> Result<Self> {
        let bad = |m: String| Error::Checkpoint { path: dir.to_path_buf(), message: m };
        let cfg_path = dir.join("adapter_config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(io_err(&cfg_path))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("adapter_config.json: {e}")))?;
        if v.get("peft_type").and_then(|p| p.as_str()) != Some("LORA") {
            return Err(bad("adapter_config.json: peft_type is not LORA".into()));
        }
        if v.get("use_dora").and_then(|x| x.as_bool()) == Some(true)
            || v.get("use_rslora").and_then(|x| x.as_bool()) == Some(true)
        {
            return Err(bad("DoRA and rsLoRA adapters are not supported".into()));
        }
        let r = v.get("r").and_then(|x| x.as_u64()).ok_or_else(|| bad("missing r".into()))?;
        let alpha = v
            .get("lora_alpha")
            .and_then(|x| x.as_f64())
            .ok_or_else(|| bad("missing lora_alpha".into()))?;
        let base_model =
            v.get("base_model_name_or_path").and_then(|x| x.as_str()).unwrap_or("").to_string();
        let wpath = dir.join("adapter_model.safetensors");
        let mut tensors = candle_core::safetensors::load(&wpath, device)
            .map_err(|e| bad(format!("adapter_model.safetensors: {e}")))?;
        let mut targets = Vec::new();
        let mut pairs = Vec::new();
        for l in 0..model.num_hidden_layers {
            let mut row: LayerPairs = Default::default();
            for t in Target::ALL {
                let p = format!("base_model.model.model.layers.{l}.{}", t.module_path());
                let a = tensors.remove(&format!("{p}.lora_A.weight"));
                let b = tensors.remove(&format!("{p}.lora_B.weight"));
                match (a, b) {
                    (Some(a), Some(b)) => {
                        let (out, inp) = t.shape(model);
                        let (a, b) = (a.to_dtype(DType::F32)?, b.to_dtype(DType::F32)?);
                        if a.dims() != [r as usize, inp] || b.dims() != [out, r as usize] {
                            return Err(bad(format!(
                                "{p}: lora_A {:?} / lora_B {:?} do not fit r={r} and the model's {:?}",
                                a.dims(),
                                b.dims(),
                                (out, inp)
                            )));
                        }
                        if !targets.contains(&t) {
                            targets.push(t);
                        }
                        row[target_index(t)] = Some((a, b));
                    }
                    (None, None) => {}
                    _ => return Err(bad(format!("{p}: lora_A and lora_B must both be present"))),
                }
            }
            pairs.push(row);
        }
        if let Some(k) = tensors.keys().next() {
            return Err(bad(format!("unexpected tensor {k} (wrong base model?)")));
        }
        if targets.is_empty() {
            return Err(bad("no LoRA tensors found".into()));
        }
        targets.sort_by_key(|t| target_index(*t));
        let transposed = Some(transposes(&pairs)?);
        Ok(Self { config: LoraConfig { r: r as usize, alpha, targets }, pairs, base_model, transposed })
    }
}
