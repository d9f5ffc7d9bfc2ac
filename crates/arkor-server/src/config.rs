//! Job configs: checked field by field when a job is created (so a bad one
//! never reaches the queue), then turned into the engine's `TrainConfig`.

use arkor_engine::data::DatasetFormat;
use arkor_engine::{LoraConfig, LrScheduler, TrainConfig};
use serde_json::Value;

use crate::access::Access;
use crate::error::ApiError;

/// Whether this backend trains and serves `name` (the model catalog's rule).
pub fn is_local_model(name: &str) -> bool {
    arkor_models::catalog::spec(name).is_ok()
}

/// The names of [`is_local_model`], for messages.
pub fn local_models() -> String {
    arkor_models::catalog::MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

/// Optimiser names accepted for `optim`; all run as AdamW here.
const ADAMW_NAMES: &[&str] = &["adamw", "adamw_torch", "adamw_torch_fused", "adamw_hf", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"];

/// A validated job config.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// Base model name.
    pub model: String,
    /// Where the data comes from.
    pub dataset: DatasetSpec,
    /// How its rows read (`datasetFormat`; detected per row when unset).
    pub format: DatasetFormat,
    /// Hyper-parameters, with `output_dir` and `save_steps` still to fill in.
    pub train: TrainConfig,
    /// `saveSteps` as given.
    pub save_steps: Option<usize>,
    /// Smoke-test mode: few examples, few steps.
    pub dry_run: bool,
}

/// The `datasetSource` of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSpec {
    /// `{type: "blob", url, token?}`.
    Blob {
        /// `https://` URL, or a `file://` one naming the file's real path.
        url: String,
        /// Bearer token for the URL.
        token: Option<String>,
    },
    /// `{type: "huggingface", name, split?}` (`subset` is refused).
    Huggingface {
        /// Repo id.
        name: String,
        /// Split (default `train`).
        split: Option<String>,
    },
}

/// Whether training runs the frozen base weights' products in bf16 (on CPUs with
/// AVX512_BF16; the engine ignores it elsewhere): about 3x faster training steps on
/// gemma-3-270m, with LoRA weights, optimiser, loss and attention in f32.
/// `ARKOR_BF16=0` keeps everything f32, generation included ([`inference_precision`]).
pub fn bf16_enabled() -> bool {
    arkor_settings::Settings::global().bf16
}

/// The precision of the frozen weights' products for every inference request: Q8
/// (GGUF Q8_0 copies, int8 block products; LoRA, attention and sampling stay f32),
/// about 2x bf16's decode speed, unless `ARKOR_BF16=0` asks for everything in f32.
pub fn inference_precision() -> arkor_engine::Precision {
    if bf16_enabled() {
        arkor_engine::Precision::Q8
    } else {
        arkor_engine::Precision::F32
    }
}

fn bad(field: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("`config.{field}` {msg}"))
}

fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.char_indices().nth(60).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

fn number(cfg: &Value, field: &str) -> Result<Option<f64>, ApiError> {
    match cfg.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if !x.is_finite() || x < 0.0 {
                return Err(bad(field, format_args!("must be a non-negative number, got {x}")));
            }
            Ok(Some(x))
        }
        Some(other) => Err(bad(field, format_args!("must be a number, got {}", describe(other)))),
    }
}

fn count(cfg: &Value, field: &str, min: usize) -> Result<Option<usize>, ApiError> {
    match number(cfg, field)? {
        None => Ok(None),
        Some(x) if x.fract() != 0.0 || (x as usize) < min => {
            Err(bad(field, format_args!("must be a whole number of at least {min}, got {x}")))
        }
        Some(x) => Ok(Some(x as usize)),
    }
}

fn string<'a>(cfg: &'a Value, field: &str) -> Result<Option<&'a str>, ApiError> {
    match cfg.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(bad(field, format_args!("must be a string, got {}", describe(other)))),
    }
}

fn boolean(cfg: &Value, field: &str) -> Result<Option<bool>, ApiError> {
    match cfg.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(bad(field, format_args!("must be true or false, got {}", describe(other)))),
    }
}

/// Reads a `file://` URL as a local path (the engine's reading of it).
pub use arkor_engine::data::file_url_path;

fn dataset(cfg: &Value, access: &Access) -> Result<DatasetSpec, ApiError> {
    let src = match cfg.get("datasetSource") {
        None | Some(Value::Null) => {
            return Err(bad("datasetSource", "is missing: set `dataset` in createTrainer, e.g. { type: \"blob\", url: \"file:///path/data.jsonl\" }"))
        }
        Some(v @ Value::Object(_)) => v,
        Some(other) => return Err(bad("datasetSource", format_args!("must be an object, got {}", describe(other)))),
    };
    match src.get("type").and_then(Value::as_str) {
        Some("blob") => {
            let url = string(src, "url")
                .map_err(|_| bad("datasetSource.url", "must be a string"))?
                .ok_or_else(|| bad("datasetSource.url", "is missing"))?;
            let token = match src.get("token") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(t.clone()),
                Some(other) => return Err(bad("datasetSource.token", format_args!("must be a string, got {}", describe(other)))),
            };
            if let Some(path) = file_url_path(url) {
                let real = access.local_dataset(&path).map_err(|e| bad("datasetSource.url", e))?;
                // Read what was checked, not whatever the link points at later.
                let url = format!("file://{}", real.display().to_string().replace('%', "%25"));
                return Ok(DatasetSpec::Blob { url, token });
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(bad("datasetSource.url", format_args!("must be a file://, https:// or http:// URL, got {}", describe(&Value::from(url)))));
            }
            if access.checks_addresses() {
                if let Some(ip) = url_ip_literal(url) {
                    crate::access::address_rule(ip).map_err(|e| bad("datasetSource.url", e))?;
                }
            }
            Ok(DatasetSpec::Blob { url: url.to_owned(), token })
        }
        Some("huggingface") => {
            let name = src.get("name").and_then(Value::as_str).filter(|s| !s.is_empty());
            let name = name.ok_or_else(|| bad("datasetSource.name", "is missing: name the Hugging Face dataset repo, e.g. \"org/dataset\""))?;
            let opt = |k: &str| src.get(k).and_then(Value::as_str).map(str::to_owned);
            // The Hub loader reads a repo's files for one split; picking a
            // config is not implemented, and training on the wrong one
            // silently would be worse than saying so.
            if src.get("subset").is_some_and(|v| !v.is_null()) {
                return Err(bad(
                    "datasetSource.subset",
                    "is not supported by the local backend yet: point `name` at a repo (or `type: \"blob\"` at a file) that holds only the rows you want",
                ));
            }
            Ok(DatasetSpec::Huggingface { name: name.to_owned(), split: opt("split") })
        }
        other => Err(bad(
            "datasetSource.type",
            format_args!("must be \"blob\" or \"huggingface\", got {}", other.map_or("nothing".into(), |t| format!("{t:?}"))),
        )),
    }
}

/// The IP address a URL names literally, if it does, in any spelling the
/// URL standard accepts (`2130706433`, `0x7f.1`, `[::ffff:7f00:1]`). The
/// engine checks names when it resolves them; this answers literals at once.
fn url_ip_literal(url: &str) -> Option<std::net::IpAddr> {
    match url::Url::parse(url).ok()?.host()? {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    }
}

/// `datasetFormat`: a format name, or upstream's `{ type: name }`.
fn dataset_format(cfg: &Value) -> Result<DatasetFormat, ApiError> {
    let (field, name) = match cfg.get("datasetFormat") {
        None | Some(Value::Null) => return Ok(DatasetFormat::Auto),
        Some(Value::String(f)) => ("datasetFormat", f.as_str()),
        Some(o @ Value::Object(_)) => match o.get("type") {
            Some(Value::String(f)) => ("datasetFormat.type", f.as_str()),
            other => {
                let got = other.map_or("nothing".to_owned(), describe);
                return Err(bad("datasetFormat.type", format_args!("must be a format name such as \"chatml\", got {got}")));
            }
        },
        Some(other) => {
            return Err(bad("datasetFormat", format_args!("must be a format name or {{ type: name }}, got {}", describe(other))))
        }
    };
    crate::dataset::parse_format(name).map_err(|e| bad(field, e))
}

/// Checks a job config and plans the run under `access` (which datasets the
/// server may read). Every error names the field.
pub fn plan(cfg: &Value, access: &Access) -> Result<JobPlan, ApiError> {
    if !cfg.is_object() {
        return Err(ApiError::BadRequest("`config` must be an object".into()));
    }
    let model = string(cfg, "model")?.ok_or_else(|| bad("model", "is missing"))?;
    if !is_local_model(model) {
        return Err(bad("model", format_args!("{model:?} is not served by this local backend; use one of {}", local_models())));
    }
    let dataset = dataset(cfg, access)?;
    let mut t = TrainConfig::default();
    t.bf16_matmul = bf16_enabled();
    let mut lora = LoraConfig::default();
    if let Some(r) = count(cfg, "loraR", 1)? {
        lora.r = r;
    }
    if let Some(a) = number(cfg, "loraAlpha")? {
        lora.alpha = a;
    }
    t.lora = lora;
    if let Some(m) = count(cfg, "maxLength", 8)? {
        t.max_length = Some(m);
    }
    if let Some(lr) = number(cfg, "learningRate")? {
        t.learning_rate = lr;
    }
    if let Some(b) = count(cfg, "batchSize", 1)? {
        t.batch_size = b;
    }
    t.max_steps = count(cfg, "maxSteps", 1)?;
    if let Some(e) = number(cfg, "numTrainEpochs")? {
        if e <= 0.0 {
            return Err(bad("numTrainEpochs", "must be greater than 0"));
        }
        t.num_train_epochs = e;
    }
    if let Some(w) = count(cfg, "warmupSteps", 0)? {
        t.warmup_steps = w;
    }
    if let Some(wd) = number(cfg, "weightDecay")? {
        t.weight_decay = wd;
    }
    if let Some(l) = count(cfg, "loggingSteps", 1)? {
        t.logging_steps = l;
    }
    let save_steps = count(cfg, "saveSteps", 1)?;
    t.eval_steps = count(cfg, "evalSteps", 1)?;
    if let Some(s) = string(cfg, "lrSchedulerType")? {
        // The engine owns the names; only the field is added here.
        t.lr_scheduler = s
            .parse::<LrScheduler>()
            .map_err(|_| bad("lrSchedulerType", format_args!("{s:?} is not supported; use one of {}", LrScheduler::NAMES.join(", "))))?;
    }
    if let Some(o) = string(cfg, "optim")? {
        if !ADAMW_NAMES.contains(&o) {
            return Err(bad("optim", format_args!("{o:?} is not supported; use one of {}", ADAMW_NAMES.join(", "))));
        }
    }
    boolean(cfg, "loadIn4bit")?;
    let format = dataset_format(cfg)?;
    t.train_on_responses_only = boolean(cfg, "trainOnResponsesOnly")?.unwrap_or(true);
    let dry_run = boolean(cfg, "dryRun")?.unwrap_or(false);
    if let Some(seed) = count(cfg, "seed", 0)? {
        t.seed = seed as u64;
    }
    Ok(JobPlan { model: model.to_owned(), dataset, format, train: t, save_steps, dry_run })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn base() -> Value {
        json!({"model": "arkor/tiny-gemma3", "datasetSource": {"type": "huggingface", "name": "a/b"}})
    }

    fn err(cfg: Value) -> String {
        plan(&cfg, &Access::Loopback).unwrap_err().to_string()
    }

    #[test]
    fn fields_are_named_in_errors() {
        let mut c = base();
        c["learningRate"] = json!(-1);
        assert!(err(c).contains("`config.learningRate`"));
        let mut c = base();
        c["maxSteps"] = json!("ten");
        assert!(err(c).contains("`config.maxSteps` must be a number"));
        let mut c = base();
        c["model"] = json!("gpt-2");
        assert!(err(c).contains("`config.model`"));
        let mut c = base();
        c.as_object_mut().unwrap().remove("datasetSource");
        assert!(err(c).contains("`config.datasetSource` is missing"));
        let c = json!({"model": "arkor/tiny-gemma3", "datasetSource": {"type": "blob", "url": "file:///no/such/file.jsonl"}});
        assert!(err(c).contains("`config.datasetSource.url` cannot be read"));
    }

    #[test]
    fn a_hub_subset_is_refused_not_dropped() {
        let mut c = base();
        c["datasetSource"]["subset"] = json!("en");
        assert!(err(c).contains("`config.datasetSource.subset` is not supported"));
        let mut c = base();
        c["datasetSource"]["subset"] = Value::Null;
        assert!(plan(&c, &Access::Loopback).is_ok());
    }

    #[test]
    fn plan_maps_hyperparameters() {
        let mut c = base();
        c["loraR"] = json!(8);
        c["maxSteps"] = json!(12);
        c["lrSchedulerType"] = json!("cosine");
        let p = plan(&c, &Access::Loopback).unwrap();
        assert_eq!(p.train.lora.r, 8);
        assert_eq!(p.train.max_steps, Some(12));
        assert_eq!(p.train.lr_scheduler, LrScheduler::Cosine);
        assert!(p.train.train_on_responses_only);
        assert_eq!(p.train.eval_steps, None);
        c["evalSteps"] = json!(25);
        assert_eq!(plan(&c, &Access::Loopback).unwrap().train.eval_steps, Some(25));
        c["evalSteps"] = json!(0);
        assert!(err(c).contains("`config.evalSteps` must be a whole number of at least 1"));
    }

    #[test]
    fn file_urls() {
        assert_eq!(file_url_path("file:///tmp/a%20b.jsonl"), Some(PathBuf::from("/tmp/a b.jsonl")));
        assert_eq!(file_url_path("file://localhost/tmp/x.csv"), Some(PathBuf::from("/tmp/x.csv")));
        assert_eq!(file_url_path("https://x"), None);
    }
}
