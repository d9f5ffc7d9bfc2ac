//! `CloudApiClient`'s control requests against a scripted HTTP server:
//! what is retried, how often, how long it waits, and the Idempotency-Key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arkor_client::{CloudApiClient, Error, RetryPolicy, Scope};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does with one request.
#[derive(Clone)]
enum Reply {
    /// Answers `status` with a JSON body and extra header lines.
    Json(u16, &'static str, &'static str),
    /// Closes the connection without answering.
    Drop,
}

#[derive(Debug, Clone)]
struct Seen {
    head: String,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Serves `script` in order (the last reply repeats); returns the base URL
/// and the requests seen.
async fn serve(script: Vec<Reply>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Head, then as much body as Content-Length says.
            let head_end = loop {
                let k = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..k]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                if k == 0 {
                    break buf.len();
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let seen = Seen { head, at: Instant::now() };
            let len: usize = seen.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            while buf.len() < head_end + len {
                let k = sock.read(&mut chunk).await.unwrap();
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
            }
            log.lock().unwrap().push(seen);
            let reply = script[n.min(script.len() - 1)].clone();
            n += 1;
            match reply {
                Reply::Drop => drop(sock),
                Reply::Json(status, extra, body) => {
                    let res = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(res.as_bytes()).await;
                }
            }
        }
    });
    (url, seen)
}

fn fast() -> RetryPolicy {
    RetryPolicy { max_retries: 2, initial_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20) }
}

fn scope() -> Scope {
    Scope { org_slug: "o".into(), project_slug: "p".into() }
}

const JOB: &str = r#"{"job":{"id":"job-1","status":"queued"}}"#;

#[tokio::test]
async fn job_creation_retries_a_503_with_the_same_idempotency_key() {
    let (url, seen) = serve(vec![Reply::Json(503, "", r#"{"error":"busy"}"#), Reply::Json(201, "", JOB)]).await;
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    let v = c.create_job(&scope(), "run", &json!({"model": "m"}), "k-123").await.unwrap();
    assert_eq!(v["job"]["id"], "job-1");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.header("idempotency-key").as_deref() == Some("k-123")));
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let (url, seen) = serve(vec![Reply::Drop, Reply::Json(200, "", r#"{"jobs":[]}"#)]).await;
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    assert_eq!(c.list_jobs(&scope()).await.unwrap(), json!({"jobs": []}));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn at_most_two_retries_then_the_last_error() {
    let (url, seen) = serve(vec![Reply::Json(502, "", r#"{"error":"bad gateway"}"#)]).await;
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    let err = c.cancel_job("j", &scope()).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 502, .. }), "{err:?}");
    assert_eq!(err.to_string(), "bad gateway");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn conflicts_and_other_4xx_are_not_retried() {
    for status in [400, 404, 409, 422] {
        let (url, seen) = serve(vec![Reply::Json(status, "", r#"{"error":"no"}"#)]).await;
        let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
        assert_eq!(c.create_project("o", "n", "s").await.unwrap_err().status(), Some(status));
        assert_eq!(seen.lock().unwrap().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (url, seen) = serve(vec![
        Reply::Json(429, "retry-after: 1\r\n", r#"{"error":"slow"}"#),
        Reply::Json(200, "", r#"{"org":{},"projects":[]}"#),
    ])
    .await;
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    c.list_projects("o").await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950), "{gap:?}");
}

#[tokio::test]
async fn chat_and_the_generic_call_are_sent_once() {
    let (url, seen) = serve(vec![Reply::Json(503, "", r#"{"error":"busy"}"#)]).await;
    let c = CloudApiClient::with_token(&url, "t").with_retry_policy(fast());
    assert_eq!(c.chat(&scope(), &json!({"messages": []})).await.unwrap_err().status(), Some(503));
    assert_eq!(c.call(reqwest_method("POST"), "/v1/endpoints", &[], Some(&json!({}))).await.unwrap_err().status(), Some(503));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

fn reqwest_method(m: &str) -> arkor_client::http::Method {
    m.parse().unwrap()
}

#[tokio::test]
async fn anonymous_sign_up_is_retried() {
    let body = r#"{"token":"t","anonymousId":"a","kind":"cli","personalOrg":{"slug":"org","id":"1","name":"n"}}"#;
    let (url, seen) = serve(vec![Reply::Drop, Reply::Json(200, "", body)]).await;
    let tok = arkor_client::credentials::request_anonymous_token_with(&url, "cli", &fast()).await.unwrap();
    assert_eq!(tok.org_slug, "org");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn anonymous_sign_up_refusal_keeps_upstreams_message() {
    let (url, _) = serve(vec![Reply::Json(403, "", r#"{"error":"disabled"}"#)]).await;
    let err = arkor_client::credentials::request_anonymous_token_with(&url, "cli", &fast()).await.unwrap_err();
    assert_eq!(err.to_string(), r#"Failed to acquire anonymous token (403): {"error":"disabled"}"#);
    assert_eq!(err.status(), Some(403));
}
