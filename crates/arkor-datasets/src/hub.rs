//! Datasets on the Hugging Face Hub: a repo's data files, through the Hub's HTTP
//! API, the files that make up a split, read in order under the caller's caps.

use arkor_engine::data::{parse_dataset, DatasetFormat};
use arkor_engine::Example;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::fetch::{fetch_url_with, LoadPolicy};
use crate::check_rows;

const EXTENSIONS: [&str; 5] = [".jsonl", ".json", ".csv", ".parquet", ".ndjson"];

/// A Hugging Face Hub endpoint, read under a policy's size and row caps.
pub(crate) struct Hub<'a> {
    endpoint: &'a str,
    token: Option<&'a str>,
    policy: &'a LoadPolicy,
}

/// The data files of `files` that make up `split`: those whose path names it
/// (`train.jsonl`, `data/train-00000-of-00001.parquet`).
pub(crate) fn split_files<'f>(files: &'f [String], split: &str) -> Vec<&'f String> {
    files
        .iter()
        .filter(|f| {
            let base = f.rsplit('/').next().unwrap_or(f);
            base.starts_with(split) || f.split('/').any(|d| d == split)
        })
        .collect()
}

/// The data files of the subset (the Hub's "config") `name`: those in a folder of that
/// name (`en/train.jsonl`, `data/en/train-00000.parquet`), the layout the Hub's own
/// dataset viewer reads configs from. The error lists the folders that do hold data
/// files, so a misspelt subset names its fix.
pub(crate) fn subset_files(files: Vec<String>, name: &str) -> std::result::Result<Vec<String>, String> {
    let in_folder = |f: &String, dir: &str| f.rsplit_once('/').is_some_and(|(dirs, _)| dirs.split('/').any(|d| d == dir));
    let chosen: Vec<String> = files.iter().filter(|f| in_folder(f, name)).cloned().collect();
    if !chosen.is_empty() {
        return Ok(chosen);
    }
    let mut folders: Vec<&str> = files.iter().filter_map(|f| f.rsplit_once('/').map(|(dirs, _)| dirs)).collect();
    folders.sort_unstable();
    folders.dedup();
    Err(if folders.is_empty() {
        format!("has no subset {name:?}: its data files are not in folders, so it has no subsets; leave `subset` out")
    } else {
        format!("has no subset {name:?}: no data file is in a folder of that name (its data files are in {folders:?})")
    })
}

impl<'a> Hub<'a> {
    /// The endpoint the policy names (default the public Hub, anonymous).
    pub(crate) fn new(policy: &'a LoadPolicy) -> Self {
        let (endpoint, token) = match &policy.hub {
            Some(h) => (h.endpoint.trim_end_matches('/'), h.token.as_deref()),
            None => ("https://huggingface.co", None),
        };
        Self { endpoint, token, policy }
    }

    /// The repo's data files at `revision`, only those of `subset` when one is named
    /// ([`subset_files`]).
    pub(crate) fn files(&self, repo: &str, revision: &str, subset: Option<&str>) -> Result<Vec<String>> {
        let files = self.all_files(repo, revision)?;
        match subset {
            Some(name) => subset_files(files, name).map_err(|message| Error::Dataset { source_name: repo.into(), message }),
            None => Ok(files),
        }
    }

    fn all_files(&self, repo: &str, revision: &str) -> Result<Vec<String>> {
        let info_url = format!("{}/api/datasets/{repo}/revision/{revision}", self.endpoint);
        let info: Value = serde_json::from_slice(&fetch_url_with(&info_url, self.token, self.policy, false)?).map_err(|e| Error::Dataset {
            source_name: repo.into(),
            message: format!("Hub answered with invalid JSON: {e}"),
        })?;
        Ok(info
            .get("siblings")
            .and_then(|s| s.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("rfilename").and_then(|n| n.as_str()).map(String::from))
                    .filter(|n| EXTENSIONS.iter().any(|e| n.ends_with(e)))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Downloads and parses `chosen` files of the repo, in order.
    pub(crate) fn read(&self, repo: &str, revision: &str, chosen: &[&String], format: DatasetFormat) -> Result<Vec<Example>> {
        let mut out = Vec::new();
        for f in chosen {
            let url = format!("{}/datasets/{repo}/resolve/{revision}/{f}", self.endpoint);
            let bytes = fetch_url_with(&url, self.token, self.policy, false)?;
            out.extend(parse_dataset(&bytes, &format!("{repo}/{f}"), format)?);
            check_rows(out.len(), self.policy, repo)?;
        }
        Ok(out)
    }

    /// The rows of `split`, from the repo's listing `files` (one [`Hub::files`] call
    /// serves both a run's training and eval splits).
    pub(crate) fn load(&self, repo: &str, revision: &str, files: &[String], split: &str, format: DatasetFormat) -> Result<Vec<Example>> {
        // A repo with only unnamed files is all `train`.
        let named = split_files(files, split);
        let chosen: Vec<&String> = if named.is_empty() && split == "train" {
            files.iter().collect()
        } else {
            named
        };
        if chosen.is_empty() {
            return Err(Error::Dataset {
                source_name: repo.into(),
                message: format!("no data file for split {split:?} (files: {files:?})"),
            });
        }
        self.read(repo, revision, &chosen, format)
    }
}

