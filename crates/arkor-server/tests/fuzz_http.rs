//! HTTP fuzzing of a running server on 127.0.0.1: a few thousand random and
//! mutated requests (bodies, headers, query strings, methods) to every
//! route. Expected: no 5xx, every error a JSON `{ "error" }`, the server
//! still answering afterwards, and no job created from an invalid config.
//! `ARKOR_FUZZ_SEED` replays a run; `ARKOR_FUZZ_CASES` sizes it.

mod common;

use std::time::Duration;

use arkor_server::Access;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/auth/anonymous"),
    ("GET", "/v1/me"),
    ("GET", "/v1/projects?orgSlug=local"),
    ("POST", "/v1/projects?orgSlug=local"),
    ("GET", "/v1/jobs?orgSlug=local&projectSlug=p"),
    ("POST", "/v1/jobs?orgSlug=local&projectSlug=p"),
    ("GET", "/v1/jobs/{job}"),
    ("POST", "/v1/jobs/{job}/cancel"),
    ("GET", "/v1/jobs/{job}/events/stream"),
    ("POST", "/v1/inference/chat?orgSlug=local&projectSlug=p"),
    ("GET", "/v1/endpoints?orgSlug=local&projectSlug=p"),
    ("POST", "/v1/endpoints?orgSlug=local&projectSlug=p"),
    ("PATCH", "/v1/endpoints/{dep}?orgSlug=local&projectSlug=p"),
    ("POST", "/v1/endpoints/{dep}/keys?orgSlug=local&projectSlug=p"),
    ("GET", "/v1/endpoints/{dep}/runs?orgSlug=local&projectSlug=p"),
    ("POST", "/deployments/fz-bot/v1/chat/completions"),
];

const WORDS: &[&str] = &[
    "model", "datasetSource", "type", "blob", "url", "huggingface", "name", "messages", "role", "user", "assistant", "content",
    "adapter", "kind", "checkpoint", "final", "jobId", "step", "baseModel", "arkor/tiny-gemma3", "maxTokens", "stream",
    "maxSteps", "loraR", "learningRate", "datasetFormat", "chatml", "slug", "config", "cli", "web", "file:///etc/passwd",
    "temperature", "topP", "seed", "saveSteps", "batchSize", "target", "authMode", "fixed_api_key", "base_model", "enabled",
    "runRetentionMode", "runRetentionDays", "days", "label", "max_tokens", "top_p", "stop", "n", "stream_options", "include_usage",
];

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth == 0 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => json!(rng.random_range(-5i64..100_000_000_000)),
        3 => json!(rng.random::<f64>() * 1e6 - 10.0),
        4 => Value::String(WORDS[rng.random_range(0..WORDS.len())].to_owned()),
        5 | 6 => {
            let n = rng.random_range(0..5);
            Value::Object((0..n).map(|_| (WORDS[rng.random_range(0..WORDS.len())].to_owned(), random_json(rng, depth - 1))).collect())
        }
        _ => Value::Array((0..rng.random_range(0..4)).map(|_| random_json(rng, depth - 1)).collect()),
    }
}

/// Replaces, removes or adds one field somewhere in `v`.
fn mutate(rng: &mut StdRng, v: &mut Value) {
    match v {
        Value::Object(o) if !o.is_empty() && rng.random_bool(0.7) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = &keys[rng.random_range(0..keys.len())];
            match rng.random_range(0..4) {
                0 => {
                    o.remove(k);
                }
                1 => mutate(rng, o.get_mut(k).unwrap()),
                _ => {
                    o.insert(k.clone(), random_json(rng, 2));
                }
            }
        }
        Value::Array(a) if !a.is_empty() && rng.random_bool(0.7) => {
            let i = rng.random_range(0..a.len());
            mutate(rng, &mut a[i]);
        }
        Value::Object(o) => {
            o.insert(WORDS[rng.random_range(0..WORDS.len())].to_owned(), random_json(rng, 2));
        }
        other => *other = random_json(rng, 2),
    }
}

fn valid_body(route: &str, data_url: &str, job_id: &str) -> Value {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    match route {
        "/v1/auth/anonymous" => json!({"kind": "cli"}),
        "/v1/projects?orgSlug=local" => json!({"name": "P", "slug": "fz"}),
        r if r.starts_with("/v1/jobs?") => json!({"name": "fuzz", "config": tiny_config(data_url, 1)}),
        r if r.starts_with("/v1/inference") => json!({"messages": msgs, "adapter": {"kind": "final", "jobId": job_id}, "maxTokens": 2}),
        r if r.starts_with("/v1/endpoints?") => {
            json!({"slug": "fz-new", "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": job_id, "step": 1}}, "authMode": "none"})
        }
        r if r.starts_with("/v1/endpoints/{dep}?") => json!({"enabled": true, "runRetentionMode": "days", "runRetentionDays": 3}),
        r if r.starts_with("/v1/endpoints/{dep}/keys") => json!({"label": "fuzz"}),
        r if r.starts_with("/deployments/") => json!({"messages": msgs, "max_tokens": 2, "stop": ["x"], "stream": false}),
        _ => json!({}),
    }
}

fn body_bytes(rng: &mut StdRng, route: &str, data_url: &str, job_id: &str) -> Vec<u8> {
    match rng.random_range(0..10) {
        0 => Vec::new(),
        1 => (0..rng.random_range(1..300)).map(|_| rng.random::<u8>()).collect(),
        2 => random_json(rng, 4).to_string().into_bytes(),
        3 => {
            // Valid JSON cut short or with a byte flipped.
            let mut b = valid_body(route, data_url, job_id).to_string().into_bytes();
            let i = rng.random_range(0..b.len());
            if rng.random_bool(0.5) {
                b.truncate(i);
            } else {
                b[i] = rng.random();
            }
            b
        }
        _ => {
            let mut v = valid_body(route, data_url, job_id);
            for _ in 0..rng.random_range(1..4) {
                mutate(rng, &mut v);
            }
            v.to_string().into_bytes()
        }
    }
}

fn mutate_query(rng: &mut StdRng, path: &str) -> String {
    match rng.random_range(0..8) {
        0 => path.replace("orgSlug=local", "orgSlug=nobody"),
        1 => path.replace("projectSlug=p", "projectSlug=%ff%00"),
        2 => format!("{path}{}orgSlug[]=x&&=", if path.contains('?') { "&" } else { "?" }),
        3 => path.split('?').next().unwrap().to_owned(),
        _ => path.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_random_requests_no_5xx_and_no_job_from_an_invalid_config() {
    let seed: u64 = std::env::var("ARKOR_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let cases: usize = std::env::var("ARKOR_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    // Written to the stream itself, not through eprintln!, which the test harness
    // captures and loses when a case aborts the process (as an allocation of
    // terabytes once did): the seed must survive to replay it.
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "fuzz seed {seed} (ARKOR_FUZZ_SEED={seed} replays it), {cases} cases");
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let s = TestServer::with(|o| o.limits.body_bytes = 64 << 10).await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let data_url = write_dataset(dir.path(), 4);
    // One finished job whose routes and adapters the requests can aim at.
    let (_, done) = s.create_job(tiny_config(&data_url, 1)).await;
    let job_id = done["job"]["id"].as_str().unwrap().to_owned();
    s.wait_job(&job_id).await;
    // And a deployment of it, for the deployment routes.
    let (_, dep) = s
        .json(Method::POST, "/v1/endpoints?orgSlug=local&projectSlug=p", Some(json!({"slug": "fz-bot", "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": job_id}}, "authMode": "none"})))
        .await;
    let dep_id = dep["deployment"]["id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let port = s.server.as_ref().unwrap().addr.port();
    let methods = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for case in 0..cases {
        let (m, route) = ROUTES[rng.random_range(0..ROUTES.len())];
        let target = if rng.random_bool(0.8) { job_id.clone() } else { ["job_nope", "..", "%2e%2e", "x%00y", ""][rng.random_range(0..5)].to_owned() };
        let dep = if rng.random_bool(0.8) { dep_id.as_str() } else { target.as_str() };
        let path = mutate_query(&mut rng, &route.replace("{job}", &target).replace("{dep}", dep));
        let method = if rng.random_bool(0.9) { Method::from_bytes(m.as_bytes()).unwrap() } else { methods[rng.random_range(0..methods.len())].clone() };
        let mut req = http.request(method.clone(), format!("{}{path}", s.url));
        req = match rng.random_range(0..10) {
            0 => req,
            1 => req.bearer_auth("garbage"),
            2 => req.header("authorization", "Basic eDp5"),
            _ => req.bearer_auth(TOKEN),
        };
        if rng.random_bool(0.1) {
            let hosts = [format!("localhost:{port}"), "evil.example".into(), "[::1".into(), format!("127.0.0.1:{port}"), "a.localhost".into()];
            req = req.header("host", hosts[rng.random_range(0..hosts.len())].as_str());
        }
        if rng.random_bool(0.1) {
            req = req.header("idempotency-key", ["k", "", &"x".repeat(300), "fuzz-key"][rng.random_range(0..4)]);
        }
        if rng.random_bool(0.1) {
            req = req.header("last-event-id", ["-1", "99999999999999999999", "abc", "0"][rng.random_range(0..4)]);
        }
        if rng.random_bool(0.1) {
            req = req.header("content-type", ["text/plain", "application/json; charset=latin1", "multipart/form-data"][rng.random_range(0..3)]);
        } else {
            req = req.header("content-type", "application/json");
        }
        let body = body_bytes(&mut rng, route, &data_url, &job_id);
        let res = req.body(body.clone()).send().await.unwrap_or_else(|e| panic!("case {case}: {method} {path}: {e}"));
        let status = res.status().as_u16();
        *by_status.entry(status).or_default() += 1;
        let is_sse = res.headers().get("content-type").is_some_and(|v| v == "text/event-stream");
        let text = res.text().await.unwrap_or_default();
        assert!(status < 500, "case {case}: {method} {path} {} -> {status} {text}", String::from_utf8_lossy(&body));
        if status >= 400 {
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("case {case}: {status} body is not JSON: {text}"));
            // A deployment speaks OpenAI's error object (the Host guard in front
            // of it, and the rest of the API, `{ "error": message }`).
            let openai = path.starts_with("/deployments/") && v["error"]["message"].is_string();
            assert!(v["error"].is_string() || openai, "case {case}: {text}");
        } else {
            let no_content = status == 204 && text.is_empty();
            assert!(is_sse || no_content || serde_json::from_str::<Value>(&text).is_ok(), "case {case}: {status} {text}");
        }
    }
    eprintln!("statuses: {by_status:?}");
    // Still serving, and every job on record came from a config that passes validation.
    let (st, _) = s.json(Method::GET, "/v1/me", None).await;
    assert_eq!(st, 200);
    let (_, projects) = s.json(Method::GET, "/v1/projects?orgSlug=local", None).await;
    for p in projects["projects"].as_array().unwrap() {
        let slug = p["slug"].as_str().unwrap();
        let (_, jobs) = s.json(Method::GET, &format!("/v1/jobs?orgSlug=local&projectSlug={slug}"), None).await;
        for j in jobs["jobs"].as_array().unwrap() {
            arkor_server::config::plan(&j["config"], &Access::Loopback).unwrap_or_else(|e| panic!("job {} from an invalid config: {e}", j["id"]));
            s.json(Method::POST, &format!("/v1/jobs/{}/cancel", j["id"].as_str().unwrap()), None).await;
        }
    }
}
