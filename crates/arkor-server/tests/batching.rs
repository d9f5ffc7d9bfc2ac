//! Continuous batching in the local backend, on the tiny model: concurrent chat
//! requests decode together and answer exactly what they answer alone; a client that
//! goes away frees its place; a request that fails fails alone.
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

const CHAT: &str = "/v1/inference/chat?orgSlug=local&projectSlug=p";

/// A request with `text` as the user's message; `target` is `baseModel` or `adapter`.
fn body(text: &str, max_tokens: u64, stream: bool, target: (&str, Value)) -> Value {
    let mut b = json!({"messages": [{"role": "user", "content": text}], "stream": stream, "maxTokens": max_tokens});
    b[target.0] = target.1;
    b
}

/// `b` sampled at temperature 1.2 with `seed`: sampled text moves with the smallest
/// change in the logits, so it shows interference that greedy text could hide.
fn sampled(mut b: Value, seed: u64) -> Value {
    b["temperature"] = json!(1.2);
    b["seed"] = json!(seed);
    b
}

fn base() -> (&'static str, Value) {
    ("baseModel", json!("arkor/tiny-gemma3"))
}

/// The answer's text, finish reason and usage, from a JSON answer or an SSE stream.
async fn answer(s: &TestServer, body: &Value) -> (u16, String, String, Value) {
    let res = s.req(Method::POST, CHAT).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    if body["stream"] == true {
        let text = res.text().await.unwrap();
        let (mut content, mut finish) = (String::new(), String::new());
        for (_, _, data) in parse_sse(&text) {
            let Ok(chunk) = serde_json::from_str::<Value>(&data) else { continue };
            if let Some(t) = chunk["choices"][0]["delta"]["content"].as_str() {
                content.push_str(t);
            }
            if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
                finish = f.to_owned();
            }
            if chunk.get("error").is_some() {
                finish = format!("error: {}", chunk["error"]);
            }
        }
        (status, content, finish, Value::Null)
    } else {
        let v: Value = res.json().await.unwrap();
        let content = v["content"].as_str().unwrap_or_default().to_owned();
        let finish = v["choices"][0]["finish_reason"].as_str().map_or_else(|| format!("error: {}", v["error"]), str::to_owned);
        (status, content, finish, v["usage"].clone())
    }
}

/// A job whose final adapter answers differently from the base model.
async fn trained(s: &TestServer) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (st, job) = s.create_job(tiny_config(&write_dataset(dir.path(), 8), 20)).await;
    assert_eq!(st, 201, "{job}");
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(s.wait_job(&id).await["status"], "completed");
    id
}

#[tokio::test]
async fn concurrent_requests_answer_what_they_answer_one_at_a_time() {
    // Three at a time: the other requests queue, and join as places free up.
    let s = TestServer::with(|o| o.max_batch = Some(3)).await;
    s.project().await;
    let job = trained(&s).await;
    let adapter = || ("adapter", json!({"kind": "final", "jobId": job}));
    let bodies = vec![
        body("my login fails", 12, false, base()),
        body("my login fails", 16, true, adapter()),
        body("the app crashes when I open it", 40, false, adapter()),
        body("refund please", 7, true, base()),
        body("where is my order? It has been a week.", 30, true, base()),
        body("where is my order?", 20, false, adapter()),
        body("hello", 3, false, base()),
        sampled(body("my login fails", 24, true, base()), 1),
        sampled(body("refund please", 24, false, adapter()), 2),
        sampled(body("the app crashes", 30, false, base()), 3),
    ];
    let mut alone = Vec::new();
    for b in &bodies {
        alone.push(answer(&s, b).await);
    }
    assert!(alone.iter().all(|a| a.0 == 200), "{alone:?}");
    // The adapter changes the answer, so sharing a step with base rows is put to the test.
    assert_ne!(alone[0].1, answer(&s, &body("my login fails", 12, false, adapter())).await.1);
    // The sampled answers are varied text, not one repeated token.
    assert!(alone[7..].iter().filter(|a| a.1.chars().collect::<std::collections::HashSet<_>>().len() > 5).count() >= 2, "{alone:?}");
    for round in 0..2 {
        let together = futures::future::join_all(bodies.iter().map(|b| answer(&s, b))).await;
        for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
            assert_eq!(a, t, "round {round}, request {i}: {} alone, {} together", a.1, t.1);
        }
    }
}

#[tokio::test]
async fn a_client_that_leaves_frees_its_place_and_disturbs_no_one() {
    // Two places: a long request and a neighbour; a third request waits for a place.
    let s = TestServer::with(|o| o.max_batch = Some(2)).await;
    s.project().await;
    let long = body("tell me everything", 3000, true, base());
    let neighbour = body("where is my order? It has been a week.", 1500, true, base());
    let waiter = body("refund please", 6, false, base());
    let want_waiter = answer(&s, &waiter).await;
    // How long the neighbour takes alone.
    let t = Instant::now();
    let want_neighbour = answer(&s, &neighbour).await;
    let neighbour_time = t.elapsed();
    assert_eq!(want_neighbour.2, "length", "the neighbour must run to maxTokens for this test to mean anything");
    assert_eq!(answer(&s, &long).await.2, "length");

    let res = s.req(Method::POST, CHAT).json(&long).send().await.unwrap();
    let mut stream = res.bytes_stream();
    stream.next().await.unwrap().unwrap();
    let post = |b: &Value| {
        let (http, b, url) = (s.http.clone(), b.clone(), format!("{}{CHAT}", s.url));
        async move { http.post(url).bearer_auth(TOKEN).json(&b).send().await.unwrap().text().await.unwrap() }
    };
    let neighbour_task = tokio::spawn(post(&neighbour));
    // Give the neighbour the second place, then queue the waiter behind both.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiter_task = tokio::spawn(post(&waiter));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The long request's client goes away.
    drop(stream);
    let left = Instant::now();
    let got: Value = serde_json::from_str(&waiter_task.await.unwrap()).unwrap();
    let waited = left.elapsed();
    assert_eq!(got["content"].as_str().unwrap(), want_waiter.1);
    // Had the long request kept its place, the waiter would have waited for one of the
    // two to end: at least the rest of the neighbour's 1500 tokens.
    assert!(waited < neighbour_time / 3, "the waiter took {waited:?} after the client left; the neighbour alone takes {neighbour_time:?}");
    let text = neighbour_task.await.unwrap();
    let content: String = parse_sse(&text)
        .iter()
        .filter_map(|(_, _, d)| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(content, want_neighbour.1, "the neighbour's answer changed");
}

#[tokio::test]
async fn a_request_that_fails_does_not_fail_its_batch_mates() {
    let s = TestServer::with(|o| o.faults.panic_inference_text = Some("PANIC-HERE".into())).await;
    s.project().await;
    let bodies = [
        body("my login fails", 20, false, base()),
        body("PANIC-HERE please", 20, false, base()),
        body("the app crashes", 25, true, base()),
        body("PANIC-HERE streamed", 20, true, base()),
        body("refund please", 15, false, base()),
    ];
    let mut alone = Vec::new();
    for b in [&bodies[0], &bodies[2], &bodies[4]] {
        alone.push(answer(&s, b).await);
    }
    let together = futures::future::join_all(bodies.iter().map(|b| answer(&s, b))).await;
    assert_eq!([&together[0], &together[2], &together[4]], [&alone[0], &alone[1], &alone[2]]);
    assert_eq!(together[1].0, 500, "{:?}", together[1]);
    assert!(together[1].2.contains("internal error while generating"), "{:?}", together[1]);
    // Streamed: the answer had started, so the error is the stream's last event.
    assert!(together[3].2.contains("internal error while generating"), "{:?}", together[3]);
    // And the server keeps serving.
    assert_eq!(answer(&s, &bodies[0]).await, alone[0]);
}
