//! Every route of the local backend over real HTTP, with the tiny model.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn auth_is_required_and_anonymous_signup_works() {
    let s = TestServer::new().await;
    let res = s.http.get(format!("{}/v1/me", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("bearer"));
    let res = s.http.get(format!("{}/v1/me", s.url)).bearer_auth("nope").send().await.unwrap();
    assert_eq!(res.status(), 401);

    let res = s.http.post(format!("{}/v1/auth/anonymous", s.url)).json(&json!({"kind": "cli"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let anon: Value = res.json().await.unwrap();
    let token = anon["token"].as_str().unwrap();
    let org = anon["personalOrg"]["slug"].as_str().unwrap();
    assert!(anon["anonymousId"].is_string());
    let me: Value = s.http.get(format!("{}/v1/me", s.url)).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["orgs"][0]["slug"], org);
}

#[tokio::test]
async fn cli_config_advertises_no_oauth_without_a_token() {
    let s = TestServer::new().await;
    let res = s.http.get(format!("{}/v1/auth/cli/config", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cfg: Value = res.json().await.unwrap();
    assert_eq!(cfg, json!({ "auth0Domain": null, "clientId": null, "audience": null, "callbackPorts": [] }));
}

#[tokio::test]
async fn projects_create_list_and_conflict() {
    let s = TestServer::new().await;
    let (st, p) = s.json(Method::POST, "/v1/projects?orgSlug=local", Some(json!({"name": "My P", "slug": "my-p"}))).await;
    assert_eq!(st, 201);
    assert_eq!(p["project"]["slug"], "my-p");
    let (st, e) = s.json(Method::POST, "/v1/projects?orgSlug=local", Some(json!({"name": "x", "slug": "my-p"}))).await;
    assert_eq!(st, 409);
    assert!(e["error"].as_str().unwrap().contains("my-p"));
    let (st, l) = s.json(Method::GET, "/v1/projects?orgSlug=local", None).await;
    assert_eq!(st, 200);
    assert_eq!(l["org"]["slug"], "local");
    assert_eq!(l["projects"].as_array().unwrap().len(), 1);
    let (st, _) = s.json(Method::GET, "/v1/projects?orgSlug=someone-else", None).await;
    assert_eq!(st, 404);
    let (st, e) = s.json(Method::POST, "/v1/projects?orgSlug=local", Some(json!({"name": "x", "slug": "Bad Slug"}))).await;
    assert_eq!(st, 400, "{e}");
}

#[tokio::test]
async fn bad_configs_are_refused_naming_the_field_and_nothing_is_queued() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let cases = [
        (json!({"model": "gpt-9", "datasetSource": {"type": "blob", "url": url}}), "config.model"),
        (json!({"model": "arkor/tiny-gemma3"}), "config.datasetSource"),
        (json!({"model": "arkor/tiny-gemma3", "datasetSource": {"type": "blob", "url": url}, "learningRate": -0.1}), "config.learningRate"),
        (json!({"model": "arkor/tiny-gemma3", "datasetSource": {"type": "blob", "url": url}, "maxSteps": "many"}), "config.maxSteps"),
        (json!({"model": "arkor/tiny-gemma3", "datasetSource": {"type": "blob", "url": "file:///definitely/missing.jsonl"}}), "config.datasetSource.url"),
    ];
    for (config, field) in cases {
        let (st, body) = s.create_job(config).await;
        assert_eq!(st, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains(field), "{body} should name {field}");
    }
    let (_, jobs) = s.json(Method::GET, "/v1/jobs?orgSlug=local&projectSlug=p", None).await;
    assert_eq!(jobs["jobs"], json!([]));
}

#[tokio::test]
async fn a_job_trains_streams_checkpoints_and_serves_them() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 8);
    let (st, created) = s.create_job(tiny_config(&url, 4)).await;
    assert_eq!(st, 201, "{created}");
    let job_id = created["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["job"]["status"], "queued");

    let events = s.events(&job_id, None).await;
    let kinds: Vec<String> = events.iter().map(|e| e.1.clone().unwrap_or_else(|| data_of(e)["type"].as_str().unwrap_or("?").to_owned())).collect();
    assert_eq!(kinds.first().map(String::as_str), Some("training.started"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "training.log").count(), 4, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "checkpoint.saved").count(), 2, "{kinds:?}");
    assert_eq!(&kinds[kinds.len() - 2..], ["training.completed", "end"], "{kinds:?}");
    let ids: Vec<i64> = events.iter().filter_map(|e| e.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let first_log = events.iter().map(data_of).find(|d| d["type"] == "training.log").unwrap();
    for k in ["step", "loss", "learningRate", "epoch", "samplesPerSecond", "tokensPerSecond"] {
        assert!(first_log[k].is_number(), "{k} in {first_log}");
    }
    assert!(first_log["tokensPerSecond"].as_f64() > first_log["samplesPerSecond"].as_f64(), "{first_log}");
    let done = events.iter().map(data_of).find(|d| d["type"] == "training.completed").unwrap();
    assert_eq!(done["artifacts"][0]["kind"], "final");

    let (_, got) = s.json(Method::GET, &format!("/v1/jobs/{job_id}?orgSlug=local&projectSlug=p"), None).await;
    assert_eq!(got["job"]["status"], "completed");
    assert!(got["job"]["startedAt"].is_string() && got["job"]["completedAt"].is_string());
    assert_eq!(got["events"].as_array().unwrap().len(), events.len() - 1);

    // Resuming after any id gives exactly the rest, then `end`.
    let mid = ids[ids.len() / 2];
    let rest = s.events(&job_id, Some(mid)).await;
    let rest_ids: Vec<i64> = rest.iter().filter_map(|e| e.0).collect();
    assert_eq!(rest_ids, ids.iter().copied().filter(|i| *i > mid).collect::<Vec<_>>());
    assert_eq!(rest.last().unwrap().1.as_deref(), Some("end"));

    // Inference: checkpoint (JSON), final (stream), base; an adapter that does not exist is a 404.
    let msgs = json!([{"role": "user", "content": "my login fails"}]);
    let (st, out) = s
        .json(Method::POST, "/v1/inference/chat?orgSlug=local&projectSlug=p",
              Some(json!({"messages": msgs, "adapter": {"kind": "checkpoint", "jobId": job_id, "step": 2}, "stream": false, "maxTokens": 8})))
        .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["content"], out["choices"][0]["message"]["content"]);
    assert!(out["usage"]["completion_tokens"].as_u64().unwrap() >= 1);

    let res = s
        .req(Method::POST, "/v1/inference/chat?orgSlug=local&projectSlug=p")
        .json(&json!({"messages": msgs, "adapter": {"kind": "final", "jobId": job_id}, "stream": true, "maxTokens": 8}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let text = res.text().await.unwrap();
    let frames = parse_sse(&text);
    assert_eq!(frames.last().unwrap().2, "[DONE]");
    let chunk: Value = serde_json::from_str(&frames[0].2).unwrap();
    assert_eq!(chunk["object"], "chat.completion.chunk");

    let (st, base) = s
        .json(Method::POST, "/v1/inference/chat?orgSlug=local&projectSlug=p",
              Some(json!({"messages": msgs, "baseModel": "arkor/tiny-gemma3", "stream": false, "maxTokens": 8})))
        .await;
    assert_eq!(st, 200, "{base}");
    let (st, e) = s
        .json(Method::POST, "/v1/inference/chat?orgSlug=local&projectSlug=p",
              Some(json!({"messages": msgs, "adapter": {"kind": "checkpoint", "jobId": job_id, "step": 3}, "stream": false})))
        .await;
    assert_eq!(st, 404, "{e}");
}

#[tokio::test]
async fn another_orgs_job_is_invisible() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let (_, created) = s.create_job(tiny_config(&url, 1)).await;
    let job_id = created["job"]["id"].as_str().unwrap();
    let anon: Value = s.http.post(format!("{}/v1/auth/anonymous", s.url)).json(&json!({"kind": "cli"})).send().await.unwrap().json().await.unwrap();
    let other = anon["token"].as_str().unwrap();
    for path in [format!("/v1/jobs/{job_id}"), format!("/v1/jobs/{job_id}/events/stream")] {
        let res = s.http.get(format!("{}{path}", s.url)).bearer_auth(other).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = s.http.post(format!("{}/v1/jobs/{job_id}/cancel", s.url)).bearer_auth(other).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_bad_row_fails_the_job_with_its_line_and_the_server_keeps_serving() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"}]}\n{not json\n").unwrap();
    let (_, created) = s.create_job(tiny_config(&format!("file://{}", path.display()), 2)).await;
    let job_id = created["job"]["id"].as_str().unwrap().to_owned();
    let events = s.events(&job_id, None).await;
    let failed = events.iter().map(data_of).find(|d| d["type"] == "training.failed").expect("failed event");
    let msg = failed["error"].as_str().unwrap();
    assert!(msg.contains("row 2") || msg.contains("line 2"), "{msg}");
    assert!(msg.contains("bad.jsonl"), "{msg}");
    let (_, got) = s.json(Method::GET, &format!("/v1/jobs/{job_id}"), None).await;
    assert_eq!(got["job"]["status"], "failed");
    assert_eq!(got["job"]["error"], failed["error"]);

    let url = write_dataset(dir.path(), 4);
    let (_, ok) = s.create_job(tiny_config(&url, 1)).await;
    let events = s.events(ok["job"]["id"].as_str().unwrap(), None).await;
    assert!(events.iter().map(data_of).any(|d| d["type"] == "training.completed"));
}

#[tokio::test]
async fn cancel_stops_a_running_job_and_nothing_follows() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 8);
    let (_, created) = s.create_job(tiny_config(&url, 100_000)).await;
    let job_id = created["job"]["id"].as_str().unwrap().to_owned();
    // Wait for the first log line, then cancel.
    let res = s.req(Method::GET, &format!("/v1/jobs/{job_id}/events/stream")).send().await.unwrap();
    let mut body = res.bytes_stream();
    use futures::StreamExt;
    let mut seen = String::new();
    while !seen.contains("training.log") {
        seen.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
    }
    let (st, c) = s.json(Method::POST, &format!("/v1/jobs/{job_id}/cancel"), None).await;
    assert_eq!(st, 200);
    assert_eq!(c["job"]["status"], "cancelled");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let events = s.events(&job_id, None).await;
    let kinds: Vec<Value> = events.iter().map(|e| data_of(e)["type"].clone()).collect();
    let at = kinds.iter().position(|k| k == "training.cancelled").expect("cancelled event");
    assert_eq!(at, events.len() - 2, "only `end` follows the cancel: {kinds:?}");
    // A queued job is cancelled without ever starting; a second cancel is harmless.
    let (_, q) = s.create_job(tiny_config(&url, 1)).await;
    let qid = q["job"]["id"].as_str().unwrap();
    s.json(Method::POST, &format!("/v1/jobs/{qid}/cancel"), None).await;
    let (st, _) = s.json(Method::POST, &format!("/v1/jobs/{qid}/cancel"), None).await;
    assert_eq!(st, 200);
    let (_, got) = s.json(Method::GET, &format!("/v1/jobs/{qid}"), None).await;
    assert_eq!(got["job"]["status"], "cancelled");
}

/// A job whose dataset download hangs (a server that accepts and never answers)
/// frees the queue as soon as it is cancelled, not when the fetch times out.
#[tokio::test]
async fn cancelling_a_job_stuck_downloading_frees_the_queue() {
    let s = TestServer::new().await;
    s.project().await;
    // Never accepted: the kernel completes the connection and the request waits.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stuck_url = format!("http://127.0.0.1:{}/x.jsonl", silent.local_addr().unwrap().port());
    let (st, stuck) = s.create_job(tiny_config(&stuck_url, 1)).await;
    assert_eq!(st, 201, "{stuck}");
    let stuck = stuck["job"]["id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (_, next) = s.create_job(tiny_config(&write_dataset(dir.path(), 8), 2)).await;
    let next = next["job"]["id"].as_str().unwrap().to_owned();
    // Cancel once the stuck job is running (fetching).
    for _ in 0..500 {
        let (_, got) = s.json(Method::GET, &format!("/v1/jobs/{stuck}"), None).await;
        if got["job"]["status"] == "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (st, _) = s.json(Method::POST, &format!("/v1/jobs/{stuck}/cancel"), None).await;
    assert_eq!(st, 200);
    let t0 = std::time::Instant::now();
    assert_eq!(s.wait_job(&next).await["status"], "completed");
    assert!(t0.elapsed() < std::time::Duration::from_secs(30), "the next job waited {:?}", t0.elapsed());
    let (_, got) = s.json(Method::GET, &format!("/v1/jobs/{stuck}"), None).await;
    assert_eq!(got["job"]["status"], "cancelled");
    drop(silent);
}

#[tokio::test]
async fn idle_streams_ping_and_jobs_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_at(dir.path(), std::time::Duration::from_millis(100)).await;
    let http = reqwest::Client::new();
    let url = server.url();
    http.post(format!("{url}/v1/projects?orgSlug=local")).bearer_auth(TOKEN).json(&json!({"name": "p", "slug": "p"})).send().await.unwrap();
    // A job cancelled while queued ends its stream; a ping shows on a live one.
    let data = write_dataset(dir.path(), 4);
    let mk = || http.post(format!("{url}/v1/jobs?orgSlug=local&projectSlug=p")).bearer_auth(TOKEN).json(&json!({"name": "r", "config": tiny_config(&data, 100_000)}));
    let first: Value = mk().send().await.unwrap().json().await.unwrap();
    let second: Value = mk().send().await.unwrap().json().await.unwrap();
    let id2 = second["job"]["id"].as_str().unwrap();
    // The second job waits behind the first: its stream has only pings.
    let res = http.get(format!("{url}/v1/jobs/{id2}/events/stream")).bearer_auth(TOKEN).send().await.unwrap();
    let mut body = res.bytes_stream();
    use futures::StreamExt;
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(&chunk[..], b"event: ping\n\n");
    let list: Value = http.get(format!("{url}/v1/jobs?orgSlug=local&projectSlug=p")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let statuses: Vec<&str> = list["jobs"].as_array().unwrap().iter().map(|j| j["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["queued", "running"]);
    for id in [id2, first["job"]["id"].as_str().unwrap()] {
        http.post(format!("{url}/v1/jobs/{id}/cancel")).bearer_auth(TOKEN).send().await.unwrap();
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_job_running_when_the_server_died_is_failed_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = arkor_server::store::Store::open(&dir.path().join("arkor.sqlite")).unwrap();
        let org = store.ensure_org(arkor_server::LOCAL_ORG, "Local").unwrap();
        let p = store.create_project(&org, "p", "p").unwrap();
        // Owned by a server instance that no longer exists (no live lock).
        let job = store.create_job(&org, p["id"].as_str().unwrap(), "r", &json!({"model": "arkor/tiny-gemma3"}), "srv_gone").unwrap();
        store.append_event(&job.id, &json!({"type": "training.started", "jobId": job.id}), Some(arkor_server::store::Transition::Started)).unwrap();
    }
    let server = start_at(dir.path(), std::time::Duration::from_secs(15)).await;
    let http = reqwest::Client::new();
    let list: Value = http.get(format!("{}/v1/jobs?orgSlug=local&projectSlug=p", server.url())).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let job = &list["jobs"][0];
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("server stopped while this job was running"));
    server.shutdown().await;
}

#[tokio::test]
async fn two_servers_on_one_home_leave_each_others_jobs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_at(dir.path(), std::time::Duration::from_secs(15)).await;
    let http = reqwest::Client::new();
    http.post(format!("{}/v1/projects?orgSlug=local", a.url())).bearer_auth(TOKEN).json(&json!({"name": "p", "slug": "p"})).send().await.unwrap();
    let data = write_dataset(dir.path(), 4);
    let job: Value = http
        .post(format!("{}/v1/jobs?orgSlug=local&projectSlug=p", a.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "long", "config": tiny_config(&data, 100_000)}))
        .send().await.unwrap().json().await.unwrap();
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    let status = |url: String| {
        let http = http.clone();
        let id = id.clone();
        async move {
            let v: Value = http.get(format!("{url}/v1/jobs/{id}")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
            v["job"]["status"].as_str().unwrap().to_owned()
        }
    };
    while status(a.url()).await != "running" {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A second server on the same data: its start-up recovery must not
    // mistake A's live job for an interrupted one.
    let b = start_at(dir.path(), std::time::Duration::from_secs(15)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(status(b.url()).await, "running");
    // A cancel through B stops A's training thread.
    http.post(format!("{}/v1/jobs/{id}/cancel", b.url())).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(status(a.url()).await, "cancelled");
    let ev: Value = http.get(format!("{}/v1/jobs/{id}", a.url())).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let n = ev["events"].as_array().unwrap().len();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let ev: Value = http.get(format!("{}/v1/jobs/{id}", a.url())).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(ev["events"].as_array().unwrap().len(), n, "nothing after the cancel");
    // A job queued through B is trained by B.
    let j2: Value = http
        .post(format!("{}/v1/jobs?orgSlug=local&projectSlug=p", b.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "short", "config": tiny_config(&data, 1)}))
        .send().await.unwrap().json().await.unwrap();
    let id2 = j2["job"]["id"].as_str().unwrap();
    let mut done = String::new();
    for _ in 0..500 {
        let v: Value = http.get(format!("{}/v1/jobs/{id2}", b.url())).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        done = v["job"]["status"].as_str().unwrap().to_owned();
        if done == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(done, "completed");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_answers_with_the_same_job() {
    let s = TestServer::new().await;
    s.project().await;
    let (st, _) = s.json(Method::POST, "/v1/projects?orgSlug=local", Some(json!({"slug": "other"}))).await;
    assert_eq!(st, 201);
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let post = |project: &'static str, key: &'static str, config: Value| {
        s.req(Method::POST, &format!("/v1/jobs?orgSlug=local&projectSlug={project}"))
            .header("Idempotency-Key", key)
            .json(&json!({"name": "run", "config": config}))
            .send()
    };
    let first = post("p", "trainer-1", tiny_config(&url, 1)).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let id = first["job"]["id"].as_str().unwrap().to_owned();
    s.wait_job(&id).await;
    // A retry, even with another body, answers with the job as it is now.
    let again = post("p", "trainer-1", json!({"model": "nope"})).await.unwrap();
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["job"]["id"], id.as_str());
    assert_eq!(again["job"]["status"], "completed");
    // Another key, or the same key in another project, is another job.
    let (other_key, other_project) = (post("p", "trainer-2", tiny_config(&url, 1)).await.unwrap(), post("other", "trainer-1", tiny_config(&url, 1)).await.unwrap());
    let other_key: Value = other_key.json().await.unwrap();
    let other_project: Value = other_project.json().await.unwrap();
    assert_ne!(other_key["job"]["id"], id.as_str());
    assert_ne!(other_project["job"]["id"], id.as_str());
    let (_, jobs) = s.json(Method::GET, "/v1/jobs?orgSlug=local&projectSlug=p", None).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2);
    let res = s.req(Method::POST, "/v1/jobs?orgSlug=local&projectSlug=p").header("Idempotency-Key", "k".repeat(300)).json(&json!({"name": "r", "config": tiny_config(&url, 1)})).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("Idempotency-Key"), "{e}");
    // Concurrent first tries with one key make one job.
    let tries = futures::future::join_all((0..8).map(|_| post("p", "burst", tiny_config(&url, 1)))).await;
    let mut ids: Vec<String> = Vec::new();
    for t in tries {
        let v: Value = t.unwrap().json().await.unwrap();
        ids.push(v["job"]["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    for id in [other_key["job"]["id"].as_str().unwrap(), other_project["job"]["id"].as_str().unwrap(), &ids[0]] {
        s.wait_job(id).await;
    }
}

#[tokio::test]
async fn dataset_format_as_upstreams_object_trains() {
    let s = TestServer::new().await;
    s.project().await;
    let dir = tempfile::tempdir().unwrap();
    let url = write_dataset(dir.path(), 4);
    let mut config = tiny_config(&url, 1);
    config["datasetFormat"] = json!({"type": "chatml"});
    config["evalSteps"] = json!(25);
    config["loadIn4bit"] = json!(false);
    let (st, created) = s.create_job(config.clone()).await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(s.wait_job(created["job"]["id"].as_str().unwrap()).await["status"], "completed");
    // The format is applied: these rows are not prompt/completion.
    config["datasetFormat"] = json!({"type": "prompt_completion"});
    let (_, created) = s.create_job(config).await;
    let job = s.wait_job(created["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("row 1"), "{job}");
}
