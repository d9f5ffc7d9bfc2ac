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

/// Which of a repo's data files make up each split.
#[derive(Debug)]
pub(crate) enum Splits {
    /// Files named by their split (`train.jsonl`, `data/test-00000-of-00001.parquet`),
    /// the layout the Hub reads when the card declares nothing.
    ByName(Vec<String>),
    /// The splits of `subset` as the dataset card's `configs` declare them.
    Declared { subset: String, splits: Vec<(String, Vec<String>)> },
}

impl Splits {
    /// The files of `split` (none when the repo has no such split).
    pub(crate) fn files(&self, split: &str) -> Vec<&String> {
        match self {
            Splits::ByName(files) => split_files(files, split),
            Splits::Declared { splits, .. } => splits.iter().filter(|(n, _)| n == split).flat_map(|(_, f)| f).collect(),
        }
    }
}

/// One subset (config) of a dataset card's `configs`: its name, whether it is the
/// default, and its splits' file patterns.
#[derive(Debug)]
struct CardConfig {
    name: String,
    default: bool,
    /// `data_dir`: the folder its files are in (its patterns are relative to it).
    dir: Option<String>,
    /// Split names and their patterns; None when only `data_dir` is given, whose files
    /// are then split by name as a repo without a card is. An error when the card's
    /// entry cannot be read, which fails only a run that chooses this subset.
    splits: std::result::Result<Option<SplitPatterns>, String>,
}

/// Split names, each with its file patterns.
type SplitPatterns = Vec<(String, Vec<String>)>;

/// The subsets a dataset card declares (`configs:` in the README's YAML header, which
/// the Hub's API returns as JSON in `cardData`). Empty when the card declares none.
fn card_configs(configs: Option<&Value>) -> std::result::Result<Vec<CardConfig>, String> {
    let Some(configs) = configs else { return Ok(Vec::new()) };
    let list = configs.as_array().ok_or("its dataset card's `configs` is not a list")?;
    Ok(list
        .iter()
        .map(|c| {
            let name = c.get("config_name").and_then(Value::as_str).unwrap_or("default").to_string();
            let dir = c.get("data_dir").and_then(Value::as_str).map(|d| d.trim_matches('/').to_string());
            let splits = declared_splits(c, &name, dir.as_deref());
            CardConfig { default: c.get("default").and_then(Value::as_bool).unwrap_or(false), name, dir, splits }
        })
        .collect())
}

/// One card entry's splits and their patterns ([`CardConfig::splits`]). `data_files`
/// takes a pattern or a list of them (all `train`), a list of `{split, path}` whose
/// `path` is one or several, or a map of split to pattern(s); under a `data_dir` they
/// are relative to it, and `data_dir` alone names the folder whose files make it up.
fn declared_splits(c: &Value, name: &str, dir: Option<&str>) -> std::result::Result<Option<SplitPatterns>, String> {
    let patterns = |v: &Value| -> Option<Vec<String>> {
        match v {
            Value::String(p) => Some(vec![p.clone()]),
            Value::Array(a) => a.iter().map(|p| p.as_str().map(String::from)).collect(),
            _ => None,
        }
    };
    let bad = || format!("its dataset card's subset {name:?} has `data_files` in a shape arkor does not read");
    let splits = match c.get("data_files") {
        None if dir.is_some() => return Ok(None),
        None => return Err(format!("its dataset card's subset {name:?} has neither `data_files` nor `data_dir`")),
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => {
            items.iter().map(|i| Some((i.get("split")?.as_str()?.to_string(), patterns(i.get("path")?)?))).collect::<Option<Vec<_>>>()
        }
        Some(Value::Object(map)) => map.iter().map(|(split, p)| Some((split.clone(), patterns(p)?))).collect(),
        Some(other) => patterns(other).map(|p| vec![("train".to_string(), p)]),
    }
    .ok_or_else(bad)?;
    let under = |p: String| match dir {
        Some(d) => format!("{d}/{}", p.trim_start_matches("./")),
        None => p,
    };
    Ok(Some(splits.into_iter().map(|(split, ps)| (split, ps.into_iter().map(under).collect())).collect()))
}

/// The subset named `subset`, or without one the card's default: the one marked
/// `default: true`, else the one named `default`, else the only one.
fn choose_config<'c>(configs: &'c [CardConfig], subset: Option<&str>) -> std::result::Result<&'c CardConfig, String> {
    let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
    match subset {
        Some(name) => configs
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("has no subset {name:?} (its dataset card declares {names:?})")),
        None => configs
            .iter()
            .find(|c| c.default)
            .or_else(|| configs.iter().find(|c| c.name == "default"))
            .or(if configs.len() == 1 { configs.first() } else { None })
            .ok_or_else(|| format!("has several subsets {names:?} and none is the default; name one in `subset`")),
    }
}

/// Whether repo path `path` matches a dataset card's file pattern: `*` and `?` within
/// one path segment, `**` across segments, anything else literally.
fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p {
            [] => s.is_empty(),
            [b'*', b'*', rest @ ..] => {
                let rest = rest.strip_prefix(b"/").unwrap_or(rest);
                // At the end it takes everything left, folders included.
                rest.is_empty() || (0..=s.len()).any(|i| (i == 0 || s[i - 1] == b'/') && go(rest, &s[i..]))
            }
            [b'*', rest @ ..] => (0..=s.len()).take_while(|&i| i == 0 || s[i - 1] != b'/').any(|i| go(rest, &s[i..])),
            [b'?', rest @ ..] => s.first().is_some_and(|&c| c != b'/') && go(rest, &s[1..]),
            [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.trim_start_matches("./").as_bytes(), path.as_bytes())
}

/// Checks a dataset repo id as the Hub names repos, `owner/name`: each part 1 to 96 of
/// `A-Z a-z 0-9 - _ .`, neither starting nor ending with `-` or `.`, without `--` or
/// `..`. The id goes into the Hub's URLs as it is, so nothing else (`/`, `?`, `#`, `%`)
/// may pass. Says what is wrong, for the caller to put beside the field's name.
pub fn check_repo_id(id: &str) -> std::result::Result<(), String> {
    let part_ok = |p: &str| {
        (1..=96).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !p.starts_with(['-', '.'])
            && !p.ends_with(['-', '.'])
            && !p.contains("--")
            && !p.contains("..")
    };
    match id.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
        _ => Err(format!(
            "{id:?} is not a Hub dataset id: write it as \"owner/name\" (letters, digits, '-', '_' and '.'), as in the dataset's Hub URL"
        )),
    }
}

impl<'a> Hub<'a> {
    /// The endpoint the policy names (default the public Hub, anonymous).
    pub(crate) fn new(policy: &'a LoadPolicy) -> Self {
        let (endpoint, token) = match &policy.hub {
            Some(h) => (h.endpoint.trim_end_matches('/'), h.token.as_deref()),
            None => (arkor_settings::DEFAULT_HF_ENDPOINT, None),
        };
        Self { endpoint, token, policy }
    }

    /// The repo's data files at `revision` and which of them make up each split: the
    /// splits its dataset card declares for `subset` (or for its default subset) when
    /// the card has `configs`, otherwise the files named by split, in `subset`'s folder
    /// when one is named ([`subset_files`]).
    pub(crate) fn splits(&self, repo: &str, revision: &str, subset: Option<&str>) -> Result<Splits> {
        check_repo_id(repo).map_err(|message| Error::Dataset { source_name: repo.into(), message })?;
        let info_url = format!("{}/api/datasets/{repo}/revision/{revision}", self.endpoint);
        let info: Value = serde_json::from_slice(&fetch_url_with(&info_url, self.token, self.policy, false)?).map_err(|e| Error::Dataset {
            source_name: repo.into(),
            message: format!("Hub answered with invalid JSON: {e}"),
        })?;
        let files: Vec<String> = info
            .get("siblings")
            .and_then(|s| s.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("rfilename").and_then(|n| n.as_str()).map(String::from))
                    .filter(|n| EXTENSIONS.iter().any(|e| n.ends_with(e)))
                    .collect()
            })
            .unwrap_or_default();
        let bad = |message: String| Error::Dataset { source_name: repo.into(), message };
        let configs = card_configs(info.pointer("/cardData/configs")).map_err(bad)?;
        if configs.is_empty() {
            return match subset {
                Some(name) => subset_files(files, name).map(Splits::ByName).map_err(bad),
                None => Ok(Splits::ByName(files)),
            };
        }
        let config = choose_config(&configs, subset).map_err(bad)?;
        let Some(declared) = config.splits.as_ref().map_err(|e| bad(e.clone()))? else {
            // Only a data_dir: its files, split by their names.
            let dir = config.dir.as_deref().unwrap_or_default();
            let inside: Vec<String> = files.iter().filter(|f| glob_match(&format!("{dir}/**"), f)).cloned().collect();
            if inside.is_empty() {
                return Err(bad(format!("subset {:?} has its data in {dir:?}, which holds no data files", config.name)));
            }
            return Ok(Splits::ByName(inside));
        };
        let splits = declared
            .iter()
            .map(|(split, patterns)| {
                let chosen: Vec<String> = files.iter().filter(|f| patterns.iter().any(|p| glob_match(p, f))).cloned().collect();
                if chosen.is_empty() {
                    return Err(bad(format!(
                        "subset {:?} declares split {split:?} as {patterns:?}, which matches none of its data files",
                        config.name
                    )));
                }
                Ok((split.clone(), chosen))
            })
            .collect::<Result<_>>()?;
        Ok(Splits::Declared { subset: config.name.clone(), splits })
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

    /// The rows of `split`, from the repo's `splits` (one [`Hub::splits`] call serves
    /// both a run's training and eval splits).
    pub(crate) fn load(&self, repo: &str, revision: &str, splits: &Splits, split: &str, format: DatasetFormat) -> Result<Vec<Example>> {
        let chosen = splits.files(split);
        let chosen: Vec<&String> = match splits {
            // A repo with only unnamed files is all `train`.
            Splits::ByName(files) if chosen.is_empty() && split == "train" => files.iter().collect(),
            _ => chosen,
        };
        if chosen.is_empty() {
            let message = match splits {
                Splits::ByName(files) => format!("no data file for split {split:?} (files: {files:?})"),
                Splits::Declared { subset, splits } => {
                    let names: Vec<&str> = splits.iter().map(|(n, _)| n.as_str()).collect();
                    format!("subset {subset:?} has no split {split:?} (its splits: {names:?})")
                }
            };
            return Err(Error::Dataset { source_name: repo.into(), message });
        }
        self.read(repo, revision, &chosen, format)
    }
}


#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn card_patterns() {
        assert!(glob_match("data/train-*.parquet", "data/train-00000-of-00002.parquet"));
        assert!(!glob_match("data/train-*.parquet", "data/sub/train-0.parquet"), "* stays in its folder");
        assert!(glob_match("data/**/*.jsonl", "data/a/b/x.jsonl"));
        assert!(glob_match("data/**/*.jsonl", "data/x.jsonl"), "** may match no folder");
        assert!(glob_match("**", "any/thing.csv"));
        assert!(glob_match("./train.csv", "train.csv"));
        assert!(glob_match("part-?.csv", "part-1.csv"));
        assert!(!glob_match("part-?.csv", "part-10.csv"));
        assert!(!glob_match("train.csv", "train.csv.bak"));
        assert!(!glob_match("*.csv", "sub/x.csv"));
    }
}
