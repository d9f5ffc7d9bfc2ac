//! The job config and the `TrainerInput` it is built from.
//!
//! Each struct below is one object of upstream's `types.ts`; a field's type
//! is what the local backend reads it as (upstream types some `unknown` and
//! forwards them). Values of another type are kept and sent on all the
//! same: the backend answers them with a 400 that names the field.

use serde_json::Value;

use crate::field::{Field, FromWire};

/// `TrainingJob.status` values after which a job never changes again.
pub const TERMINAL_STATUSES: [&str; 3] = ["completed", "failed", "cancelled"];

/// Whether a job with this status has ended.
pub fn is_terminal(status: &str) -> bool {
    TERMINAL_STATUSES.contains(&status)
}

wire_object! {
    /// `{ type: "blob", url, token? }`: a file the backend fetches.
    pub struct BlobSource {
        /// `https://`, `http://` or `file://` URL.
        url: String => "url",
        /// Bearer token the backend presents when fetching `url`.
        token: String => "token",
    }
}

wire_object! {
    /// `{ type: "huggingface", name, split?, subset? }`: a Hub dataset.
    pub struct HubSource {
        /// Repository id, `org/dataset`.
        name: String => "name",
        /// Split to train on (the backend's default: `train`).
        split: String => "split",
        /// Dataset config: a config of the dataset card, or the repo's folder that holds it.
        subset: String => "subset",
    }
}

/// `DatasetSource`: discriminated on `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSource {
    /// `type: "blob"`.
    Blob(BlobSource),
    /// `type: "huggingface"`.
    Huggingface(HubSource),
}

impl DatasetSource {
    /// The discriminating key.
    pub const TAG: &'static str = "type";
    /// `type` of [`DatasetSource::Blob`].
    pub const BLOB: &'static str = "blob";
    /// `type` of [`DatasetSource::Huggingface`].
    pub const HUGGINGFACE: &'static str = "huggingface";
}

impl FromWire for DatasetSource {
    fn from_wire(v: &Value) -> Option<Self> {
        match v.get(Self::TAG)?.as_str()? {
            Self::BLOB => BlobSource::from_wire(v).map(Self::Blob),
            Self::HUGGINGFACE => HubSource::from_wire(v).map(Self::Huggingface),
            _ => None,
        }
    }
}

/// `datasetFormat` (`unknown` upstream): a format name, or upstream's
/// `{ type: name }` (what `arkor init`'s templates send).
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetFormatSpec {
    /// `"chatml"`.
    Name(String),
    /// `{ type: "chatml" }`.
    Typed(String),
}

impl DatasetFormatSpec {
    /// The key naming the format in the object form.
    pub const TAG: &'static str = "type";
}

impl FromWire for DatasetFormatSpec {
    fn from_wire(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Self::Name(s.clone())),
            Value::Object(o) => o.get(Self::TAG)?.as_str().map(|s| Self::Typed(s.to_owned())),
            _ => None,
        }
    }
}

wire_object! {
    /// The fields `LoraConfig` and the job config share, under the same names.
    pub struct LoraExtras {
        /// Token limit per sample; longer samples are truncated.
        max_length: f64 => "maxLength",
        /// Keep the base weights in 4-bit (QLoRA).
        load_in_4bit: bool => "loadIn4bit",
    }
}

wire_object! {
    /// `LoraConfig`: `TrainerInput.lora`.
    pub struct LoraInput {
        /// Adapter rank.
        r: f64 => "r",
        /// Scaling numerator (the scale is `alpha / r`).
        alpha: f64 => "alpha",
    }
    flatten {
        /// `maxLength`, `loadIn4bit`.
        extras: LoraExtras,
    }
}

wire_object! {
    /// The job config's LoRA fields, from `TrainerInput.lora`.
    pub struct LoraFields {
        /// `lora.r`.
        lora_r: f64 => "loraR",
        /// `lora.alpha`.
        lora_alpha: f64 => "loraAlpha",
    }
    flatten {
        /// `lora.maxLength`, `lora.loadIn4bit`.
        extras: LoraExtras,
    }
}

impl From<LoraInput> for LoraFields {
    fn from(l: LoraInput) -> Self {
        LoraFields { lora_r: l.r, lora_alpha: l.alpha, extras: l.extras }
    }
}

wire_object! {
    /// The settings `TrainerInput` and the job config share, under the
    /// same names: the SDK copies them as they are.
    pub struct TrainSettings {
        /// Cap on optimiser steps.
        max_steps: f64 => "maxSteps",
        /// Passes over the data when `maxSteps` is unset.
        num_train_epochs: f64 => "numTrainEpochs",
        /// Peak learning rate.
        learning_rate: f64 => "learningRate",
        /// Examples per step.
        batch_size: f64 => "batchSize",
        /// Optimiser name (AdamW's spellings).
        optim: String => "optim",
        /// Learning-rate schedule name.
        lr_scheduler_type: String => "lrSchedulerType",
        /// AdamW weight decay.
        weight_decay: f64 => "weightDecay",
        /// Steps of linear warm-up (`unknown` upstream).
        warmup_steps: f64 => "warmupSteps",
        /// Steps between `training.log` events (`unknown` upstream).
        logging_steps: f64 => "loggingSteps",
        /// Steps between checkpoints (`unknown` upstream).
        save_steps: f64 => "saveSteps",
        /// Steps between eval passes (`unknown` upstream).
        eval_steps: f64 => "evalSteps",
        /// Loss on the assistant's turns only (`unknown` upstream).
        train_on_responses_only: bool => "trainOnResponsesOnly",
        /// How the rows read (`unknown` upstream).
        dataset_format: DatasetFormatSpec => "datasetFormat",
        /// The split to train on (`unknown` upstream, documented as a split name; a Hub
        /// source's own `split` wins over it).
        dataset_split: String => "datasetSplit",
        /// Smoke-test run: few examples, few steps.
        dry_run: bool => "dryRun",
    }
}

wire_object! {
    /// Fields only the local backend reads; the SDK never sends them.
    pub struct LocalSettings {
        /// Seed of the LoRA init, the data order and the held-out split.
        seed: f64 => "seed",
    }
}

wire_object! {
    /// `JobConfig`: `POST /v1/jobs`'s `config`, in the order upstream's
    /// `buildJobConfig` writes it.
    pub struct JobConfig {
        /// Base model (any name: the backend decides what it serves).
        model: String => "model",
        /// Where the data comes from.
        dataset_source: DatasetSource => "datasetSource",
    }
    flatten {
        /// `loraR`, `loraAlpha`, `maxLength`, `loadIn4bit`.
        lora: LoraFields,
        /// The settings copied from `TrainerInput`.
        settings: TrainSettings,
        /// The local backend's own fields.
        local: LocalSettings,
    }
}

wire_object! {
    /// `TrainerInput` less `callbacks` and `abortSignal` (JS values that
    /// never leave the process).
    pub struct TrainerInput {
        /// Run name.
        name: String => "name",
        /// Base model; the SDK refuses one it does not support.
        model: String => "model",
        /// Where the data comes from.
        dataset: DatasetSource => "dataset",
        /// LoRA and quantisation settings.
        lora: LoraInput => "lora",
    }
    flatten {
        /// Sent under the same names.
        settings: TrainSettings,
    }
}

impl TrainerInput {
    /// What upstream's `buildJobConfig` reads of a `TrainerInput`, in
    /// order: each key, and for `lora` (when it is an object) the keys it
    /// reads from it one by one. A reader of JS objects reads these and
    /// nothing else, so whatever else the object holds is never touched.
    pub fn reads() -> Vec<(&'static str, Option<Vec<&'static str>>)> {
        let lora = Self::default().lora().name;
        Self::fields().into_iter().map(|k| (k, (k == lora).then(LoraInput::fields))).collect()
    }
}

impl JobConfig {
    /// Upstream's `buildJobConfig`: `model`, `dataset` as `datasetSource`,
    /// `lora`'s fields (when it is an object) as `loraR`, `loraAlpha`,
    /// `maxLength`, `loadIn4bit`, and the shared settings as they are.
    /// Keys the input leaves out stay out.
    pub fn from_input(input: TrainerInput) -> Self {
        let lora = match input.lora {
            Field::Given { value: Some(l), .. } => LoraFields::from(l),
            _ => LoraFields::default(),
        };
        JobConfig { model: input.model, dataset_source: input.dataset, lora, settings: input.settings, local: LocalSettings::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(input: Value) -> Value {
        let input: TrainerInput = serde_json::from_value(input).unwrap();
        serde_json::to_value(JobConfig::from_input(input)).unwrap()
    }

    #[test]
    fn the_config_maps_lora_keeps_nulls_and_omits_absent_fields() {
        let c = config(json!({
            "name": "n", "model": "m", "dataset": {"type": "blob", "url": "file:///d.jsonl", "extra": 1},
            "lora": {"r": 8, "alpha": 16, "maxLength": 64}, "maxSteps": 10, "warmupSteps": null, "callbacks": {},
        }));
        assert_eq!(
            c,
            json!({"model": "m", "datasetSource": {"type": "blob", "url": "file:///d.jsonl", "extra": 1},
                   "loraR": 8, "loraAlpha": 16, "maxLength": 64, "maxSteps": 10, "warmupSteps": null})
        );
    }

    #[test]
    fn values_of_another_type_are_sent_as_given() {
        let c = config(json!({"model": 7, "dataset": [1], "maxSteps": "ten", "datasetFormat": {"kind": 1}, "lora": {"r": "x"}}));
        assert_eq!(c, json!({"model": 7, "datasetSource": [1], "loraR": "x", "maxSteps": "ten", "datasetFormat": {"kind": 1}}));
    }

    #[test]
    fn lora_that_is_not_an_object_adds_nothing() {
        for lora in [json!(null), json!([8, 16]), json!(true), json!("r")] {
            assert_eq!(config(json!({"model": "m", "lora": lora})), json!({"model": "m"}));
        }
    }

    #[test]
    fn the_config_is_sent_in_upstreams_key_order() {
        let all: serde_json::Map<String, Value> = JobConfig::fields().into_iter().map(|k| (k.to_owned(), json!(1))).collect();
        let parsed: JobConfig = serde_json::from_value(Value::Object(all)).unwrap();
        let text = serde_json::to_string(&parsed).unwrap();
        let keys: Vec<&str> = JobConfig::fields();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        assert!(keys.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
        assert_eq!(&keys[..6], ["model", "datasetSource", "loraR", "loraAlpha", "maxLength", "loadIn4bit"]);
    }

    #[test]
    fn dataset_sources_read_by_type() {
        let f: Field<DatasetSource> = Field::given(json!({"type": "huggingface", "name": "a/b", "split": 3}));
        let Ok(Some(DatasetSource::Huggingface(h))) = f.get() else { panic!("{f:?}") };
        assert_eq!(h.name.get(), Ok(Some(&"a/b".to_owned())));
        assert_eq!(h.split.get(), Err(&json!(3)));
        assert_eq!(h.split().name, "split");
        for v in [json!({"type": "s3"}), json!({"url": "x"}), json!(["blob"]), json!("blob")] {
            assert!(Field::<DatasetSource>::given(v).get().is_err());
        }
    }

    #[test]
    fn dataset_formats_read_both_forms() {
        assert_eq!(DatasetFormatSpec::from_wire(&json!("chatml")), Some(DatasetFormatSpec::Name("chatml".into())));
        assert_eq!(DatasetFormatSpec::from_wire(&json!({"type": "chatml"})), Some(DatasetFormatSpec::Typed("chatml".into())));
        assert_eq!(DatasetFormatSpec::from_wire(&json!({"type": 1})), None);
        assert_eq!(DatasetFormatSpec::from_wire(&json!(1)), None);
    }

    #[test]
    fn a_trainer_input_is_read_key_by_key_and_lora_field_by_field() {
        let reads = TrainerInput::reads();
        assert_eq!(reads[..4].iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["name", "model", "dataset", "lora"]);
        assert_eq!(reads[3].1.as_deref(), Some(&["r", "alpha", "maxLength", "loadIn4bit"][..]));
        assert!(reads.iter().filter(|(k, _)| *k != "lora").all(|(_, sub)| sub.is_none()));
        assert!(reads.iter().any(|(k, _)| *k == "dryRun"));
    }

    #[test]
    fn terminal_statuses() {
        assert!(is_terminal("cancelled") && !is_terminal("running"));
    }
}
