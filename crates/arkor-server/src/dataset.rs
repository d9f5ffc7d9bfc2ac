//! From a job's `datasetSource` to training examples, through the engine's
//! loaders. Blocking: runs on the training thread.

use arkor_engine::data::{load_dataset, DatasetFormat, DatasetSource};
use arkor_engine::Example;

use crate::config::DatasetSpec;

/// The engine's view of a validated `datasetSource`.
fn source(spec: &DatasetSpec) -> DatasetSource {
    match spec {
        DatasetSpec::Blob { url, token } => DatasetSource::Blob { url: url.clone(), token: token.clone() },
        DatasetSpec::Huggingface { name, split, .. } => {
            DatasetSource::HuggingFace { repo: name.clone(), split: split.clone(), revision: None }
        }
    }
}

/// Parses `datasetFormat` (a format name); `None` means detect per file.
pub fn parse_format(format: Option<&str>) -> Result<DatasetFormat, String> {
    match format {
        Some(f) => f.parse::<DatasetFormat>().map_err(|e| e.to_string()),
        None => Ok(DatasetFormat::Auto),
    }
}

/// Loads every example of `spec` in `format`.
pub fn load_examples(spec: &DatasetSpec, format: Option<&str>) -> Result<Vec<Example>, String> {
    let format = parse_format(format).map_err(|e| format!("`config.datasetFormat`: {e}"))?;
    load_dataset(&source(spec), format).map_err(|e| e.to_string())
}
