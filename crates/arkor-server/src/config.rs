//! Job configs: read through the shared schema (`arkor_protocol::JobConfig`),
//! checked field by field when a job is created (so a bad one never reaches
//! the queue), then turned into the engine's `TrainConfig`.

use arkor_engine::data::DatasetFormat;
use arkor_engine::{LoraConfig, LrScheduler, TrainConfig};
use arkor_protocol::job::{BlobSource, DatasetFormatSpec, HubSource, JobConfig};
use arkor_protocol::{DatasetSource, Named};
use serde::Deserialize;
use serde_json::Value;

use crate::access::Access;

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
    /// `{type: "huggingface", name, subset?, split?}`.
    Huggingface {
        /// Repo id.
        name: String,
        /// Subset (the Hub's config): as the dataset card declares it, or the data
        /// files in a folder of this name.
        subset: Option<String>,
        /// Split (default `train`).
        split: Option<String>,
    },
}

/// Whether training runs the frozen base weights' products in bf16 (on CPUs with
/// AVX512_BF16; the engine ignores it elsewhere): about 3x faster training steps on
/// gemma-3-270m, with LoRA weights, optimiser, loss and attention in f32.
/// `ARKOR_BF16=0` keeps everything f32, generation included ([`inference_precision`]).
pub fn bf16_enabled() -> bool {
    arkor_settings::Settings::global().bf16_or_default()
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

/// Why a job config was refused; every message names the field (`config.x`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The config is not a JSON object.
    #[error("`config` must be an object")]
    NotObject,
    /// One field is missing or wrong.
    #[error("`config.{field}` {message}")]
    Field {
        /// Its path on the wire (`maxSteps`, `datasetSource.url`).
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl ConfigError {
    /// The same error for a field of the object at `prefix` (`datasetSource.`).
    fn under(self, prefix: &str) -> Self {
        match self {
            ConfigError::Field { field, message } => ConfigError::Field { field: format!("{prefix}{field}"), message },
            other => other,
        }
    }
}

fn bad(field: impl Into<String>, msg: impl std::fmt::Display) -> ConfigError {
    ConfigError::Field { field: field.into(), message: msg.to_string() }
}

fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.char_indices().nth(60).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

fn number(f: Named<f64>) -> Result<Option<f64>, ConfigError> {
    match f.field.get() {
        Ok(None) => Ok(None),
        Ok(Some(&x)) if !x.is_finite() || x < 0.0 => Err(bad(f.name, format_args!("must be a non-negative number, got {x}"))),
        Ok(Some(&x)) => Ok(Some(x)),
        Err(other) => Err(bad(f.name, format_args!("must be a number, got {}", describe(other)))),
    }
}

fn count(f: Named<f64>, min: usize) -> Result<Option<usize>, ConfigError> {
    match number(f)? {
        None => Ok(None),
        Some(x) if x.fract() != 0.0 || (x as usize) < min => Err(bad(f.name, format_args!("must be a whole number of at least {min}, got {x}"))),
        Some(x) => Ok(Some(x as usize)),
    }
}

/// [`count`] with an upper bound, for the settings that size memory.
fn count_up_to(f: Named<f64>, min: usize, max: usize) -> Result<Option<usize>, ConfigError> {
    match count(f, min)? {
        Some(n) if n > max => Err(bad(f.name, format_args!("must be at most {max} on this local backend, got {n}"))),
        n => Ok(n),
    }
}

fn string<'a>(f: Named<'a, String>) -> Result<Option<&'a str>, ConfigError> {
    f.field.get().map(|s| s.map(String::as_str)).map_err(|other| bad(f.name, format_args!("must be a string, got {}", describe(other))))
}

fn boolean(f: Named<bool>) -> Result<Option<bool>, ConfigError> {
    f.field.get().map(Option::<&bool>::copied).map_err(|other| bad(f.name, format_args!("must be true or false, got {}", describe(other))))
}

/// Reads a `file://` URL as a local path (the loader's reading of it).
pub use arkor_datasets::file_url_path;

fn dataset(cfg: &JobConfig, access: &Access) -> Result<DatasetSpec, ConfigError> {
    let field = cfg.dataset_source();
    // `datasetSource.url` and the like.
    let path = |inner: &str| format!("{}.{inner}", field.name);
    let split_field = cfg.settings.dataset_split();
    let split = string(split_field)?;
    match field.field.get() {
        Ok(None) => Err(bad(field.name, "is missing: set `dataset` in createTrainer, e.g. { type: \"blob\", url: \"file:///path/data.jsonl\" }")),
        Ok(Some(DatasetSource::Blob(src))) => {
            // One file has one split; naming another would silently train on rows the
            // caller meant to leave out.
            if let Some(s) = split.filter(|s| *s != "train") {
                return Err(bad(
                    split_field.name,
                    format_args!("is {s:?}, but a blob dataset is one file with no splits: remove `datasetSplit` (every row trains; `evalSteps` holds some out for eval), or point `url` at a file of those rows"),
                ));
            }
            blob(src, access, path)
        }
        Ok(Some(DatasetSource::Huggingface(src))) => hub(src, split, path),
        Err(other @ Value::Object(_)) => {
            let tag = other.get(DatasetSource::TAG).and_then(Value::as_str);
            Err(bad(
                path(DatasetSource::TAG),
                format_args!(
                    "must be \"{}\" or \"{}\", got {}",
                    DatasetSource::BLOB,
                    DatasetSource::HUGGINGFACE,
                    tag.map_or("nothing".into(), |t| format!("{t:?}"))
                ),
            ))
        }
        Err(other) => Err(bad(field.name, format_args!("must be an object, got {}", describe(other)))),
    }
}

fn blob(src: &BlobSource, access: &Access, path: impl Fn(&str) -> String) -> Result<DatasetSpec, ConfigError> {
    let url_field = path(src.url().name);
    let url = string(src.url()).map_err(|_| bad(&url_field, "must be a string"))?.ok_or_else(|| bad(&url_field, "is missing"))?;
    let token = string(src.token()).map_err(|e| e.under(&path("")))?.map(str::to_owned);
    if let Some(local) = file_url_path(url) {
        let real = access.local_dataset(&local).map_err(|e| bad(&url_field, e))?;
        // Read what was checked, not whatever the link points at later.
        let url = format!("file://{}", real.display().to_string().replace('%', "%25"));
        return Ok(DatasetSpec::Blob { url, token });
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(bad(url_field, format_args!("must be a file://, https:// or http:// URL, got {}", describe(&Value::from(url)))));
    }
    if access.checks_addresses() {
        if let Some(ip) = url_ip_literal(url) {
            crate::access::address_rule(ip).map_err(|e| bad(&url_field, e))?;
        }
    }
    Ok(DatasetSpec::Blob { url: url.to_owned(), token })
}

/// A Hub source; `dataset_split` (the config's `datasetSplit`) names the split when
/// the source's own `split` does not, as upstream's docs order them.
fn hub(src: &HubSource, dataset_split: Option<&str>, path: impl Fn(&str) -> String) -> Result<DatasetSpec, ConfigError> {
    let name = src.name.get().ok().flatten().filter(|s| !s.is_empty());
    let name = name.ok_or_else(|| bad(path(src.name().name), "is missing: name the Hugging Face dataset repo, e.g. \"org/dataset\""))?;
    arkor_datasets::check_repo_id(name).map_err(|e| bad(path(src.name().name), e))?;
    let subset_path = path(src.subset().name);
    let subset = match src.subset.get() {
        Ok(None) => None,
        Ok(Some(s)) if s.is_empty() => return Err(bad(&subset_path, "is empty: name the subset (a config of the dataset card, or the repo's folder that holds it), or leave it out")),
        Ok(Some(s)) => Some(s.clone()),
        Err(other) => return Err(bad(&subset_path, format_args!("must be a string, got {}", describe(other)))),
    };
    let split = src.split.get().ok().flatten().cloned().or_else(|| dataset_split.map(str::to_owned));
    Ok(DatasetSpec::Huggingface { name: name.clone(), subset, split })
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

/// `datasetFormat`: a format name, or upstream's `{ type: name }`; the
/// engine owns the names.
fn dataset_format(cfg: &JobConfig) -> Result<DatasetFormat, ConfigError> {
    let f = cfg.settings.dataset_format();
    let typed = format!("{}.{}", f.name, DatasetFormatSpec::TAG);
    let (field, name) = match f.field.get() {
        Ok(None) => return Ok(DatasetFormat::Auto),
        Ok(Some(DatasetFormatSpec::Name(n))) => (f.name.to_owned(), n),
        Ok(Some(DatasetFormatSpec::Typed(n))) => (typed, n),
        Err(o @ Value::Object(_)) => {
            let got = o.get(DatasetFormatSpec::TAG).map_or("nothing".to_owned(), describe);
            return Err(bad(typed, format_args!("must be a format name such as \"chatml\", got {got}")));
        }
        Err(other) => return Err(bad(f.name, format_args!("must be a format name or {{ type: name }}, got {}", describe(other)))),
    };
    name.parse::<DatasetFormat>().map_err(|e| bad(field, e))
}

/// Checks a job config and plans the run under `access` (which datasets the
/// server may read). Every error names the field.
pub fn plan(cfg: &Value, access: &Access) -> Result<JobPlan, ConfigError> {
    if !cfg.is_object() {
        return Err(ConfigError::NotObject);
    }
    let cfg = JobConfig::deserialize(cfg).map_err(|_| ConfigError::NotObject)?;
    let (lora_in, s) = (&cfg.lora, &cfg.settings);
    let model_field = cfg.model();
    let model = string(model_field)?.ok_or_else(|| bad(model_field.name, "is missing"))?;
    if !is_local_model(model) {
        return Err(bad(model_field.name, format_args!("{model:?} is not served by this local backend; use one of {}", local_models())));
    }
    let dataset = dataset(&cfg, access)?;
    let mut t = TrainConfig { bf16_matmul: bf16_enabled(), ..TrainConfig::default() };
    let mut lora = LoraConfig::default();
    if let Some(r) = count_up_to(lora_in.lora_r(), 1, crate::limits::LORA_R)? {
        lora.r = r;
    }
    if let Some(a) = number(lora_in.lora_alpha())? {
        lora.alpha = a;
    }
    t.lora = lora;
    if let Some(m) = count(lora_in.extras.max_length(), 8)? {
        t.max_length = Some(m);
    }
    if let Some(lr) = number(s.learning_rate())? {
        t.learning_rate = lr;
    }
    if let Some(b) = count_up_to(s.batch_size(), 1, crate::limits::BATCH_SIZE)? {
        t.batch_size = b;
    }
    t.max_steps = count(s.max_steps(), 1)?;
    if let Some(e) = number(s.num_train_epochs())? {
        if e <= 0.0 {
            return Err(bad(s.num_train_epochs().name, "must be greater than 0"));
        }
        t.num_train_epochs = e;
    }
    if let Some(w) = count(s.warmup_steps(), 0)? {
        t.warmup_steps = w;
    }
    if let Some(wd) = number(s.weight_decay())? {
        t.weight_decay = wd;
    }
    if let Some(l) = count(s.logging_steps(), 1)? {
        t.logging_steps = l;
    }
    let save_steps = count(s.save_steps(), 1)?;
    t.eval_steps = count(s.eval_steps(), 1)?;
    if let Some(name) = string(s.lr_scheduler_type())? {
        // The engine owns the names; only the field is added here.
        t.lr_scheduler = name.parse::<LrScheduler>().map_err(|_| {
            bad(s.lr_scheduler_type().name, format_args!("{name:?} is not supported; use one of {}", LrScheduler::NAMES.join(", ")))
        })?;
    }
    if let Some(o) = string(s.optim())? {
        if !ADAMW_NAMES.contains(&o) {
            return Err(bad(s.optim().name, format_args!("{o:?} is not supported; use one of {}", ADAMW_NAMES.join(", "))));
        }
    }
    boolean(lora_in.extras.load_in_4bit())?;
    let format = dataset_format(&cfg)?;
    t.train_on_responses_only = boolean(s.train_on_responses_only())?.unwrap_or(true);
    let dry_run = boolean(s.dry_run())?.unwrap_or(false);
    if let Some(seed) = count(cfg.local.seed(), 0)? {
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
    fn a_hub_subset_is_passed_to_the_loader_and_a_bad_one_refused() {
        let subset = |c: Value| match plan(&c, &Access::Loopback).unwrap().dataset {
            DatasetSpec::Huggingface { subset, .. } => subset,
            other => panic!("{other:?}"),
        };
        let mut c = base();
        c["datasetSource"]["subset"] = json!("en");
        assert_eq!(subset(c).as_deref(), Some("en"));
        let mut c = base();
        c["datasetSource"]["subset"] = Value::Null;
        assert_eq!(subset(c), None);
        let mut c = base();
        c["datasetSource"]["subset"] = json!("");
        assert!(err(c).contains("`config.datasetSource.subset` is empty"));
        let mut c = base();
        c["datasetSource"]["subset"] = json!(3);
        assert!(err(c).contains("`config.datasetSource.subset` must be a string"));
    }

    /// The id goes into the Hub's URLs: only `owner/name` passes, so nothing can climb
    /// out of the dataset's paths or add a query (and take the token along).
    #[test]
    fn a_hub_name_must_be_an_owner_and_a_name() {
        for good in ["org/data", "Org-1/data_set.v2", "a/b"] {
            let mut c = base();
            c["datasetSource"]["name"] = json!(good);
            assert!(plan(&c, &Access::Loopback).is_ok(), "{good}");
        }
        for bad in ["../../etc", "org/ds/../../x", "org/ds?x=1", "org/ds#frag", "data", "org/", "/ds", "org/-ds", "org/d..s", "org/d%2e", "o r/ds"] {
            let mut c = base();
            c["datasetSource"]["name"] = json!(bad);
            let e = err(c);
            assert!(e.contains("`config.datasetSource.name`") && e.contains("write it as \"owner/name\""), "{bad}: {e}");
        }
    }

    #[test]
    fn dataset_split_names_a_hub_split_and_is_refused_for_a_blob() {
        let hub_split = |c: Value| match plan(&c, &Access::Loopback).unwrap().dataset {
            DatasetSpec::Huggingface { split, .. } => split,
            other => panic!("{other:?}"),
        };
        let mut c = base();
        c["datasetSplit"] = json!("validation");
        assert_eq!(hub_split(c.clone()).as_deref(), Some("validation"));
        // The source's own split wins, as upstream's docs say.
        c["datasetSource"]["split"] = json!("train");
        assert_eq!(hub_split(c).as_deref(), Some("train"));
        let mut c = base();
        c["datasetSplit"] = json!(["train"]);
        assert!(err(c).contains("`config.datasetSplit` must be a string"));

        let blob = |split: Value| json!({"model": "arkor/tiny-gemma3", "datasetSource": {"type": "blob", "url": "https://example.com/d.jsonl"}, "datasetSplit": split});
        assert!(plan(&blob(json!("train")), &Access::Loopback).is_ok());
        assert!(plan(&blob(Value::Null), &Access::Loopback).is_ok());
        let e = err(blob(json!("test")));
        assert!(e.contains("`config.datasetSplit` is \"test\", but a blob dataset is one file with no splits"), "{e}");
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
    fn settings_that_size_memory_are_bounded() {
        // A rank of 1e11 once reached the engine and aborted the process on allocation.
        for (field, max) in [("loraR", crate::limits::LORA_R), ("batchSize", crate::limits::BATCH_SIZE)] {
            let mut c = base();
            c[field] = json!(max);
            assert!(plan(&c, &Access::Loopback).is_ok(), "{field} = {max}");
            c[field] = json!(100_000_000_000u64);
            let e = err(c);
            assert!(e.contains(&format!("{field}` must be at most {max} on this local backend, got 100000000000")), "{e}");
        }
    }

    #[test]
    fn file_urls() {
        assert_eq!(file_url_path("file:///tmp/a%20b.jsonl"), Some(PathBuf::from("/tmp/a b.jsonl")));
        assert_eq!(file_url_path("file://localhost/tmp/x.csv"), Some(PathBuf::from("/tmp/x.csv")));
        assert_eq!(file_url_path("https://x"), None);
    }
}
