//! Training rows from a dataset file's bytes: how it is stored (JSONL, JSON, CSV,
//! Parquet) and what a row means (chatml `messages`, prompt/completion, alpaca,
//! text). Where the bytes come from (`file://` and `https://` blobs, Hugging Face
//! Hub repos) is the `arkor-datasets` crate's business: the engine does no I/O but
//! reading a path it is handed.

use std::path::Path;

use serde_json::Value;

use crate::chat::{message_from_json, with_tools, ChatMessage, Example};
use crate::model::tool_text::tools_from_json;
use crate::error::{io_err, Error, Result};

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
        json_rows(without_bom(bytes), name)?
    } else {
        jsonl_rows(without_bom(bytes), name)?
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

/// Text editors on Windows save UTF-8 with a byte-order mark, which JSON does not
/// allow; it says nothing about the rows, so it is skipped (the CSV reader does too).
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The bytes as text (read in place: a dataset may be a GiB), or the 1-based line
/// holding the first byte that is not UTF-8.
fn lines_of<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        Error::DatasetRow {
            file: name.into(),
            row: good.iter().filter(|&&b| b == b'\n').count() + 1,
            message: format!(
                "not UTF-8 text (byte {} of the line): save the file as UTF-8",
                good.len() - line_start + 1
            ),
        }
    })
}

fn jsonl_rows(bytes: &[u8], name: &str) -> Result<Vec<(usize, Value)>> {
    let text = lines_of(bytes, name)?;
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
