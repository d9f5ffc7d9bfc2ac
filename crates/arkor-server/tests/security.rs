//! The local backend's defences over real HTTP on 127.0.0.1: the Host
//! guard, bounded input, rate-limited sign-up, faults that do not take the
//! server down, atomic checkpoints, and public mode.

mod common;

use arkor_server::{Access, Faults, Limits, PublicAccess};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    assert_eq!(res.headers()["content-type"], "application/json", "status {status}");
    let body: Value = res.json().await.unwrap();
    (status, body["error"].as_str().expect("an error message").to_owned())
}

#[tokio::test]
async fn foreign_hosts_and_origins_get_403_on_every_route() {
    let s = TestServer::new().await;
    let routes = [
        (Method::POST, "/v1/auth/anonymous"),
        (Method::GET, "/v1/me"),
        (Method::GET, "/v1/projects?orgSlug=local"),
        (Method::POST, "/v1/jobs?orgSlug=local&projectSlug=p"),
        (Method::GET, "/v1/jobs/x/events/stream"),
        (Method::POST, "/v1/inference/chat?orgSlug=local"),
        (Method::GET, "/no/such/route"),
    ];
    for (method, path) in &routes {
        let res = s.req(method.clone(), path).header("host", "evil.example").json(&json!({"kind": "cli"})).send().await.unwrap();
        let (st, e) = error_of(res).await;
        assert_eq!(st, 403, "{path}");
        assert!(e.contains("evil.example") && e.contains("--allow-host"), "{path}: {e}");
        let res = s.req(method.clone(), path).header("origin", "https://evil.example").send().await.unwrap();
        assert_eq!(res.status(), 403, "{path} with a foreign Origin");
    }
    let port = s.server.as_ref().unwrap().addr.port();
    for host in [format!("localhost:{port}"), format!("[::1]:{port}"), format!("studio.localhost:{port}")] {
        let res = s.req(Method::GET, "/v1/me").header("host", host.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 200, "{host}");
    }
    // No Host header at all (HTTP/1.0).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = tokio::net::TcpStream::connect(s.server.as_ref().unwrap().addr).await.unwrap();
    raw.write_all(b"POST /v1/auth/anonymous HTTP/1.0\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 403") || answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("no Host header"), "{answer}");
}

#[tokio::test]
async fn allow_host_adds_a_name() {
    let s = TestServer::with(|o| o.allow_hosts = vec!["box.lan".into()]).await;
    let res = s.http.post(format!("{}/v1/auth/anonymous", s.url)).header("host", "box.lan:8787").send().await.unwrap();
    assert_eq!(res.status(), 201);
    let res = s.http.post(format!("{}/v1/auth/anonymous", s.url)).header("host", "other.lan").send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_malformed_requests_json_errors() {
    let s = TestServer::with(|o| o.limits.body_bytes = 4096).await;
    s.project().await;
    let big = json!({"name": "x", "config": {"pad": "a".repeat(5000)}});
    let (st, e) = error_of(s.req(Method::POST, "/v1/jobs?orgSlug=local&projectSlug=p").json(&big).send().await.unwrap()).await;
    assert_eq!(st, 413);
    assert!(e.contains("4 KiB"), "{e}");
    // Chunked, so no Content-Length to go by.
    let chunks = futures::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1000])));
    let res = s.req(Method::POST, "/v1/inference/chat?orgSlug=local").body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(error_of(res).await.0, 413);

    let res = s.req(Method::POST, "/v1/jobs?orgSlug=local&projectSlug=p").body("{not json").send().await.unwrap();
    let (st, e) = error_of(res).await;
    assert_eq!((st, e.contains("not valid JSON")), (400, true), "{e}");
    let res = s.req(Method::GET, "/v1/jobs?orgSlug[]=x").send().await.unwrap();
    assert_eq!(error_of(res).await.0, 400);
    let res = s.req(Method::DELETE, "/v1/me").send().await.unwrap();
    let (st, e) = error_of(res).await;
    assert_eq!(st, 405);
    assert!(e.contains("`DELETE /v1/me` is not allowed"), "{e}");
}

#[tokio::test]
async fn names_messages_and_max_tokens_are_bounded_naming_the_field() {
    let s = TestServer::with(|o| o.limits = Limits { messages: 3, message_bytes: 100, name_chars: 20, ..Limits::default() }).await;
    s.project().await;
    let (st, e) = s.json(Method::POST, "/v1/projects?orgSlug=local", Some(json!({"slug": "q", "name": "n".repeat(21)}))).await;
    assert_eq!(st, 400);
    assert!(e["error"].as_str().unwrap().contains("`name`"), "{e}");
    let (st, e) = s.json(Method::POST, "/v1/projects?orgSlug=local", Some(json!({"slug": "s".repeat(65)}))).await;
    assert_eq!(st, 400);
    assert!(e["error"].as_str().unwrap().contains("`slug`"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let (st, e) = s.json(Method::POST, "/v1/jobs?orgSlug=local&projectSlug=p", Some(json!({"name": "n".repeat(21), "config": tiny_config(&url, 1)}))).await;
    assert_eq!(st, 400);
    assert!(e["error"].as_str().unwrap().contains("`name`"), "{e}");

    let chat = |body: Value| s.json(Method::POST, "/v1/inference/chat?orgSlug=local", Some(body));
    let user = json!({"role": "user", "content": "hi"});
    let (st, e) = chat(json!({"messages": [user, user, user, user], "baseModel": "arkor/tiny-gemma3"})).await;
    assert_eq!(st, 400);
    assert!(e["error"].as_str().unwrap().contains("`messages` has 4 entries"), "{e}");
    let (st, e) = chat(json!({"messages": [{"role": "user", "content": "x".repeat(101)}], "baseModel": "arkor/tiny-gemma3"})).await;
    assert_eq!(st, 400);
    assert!(e["error"].as_str().unwrap().contains("`messages[0].content`"), "{e}");
    for stream in [false, true] {
        let (st, e) = chat(json!({"messages": [user], "baseModel": "arkor/tiny-gemma3", "maxTokens": 1_000_000, "stream": stream})).await;
        assert_eq!(st, 400, "{e}");
        let e = e["error"].as_str().unwrap();
        assert!(e.contains("`maxTokens`") && e.contains("context of 4096 tokens"), "{e}");
    }
    let (st, e) = chat(json!({"messages": [user], "baseModel": "arkor/tiny-gemma3", "maxTokens": 4095})).await;
    assert_eq!(st, 400, "the prompt leaves less room: {e}");
    assert!(e["error"].as_str().unwrap().contains("ask for at most"), "{e}");
}

#[tokio::test]
async fn anonymous_sign_ups_are_rate_limited_per_client() {
    let s = TestServer::with(|o| o.limits.signup_burst = 2).await;
    let signup = || s.http.post(format!("{}/v1/auth/anonymous", s.url)).send();
    assert_eq!(signup().await.unwrap().status(), 201);
    assert_eq!(signup().await.unwrap().status(), 201);
    let res = signup().await.unwrap();
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (st, e) = error_of(res).await;
    assert_eq!(st, 429);
    assert!(e.contains("too many anonymous sign-ups"), "{e}");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let s = TestServer::with(|o| o.faults = Faults { panic_route: true, ..Faults::default() }).await;
    for _ in 0..3 {
        let (st, e) = error_of(s.req(Method::GET, "/v1/__fault/panic").send().await.unwrap()).await;
        assert_eq!(st, 500);
        assert!(e.contains("injected fault") && e.contains("still running"), "{e}");
    }
    let (st, _) = s.json(Method::GET, "/v1/me", None).await;
    assert_eq!(st, 200);
    // The route exists only when a test asks for it.
    let plain = TestServer::new().await;
    assert_eq!(plain.req(Method::GET, "/v1/__fault/panic").send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_panicking_training_worker_fails_its_job_and_the_queue_goes_on() {
    let s = TestServer::with(|o| o.faults = Faults { panic_job_name: Some("boom".into()), ..Faults::default() }).await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let new_job = |name: &'static str| s.json(Method::POST, "/v1/jobs?orgSlug=local&projectSlug=p", Some(json!({"name": name, "config": tiny_config(&url, 2)})));
    let (_, boom) = new_job("boom").await;
    let (_, ok) = new_job("fine").await;
    let failed = s.wait_job(boom["job"]["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("internal error in the training step: injected fault"), "{failed}");
    assert_eq!(s.wait_job(ok["job"]["id"].as_str().unwrap()).await["status"], "completed");
}

#[tokio::test]
async fn each_checkpoint_is_complete_on_disk_when_announced_and_nothing_is_left_staged() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 8);
    let (_, created) = s.create_job(tiny_config(&url, 6)).await;
    let job_id = created["job"]["id"].as_str().unwrap().to_owned();
    // Read the stream live: each announced checkpoint must already be whole.
    let res = s.req(Method::GET, &format!("/v1/jobs/{job_id}/events/stream")).send().await.unwrap();
    let mut body = res.bytes_stream();
    use futures::StreamExt;
    let (mut text, mut seen) = (String::new(), 0);
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else { continue };
            let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
            if v["type"] == "checkpoint.saved" {
                let path = std::path::PathBuf::from(v["artifacts"][0]["path"].as_str().unwrap());
                assert_eq!(path.file_name().unwrap().to_str().unwrap(), format!("checkpoint-{}", v["step"]));
                assert!(path.join("adapter_config.json").is_file() && path.join("adapter_model.safetensors").is_file(), "{path:?}");
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 3);
    let job_dir = s.home.join("jobs").join(&job_id);
    let mut names: Vec<String> = std::fs::read_dir(&job_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["checkpoint-2", "checkpoint-4", "checkpoint-6", "final"]);
}

fn public(allow_paths: Vec<std::path::PathBuf>, allow_private_urls: bool) -> Access {
    Access::Public(PublicAccess { allow_anonymous: false, allow_paths, allow_private_urls })
}

#[tokio::test]
async fn public_mode_refuses_anonymous_sign_up_and_local_files_outside_allowed_roots() {
    let data = tempfile::tempdir().unwrap();
    let allowed = data.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    let inside = write_dataset(&allowed, 4);
    let outside = write_dataset(data.path(), 4);
    let root = allowed.clone();
    let s = TestServer::with(move |o| o.access = public(vec![root], false)).await;
    let (st, e) = error_of(s.http.post(format!("{}/v1/auth/anonymous", s.url)).send().await.unwrap()).await;
    assert_eq!(st, 403);
    assert!(e.contains("--allow-anonymous"), "{e}");
    s.project().await;

    let (st, e) = s.create_job(tiny_config(&outside, 1)).await;
    assert_eq!(st, 400);
    let e = e["error"].as_str().unwrap();
    assert!(e.contains("`config.datasetSource.url`") && e.contains("--allow-path"), "{e}");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(data.path().join("data.jsonl"), allowed.join("sneaky.jsonl")).unwrap();
        let (st, e) = s.create_job(tiny_config(&format!("file://{}", allowed.join("sneaky.jsonl").display()), 1)).await;
        assert_eq!(st, 400, "a link out of the root is outside it: {e}");
    }
    let (st, e) = s.create_job(tiny_config(&format!("file://{}/../data.jsonl", allowed.display()), 1)).await;
    assert_eq!(st, 400, "{e}");
    let (st, ok) = s.create_job(tiny_config(&inside, 1)).await;
    assert_eq!(st, 201, "{ok}");
    assert_eq!(s.wait_job(ok["job"]["id"].as_str().unwrap()).await["status"], "completed");
    let (_, jobs) = s.json(Method::GET, "/v1/jobs?orgSlug=local&projectSlug=p", None).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "only the allowed job was created");
}

#[tokio::test]
async fn public_mode_refuses_private_urls_by_literal_by_name_and_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let body = std::fs::read(arkor_server::config::file_url_path(&write_dataset(d.path(), 4)).unwrap()).unwrap();
    let port = serve_bytes(body);
    let s = TestServer::with(|o| o.access = public(vec![], false)).await;
    s.project().await;
    for url in [format!("http://127.0.0.1:{port}/d.jsonl"), "http://169.254.169.254/latest/meta-data".into(), "http://[::ffff:10.0.0.1]/x".into(), "http://2130706433/x".into()] {
        let (st, e) = s.create_job(tiny_config(&url, 1)).await;
        assert_eq!(st, 400, "{url}: {e}");
        let e = e["error"].as_str().unwrap();
        assert!(e.contains("`config.datasetSource.url`") && e.contains("--allow-private-urls"), "{e}");
    }
    // A name is checked when the download resolves it: the job fails, naming why.
    let (st, created) = s.create_job(tiny_config(&format!("http://localhost:{port}/d.jsonl"), 1)).await;
    assert_eq!(st, 201, "{created}");
    let job = s.wait_job(created["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed");
    let e = job["error"].as_str().unwrap();
    assert!(e.contains("loopback") && e.contains("--allow-private-urls"), "{e}");

    let open = TestServer::with(|o| o.access = public(vec![], true)).await;
    open.project().await;
    let (st, created) = open.create_job(tiny_config(&format!("http://localhost:{port}/d.jsonl"), 1)).await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(open.wait_job(created["job"]["id"].as_str().unwrap()).await["status"], "completed");
}

#[tokio::test]
async fn a_public_servers_new_token_retires_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_with(dir.path(), |o| {
        o.access = public(vec![], false);
        o.static_token = Some("first".into());
    })
    .await;
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{}/v1/me", a.url())).bearer_auth("first").send().await.unwrap().status(), 200);
    a.shutdown().await;
    let b = start_with(dir.path(), |o| {
        o.access = public(vec![], false);
        o.static_token = Some("second".into());
    })
    .await;
    assert_eq!(http.get(format!("{}/v1/me", b.url())).bearer_auth("first").send().await.unwrap().status(), 401);
    assert_eq!(http.get(format!("{}/v1/me", b.url())).bearer_auth("second").send().await.unwrap().status(), 200);
    b.shutdown().await;
}

#[tokio::test]
async fn datasets_over_the_size_or_row_limit_fail_the_job_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 8);
    let rows = TestServer::with(|o| o.limits.dataset_rows = 5).await;
    rows.project().await;
    let (_, created) = rows.create_job(tiny_config(&url, 1)).await;
    let job = rows.wait_job(created["job"]["id"].as_str().unwrap()).await;
    assert!(job["error"].as_str().unwrap().contains("more than 5 rows"), "{job}");
    let bytes = TestServer::with(|o| o.limits.dataset_bytes = 100).await;
    bytes.project().await;
    let (_, created) = bytes.create_job(tiny_config(&url, 1)).await;
    let job = bytes.wait_job(created["job"]["id"].as_str().unwrap()).await;
    assert!(job["error"].as_str().unwrap().contains("100-byte limit"), "{job}");
}

#[tokio::test]
async fn embedded_tokens_live_as_long_as_their_server() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = arkor_server::store::Store::open(&dir.path().join("arkor.sqlite")).unwrap();
        let org = store.ensure_org(arkor_server::LOCAL_ORG, "Local").unwrap();
        // One from an embedded server that has exited, one from before tokens named their server.
        store.set_token("exited", &org, "embedded:srv_gone", false).unwrap();
        store.set_token("unowned", &org, "embedded", false).unwrap();
    }
    let a = start_with(dir.path(), |o| o.static_token = Some("a".into())).await;
    let b = start_with(dir.path(), |o| o.static_token = Some("b".into())).await;
    let http = reqwest::Client::new();
    for (token, want) in [("exited", 401), ("unowned", 401), ("a", 200), ("b", 200)] {
        let got = http.get(format!("{}/v1/me", b.url())).bearer_auth(token).send().await.unwrap().status();
        assert_eq!(got, want, "token {token}");
    }
    b.shutdown().await;
    a.shutdown().await;
}

/// A client that sends half a request head, or a body shorter than its
/// `Content-Length`, is cut off instead of holding its connection forever. (The
/// clock is paused, so the 30 s waits take no time.)
#[tokio::test(start_paused = true)]
async fn slow_heads_and_stalled_bodies_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = start_at(dir.path(), std::time::Duration::from_secs(15)).await;
    let addr = server.addr;
    let read_all = |mut c: tokio::net::TcpStream| async move {
        let mut got = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(120), c.read_to_end(&mut got)).await.map(|r| (r.is_ok(), String::from_utf8_lossy(&got).into_owned()))
    };
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let (_, answer) = read_all(half).await.expect("the server closes a connection whose head never ends");
    assert!(!answer.contains("200 OK"), "{answer}");
    let mut short = tokio::net::TcpStream::connect(addr).await.unwrap();
    short
        .write_all(format!("POST /v1/jobs?orgSlug=local&projectSlug=p HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":").as_bytes())
        .await
        .unwrap();
    let (_, answer) = read_all(short).await.expect("the server ends a request whose body stalls");
    assert!(!answer.contains("201"), "{answer}");
    // The server still answers.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(format!("GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let (_, answer) = read_all(ok).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
