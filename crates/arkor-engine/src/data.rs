//! Training datasets: where they come from (`file://` / `https://` blobs, Hugging Face
//! Hub repos), how they are stored (JSONL, JSON, CSV, Parquet) and what a row means
//! (chatml `messages`, prompt/completion, alpaca, text).
//!
//! Fetching is blocking (reqwest's blocking client): call it from a worker thread
//! (`tokio::task::spawn_blocking`), never from inside an async task.

use std::path::Path;

use serde_json::Value;

mod fetch;

pub use fetch::{fetch_url, fetch_url_with, file_url_path, AddressRule, HubAccess, LoadPolicy};

use crate::chat::{message_from_json, with_tools, ChatMessage, Example};
use crate::model::tool_text::tools_from_json;
use crate::error::{io_err, Error, Result};

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
        /// Split whose files to read (default `train`).
        split: Option<String>,
        /// Git revision (default `main`).
        revision: Option<String>,
    },
}

/// How rows map to examples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DatasetFormat {
    /// Decide per row from its fields.
    #[default]
    Auto,
    /// `{"messages": [{"role", "content"}, ...]}`
    Chatml,
    /// `{"prompt", "completion"}`
    PromptCompletion,
    /// `{"instruction", "input"?, "output"}`
    Alpaca,
    /// `{"text"}`
    Text,
}

impl std::str::FromStr for DatasetFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "auto" => Ok(Self::Auto),
            "chatml" | "messages" | "chat" | "conversational" => Ok(Self::Chatml),
            "prompt_completion" | "prompt-completion" | "promptCompletion" => Ok(Self::PromptCompletion),
            "alpaca" => Ok(Self::Alpaca),
            "text" => Ok(Self::Text),
            other => Err(Error::Config(format!(
                "datasetFormat {other:?} is not supported (chatml, prompt_completion, alpaca, text)"
            ))),
        }
    }
}

/// Fetches and parses a dataset.
pub fn load_dataset(source: &DatasetSource, format: DatasetFormat) -> Result<Vec<Example>> {
    load_dataset_with(source, format, &LoadPolicy::default())
}

/// Split names read as a dataset's eval rows, in order of preference: the Hub's
/// conventional `validation`, its common spellings, then `test`.
pub const EVAL_SPLITS: [&str; 5] = ["validation", "valid", "eval", "dev", "test"];

/// The first split of [`EVAL_SPLITS`] that a Hub dataset publishes besides the one it
/// trains on, with its rows, under the same bounds as [`load_dataset_with`]. None for
/// blobs (one file has no splits) and for repos without such a split.
pub fn load_eval_split_with(source: &DatasetSource, format: DatasetFormat, policy: &LoadPolicy) -> Result<Option<(String, Vec<Example>)>> {
    let DatasetSource::HuggingFace { repo, split, revision } = source else {
        return Ok(None);
    };
    let hub = Hub::new(policy);
    let revision = revision.as_deref().unwrap_or("main");
    let files = hub.files(repo, revision)?;
    let train = split.as_deref().unwrap_or("train");
    for name in EVAL_SPLITS.iter().filter(|&&n| n != train) {
        let chosen = split_files(&files, name);
        if !chosen.is_empty() {
            let rows = hub.read(repo, revision, &chosen, format)?;
            check_rows(rows.len(), policy, repo)?;
            return Ok(Some((name.to_string(), rows)));
        }
    }
    Ok(None)
}

/// [`load_dataset`] within the caller's bounds: the size cap applies to every file,
/// the row cap to the whole dataset, the address rule to blob URLs (a Hub endpoint is
/// the operator's own setting, [`LoadPolicy::hub`]).
pub fn load_dataset_with(source: &DatasetSource, format: DatasetFormat, policy: &LoadPolicy) -> Result<Vec<Example>> {
    let examples = match source {
        DatasetSource::Blob { url, token } => {
            let bytes = fetch_url_with(url, token.as_deref(), policy, true)?;
            parse_dataset(&bytes, url, format)?
        }
        DatasetSource::HuggingFace { repo, split, revision } => {
            Hub::new(policy).load(repo, split.as_deref().unwrap_or("train"), revision.as_deref().unwrap_or("main"), format)?
        }
    };
    check_rows(examples.len(), policy, &source_name(source))?;
    Ok(examples)
}

fn source_name(source: &DatasetSource) -> String {
    match source {
        DatasetSource::Blob { url, .. } => url.clone(),
        DatasetSource::HuggingFace { repo, .. } => repo.clone(),
    }
}

fn check_rows(rows: usize, policy: &LoadPolicy, name: &str) -> Result<()> {
    match policy.max_rows {
        Some(max) if rows > max => Err(Error::Dataset {
            source_name: name.into(),
            message: format!("has more than {max} rows, the limit of this server; use a smaller dataset or a subset"),
        }),
        _ => Ok(()),
    }
}

const EXTENSIONS: [&str; 5] = [".jsonl", ".json", ".csv", ".parquet", ".ndjson"];

/// A Hugging Face Hub endpoint, read under a policy's size and row caps.
struct Hub<'a> {
    endpoint: &'a str,
    token: Option<&'a str>,
    policy: &'a LoadPolicy,
}

/// The data files of `files` that make up `split`: those whose path names it
/// (`train.jsonl`, `data/train-00000-of-00001.parquet`).
fn split_files<'f>(files: &'f [String], split: &str) -> Vec<&'f String> {
    files
        .iter()
        .filter(|f| {
            let base = f.rsplit('/').next().unwrap_or(f);
            base.starts_with(split) || f.split('/').any(|d| d == split)
        })
        .collect()
}

impl<'a> Hub<'a> {
    /// The endpoint the policy names (default the public Hub, anonymous).
    fn new(policy: &'a LoadPolicy) -> Self {
        let (endpoint, token) = match &policy.hub {
            Some(h) => (h.endpoint.trim_end_matches('/'), h.token.as_deref()),
            None => ("https://huggingface.co", None),
        };
        Self { endpoint, token, policy }
    }

    /// The repo's data files at `revision`.
    fn files(&self, repo: &str, revision: &str) -> Result<Vec<String>> {
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
    fn read(&self, repo: &str, revision: &str, chosen: &[&String], format: DatasetFormat) -> Result<Vec<Example>> {
        let mut out = Vec::new();
        for f in chosen {
            let url = format!("{}/datasets/{repo}/resolve/{revision}/{f}", self.endpoint);
            let bytes = fetch_url_with(&url, self.token, self.policy, false)?;
            out.extend(parse_dataset(&bytes, &format!("{repo}/{f}"), format)?);
            check_rows(out.len(), self.policy, repo)?;
        }
        Ok(out)
    }

    fn load(&self, repo: &str, split: &str, revision: &str, format: DatasetFormat) -> Result<Vec<Example>> {
        let files = self.files(repo, revision)?;
        // A repo with only unnamed files is all `train`.
        let named = split_files(&files, split);
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

/// Parses a dataset file's contents; the format is chosen by the name's extension
/// (`.jsonl`/`.ndjson`, `.json`, `.csv`, `.parquet`; anything else is tried as
/// Parquet when it starts with Parquet's magic bytes, else as JSONL).
pub fn parse_dataset(bytes: &[u8], name: &str, format: DatasetFormat) -> Result<Vec<Example>> {
    let path = name.split(['?', '#']).next().unwrap_or(name).to_ascii_lowercase();
    let rows = if path.ends_with(".parquet") || (bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")) {
        parquet_rows(bytes, name)?
    } else if path.ends_with(".csv") {
        csv_rows(bytes, name)?
    } else if path.ends_with(".json") {
        json_rows(bytes, name)?
    } else {
        jsonl_rows(bytes, name)?
    };
    if rows.is_empty() {
        return Err(Error::Dataset { source_name: name.into(), message: "no rows".into() });
    }
    rows.into_iter().map(|(row, v)| row_to_example(&v, format, name, row)).collect()
}

/// Reads a local dataset file.
pub fn load_file(path: &Path, format: DatasetFormat) -> Result<Vec<Example>> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    parse_dataset(&bytes, &path.display().to_string(), format)
}

fn text_of(bytes: &[u8], name: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| Error::Dataset {
        source_name: name.into(),
        message: format!("not UTF-8 text: {e}"),
    })
}

fn jsonl_rows(bytes: &[u8], name: &str) -> Result<Vec<(usize, Value)>> {
    let text = text_of(bytes, name)?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v = serde_json::from_str(line).map_err(|e| Error::DatasetRow {
            file: name.into(),
            row: i + 1,
            message: format!("invalid JSON: {e}"),
        })?;
        rows.push((i + 1, v));
    }
    Ok(rows)
}

fn json_rows(bytes: &[u8], name: &str) -> Result<Vec<(usize, Value)>> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::Dataset {
        source_name: name.into(),
        message: format!("invalid JSON: {e}"),
    })?;
    let arr = match v {
        Value::Array(a) => a,
        // `{"data": [...]}`, `{"train": [...]}`: the one array-valued field.
        Value::Object(o) => {
            let mut arrays: Vec<Vec<Value>> =
                o.into_iter().filter_map(|(_, v)| if let Value::Array(a) = v { Some(a) } else { None }).collect();
            if arrays.len() != 1 {
                return Err(Error::Dataset {
                    source_name: name.into(),
                    message: "a JSON dataset must be an array of rows or an object with one array field".into(),
                });
            }
            arrays.pop().unwrap()
        }
        _ => {
            return Err(Error::Dataset { source_name: name.into(), message: "a JSON dataset must be an array of rows".into() })
        }
    };
    Ok(arr.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect())
}

fn csv_rows(bytes: &[u8], name: &str) -> Result<Vec<(usize, Value)>> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let headers = r
        .headers()
        .map_err(|e| Error::Dataset { source_name: name.into(), message: format!("CSV header: {e}") })?
        .clone();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        // Row numbers count data rows from 1, as a spreadsheet user would after the header.
        let row = i + 1;
        let rec = rec.map_err(|e| Error::DatasetRow { file: name.into(), row, message: format!("invalid CSV: {e}") })?;
        let mut o = serde_json::Map::new();
        for (h, f) in headers.iter().zip(rec.iter()) {
            o.insert(h.to_string(), Value::String(f.to_string()));
        }
        rows.push((row, Value::Object(o)));
    }
    Ok(rows)
}

/// Rows of a Parquet file as JSON objects (column name → value; lists become arrays and
/// structs objects, so a `messages` column of `list<struct<role, content>>` reads like
/// JSONL's). Row numbers count from 1 across row groups.
fn parquet_rows(bytes: &[u8], name: &str) -> Result<Vec<(usize, Value)>> {
    use parquet::file::reader::FileReader;
    use parquet::file::serialized_reader::SerializedFileReader;
    use parquet::record::reader::RowIter;

    let file_err = |m: String| Error::Dataset { source_name: name.into(), message: m };
    let data = bytes::Bytes::copy_from_slice(bytes);
    // The row reader panics on some corrupt files instead of returning an error; a
    // dataset is user input, so a panic becomes an error naming the file.
    let read = std::panic::catch_unwind(move || -> Result<Vec<(usize, Value)>> {
        let reader = SerializedFileReader::new(data)
            .map_err(|e| file_err(format!("not a readable Parquet file: {e}")))?;
        let expected = reader.metadata().file_metadata().num_rows().max(0) as usize;
        let mut rows = Vec::with_capacity(expected);
        for (i, row) in RowIter::from_file_into(Box::new(reader)).enumerate() {
            let row = row.map_err(|e| Error::DatasetRow {
                file: name.into(),
                row: i + 1,
                message: format!("unreadable Parquet row: {e}"),
            })?;
            let obj = row.get_column_iter().map(|(k, f)| (k.clone(), parquet_value(f))).collect();
            rows.push((i + 1, Value::Object(obj)));
        }
        Ok(rows)
    });
    read.unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("reader panicked");
        Err(Error::Dataset { source_name: name.into(), message: format!("corrupt Parquet file: {why}") })
    })
}

fn parquet_value(f: &parquet::record::Field) -> Value {
    use parquet::record::Field as F;
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match f {
        F::Null => Value::Null,
        F::Bool(b) => Value::Bool(*b),
        F::Byte(x) => (*x).into(),
        F::Short(x) => (*x).into(),
        F::Int(x) | F::Date(x) | F::TimeMillis(x) => (*x).into(),
        F::Long(x) | F::TimeMicros(x) | F::TimestampMillis(x) | F::TimestampMicros(x) => (*x).into(),
        F::UByte(x) => (*x).into(),
        F::UShort(x) => (*x).into(),
        F::UInt(x) => (*x).into(),
        F::ULong(x) => (*x).into(),
        F::Float16(x) => float(f64::from(*x)),
        F::Float(x) => float(*x as f64),
        F::Double(x) => float(*x),
        F::Str(s) => Value::String(s.clone()),
        // Binary columns written without the STRING annotation still hold text in
        // practice; anything that is not UTF-8 cannot be a prompt anyway.
        F::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => Value::Array(b.data().iter().map(|&x| x.into()).collect()),
        },
        F::Group(row) => Value::Object(row.get_column_iter().map(|(k, f)| (k.clone(), parquet_value(f))).collect()),
        F::ListInternal(list) => Value::Array(list.elements().iter().map(parquet_value).collect()),
        F::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match parquet_value(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, parquet_value(v))
                })
                .collect(),
        ),
        other => Value::String(other.to_string()),
    }
}

fn row_to_example(v: &Value, format: DatasetFormat, file: &str, row: usize) -> Result<Example> {
    let err = |m: String| Error::DatasetRow { file: file.into(), row, message: m };
    let o = v.as_object().ok_or_else(|| err("a row must be a JSON object".into()))?;
    let format = match format {
        DatasetFormat::Auto => {
            if o.contains_key("messages") {
                DatasetFormat::Chatml
            } else if o.contains_key("prompt") && o.contains_key("completion") {
                DatasetFormat::PromptCompletion
            } else if o.contains_key("instruction") && o.contains_key("output") {
                DatasetFormat::Alpaca
            } else if o.contains_key("text") {
                DatasetFormat::Text
            } else {
                return Err(err(format!(
                    "cannot tell the format from fields {:?} (expected messages, prompt/completion, instruction/output or text)",
                    o.keys().collect::<Vec<_>>()
                )));
            }
        }
        f => f,
    };
    let string = |k: &str| -> Result<String> {
        match o.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(err(format!("field {k:?} must be a string, got {other}"))),
            None => Err(err(format!("missing field {k:?}"))),
        }
    };
    match format {
        DatasetFormat::Chatml => {
            let m = o.get("messages").ok_or_else(|| err("missing field \"messages\"".into()))?;
            // CSV cells hold the list as JSON text.
            let m = match m {
                Value::String(s) => serde_json::from_str(s).map_err(|e| err(format!("messages: invalid JSON: {e}")))?,
                other => other.clone(),
            };
            let list = m.as_array().ok_or_else(|| err("messages must be a list".into()))?;
            let mut msgs = Vec::with_capacity(list.len());
            for (k, x) in list.iter().enumerate() {
                msgs.push(message_from_json(x).map_err(|(field, e)| err(format!("messages[{k}].{field}{e}")))?);
            }
            if !msgs.iter().any(|m| m.role == "assistant" || m.role == "model") {
                return Err(err("messages has no assistant turn".into()));
            }
            // Tool definitions go into the text the way the prompt gets them.
            let tools = match o.get("tools") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => {
                    let v: Value = serde_json::from_str(s).map_err(|e| err(format!("tools: invalid JSON: {e}")))?;
                    tools_from_json(&v).map_err(|e| err(format!("tools{e}")))?
                }
                Some(v) => tools_from_json(v).map_err(|e| err(format!("tools{e}")))?,
            };
            Ok(Example::Chat(with_tools(&msgs, &tools)))
        }
        DatasetFormat::PromptCompletion => Ok(Example::Chat(vec![
            ChatMessage::new("user", &string("prompt")?),
            ChatMessage::new("assistant", &string("completion")?),
        ])),
        DatasetFormat::Alpaca => {
            let instruction = string("instruction")?;
            let input = match o.get("input") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => return Err(err(format!("field \"input\" must be a string, got {other}"))),
            };
            let user = if input.trim().is_empty() { instruction } else { format!("{instruction}\n\n{input}") };
            Ok(Example::Chat(vec![ChatMessage::new("user", &user), ChatMessage::new("assistant", &string("output")?)]))
        }
        DatasetFormat::Text => Ok(Example::Text(string("text")?)),
        DatasetFormat::Auto => unreachable!(),
    }
}
