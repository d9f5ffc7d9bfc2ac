//! Dataset parsing: containers (JSONL, JSON, CSV, Parquet), row formats, and the
//! file and row named in every error. Fetching is `arkor-datasets`' (its tests).

use std::sync::Arc;

use arkor_engine::data::{load_file, parse_dataset, DatasetFormat};
use arkor_engine::{ChatMessage, Example};

fn chat(u: &str, a: &str) -> Example {
    Example::Chat(vec![ChatMessage::new("user", u), ChatMessage::new("assistant", a)])
}

#[test]
fn formats_and_containers() {
    let jsonl = br#"{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}

{"prompt":"P","completion":"C"}
{"instruction":"I","input":"X","output":"O"}
{"instruction":"I2","output":"O2"}
{"text":"plain"}
"#;
    let ex = parse_dataset(jsonl, "d.jsonl", DatasetFormat::Auto).unwrap();
    assert_eq!(ex.len(), 5);
    assert_eq!(
        ex[0],
        Example::Chat(vec![ChatMessage::new("system", "S"), ChatMessage::new("user", "Q"), ChatMessage::new("assistant", "A")])
    );
    assert_eq!(ex[1], chat("P", "C"));
    assert_eq!(ex[2], chat("I\n\nX", "O"));
    assert_eq!(ex[3], chat("I2", "O2"));
    assert_eq!(ex[4], Example::Text("plain".into()));
    let json = br#"[{"prompt":"a","completion":"b"},{"prompt":"c","completion":"d"}]"#;
    assert_eq!(parse_dataset(json, "d.json", DatasetFormat::PromptCompletion).unwrap(), vec![chat("a", "b"), chat("c", "d")]);
    let wrapped = br#"{"data":[{"text":"t"}]}"#;
    assert_eq!(parse_dataset(wrapped, "d.json", DatasetFormat::Text).unwrap(), vec![Example::Text("t".into())]);
    let csv = b"instruction,input,output\n\"Say hi, please\",,hi\nAdd,\"1,2\",3\n";
    assert_eq!(
        parse_dataset(csv, "d.csv", DatasetFormat::Alpaca).unwrap(),
        vec![chat("Say hi, please", "hi"), chat("Add\n\n1,2", "3")]
    );
    let csv_msgs = b"messages\n\"[{\"\"role\"\":\"\"user\"\",\"\"content\"\":\"\"q\"\"},{\"\"role\"\":\"\"assistant\"\",\"\"content\"\":\"\"a\"\"}]\"\n";
    assert_eq!(parse_dataset(csv_msgs, "m.csv", DatasetFormat::Chatml).unwrap(), vec![chat("q", "a")]);
    assert!("alpaca".parse::<DatasetFormat>().is_ok() && "sharegpt".parse::<DatasetFormat>().is_err());
}

#[test]
fn malformed_rows_name_the_file_and_row() {
    let bad_json = b"{\"text\":\"ok\"}\n{\"text\":\"ok\"}\n{not json}\n";
    let e = parse_dataset(bad_json, "train.jsonl", DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("train.jsonl") && e.contains("row 3"), "{e}");
    let missing = b"{\"prompt\":\"p\",\"completion\":\"c\"}\n{\"prompt\":\"p\"}\n";
    let e = parse_dataset(missing, "pc.jsonl", DatasetFormat::PromptCompletion).unwrap_err().to_string();
    assert!(e.contains("pc.jsonl") && e.contains("row 2") && e.contains("completion"), "{e}");
    let role = br#"[{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]},{"messages":[{"role":"wizard","content":"q"}]}]"#;
    let e = parse_dataset(role, "c.json", DatasetFormat::Chatml).unwrap_err().to_string();
    assert!(e.contains("c.json") && e.contains("row 2") && e.contains("wizard"), "{e}");
    let csv = b"text\nfine\n\"unterminated\n";
    let e = parse_dataset(csv, "t.csv", DatasetFormat::Text);
    if let Err(e) = e {
        assert!(e.to_string().contains("t.csv"), "{e}");
    }
    let e = parse_dataset(b"{\"foo\":1}\n", "x.jsonl", DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("x.jsonl") && e.contains("row 1") && e.contains("foo"), "{e}");
    let e = parse_dataset(b"PAR1", "x.parquet", DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("x.parquet") && e.contains("Parquet"), "{e}");
    let e = parse_dataset(b"PAR1 not really a parquet file PAR1", "y.parquet", DatasetFormat::Auto)
        .unwrap_err()
        .to_string();
    assert!(e.contains("y.parquet"), "{e}");
}

/// A byte-order mark is skipped; a byte that is not UTF-8 names its line.
#[test]
fn a_bom_is_skipped_and_bad_utf8_names_its_line() {
    let bom = b"\xEF\xBB\xBF{\"text\":\"one\"}\n{\"text\":\"two\"}\n";
    assert_eq!(parse_dataset(bom, "bom.jsonl", DatasetFormat::Auto).unwrap().len(), 2);
    let bom_json = b"\xEF\xBB\xBF[{\"text\":\"one\"}]";
    assert_eq!(parse_dataset(bom_json, "bom.json", DatasetFormat::Auto).unwrap().len(), 1);
    let latin1 = b"{\"text\":\"ok\"}\n\n{\"text\":\"caf\xE9\"}\n";
    let e = parse_dataset(latin1, "l.jsonl", DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("l.jsonl") && e.contains("row 3") && e.contains("byte 13 of the line") && e.contains("save the file as UTF-8"), "{e}");
}

// ---------------------------------------------------------------------------------
// Parquet files written here with the parquet crate, in the layout pyarrow (and so
// `datasets` and the Hub's converter) writes: every field optional, lists as the
// three-level `LIST` group (`list` / `element`).

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// One leaf column: values plus definition/repetition levels.
struct Leaf {
    values: Vec<ByteArray>,
    def: Vec<i16>,
    rep: Option<Vec<i16>>,
}

/// Writes `row_groups` (each a list of leaf columns in schema order) under `schema`.
fn write_parquet(schema: &str, compression: Compression, row_groups: Vec<Vec<Leaf>>) -> Vec<u8> {
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let props = Arc::new(WriterProperties::builder().set_compression(compression).build());
    let mut buf = Vec::new();
    let mut w = SerializedFileWriter::new(&mut buf, schema, props).unwrap();
    for leaves in row_groups {
        let mut rg = w.next_row_group().unwrap();
        let mut leaves = leaves.into_iter();
        while let Some(mut col) = rg.next_column().unwrap() {
            let leaf = leaves.next().expect("a leaf per column");
            col.typed::<ByteArrayType>()
                .write_batch(&leaf.values, Some(&leaf.def), leaf.rep.as_deref())
                .unwrap();
            col.close().unwrap();
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
    buf
}

/// Flat optional string columns; `None` is a null cell.
fn string_columns(names: &[&str], rows: &[Vec<Option<&str>>], compression: Compression) -> Vec<u8> {
    let fields: String = names.iter().map(|n| format!("optional binary {n} (STRING);\n")).collect();
    let leaves = (0..names.len())
        .map(|c| Leaf {
            values: rows.iter().filter_map(|r| r[c]).map(ByteArray::from).collect(),
            def: rows.iter().map(|r| r[c].is_some() as i16).collect(),
            rep: None,
        })
        .collect();
    write_parquet(&format!("message schema {{\n{fields}}}"), compression, vec![leaves])
}

const MESSAGES_SCHEMA: &str = "message schema {
  optional group messages (LIST) {
    repeated group list {
      optional group element {
        optional binary content (STRING);
        optional binary role (STRING);
      }
    }
  }
}";

/// `messages: list<struct<content, role>>`, one row group per element of `groups`.
fn chatml_parquet(groups: &[&[&[(&str, &str)]]], compression: Compression) -> Vec<u8> {
    let row_groups = groups
        .iter()
        .map(|rows| {
            let (mut content, mut role) = (Vec::new(), Vec::new());
            let (mut def, mut rep) = (Vec::new(), Vec::new());
            for msgs in rows.iter() {
                for (k, (r, c)) in msgs.iter().enumerate() {
                    role.push(ByteArray::from(*r));
                    content.push(ByteArray::from(*c));
                    // messages, list, element and the leaf are all present.
                    def.push(4);
                    rep.push(if k == 0 { 0 } else { 1 });
                }
            }
            vec![
                Leaf { values: content, def: def.clone(), rep: Some(rep.clone()) },
                Leaf { values: role, def, rep: Some(rep) },
            ]
        })
        .collect();
    write_parquet(MESSAGES_SCHEMA, compression, row_groups)
}

#[test]
fn parquet_formats() {
    let chats = chatml_parquet(
        &[
            &[&[("system", "S"), ("user", "Q"), ("assistant", "A")], &[("user", "q2"), ("assistant", "a2")]],
            &[&[("user", "q3"), ("assistant", "a3")]],
        ],
        Compression::SNAPPY,
    );
    assert_eq!(
        parse_dataset(&chats, "train-00000-of-00001.parquet", DatasetFormat::Auto).unwrap(),
        vec![
            Example::Chat(vec![
                ChatMessage::new("system", "S"),
                ChatMessage::new("user", "Q"),
                ChatMessage::new("assistant", "A")
            ]),
            chat("q2", "a2"),
            chat("q3", "a3"),
        ]
    );
    let pc = string_columns(
        &["prompt", "completion"],
        &[vec![Some("P"), Some("C")], vec![Some("P2"), Some("C2")]],
        Compression::ZSTD(ZstdLevel::default()),
    );
    assert_eq!(parse_dataset(&pc, "pc.parquet", DatasetFormat::Auto).unwrap(), vec![chat("P", "C"), chat("P2", "C2")]);
    // A null `input` is an absent one.
    let alpaca = string_columns(
        &["instruction", "input", "output"],
        &[vec![Some("I"), Some("X"), Some("O")], vec![Some("I2"), None, Some("O2")]],
        Compression::UNCOMPRESSED,
    );
    assert_eq!(
        parse_dataset(&alpaca, "a.parquet", DatasetFormat::Alpaca).unwrap(),
        vec![chat("I\n\nX", "O"), chat("I2", "O2")]
    );
    let text = string_columns(&["text", "source"], &[vec![Some("plain"), Some("web")]], Compression::SNAPPY);
    assert_eq!(parse_dataset(&text, "t.parquet", DatasetFormat::Auto).unwrap(), vec![Example::Text("plain".into())]);
    // Recognised by its magic bytes when the URL has no extension.
    assert_eq!(parse_dataset(&pc, "https://example.test/download?id=7", DatasetFormat::Auto).unwrap().len(), 2);
}

#[test]
fn parquet_malformed_rows_name_the_file_and_row() {
    let pc = string_columns(
        &["prompt", "completion"],
        &[vec![Some("p"), Some("c")], vec![Some("p"), Some("c")], vec![Some("p"), None]],
        Compression::SNAPPY,
    );
    let e = parse_dataset(&pc, "pc.parquet", DatasetFormat::PromptCompletion).unwrap_err().to_string();
    assert!(e.contains("pc.parquet") && e.contains("row 3") && e.contains("completion"), "{e}");
    // Row numbers run on across row groups.
    let chats = chatml_parquet(
        &[&[&[("user", "q"), ("assistant", "a")]], &[&[("user", "q"), ("assistant", "a")], &[("wizard", "q")]]],
        Compression::SNAPPY,
    );
    let e = parse_dataset(&chats, "c.parquet", DatasetFormat::Chatml).unwrap_err().to_string();
    assert!(e.contains("c.parquet") && e.contains("row 3") && e.contains("wizard"), "{e}");
    // A truncated file is an error about the file, not a panic.
    let e = parse_dataset(&pc[..pc.len() / 2], "cut.parquet", DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("cut.parquet"), "{e}");
}

#[test]
fn parquet_from_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train.parquet");
    std::fs::write(&p, chatml_parquet(&[&[&[("user", "q"), ("assistant", "a")]]], Compression::SNAPPY)).unwrap();
    assert_eq!(load_file(&p, DatasetFormat::Auto).unwrap(), vec![chat("q", "a")]);
    let e = load_file(&dir.path().join("missing.jsonl"), DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("missing.jsonl"), "{e}");
}
