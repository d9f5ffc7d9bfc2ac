//! Dataset loading from files, blob URLs and a Hugging Face Hub API served locally.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use arkor_engine::data::{load_dataset, load_dataset_with, load_eval_split_with, parse_dataset, DatasetFormat, DatasetSource, HubAccess, LoadPolicy};
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
fn parquet_from_file_url() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train.parquet");
    std::fs::write(&p, chatml_parquet(&[&[&[("user", "q"), ("assistant", "a")]]], Compression::SNAPPY)).unwrap();
    let src = DatasetSource::Blob { url: format!("file://{}", p.display()), token: None };
    assert_eq!(load_dataset(&src, DatasetFormat::Auto).unwrap(), vec![chat("q", "a")]);
}

#[test]
fn file_urls() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("my data.jsonl");
    std::fs::write(&p, "{\"text\":\"hello\"}\n").unwrap();
    let url = format!("file://{}", p.display().to_string().replace(' ', "%20"));
    let ex = load_dataset(&DatasetSource::Blob { url, token: None }, DatasetFormat::Auto).unwrap();
    assert_eq!(ex, vec![Example::Text("hello".into())]);
    let missing = DatasetSource::Blob { url: "file:///nonexistent/x.jsonl".into(), token: None };
    assert!(load_dataset(&missing, DatasetFormat::Auto).unwrap_err().to_string().contains("/nonexistent/x.jsonl"));
}

/// A minimal HTTP/1.1 server: fixed routes, records each request's path and Authorization.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<(String, Option<String>)>>>,
}

fn serve(routes: HashMap<String, Vec<u8>>) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf).into_owned();
            let mut lines = req.lines();
            let path = lines.next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("").to_string();
            let auth = lines
                .filter_map(|h| h.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim().to_string());
            s2.lock().unwrap().push((path.clone(), auth));
            let (status, body) = match routes.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"{\"error\":\"not found\"}".to_vec()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    Server { base, seen }
}

#[test]
fn https_style_blob_with_bearer_token() {
    let mut routes = HashMap::new();
    routes.insert("/files/train.csv".to_string(), b"prompt,completion\nhi,there\n".to_vec());
    routes.insert(
        "/files/train.parquet".to_string(),
        string_columns(&["prompt", "completion"], &[vec![Some("hi"), Some("pq")]], Compression::SNAPPY),
    );
    let s = serve(routes);
    let src = DatasetSource::Blob { url: format!("{}/files/train.csv", s.base), token: Some("sekrit".into()) };
    assert_eq!(load_dataset(&src, DatasetFormat::Auto).unwrap(), vec![chat("hi", "there")]);
    assert_eq!(s.seen.lock().unwrap()[0], ("/files/train.csv".into(), Some("Bearer sekrit".into())));
    let missing = DatasetSource::Blob { url: format!("{}/nope.jsonl", s.base), token: None };
    let pq = DatasetSource::Blob { url: format!("{}/files/train.parquet", s.base), token: Some("sekrit".into()) };
    assert_eq!(load_dataset(&pq, DatasetFormat::Auto).unwrap(), vec![chat("hi", "pq")]);
    let e = load_dataset(&missing, DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("404") && e.contains("/nope.jsonl"), "{e}");
}

#[test]
fn hugging_face_hub_via_hf_endpoint_and_token() {
    let mut routes = HashMap::new();
    routes.insert(
        "/api/datasets/acme/chats/revision/main".to_string(),
        br#"{"id":"acme/chats","siblings":[{"rfilename":"README.md"},{"rfilename":"data/train.jsonl"},{"rfilename":"data/test.jsonl"}]}"#.to_vec(),
    );
    routes.insert(
        "/datasets/acme/chats/resolve/main/data/train.jsonl".to_string(),
        b"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n".to_vec(),
    );
    routes.insert("/datasets/acme/chats/resolve/main/data/test.jsonl".to_string(), b"{\"text\":\"held out\"}\n".to_vec());
    // The Hub's usual layout: sharded Parquet under data/, named by split.
    routes.insert(
        "/api/datasets/acme/pq/revision/main".to_string(),
        br#"{"id":"acme/pq","siblings":[{"rfilename":".gitattributes"},{"rfilename":"README.md"},{"rfilename":"data/train-00000-of-00002.parquet"},{"rfilename":"data/train-00001-of-00002.parquet"},{"rfilename":"data/test-00000-of-00001.parquet"}]}"#.to_vec(),
    );
    for (file, q) in [("train-00000-of-00002", "q0"), ("train-00001-of-00002", "q1"), ("test-00000-of-00001", "qt")] {
        routes.insert(
            format!("/datasets/acme/pq/resolve/main/data/{file}.parquet"),
            chatml_parquet(&[&[&[("user", q), ("assistant", "a")]]], Compression::SNAPPY),
        );
    }
    let s = serve(routes);
    let policy = LoadPolicy { hub: Some(HubAccess { endpoint: s.base.clone(), token: Some("hf_abc".into()) }), ..Default::default() };
    let load_dataset = |src: &DatasetSource, f: DatasetFormat| load_dataset_with(src, f, &policy);
    let src = |split: Option<&str>| DatasetSource::HuggingFace {
        repo: "acme/chats".into(),
        split: split.map(String::from),
        revision: None,
    };
    assert_eq!(load_dataset(&src(None), DatasetFormat::Auto).unwrap(), vec![chat("q", "a")]);
    assert_eq!(load_dataset(&src(Some("test")), DatasetFormat::Auto).unwrap(), vec![Example::Text("held out".into())]);
    let e = load_dataset(&src(Some("validation")), DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("validation"), "{e}");
    let seen = s.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, a)| a.as_deref() == Some("Bearer hf_abc")), "{seen:?}");
    assert_eq!(seen[0].0, "/api/datasets/acme/chats/revision/main");
    assert_eq!(seen[1].0, "/datasets/acme/chats/resolve/main/data/train.jsonl");
    let pq = |split: Option<&str>| DatasetSource::HuggingFace {
        repo: "acme/pq".into(),
        split: split.map(String::from),
        revision: None,
    };
    assert_eq!(load_dataset(&pq(None), DatasetFormat::Auto).unwrap(), vec![chat("q0", "a"), chat("q1", "a")]);
    assert_eq!(load_dataset(&pq(Some("test")), DatasetFormat::Chatml).unwrap(), vec![chat("qt", "a")]);
    // The eval rows of a run: the repo's own eval split, never the one it trains on.
    let eval = |src| load_eval_split_with(&src, DatasetFormat::Auto, &policy).unwrap();
    assert_eq!(eval(src(None)), Some(("test".into(), vec![Example::Text("held out".into())])));
    assert_eq!(eval(pq(None)), Some(("test".into(), vec![chat("qt", "a")])));
    assert_eq!(eval(pq(Some("test"))), None);
    let blob = DatasetSource::Blob { url: format!("{}/x.jsonl", s.base), token: None };
    assert_eq!(eval(blob), None);
}
