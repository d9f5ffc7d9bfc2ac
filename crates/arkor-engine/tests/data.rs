//! Dataset loading from files, blob URLs and a Hugging Face Hub API served locally.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use arkor_engine::data::{load_dataset, parse_dataset, DatasetFormat, DatasetSource};
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
    assert!(e.contains("Parquet"), "{e}");
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
    let s = serve(routes);
    let src = DatasetSource::Blob { url: format!("{}/files/train.csv", s.base), token: Some("sekrit".into()) };
    assert_eq!(load_dataset(&src, DatasetFormat::Auto).unwrap(), vec![chat("hi", "there")]);
    assert_eq!(s.seen.lock().unwrap()[0], ("/files/train.csv".into(), Some("Bearer sekrit".into())));
    let missing = DatasetSource::Blob { url: format!("{}/nope.jsonl", s.base), token: None };
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
    let s = serve(routes);
    // The only test that touches these variables; other tests never read them.
    std::env::set_var("HF_ENDPOINT", &s.base);
    std::env::set_var("HF_TOKEN", "hf_abc");
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
}
