//! Where training data comes from: a single file at a `file://` or `http(s)://` URL
//! (a "blob"), or a dataset repository on the Hugging Face Hub. The bytes are
//! fetched under the caller's [`LoadPolicy`] (size and row caps, which addresses a
//! download may reach, which Hub endpoint and token) and handed to the engine's
//! parser ([`arkor_engine::data::parse_dataset`]), which knows the containers and
//! row formats. The engine itself does no network I/O.
//!
//! Everything here blocks (reqwest's blocking client): call it from a worker thread
//! (`tokio::task::spawn_blocking`), never from inside an async task.

mod error;
mod fetch;
mod hub;

pub use arkor_engine::data::DatasetFormat;
use arkor_engine::data::parse_dataset;
use arkor_engine::Example;
pub use error::{Error, Result};
pub use fetch::{fetch_url, fetch_url_with, file_url_path, AddressRule, HubAccess, LoadPolicy};
pub use hub::check_repo_id;
use hub::{Hub, Splits};

/// Where a dataset lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSource {
    /// A single file at a `file://`, `https://` (or `http://`) URL, optionally with a
    /// bearer token sent as `Authorization`.
    Blob {
        /// The URL.
        url: String,
        /// Bearer token for the request.
        token: Option<String>,
    },
    /// A dataset repository on the Hugging Face Hub (`owner/name`), read through the
    /// Hub's HTTP API at `HF_ENDPOINT` (default `https://huggingface.co`) with
    /// `HF_TOKEN` when set.
    HuggingFace {
        /// `owner/name`.
        repo: String,
        /// Subset (the Hub's "config"): the one of this name that the dataset card
        /// declares, or, for a card that declares none, the data files in a folder of
        /// this name.
        subset: Option<String>,
        /// Split whose files to read (default `train`).
        split: Option<String>,
        /// Git revision (default `main`).
        revision: Option<String>,
    },
}

/// Fetches and parses a dataset.
pub fn load_dataset(source: &DatasetSource, format: DatasetFormat) -> Result<Vec<Example>> {
    load_dataset_with(source, format, &LoadPolicy::default())
}

/// Split names read as a dataset's eval rows, in order of preference: the Hub's
/// conventional `validation`, its common spellings, then `test`.
pub const EVAL_SPLITS: [&str; 5] = ["validation", "valid", "eval", "dev", "test"];

/// An eval split: its name and its rows.
pub type EvalSplit = (String, Vec<Example>);

/// The first split of [`EVAL_SPLITS`] that a Hub dataset publishes besides the one it
/// trains on, with its rows, under the same bounds as [`load_dataset_with`]. None for
/// blobs (one file has no splits) and for repos without such a split.
pub fn load_eval_split_with(source: &DatasetSource, format: DatasetFormat, policy: &LoadPolicy) -> Result<Option<EvalSplit>> {
    match Listed::new(source, policy)? {
        Some(repo) => repo.eval_split(format),
        None => Ok(None),
    }
}

/// [`load_dataset_with`] and [`load_eval_split_with`] together, as a run with an eval
/// needs them, asking the Hub for the repo's file list once.
pub fn load_with_eval_split(source: &DatasetSource, format: DatasetFormat, policy: &LoadPolicy) -> Result<(Vec<Example>, Option<EvalSplit>)> {
    match Listed::new(source, policy)? {
        Some(repo) => Ok((repo.train_split(format)?, repo.eval_split(format)?)),
        None => Ok((load_dataset_with(source, format, policy)?, None)),
    }
}

/// A Hub source with its defaults applied and its (subset's) data files listed once,
/// for the loaders above to read splits from.
struct Listed<'a> {
    hub: Hub<'a>,
    policy: &'a LoadPolicy,
    repo: &'a str,
    revision: &'a str,
    train: &'a str,
    splits: Splits,
}

impl<'a> Listed<'a> {
    /// None for a blob.
    fn new(source: &'a DatasetSource, policy: &'a LoadPolicy) -> Result<Option<Self>> {
        match source {
            DatasetSource::HuggingFace { repo, subset, split, revision } => Self::list(policy, repo, subset, split, revision).map(Some),
            DatasetSource::Blob { .. } => Ok(None),
        }
    }

    fn list(policy: &'a LoadPolicy, repo: &'a str, subset: &Option<String>, split: &'a Option<String>, revision: &'a Option<String>) -> Result<Self> {
        let (hub, revision) = (Hub::new(policy), revision.as_deref().unwrap_or("main"));
        let splits = hub.splits(repo, revision, subset.as_deref())?;
        Ok(Self { hub, policy, repo, revision, train: split.as_deref().unwrap_or("train"), splits })
    }

    fn train_split(&self, format: DatasetFormat) -> Result<Vec<Example>> {
        let rows = self.hub.load(self.repo, self.revision, &self.splits, self.train, format)?;
        check_rows(rows.len(), self.policy, self.repo)?;
        Ok(rows)
    }

    fn eval_split(&self, format: DatasetFormat) -> Result<Option<EvalSplit>> {
        for name in EVAL_SPLITS.iter().filter(|&&n| n != self.train) {
            let chosen = self.splits.files(name);
            if !chosen.is_empty() {
                let rows = self.hub.read(self.repo, self.revision, &chosen, format)?;
                check_rows(rows.len(), self.policy, self.repo)?;
                return Ok(Some((name.to_string(), rows)));
            }
        }
        Ok(None)
    }
}

/// [`load_dataset`] within the caller's bounds: the size cap applies to every file,
/// the row cap to the whole dataset, the address rule to blob URLs (a Hub endpoint is
/// the operator's own setting, [`LoadPolicy::hub`]).
pub fn load_dataset_with(source: &DatasetSource, format: DatasetFormat, policy: &LoadPolicy) -> Result<Vec<Example>> {
    match source {
        DatasetSource::Blob { url, token } => {
            let bytes = fetch_url_with(url, token.as_deref(), policy, true)?;
            let examples = parse_dataset(&bytes, url, format)?;
            check_rows(examples.len(), policy, url)?;
            Ok(examples)
        }
        DatasetSource::HuggingFace { repo, subset, split, revision } => Listed::list(policy, repo, subset, split, revision)?.train_split(format),
    }
}

pub(crate) fn check_rows(rows: usize, policy: &LoadPolicy, name: &str) -> Result<()> {
    match policy.max_rows {
        Some(max) if rows > max => Err(Error::Dataset {
            source_name: name.into(),
            message: format!("has more than {max} rows, the limit of this server; use a smaller dataset or a subset"),
        }),
        _ => Ok(()),
    }
}
