//! A server on a random loopback port with a fresh home, and a small client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use arkor_server::{RunningServer, ServerOptions};
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token";

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub url: String,
    pub home: PathBuf,
    _dir: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

pub async fn start_at(home: &Path, ping: Duration) -> RunningServer {
    start_with(home, |o| o.ping_every = ping).await
}

/// A server on 127.0.0.1 with the test token and `edit`'s options.
pub async fn start_with(home: &Path, edit: impl FnOnce(&mut ServerOptions)) -> RunningServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut opts = ServerOptions::new(home.to_path_buf());
    opts.static_token = Some(TOKEN.into());
    edit(&mut opts);
    arkor_server::start(opts, listener).await.unwrap()
}

/// Serves `body` to every request on a 127.0.0.1 port, forever; returns the port.
pub fn serve_bytes(body: Vec<u8>) -> u16 {
    arkor_testkit::MockHttp::start(move |_| arkor_testkit::Reply::bytes(200, body.clone())).port
}

impl TestServer {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A server with a fresh home and `edit`'s options.
    pub async fn with(edit: impl FnOnce(&mut ServerOptions)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let server = start_with(&home, |o| {
            o.ping_every = Duration::from_secs(15);
            edit(o)
        })
        .await;
        let url = server.url();
        Self { server: Some(server), url, home, _dir: Some(dir), http: reqwest::Client::new() }
    }

    /// Polls the job until it is terminal; returns it.
    pub async fn wait_job(&self, job_id: &str) -> Value {
        for _ in 0..3000 {
            let (_, got) = self.json(reqwest::Method::GET, &format!("/v1/jobs/{job_id}"), None).await;
            if matches!(got["job"]["status"].as_str(), Some("completed" | "failed" | "cancelled")) {
                return got["job"].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {job_id} did not end");
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{}", self.url, path)).bearer_auth(TOKEN)
    }

    pub async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Creates project `p` in the local org.
    pub async fn project(&self) {
        let (s, _) = self.json(reqwest::Method::POST, "/v1/projects?orgSlug=local", Some(json!({"name": "P", "slug": "p"}))).await;
        assert!(s == 201 || s == 409, "{s}");
    }

    pub async fn create_job(&self, config: Value) -> (u16, Value) {
        self.json(reqwest::Method::POST, "/v1/jobs?orgSlug=local&projectSlug=p", Some(json!({"name": "run", "config": config}))).await
    }

    /// Reads the job's event stream to its end: (id, event, data) triples.
    pub async fn events(&self, job_id: &str, last_event_id: Option<i64>) -> Vec<(Option<i64>, Option<String>, String)> {
        let mut r = self.req(reqwest::Method::GET, &format!("/v1/jobs/{job_id}/events/stream?orgSlug=local&projectSlug=p"));
        if let Some(id) = last_event_id {
            r = r.header("Last-Event-ID", id.to_string());
        }
        let res = r.send().await.unwrap();
        assert_eq!(res.status(), 200);
        let text = tokio::time::timeout(Duration::from_secs(300), res.text()).await.expect("stream ended").unwrap();
        parse_sse(&text)
    }
}

pub fn parse_sse(text: &str) -> Vec<(Option<i64>, Option<String>, String)> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let (mut id, mut ev, mut data) = (None, None, String::new());
            for line in f.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    ev = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (id, ev, data)
        })
        .collect()
}

/// A chat dataset the tiny model can learn: one fixed answer.
pub fn write_dataset(dir: &Path, rows: usize) -> String {
    let mut s = String::new();
    for i in 0..rows {
        let q = ["my login fails", "the app crashes", "refund please", "where is my order"][i % 4];
        s.push_str(&json!({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "{\"team\":\"support\"}"}]}).to_string());
        s.push('\n');
    }
    let path = dir.join("data.jsonl");
    std::fs::write(&path, s).unwrap();
    format!("file://{}", path.display())
}

pub fn tiny_config(url: &str, steps: u64) -> Value {
    json!({
        "model": "arkor/tiny-gemma3",
        "datasetSource": {"type": "blob", "url": url},
        "maxSteps": steps, "batchSize": 2, "learningRate": 0.01, "loraR": 4, "loraAlpha": 8,
        "saveSteps": 2, "loggingSteps": 1
    })
}

pub fn data_of(ev: &(Option<i64>, Option<String>, String)) -> Value {
    serde_json::from_str(&ev.2).unwrap_or(Value::Null)
}
