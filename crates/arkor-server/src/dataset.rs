//! From a job's `datasetSource` to training examples, through the engine's
//! loaders, under the server's limits and access rules. Blocking: runs on
//! the training thread.

use std::sync::Arc;

use arkor_engine::data::{load_dataset_with, DatasetFormat, DatasetSource, LoadPolicy};
use arkor_engine::Example;

use crate::config::DatasetSpec;
use crate::Rules;

/// The engine's view of a validated `datasetSource`.
fn source(spec: &DatasetSpec) -> DatasetSource {
    match spec {
        DatasetSpec::Blob { url, token } => DatasetSource::Blob { url: url.clone(), token: token.clone() },
        DatasetSpec::Huggingface { name, split, .. } => {
            DatasetSource::HuggingFace { repo: name.clone(), split: split.clone(), revision: None }
        }
    }
}

/// Parses a `datasetFormat` name.
pub fn parse_format(name: &str) -> Result<DatasetFormat, String> {
    name.parse::<DatasetFormat>().map_err(|e| e.to_string())
}

/// What the engine is told to enforce while loading.
fn policy(rules: &Rules) -> LoadPolicy {
    LoadPolicy {
        max_bytes: Some(rules.limits.dataset_bytes),
        max_rows: Some(rules.limits.dataset_rows),
        blob_addresses: rules.access.checks_addresses().then(|| Arc::new(crate::access::address_rule) as arkor_engine::data::AddressRule),
        hub: {
            let s = arkor_settings::Settings::global();
            Some(arkor_engine::data::HubAccess { endpoint: s.hf_endpoint.clone(), token: s.hf_token.clone() })
        },
    }
}

/// Loads every example of `spec` in `format`.
pub fn load_examples(spec: &DatasetSpec, format: DatasetFormat, rules: &Rules) -> Result<Vec<Example>, String> {
    load_dataset_with(&source(spec), format, &policy(rules)).map_err(|e| e.to_string())
}
