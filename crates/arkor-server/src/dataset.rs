//! From a job's `datasetSource` to training examples (and, for runs with
//! `evalSteps`, eval examples), through `arkor-datasets`' loaders, under the
//! server's limits and access rules. Blocking: runs on the training thread.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arkor_datasets::{load_dataset_with, load_with_eval_split, AddressRule, DatasetFormat, DatasetSource, HubAccess, LoadPolicy};
use arkor_engine::rng::SplitMix64;
use arkor_engine::Example;

use crate::config::DatasetSpec;
use crate::Rules;

/// Share of the rows held out for eval when the source has no eval split.
pub const HELD_OUT_SHARE: f64 = 0.05;
/// Fewest rows held out, so a small dataset's eval loss is not one row's noise.
pub const HELD_OUT_MIN: usize = 8;

/// The loader's view of a validated `datasetSource`.
fn source(spec: &DatasetSpec) -> DatasetSource {
    match spec {
        DatasetSpec::Blob { url, token } => DatasetSource::Blob { url: url.clone(), token: token.clone() },
        DatasetSpec::Huggingface { name, subset, split } => {
            DatasetSource::HuggingFace { repo: name.clone(), subset: subset.clone(), split: split.clone(), revision: None }
        }
    }
}

/// Why a run's rows could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The data could not be fetched or read.
    #[error(transparent)]
    Load(#[from] arkor_datasets::Error),
    /// `evalSteps` is set, the source has no eval split, and too few rows to hold any out.
    #[error("`config.evalSteps` needs eval rows: the dataset has {rows} row(s), too few to hold any out; add rows, or publish a `validation` split")]
    TooFewToHoldOut {
        /// Rows in the dataset.
        rows: usize,
    },
    /// `evalSteps` is set, the source has no eval split, and the rows are so few
    /// distinct ones that holding any out would take every copy of most of the data.
    #[error("`config.evalSteps` needs eval rows: the dataset's {rows} rows are copies of {distinct} distinct one(s), and a held-out row takes all its copies, so none can be held out and leave rows to train on; add distinct rows, or publish a `validation` split")]
    TooFewDistinctToHoldOut {
        /// Rows in the dataset.
        rows: usize,
        /// Distinct rows among them.
        distinct: usize,
    },
}

/// What the loader is told to enforce.
fn policy(rules: &Rules) -> LoadPolicy {
    LoadPolicy {
        max_bytes: Some(rules.limits.dataset_bytes),
        max_rows: Some(rules.limits.dataset_rows),
        blob_addresses: rules.access.checks_addresses().then(|| Arc::new(crate::access::address_rule) as AddressRule),
        hub: {
            let s = arkor_settings::Settings::global();
            Some(HubAccess { endpoint: s.hf_endpoint.clone(), token: s.hf_token.clone() })
        },
    }
}

/// Loads every example of `spec` in `format`.
pub fn load_examples(spec: &DatasetSpec, format: DatasetFormat, rules: &Rules) -> Result<Vec<Example>, DatasetError> {
    Ok(load_dataset_with(&source(spec), format, &policy(rules))?)
}

/// Where a run's eval rows came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalOrigin {
    /// The source's own split of that name (a Hub dataset's `validation`, say).
    Split(String),
    /// Rows held out of the training data ([`hold_out`]).
    HeldOut,
}

impl EvalOrigin {
    /// How `training.completed`'s metrics name it: the split, or `held-out`.
    pub fn label(&self) -> &str {
        match self {
            Self::Split(s) => s,
            Self::HeldOut => "held-out",
        }
    }
}

/// A run's rows: what it trains on, and what it scores.
#[derive(Debug, Clone, PartialEq)]
pub struct RunData {
    /// Training rows; none is equal to an eval row.
    pub train: Vec<Example>,
    /// Eval rows (empty when the run does not evaluate).
    pub eval: Vec<Example>,
    /// Where `eval` came from; None when the run does not evaluate.
    pub eval_origin: Option<EvalOrigin>,
}

/// Loads a run's rows. With `evaluate`, its eval rows are the source's eval
/// split where it has one (see `arkor_datasets::EVAL_SPLITS`), else a
/// deterministic share held out of the training rows ([`hold_out`]).
pub fn load_run_data(spec: &DatasetSpec, format: DatasetFormat, rules: &Rules, evaluate: bool, seed: u64) -> Result<RunData, DatasetError> {
    if !evaluate {
        return Ok(RunData { train: load_examples(spec, format, rules)?, eval: Vec::new(), eval_origin: None });
    }
    let (train, split) = load_with_eval_split(&source(spec), format, &policy(rules))?;
    match split {
        Some((split, eval)) => {
            // Splits of a published dataset can share rows; scoring a row the
            // run trains on would flatter the eval loss.
            let seen: HashSet<String> = eval.iter().map(row_key).collect();
            let train = train.into_iter().filter(|e| !seen.contains(&row_key(e))).collect();
            Ok(RunData { train, eval, eval_origin: Some(EvalOrigin::Split(split)) })
        }
        None => {
            let (train, eval) = hold_out(train, seed)?;
            Ok(RunData { train, eval, eval_origin: Some(EvalOrigin::HeldOut) })
        }
    }
}

/// A row's identity for the train/eval split: equal rows get equal keys.
fn row_key(e: &Example) -> String {
    format!("{e:?}")
}

/// FNV-1a, so a row's place in the shuffle depends on its content only.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Splits `rows` into (train, eval): [`HELD_OUT_SHARE`] of them, at least
/// [`HELD_OUT_MIN`] and at most half, chosen by a seeded hash of each row's
/// content, so the same data and seed always hold out the same rows whatever
/// their order, and copies of a row always land on the same side.
pub fn hold_out(rows: Vec<Example>, seed: u64) -> Result<(Vec<Example>, Vec<Example>), DatasetError> {
    if rows.len() < 2 {
        return Err(DatasetError::TooFewToHoldOut { rows: rows.len() });
    }
    let want = ((rows.len() as f64 * HELD_OUT_SHARE).ceil() as usize).max(HELD_OUT_MIN).min(rows.len() / 2);
    let keys: Vec<String> = rows.iter().map(row_key).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for k in &keys {
        *counts.entry(k).or_default() += 1;
    }
    let mut distinct: Vec<(u64, &str)> = counts.keys().map(|k| (SplitMix64::new(seed ^ fnv1a(k)).next_u64(), *k)).collect();
    distinct.sort_unstable();
    let mut held: HashSet<&str> = HashSet::new();
    let mut taken = 0;
    for (_, k) in distinct {
        if taken >= want {
            break;
        }
        // A row copied over more than half the data would leave nothing to train on.
        if taken + counts[k] > rows.len() - 1 {
            continue;
        }
        held.insert(k);
        taken += counts[k];
    }
    if held.is_empty() {
        return Err(DatasetError::TooFewDistinctToHoldOut { rows: rows.len(), distinct: counts.len() });
    }
    let held: HashSet<String> = held.into_iter().map(str::to_owned).collect();
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for (row, key) in rows.into_iter().zip(keys) {
        if held.contains(&key) {
            eval.push(row);
        } else {
            train.push(row);
        }
    }
    Ok((train, eval))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arkor_engine::ChatMessage;

    fn row(i: usize) -> Example {
        Example::Chat(vec![ChatMessage::new("user", &format!("ticket {i}")), ChatMessage::new("assistant", "ok")])
    }

    #[test]
    fn held_out_rows_are_disjoint_from_training_rows_and_deterministic() {
        let rows: Vec<Example> = (0..400).map(row).collect();
        let (train, eval) = hold_out(rows.clone(), 42).unwrap();
        assert_eq!(eval.len(), 20, "5% of 400");
        assert_eq!(train.len(), 380);
        assert!(eval.iter().all(|e| !train.contains(e)));
        // Same rows whatever their order; another seed holds out others.
        let mut reversed = rows.clone();
        reversed.reverse();
        let (_, eval_rev) = hold_out(reversed, 42).unwrap();
        let set = |v: &[Example]| v.iter().map(row_key).collect::<HashSet<_>>();
        assert_eq!(set(&eval), set(&eval_rev));
        assert_ne!(set(&eval), set(&hold_out(rows, 7).unwrap().1));
    }

    #[test]
    fn small_datasets_hold_out_at_least_eight_rows_and_at_most_half() {
        let (train, eval) = hold_out((0..40).map(row).collect(), 1).unwrap();
        assert_eq!((train.len(), eval.len()), (32, 8));
        let (train, eval) = hold_out((0..10).map(row).collect(), 1).unwrap();
        assert_eq!((train.len(), eval.len()), (5, 5));
        let e = hold_out(vec![row(0)], 1).unwrap_err().to_string();
        assert!(e.contains("`config.evalSteps`") && e.contains("validation"), "{e}");
    }

    #[test]
    fn copies_of_a_row_stay_on_one_side() {
        let mut rows: Vec<Example> = (0..200).map(row).collect();
        rows.extend((0..200).map(row));
        let (train, eval) = hold_out(rows, 3).unwrap();
        assert_eq!(eval.len(), 20);
        assert!(eval.iter().all(|e| !train.contains(e)));
    }

    #[test]
    fn copies_of_one_row_cannot_be_held_out_and_say_so() {
        let e = hold_out(vec![row(0); 30], 1).unwrap_err().to_string();
        assert!(e.contains("30 rows are copies of 1 distinct one") && e.contains("add distinct rows"), "{e}");
    }
}
