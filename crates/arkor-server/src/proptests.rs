//! Property tests of the parsers that read untrusted input: job configs,
//! chat bodies and dataset files. Each runs a bounded number of cases so
//! the suite stays fast; the properties are "never panics" and "every error
//! names its field or row".

use std::sync::LazyLock;

use arkor_protocol::job::{BlobSource, DatasetFormatSpec, DatasetSource, HubSource, JobConfig};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::access::{Access, PublicAccess};
use crate::config::plan;
use crate::inference::parse_body;
use crate::limits::Limits;

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop_oneof![Just(0.0), Just(-1.0), Just(0.5), Just(1e308), Just(1.5), Just(4096.0), Just(1e20)].prop_map(|f| json!(f)),
        "[ -~]{0,16}".prop_map(Value::String),
        prop_oneof![
            Just("chatml"), Just("blob"), Just("huggingface"), Just("arkor/tiny-gemma3"), Just("cosine"), Just("adamw"),
            Just("file:///etc/passwd"), Just("http://127.0.0.1/x"), Just("https://example.com/d.jsonl"), Just("checkpoint"),
            Just("final"), Just("user"), Just("assistant"), Just("é%é%"), Just("file://%ZZ%"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, move |inner| {
        let key = prop_oneof![proptest::sample::select(keys).prop_map(str::to_owned), "[a-zA-Z]{0,6}"];
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map(key, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every key a job config can hold, at any depth: the protocol's own field lists, so
/// a field added there is fuzzed too.
static CONFIG_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys = JobConfig::fields();
    keys.extend(BlobSource::fields());
    keys.extend(HubSource::fields());
    keys.extend([DatasetSource::TAG, DatasetFormatSpec::TAG]);
    keys.sort_unstable();
    keys.dedup();
    keys
});

const CHAT_KEYS: &[&str] = &[
    "messages", "role", "content", "adapter", "kind", "jobId", "step", "baseModel", "stream", "maxTokens", "temperature",
    "topP", "seed", "tools", "structuredOutputs", "responseFormat", "type",
];

/// A valid config with some fields replaced by arbitrary values: most cases
/// then fail on one field deep inside, not on the first check.
fn mutated_config() -> impl Strategy<Value = Value> {
    let base = json!({
        "model": "arkor/tiny-gemma3",
        "datasetSource": {"type": "huggingface", "name": "org/data"},
        "maxSteps": 10, "learningRate": 0.001, "loraR": 8, "datasetFormat": {"type": "chatml"},
    });
    (btree_map(proptest::sample::select(CONFIG_KEYS.as_slice()), value(CONFIG_KEYS.as_slice()), 0..4), any::<bool>()).prop_map(move |(changes, nest)| {
        let mut c = base.clone();
        for (k, v) in changes {
            if let (true, Some(Value::Object(src))) = (nest && k != "datasetSource", c.get_mut("datasetSource")) {
                src.insert(k.to_owned(), v);
            } else {
                c[k] = v;
            }
        }
        c
    })
}

fn public() -> Access {
    Access::Public(PublicAccess::default())
}

proptest! {
    #![proptest_config(cfg(1000))]

    #[test]
    fn job_config_errors_name_their_field(c in prop_oneof![value(CONFIG_KEYS.as_slice()), mutated_config()]) {
        for access in [Access::Loopback, public()] {
            if let Err(e) = plan(&c, &access) {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("`config"), "{msg} for {c}");
            }
        }
    }

    #[test]
    fn chat_body_errors_name_their_field(b in prop_oneof![
        value(CHAT_KEYS),
        (vec(value(CHAT_KEYS), 0..3), value(CHAT_KEYS)).prop_map(|(m, extra)| {
            let mut b = json!({"messages": m, "baseModel": "arkor/tiny-gemma3"});
            if let Value::Object(o) = extra { for (k, v) in o { b[k] = v; } }
            b
        }),
    ]) {
        let limits = Limits { messages: 2, message_bytes: 8, ..Limits::default() };
        if let Err(e) = parse_body(&b, &limits) {
            let msg = e.to_string();
            prop_assert!(msg.contains('`') || msg.contains("request body"), "{msg} for {b}");
        }
    }
}

fn dataset_bytes() -> impl Strategy<Value = (Vec<u8>, &'static str)> {
    let row = r#"{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}"#;
    let valid = prop_oneof![
        Just((format!("{row}\n{row}\n").into_bytes(), "d.jsonl")),
        Just((format!("[{row},{row}]").into_bytes(), "d.json")),
        Just((b"prompt,completion\nhi,there\n\"a,b\",c\n".to_vec(), "d.csv")),
        Just((b"instruction,input,output\ndo,x,y\n".to_vec(), "d.csv")),
        Just((b"{\"text\":\"t\"}\n{\"prompt\":\"p\",\"completion\":\"c\"}\n".to_vec(), "d.ndjson")),
    ];
    prop_oneof![
        (vec(any::<u8>(), 0..200), proptest::sample::select(&["x.jsonl", "x.json", "x.csv", "x.parquet", "x"][..])),
        (valid, vec((any::<usize>(), any::<u8>()), 0..6)).prop_map(|((mut bytes, name), edits)| {
            for (at, b) in edits {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = b;
                }
            }
            (bytes, name)
        }),
        (value(CHAT_KEYS), vec(value(CHAT_KEYS), 0..3)).prop_map(|(a, rows)| {
            let mut s = a.to_string();
            for r in rows { s.push('\n'); s.push_str(&r.to_string()); }
            (s.into_bytes(), "v.jsonl")
        }),
    ]
}

proptest! {
    #![proptest_config(cfg(1000))]

    #[test]
    fn dataset_errors_name_the_file_and_row((bytes, name) in dataset_bytes()) {
        use arkor_engine::data::{parse_dataset, DatasetFormat};
        for format in [DatasetFormat::Auto, DatasetFormat::Chatml, DatasetFormat::PromptCompletion, DatasetFormat::Text] {
            if let Err(e) = parse_dataset(&bytes, name, format) {
                let msg = e.to_string();
                prop_assert!(msg.starts_with(&format!("dataset {name}")), "{msg}");
                if matches!(e, arkor_engine::Error::DatasetRow { .. }) {
                    prop_assert!(msg.contains(": row "), "{msg}");
                }
            }
        }
    }
}

#[test]
fn parquet_garbage_is_an_error_about_the_file() {
    use arkor_engine::data::{parse_dataset, DatasetFormat};
    // Parquet's magic at both ends sends arbitrary bytes to the Parquet reader.
    let mut rng_bytes = 0x9e3779b97f4a7c15u64;
    for n in 0..200usize {
        let mut b = b"PAR1".to_vec();
        for _ in 0..(n % 64) {
            rng_bytes = rng_bytes.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            b.push((rng_bytes >> 33) as u8);
        }
        b.extend_from_slice(b"PAR1");
        let e = parse_dataset(&b, "g.parquet", DatasetFormat::Auto).unwrap_err().to_string();
        assert!(e.contains("g.parquet"), "{e}");
    }
}

#[test]
fn the_init_templates_trainer_config_is_accepted_but_for_its_cloud_model() {
    // `arkor init`'s templates upstream: datasetFormat as { type }, evalSteps,
    // loadIn4bit, a Hub dataset, and a model only the hosted cloud serves.
    let mut c = json!({
        "model": "unsloth/gemma-4-E4B-it",
        "datasetSource": {"type": "huggingface", "name": "arkorlab/triage-demo"},
        "datasetFormat": {"type": "chatml"},
        "maxSteps": 100, "evalSteps": 25, "loraR": 16, "loraAlpha": 16, "loadIn4bit": false,
    });
    let e = plan(&c, &Access::Loopback).unwrap_err().to_string();
    assert!(e.contains("`config.model`"), "{e}");
    c["model"] = json!("arkor/tiny-gemma3");
    let p = plan(&c, &Access::Loopback).unwrap();
    assert_eq!(p.format, arkor_engine::data::DatasetFormat::Chatml);
    c["datasetFormat"] = json!("alpaca");
    assert_eq!(plan(&c, &Access::Loopback).unwrap().format, arkor_engine::data::DatasetFormat::Alpaca);
    c["datasetFormat"] = json!({"type": "klingon"});
    assert!(plan(&c, &Access::Loopback).unwrap_err().to_string().contains("`config.datasetFormat.type`"));
    c["datasetFormat"] = json!({"kind": "chatml"});
    assert!(plan(&c, &Access::Loopback).unwrap_err().to_string().contains("`config.datasetFormat.type`"));
    c["datasetFormat"] = json!(7);
    assert!(plan(&c, &Access::Loopback).unwrap_err().to_string().contains("`config.datasetFormat`"));
}
