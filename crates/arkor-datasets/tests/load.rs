//! Loading datasets from `file://` URLs, blob URLs with a bearer token, and a
//! Hugging Face Hub API served locally.

use std::collections::HashMap;

use arkor_datasets::{load_dataset, load_dataset_with, load_eval_split_with, load_with_eval_split, DatasetFormat, DatasetSource, HubAccess, LoadPolicy};
use arkor_engine::{ChatMessage, Example};
use arkor_testkit::{MockHttp, Reply};

fn chat(u: &str, a: &str) -> Example {
    Example::Chat(vec![ChatMessage::new("user", u), ChatMessage::new("assistant", a)])
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

/// A Hub-like server with fixed routes (404 elsewhere).
fn serve(routes: HashMap<String, Vec<u8>>) -> MockHttp {
    MockHttp::start(move |req| match routes.get(&req.path) {
        Some(body) => Reply::bytes(200, body.clone()),
        None => Reply::json(404, r#"{"error":"not found"}"#),
    })
}

/// Each request's path and Authorization header.
fn seen(s: &MockHttp) -> Vec<(String, Option<String>)> {
    s.seen().into_iter().map(|r| (r.path.clone(), r.header("authorization"))).collect()
}

#[test]
fn https_style_blob_with_bearer_token() {
    let mut routes = HashMap::new();
    routes.insert("/files/train.csv".to_string(), b"prompt,completion\nhi,there\n".to_vec());
    routes.insert("/files/train.json".to_string(), br#"[{"prompt":"hi","completion":"json"}]"#.to_vec());
    let s = serve(routes);
    let src = DatasetSource::Blob { url: format!("{}/files/train.csv", s.base), token: Some("sekrit".into()) };
    assert_eq!(load_dataset(&src, DatasetFormat::Auto).unwrap(), vec![chat("hi", "there")]);
    assert_eq!(seen(&s)[0], ("/files/train.csv".into(), Some("Bearer sekrit".into())));
    let missing = DatasetSource::Blob { url: format!("{}/nope.jsonl", s.base), token: None };
    let json = DatasetSource::Blob { url: format!("{}/files/train.json", s.base), token: Some("sekrit".into()) };
    assert_eq!(load_dataset(&json, DatasetFormat::Auto).unwrap(), vec![chat("hi", "json")]);
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
    // The Hub's usual layout: shards under data/, named by split (Parquet there; the
    // container is the parser's business, tested in the engine).
    routes.insert(
        "/api/datasets/acme/pq/revision/main".to_string(),
        br#"{"id":"acme/pq","siblings":[{"rfilename":".gitattributes"},{"rfilename":"README.md"},{"rfilename":"data/train-00000-of-00002.jsonl"},{"rfilename":"data/train-00001-of-00002.jsonl"},{"rfilename":"data/test-00000-of-00001.jsonl"}]}"#.to_vec(),
    );
    for (file, q) in [("train-00000-of-00002", "q0"), ("train-00001-of-00002", "q1"), ("test-00000-of-00001", "qt")] {
        routes.insert(
            format!("/datasets/acme/pq/resolve/main/data/{file}.jsonl"),
            format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"{q}\"}},{{\"role\":\"assistant\",\"content\":\"a\"}}]}}\n").into_bytes(),
        );
    }
    routes.insert("/api/datasets/acme/flat/revision/main".to_string(), br#"{"id":"acme/flat","siblings":[{"rfilename":"train.jsonl"}]}"#.to_vec());
    routes.insert(
        "/api/datasets/acme/multi/revision/main".to_string(),
        br#"{"id":"acme/multi","siblings":[{"rfilename":"README.md"},{"rfilename":"en/train.jsonl"},{"rfilename":"fr/train.jsonl"},{"rfilename":"fr/validation.jsonl"}]}"#.to_vec(),
    );
    for (file, q) in [("en/train", "en-train"), ("fr/train", "fr-train"), ("fr/validation", "fr-validation")] {
        routes.insert(
            format!("/datasets/acme/multi/resolve/main/{file}.jsonl"),
            format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"{q}\"}},{{\"role\":\"assistant\",\"content\":\"a\"}}]}}\n").into_bytes(),
        );
    }
    let s = serve(routes);
    let policy = LoadPolicy { hub: Some(HubAccess { endpoint: s.base.clone(), token: Some("hf_abc".into()) }), ..Default::default() };
    let load_dataset = |src: &DatasetSource, f: DatasetFormat| load_dataset_with(src, f, &policy);
    let src = |split: Option<&str>| DatasetSource::HuggingFace {
        repo: "acme/chats".into(),
        subset: None,
        split: split.map(String::from),
        revision: None,
    };
    assert_eq!(load_dataset(&src(None), DatasetFormat::Auto).unwrap(), vec![chat("q", "a")]);
    assert_eq!(load_dataset(&src(Some("test")), DatasetFormat::Auto).unwrap(), vec![Example::Text("held out".into())]);
    let e = load_dataset(&src(Some("validation")), DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("validation"), "{e}");
    let seen = seen(&s);
    assert!(seen.iter().all(|(_, a)| a.as_deref() == Some("Bearer hf_abc")), "{seen:?}");
    assert_eq!(seen[0].0, "/api/datasets/acme/chats/revision/main");
    assert_eq!(seen[1].0, "/datasets/acme/chats/resolve/main/data/train.jsonl");
    let pq = |split: Option<&str>| DatasetSource::HuggingFace {
        repo: "acme/pq".into(),
        subset: None,
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
    // Both at once, from one listing of the repo, as a run with evalSteps loads them.
    let both = load_with_eval_split(&pq(None), DatasetFormat::Auto, &policy).unwrap();
    assert_eq!(both, (vec![chat("q0", "a"), chat("q1", "a")], Some(("test".into(), vec![chat("qt", "a")]))));

    // A subset (the Hub's config) is the folder of that name: its splits, its eval split.
    let multi = |subset: &str, split: Option<&str>| DatasetSource::HuggingFace {
        repo: "acme/multi".into(),
        subset: Some(subset.into()),
        split: split.map(String::from),
        revision: None,
    };
    assert_eq!(load_dataset(&multi("en", None), DatasetFormat::Auto).unwrap(), vec![chat("en-train", "a")]);
    assert_eq!(load_dataset(&multi("fr", None), DatasetFormat::Auto).unwrap(), vec![chat("fr-train", "a")]);
    assert_eq!(eval(multi("fr", None)), Some(("validation".into(), vec![chat("fr-validation", "a")])));
    assert_eq!(eval(multi("en", None)), None, "en has no eval split of its own; fr's is not en's");
    let e = load_dataset(&multi("de", None), DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains(r#"has no subset "de""#) && e.contains(r#"["en", "fr"]"#), "{e}");
    let other = DatasetSource::HuggingFace { repo: "acme/chats".into(), subset: Some("en".into()), split: None, revision: None };
    let e = load_dataset(&other, DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains(r#"has no subset "en": no data file is in a folder of that name (its data files are in ["data"])"#), "{e}");
    let flat = DatasetSource::HuggingFace { repo: "acme/flat".into(), subset: Some("en".into()), split: None, revision: None };
    let e = load_dataset(&flat, DatasetFormat::Auto).unwrap_err().to_string();
    assert!(e.contains("not in folders, so it has no subsets"), "{e}");
}

/// A dataset card's `configs` (README.md's YAML, `cardData` in the Hub's API) decide
/// the subsets and their splits, over folder and file names.
#[test]
fn hub_subsets_declared_by_the_dataset_card() {
    let row = |q: &str| format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"{q}\"}},{{\"role\":\"assistant\",\"content\":\"a\"}}]}}\n").into_bytes();
    let mut routes = HashMap::new();
    routes.insert(
        "/api/datasets/acme/carded/revision/main".to_string(),
        br#"{"id":"acme/carded","siblings":[{"rfilename":"README.md"},{"rfilename":"train.jsonl"},{"rfilename":"main/part-a.jsonl"},{"rfilename":"main/part-b.jsonl"},{"rfilename":"main/nested/part-c.jsonl"},{"rfilename":"main/holdout.jsonl"},{"rfilename":"extra/rows.jsonl"}],
            "cardData":{"license":"mit","configs":[
              {"config_name":"main","default":true,"data_files":[{"split":"train","path":"main/part-*.jsonl"},{"split":"validation","path":["main/holdout.jsonl"]}]},
              {"config_name":"extra","data_files":"extra/**"},
              {"config_name":"broken","data_files":{"train":"nowhere/*.jsonl"}},
              {"config_name":"bydir","data_dir":"main"},
              {"config_name":"relative","data_dir":"main/","data_files":[{"split":"train","path":"nested/*.jsonl"}]},
              {"config_name":"emptydir","data_dir":"none"},
              {"config_name":"bare"}]}}"#
            .to_vec(),
    );
    routes.insert(
        "/api/datasets/acme/undecided/revision/main".to_string(),
        br#"{"id":"acme/undecided","siblings":[{"rfilename":"a/train.jsonl"},{"rfilename":"b/train.jsonl"}],
            "cardData":{"configs":[{"config_name":"a","data_files":"a/*"},{"config_name":"b","data_files":"b/*"}]}}"#
            .to_vec(),
    );
    routes.insert(
        "/api/datasets/acme/odd/revision/main".to_string(),
        br#"{"id":"acme/odd","siblings":[{"rfilename":"train.jsonl"}],"cardData":{"configs":[{"config_name":"x","data_files":[{"split":"train"}]}]}}"#.to_vec(),
    );
    for (file, q) in [("train", "root"), ("main/part-a", "a"), ("main/part-b", "b"), ("main/nested/part-c", "c"), ("main/holdout", "held"), ("extra/rows", "extra")] {
        routes.insert(format!("/datasets/acme/carded/resolve/main/{file}.jsonl"), row(q));
    }
    let s = serve(routes);
    let policy = LoadPolicy { hub: Some(HubAccess { endpoint: s.base.clone(), token: None }), ..Default::default() };
    let src = |repo: &str, subset: Option<&str>, split: Option<&str>| DatasetSource::HuggingFace {
        repo: repo.into(),
        subset: subset.map(String::from),
        split: split.map(String::from),
        revision: None,
    };
    let load = |src: DatasetSource| load_dataset_with(&src, DatasetFormat::Auto, &policy);
    let err = |src: DatasetSource| load(src).unwrap_err().to_string();

    // No subset named: the card's default. Its train split is its pattern's files (a `*`
    // stays inside its folder), not the root's train.jsonl that file names would pick.
    assert_eq!(load(src("acme/carded", None, None)).unwrap(), vec![chat("a", "a"), chat("b", "a")]);
    let both = load_with_eval_split(&src("acme/carded", None, None), DatasetFormat::Auto, &policy).unwrap();
    assert_eq!(both.1, Some(("validation".into(), vec![chat("held", "a")])));
    assert_eq!(load(src("acme/carded", Some("main"), Some("validation"))).unwrap(), vec![chat("held", "a")]);
    // A pattern alone is the train split; `**` crosses folders.
    assert_eq!(load(src("acme/carded", Some("extra"), None)).unwrap(), vec![chat("extra", "a")]);
    assert_eq!(load_eval_split_with(&src("acme/carded", Some("extra"), None), DatasetFormat::Auto, &policy).unwrap(), None);

    // A data_dir alone: its files, split by their names (none is named validation).
    let e = err(src("acme/carded", Some("bydir"), Some("validation")));
    assert!(e.contains("no data file for split \"validation\""), "{e}");
    assert_eq!(load(src("acme/carded", Some("relative"), None)).unwrap(), vec![chat("c", "a")], "patterns are relative to data_dir");
    let e = err(src("acme/carded", Some("emptydir"), None));
    assert!(e.contains(r#"subset "emptydir" has its data in "none", which holds no data files"#), "{e}");
    // An entry arkor cannot read fails only a run that chooses it (the default loaded above).
    let e = err(src("acme/carded", Some("bare"), None));
    assert!(e.contains(r#"subset "bare" has neither `data_files` nor `data_dir`"#), "{e}");
    let e = err(src("acme/carded", Some("nope"), None));
    assert!(e.contains(r#"has no subset "nope" (its dataset card declares ["main", "extra", "broken", "bydir", "relative", "emptydir", "bare"])"#), "{e}");
    let e = err(src("acme/carded", None, Some("test")));
    assert!(e.contains(r#"subset "main" has no split "test" (its splits: ["train", "validation"])"#), "{e}");
    let e = err(src("acme/carded", Some("broken"), None));
    assert!(e.contains(r#"subset "broken" declares split "train" as ["nowhere/*.jsonl"], which matches none of its data files"#), "{e}");
    let e = err(src("acme/undecided", None, None));
    assert!(e.contains(r#"has several subsets ["a", "b"] and none is the default; name one in `subset`"#), "{e}");
    let e = err(src("acme/odd", None, None));
    assert!(e.contains(r#"subset "x" has `data_files` in a shape arkor does not read"#), "{e}");
}
